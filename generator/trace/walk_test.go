package trace_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/generator/trace"
)

// probe is a packet and what the tracer must answer: the verdict and the
// line of the deciding rule (0: a chain's policy, named by policy).
type probe struct {
	pk     trace.Packet
	want   policy.Verdict
	line   int
	policy string
}

func tcpFrom(src string, port uint16) trace.Packet {
	return trace.Packet{Src: netip.MustParseAddr(src), Proto: spec.TCP, DstPort: port, SrcPort: 40000}
}

func udpFrom(src string, port uint16) trace.Packet {
	return trace.Packet{Src: netip.MustParseAddr(src), Proto: spec.UDP, DstPort: port, SrcPort: 40000}
}

func pingFrom(src string) trace.Packet {
	return trace.Packet{Src: netip.MustParseAddr(src), Proto: spec.ICMP}
}

func check(t *testing.T, tr *trace.Tracer, probes []probe) {
	t.Helper()
	for _, p := range probes {
		res, err := tr.Trace(p.pk)
		if err != nil {
			t.Errorf("%s %s %d: %v", p.pk.Src, p.pk.Proto, p.pk.DstPort, err)
			continue
		}
		line := 0
		if res.Rule != nil {
			line = res.Rule.Line
		}
		if res.Verdict != p.want || line != p.line || p.line == 0 && res.Policy != p.policy {
			t.Errorf("%s %s %d: %s, want %s by line %d %s\n%s", p.pk.Src, p.pk.Proto, p.pk.DstPort, res, p.want, p.line, p.policy, res.PathString())
		}
	}
}

// TestIPTablesWalk: jumps, gotos, returns, LOG and limit rules, ipset
// nomatch entries and multiport, in a restore file (INPUT not declared:
// rampart's jump is taken to be first in it).
func TestIPTablesWalk(t *testing.T) {
	rules := `*filter
:RAMPART-INPUT - [0:0]
:SUB - [0:0]
:GONE - [0:0]
-A RAMPART-INPUT -i lo -j ACCEPT
-A RAMPART-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A RAMPART-INPUT -m set --match-set nets src -j SUB
-A RAMPART-INPUT -s 198.51.100.0/24 -g GONE
-A RAMPART-INPUT -p icmp -m icmp --icmp-type echo-request -m limit --limit 10/second --limit-burst 20 -j ACCEPT
-A RAMPART-INPUT -p udp -m multiport --dports 53,5000:5010 -j ACCEPT
-A RAMPART-INPUT -m limit --limit 10/minute -j LOG --log-prefix "drop: "
-A RAMPART-INPUT -j REJECT --reject-with icmp-admin-prohibited
-A SUB -p tcp -m tcp --dport 22 -j ACCEPT
-A SUB -j RETURN
-A SUB -j DROP
-A GONE -p tcp --dport 80 -j DROP
COMMIT
`
	sets := "create nets hash:net family inet\nadd nets 10.0.0.0/8\nadd nets 10.1.0.0/16 nomatch\nadd nets 10.1.2.3\n"
	tr, err := trace.Load(iptFiles(rules, sets))
	if err != nil {
		t.Fatal(err)
	}
	est := tcpFrom("192.0.2.1", 22)
	est.State = "established"
	check(t, tr, []probe{
		{tcpFrom("10.9.9.9", 22), policy.Accept, 13, ""},   // in the set: SUB accepts 22
		{tcpFrom("10.9.9.9", 23), policy.Reject, 12, ""},   // SUB returns, on to the end
		{tcpFrom("10.1.9.9", 22), policy.Reject, 12, ""},   // nomatch: not in the set
		{tcpFrom("10.1.2.3", 22), policy.Accept, 13, ""},   // more specific than the nomatch entry
		{tcpFrom("198.51.100.7", 80), policy.Drop, 16, ""}, // goto GONE
		// GONE's end returns to the caller of RAMPART-INPUT: INPUT, whose policy decides
		{tcpFrom("198.51.100.7", 81), policy.Accept, 0, "filter INPUT policy ACCEPT"},
		{pingFrom("192.0.2.1"), policy.Accept, 9, ""}, // within the limit
		{udpFrom("192.0.2.1", 5005), policy.Accept, 10, ""},
		{udpFrom("192.0.2.1", 5011), policy.Reject, 12, ""},
		{est, policy.Accept, 6, ""},
	})
	res, err := tr.Trace(udpFrom("192.0.2.1", 9))
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, r := range res.Path {
		path = append(path, r.Text)
	}
	want := []string{"-A INPUT -j RAMPART-INPUT", `-A RAMPART-INPUT -m limit --limit 10/minute -j LOG --log-prefix "drop: "`, "-A RAMPART-INPUT -j REJECT --reject-with icmp-admin-prohibited"}
	if strings.Join(path, "\n") != strings.Join(want, "\n") {
		t.Errorf("path:\n%s\nwant:\n%s", strings.Join(path, "\n"), strings.Join(want, "\n"))
	}
}

