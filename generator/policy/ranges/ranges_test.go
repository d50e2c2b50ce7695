package ranges

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestMerge(t *testing.T) {
	got := Merge([]PortRange{{80, 80}, {443, 443}, {81, 85}, {10, 20}, {15, 30}, {31, 31}, {65535, 65535}, {65534, 65535}})
	want := Ports{{10, 31}, {80, 85}, {443, 443}, {65534, 65535}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%v, want %v", got, want)
	}
}

// TestAllPorts: "all ports" is the whole field, 0-65535, and the complement
// of a set and the set make it up.
func TestAllPorts(t *testing.T) {
	all := AllPorts()
	if !all.Full() || all.Size() != 65536 || !all.Contains(0) || !all.Contains(65535) || all.Text() != "all" {
		t.Errorf("all ports: %v", all)
	}
	s := Ports{{0, 0}, {22, 22}, {8201, 8201}, {26257, 26257}}
	c := s.Complement()
	if c.String() != "1-21,23-8200,8202-26256,26258-65535" {
		t.Errorf("complement: %s", c)
	}
	if !c.Union(s).Full() || c.Overlaps(s) || !Ports(nil).Complement().Full() || all.Complement() != nil {
		t.Error("complement and union")
	}
}

// TestPortsAgainstBits: every operation agrees with the same operation on a
// bitmap of the 65536 ports, for random sets.
func TestPortsAgainstBits(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	random := func() (Ports, []bool) {
		var rs []PortRange
		for range rnd.IntN(6) {
			from := uint16(rnd.IntN(65536))
			if rnd.IntN(4) == 0 {
				from = []uint16{0, 1, 65534, 65535}[rnd.IntN(4)]
			}
			to := from + uint16(rnd.IntN(int(65535-from)+1)/max(1, rnd.IntN(1000)))
			rs = append(rs, PortRange{from, to})
		}
		bits := make([]bool, 65536)
		for _, r := range rs {
			for p := int(r.From); p <= int(r.To); p++ {
				bits[p] = true
			}
		}
		return Merge(rs), bits
	}
	check := func(what string, got Ports, want func(p int) bool) {
		t.Helper()
		for i := 1; i < len(got); i++ {
			if uint32(got[i].From) <= uint32(got[i-1].To)+1 {
				t.Fatalf("%s: %v is not normal", what, got)
			}
		}
		for p := 0; p <= MaxPort; p++ {
			if got.Contains(uint16(p)) != want(p) {
				t.Fatalf("%s: port %d: %v", what, p, got)
			}
		}
	}
	for range 50 {
		a, ab := random()
		b, bb := random()
		check("merge", a, func(p int) bool { return ab[p] })
		check("union", a.Union(b), func(p int) bool { return ab[p] || bb[p] })
		check("intersect", a.Intersect(b), func(p int) bool { return ab[p] && bb[p] })
		check("minus", a.Minus(b), func(p int) bool { return ab[p] && !bb[p] })
		check("complement", a.Complement(), func(p int) bool { return !ab[p] })
		n, overlap := 0, false
		for p := range ab {
			if ab[p] {
				n++
			}
			overlap = overlap || ab[p] && bb[p]
		}
		if a.Size() != n || a.Overlaps(b) != overlap {
			t.Fatalf("%v: size %d (want %d), overlaps %v: %v", a, a.Size(), n, b, a.Overlaps(b))
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, sep, want string
		ok            bool
	}{
		{"22", ":", "22", true},
		{"80:90,22,91", ":", "22,80-91", true},
		{"0:65535", ":", "0-65535", true},
		{"10000-10100", "-", "10000-10100", true},
		{"90:80", ":", "", false},
		{"65536", ":", "", false},
		{"http", ":", "", false},
		{"", ":", "", false},
		{"+1", ":", "", false},
	} {
		got, ok := ParseList(c.in, c.sep)
		if ok != c.ok || ok && got.String() != c.want {
			t.Errorf("ParseList(%q): %v %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func texts(ps []netip.Prefix) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, " ")
}

func TestMinus(t *testing.T) {
	for _, c := range []struct {
		p     string
		holes []string
		want  string
	}{
		{"10.0.0.0/30", []string{"10.0.0.1/32"}, "10.0.0.0/32 10.0.0.2/31"},
		{"10.0.0.0/30", nil, "10.0.0.0/30"},
		{"10.0.0.0/32", []string{"10.0.0.0/32"}, ""},
		{"10.0.0.0/30", []string{"10.9.9.9/32"}, "10.0.0.0/30"},
		{"10.0.0.0/30", []string{"10.0.0.0/8"}, ""},
		{"fd00::/126", []string{"fd00::3/128", "fd00::/128"}, "fd00::1/128 fd00::2/128"},
		{"198.51.100.0/24", []string{"198.51.100.128/25"}, "198.51.100.0/25"},
	} {
		if got := texts(Minus(netip.MustParsePrefix(c.p), prefixes(c.holes...)...)); got != c.want {
			t.Errorf("Minus(%s, %v) = %v, want %s", c.p, c.holes, got, c.want)
		}
	}
	// the prefixes around a hole are disjoint from it and from each other and
	// cover the rest of the outer prefix exactly
	for _, c := range []struct {
		outer, inner string
		n            int
	}{
		{"0.0.0.0/0", "203.0.113.0/24", 24},
		{"::/0", "2001:db8:bad::/48", 48},
		{"10.0.0.0/8", "10.255.255.255/32", 24},
	} {
		outer, inner := netip.MustParsePrefix(c.outer), netip.MustParsePrefix(c.inner)
		got := Minus(outer, inner)
		if len(got) != c.n {
			t.Errorf("%s - %s: %d prefixes, want %d", outer, inner, len(got), c.n)
		}
		var sum float64
		for i, p := range got {
			if p.Overlaps(inner) || !Inside(p, outer) {
				t.Errorf("%s - %s: %s is not outside the inner and inside the outer", outer, inner, p)
			}
			for _, q := range got[i+1:] {
				if p.Overlaps(q) {
					t.Errorf("%s - %s: %s and %s overlap", outer, inner, p, q)
				}
			}
			sum += 1 / float64(uint64(1)<<min(p.Bits()-outer.Bits(), 63))
		}
		if want := 1 - 1/float64(uint64(1)<<min(inner.Bits()-outer.Bits(), 63)); sum != want {
			t.Errorf("%s - %s: the prefixes cover %v of the outer, want %v", outer, inner, sum, want)
		}
		if !Covered(outer, append(got, inner)) || Covered(outer, got) {
			t.Errorf("%s - %s: cover", outer, inner)
		}
	}
}

func TestPrefixHelpers(t *testing.T) {
	p := netip.MustParsePrefix("10.1.2.3/16")
	if LastAddr(p) != netip.MustParseAddr("10.1.255.255") {
		t.Errorf("last address of %s: %s", p, LastAddr(p))
	}
	lo, hi := Halves(p)
	if lo.String() != "10.1.0.0/17" || hi.String() != "10.1.128.0/17" {
		t.Errorf("halves: %s %s", lo, hi)
	}
	if Everything(false).String() != "0.0.0.0/0" || Everything(true).String() != "::/0" {
		t.Error("everything")
	}
	got := Intersect(prefixes("10.0.0.0/8", "192.168.1.0/24"), prefixes("10.1.0.0/16", "192.168.0.0/16", "172.16.0.0/12"))
	if texts(got) != "10.1.0.0/16 192.168.1.0/24" {
		t.Errorf("intersect: %s", texts(got))
	}
}

func TestSplit(t *testing.T) {
	ts := []Tagged{
		{netip.MustParsePrefix("10.0.0.0/8"), "a"},
		{netip.MustParsePrefix("10.0.0.0/9"), "b"},
		{netip.MustParsePrefix("10.128.0.1/32"), "c"},
	}
	var got []string
	for _, l := range Split(netip.MustParsePrefix("10.0.0.0/8"), NewIndex(ts).Overlapping(netip.MustParsePrefix("10.0.0.0/8"))) {
		got = append(got, l.Prefix.String()+"="+l.Key())
	}
	if len(got) != 25 || got[0] != "10.0.0.0/9=a b" || got[1] != "10.128.0.0/32=a" || got[2] != "10.128.0.1/32=a c" {
		t.Errorf("split: %d leaves %v", len(got), got[:min(4, len(got))])
	}
	if !NewIndex(ts).Covers(netip.MustParsePrefix("10.3.0.0/16")) || NewIndex(ts[1:]).Covers(netip.MustParsePrefix("10.0.0.0/8")) {
		t.Error("covers")
	}
}

// TestMinusAgainstHalving: Minus (over address ranges) gives the same
// prefixes as cutting halves until no hole is inside, for random holes.
func TestMinusAgainstHalving(t *testing.T) {
	var halving func(p netip.Prefix, holes []netip.Prefix) []netip.Prefix
	halving = func(p netip.Prefix, holes []netip.Prefix) []netip.Prefix {
		inner, covered := within(p, holes)
		switch {
		case covered:
			return nil
		case len(inner) == 0:
			return []netip.Prefix{p}
		}
		lo, hi := Halves(p)
		return append(halving(lo, inner), halving(hi, inner)...)
	}
	rnd := rand.New(rand.NewPCG(5, 8))
	for range 2000 {
		v6 := rnd.IntN(2) == 0
		random := func(minBits int) netip.Prefix {
			b := make([]byte, map[bool]int{false: 4, true: 16}[v6])
			for i := range b {
				b[i] = byte(rnd.IntN(4)) // few distinct values: holes overlap and touch
			}
			a, _ := netip.AddrFromSlice(b)
			return netip.PrefixFrom(a, minBits+rnd.IntN(a.BitLen()-minBits+1)).Masked()
		}
		p := random(0)
		if rnd.IntN(8) == 0 {
			p = Everything(v6)
		}
		var holes []netip.Prefix
		for range rnd.IntN(5) {
			holes = append(holes, random(p.Bits()/2))
		}
		if got, want := texts(Minus(p, holes...)), texts(halving(p, holes)); got != want {
			t.Fatalf("Minus(%s, %v):\n%s\nwant\n%s", p, holes, got, want)
		}
	}
	all := RangePrefixes(netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("255.255.255.255"))
	all6 := RangePrefixes(netip.MustParseAddr("::"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
	odd := RangePrefixes(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.6"))
	top := RangePrefixes(netip.MustParseAddr("255.255.255.254"), netip.MustParseAddr("255.255.255.255"))
	if texts(all) != "0.0.0.0/0" || texts(all6) != "::/0" || texts(odd) != "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32" || texts(top) != "255.255.255.254/31" {
		t.Errorf("range prefixes: %s; %s; %s; %s", texts(all), texts(all6), texts(odd), texts(top))
	}
}
