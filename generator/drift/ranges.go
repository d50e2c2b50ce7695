package drift

import (
	"net/netip"
	"slices"

	"github.com/rampart-cluster/rampart/generator/review"
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

// Prefixes covers the range with the fewest prefixes.
func (r Range) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	from := r.From
	for from.IsValid() && from.Compare(r.To) <= 0 {
		bits := from.BitLen()
		// the shortest prefix that starts at from and ends within the range
		for bits > 0 {
			p := netip.PrefixFrom(from, bits-1)
			if p.Masked().Addr() != from || lastAddr(p).Compare(r.To) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(from, bits)
		out = append(out, p)
		last := lastAddr(p)
		if last == r.To {
			break
		}
		from = last.Next()
	}
	return out
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr { return review.LastAddr(p) }

// mergeRanges sorts ranges and merges those that overlap or touch.
func mergeRanges(in []Range) []Range {
	if len(in) == 0 {
		return nil
	}
	rs := slices.Clone(in)
	slices.SortFunc(rs, func(a, b Range) int {
		if a.From.Is4() != b.From.Is4() {
			if a.From.Is4() {
				return -1
			}
			return 1
		}
		return a.From.Compare(b.From)
	})
	out := []Range{rs[0]}
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		next := last.To.Next()
		if r.From.Is4() == last.To.Is4() && (r.From.Compare(last.To) <= 0 || next.IsValid() && r.From == next) {
			if r.To.Compare(last.To) > 0 {
				last.To = r.To
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// subtractRanges returns the parts of a not in b (both merged).
func subtractRanges(a, b []Range) []Range {
	var out []Range
	for _, r := range a {
		cur := []Range{r}
		for _, x := range b {
			if x.From.Is4() != r.From.Is4() {
				continue
			}
			var next []Range
			for _, c := range cur {
				if x.To.Compare(c.From) < 0 || x.From.Compare(c.To) > 0 {
					next = append(next, c)
					continue
				}
				if x.From.Compare(c.From) > 0 {
					next = append(next, Range{c.From, x.From.Prev()})
				}
				if x.To.Compare(c.To) < 0 {
					next = append(next, Range{x.To.Next(), c.To})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}
