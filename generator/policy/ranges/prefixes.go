package ranges

import (
	"net/netip"
	"slices"
)

// Everything is the whole address space of IPv4 (0.0.0.0/0) or, with v6,
// of IPv6 (::/0).
func Everything(v6 bool) netip.Prefix {
	if v6 {
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
}

// Host is the prefix of one address: a /32 or a /128.
func Host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// ComparePrefixes orders prefixes by first address, then by length.
func ComparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Normal masks the prefixes, sorts them and drops repeats.
func Normal(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.Masked()
	}
	slices.SortFunc(out, ComparePrefixes)
	return slices.Compact(out)
}

// LastAddr is the highest address of a prefix.
func LastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Inside reports whether every address of in lies in out.
func Inside(in, out netip.Prefix) bool {
	return out.Bits() <= in.Bits() && out.Contains(in.Addr())
}

// Halves returns the two prefixes one bit longer that make up p (p must be
// shorter than a single address).
func Halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	p = p.Masked()
	bits := p.Bits() + 1
	b := p.Addr().AsSlice()
	i := p.Bits()
	b[i/8] |= 0x80 >> (i % 8)
	hi, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(p.Addr(), bits), netip.PrefixFrom(hi, bits)
}

// Minus returns the fewest prefixes that cover p but no address of the
// holes, sorted: p itself when no hole overlaps it, nothing when a hole
// covers it, else its halves cut in turn.
func Minus(p netip.Prefix, holes ...netip.Prefix) []netip.Prefix {
	p = p.Masked()
	var inner []netip.Prefix
	for _, h := range holes {
		switch {
		case !h.Overlaps(p):
		case Inside(p, h):
			return nil
		default:
			inner = append(inner, h)
		}
	}
	if len(inner) == 0 {
		return []netip.Prefix{p}
	}
	lo, hi := Halves(p)
	return append(Minus(lo, inner...), Minus(hi, inner...)...)
}

// Covered reports whether the prefixes together cover every address of m.
func Covered(m netip.Prefix, by []netip.Prefix) bool {
	var inner []netip.Prefix
	for _, b := range by {
		switch {
		case !b.Overlaps(m):
		case Inside(m, b):
			return true
		default:
			inner = append(inner, b)
		}
	}
	if len(inner) == 0 {
		return false
	}
	lo, hi := Halves(m)
	return Covered(lo, inner) && Covered(hi, inner)
}

// Intersect returns the addresses in both lists of prefixes, as prefixes of
// the two lists, sorted.
func Intersect(a, b []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range a {
		for _, y := range b {
			switch {
			case !x.Overlaps(y):
			case x.Bits() >= y.Bits():
				out = append(out, x)
			default:
				out = append(out, y)
			}
		}
	}
	return Normal(out)
}
