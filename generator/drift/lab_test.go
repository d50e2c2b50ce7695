package drift_test

// The live state comes from the real kernel: each test loads the generated
// firewall into a network namespace the way the node's boot unit does (the
// generated script, run with systemd's environment), takes iptables-save,
// ip6tables-save, ipset save or nft list ruleset from it, checks that drift
// reports nothing, then changes the kernel's state by hand and checks that
// drift names each change, and nothing else.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

var labTools = []string{"iptables", "ip6tables", "iptables-save", "ip6tables-save", "iptables-restore", "ip6tables-restore", "ipset", "nft", "sh", "env", "sed", "grep", "tr"}

// systemdPath is the PATH systemd gives the firewall unit.
const systemdPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// withBackend returns a fixture's text with firewall.backend set.
func withBackend(t *testing.T, text, backend string) string {
	t.Helper()
	if m := regexp.MustCompile(`(?m)^  backend: \w+$`).FindStringIndex(text); m != nil {
		return text[:m[0]] + "  backend: " + backend + text[m[1]:]
	}
	if i := strings.Index(text, "\nfirewall:\n"); i >= 0 {
		i += len("\nfirewall:\n")
		return text[:i] + "  backend: " + backend + "\n" + text[i:]
	}
	if strings.Contains(text, "\nfirewall:") {
		t.Fatal("a firewall section this test cannot edit")
	}
	return text + "\nfirewall:\n  backend: " + backend + "\n"
}

func loadFixture(t *testing.T, name, backend string) *spec.Spec {
	t.Helper()
	s, err := parseFixture(t, name, backend)
	if err != nil {
		t.Fatal(err)
	}
	if s.Firewall.Backend != backend {
		t.Fatalf("%s: backend %q, want %q", name, s.Firewall.Backend, backend)
	}
	return s
}

// parseFixture reads a fixture with firewall.backend set; the spec may
// refuse the backend (iptables on Fedora CoreOS).
func parseFixture(t *testing.T, name, backend string) (*spec.Spec, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return spec.Parse(name, []byte(withBackend(t, string(data), backend)))
}

