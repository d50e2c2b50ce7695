package policy

import (
	"net/netip"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// TestAccessText: the decider's segments cover every protocol, port and
// type once, the first decision wins, and the cell text compresses them.
func TestAccessText(t *testing.T) {
	prov := Provenance{What: "test"}
	ports := func(rs ...PortRange) []PortRange { return rs }
	cases := []struct {
		name  string
		rules func(d *decider)
		want  string
	}{
		{"nothing", func(d *decider) {}, "—"},
		{"all", func(d *decider) { d.decide(spaceOf("", nil), Accept, nil, prov, false) }, "all"},
		{"all but", func(d *decider) {
			d.decide(spaceOf(TCP, ports(PortRange{From: 26257, To: 26257}, PortRange{From: 8201, To: 8201})), Drop, nil, prov, false)
			d.decide(spaceOf("", nil), Accept, nil, prov, false)
		}, "all but tcp/8201,26257"},
		{"all but icmp and udp", func(d *decider) {
			d.decide(spaceOf(ICMP, nil), Drop, nil, prov, false)
			d.decide(spaceOf(UDP, ports(PortRange{From: 1, To: 1023})), Reject, nil, prov, false)
			d.decide(spaceOf("", nil), Accept, nil, prov, false)
		}, "all but udp/1-1023 icmp"},
		{"list", func(d *decider) {
			d.decide(spaceOf(TCP, ports(PortRange{From: 443, To: 443}, PortRange{From: 80, To: 80}, PortRange{From: 10000, To: 10100})), Accept, nil, prov, false)
			d.decide(spaceOf(UDP, ports(PortRange{From: 53, To: 53})), Accept, nil, prov, false)
			d.decide(spaceOf(ICMP, nil), Accept, nil, prov, false)
		}, "tcp/80,443,10000-10100 udp/53 icmp"},
		{"deny first wins", func(d *decider) {
			d.decide(spaceOf(TCP, ports(PortRange{From: 100, To: 200})), Drop, nil, prov, false)
			d.decide(spaceOf(TCP, nil), Accept, nil, prov, false)
		}, "tcp/0-99,201-65535"},
		{"whole protocol", func(d *decider) { d.decide(spaceOf(UDP, nil), Accept, nil, prov, false) }, "udp/all"},
		{"every port but 0 is not all", func(d *decider) {
			d.decide(spaceOf(UDP, ports(PortRange{From: 1, To: 65535})), Accept, nil, prov, false)
		}, "udp/1-65535"},
		{"touching ranges merge", func(d *decider) {
			d.decide(spaceOf(TCP, ports(PortRange{From: 80, To: 80})), Accept, nil, prov, false)
			d.decide(spaceOf(TCP, ports(PortRange{From: 81, To: 90})), Accept, nil, prov, false)
		}, "tcp/80-90"},
	}
	for _, c := range cases {
		for _, f := range Families {
			d := newDecider(f)
			c.rules(d)
			a := d.access(Drop, prov)
			if got := a.String(); got != c.want {
				t.Errorf("%s %s: %q, want %q", c.name, f, got, c.want)
			}
			for _, proto := range Protocols {
				var rs []PortRange
				n := 0
				for _, s := range a.Segments {
					if s.Proto == proto {
						rs = append(rs, s.Ports)
						n += int(s.Ports.To) - int(s.Ports.From) + 1
					}
				}
				want := map[Protocol]ranges.Ports{TCP: ranges.AllPorts(), UDP: ranges.AllPorts(), SCTP: ranges.AllPorts(), ICMP: AllTypes(), Other: OtherNumbers()}[proto]
				if n != want.Size() || ranges.Merge(rs).String() != want.String() {
					t.Errorf("%s %s: %s segments cover %d: %v", c.name, f, proto, n, rs)
				}
			}
		}
	}
}

// TestExplainFirstMatch: a point query is decided by the first rule that
// matches; ICMP is an echo request of the source's family; Other is reached
// only by rules that name no protocol.
func TestExplainFirstMatch(t *testing.T) {
	p := compile(t, dcos)
	for _, c := range []struct {
		from  string
		role  string
		proto Protocol
		port  uint16
		want  Verdict
		rule  string
	}{
		{"10.0.0.2", "master", TCP, 8201, Drop, "profile dcos"},
		{"10.0.0.2", "master", TCP, 8202, Accept, "nodes and pools"},
		{"10.0.16.9", "master", Other, 0, Accept, "nodes and pools"},
		{"192.0.2.9", "master", TCP, 22, Drop, "rules[1]"},
		{"203.0.113.1", "agent", TCP, 0, Drop, "firewall.action"},
		{"203.0.113.1", "agent", TCP, 70, Accept, "rules[0]"},
		{"203.0.113.1", "agent", ICMP, 0, Drop, "firewall.action"},
		{"203.0.113.1", "agent", Other, 0, Drop, "firewall.action"},
		{"2001:db8:ad::1", "master", TCP, 9090, Accept, "roles.master.admin"},
		{"::ffff:209.220.51.50", "master", TCP, 22, Accept, "roles.master.admin"},
		{"8.8.8.8", "agent", ICMP, 0, Accept, "trusted"},
	} {
		d := p.Explain(Query{From: netip.MustParseAddr(c.from), Role: c.role, Proto: c.proto, Port: c.port})
		if d.Verdict != c.want || d.Prov.Origin != c.rule || (d.Rule == nil) != (c.rule == "firewall.action") {
			t.Errorf("%s -> %s %d/%s: %s, want %s by %s", c.from, c.role, c.port, c.proto, d, c.want, c.rule)
		}
	}
}

// TestAllowances: the union of a role's allowances is what Evaluate accepts:
// each accepting rule carries the earlier non-accepting rules that overlap it.
func TestAllowances(t *testing.T) {
	p := compile(t, dcos)
	for _, a := range p.Allowances("master") {
		var except []string
		for _, d := range a.Except {
			except = append(except, d.Prov.Origin)
		}
		switch a.Rule.Prov.Origin {
		case "nodes and pools", "trusted":
			if len(except) != 3 {
				t.Errorf("%s: except %v, want the three denies", a.Rule.Prov.Origin, except)
			}
		case "roles.master.admin", "zone admin default":
			// the dcos denies are of other ports; the CIDR deny is of every protocol
			if len(except) != 1 || except[0] != "rules[1]" {
				t.Errorf("%s: except %v, want rules[1]", a.Rule.Prov.Origin, except)
			}
		}
	}
	if n := len(p.Allowances("agent")); n != 5 {
		t.Errorf("agent: %d allowances, want 5", n)
	}
}
