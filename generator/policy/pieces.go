package policy

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

const literalTag = "cidr:"

// Tag names a rule's source the way pieces list it: the set's name, or
// "cidr:" and the masked prefix for a literal; "" for the world.
func (s Source) Tag() string {
	switch s.Kind {
	case SetSource:
		return s.Set
	case CIDRSource:
		return literalTag + s.CIDR.Masked().String()
	}
	return ""
}

// Literal returns the prefix of a literal source's tag; ok is false for a
// set's name.
func Literal(tag string) (netip.Prefix, bool) {
	if !strings.HasPrefix(tag, literalTag) {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(strings.TrimPrefix(tag, literalTag))
	return p, err == nil
}

// Classifier cuts the addresses of one family into pieces that every rule's
// source treats alike (ranges.Leaf: a prefix and the tags of the sources
// that hold it), and evaluates the pieces.
type Classifier struct {
	p       *Policy
	f       Family
	used    []ranges.Tagged    // what rules match on: members of the sets rules name, and literal sources
	usedIdx *ranges.Index      // the same, indexed
	members *ranges.Index      // every member of every set: what is not the world
	cells   map[string]*Access // by role and piece key
}

// Classify makes the classifier of a family. Sets no rule names cannot
// change what an address gets, so they do not cut the address space.
func (p *Policy) Classify(f Family) *Classifier {
	c := &Classifier{p: p, f: f, cells: map[string]*Access{}}
	named := map[string]bool{}
	seen := map[netip.Prefix]bool{}
	for _, r := range p.Rules {
		switch r.From.Kind {
		case SetSource:
			named[r.From.Set] = true
		case CIDRSource:
			m := r.From.CIDR.Masked()
			if FamilyOf(m) == f && !seen[m] {
				seen[m] = true
				c.used = append(c.used, ranges.Tagged{Prefix: m, Tag: r.From.Tag()})
			}
		}
	}
	var all []ranges.Tagged
	for _, s := range p.Sets {
		for _, m := range s.Members[f] {
			t := ranges.Tagged{Prefix: m.Masked(), Tag: s.Name}
			all = append(all, t)
			if named[s.Name] {
				c.used = append(c.used, t)
			}
		}
	}
	c.usedIdx = ranges.NewIndex(c.used)
	c.members = ranges.NewIndex(all)
	return c
}

// Pieces cuts a prefix of the classifier's family into pieces.
func (c *Classifier) Pieces(m netip.Prefix) []ranges.Leaf {
	return ranges.Split(m, c.usedIdx.Overlapping(m))
}

// World returns the pieces of the addresses in no set (the world): the
// family's address space cut by the literal sources only, each piece kept
// when some address of it is in no set. Its tags name literal sources only:
// the addresses of sets inside a piece get what their sets' pieces get.
func (c *Classifier) World() []ranges.Leaf {
	var literals []ranges.Tagged
	for _, t := range c.used {
		if _, ok := Literal(t.Tag); ok {
			literals = append(literals, t)
		}
	}
	var out []ranges.Leaf
	for _, l := range ranges.Split(ranges.Everything(c.f == V6), literals) {
		if !c.members.Covers(l.Prefix) {
			out = append(out, l)
		}
	}
	return out
}

// InSomeSet reports whether an address is a member of some set.
func (c *Classifier) InSomeSet(a netip.Addr) bool {
	return len(c.members.Overlapping(ranges.Host(a.Unmap()))) > 0
}

// Access evaluates a piece at the nodes of a role.
func (c *Classifier) Access(l ranges.Leaf, role string) *Access {
	key := role + "|" + l.Key()
	if a, ok := c.cells[key]; ok {
		return a
	}
	a := c.p.Evaluate(role, c.f, func(s Source) bool {
		return s.Kind == AnySource || slices.Contains(l.Tags, s.Tag())
	})
	c.cells[key] = a
	return a
}

// Reach returns what the addresses of a source prefix get at the nodes of a
// role: one Access for each part of the prefix the policy treats
// differently (a prefix that holds admins and the world gives two).
func (p *Policy) Reach(role string, src netip.Prefix) []*Access {
	return p.Classify(FamilyOf(src)).Reach(role, src)
}

// Reach is Policy.Reach for a prefix of the classifier's family, with the
// classifier's cache.
func (c *Classifier) Reach(role string, src netip.Prefix) []*Access {
	seen := map[string]bool{}
	var out []*Access
	for _, l := range c.Pieces(src) {
		if !seen[l.Key()] {
			seen[l.Key()] = true
			out = append(out, c.Access(l, role))
		}
	}
	return out
}
