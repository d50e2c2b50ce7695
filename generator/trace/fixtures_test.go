package trace_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/generator/trace"
)

// fixture is a compiled fixture spec.
type fixture struct {
	name string
	pol  *policy.Policy
}

func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	files, err := filepath.Glob("../../fixtures/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []fixture
	for _, f := range files {
		s, err := spec.LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fixture{filepath.Base(f), policy.Compile(s)})
	}
	if len(out) < 4 {
		t.Fatalf("%d fixtures, want at least 4", len(out))
	}
	return out
}

// renderers are both backends: every fixture is rendered with each,
// whatever backend its spec names (the renderers read the policy only).
var renderers = []struct {
	backend string
	render  func(*policy.Policy, string) []firewall.File
}{
	{"iptables", firewall.RenderIPTables},
	{"nftables", firewall.RenderNFTables},
}

// worldAddrs are sources in no fixture's sets (or in some, which changes
// nothing: the tracer must agree with explain either way).
var worldAddrs = []string{
	"192.0.2.77", "203.0.113.99", "198.51.100.99", "100.64.1.1", "8.8.8.8", "1.1.1.1",
	"2001:db8:ff::99", "2a00:1450::1", "2001:db8:ad::50", "fd00::1",
}

// edges are the addresses at and around the ends of a prefix.
func edges(p netip.Prefix) []netip.Addr {
	first := p.Masked().Addr()
	last := lastOf(p.Masked())
	out := []netip.Addr{first, last}
	if a := first.Prev(); a.IsValid() {
		out = append(out, a)
	}
	if a := last.Next(); a.IsValid() {
		out = append(out, a)
	}
	return out
}

