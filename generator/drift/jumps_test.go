package drift

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// jumpLab is the iptables firewall of dcos-packet's agents, rendered and
// parsed, from which the tests below write iptables-save output.
func jumpLab(t *testing.T) (*policy.Policy, *Expected) {
	t.Helper()
	s, err := spec.LoadFile("../../fixtures/dcos-packet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Firewall.Backend != "iptables" {
		t.Fatalf("dcos-packet.yaml: backend %s, the test is written for iptables", s.Firewall.Backend)
	}
	p := policy.Compile(s)
	exp, err := Expect(p, "agent", "iptables")
	if err != nil {
		t.Fatal(err)
	}
	return p, exp
}

// jumpLine is rampart's jump as iptables-save prints it.
func jumpLine(j firewall.Jump) string { return "-A " + j.From + " -j " + j.To }

// saved writes what iptables-save prints for one family where rampart's
// chains are exactly as rendered and the built-in chains (and DOCKER-USER)
// hold rampart's jumps: alone, or, for a chain named in builtins (by where:
// "FORWARD", "mangle PREROUTING"), the lines given there, "@" standing for
// rampart's jump.
func saved(t *testing.T, exp *Expected, f policy.Family, builtins map[string][]string) string {
	t.Helper()
	var b strings.Builder
	used := 0
	for _, name := range Tables {
		tab := exp.IPTables[f].Table(name)
		b.WriteString("*" + name + "\n")
		for _, c := range tab.Order {
			b.WriteString(":" + c + " - [0:0]\n")
		}
		for _, c := range tab.Order {
			for _, r := range tab.Chains[c].Rules {
				b.WriteString(r.Line + "\n")
			}
		}
		for _, j := range exp.Jumps {
			if j.Table != name {
				continue
			}
			lines, ok := builtins[where(j.Table, j.From)]
			if !ok {
				lines = []string{"@"}
			} else {
				used++
			}
			for _, l := range lines {
				if l == "@" {
					l = jumpLine(j)
				}
				b.WriteString(l + "\n")
			}
		}
		b.WriteString("COMMIT\n")
	}
	if used != len(builtins) {
		t.Fatalf("builtins name a chain rampart does not jump from: %v (jumps %v)", builtins, exp.Jumps)
	}
	return b.String()
}

// lineOf is the 1-based number of the one line of text that is line.
func lineOf(t *testing.T, text, line string) int {
	t.Helper()
	n := 0
	for i, l := range strings.Split(text, "\n") {
		if l == line {
			if n != 0 {
				t.Fatalf("%q occurs twice", line)
			}
			n = i + 1
		}
	}
	if n == 0 {
		t.Fatalf("no line %q", line)
	}
	return n
}

