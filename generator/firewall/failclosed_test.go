package firewall_test

// Fail closed: whatever breaks while a ruleset loads (a bad line in one
// family, a restore program that fails, a kernel without a module the
// ruleset uses), the node admits no more than the spec, in both families:
// the world reaches nothing, the admins keep their admin ports, loopback
// and replies work, and the script fails loudly. A failed re-apply leaves
// the previous ruleset whole.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

// failSpec is a small cluster: two web nodes, the world on 80, the admins
// on 22.
func failSpec(t *testing.T, backend string, extra string) *cluster {
	t.Helper()
	text := fmt.Sprintf(`version: 1
cluster: failclosed
os: {variant: flatcar, version: 1.1.0}
profile: none
admins: [192.0.2.10/32, "2001:db8:a::10/128"]
roles:
  web: {zone: public, public: [80/tcp%s], admin: [22/tcp]}
nodes:
  - {name: n1, role: web, addresses: [10.0.0.1, "fd00::1"]}
  - {name: n2, role: web, addresses: [10.0.0.2, "fd00::2"]}
firewall: {backend: %s}
`, extra, backend)
	s, err := spec.Parse("failclosed.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return newCluster(t, s)
}

// failLab is the node n1 on a switch with its member n2, an admin and the
// world, each with an address of both families.
type failLab struct {
	node  *netlab.NS
	hosts map[string]*host
}

var failPorts = tcp(22, 80, 8080)

func newFailLab(t *testing.T) *failLab {
	t.Helper()
	lab := netlab.New(t)
	sw := lab.NewBridge("sw")
	l := &failLab{hosts: map[string]*host{}}
	for _, h := range []*host{
		{name: "n1", role: "web", addrs: addrs("10.0.0.1", "fd00::1")},
		{name: "n2", addrs: addrs("10.0.0.2", "fd00::2")},
		{name: "admin", addrs: addrs("192.0.2.10", "2001:db8:a::10")},
		{name: "world", addrs: addrs("203.0.113.9", "2001:db8:f::9")},
	} {
		h.ns = lab.NewNS(h.name)
		plug(sw, h.ns, h.addrs...)
		l.hosts[h.name] = h
	}
	l.node = l.hosts["n1"].ns
	serve(l.node, l.hosts["n1"].addrs, failPorts)
	serve(l.hosts["world"].ns, nil, tcp(9999))
	return l
}

// run runs the node's firewall script with extra programs first in PATH
// (stand-ins for broken ones) and returns its output and whether it
// succeeded.
func (l *failLab) run(t *testing.T, in *installed, wrappers string) (string, bool) {
	t.Helper()
	path := systemdPath
	if wrappers != "" {
		path = wrappers + ":" + path
	}
	out, err := l.node.Exec("env", "-i", "PATH="+path, in.script)
	return string(out), err == nil
}

// probe checks every source against n1 on failPorts, both families, with
// want(source, port); loopback and a reply (n1 reaching the world) too,
// with want("n1", …).
func (l *failLab) probe(t *testing.T, title string, want func(src string, p port) policy.Verdict) {
	t.Helper()
	var cells []*cell
	for _, src := range []string{"n2", "admin", "world"} {
		h := l.hosts[src]
		for i, to := range l.hosts["n1"].addrs {
			for _, p := range failPorts {
				cells = append(cells, &cell{group: title, src: src, ns: h.ns, from: h.addrs[i], dst: "n1",
					to: netip.AddrPortFrom(to, p.num), port: p, want: want(src, p)})
			}
		}
	}
	for i, a := range l.hosts["n1"].addrs {
		lo := netip.MustParseAddr([]string{"127.0.0.1", "::1"}[i])
		cells = append(cells,
			&cell{group: title, src: "n1 (loopback)", ns: l.node, from: lo, dst: "n1", to: netip.AddrPortFrom(lo, 8080), port: port{"tcp", 8080}, want: want("n1", port{"tcp", 8080})},
			&cell{group: title, src: "n1 (replies)", ns: l.node, from: a, dst: "world", to: netip.AddrPortFrom(l.hosts["world"].addrs[i], 9999), port: port{"tcp", 9999}, want: want("n1", port{"tcp", 9999})})
	}
	probeAll(cells, nil)
	report(t, title, cells)
}

// loaded is the spec's verdict for failSpec without extra ports: members
// everything, the world 80, admins 22 and 80.
func loaded(src string, p port) policy.Verdict {
	switch src {
	case "n1", "n2":
		return policy.Accept
	case "admin":
		return verdict(p.in("tcp", 22, 80))
	}
	return verdict(p.in("tcp", 80))
}

// closed is the failsafe: the admins' admin port, nothing else.
func closed(src string, p port) policy.Verdict {
	return verdict(src == "n1" || src == "admin" && p.in("tcp", 22))
}

// wrapper writes an executable stand-in named name into dir.
func wrapper(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// refusing writes stand-ins for the restore programs (iptables-restore,
// ip6tables-restore, nft) that refuse any input containing what, as a
// kernel without the module behind it does, and pass the rest to the real
// program.
func refusing(t *testing.T, what string, progs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, prog := range progs {
		real, err := lookPath(prog)
		if err != nil {
			t.Fatal(err)
		}
		wrapper(t, dir, prog, fmt.Sprintf(`# stands for a kernel without the module behind %[1]q: the
# kernel refuses the rules that need it; parsing alone (--test) passes
case " $* " in *" --test "*) exec %[3]s "$@" ;; esac
in=$(mktemp)
file=""
prev=""
for a in "$@"; do
	[ "$prev" = -f ] && file=$a
	case "$a" in -*) ;; *) [ "$prev" = -w ] || [ "$prev" = -f ] || file=$a ;; esac
	prev=$a
done
if [ -z "$file" ] || [ "$file" = - ]; then cat >"$in"; else cat "$file" >"$in"; fi
if grep -q -e %[1]q "$in"; then
	rm -f "$in"
	echo "%[2]s: Couldn't load %[1]s: No such file or directory" >&2
	exit 1
fi
if [ -z "$file" ] || [ "$file" = - ]; then %[3]s "$@" <"$in"; rc=$?; else %[3]s "$@"; rc=$?; fi
rm -f "$in"
exit $rc
`, what, prog, real))
	}
	return dir
}

func lookPath(prog string) (string, error) {
	for _, d := range strings.Split(systemdPath, ":") {
		p := filepath.Join(d, prog)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not in %s", prog, systemdPath)
}

// breakFile appends a line no loader takes to one of the installed files.
func breakFile(t *testing.T, in *installed, name, line string) {
	t.Helper()
	p := filepath.Join(filepath.Dir(in.script), "..", "..", "etc", "rampart", "firewall", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if i := strings.LastIndex(text, "COMMIT\n"); i >= 0 && strings.HasPrefix(name, "iptables") {
		text = text[:i] + line + "\n" + text[i:]
	} else {
		text += line + "\n"
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFailClosedAtBoot: a node whose ruleset cannot be loaded at boot
// comes up closed in both families, with the admins' SSH working.
func TestFailClosedAtBoot(t *testing.T) {
	netlab.Require(t, packetTools...)
	cases := []struct {
		name, backend string
		breakIt       func(t *testing.T, in *installed) string // returns the wrappers' directory, if any
		says          string                                   // in the script's output
	}{
		{"iptables/bad-ipv6-line", "iptables", func(t *testing.T, in *installed) string {
			breakFile(t, in, "iptables.v6", "-A RAMPART-INPUT -p tcp --dport 70000 -j ACCEPT")
			return ""
		}, "iptables.v6 does not parse"},
		{"iptables/ip6tables-restore-fails", "iptables", func(t *testing.T, in *installed) string {
			dir := t.TempDir()
			wrapper(t, dir, "ip6tables-restore", "echo 'ip6tables-restore: cannot initialize: Address family not supported' >&2; exit 1\n")
			return dir
		}, "failsafe.v6 did not restore"},
		{"iptables/no-rpfilter-module", "iptables", func(t *testing.T, in *installed) string {
			return refusing(t, "rpfilter", "iptables-restore", "ip6tables-restore")
		}, "refused by the kernel"},
		{"iptables/bad-ipset", "iptables", func(t *testing.T, in *installed) string {
			breakFile(t, in, "ipset.v4", "add rampart-admins-4-n 300.1.1.1/32")
			return ""
		}, "ipset.v4 does not load"},
		{"nftables/bad-file", "nftables", func(t *testing.T, in *installed) string {
			breakFile(t, in, "rampart.nft", "add rule inet rampart input tcp dport 70000 accept")
			return ""
		}, "rampart.nft is refused"},
		{"nftables/no-fib", "nftables", func(t *testing.T, in *installed) string {
			return refusing(t, "fib ", "nft")
		}, "rampart.nft is refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := failSpec(t, tc.backend, "")
			l := newFailLab(t)
			in := install(t, l.node, c, c.machineFor(t, "n1"))
			wrappers := tc.breakIt(t, in)
			out, ok := l.run(t, in, wrappers)
			if ok {
				t.Fatalf("the script succeeded with a broken ruleset:\n%s", out)
			}
			for _, want := range []string{"FAILED", tc.says, "closed (failsafe)"} {
				if !strings.Contains(out, want) {
					t.Errorf("the script's output does not say %q:\n%s", want, out)
				}
			}
			l.probe(t, tc.name, closed)

			// fixed: the same script loads the ruleset and the failsafe goes
			if wrappers != "" {
				if out, ok := l.run(t, in, ""); !ok {
					t.Fatalf("the script failed with working programs:\n%s", out)
				}
				l.probe(t, tc.name+", then loaded", loaded)
				if s := snapshot(t, l.node, tc.backend); strings.Contains(strings.ToLower(s), "failsafe") {
					t.Errorf("the failsafe is still there after a good load:\n%s", s)
				}
			}
		})
	}
}

// TestFailedReapplyKeepsPrevious: a re-apply whose new files are broken
// (one family's rules, one family's sets, a module the kernel lacks)
// changes nothing: the previous generation's sets and rules stay whole,
// IPv4 and IPv6, and nothing of the check is left behind.
func TestFailedReapplyKeepsPrevious(t *testing.T) {
	netlab.Require(t, packetTools...)
	cases := []struct {
		name, backend string
		breakIt       func(t *testing.T, in *installed) string
	}{
		{"iptables/bad-ipv6-line", "iptables", func(t *testing.T, in *installed) string {
			breakFile(t, in, "iptables.v6", "-A RAMPART-INPUT -m nosuchmatch -j ACCEPT")
			return ""
		}},
		{"iptables/bad-ipv6-set", "iptables", func(t *testing.T, in *installed) string {
			breakFile(t, in, "ipset.v6", "add rampart-cluster-6-n 10.0.0.9/32")
			return ""
		}},
		{"iptables/no-rpfilter-module", "iptables", func(t *testing.T, in *installed) string {
			return refusing(t, "rpfilter", "iptables-restore", "ip6tables-restore")
		}},
		{"nftables/bad-file", "nftables", func(t *testing.T, in *installed) string {
			breakFile(t, in, "rampart.nft", "add rule inet rampart input tcp dport 70000 accept")
			return ""
		}},
		{"nftables/no-fib", "nftables", func(t *testing.T, in *installed) string {
			return refusing(t, "fib ", "nft")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newFailLab(t)
			old := failSpec(t, tc.backend, "")
			in := install(t, l.node, old, old.machineFor(t, "n1"))
			if out, ok := l.run(t, in, ""); !ok {
				t.Fatalf("first load:\n%s", out)
			}
			before := snapshot(t, l.node, tc.backend)

			// the next generation opens 8080 to the world, but is broken
			next := failSpec(t, tc.backend, ", 8080/tcp")
			in = install(t, l.node, next, next.machineFor(t, "n1"))
			wrappers := tc.breakIt(t, in)
			out, ok := l.run(t, in, wrappers)
			if ok {
				t.Fatalf("the re-apply succeeded with a broken ruleset:\n%s", out)
			}
			if !strings.Contains(out, "the previous ruleset stays in place") {
				t.Errorf("the script does not say the previous ruleset stays:\n%s", out)
			}
			if after := snapshot(t, l.node, tc.backend); after != before {
				t.Errorf("a failed re-apply changed the ruleset:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			l.probe(t, tc.name+", previous kept", loaded)
		})
	}
}

// TestForeignRulesAhead: another owner inserts an ACCEPT ahead of rampart's
// jumps in INPUT and FORWARD (as Docker, kube-proxy and CNIs insert theirs
// when they start), or flushes INPUT. The insertion opens the node (the
// attack), the flush leaves INPUT's policy DROP in charge (closed), and
// `rampart-firewall jumps`, which the docker.service drop-in runs, puts
// rampart's jumps first again.
func TestForeignRulesAhead(t *testing.T) {
	netlab.Require(t, packetTools...)
	c := failSpec(t, "iptables", "")
	l := newFailLab(t)
	in := install(t, l.node, c, c.machineFor(t, "n1"))
	if out, ok := l.run(t, in, ""); !ok {
		t.Fatalf("load:\n%s", out)
	}
	jumps := func() {
		t.Helper()
		if out, err := l.node.Exec("env", "-i", "PATH="+systemdPath, in.script, "jumps"); err != nil {
			t.Fatalf("rampart-firewall jumps: %v\n%s", err, out)
		}
	}
	open := func(string, port) policy.Verdict { return policy.Accept }
	for _, ipt := range []string{"iptables", "ip6tables"} {
		l.node.Run(ipt, "-I", "INPUT", "1", "-j", "ACCEPT")
		l.node.Run(ipt, "-I", "FORWARD", "1", "-j", "ACCEPT")
	}
	l.probe(t, "foreign ACCEPT ahead of rampart", open)
	jumps()
	l.probe(t, "after rampart-firewall jumps", loaded)
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, chain := range []string{"INPUT", "FORWARD"} {
			rules := strings.Split(strings.TrimSpace(l.node.Run(ipt, "-S", chain)), "\n")
			if len(rules) < 3 || rules[1] != "-A "+chain+" -j RAMPART-"+chain || rules[2] != "-A "+chain+" -j ACCEPT" {
				t.Errorf("%s %s: want rampart's jump first, then the other owner's rule, once each:\n%s", ipt, chain, strings.Join(rules, "\n"))
			}
		}
		l.node.Run(ipt, "-F", "INPUT")
	}
	l.probe(t, "INPUT flushed", func(src string, p port) policy.Verdict { return policy.Drop })
	jumps()
	l.probe(t, "after rampart-firewall jumps", loaded)

	// a bare `iptables -F` empties rampart's chains too: jumps to them
	// would admit everything, so `jumps` loads the whole ruleset
	for _, ipt := range []string{"iptables", "ip6tables"} {
		l.node.Run(ipt, "-F")
	}
	jumps()
	l.probe(t, "after iptables -F and rampart-firewall jumps", loaded)
}

// TestFailsafeHoldsAgainstForeignRules: a node closed by the failsafe at
// boot, then another owner starts and inserts its ACCEPT ahead of
// everything in INPUT and FORWARD, and Docker its DOCKER-USER jump. The
// insertion opens the node (the attack); `rampart-firewall jumps`, run by
// Docker's drop-in, puts the failsafe first again in INPUT, FORWARD and
// DOCKER-USER, and the node is closed.
func TestFailsafeHoldsAgainstForeignRules(t *testing.T) {
	netlab.Require(t, packetTools...)
	c := failSpec(t, "iptables", "")
	l := newFailLab(t)
	in := install(t, l.node, c, c.machineFor(t, "n1"))
	breakFile(t, in, "iptables.v6", "-A RAMPART-INPUT -p tcp --dport 70000 -j ACCEPT")
	if out, ok := l.run(t, in, ""); ok {
		t.Fatalf("the script succeeded with a broken ruleset:\n%s", out)
	}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		l.node.Run(ipt, "-I", "INPUT", "1", "-j", "ACCEPT")
		l.node.Run(ipt, "-I", "FORWARD", "1", "-j", "ACCEPT")
		l.node.Run(ipt, "-I", "FORWARD", "1", "-j", "DOCKER-USER")
	}
	l.probe(t, "failsafe, foreign ACCEPT ahead", func(string, port) policy.Verdict { return policy.Accept })
	if out, err := l.node.Exec("env", "-i", "PATH="+systemdPath, in.script, "jumps"); err != nil {
		t.Fatalf("rampart-firewall jumps: %v\n%s", err, out)
	}
	l.probe(t, "failsafe after rampart-firewall jumps", closed)
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for chain, target := range map[string]string{"INPUT": "RAMPART-FAILSAFE", "FORWARD": "RAMPART-FAILSAFE-FWD", "DOCKER-USER": "RAMPART-FAILSAFE-FWD"} {
			rules := strings.Split(strings.TrimSpace(l.node.Run(ipt, "-S", chain)), "\n")
			if len(rules) < 2 || rules[1] != "-A "+chain+" -j "+target {
				t.Errorf("%s %s: want the failsafe's jump first:\n%s", ipt, chain, strings.Join(rules, "\n"))
			}
		}
	}
}
