package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
)

const dcos = `version: 1
cluster: t
profile: dcos
admins: [209.220.51.50/32, "2001:db8:ad::/48"]
trusted: [8.8.8.8]
roles:
  master: {admin: [22/tcp, 8080/tcp, 9090/tcp]}
nodes:
  - {name: m1, role: master, addresses: [10.0.0.1, "fd00::1"]}
  - {name: a1, role: agent, addresses: [10.0.0.2]}
pools:
  - {role: agent, cidrs: [10.0.16.0/20]}
rules:
  - {from: world, to: agent, ports: [53/udp, 80/tcp, 81/tcp, 82-90/tcp, 70-79/tcp]}
  - {from: 192.0.2.0/24, to: master, action: deny}
`

func compile(t *testing.T, yaml string) *Policy {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return Compile(s)
}

func describe(r Rule) string {
	src := "world"
	switch r.From.Kind {
	case SetSource:
		src = "@" + r.From.Set
	case CIDRSource:
		src = r.From.CIDR.String()
	}
	var ports []string
	for _, p := range r.Ports {
		ports = append(ports, p.String())
	}
	return fmt.Sprintf("%s->%s %s[%s] %s line %d (%s)", src, r.To, r.Proto, strings.Join(ports, ","), r.Verdict, r.Prov.Pos.Line, r.Prov.Origin)
}

