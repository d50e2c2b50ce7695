package drift

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestRuleEquivalence: pairs of rules written the way rampart renders them
// and the way iptables-save prints them back mean the same; pairs that
// differ in meaning do not.
func TestRuleEquivalence(t *testing.T) {
	same := [][2]string{
		{`-A X -m set --match-set rampart-admins-4 src -p tcp -m tcp --dport 22 -m comment --comment "admins reach agent" -j ACCEPT`,
			`-A X -p tcp -m set --match-set rampart-admins-4 src -m tcp --dport 22 -m comment --comment "other text" -j ACCEPT`},
		{`-A X -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`, `-A X -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`},
		{`-A X -p icmp -m icmp --icmp-type destination-unreachable -j ACCEPT`, `-A X -p icmp -m icmp --icmp-type 3 -j ACCEPT`},
		{`-A X -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -m hl --hl-eq 255 -j ACCEPT`, `-A X -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255 -j ACCEPT`},
		{`-A X -s 10.0.0.1 -j DROP`, `-A X -s 10.0.0.1/32 -j DROP`},
		{`-A X -s 10.0.0.0/255.0.0.0 -j DROP`, `-A X -s 10.0.0.0/8 -j DROP`},
		{`-A X -m conntrack --ctproto tcp --ctorigdstport 22 -j RETURN`, `-A X -m conntrack --ctproto 6 --ctorigdstport 22 -j RETURN`},
		{`-A X -m limit --limit 10/minute -j LOG --log-prefix "rampart-drop: "`, `-A X -m limit --limit 10/min --limit-burst 5 -j LOG --log-prefix "rampart-drop: "`},
		{`-A X -p tcp --dport 80 -j ACCEPT`, `-A X -p tcp -m tcp --dport 80 -j ACCEPT`},
		{`-A X -p tcp -m multiport --dports 10000:10100 -j ACCEPT`, `[0:0] -A X -p tcp -m multiport --dports 10000-10100 -j ACCEPT`},
		{`-A X -p 6 -j ACCEPT`, `-A X -p tcp -j ACCEPT`},
		{`-A X -j REJECT --reject-with icmp6-adm-prohibited`, `-A X -j REJECT --reject-with icmp6-adm-prohibited`},
	}
	differ := [][2]string{
		{`-A X -p tcp -m tcp --dport 22 -j ACCEPT`, `-A X -p tcp -m tcp --dport 2222 -j ACCEPT`},
		{`-A X -s 10.0.0.0/8 -j ACCEPT`, `-A X ! -s 10.0.0.0/8 -j ACCEPT`},
		{`-A X -m conntrack --ctstate DNAT -j RETURN`, `-A X -m conntrack ! --ctstate DNAT -j RETURN`},
		{`-A X -j ACCEPT`, `-A X -j DROP`},
		{`-A X -j REJECT --reject-with icmp-admin-prohibited`, `-A X -j REJECT --reject-with icmp-port-unreachable`},
		{`-A X -m set --match-set rampart-admins-4 src -j ACCEPT`, `-A X -m set --match-set rampart-admins-4 dst -j ACCEPT`},
		{`-A X -i lo -j ACCEPT`, `-A X -o lo -j ACCEPT`},
		{`-A X -j RAMPART-INPUT`, `-A X -g RAMPART-INPUT`},
	}
	key := func(line string) string {
		tab, err := ParseIPTables(strings.NewReader("*filter\n"+line+"\nCOMMIT\n"), "test")
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return tab.Table("filter").Chains["X"].Rules[0].Key()
	}
	for _, p := range same {
		if a, b := key(p[0]), key(p[1]); a != b {
			t.Errorf("should mean the same:\n  %s\n  %s\nkeys:\n  %s\n  %s", p[0], p[1], a, b)
		}
	}
	for _, p := range differ {
		if key(p[0]) == key(p[1]) {
			t.Errorf("should differ:\n  %s\n  %s", p[0], p[1])
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		parse func(string) error
		in    string
		want  string
	}{
		{iptParse, "-A INPUT -j ACCEPT\n", "test:1: \"-A INPUT -j ACCEPT\" outside a table"},
		{iptParse, "*filter\n-A INPUT -p\nCOMMIT\n", "test:2: -p needs a value"},
		{iptParse, "*filter\n-A INPUT -m comment --comment \"open\nCOMMIT\n", "test:2: unterminated quote"},
		{iptParse, "*filter\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n", `test:2: bad address "10.0.0.300"`},
		{iptParse, "*filter\n-X FOO\nCOMMIT\n", "want -A CHAIN"},
		{setParse, "add rampart-x 10.0.0.1\n", `test:1: set "rampart-x" does not exist here`},
		{setParse, "create a hash:net\nadd a 10.0.0.0/33\n", `test:2: bad prefix "10.0.0.0/33"`},
		{setParse, "bogus a\n", "not an ipset command"},
		{nftParse, "table inet x {\n chain y {\n", "a block is not closed"},
		{nftParse, "}\n", "} closes nothing"},
		{nftParse, "table inet x {\n set s {\n elements = 1\n }\n}\n", "elements = { ... } expected"},
		{nftParse, "add rule inet x y accept\n", "only table blocks"},
	}
	for _, c := range cases {
		err := c.parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
}

func iptParse(s string) error { _, err := ParseIPTables(strings.NewReader(s), "test"); return err }
func setParse(s string) error { _, err := ParseIPSet(strings.NewReader(s), "test"); return err }
func nftParse(s string) error { _, err := ParseNFT(strings.NewReader(s), "test"); return err }

// TestInsert: -I CHAIN [N] puts the rule where iptables would.
func TestInsert(t *testing.T) {
	tab, err := ParseIPTables(strings.NewReader("*filter\n-A X -j A\n-A X -j B\n-I X 2 -j C\n-I X -j D\n-I X 9 -j E\nCOMMIT\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tab.Table("filter").Chains["X"].Rules {
		got = append(got, r.Target)
	}
	if strings.Join(got, "") != "DACBE" {
		t.Errorf("order %v, want D A C B E", got)
	}
}

// TestIPSetRestore: a restore file's swap and destroy leave the set under
// its own name with the temporary set's members; save output reads alike.
func TestIPSetRestore(t *testing.T) {
	restore := `create rampart-a-4 hash:net family inet hashsize 1024 maxelem 16777216
create rampart-a-4-n hash:net family inet hashsize 1024 maxelem 16777216
flush rampart-a-4-n
add rampart-a-4-n 10.0.0.1/32
add rampart-a-4-n 10.1.0.0/16
swap rampart-a-4-n rampart-a-4
destroy rampart-a-4-n
`
	saved := `create rampart-a-4 hash:net family inet hashsize 1024 maxelem 16777216 bucketsize 12 initval 0x1
add rampart-a-4 10.1.0.0/16
add rampart-a-4 10.0.0.1
create other hash:ip family inet hashsize 1024 maxelem 65536
add other 192.0.2.1
`
	want, err := ParseIPSet(strings.NewReader(restore), "restore")
	if err != nil {
		t.Fatal(err)
	}
	live, err := ParseIPSet(strings.NewReader(saved), "save")
	if err != nil {
		t.Fatal(err)
	}
	if got := checkIPSets(want, live); len(got) != 0 {
		t.Errorf("findings: %v", got)
	}
	if _, ok := want.Sets["rampart-a-4-n"]; ok || len(want.Sets) != 1 {
		t.Errorf("restore left sets %v", want.Order)
	}
	live.Sets["rampart-a-4"].Members = live.Sets["rampart-a-4"].Members[1:]
	live.Sets["rampart-a-4"].MaxElem = "65536"
	got := checkIPSets(want, live)
	if len(got) != 2 || got[0].Kind != ChangedSet || got[1].Kind != MissingMember || got[1].Want != "10.1.0.0/16" {
		t.Errorf("findings: %v", got)
	}
}

// TestNFTIntervals: elements compare as address ranges, however nft prints
// them.
func TestNFTIntervals(t *testing.T) {
	parse := func(elems string) *NFTSet {
		n, err := ParseNFT(strings.NewReader("table inet rampart {\n\tset s {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { "+elems+" }\n\t}\n}\n"), "t")
		if err != nil {
			t.Fatal(err)
		}
		return n.Tables["inet rampart"].Sets["s"]
	}
	a := parse("10.0.0.1/32, 10.0.0.2/31,\n\t\t\t10.1.0.0/16")
	b := parse("10.0.0.1-10.0.0.3, 10.1.0.0/16")
	if got := compareNFTSet("s", a, b); len(got) != 0 {
		t.Errorf("findings: %v", got)
	}
	c := parse("10.0.0.1, 10.1.0.0/17, 192.0.2.9")
	got := compareNFTSet("s", a, c)
	var texts []string
	for _, f := range got {
		texts = append(texts, f.Kind+" "+f.Want+f.Found)
	}
	want := []string{"missing member 10.0.0.2/31", "missing member 10.1.128.0/17", "extra member 192.0.2.9"}
	if strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("findings %q, want %q", texts, want)
	}
}

// TestExpectParsesRendered: every role of every fixture renders into files
// the parsers read, and the rendered state compared with itself (with the
// jumps the script adds) shows no drift.
func TestExpectParsesRendered(t *testing.T) {
	for _, name := range []string{"dcos-packet.yaml", "isolation.yaml", "dcos-aws.yaml", "coreos-web.yaml"} {
		s, err := spec.LoadFile("../../fixtures/" + name)
		if err != nil {
			t.Fatal(err)
		}
		p := policy.Compile(s)
		for _, role := range p.Roles {
			for _, backend := range []string{"iptables", "nftables"} {
				want, err := Expect(p, role, backend)
				if err != nil {
					t.Fatalf("%s %s %s: %v", name, role, backend, err)
				}
				live := &Live{IPTables: map[policy.Family]*IPTables{}, IPSets: want.IPSets, NFT: want.NFT}
				for f, ipt := range want.IPTables {
					var b bytes.Buffer
					for _, name := range Tables {
						tab := ipt.Table(name)
						b.WriteString("*" + name + "\n")
						for _, c := range tab.Order {
							b.WriteString(":" + c + " - [0:0]\n")
						}
						for _, c := range tab.Order {
							for _, r := range tab.Chains[c].Rules {
								b.WriteString(r.Line + "\n")
							}
						}
						for _, j := range firewall.Jumps(p) {
							if j.Table == name {
								b.WriteString("-A " + j.From + " -j " + j.To + "\n")
							}
						}
						b.WriteString("COMMIT\n")
					}
					l, err := ParseIPTables(&b, "t")
					if err != nil {
						t.Fatal(err)
					}
					live.IPTables[f] = l
				}
				if got := Check(p, role, want, live); len(got) > 0 {
					t.Errorf("%s %s %s: %v", name, role, backend, got)
				}
			}
		}
	}
}

// FuzzParse feeds any text to the three parsers and, where one reads it,
// compares it with a rendered firewall: nothing may panic.
func FuzzParse(f *testing.F) {
	s, err := spec.LoadFile("../../fixtures/isolation.yaml")
	if err != nil {
		f.Fatal(err)
	}
	p := policy.Compile(s)
	ipt, err := Expect(p, "agent", "iptables")
	if err != nil {
		f.Fatal(err)
	}
	nft, err := Expect(p, "agent", "nftables")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range append(firewall.RenderIPTables(p, "agent"), firewall.RenderNFTables(p, "agent")...) {
		f.Add(file.Contents)
	}
	f.Add([]byte("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 203.0.113.0/24 -p tcp -m multiport --dports 22,80:90 -j ACCEPT\n-A INPUT -j OTHER\n:OTHER - [0:0]\n-A OTHER -m set --match-set rampart-admins-4 src -j ACCEPT\n-A INPUT -j RAMPART-INPUT\nCOMMIT\n"))
	f.Add([]byte("create rampart-admins-4 hash:net family inet\nadd rampart-admins-4 10.0.0.0/8 nomatch\nswap rampart-admins-4 rampart-admins-4\nrename rampart-admins-4 x\n"))
	f.Add([]byte("table inet rampart {\n\tset s {\n\t\telements = { 10.0.0.1-10.0.0.9,\n\t\t\t::1 }\n\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tct original proto-dst { 0x50 [invalid type] } accept comment \"x\"\n\t}\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if tab, err := ParseIPTables(bytes.NewReader(data), "fuzz"); err == nil {
			Check(p, "agent", ipt, &Live{IPTables: map[policy.Family]*IPTables{policy.V4: tab}, IPSets: ipt.IPSets})
		}
		if sets, err := ParseIPSet(bytes.NewReader(data), "fuzz"); err == nil {
			Check(p, "agent", ipt, &Live{IPSets: sets})
		}
		if n, err := ParseNFT(bytes.NewReader(data), "fuzz"); err == nil {
			Check(p, "agent", nft, &Live{NFT: n})
			for _, tab := range n.Tables {
				for _, set := range tab.Sets {
					set.Intervals()
				}
			}
		}
	})
}

// TestEmptyRuleset: iptables-save and ipset save of a node where nothing was
// ever loaded print nothing, or comments only, or tables rampart does not
// use: that is an empty ruleset, read without error, in which every chain,
// jump and set rampart wants is missing.
func TestEmptyRuleset(t *testing.T) {
	s, err := spec.LoadFile("../../fixtures/dcos-packet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Compile(s)
	want, err := Expect(p, "agent", "iptables")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"",
		"# Generated by iptables-save v1.8.9 on Mon Nov 23 16:20:00 2026\n# Completed on Mon Nov 23 16:20:00 2026\n",
		"\n  \n# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n",
		"*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n",
	} {
		live := &Live{IPTables: map[policy.Family]*IPTables{}}
		for _, f := range policy.Families {
			tab, err := ParseIPTables(strings.NewReader(in), "iptables-save")
			if err != nil {
				t.Fatalf("%q: %v", in, err)
			}
			live.IPTables[f] = tab
		}
		sets, err := ParseIPSet(strings.NewReader(in), "ipset save")
		if err != nil && in == "" {
			t.Fatalf("empty ipset save: %v", err)
		}
		if err == nil {
			live.IPSets = sets
		}
		count := map[string]int{}
		for _, f := range Check(p, "agent", want, live) {
			count[f.Kind]++
		}
		chains, jumps := 0, 0
		for _, f := range policy.Families {
			for _, tab := range want.IPTables[f].Tables {
				for _, c := range tab.Order {
					if isOurs(c) {
						chains++
					}
				}
			}
			jumps += len(want.Jumps)
		}
		if count[MissingChain] != chains || count[MissingJump] != jumps || len(count) > 3 {
			t.Errorf("%q: findings %v, want %d missing chains and %d missing jumps", in, count, chains, jumps)
		}
		if live.IPSets != nil && count[MissingSet] != len(want.IPSets.Order) {
			t.Errorf("%q: %d missing sets, want %d", in, count[MissingSet], len(want.IPSets.Order))
		}
	}
}

// TestNFTRuleEquivalence: nft rules written the way rampart renders them and
// the way nft list ruleset prints them back mean the same; rules that
// differ in meaning do not.
func TestNFTRuleEquivalence(t *testing.T) {
	same := [][2]string{
		{`ip daddr 169.254.169.254/32 drop`, `ip daddr 169.254.169.254 drop`},
		{`ip6 daddr fd00:ec2::254/128 drop`, `ip6 daddr fd00:ec2::254 drop`},
		{`ip saddr 8.8.8.8/32 udp dport 53 accept comment "trusted"`, `ip saddr 8.8.8.8 udp dport 53 accept`},
		{`ip saddr { 10.0.0.1/32, 10.0.0.0/8 } accept`, `ip saddr { 10.0.0.0/8, 10.0.0.1 } accept`},
		{`limit rate 10/minute burst 5 packets log prefix "x"`, `limit rate 10/minute log prefix "x"`},
	}
	differ := [][2]string{
		{`ip daddr 169.254.169.254 drop`, `ip daddr 169.254.169.253 drop`},
		{`ip daddr 10.0.0.0/8 drop`, `ip daddr 10.0.0.0/16 drop`},
		{`ip saddr 10.0.0.1 accept`, `ip daddr 10.0.0.1 accept`},
		{`udp dport 53 accept`, `udp dport 54 accept`},
	}
	for _, p := range same {
		if a, b := parseNFTRule(p[0], 1).Key(), parseNFTRule(p[1], 1).Key(); a != b {
			t.Errorf("should mean the same:\n  %s\n  %s\nkeys:\n  %s\n  %s", p[0], p[1], a, b)
		}
	}
	for _, p := range differ {
		if parseNFTRule(p[0], 1).Key() == parseNFTRule(p[1], 1).Key() {
			t.Errorf("should differ:\n  %s\n  %s", p[0], p[1])
		}
	}
}
