package ranges

import (
	"net/netip"
	"slices"
	"strings"
)

// Tagged is a prefix with what names it.
type Tagged struct {
	Prefix netip.Prefix // masked
	Tag    string
}

// Leaf is a prefix inside which every address is held by the same tagged
// prefixes.
type Leaf struct {
	Prefix netip.Prefix
	Tags   []string // sorted, without repeats: the tags of every tagged prefix that holds Leaf
}

// Key joins the tags: leaves with the same key are held by the same names.
func (l Leaf) Key() string { return strings.Join(l.Tags, " ") }

// Split cuts m into leaves: halves are taken until no tagged prefix lies
// strictly inside a piece. Only the tagged prefixes that overlap a piece are
// carried down, so the work grows with them, not with their product.
func Split(m netip.Prefix, ts []Tagged) []Leaf {
	var out []Leaf
	split(m.Masked(), ts, &out)
	return out
}

func split(m netip.Prefix, ts []Tagged, out *[]Leaf) {
	var inner, holding []Tagged
	for _, t := range ts {
		switch {
		case !t.Prefix.Overlaps(m):
		case t.Prefix.Bits() <= m.Bits():
			holding = append(holding, t)
		default:
			inner = append(inner, t)
		}
	}
	if len(inner) == 0 {
		tags := make([]string, len(holding))
		for i, t := range holding {
			tags[i] = t.Tag
		}
		slices.Sort(tags)
		*out = append(*out, Leaf{Prefix: m, Tags: slices.Compact(tags)})
		return
	}
	lo, hi := Halves(m)
	keep := append(slices.Clip(inner), holding...)
	split(lo, keep, out)
	split(hi, keep, out)
}

// Index finds the tagged prefixes that overlap a prefix without scanning
// them all: those inside it by binary search over the sorted starts, those
// around it by looking up each shorter prefix of it.
type Index struct {
	sorted []Tagged                  // by first address, then length
	byPfx  map[netip.Prefix][]string // tags of each tagged prefix
}

// NewIndex indexes tagged prefixes.
func NewIndex(ts []Tagged) *Index {
	x := &Index{sorted: slices.Clone(ts), byPfx: map[netip.Prefix][]string{}}
	slices.SortFunc(x.sorted, func(a, b Tagged) int { return ComparePrefixes(a.Prefix, b.Prefix) })
	for _, t := range ts {
		x.byPfx[t.Prefix] = append(x.byPfx[t.Prefix], t.Tag)
	}
	return x
}

// Overlapping returns the tagged prefixes that overlap m.
func (x *Index) Overlapping(m netip.Prefix) []Tagged {
	m = m.Masked()
	var out []Tagged
	for bits := 0; bits < m.Bits(); bits++ {
		around := netip.PrefixFrom(m.Addr(), bits).Masked()
		for _, tag := range x.byPfx[around] {
			out = append(out, Tagged{around, tag})
		}
	}
	first, last := m.Addr(), LastAddr(m)
	i, _ := slices.BinarySearchFunc(x.sorted, first, func(t Tagged, a netip.Addr) int { return t.Prefix.Addr().Compare(a) })
	for ; i < len(x.sorted) && x.sorted[i].Prefix.Addr().Compare(last) <= 0; i++ {
		out = append(out, x.sorted[i])
	}
	return out
}

// Covers reports whether the indexed prefixes cover every address of m.
func (x *Index) Covers(m netip.Prefix) bool {
	ts := x.Overlapping(m)
	ps := make([]netip.Prefix, len(ts))
	for i, t := range ts {
		ps[i] = t.Prefix
	}
	return Covered(m, ps)
}