// apply writes the firewall files and script of the role's machine under a
// temporary root (the script's dir= line pointed there: the host's /etc is
// not the test's to write) and runs the script inside the namespace.
func apply(t *testing.T, ns *netlab.NS, s *spec.Spec, p *policy.Policy, role string) {
	t.Helper()
	ms, err := gen.Machines(s, p)
	if err != nil {
		t.Fatal(err)
	}
	// the role's machine, or for a role whose members each have their own
	// (etcd members), the first member's: the firewall is the role's
	var m *boot.Machine
	for _, x := range ms {
		if x.Kind == "role" && x.Name == role {
			m = x
		}
	}
	for _, x := range ms {
		if n := s.Node(x.Name); m == nil && x.Kind == "node" && n != nil && n.Role == role {
			m = x
		}
	}
	if m == nil {
		t.Fatalf("no machine boots with role %s", role)
	}
	root := t.TempDir()
	script := ""
	for _, f := range boot.Rootfs(m) {
		contents := f.Contents
		switch {
		case f.Path == gen.ScriptPath[s.OS.Variant]:
			from := "\ndir=" + gen.FirewallDir + "\n"
			if strings.Count(contents, from) != 1 {
				t.Fatalf("the firewall script has no line %q:\n%s", from, contents)
			}
			contents = strings.Replace(contents, from, "\ndir="+filepath.Join(root, gen.FirewallDir)+"\n", 1)
			script = filepath.Join(root, f.Path)
		case strings.HasPrefix(f.Path, gen.FirewallDir+"/"):
		default:
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(contents), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if script == "" {
		t.Fatal("no firewall script in the machine")
	}
	if _, err := ns.Exec("env", "-i", "PATH="+systemdPath, script); err != nil {
		t.Fatalf("firewall script: %v", err)
	}
}

// save takes the live state out of the namespace and parses it.
func save(t *testing.T, ns *netlab.NS, backend string) *drift.Live {
	t.Helper()
	live := &drift.Live{IPTables: map[policy.Family]*drift.IPTables{}}
	parse := func(name string, args ...string) []byte {
		out, err := ns.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var err error
	if backend == "nftables" {
		live.NFT, err = drift.ParseNFT(bytes.NewReader(parse("nft", "nft", "list", "ruleset")), "nft list ruleset")
		if err != nil {
			t.Fatal(err)
		}
		return live
	}
	for _, x := range []struct {
		cmd string
		f   policy.Family
	}{{"iptables-save", policy.V4}, {"ip6tables-save", policy.V6}} {
		tab, err := drift.ParseIPTables(bytes.NewReader(parse(x.cmd, x.cmd)), x.cmd)
		if err != nil {
			t.Fatal(err)
		}
		live.IPTables[x.f] = tab
	}
	live.IPSets, err = drift.ParseIPSet(bytes.NewReader(parse("ipset", "ipset", "save")), "ipset save")
	if err != nil {
		t.Fatal(err)
	}
	return live
}

// want describes a finding drift must report: its kind, family and place,
// and a text its rule or member must contain.
type want struct {
	kind, family, where, text string
}

func (w want) matches(f drift.Finding) bool {
	return f.Kind == w.kind && f.Family == w.family && f.Where == w.where &&
		strings.Contains(f.Want+"\x00"+f.Found+"\x00"+f.Detail, w.text)
}

// expect checks that the findings are exactly the wanted ones: each wanted
// finding reported once, nothing else reported.
func expect(t *testing.T, got []drift.Finding, wants ...want) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range wants {
		found := false
		for i, f := range got {
			if !used[i] && w.matches(f) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("drift did not report %+v", w)
		}
	}
	for i, f := range got {
		if !used[i] {
			t.Errorf("unexpected finding: %s", f)
		}
	}
	if t.Failed() {
		var b strings.Builder
		for _, f := range got {
			fmt.Fprintf(&b, "  %s\n", f)
		}
		t.Logf("all findings:\n%s", b.String())
	}
}

// TestNoDriftAfterLoad: for every fixture and both backends, the state the
// kernel reports right after the generated firewall is loaded shows no
// drift, for every role, IPv4 and IPv6.
func TestNoDriftAfterLoad(t *testing.T) {
	netlab.Require(t, labTools...)
	fixtures, err := filepath.Glob("../../fixtures/*.yaml")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	lab := netlab.New(t)
	n := 0
	for _, file := range fixtures {
		for _, backend := range []string{"iptables", "nftables"} {
			s, err := parseFixture(t, filepath.Base(file), backend)
			if err != nil {
				if backend == "iptables" && strings.Contains(err.Error(), "iptables needs ipset") {
					continue // Fedora CoreOS has no ipset: the spec refuses the combination
				}
				t.Fatal(err)
			}
			p := policy.Compile(s)
			for _, role := range p.Roles {
				n++
				ns := lab.NewNS(fmt.Sprintf("n%d", n))
				apply(t, ns, s, p, role)
				exp, err := drift.Expect(p, role, backend)
				if err != nil {
					t.Fatal(err)
				}
				live := save(t, ns, backend)
				if fs := drift.Check(p, role, exp, live); len(fs) > 0 {
					for _, f := range fs {
						t.Errorf("%s %s role %s: %s", filepath.Base(file), backend, role, f)
					}
				}
				// loading twice (a re-apply at boot) changes nothing either
				apply(t, ns, s, p, role)
				if fs := drift.Check(p, role, exp, save(t, ns, backend)); len(fs) > 0 {
					t.Errorf("%s %s role %s: after a re-apply: %v", filepath.Base(file), backend, role, fs)
				}
			}
		}
	}
	t.Logf("%d roles loaded and compared", n)
}

// loaded loads the firewall of dcos-packet's agents into a new namespace
// and checks that a fresh load shows no drift.
func loaded(t *testing.T, backend string) (*netlab.NS, *policy.Policy, string, *drift.Expected) {
	t.Helper()
	netlab.Require(t, labTools...)
	s := loadFixture(t, "dcos-packet.yaml", backend)
	p := policy.Compile(s)
	role := "agent"
	ns := netlab.New(t).NewNS(backend)
	apply(t, ns, s, p, role)
	exp, err := drift.Expect(p, role, backend)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, drift.Check(p, role, exp, save(t, ns, backend)))
	return ns, p, role, exp
}

// ruleNumber returns the 1-based number of the first rule of a chain whose
// iptables -S line contains text.
func ruleNumber(t *testing.T, ns *netlab.NS, cmd, chain, text string) string {
	t.Helper()
	n := 0
	for _, line := range strings.Split(ns.Run(cmd, "-w", "-S", chain), "\n") {
		if !strings.HasPrefix(line, "-A ") {
			continue
		}
		n++
		if strings.Contains(line, text) {
			return fmt.Sprint(n)
		}
	}
	t.Fatalf("no rule with %q in %s", text, chain)
	return ""
}

// TestDriftIPTables changes the kernel's iptables and ipset state by hand
// and checks that drift names each change.
func TestDriftIPTables(t *testing.T) {
	ns, p, role, exp := loaded(t, "iptables")

	cluster6 := p.Set("cluster").Members[policy.V6]
	if len(cluster6) == 0 {
		t.Fatal("the fixture has no IPv6 cluster members to flush")
	}
	// delete a rule
	ns.Run("iptables", "-w", "-D", "RAMPART-INPUT", ruleNumber(t, ns, "iptables", "RAMPART-INPUT", "rampart-trusted-4"))
	// add a set member
	ns.Run("ipset", "add", "rampart-admins-4", "203.0.113.9")
	// a foreign ACCEPT before the jump, one after it, and harmless ones before it
	ns.Run("iptables", "-w", "-I", "INPUT", "1", "-s", "203.0.113.0/24", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT")
	ns.Run("iptables", "-w", "-A", "INPUT", "-s", "198.18.0.0/15", "-j", "ACCEPT")
	ns.Run("iptables", "-w", "-I", "INPUT", "1", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
	ns.Run("iptables", "-w", "-I", "INPUT", "1", "-s", "203.0.113.0/24", "-j", "DROP")
	// an admin is already allowed SSH: accepting it again is no drift
	ns.Run("iptables", "-w", "-I", "INPUT", "1", "-s", "209.220.51.50", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
	// a foreign ACCEPT reached through another owner's chain (IPv6)
	ns.Run("ip6tables", "-w", "-N", "OTHER-INPUT")
	ns.Run("ip6tables", "-w", "-A", "OTHER-INPUT", "-p", "udp", "-m", "multiport", "--dports", "53,123", "-j", "ACCEPT")
	ns.Run("ip6tables", "-w", "-I", "INPUT", "1", "-j", "OTHER-INPUT")
	// flush a set
	ns.Run("ipset", "flush", "rampart-cluster-6")
	// remove a jump
	ns.Run("ip6tables", "-w", "-D", "FORWARD", "-j", "RAMPART-FORWARD")
	// Docker (re)starting inserts its jump to DOCKER-USER first in FORWARD:
	// harmless (DOCKER-USER begins with rampart's jump), but rampart's jump
	// from FORWARD is no longer first
	ns.Run("iptables", "-w", "-I", "FORWARD", "-j", "DOCKER-USER")
	// other owners' chains are ignored
	ns.Run("iptables", "-w", "-N", "DOCKER-ISOLATION-STAGE-1")
	ns.Run("iptables", "-w", "-A", "DOCKER-ISOLATION-STAGE-1", "-j", "ACCEPT")
	ns.Run("ipset", "create", "other-owner", "hash:ip")
	// the mangle table: the jump from PREROUTING gone (IPv4), the marking
	// rule gone and a foreign ACCEPT before the jump, which skips the mark
	// and so the published-port rules (IPv6)
	ns.Run("iptables", "-w", "-t", "mangle", "-D", "PREROUTING", "-j", "RAMPART-PREROUTING")
	ns.Run("ip6tables", "-w", "-t", "mangle", "-F", "RAMPART-PREROUTING")
	ns.Run("ip6tables", "-w", "-t", "mangle", "-I", "PREROUTING", "1", "-s", "2001:db8:ff::/48", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT")
	// change a rule of rampart's: SSH from admins becomes 2222
	ns.Run("iptables", "-w", "-R", "RAMPART-INPUT", ruleNumber(t, ns, "iptables", "RAMPART-INPUT", "--dport 22"),
		"-p", "tcp", "-m", "set", "--match-set", "rampart-admins-4", "src", "-m", "tcp", "--dport", "2222", "-j", "ACCEPT")

	wants := []want{
		{drift.MissingRule, "IPv4", "RAMPART-INPUT", "-A RAMPART-INPUT -m set --match-set rampart-trusted-4 src -j ACCEPT"},
		{drift.ExtraMember, "IPv4", "rampart-admins-4", "203.0.113.9"},
		{drift.ForeignAccept, "IPv4", "INPUT", "tcp/8080 from 203.0.113.0/24"},
		{drift.JumpNotFirst, "IPv4", "INPUT", "4 rule(s) of another owner come before it"},
		{drift.JumpNotFirst, "IPv4", "FORWARD", "-A FORWARD -j DOCKER-USER; rampart's script puts its jump at position 1 (-I FORWARD 1 -j RAMPART-FORWARD)"},
		{drift.ForeignAccept, "IPv6", "INPUT", "through OTHER-INPUT"},
		{drift.JumpNotFirst, "IPv6", "INPUT", "-A INPUT -j OTHER-INPUT"},
		{drift.MissingJump, "IPv6", "FORWARD", "-A FORWARD -j RAMPART-FORWARD"},
		{drift.MissingJump, "IPv4", "mangle PREROUTING", "-t mangle -A PREROUTING -j RAMPART-PREROUTING"},
		{drift.MissingRule, "IPv6", "mangle RAMPART-PREROUTING", "-m addrtype --dst-type LOCAL -j CONNMARK --set-xmark 0x1000000/0x1000000"},
		{drift.ForeignAccept, "IPv6", "mangle PREROUTING", "tcp/8080 from 2001:db8:ff::/48"},
		{drift.JumpNotFirst, "IPv6", "mangle PREROUTING", "-s 2001:db8:ff::/48"},
		{drift.ChangedRule, "IPv4", "RAMPART-INPUT", "-A RAMPART-INPUT -m set --match-set rampart-admins-4 src -p tcp -m tcp --dport 22 -j ACCEPT\x00-A RAMPART-INPUT -p tcp -m set --match-set rampart-admins-4 src -m tcp --dport 2222 -j ACCEPT"},
	}
	for _, m := range cluster6 {
		wants = append(wants, want{drift.MissingMember, "IPv6", "rampart-cluster-6", m.Addr().String()})
	}
	expect(t, drift.Check(p, role, exp, save(t, ns, "iptables")), wants...)
}

// nftHandle returns the handle of the first rule of a chain of table inet
// rampart whose text contains text.
func nftHandle(t *testing.T, ns *netlab.NS, chain, text string) string {
	t.Helper()
	for _, line := range strings.Split(ns.Run("nft", "-a", "list", "chain", "inet", "rampart", chain), "\n") {
		if i := strings.Index(line, "# handle "); i >= 0 && strings.Contains(line, text) {
			return strings.TrimSpace(line[i+len("# handle "):])
		}
	}
	t.Fatalf("no rule with %q in chain %s", text, chain)
	return ""
}

// TestDriftNFTables changes the kernel's nftables state by hand and checks
// that drift names each change and ignores other tables.
func TestDriftNFTables(t *testing.T) {
	ns, p, role, exp := loaded(t, "nftables")

	// delete a rule
	ns.Run("nft", "delete", "rule", "inet", "rampart", "input", "handle", nftHandle(t, ns, "input", "@trusted_v4"))
	// add a set member
	ns.Run("nft", "add", "element", "inet", "rampart", "admins_v4", "{ 203.0.113.9 }")
	// a foreign accept placed before rampart's rules, inside rampart's chain
	ns.Run("nft", "insert", "rule", "inet", "rampart", "input", "ip", "saddr", "203.0.113.0/24", "tcp", "dport", "8080", "accept")
	// another table's accept cannot undo rampart's drop: not drift
	ns.Shell(`nft -f - <<'EOF'
table inet other {
	chain input {
		type filter hook input priority -10; policy accept;
		ip saddr 203.0.113.0/24 accept
	}
}
EOF`)
	// flush a set
	ns.Run("nft", "flush", "set", "inet", "rampart", "cluster_v6")
	// change a base chain's policy
	ns.Run("nft", "chain", "inet", "rampart", "forward", "{ policy drop ; }")
	// the rule that marks connections to the node's own addresses
	ns.Run("nft", "delete", "rule", "inet", "rampart", "prerouting", "handle", nftHandle(t, ns, "prerouting", "ct mark set"))

	wants := []want{
		{drift.MissingRule, "", "chain input", "ip saddr @trusted_v4 accept"},
		{drift.ExtraMember, "", "set admins_v4", "203.0.113.9"},
		{drift.ExtraRule, "", "chain input", "ip saddr 203.0.113.0/24 tcp dport 8080 accept"},
		{drift.MissingMember, "", "set cluster_v6", "2604:1380:1::10-2604:1380:1::15"},
		{drift.ChangedChain, "", "chain forward", "policy drop"},
		{drift.MissingRule, "", "chain prerouting", "fib daddr type local ct mark set ct mark | 0x01000000"},
	}
	expect(t, drift.Check(p, role, exp, save(t, ns, "nftables")), wants...)

	// the whole table gone
	ns.Run("nft", "delete", "table", "inet", "rampart")
	expect(t, drift.Check(p, role, exp, save(t, ns, "nftables")), want{drift.MissingTable, "", "table inet rampart", "table inet rampart"})
}

// TestDriftNeverLoaded: a node where the firewall was never loaded (a fresh
// namespace) prints nothing from iptables-save, ip6tables-save, ipset save
// and nft list ruleset. drift reads that as an empty ruleset: it names every
// chain, jump and set (or the table) rampart wants as missing. (The command
// on such empty input, exit 1 and not 2, is tested in cmd/rampart/cli.)
func TestDriftNeverLoaded(t *testing.T) {
	netlab.Require(t, labTools...)
	ns := netlab.New(t).NewNS("fresh")
	for _, cmd := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"ipset", "save"}, {"nft", "list", "ruleset"}} {
		out, err := ns.Exec(cmd...)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				t.Fatalf("%s of a fresh namespace printed %q: the test assumes nothing", cmd[0], l)
			}
		}
	}
	for _, backend := range []string{"iptables", "nftables"} {
		t.Run(backend, func(t *testing.T) {
			s := loadFixture(t, "dcos-packet.yaml", backend)
			p := policy.Compile(s)
			exp, err := drift.Expect(p, "agent", backend)
			if err != nil {
				t.Fatal(err)
			}
			var wants []want
			if backend == "nftables" {
				wants = append(wants, want{drift.MissingTable, "", "table inet rampart", "table inet rampart"})
			} else {
				where := func(table, chain string) string {
					if table == "filter" {
						return chain
					}
					return table + " " + chain
				}
				for _, f := range policy.Families {
					for _, table := range drift.Tables {
						for _, c := range exp.IPTables[f].Table(table).Order {
							if strings.HasPrefix(c, "RAMPART-") {
								wants = append(wants, want{drift.MissingChain, f.String(), where(table, c), ":" + c})
							}
						}
					}
					for _, j := range exp.Jumps {
						wants = append(wants, want{drift.MissingJump, f.String(), where(j.Table, j.From), "-A " + j.From + " -j " + j.To})
					}
				}
				for _, set := range exp.IPSets.Order {
					fam := "IPv4"
					if strings.HasSuffix(set, "-6") {
						fam = "IPv6"
					}
					wants = append(wants, want{drift.MissingSet, fam, set, "hash:net"})
				}
			}
			expect(t, drift.Check(p, "agent", exp, save(t, ns, backend)), wants...)
		})
	}
}

// changedSpecs are two versions of one cluster: the first has overlays
// (chain isolation, RAMPART-ISOLATION and the overlay sets) and two admin
// ranges, the second has neither.
func changedSpecs(t *testing.T, backend string) (*spec.Spec, *spec.Spec) {
	t.Helper()
	base := `version: 1
cluster: changed
os: {variant: flatcar, version: 1.1.0}
profile: dcos
admins: [198.51.100.0/24%s]
nodes:
  - {name: master-1, role: master, addresses: [10.0.0.10]}
  - {name: agent-1, role: agent, addresses: [10.0.0.21, "fd00:10::21"]}
firewall: {backend: %s}
`
	overlays := `overlays:
  networks: {it: 10.150.0.0/16, hr: 192.168.0.0/16}
  default: reject
  allow:
    - {from: hr, to: it, ports: [80/tcp]}
`
	var out []*spec.Spec
	for _, text := range []string{fmt.Sprintf(base, ", 203.0.113.0/24", backend) + overlays, fmt.Sprintf(base, "", backend)} {
		s, err := spec.Parse("changed.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out[0], out[1]
}

// TestNoDriftAfterSpecChange: a node that ran one version of the firewall
// and then runs the next (overlays and an admin range taken out of the
// spec) holds exactly what a node that only ran the second holds: the
// chains and sets the first had and the second has not are gone, the
// admins set lost its member. For nftables also: a table inet rampart of
// another shape (a chain at another priority, a set without the interval
// flag), which cannot be refilled in place, is replaced whole.
func TestNoDriftAfterSpecChange(t *testing.T) {
	netlab.Require(t, labTools...)
	lab := netlab.New(t)
	for _, backend := range []string{"iptables", "nftables"} {
		t.Run(backend, func(t *testing.T) {
			before, after := changedSpecs(t, backend)
			pb, pa := policy.Compile(before), policy.Compile(after)
			if len(pb.Overlays.Networks) == 0 || len(pa.Overlays.Networks) != 0 {
				t.Fatal("the specs do not differ in overlays")
			}
			ns := lab.NewNS(backend)
			apply(t, ns, before, pb, "agent")
			apply(t, ns, after, pa, "agent")
			exp, err := drift.Expect(pa, "agent", backend)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, drift.Check(pa, "agent", exp, save(t, ns, backend)))
			if backend == "iptables" {
				if sets := ns.Run("ipset", "list", "-n"); strings.Contains(sets, "rampart-o-") || strings.Contains(sets, "rampart-overlays") {
					t.Errorf("overlay sets left behind:\n%s", sets)
				}
				return
			}
			other := lab.NewNS(backend + "-other")
			other.Shell(`nft -f - <<'EOF'
table inet rampart {
	set admins_v4 {
		type ipv4_addr
		elements = { 192.0.2.1 }
	}
	chain input {
		type filter hook input priority 10; policy accept;
		ip saddr @admins_v4 accept
	}
}
EOF`)
			apply(t, other, after, pa, "agent")
			expect(t, drift.Check(pa, "agent", exp, save(t, other, backend)))
		})
	}
}

// TestDriftFailsafe: a node closed by the failsafe (its chain first in INPUT
// and FORWARD in front of the loaded ruleset, as after a failed swap; or
// the nftables failsafe table) is reported as such, not as an extra chain.
func TestDriftFailsafe(t *testing.T) {
	netlab.Require(t, labTools...)
	for _, backend := range []string{"iptables", "nftables"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s := loadFixture(t, "dcos-packet.yaml", backend)
			p := policy.Compile(s)
			ns := netlab.New(t).NewNS("node")
			apply(t, ns, s, p, "agent")
			exp, err := drift.Expect(p, "agent", backend)
			if err != nil {
				t.Fatal(err)
			}
			var wants []want
			if backend == "nftables" {
				for _, f := range firewall.RenderNFTables(p, "agent") {
					if f.Name == firewall.NFTFailsafeFile {
						ns.Shell("nft -f - <<'EOF'\n" + string(f.Contents) + "EOF\n")
					}
				}
				wants = append(wants, want{drift.Failsafe, "", "table " + firewall.NFTFailsafeTable, "the node is closed"})
			} else {
				for _, f := range firewall.RenderIPTables(p, "agent") {
					ipt := map[string]string{"failsafe.v4": "iptables", "failsafe.v6": "ip6tables"}[f.Name]
					if ipt == "" {
						continue
					}
					ns.Shell(ipt + "-restore --noflush <<'EOF'\n" + string(f.Contents) + "EOF\n" +
						ipt + " -I INPUT 1 -j " + firewall.ChainFailsafe + "\n" + ipt + " -I FORWARD 1 -j " + firewall.ChainFailsafeForward + "\n")
				}
				for _, fam := range policy.Families {
					wants = append(wants,
						want{drift.Failsafe, fam.String(), firewall.ChainFailsafe, "the node is closed"},
						want{drift.JumpNotFirst, fam.String(), "INPUT", firewall.ChainFailsafe},
						want{drift.JumpNotFirst, fam.String(), "FORWARD", firewall.ChainFailsafeForward})
				}
			}
			expect(t, drift.Check(p, "agent", exp, save(t, ns, backend)), wants...)
		})
	}
}
