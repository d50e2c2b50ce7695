package drift

import (
	"net/netip"

	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// Range is an inclusive range of addresses of one family.
type Range struct {
	From, To netip.Addr // first and last address, inclusive, of one family
}

// String renders a range as nft does: one address, a prefix when the range
// is exactly one, else from-to.
func (r Range) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	if ps := r.Prefixes(); len(ps) == 1 {
		return ps[0].String()
	}
	return r.From.String() + "-" + r.To.String()
}

// Prefixes covers the range with the fewest prefixes (ranges.RangePrefixes).
func (r Range) Prefixes() []netip.Prefix {
	if !r.From.IsValid() || !r.To.IsValid() || r.From.Is4() != r.To.Is4() {
		return nil
	}
	return ranges.RangePrefixes(r.From, r.To)
}

// mergeRanges returns the addresses of the ranges as the fewest ranges,
// sorted, IPv4 first.
func mergeRanges(in []Range) []Range { return joinPrefixes(prefixesOf(in)) }

// subtractRanges returns the addresses of a not in b as the fewest ranges,
// sorted, IPv4 first: each prefix of a minus the prefixes of b that overlap
// it (ranges.Minus).
func subtractRanges(a, b []Range) []Range {
	var holes []ranges.Tagged
	for _, p := range prefixesOf(b) {
		holes = append(holes, ranges.Tagged{Prefix: p})
	}
	index := ranges.NewIndex(holes)
	var out []netip.Prefix
	for _, p := range prefixesOf(a) {
		var in []netip.Prefix
		for _, h := range index.Overlapping(p) {
			in = append(in, h.Prefix)
		}
		out = append(out, ranges.Minus(p, in...)...)
	}
	return joinPrefixes(out)
}

// prefixesOf covers the ranges with prefixes: sorted, without the ones
// inside another, so that they do not overlap.
func prefixesOf(rs []Range) []netip.Prefix {
	var ps []netip.Prefix
	for _, r := range rs {
		ps = append(ps, r.Prefixes()...)
	}
	var out []netip.Prefix
	for _, p := range ranges.Normal(ps) {
		if n := len(out); n > 0 && ranges.Inside(p, out[n-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// joinPrefixes turns sorted prefixes that do not overlap into ranges, one
// for each run of prefixes that follow each other.
func joinPrefixes(ps []netip.Prefix) []Range {
	var out []Range
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].To.Next() == p.Addr() {
			out[n-1].To = ranges.LastAddr(p)
			continue
		}
		out = append(out, Range{p.Addr(), ranges.LastAddr(p)})
	}
	return out
}
