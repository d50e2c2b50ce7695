package trace_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/generator/trace"
)

// iptFiles are an iptables.v4 (and, when given, an ipset.v4) file.
func iptFiles(rules, sets string) []firewall.File {
	fs := []firewall.File{{Name: "iptables.v4", Contents: []byte(rules)}}
	if sets != "" {
		fs = append(fs, firewall.File{Name: "ipset.v4", Contents: []byte(sets)})
	}
	return fs
}

func nftFiles(ruleset string) []firewall.File {
	return []firewall.File{{Name: firewall.NFTFile, Contents: []byte(ruleset)}}
}

const nftHead = "table inet rampart {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n"
const nftTail = "\t}\n}\n"

// TestRefusesUnknown: a match, target, statement or set type the tracer
// does not know, on the input path, refuses the files; so do references to
// what the files do not define. The errors are values: the rule (file,
// line, chain, text) and what is not known.
func TestRefusesUnknown(t *testing.T) {
	tests := []struct {
		name  string
		files []firewall.File
		want  error
	}{
		{
			"iptables match",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n-A RAMPART-INPUT -m addrtype --dst-type LOCAL -j ACCEPT\nCOMMIT\n", ""),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "iptables.v4", Line: 3, Table: "filter", Chain: "RAMPART-INPUT", Text: "-A RAMPART-INPUT -m addrtype --dst-type LOCAL -j ACCEPT"},
				What: "match -m addrtype",
			},
		},
		{
			"iptables option of a known match",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n-A RAMPART-INPUT -p tcp -m tcp --tcp-flags SYN SYN -j ACCEPT\nCOMMIT\n", ""),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "iptables.v4", Line: 3, Table: "filter", Chain: "RAMPART-INPUT", Text: "-A RAMPART-INPUT -p tcp -m tcp --tcp-flags SYN SYN -j ACCEPT"},
				What: "option --tcp-flags SYN SYN of match -m tcp",
			},
		},
		{
			"iptables target",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n-A RAMPART-INPUT -j MARK --set-mark 1\nCOMMIT\n", ""),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "iptables.v4", Line: 3, Table: "filter", Chain: "RAMPART-INPUT", Text: "-A RAMPART-INPUT -j MARK --set-mark 1"},
				What: "target MARK (neither a chain of table filter nor ACCEPT, DROP, REJECT, RETURN, LOG)",
			},
		},
		{
			"iptables chain not declared",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n-A RAMPART-INPUT -j RAMPART-X\n-A RAMPART-X -j DROP\nCOMMIT\n", ""),
			&trace.InvalidError{
				Rule: trace.Rule{File: "iptables.v4", Line: 3, Table: "filter", Chain: "RAMPART-INPUT", Text: "-A RAMPART-INPUT -j RAMPART-X"},
				Msg:  "jumps to chain RAMPART-X, which table filter does not define",
			},
		},
		{
			"iptables loop",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n:A - [0:0]\n-A RAMPART-INPUT -j A\n-A A -j RAMPART-INPUT\nCOMMIT\n", ""),
			&trace.InvalidError{
				Rule: trace.Rule{File: "iptables.v4", Line: 5, Table: "filter", Chain: "A", Text: "-A A -j RAMPART-INPUT"},
				Msg:  "jumps to RAMPART-INPUT, which leads back here: a loop",
			},
		},
		{
			"iptables set not defined",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n-A RAMPART-INPUT -m set --match-set nope src -j ACCEPT\nCOMMIT\n", ""),
			&trace.InvalidError{
				Rule: trace.Rule{File: "iptables.v4", Line: 3, Table: "filter", Chain: "RAMPART-INPUT", Text: "-A RAMPART-INPUT -m set --match-set nope src -j ACCEPT"},
				Msg:  "matches set nope, which no ipset file defines",
			},
		},
		{
			"iptables set of the other family",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n-A RAMPART-INPUT -m set --match-set s6 src -j ACCEPT\nCOMMIT\n", "create s6 hash:net family inet6\n"),
			&trace.InvalidError{
				Rule: trace.Rule{File: "iptables.v4", Line: 3, Table: "filter", Chain: "RAMPART-INPUT", Text: "-A RAMPART-INPUT -m set --match-set s6 src -j ACCEPT"},
				Msg:  "matches set s6 of family inet6 in IPv4 rules",
			},
		},
		{
			"iptables set type",
			iptFiles("*filter\n:RAMPART-INPUT - [0:0]\n-A RAMPART-INPUT -m set --match-set l src -j ACCEPT\nCOMMIT\n", "create l list:set\n"),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "iptables.v4", Line: 3, Table: "filter", Chain: "RAMPART-INPUT", Text: "-A RAMPART-INPUT -m set --match-set l src -j ACCEPT"},
				What: "set type list:set (set l)",
			},
		},
		{
			"nft expression",
			nftFiles(nftHead + "\t\tfib daddr type local accept\n" + nftTail),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "rampart.nft", Line: 4, Table: "inet rampart", Chain: "input", Text: "fib daddr type local accept"},
				What: `"fib"`,
			},
		},
		{
			"nft meta key",
			nftFiles(nftHead + "\t\tmeta mark 0x1 accept comment \"marked\"\n" + nftTail),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "rampart.nft", Line: 4, Table: "inet rampart", Chain: "input", Text: "meta mark 0x1 accept", Comment: "marked"},
				What: "meta mark",
			},
		},
		{
			"nft limit over",
			nftFiles(nftHead + "\t\tlimit rate over 10/second drop\n" + nftTail),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "rampart.nft", Line: 4, Table: "inet rampart", Chain: "input", Text: "limit rate over 10/second drop"},
				What: "limit rate over",
			},
		},
		{
			"nft set not defined",
			nftFiles(nftHead + "\t\tip saddr @nope accept\n" + nftTail),
			&trace.InvalidError{
				Rule: trace.Rule{File: "rampart.nft", Line: 4, Table: "inet rampart", Chain: "input", Text: "ip saddr @nope accept"},
				Msg:  "matches set @nope, which table inet rampart does not define",
			},
		},
		{
			"nft dynamic set",
			nftFiles("table inet rampart {\n\tset seen {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tip saddr @seen drop\n" + nftTail),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "rampart.nft", Line: 8, Table: "inet rampart", Chain: "input", Text: "ip saddr @seen drop"},
				What: "set @seen with flags dynamic (its elements change as packets pass)",
			},
		},
		{
			"nft jump to nothing",
			nftFiles(nftHead + "\t\tjump nowhere\n" + nftTail),
			&trace.InvalidError{
				Rule: trace.Rule{File: "rampart.nft", Line: 4, Table: "inet rampart", Chain: "input", Text: "jump nowhere"},
				Msg:  "jumps to chain nowhere, which table inet rampart does not define",
			},
		},
		{
			"nft base chains of one priority",
			nftFiles("table inet a {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t}\n}\ntable inet b {\n\tchain in {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n"),
			&trace.UnsupportedError{
				Rule: trace.Rule{File: "rampart.nft", Table: "inet b", Chain: "in", Text: "chain in"},
				What: "two base chains of the input hook at priority 0 (inet a in and inet b in): the kernel's order between them is not defined",
			},
		},
		{
			"no files",
			[]firewall.File{{Name: "failsafe.v4", Contents: []byte("*filter\nCOMMIT\n")}},
			&trace.FilesError{Msg: "neither rampart.nft nor iptables.v4 nor iptables.v6 among the files"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := trace.Load(tt.files)
			if err == nil {
				t.Fatalf("loaded (%s backend), want %v", tr.Backend(), tt.want)
			}
			if err.Error() != tt.want.Error() {
				t.Errorf("error\n  %v\nwant\n  %v", err, tt.want)
			}
			switch want := tt.want.(type) {
			case *trace.UnsupportedError:
				var got *trace.UnsupportedError
				if !errors.As(err, &got) || *got != *want {
					t.Errorf("got %#v, want %#v", err, want)
				}
			case *trace.InvalidError:
				var got *trace.InvalidError
				if !errors.As(err, &got) || *got != *want {
					t.Errorf("got %#v, want %#v", err, want)
				}
			case *trace.FilesError:
				var got *trace.FilesError
				if !errors.As(err, &got) || *got != *want {
					t.Errorf("got %#v, want %#v", err, want)
				}
			}
		})
	}
}

