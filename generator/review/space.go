package review

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
)

// tagged is a prefix the policy names, with what names it: a set's name, or
// "cidr:" and the prefix for a literal source of a rule.
type tagged struct {
	prefix netip.Prefix
	tag    string
}

const cidrTag = "cidr:"

// leaf is a prefix inside which every address belongs to the same named
// sets and literal sources, so the policy treats all of them alike.
type leaf struct {
	prefix netip.Prefix
	sig    []string // sorted tags of everything that contains the prefix
}

func (l leaf) key() string { return strings.Join(l.sig, " ") }

// names lists every prefix a rule of the policy matches on in a family: the
// members of the sets rules name as sources, and the literal sources. Sets
// no rule names cannot change what an address reaches, so they do not split
// the address space.
func names(p *policy.Policy, f policy.Family) []tagged {
	used := map[string]bool{}
	var out []tagged
	seen := map[netip.Prefix]bool{}
	for _, r := range p.Rules {
		switch r.From.Kind {
		case policy.SetSource:
			used[r.From.Set] = true
		case policy.CIDRSource:
			c := r.From.CIDR.Masked()
			if policy.FamilyOf(c) == f && !seen[c] {
				seen[c] = true
				out = append(out, tagged{c, cidrTag + c.String()})
			}
		}
	}
	for _, s := range p.Sets {
		if !used[s.Name] {
			continue
		}
		for _, m := range s.Members[f] {
			out = append(out, tagged{m.Masked(), s.Name})
		}
	}
	return out
}

// index finds the names that overlap a prefix without scanning them all:
// the names inside it by binary search over the sorted starts, the names
// around it by looking up each shorter prefix of it.
type index struct {
	sorted []tagged                  // by first address, then length
	byPfx  map[netip.Prefix][]string // tags of each named prefix
}

func newIndex(ts []tagged) *index {
	x := &index{sorted: slices.Clone(ts), byPfx: map[netip.Prefix][]string{}}
	slices.SortFunc(x.sorted, func(a, b tagged) int {
		if c := a.prefix.Addr().Compare(b.prefix.Addr()); c != 0 {
			return c
		}
		return a.prefix.Bits() - b.prefix.Bits()
	})
	for _, t := range ts {
		x.byPfx[t.prefix] = append(x.byPfx[t.prefix], t.tag)
	}
	return x
}

// overlapping returns the names that overlap m.
func (x *index) overlapping(m netip.Prefix) []tagged {
	m = m.Masked()
	var out []tagged
	for bits := 0; bits < m.Bits(); bits++ {
		around := netip.PrefixFrom(m.Addr(), bits).Masked()
		for _, tag := range x.byPfx[around] {
			out = append(out, tagged{around, tag})
		}
	}
	first, last := m.Addr(), lastAddr(m)
	i, _ := slices.BinarySearchFunc(x.sorted, first, func(t tagged, a netip.Addr) int { return t.prefix.Addr().Compare(a) })
	for ; i < len(x.sorted) && x.sorted[i].prefix.Addr().Compare(last) <= 0; i++ {
		out = append(out, x.sorted[i])
	}
	return out
}

// covered reports whether the prefixes cover every address of m.
func covered(m netip.Prefix, ts []tagged) bool {
	var inner []tagged
	for _, t := range ts {
		if !t.prefix.Overlaps(m) {
			continue
		}
		if t.prefix.Bits() <= m.Bits() {
			return true
		}
		inner = append(inner, t)
	}
	if len(inner) == 0 {
		return false
	}
	lo, hi := halves(m)
	return covered(lo, inner) && covered(hi, inner)
}

// literals keeps the literal sources of a list of names.
func literals(ts []tagged) []tagged {
	var out []tagged
	for _, t := range ts {
		if strings.HasPrefix(t.tag, cidrTag) {
			out = append(out, t)
		}
	}
	return out
}

// split cuts a prefix into leaves: halves are taken until no named prefix
// lies strictly inside a piece. Only the names that overlap a piece are
// carried down, so the work grows with the names, not with their product.
func split(m netip.Prefix, ts []tagged, out *[]leaf) {
	var inner []tagged
	var sig []string
	for _, t := range ts {
		if !t.prefix.Overlaps(m) {
			continue
		}
		if t.prefix.Bits() <= m.Bits() {
			sig = append(sig, t.tag)
		} else {
			inner = append(inner, t)
		}
	}
	if len(inner) == 0 {
		slices.Sort(sig)
		*out = append(*out, leaf{prefix: m, sig: slices.Compact(sig)})
		return
	}
	lo, hi := halves(m)
	keep := slices.Clip(inner)
	for _, t := range ts {
		if t.prefix.Overlaps(m) && t.prefix.Bits() <= m.Bits() {
			keep = append(keep, t)
		}
	}
	split(lo, keep, out)
	split(hi, keep, out)
}

// halves returns the two prefixes one bit longer that make up p.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits() + 1
	lo := netip.PrefixFrom(p.Addr(), bits)
	b := p.Addr().AsSlice()
	i := p.Bits()
	b[i/8] |= 0x80 >> (i % 8)
	a, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(a, bits)
}

// LastAddr is the highest address of a prefix.
func LastAddr(p netip.Prefix) netip.Addr { return lastAddr(p) }

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// everything is the whole address space of a family.
func everything(f policy.Family) netip.Prefix {
	if f == policy.V6 {
		return netip.MustParsePrefix("::/0")
	}
	return netip.MustParsePrefix("0.0.0.0/0")
}