// lastOf is the highest address of a prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// probeSources lists, in a stable order without repeats, the sources to
// probe a policy with: the ends of every member of every set (admins,
// trusted, cluster, each role, overlays) and of every literal rule CIDR,
// the addresses just outside them, and world addresses.
func probeSources(p *policy.Policy) []netip.Addr {
	var out []netip.Addr
	for _, s := range p.Sets {
		for _, f := range policy.Families {
			for _, m := range s.Members[f] {
				out = append(out, edges(m)...)
			}
		}
	}
	for _, r := range p.Rules {
		if r.From.Kind == policy.CIDRSource {
			out = append(out, edges(r.From.CIDR)...)
		}
	}
	for _, a := range worldAddrs {
		out = append(out, netip.MustParseAddr(a))
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// closedPorts are ports few rules open.
var closedPorts = []uint16{1, 7, 1023, 4444, 8081, 30000, 65535}

// probePorts lists the tcp and udp ports to probe a role with: the ends of
// every range of its rules and the ports just outside them, the etcd ports
// and closedPorts.
func probePorts(p *policy.Policy, role string) []uint16 {
	out := slices.Clone(closedPorts)
	out = append(out, p.EtcdPorts...)
	for _, r := range p.RulesFor(role) {
		for _, pr := range r.Ports {
			out = append(out, pr.From, pr.To)
			if pr.From > 1 {
				out = append(out, pr.From-1)
			}
			if pr.To < 65535 {
				out = append(out, pr.To+1)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// probes is the grid of a role: every source with every port, tcp and udp,
// and an echo request.
func probes(p *policy.Policy, role string) []policy.Query {
	var out []policy.Query
	ports := probePorts(p, role)
	for _, src := range probeSources(p) {
		out = append(out, policy.Query{From: src, Role: role, Proto: spec.ICMP})
		for _, proto := range []spec.Protocol{spec.TCP, spec.UDP} {
			for _, port := range ports {
				out = append(out, policy.Query{From: src, Role: role, Proto: proto, Port: port})
			}
		}
	}
	return out
}

// ephemeralPort is the source port of every probe: one no rule names.
const ephemeralPort = 40000

func packetOf(q policy.Query) trace.Packet {
	pk := trace.Packet{Src: q.From, Proto: q.Proto, DstPort: q.Port}
	if q.Proto != spec.ICMP {
		pk.SrcPort = ephemeralPort
	}
	return pk
}

// commentOf is a provenance's comment as a rendered rule carries it: the
// backends replace quotes, backslashes and newlines, and cut long ones.
func commentOf(prov policy.Provenance) string {
	return strings.NewReplacer(`"`, `'`, `\`, `/`, "\n", " ").Replace(prov.Comment())
}

// sameComment reports whether a rule's comment is the provenance's,
// allowing for the cut (the comment then ends in "...").
func sameComment(got string, prov policy.Provenance) bool {
	want := commentOf(prov)
	if got == want {
		return true
	}
	cut, ok := strings.CutSuffix(got, "...")
	return ok && strings.HasPrefix(want, cut)
}

// TestFixturesAgreeWithExplain: for every fixture, role and backend, the
// tracer follows every probe of the grid through the rendered files and
// reaches the verdict policy.Explain gives, by a rule that carries the
// deciding rule's (or the default's) provenance.
func TestFixturesAgreeWithExplain(t *testing.T) {
	total := 0
	for _, fx := range loadFixtures(t) {
		total += agree(t, fx.name, fx.pol)
	}
	t.Logf("%d probes", total)
}

// richSpec has what the fixtures lack: echo requests opened and denied in
// both families, trusted sources with ports, IPv6 rule CIDRs, a deny of a
// role by another, port lists longer than one multiport match takes, pools
// holding nodes of another role, and reject.
const richSpec = `version: 1
cluster: rich
os:
  variant: fcos
  version: 1.6.0
profile: none
admins: [203.0.113.0/24, "2001:db8:ad::/48"]
trusted:
  - 198.51.100.7
  - {cidr: "2001:db8:77::/64", ports: [53/udp, 53/tcp, icmp]}
roles:
  front:
    zone: public
    public: [80/tcp, 443/tcp, icmp, 60000-61000/udp, 1/tcp, 3/tcp, 5/tcp, 7/tcp, 9/tcp, 11/tcp, 13/tcp, 15/tcp, 17/tcp, 19/tcp, 21/tcp, 23/tcp, 25/tcp, 27/tcp, 29/tcp]
    admin: [22/tcp, icmp]
  back:
    zone: private
nodes:
  - {name: f1, role: front, addresses: [10.0.1.11, "2001:db8:10::11"]}
  - {name: b1, role: back, addresses: [10.0.0.5, "fd00::5"]}
pools:
  - {role: back, cidrs: [10.0.1.0/24, "fd00:1::/64"]}
rules:
  - {from: "2001:db8:bad::/48", to: all, ports: [icmp, 22/tcp], action: deny}
  - {from: back, to: front, ports: [8080-8090/tcp, icmp], action: deny}
  - {from: 192.0.2.128/25, to: front, ports: [5000/udp, icmp]}
  - {from: "2001:db8:bad::/48", to: back}
firewall:
  action: reject
`

// TestRichSpecAgreesWithExplain: the grid of TestFixturesAgreeWithExplain
// over richSpec.
func TestRichSpecAgreesWithExplain(t *testing.T) {
	s, err := spec.Parse("rich.yaml", []byte(richSpec))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d probes", agree(t, "rich.yaml", policy.Compile(s)))
}

// agree runs the grid of every role of a policy with both backends and
// returns the number of probes.
func agree(t *testing.T, name string, pol *policy.Policy) int {
	total := 0
	for _, rd := range renderers {
		for _, role := range pol.Roles {
			t.Run(fmt.Sprintf("%s/%s/%s", name, rd.backend, role), func(t *testing.T) {
				tr, err := trace.Load(rd.render(pol, role))
				if err != nil {
					t.Fatal(err)
				}
				if tr.Backend() != rd.backend {
					t.Fatalf("backend %s, want %s", tr.Backend(), rd.backend)
				}
				bad := 0
				qs := probes(pol, role)
				total += len(qs)
				for _, q := range qs {
					d := pol.Explain(q)
					res, err := tr.Trace(packetOf(q))
					if err != nil {
						t.Fatalf("%s %s %d: %v", q.From, q.Proto, q.Port, err)
					}
					if res.Verdict == d.Verdict && res.Rule != nil && sameComment(res.Rule.Comment, d.Prov) {
						continue
					}
					if bad++; bad <= 10 {
						t.Errorf("%s → %s %d: tracer %s\n  explain %s\n  path:\n%s", q.From, q.Proto, q.Port, res, d, res.PathString())
					}
				}
				if bad > 10 {
					t.Errorf("%d of %d probes disagree", bad, len(qs))
				}
			})
		}
	}
	return total
}

// TestGridCatchesWrongFiles: the grid is fine enough to tell one role's
// files from another's, and a file with one verdict changed from the
// files rendered: the agreement above is not for want of probes.
func TestGridCatchesWrongFiles(t *testing.T) {
	s, err := spec.Parse("rich.yaml", []byte(richSpec))
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Compile(s)
	disagree := func(files []firewall.File, role string) int {
		tr, err := trace.Load(files)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, q := range probes(pol, role) {
			res, err := tr.Trace(packetOf(q))
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != pol.Explain(q).Verdict {
				n++
			}
		}
		return n
	}
	for _, rd := range renderers {
		if n := disagree(rd.render(pol, "front"), "back"); n == 0 {
			t.Errorf("%s: front's files agree with explain for back on every probe", rd.backend)
		}
		var changed []firewall.File
		for _, f := range rd.render(pol, "front") {
			text := string(f.Contents)
			for _, from := range []string{"-p udp -m udp --dport 60000:61000 -m comment --comment \"the world reaches front on its public ports (roles.front.public)\" -j ACCEPT", "udp dport 60000-61000 accept"} {
				text = strings.Replace(text, from, strings.NewReplacer("ACCEPT", "DROP", "accept", "drop").Replace(from), 1)
			}
			changed = append(changed, firewall.File{Name: f.Name, Contents: []byte(text)})
		}
		if n := disagree(changed, "front"); n == 0 {
			t.Errorf("%s: a dropped public port goes unnoticed", rd.backend)
		}
	}
}