// TestUnreachedIsNotRead: what the input path never reaches (the forward
// chains, with their connmark and DNAT matches; the raw and mangle
// prerouting chains) does not refuse the files.
func TestUnreachedIsNotRead(t *testing.T) {
	rules := "*raw\n:RAMPART-RPFILTER - [0:0]\n-A RAMPART-RPFILTER -m rpfilter --invert -j DROP\nCOMMIT\n" +
		"*filter\n:RAMPART-INPUT - [0:0]\n:RAMPART-FORWARD - [0:0]\n-A RAMPART-INPUT -j DROP\n" +
		"-A RAMPART-FORWARD -m connmark --mark 0x1/0x1 -j MARK --set-mark 2\nCOMMIT\n"
	tr, err := trace.Load(iptFiles(rules, ""))
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Trace(trace.Packet{Src: netip.MustParseAddr("192.0.2.1"), Proto: spec.TCP, DstPort: 22})
	if err != nil || res.Verdict != policy.Drop {
		t.Fatalf("%v, %v; want DROP", res, err)
	}
}

// TestMissingProperty: a rule whose outcome depends on what the packet was
// not given is an error, unless another part of the rule already decides.
func TestMissingProperty(t *testing.T) {
	ruleset := nftHead +
		"\t\tudp sport 67 udp dport 68 accept comment \"DHCP\"\n" +
		"\t\tiifname \"lo\" accept\n" +
		"\t\tiifname \"eth*\" tcp dport 22 accept\n" +
		"\t\tip6 hoplimit 255 icmpv6 type nd-neighbor-solicit accept\n" +
		"\t\tdrop\n" + nftTail
	tr, err := trace.Load(nftFiles(ruleset))
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		pk   trace.Packet
		want trace.Result // Verdict and Rule.Line only
		need string       // "" for no error
	}{
		{trace.Packet{Src: v4, Proto: spec.UDP, DstPort: 68}, trace.Result{}, "source port"},
		{trace.Packet{Src: v4, Proto: spec.UDP, DstPort: 68, SrcPort: 67}, trace.Result{Verdict: policy.Accept, Rule: &trace.Rule{Line: 4}}, ""},
		{trace.Packet{Src: v4, Proto: spec.UDP, DstPort: 53}, trace.Result{Verdict: policy.Drop, Rule: &trace.Rule{Line: 8}}, ""},
		{trace.Packet{Src: v4, Proto: spec.TCP, DstPort: 22}, trace.Result{}, "input interface"},
		{trace.Packet{Src: v4, Proto: spec.TCP, DstPort: 22, In: "eth0"}, trace.Result{Verdict: policy.Accept, Rule: &trace.Rule{Line: 6}}, ""},
		{trace.Packet{Src: v4, Proto: spec.TCP, DstPort: 22, In: "lo"}, trace.Result{Verdict: policy.Accept, Rule: &trace.Rule{Line: 5}}, ""},
		{trace.Packet{Src: v4, Proto: spec.TCP, DstPort: 23}, trace.Result{Verdict: policy.Drop, Rule: &trace.Rule{Line: 8}}, ""},
		{trace.Packet{Src: v6, Proto: spec.ICMP}, trace.Result{Verdict: policy.Drop, Rule: &trace.Rule{Line: 8}}, ""},
	}
	for _, tt := range tests {
		res, err := tr.Trace(tt.pk)
		if tt.need != "" {
			var me *trace.MissingError
			if !errors.As(err, &me) || me.Need != tt.need {
				t.Errorf("%+v: %v, %v; want a missing %s", tt.pk, res, err, tt.need)
			}
			continue
		}
		if err != nil || res.Verdict != tt.want.Verdict || res.Rule == nil || res.Rule.Line != tt.want.Rule.Line {
			t.Errorf("%+v: %v, %v; want %s by line %d", tt.pk, res, err, tt.want.Verdict, tt.want.Rule.Line)
		}
	}
}