// TestJumpNotFirst: a jump into rampart's chains that is in its chain but
// not first is a JumpNotFirst finding naming the chain, the jump's position
// and the rules before it, whether those rules are harmless or not (a
// harmful one is reported as a foreign accept besides). Docker's own order
// is not first either: after Docker (re)starts, FORWARD begins with its
// -j DOCKER-USER, and although DOCKER-USER begins with rampart's jump to
// RAMPART-PUBLISHED, what DOCKER-USER holds after it (and every chain
// Docker jumps to next) sees forwarded packets before RAMPART-FORWARD's
// overlay isolation does; rampart's script puts the FORWARD jump first, so
// anything else is drift.
func TestJumpNotFirst(t *testing.T) {
	p, exp := jumpLab(t)
	type before struct {
		line string // as saved
		ends bool   // the rule ends the chain for every packet
	}
	cases := []struct {
		name     string
		family   policy.Family
		builtins map[string][]string
		// want: per chain that is not first, the rules before the jump;
		// foreign: per chain, the positions and details of foreign accepts
		want    map[string][]before
		foreign map[string]map[int]string
	}{
		{name: "every jump first", family: policy.V4},
		{
			name:   "Docker restarted: FORWARD begins with its jumps, DOCKER-USER with rampart's",
			family: policy.V4,
			builtins: map[string][]string{
				"FORWARD":     {"-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD", "@"},
				"DOCKER-USER": {"@", "-A DOCKER-USER -j RETURN"},
			},
			want: map[string][]before{"FORWARD": {{line: "-A FORWARD -j DOCKER-USER"}, {line: "-A FORWARD -j DOCKER-FORWARD"}}},
		},
		{
			name:     "a harmless rule before INPUT's jump",
			family:   policy.V6,
			builtins: map[string][]string{"INPUT": {"-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "@"}},
			want:     map[string][]before{"INPUT": {{line: "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}}},
		},
		{
			name:   "a foreign accept before INPUT's jump",
			family: policy.V4,
			builtins: map[string][]string{"INPUT": {
				"-A INPUT -i lo -j ACCEPT",
				"-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 8080 -j ACCEPT",
				"@",
			}},
			want: map[string][]before{"INPUT": {{line: "-A INPUT -i lo -j ACCEPT"}, {line: "-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 8080 -j ACCEPT"}}},
			foreign: map[string]map[int]string{"INPUT": {
				2: "accepts new connections that rampart drops for role agent: tcp/8080 from 203.0.113.0/24",
			}},
		},
		{
			name:     "DOCKER-USER returns before rampart's jump",
			family:   policy.V4,
			builtins: map[string][]string{"DOCKER-USER": {"-A DOCKER-USER -j RETURN", "@"}},
			want:     map[string][]before{"DOCKER-USER": {{line: "-A DOCKER-USER -j RETURN", ends: true}}},
		},
		{
			name:   "seven rules before mangle PREROUTING's jump",
			family: policy.V4,
			builtins: map[string][]string{"mangle PREROUTING": func() []string {
				var out []string
				for i := 1; i <= 7; i++ {
					out = append(out, fmt.Sprintf("-A PREROUTING -i eth%d -j MARK --set-xmark 0x%d/0xff", i, i))
				}
				return append(out, "@")
			}()},
			want: map[string][]before{"mangle PREROUTING": func() []before {
				var out []before
				for i := 1; i <= 7; i++ {
					out = append(out, before{line: fmt.Sprintf("-A PREROUTING -i eth%d -j MARK --set-xmark 0x%d/0xff", i, i)})
				}
				return out
			}()},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := saved(t, exp, c.family, c.builtins)
			live, err := ParseIPTables(strings.NewReader(text), "iptables-save")
			if err != nil {
				t.Fatal(err)
			}
			var want []Finding
			for _, j := range exp.Jumps {
				w := where(j.Table, j.From)
				bs, ok := c.want[w]
				if !ok {
					continue
				}
				var listed []string
				for i, b := range bs[:min(len(bs), maxBefore)] {
					s := fmt.Sprintf("#%d (line %d) %s", i+1, lineOf(t, text, b.line), b.line)
					if b.ends {
						s += " [ends the chain for every packet: rampart's jump is never reached]"
					}
					listed = append(listed, s)
				}
				if len(bs) > maxBefore {
					listed = append(listed, fmt.Sprintf("and %d more", len(bs)-maxBefore))
				}
				opt := ""
				if j.Table != "filter" {
					opt = "-t " + j.Table + " "
				}
				want = append(want, Finding{Kind: JumpNotFirst, Family: c.family.String(), Where: w, Pos: len(bs) + 1,
					Found: jumpLine(j), Line: lineOf(t, text, jumpLine(j)), Input: "iptables-save",
					Detail: fmt.Sprintf("%d rule(s) of another owner come before it and see every packet first: %s; rampart's script puts its jump at position 1 (%s-I %s 1 -j %s)",
						len(bs), strings.Join(listed, "; "), opt, j.From, j.To)})
				for pos := 1; pos <= len(bs); pos++ {
					if d, ok := c.foreign[w][pos]; ok {
						want = append(want, Finding{Kind: ForeignAccept, Family: c.family.String(), Where: w, Pos: pos,
							Found: bs[pos-1].line, Line: lineOf(t, text, bs[pos-1].line), Detail: d, Input: "iptables-save"})
					}
				}
			}
			got := Check(p, "agent", exp, &Live{IPTables: map[policy.Family]*IPTables{c.family: live}})
			if !slices.Equal(got, want) {
				t.Errorf("findings:\n%s\nwant:\n%s", findingLines(got), findingLines(want))
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Errorf("finding %d:\n got %#v\nwant %#v", i+1, got[i], want[i])
					}
				}
			}
		})
	}
}

func findingLines(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	if len(fs) == 0 {
		b.WriteString("  (none)\n")
	}
	return b.String()
}

// TestJumpNotFirstString: the finding as a report entry: its code, the
// chain and the jump's index as its path, the line of the live input.
func TestJumpNotFirstString(t *testing.T) {
	j := firewall.Jump{Table: "filter", From: "FORWARD", To: "RAMPART-FORWARD"}
	f, ok := notFirst("IPv4", j, []firewall.Jump{j}, []*Rule{
		{Line: "-A FORWARD -j DOCKER-USER", LineNo: 7},
		{Line: "-A FORWARD -j RAMPART-FORWARD", LineNo: 8},
	}, 1)
	if !ok {
		t.Fatal("no finding")
	}
	f.Input = "iptables-save"
	want := report.Entry{
		Severity: report.Error,
		Code:     "drift.jump-not-first",
		Path:     report.Path{"IPv4", "FORWARD", 1},
		Pos:      report.Pos{File: "iptables-save", Line: 8},
		Message: "jump not first at position 2: -A FORWARD -j RAMPART-FORWARD — 1 rule(s) of another owner come before it and see every packet first: " +
			"#1 (line 7) -A FORWARD -j DOCKER-USER; rampart's script puts its jump at position 1 (-I FORWARD 1 -j RAMPART-FORWARD)",
	}
	if got := f.Entry(); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}

	// two jumps of rampart's in one chain: neither stands before the other
	// as another owner's rule
	k := firewall.Jump{Table: "filter", From: "FORWARD", To: "RAMPART-OTHER"}
	rules := []*Rule{}
	for _, line := range []string{"-A FORWARD -j RAMPART-OTHER", "-A FORWARD -j RAMPART-FORWARD"} {
		tab, err := ParseIPTables(strings.NewReader("*filter\n"+line+"\nCOMMIT\n"), "t")
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, tab.Table("filter").Chains["FORWARD"].Rules...)
	}
	if f, ok := notFirst("IPv4", j, []firewall.Jump{j, k}, rules, 1); ok {
		t.Errorf("rampart's own jump before another reported: %s", f)
	}
	if _, ok := notFirst("IPv4", j, []firewall.Jump{j}, rules, 1); !ok {
		t.Error("a jump to a chain that is not one of Jumps is another owner's rule")
	}
}