// TestOrder: deny rules first (profile, then spec), then cluster and trusted,
// admins per role, the world's public ports per role, then extra allows; each
// with the line and the part of the spec that made it.
func TestOrder(t *testing.T) {
	p := compile(t, dcos)
	var got []string
	for _, r := range p.Rules {
		got = append(got, describe(r))
	}
	want := []string{
		"@r-agent->master tcp[8201,26257] DROP line 3 (profile dcos)",
		"@r-public-agent->master tcp[8201,26257] DROP line 3 (profile dcos)",
		"192.0.2.0/24->master [] DROP line 15 (rules[1])",
		"@cluster->all [] ACCEPT line 9 (nodes and pools)",
		"@trusted->all [] ACCEPT line 5 (trusted)",
		"@admins->master tcp[22,8080,9090] ACCEPT line 7 (roles.master.admin)",
		"@admins->agent tcp[22] ACCEPT line 3 (zone private default)",
		"@admins->public-agent tcp[22] ACCEPT line 3 (zone public default)",
		"world->master tcp[80,443] ACCEPT line 3 (zone admin default)",
		"world->public-agent tcp[80,443] ACCEPT line 3 (zone public default)",
		"world->agent tcp[70-90] ACCEPT line 14 (rules[0])",
		"world->agent udp[53] ACCEPT line 14 (rules[0])",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSets: members resolved per family, sorted, roles holding node
// addresses and pool CIDRs.
func TestSets(t *testing.T) {
	p := compile(t, dcos)
	check := func(set string, f Family, want ...string) {
		t.Helper()
		s := p.Set(set)
		if s == nil {
			t.Fatalf("no set %s", set)
		}
		var got []string
		for _, m := range s.Members[f] {
			got = append(got, m.String())
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s %s: %v, want %v", set, f, got, want)
		}
	}
	check("cluster", V4, "10.0.0.1/32", "10.0.0.2/32", "10.0.16.0/20")
	check("cluster", V6, "fd00::1/128")
	check("r-agent", V4, "10.0.0.2/32", "10.0.16.0/20")
	check("r-agent", V6)
	check("admins", V6, "2001:db8:ad::/48")
	if p.Renders(p.Rules[0], V6) {
		t.Error("a deny from agents, who have no IPv6 address, was kept for IPv6")
	}
	if !p.Renders(p.Rules[8], V6) {
		t.Error("a world rule must render in IPv6 too")
	}
	if got := p.RulesFor("agent"); len(got) != 5 {
		t.Errorf("agent is guarded by %d rules, want 5 (cluster, trusted, admins, world tcp, world udp)", len(got))
	}
}

func TestOverlays(t *testing.T) {
	p := compile(t, `version: 1
cluster: t
roles: {agent: {zone: private}}
overlays:
  networks: {it: 10.150.0.0/16, hr: 192.168.0.0/16, lab: "fd00:1::/64"}
  allow: [{from: hr, to: it, ports: [80/tcp]}]
`)
	if p.Overlays.Default != Reject || len(p.Overlays.Pairs) != 1 || p.Overlays.Pairs[0].From != "o-hr" || p.Overlays.Pairs[0].Ports[0] != (PortRange{From: 80, To: 80}) {
		t.Errorf("overlays: %+v", p.Overlays)
	}
	all := p.Set(OverlaysSet)
	if len(all.Members[V4]) != 2 || all.Members[V6][0] != netip.MustParsePrefix("fd00:1::/64") {
		t.Errorf("overlays set: %+v", all.Members)
	}
}

// TestPoolHoldsOtherRolesNodes: an agent pool over the whole subnet does not
// make the masters in it agents: the dcos deny of agents to masters on 8201
// hits the pool's other addresses only.
func TestPoolHoldsOtherRolesNodes(t *testing.T) {
	p := compile(t, `version: 1
cluster: t
profile: dcos
admins: [209.220.51.50/32]
nodes:
  - {name: m1, role: master, addresses: [10.0.0.1]}
  - {name: m2, role: master, addresses: [10.0.0.3]}
  - {name: a1, role: agent, addresses: [10.0.0.2]}
pools:
  - {role: agent, cidrs: [10.0.0.0/24]}
`)
	for from, want := range map[string]Verdict{"10.0.0.3": Accept, "10.0.0.1": Accept, "10.0.0.2": Drop, "10.0.0.200": Drop} {
		d := p.Explain(Query{From: netip.MustParseAddr(from), Role: "master", Proto: spec.TCP, Port: 8201})
		if d.Verdict != want {
			t.Errorf("%s to master on 8201/tcp: %s (%s), want %s", from, d.Verdict, d.Prov.What, want)
		}
	}
	var got []string
	for _, m := range p.Set("r-agent").Members[V4] {
		got = append(got, m.String())
	}
	want := "10.0.0.0/32 10.0.0.2/32 10.0.0.4/30 10.0.0.8/29 10.0.0.16/28 10.0.0.32/27 10.0.0.64/26 10.0.0.128/25"
	if strings.Join(got, " ") != want {
		t.Errorf("agent set: %s\nwant %s", strings.Join(got, " "), want)
	}
}

// TestTrustedPorts: trusted entries without ports stay in the trusted set
// (every port); each entry with ports becomes allow rules of its own right
// after the trusted set's rule, one per protocol.
func TestTrustedPorts(t *testing.T) {
	p := compile(t, `version: 1
cluster: t
admins: [203.0.113.7]
trusted:
  - 198.51.100.1
  - {cidr: 8.8.8.8/32, ports: [53/udp, 53/tcp]}
  - {cidr: "2001:4860:4860::8888", ports: [53/udp, icmp]}
  - {cidr: 192.0.2.0/24}
roles:
  web: {zone: private}
rules:
  - {from: 8.8.8.8, to: web, ports: [53/tcp], action: deny}
`)
	var got []string
	for _, r := range p.Rules {
		got = append(got, describe(r)+": "+r.Prov.What)
	}
	want := []string{
		"8.8.8.8/32->web tcp[53] DROP line 12 (rules[0]): 8.8.8.8 to web on 53/tcp: denied",
		"@cluster->all [] ACCEPT line 1 (nodes and pools): cluster members reach every port",
		"@trusted->all [] ACCEPT line 5 (trusted): trusted sources reach every port",
		"8.8.8.8/32->all tcp[53] ACCEPT line 6 (trusted[1]): trusted 8.8.8.8/32 reaches every role on 53/udp,53/tcp",
		"8.8.8.8/32->all udp[53] ACCEPT line 6 (trusted[1]): trusted 8.8.8.8/32 reaches every role on 53/udp,53/tcp",
		"2001:4860:4860::8888/128->all udp[53] ACCEPT line 7 (trusted[2]): trusted 2001:4860:4860::8888/128 reaches every role on 53/udp,icmp",
		"2001:4860:4860::8888/128->all icmp[] ACCEPT line 7 (trusted[2]): trusted 2001:4860:4860::8888/128 reaches every role on 53/udp,icmp",
		"@admins->web tcp[22] ACCEPT line 10 (zone private default): admins reach web on its admin ports",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var members []string
	for _, f := range Families {
		for _, m := range p.Set("trusted").Members[f] {
			members = append(members, m.String())
		}
	}
	if strings.Join(members, " ") != "192.0.2.0/24 198.51.100.1/32" {
		t.Errorf("trusted set: %v, want only the entries without ports", members)
	}
	for _, c := range []struct {
		from  string
		proto spec.Protocol
		port  uint16
		want  Verdict
		what  string
	}{
		{"8.8.8.8", spec.UDP, 53, Accept, "trusted[1]"},
		{"8.8.8.8", spec.TCP, 53, Drop, "rules[0]"},
		{"8.8.8.8", spec.UDP, 54, Drop, "firewall.action"},
		{"8.8.8.8", spec.TCP, 22, Drop, "firewall.action"},
		{"2001:4860:4860::8888", spec.ICMP, 0, Accept, "trusted[2]"},
		{"2001:4860:4860::8888", spec.TCP, 53, Drop, "firewall.action"},
		{"192.0.2.77", spec.TCP, 9999, Accept, "trusted"},
		{"198.51.100.1", spec.UDP, 9999, Accept, "trusted"},
	} {
		d := p.Explain(Query{From: netip.MustParseAddr(c.from), Role: "web", Proto: c.proto, Port: c.port})
		if d.Verdict != c.want || d.Prov.Origin != c.what {
			t.Errorf("%s to web on %d/%s: %s by %s, want %s by %s", c.from, c.port, c.proto, d.Verdict, d.Prov.Origin, c.want, c.what)
		}
	}
	if p.Renders(p.Rules[3], V6) || !p.Renders(p.Rules[3], V4) {
		t.Error("a trusted IPv4 entry's rule must render in IPv4 only")
	}
}

// TestFirewallSettings: rpfilter is copied; metadata deny (the default)
// lists the metadata services, allow lists none; both say where they were
// set, without a line number in what they say.
func TestFirewallSettings(t *testing.T) {
	const head = "version: 1\ncluster: t\nroles: {web: {zone: public}}\n"
	for _, c := range []struct {
		firewall string
		rpfilter string
		metadata []string
		pos      spec.Pos
		what     string
	}{
		{"", "loose", []string{"169.254.169.254/32", "192.80.8.124/32", "fd00:ec2::254/128"}, spec.Pos{File: "t.yaml", Line: 1, Col: 1},
			"containers may not reach the cloud metadata services (they serve the node's userdata)"},
		{"firewall: {rpfilter: strict}\n", "strict", []string{"169.254.169.254/32", "192.80.8.124/32", "fd00:ec2::254/128"}, spec.Pos{File: "t.yaml", Line: 4, Col: 1},
			"containers may not reach the cloud metadata services (they serve the node's userdata)"},
		{"firewall:\n  rpfilter: off\n  metadata: allow\n", "off", nil, spec.Pos{File: "t.yaml", Line: 6, Col: 3},
			"containers may reach the cloud metadata services"},
		{"firewall:\n  metadata: deny\n  backend: nftables\n", "loose", []string{"169.254.169.254/32", "192.80.8.124/32", "fd00:ec2::254/128"}, spec.Pos{File: "t.yaml", Line: 5, Col: 3},
			"containers may not reach the cloud metadata services (they serve the node's userdata)"},
	} {
		p := compile(t, head+c.firewall)
		var got []string
		for _, m := range p.MetadataServices {
			got = append(got, m.String())
		}
		backend := "iptables"
		if strings.Contains(c.firewall, "nftables") {
			backend = "nftables"
		}
		if p.Backend != backend {
			t.Errorf("%q: backend %q, want %q", c.firewall, p.Backend, backend)
		}
		if p.RPFilter != c.rpfilter || strings.Join(got, " ") != strings.Join(c.metadata, " ") || (c.metadata == nil) != (p.MetadataServices == nil) {
			t.Errorf("%q: rpfilter %q, metadata %v; want %q, %v", c.firewall, p.RPFilter, got, c.rpfilter, c.metadata)
		}
		want := Provenance{Pos: c.pos, Origin: "firewall.metadata", What: c.what}
		if p.MetadataProv != want {
			t.Errorf("%q: metadata provenance %+v, want %+v", c.firewall, p.MetadataProv, want)
		}
	}
	// the policy's list is its own: changing it leaves the next policy whole
	p := compile(t, head)
	p.MetadataServices[0] = netip.MustParsePrefix("10.0.0.1/32")
	if MetadataAddresses[0] != netip.MustParsePrefix("169.254.169.254/32") {
		t.Error("Compile shares MetadataAddresses with the policy")
	}
}

// TestEnrichedIR: sets carry their kind and subject and the entries the
// spec lists with where; rules carry the port entries that made them; the
// policy knows nodes, pools and roles and locates addresses, so that no
// consumer reads the spec.
func TestEnrichedIR(t *testing.T) {
	p := compile(t, dcos)
	for _, c := range []struct {
		set     string
		kind    SetKind
		subject string
		entries string
	}{
		{"admins", KindAdmins, "", "209.220.51.50/32 admins[0] line 4; 2001:db8:ad::/48 admins[1] line 4"},
		{"trusted", KindTrusted, "", "8.8.8.8/32 trusted[0] line 5"},
		{"r-agent", KindRole, "agent", "10.0.0.2/32 node a1 line 10; 10.0.16.0/20 pool of agent line 12"},
		{"r-master", KindRole, "master", "10.0.0.1/32 node m1 line 9; fd00::1/128 node m1 line 9"},
		{"cluster", KindCluster, "", "10.0.0.1/32 node m1 line 9; fd00::1/128 node m1 line 9; 10.0.0.2/32 node a1 line 10; 10.0.16.0/20 pool of agent line 12"},
	} {
		s := p.Set(c.set)
		var got []string
		for _, e := range s.Entries {
			got = append(got, fmt.Sprintf("%s %s line %d", e.Prefix, e.Prov.What, e.Prov.Pos.Line))
		}
		if s.Kind != c.kind || s.Subject != c.subject || strings.Join(got, "; ") != c.entries {
			t.Errorf("%s: kind %d subject %q entries %q", c.set, s.Kind, s.Subject, strings.Join(got, "; "))
		}
	}
	if p.RoleSet("agent") != p.Set("r-agent") || p.OverlaySet("agent") != nil {
		t.Error("sets by kind")
	}
	// the world's rule on agent was written 53/udp, 80/tcp, 81/tcp, 82-90/tcp, 70-79/tcp
	var world *Rule
	for i := range p.Rules {
		if p.Rules[i].Prov.Origin == "rules[0]" && p.Rules[i].Proto == TCP {
			world = &p.Rules[i]
		}
	}
	var entries []string
	for _, ps := range world.PortSources {
		entries = append(entries, fmt.Sprintf("%s@%d:%d", ps, ps.Prov.Pos.Line, ps.Prov.Pos.Col))
	}
	if strings.Join(entries, " ") != "80/tcp@14:46 81/tcp@14:54 82-90/tcp@14:62 70-79/tcp@14:73" {
		t.Errorf("port entries: %v", entries)
	}
	if ps := world.PortSource(85); ps == nil || ps.String() != "82-90/tcp" || world.PortSource(91) != nil || world.By != ByRule {
		t.Errorf("the entry of port 85: %v", ps)
	}
	m := p.Role("master")
	if m == nil || m.AdminProv.Origin != "roles.master.admin" || len(m.Admin) != 3 || m.Admin[1].String() != "8080/tcp" || m.Etcd {
		t.Errorf("role master: %+v", m)
	}
	for _, c := range []struct {
		addr, role, node string
	}{
		{"10.0.0.1", "master", "m1"},
		{"fd00::1", "master", "m1"},
		{"10.0.0.2", "agent", "a1"},
		{"10.0.20.7", "agent", ""},
		{"10.0.32.1", "", ""},
	} {
		loc, ok := p.Locate(netip.MustParseAddr(c.addr))
		node := ""
		if loc.Node != nil {
			node = loc.Node.Name
		}
		if ok != (c.role != "") || loc.Role != c.role || node != c.node || (loc.Pool != nil) != (c.role != "" && c.node == "") {
			t.Errorf("%s: %+v %v, want role %q node %q", c.addr, loc, ok, c.role, c.node)
		}
	}
	if n := p.Node("a1"); n == nil || n.Role != "agent" || len(p.NodesOf("master")) != 1 || p.File != "t.yaml" {
		t.Errorf("nodes: %+v", n)
	}
}
