package ranges

import (
	"encoding/binary"
	"math/bits"
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
// holes, sorted: p itself when no hole overlaps it, nothing when the holes
// cover it.
func Minus(p netip.Prefix, holes ...netip.Prefix) []netip.Prefix {
	p = p.Masked()
	type span struct{ from, to netip.Addr }
	var hs []span
	for _, h := range holes {
		if !h.Overlaps(p) {
			continue
		}
		h = h.Masked()
		from, to := h.Addr(), LastAddr(h)
		if from.Less(p.Addr()) {
			from = p.Addr()
		}
		hs = append(hs, span{from, to})
	}
	if len(hs) == 0 {
		return []netip.Prefix{p}
	}
	slices.SortFunc(hs, func(a, b span) int { return a.from.Compare(b.from) })
	var out []netip.Prefix
	cur, last := p.Addr(), LastAddr(p)
	for _, h := range hs {
		if cur.Less(h.from) {
			out = append(out, RangePrefixes(cur, h.from.Prev())...)
		}
		if !h.to.Less(last) {
			return out
		}
		if !h.to.Less(cur) {
			cur = h.to.Next()
		}
	}
	return append(out, RangePrefixes(cur, last)...)
}

// RangePrefixes returns the fewest prefixes that cover the addresses from
// one to another (inclusive, one family), in order.
func RangePrefixes(from, to netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	bitLen := from.BitLen()
	for lo, hi := toU128(from), toU128(to); !hi.less(lo); {
		// the largest block that starts at lo and ends within hi
		k := min(lo.trailingZeros(bitLen), hi.sub(lo).log2PlusOne())
		out = append(out, netip.PrefixFrom(lo.addr(from.Is4()), bitLen-k))
		next, overflow := lo.addPow2(k)
		if overflow || k == bitLen || (from.Is4() && next.lo >= 1<<32) {
			break
		}
		lo = next
	}
	return out
}

// u128 is an address as a number.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	b := a.As16()
	if a.Is4() {
		return u128{lo: uint64(binary.BigEndian.Uint32(b[12:]))}
	}
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr(v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) less(v u128) bool { return u.hi < v.hi || u.hi == v.hi && u.lo < v.lo }

func (u u128) sub(v u128) u128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, borrow)
	return u128{hi, lo}
}

// trailingZeros counts the zero bits at the end, at most bitLen.
func (u u128) trailingZeros(bitLen int) int {
	n := bits.TrailingZeros64(u.lo)
	if u.lo == 0 {
		n = 64 + bits.TrailingZeros64(u.hi)
	}
	return min(n, bitLen)
}

// log2PlusOne is the largest k with 2^k <= u+1.
func (u u128) log2PlusOne() int {
	lo, carry := bits.Add64(u.lo, 1, 0)
	hi, carry := bits.Add64(u.hi, 0, carry)
	switch {
	case carry != 0:
		return 128
	case hi != 0:
		return 127 - bits.LeadingZeros64(hi)
	}
	return 63 - bits.LeadingZeros64(lo)
}

// addPow2 adds 2^k.
func (u u128) addPow2(k int) (u128, bool) {
	var add u128
	switch {
	case k >= 128:
		return u128{}, true
	case k >= 64:
		add.hi = 1 << (k - 64)
	default:
		add.lo = 1 << k
	}
	lo, carry := bits.Add64(u.lo, add.lo, 0)
	hi, carry := bits.Add64(u.hi, add.hi, carry)
	return u128{hi, lo}, carry != 0
}

// Covered reports whether the prefixes together cover every address of m.
func Covered(m netip.Prefix, by []netip.Prefix) bool {
	inner, covered := within(m, by)
	if covered || len(inner) == 0 {
		return covered
	}
	lo, hi := Halves(m)
	return Covered(lo, inner) && Covered(hi, inner)
}

// within sorts the prefixes that overlap p: covered when one holds all of
// p, else those that lie inside p.
func within(p netip.Prefix, ps []netip.Prefix) (inner []netip.Prefix, covered bool) {
	for _, x := range ps {
		switch {
		case !x.Overlaps(p):
		case Inside(p, x):
			return nil, true
		default:
			inner = append(inner, x)
		}
	}
	return inner, false
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
