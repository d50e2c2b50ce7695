package cli

import (
	"fmt"
	"net/netip"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// origin is what explain's --from stands for: one address or range, or
// the addresses of a node, a role or an overlay, each part under the name
// of what it is in the spec.
type origin struct {
	what  string       // how an answer names the whole: "10.0.0.1", "node m1", "role agent", "overlay it"
	parts []originPart // in spec order
}

// originPart is a range of source addresses and the entry of the spec it
// belongs to.
type originPart struct {
	owner  string       // "node agent-1", "pool of agent", "overlay it"; "" for an address or range given as such
	prefix netip.Prefix // masked; a single address is a /32 or /128
}

// sourceOf resolves --from: a node's name (its addresses), a role's name
// (every address of its nodes and pools: the members of its set, without
// the addresses of other roles' nodes and pools inside its pools), an
// overlay's name (its network), an address or a range (CIDR).
func sourceOf(p *policy.Policy, from string) (*origin, error) {
	if n := p.Node(from); n != nil {
		o := &origin{what: "node " + n.Name}
		for _, a := range n.Addresses {
			o.parts = append(o.parts, originPart{owner: o.what, prefix: ranges.Host(a.Unmap())})
		}
		return o, nil
	}
	if r := p.Role(from); r != nil {
		return setOrigin(p.RoleSet(r.Name), "role "+r.Name, "nodes or pools")
	}
	if set := p.OverlaySet(from); set != nil {
		return setOrigin(set, "overlay "+from, "network")
	}
	if a, err := netip.ParseAddr(from); err == nil {
		a = a.Unmap()
		return &origin{what: a.String(), parts: []originPart{{prefix: ranges.Host(a)}}}, nil
	}
	pfx, err := netip.ParsePrefix(from)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a node, a role, an overlay, an address nor a range (CIDR) of %s", from, p.File)
	}
	if pfx.Masked() != pfx {
		return nil, fmt.Errorf("%s has host bits set: write %s", pfx, pfx.Masked())
	}
	if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96) // an IPv4 range written as IPv6
	}
	return &origin{what: pfx.String(), parts: []originPart{{prefix: pfx}}}, nil
}

// setOrigin is the origin of a role's or an overlay's set: each entry the
// spec lists, cut to the set's members (a pool's range without the
// addresses of other roles inside it).
func setOrigin(set *policy.Set, what, holds string) (*origin, error) {
	o := &origin{what: what}
	if set != nil {
		for _, e := range set.Entries {
			fam := policy.FamilyOf(e.Prefix)
			for _, m := range ranges.Intersect([]netip.Prefix{e.Prefix}, set.Members[fam]) {
				o.parts = append(o.parts, originPart{owner: e.Prov.What, prefix: m})
			}
		}
	}
	if len(o.parts) == 0 {
		return nil, fmt.Errorf("%s has no %s: no address to ask about", what, holds)
	}
	return o, nil
}