// TestIPTablesSaveOutput: iptables-save declares INPUT, which is followed as
// it is: its policy decides when rampart's jump is missing.
func TestIPTablesSaveOutput(t *testing.T) {
	save := `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:RAMPART-INPUT - [0:0]
-A INPUT -s 192.0.2.0/24 -j ACCEPT
-A RAMPART-INPUT -j ACCEPT
COMMIT
`
	parsed, err := drift.ParseIPTables(strings.NewReader(save), "iptables-save")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trace.NewIPTables(map[policy.Family]trace.IPTablesFamily{policy.V4: {Name: "iptables-save", Rules: parsed}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, tr, []probe{
		{tcpFrom("192.0.2.1", 22), policy.Accept, 6, ""},
		{tcpFrom("198.51.100.1", 22), policy.Drop, 0, "filter INPUT policy DROP"},
	})
}

// TestNFTWalk: base chains of several tables run by priority (an accept
// goes on to the next, a drop is final), families kept apart, named and
// anonymous sets, jumps and returns.
func TestNFTWalk(t *testing.T) {
	ruleset := `table inet rampart {
	set admins_v4 {
		type ipv4_addr
		flags interval
		elements = { 192.0.2.0/24, 203.0.113.5,
			203.0.113.10-203.0.113.20 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		ip saddr @admins_v4 jump admin
		ip6 saddr { 2001:db8::/32, fd00::1 } tcp dport 22 accept
		icmpv6 type echo-request limit rate 10/second burst 20 packets accept
		meta l4proto udp ct original proto-dst { 53, 60000-60010 } accept
		tcp dport != { 1-1023 } accept
	}
	chain admin {
		tcp dport 22 accept
		return
		drop
	}
}
table ip late {
	chain in {
		type filter hook input priority filter + 10; policy accept;
		ip saddr 192.0.2.66 drop
	}
}
table ip6 early {
	chain in {
		type filter hook input priority -200; policy accept;
		counter packets 0 bytes 0 log prefix "v6: " accept
	}
}
`
	tr, err := trace.Load(nftFiles(ruleset))
	if err != nil {
		t.Fatal(err)
	}
	check(t, tr, []probe{
		{tcpFrom("192.0.2.1", 22), policy.Accept, 18, ""},
		{tcpFrom("192.0.2.66", 22), policy.Drop, 26, ""}, // accepted by input, dropped by the later base chain
		{tcpFrom("203.0.113.15", 23), policy.Drop, 0, "inet rampart input policy drop"},
		{tcpFrom("203.0.113.21", 22), policy.Drop, 0, "inet rampart input policy drop"},
		{tcpFrom("203.0.113.21", 2222), policy.Accept, 15, ""},
		{tcpFrom("2001:db8::1", 22), policy.Accept, 12, ""},
		{tcpFrom("2001:db9::1", 22), policy.Drop, 0, "inet rampart input policy drop"},
		{pingFrom("2001:db9::1"), policy.Accept, 13, ""},
		{pingFrom("192.0.2.200"), policy.Drop, 0, "inet rampart input policy drop"}, // an echo of IPv4 is not icmpv6
		{udpFrom("198.51.100.1", 60005), policy.Accept, 14, ""},
	})
	res, err := tr.Trace(tcpFrom("2001:db8::1", 22))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Path) != 2 || res.Path[0].Table != "ip6 early" || res.Path[1].Line != 12 {
		t.Errorf("path:\n%s", res.PathString())
	}
}
