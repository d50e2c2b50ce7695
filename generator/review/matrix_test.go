package review

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/spec"
)

func fixtures(t *testing.T) []string {
	t.Helper()
	fs, err := filepath.Glob("../../fixtures/*.yaml")
	if err != nil || len(fs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	return fs
}

func compile(t *testing.T, name string, text string) *policy.Policy {
	t.Helper()
	s, err := spec.Parse(name, []byte(text))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return policy.Compile(s)
}

// samplePorts are the ports a cell is checked on: both ends of every
// segment and their neighbours outside it, the ends of every range any rule
// of the policy names and their neighbours, and a few random ports.
func samplePorts(p *policy.Policy, a *Access, proto policy.Protocol, rnd *rand.Rand) []uint16 {
	set := map[uint16]bool{0: true, 1: true, 65535: true}
	add := func(r policy.PortRange) {
		for _, n := range []int{int(r.From) - 1, int(r.From), int(r.From+r.To) / 2, int(r.To), int(r.To) + 1} {
			if n >= 0 && n <= 65535 {
				set[uint16(n)] = true
			}
		}
	}
	for _, s := range a.Segments {
		if s.Proto == proto {
			add(s.Ports)
		}
	}
	for _, r := range p.Rules {
		for _, pr := range r.Ports {
			add(pr)
		}
	}
	for range 8 {
		set[uint16(rnd.IntN(65536))] = true
	}
	out := make([]uint16, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// sampleAddrs picks, from a row's leaves, the first and last address of up
// to 16 leaves spread over the list, and a random address inside each.
func sampleAddrs(leaves []netip.Prefix, rnd *rand.Rand) []netip.Addr {
	var out []netip.Addr
	step := max(1, len(leaves)/16)
	for i := 0; i < len(leaves); i += step {
		l := leaves[i]
		out = append(out, l.Masked().Addr(), ranges.LastAddr(l))
		b := l.Masked().Addr().AsSlice()
		for bit := l.Bits(); bit < len(b)*8; bit++ {
			if rnd.IntN(2) == 1 {
				b[bit/8] |= 0x80 >> (bit % 8)
			}
		}
		a, _ := netip.AddrFromSlice(b)
		out = append(out, a)
	}
	return out
}

// TestMatrixAgreesWithExplain: for every fixture, every cell of the matrix
// agrees with policy.Explain on addresses inside the row's ranges and ports
// inside and outside the cell's ranges, for tcp, udp and icmp.
func TestMatrixAgreesWithExplain(t *testing.T) {
	for _, file := range fixtures(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			s, err := spec.LoadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p := policy.Compile(s)
			m := Build(p)
			checkAgainstExplain(t, p, m)
		})
	}
}

func checkAgainstExplain(t *testing.T, p *policy.Policy, m *Matrix) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for ri := range m.Rows {
		row := &m.Rows[ri]
		for ci, role := range m.Roles {
			for _, f := range row.Families() {
				a := row.Cells[ci][f]
				if a == nil {
					t.Fatalf("%s -> %s: no %s cell though the row has %s addresses", row.Label, role, f, f)
				}
				for _, addr := range sampleAddrs(row.Leaves[f], rnd) {
					if row.Kind == World && inSomeSet(p, addr) {
						continue // the world's ranges hold set members: their rows say what they reach
					}
					for _, proto := range []policy.Protocol{TCP, UDP} {
						for _, port := range samplePorts(p, a, proto, rnd) {
							d := p.Explain(policy.Query{From: addr, Role: role, Proto: proto, Port: port})
							if got, want := a.Accepts(proto, port), d.Verdict == policy.Accept; got != want {
								t.Errorf("%s -> %s %s (%s): %d/%s: matrix says open=%v, explain says %s", row.Label, role, addr, a, port, proto, got, d)
							}
							if s := a.Decides(proto, port); s == nil || s.Verdict != d.Verdict || s.Prov != d.Prov {
								t.Errorf("%s -> %s %s %d/%s: matrix decides by %+v, explain by %s", row.Label, role, addr, port, proto, s, d)
							}
							checked++
						}
					}
					d := p.Explain(policy.Query{From: addr, Role: role, Proto: spec.ICMP})
					if got, want := a.Accepts(ICMP, 0), d.Verdict == policy.Accept; got != want {
						t.Errorf("%s -> %s %s: icmp: matrix says open=%v, explain says %s", row.Label, role, addr, got, d)
					}
					checked++
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d probes checked", checked)
	}
	t.Logf("%d probes agree with explain", checked)
}

func inSomeSet(p *policy.Policy, a netip.Addr) bool {
	return p.Classify(policy.FamilyOfAddr(a)).InSomeSet(a)
}

// TestMatrixCoversEveryAddress: every address in no named set (the ends of
// every member range, and random addresses) falls in exactly one world row;
// every member of a set in exactly one row of its source.
func TestMatrixCoversEveryAddress(t *testing.T) {
	for _, file := range fixtures(t) {
		s, err := spec.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := policy.Compile(s)
		m := Build(p)
		rnd := rand.New(rand.NewPCG(3, 4))
		var probes []netip.Addr
		for _, set := range p.Sets {
			for _, f := range policy.Families {
				for _, mem := range set.Members[f] {
					probes = append(probes, mem.Masked().Addr(), ranges.LastAddr(mem))
				}
			}
		}
		for range 200 {
			var b4 [4]byte
			var b6 [16]byte
			for i := range b4 {
				b4[i] = byte(rnd.IntN(256))
			}
			for i := range b6 {
				b6[i] = byte(rnd.IntN(256))
			}
			probes = append(probes, netip.AddrFrom4(b4), netip.AddrFrom16(b6))
		}
		for _, a := range probes {
			f := policy.FamilyOf(netip.PrefixFrom(a, 0))
			worlds := 0
			for _, r := range m.Rows {
				if r.Kind == World && slices.ContainsFunc(r.Leaves[f], func(l netip.Prefix) bool { return l.Contains(a) }) {
					worlds++
				}
			}
			if want := map[bool]int{true: 0, false: 1}[inSomeSet(p, a)]; worlds > 1 || worlds < want {
				t.Errorf("%s: %s is in %d world rows, want %d", file, a, worlds, want)
			}
			for _, set := range p.Sets {
				kind, name := "", ""
				switch {
				case set.Kind == policy.KindAdmins || set.Kind == policy.KindTrusted:
					kind, name = set.Name, set.Name
				case set.Kind == policy.KindRole:
					kind, name = Role, set.Subject
				default:
					continue
				}
				if !slices.ContainsFunc(set.Members[f], func(mem netip.Prefix) bool { return mem.Contains(a) }) {
					continue
				}
				n := 0
				for _, r := range m.Rows {
					if r.Kind == kind && r.Name == name && slices.ContainsFunc(r.Leaves[f], func(l netip.Prefix) bool { return l.Contains(a) }) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s: %s (in %s) is in %d rows of its source, want 1", file, a, set.Name, n)
				}
			}
		}
	}
}

const splitSpec = `version: 1
cluster: split
profile: none
admins: [192.0.2.0/24, 10.1.0.5]
trusted: [192.0.2.7]
roles:
  web: {zone: public, public: [443/tcp], admin: [22/tcp]}
  db: {zone: private, admin: [22/tcp, 5432/tcp]}
nodes:
  - {name: web-1, role: web, addresses: [10.1.0.5, "2001:db8::5"]}
pools:
  - {role: db, cidrs: [10.2.0.0/16]}
rules:
  - {from: 10.2.3.0/24, to: web, ports: [443/tcp], action: deny}
  - {from: db, to: web, ports: [8080/tcp]}
`

// TestMatrixSplitsRows: a source whose addresses are treated differently is
// split into rows named by what sets each part apart, and the families get
// their own text where they differ.
func TestMatrixSplitsRows(t *testing.T) {
	p := compile(t, "split.yaml", splitSpec)
	m := Build(p)
	var b bytes.Buffer
	if err := m.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "cluster split: who reaches what\n" + matrixNote + `

from \ to                     web              db
world                         tcp/443          —
admins (IPv4 only)            tcp/22,443       tcp/22,5432
admins ∩ cluster (IPv4 only)  all              all
admins ∩ trusted (IPv4 only)  all              all
trusted (IPv4 only)           all              all
web                           all              all
db (IPv4 only)                all              all
db ∩ 10.2.3.0/24 (IPv4 only)  all but tcp/443  all
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	checkAgainstExplain(t, p, m)
}

const familiesSpec = `version: 1
cluster: fam
profile: none
admins: [192.0.2.1, "2001:db8:1::/48"]
roles:
  web: {zone: public, public: [80/tcp], admin: [22/tcp]}
nodes:
  - {name: web-1, role: web, addresses: [10.1.0.5, "2001:db8::5"]}
rules:
  - {from: "2001:db8:1::/48", to: web, ports: [8443/tcp, 53/udp, icmp]}
  - {from: 192.0.2.1, to: web, action: deny}
`

// TestMatrixFamilies: where IPv4 and IPv6 differ a cell shows both.
func TestMatrixFamilies(t *testing.T) {
	p := compile(t, "fam.yaml", familiesSpec)
	m := Build(p)
	var b bytes.Buffer
	if err := m.Write(&b, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	want := "### Who reaches what: cluster `fam`\n\n" + matrixNote + `

| from \ to | web |
|---|---|
| **world** | tcp/80 |
| **admins** | IPv4: — / IPv6: tcp/22,80,8443 udp/53 icmp |
| **trusted (no addresses)** | — |
| **web** | all |
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	checkAgainstExplain(t, p, m)
}

// TestMatrixJSON: the JSON form parses and carries every row and cell.
func TestMatrixJSON(t *testing.T) {
	for _, file := range fixtures(t) {
		s, err := spec.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m := Build(policy.Compile(s))
		var b bytes.Buffer
		if err := m.Write(&b, FormatJSON); err != nil {
			t.Fatal(err)
		}
		var got matrixJSON
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(got.Rows) != len(m.Rows) {
			t.Errorf("%s: %d rows in JSON, %d in the matrix", file, len(got.Rows), len(m.Rows))
		}
		for i, r := range got.Rows {
			if len(r.Cells) != len(m.Roles) || r.Cells[0].Text != m.Rows[i].Cells[0].String() {
				t.Errorf("%s: row %s: cells %+v", file, r.Label, r.Cells)
			}
		}
		var again bytes.Buffer
		if err := m.Write(&again, FormatJSON); err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
			t.Errorf("%s: JSON output differs between two writes", file)
		}
	}
}

// TestReach: the parts of a prefix get what explain gives their addresses.
func TestReach(t *testing.T) {
	p := compile(t, "split.yaml", splitSpec)
	got := p.Reach("web", netip.MustParsePrefix("10.2.0.0/15"))
	var texts []string
	for _, a := range got {
		texts = append(texts, a.String())
	}
	slices.Sort(texts)
	// 10.2.0.0/16 is db (all, 443 denied to 10.2.3.0/24), 10.3.0.0/16 the world
	want := []string{"all", "all but tcp/443", "tcp/443"}
	if !slices.Equal(texts, want) {
		t.Errorf("Reach = %q, want %q", texts, want)
	}
}