// TestBadPackets: a packet the tracer does not follow is refused.
func TestBadPackets(t *testing.T) {
	tr, err := trace.Load(nftFiles(nftHead + "\t\tdrop\n" + nftTail))
	if err != nil {
		t.Fatal(err)
	}
	v4 := netip.MustParseAddr("192.0.2.1")
	for _, tt := range []struct {
		pk   trace.Packet
		want string
	}{
		{trace.Packet{Proto: spec.TCP, DstPort: 1}, "trace: packet: no source address"},
		{trace.Packet{Src: v4, Proto: spec.TCP}, "trace: packet: tcp needs a destination port"},
		{trace.Packet{Src: v4, Proto: "sctp", DstPort: 1}, "trace: packet: protocol sctp: want tcp, udp or icmp"},
		{trace.Packet{Src: v4, Proto: spec.UDP, DstPort: 1, State: "bogus"}, "trace: packet: conntrack state BOGUS: want one of NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED"},
		{trace.Packet{Src: v4, Dst: netip.MustParseAddr("::1"), Proto: spec.ICMP}, "trace: packet: source 192.0.2.1 and destination ::1 are of different families"},
	} {
		_, err := tr.Trace(tt.pk)
		var pe *trace.PacketError
		if !errors.As(err, &pe) || err.Error() != tt.want {
			t.Errorf("%+v: %v, want %s", tt.pk, err, tt.want)
		}
	}
	ipt, err := trace.Load(iptFiles("*filter\n:RAMPART-INPUT - [0:0]\nCOMMIT\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ipt.Trace(trace.Packet{Src: netip.MustParseAddr("2001:db8::1"), Proto: spec.ICMP})
	if want := (&trace.NoRulesError{Family: policy.V6}); err == nil || err.Error() != want.Error() {
		t.Errorf("IPv6 packet without IPv6 rules: %v, want %v", err, want)
	}
}
