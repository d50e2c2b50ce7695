// Package review answers the questions a reviewer of a cluster spec asks:
// who reaches what (the reachability matrix, computed from the policy IR)
// and what a change of the spec opens or closes (a semantic diff of two
// matrices, with the spec lines on both sides).
package review

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// Source kinds of a row.
const (
	World   = "world"
	Admins  = "admins"
	Trusted = "trusted"
	Role    = "role"
	Overlay = "overlay"
	// Pods is the row of the kubernetes pod ranges (from: pods).
	Pods = "pods"
)

// Matrix is who reaches what: one row per source (the world, admins, trusted
// sources, each role, each overlay), one column per destination role, and,
// when the spec has overlays, the isolation between them.
type Matrix struct {
	Cluster string // the cluster's name, from the policy
	// Roles are the columns of Rows, in spec order.
	Roles []string
	// Rows are the sources: new connections to the nodes of each role (INPUT).
	Rows []Row
	// Overlays are the columns of Between, in spec order (names without o-).
	Overlays []string
	// Between is traffic forwarded from an overlay to an overlay: a cell is
	// what rampart lets through (it does not drop it); other owners'
	// FORWARD rules may still decide it.
	Between []Row
}

// Row is one source. When the addresses of a source are not all treated
// alike (an admin address that is also a cluster member, a pool of which a
// literal CIDR is denied), the source gets one row per treatment, labelled
// with what sets that part apart: "admins ∩ trusted", "world ∩ 10.0.0.0/24".
//
// Leaves are the ranges the row stands for. A world row's ranges also hold
// the addresses of named sets: those belong to their sets' rows, not to it.
type Row struct {
	Label  string                           // unique within its table
	Kind   string                           // world, admins, trusted, role, overlay, pods
	Name   string                           // the role's or overlay's name; the kind for the others
	Cells  []Cell                           // one per column
	Leaves map[policy.Family][]netip.Prefix // the ranges the row stands for, per family; none for a source with no address
}

// Source names the row's source the way Members keys it: "world",
// "admins", "trusted", "role NAME", "overlay NAME" or "pods".
func (r *Row) Source() string {
	if r.Kind == Role || r.Kind == Overlay {
		return r.Kind + " " + r.Name
	}
	return r.Kind
}

// Families lists the families the row has addresses in, V4 first.
func (r *Row) Families() []policy.Family {
	var out []policy.Family
	for _, f := range policy.Families {
		if len(r.Leaves[f]) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// Cell is what a row reaches in one column, per family; a family the row has
// no address in is absent.
type Cell map[policy.Family]*Access

// String renders the cell: one text when the families agree, else
// "IPv4: ... / IPv6: ...".
func (c Cell) String() string {
	v4, v6 := c[policy.V4], c[policy.V6]
	switch {
	case v4 == nil && v6 == nil:
		return Nothing
	case v6 == nil:
		return v4.String()
	case v4 == nil:
		return v6.String()
	}
	a, b := v4.String(), v6.String()
	if a == b {
		return a
	}
	return "IPv4: " + a + " / IPv6: " + b
}

// Build computes the matrix of a compiled policy.
func Build(p *policy.Policy) *Matrix {
	m := &Matrix{Cluster: p.Cluster, Roles: slices.Clone(p.Roles)}
	b := &builder{p: p, classes: map[policy.Family]*policy.Classifier{}}
	for _, f := range policy.Families {
		b.classes[f] = p.Classify(f)
	}
	m.Rows = append(m.Rows, b.rows(World, World, nil)...)
	m.Rows = append(m.Rows, b.rows(Admins, Admins, p.Set(policy.AdminsSet))...)
	m.Rows = append(m.Rows, b.rows(Trusted, Trusted, p.Set(policy.TrustedSet))...)
	for _, r := range p.Roles {
		m.Rows = append(m.Rows, b.rows(Role, r, p.RoleSet(r))...)
	}
	overlays := p.OverlaySets()
	if pods := p.Set(policy.PodsSet); pods != nil {
		m.Rows = append(m.Rows, b.rows(Pods, Pods, pods)...)
	}
	for _, o := range overlays {
		m.Rows = append(m.Rows, b.rows(Overlay, o.Subject, o)...)
		m.Overlays = append(m.Overlays, o.Subject)
	}
	for _, from := range overlays {
		row := Row{Label: from.Subject, Kind: Overlay, Name: from.Subject, Leaves: map[policy.Family][]netip.Prefix{}}
		for _, f := range policy.Families {
			row.Leaves[f] = slices.Clone(from.Members[f])
		}
		for _, to := range overlays {
			cell := Cell{}
			for _, f := range row.Families() {
				if len(to.Members[f]) > 0 {
					cell[f] = p.Between(from.Name, to.Name, f)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		m.Between = append(m.Between, row)
	}
	return m
}

type builder struct {
	p       *policy.Policy
	classes map[policy.Family]*policy.Classifier // per family: the pieces the policy treats alike, and their cells
}

// group is the part of a source's addresses in one family that the policy
// treats alike.
type group struct {
	leaves []ranges.Leaf
	cells  []*Access
}

// rows computes the rows of one source: its pieces in each family, grouped
// by what they reach and which rules decide it, one row per distinct
// treatment.
func (b *builder) rows(kind, name string, set *policy.Set) []Row {
	base := name
	if kind == Overlay {
		base = "overlay " + name
	}
	type labelled struct {
		label string
		g     *group
	}
	byLabel := map[string]map[policy.Family]*group{}
	var order []string
	for _, f := range policy.Families {
		cls := b.classes[f]
		var leaves []ranges.Leaf
		if set == nil {
			// the world: every address in no set
			leaves = cls.World()
		} else {
			for _, m := range set.Members[f] {
				leaves = append(leaves, cls.Pieces(m)...)
			}
		}
		if len(leaves) == 0 {
			continue
		}
		groups := map[string]*group{}
		bySig := map[string]*group{}
		var keys []string
		for _, l := range leaves {
			sk := l.Key()
			g := bySig[sk]
			if g == nil {
				var cells []*Access
				var texts []string
				for _, r := range b.p.Roles {
					a := cls.Access(l, r)
					cells = append(cells, a)
					texts = append(texts, a.Key())
				}
				k := strings.Join(texts, "\x00")
				g = groups[k]
				if g == nil {
					g = &group{cells: cells}
					groups[k] = g
					keys = append(keys, k)
				}
				bySig[sk] = g
			}
			g.leaves = append(g.leaves, l)
		}
		var ls []labelled
		for _, k := range keys {
			ls = append(ls, labelled{b.label(base, groups[k], len(groups) > 1, leaves), groups[k]})
		}
		for i, x := range ls {
			lbl := x.label
			for n := 2; slices.ContainsFunc(ls[:i], func(y labelled) bool { return y.label == lbl }); n++ {
				lbl = fmt.Sprintf("%s #%d", x.label, n)
			}
			if byLabel[lbl] == nil {
				byLabel[lbl] = map[policy.Family]*group{}
				order = append(order, lbl)
			}
			byLabel[lbl][f] = x.g
		}
	}
	if len(order) == 0 {
		// a source with no address at all still gets its row: it reaches nothing
		return []Row{{Label: base, Kind: kind, Name: name, Cells: make([]Cell, len(b.p.Roles)), Leaves: map[policy.Family][]netip.Prefix{}}}
	}
	// the plain label first, then the rest by label
	slices.SortStableFunc(order, func(a, c string) int {
		return cmp.Or(cmp.Compare(boolInt(a != base), boolInt(c != base)), cmp.Compare(a, c))
	})
	var out []Row
	for _, lbl := range order {
		row := Row{Label: lbl, Kind: kind, Name: name, Leaves: map[policy.Family][]netip.Prefix{}}
		row.Cells = make([]Cell, len(b.p.Roles))
		for i := range row.Cells {
			row.Cells[i] = Cell{}
		}
		for f, g := range byLabel[lbl] {
			for _, l := range g.leaves {
				row.Leaves[f] = append(row.Leaves[f], l.Prefix)
			}
			for i, a := range g.cells {
				row.Cells[i][f] = a
			}
		}
		out = append(out, row)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// label names a group of a source's addresses: the source's name, and when
// the source is split, what sets this part apart (the sets and literal
// sources its addresses are also in, beyond those every address of the
// source is in); the group with addresses in nothing more keeps the plain
// name.
func (b *builder) label(name string, g *group, splitUp bool, all []ranges.Leaf) string {
	if !splitUp {
		return name
	}
	common := map[string]int{}
	for _, l := range all {
		for _, t := range l.Tags {
			common[t]++
		}
	}
	extra := map[string]bool{}
	role := false
	for _, l := range g.leaves {
		own := false
		for _, t := range l.Tags {
			if common[t] < len(all) && t != policy.OverlaysSet {
				n, isRole := b.tagName(t)
				extra[n] = true
				role = role || isRole
				own = true
			}
		}
		if !own {
			return name // some of this group's addresses are in nothing more
		}
	}
	if role {
		delete(extra, policy.ClusterSet) // a role's members are cluster members
	}
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	slices.Sort(names)
	return name + " ∩ " + strings.Join(names, ", ")
}

// tagName is how a row label names a set or literal source, and whether it
// is a role.
func (b *builder) tagName(t string) (string, bool) {
	if c, ok := policy.Literal(t); ok {
		return c.String(), false
	}
	if s := b.p.Set(t); s != nil {
		switch s.Kind {
		case policy.KindRole:
			return "role " + s.Subject, true
		case policy.KindOverlay:
			return "overlay " + s.Subject, false
		}
	}
	return t, false
}

// Member is one address or range a source names, with the spec line that
// names it.
type Member struct {
	Prefix netip.Prefix // masked; a single address is a /32 or /128
	Pos    policy.Pos   // position of the spec entry that names it
	What   string       // "admins[0]", "node agent-1", "pool of agent", "overlay it"
}

// Members lists, per row source ("admins", "trusted", "role NAME",
// "overlay NAME", "pods"), the addresses the spec gives it (the policy's set
// entries; trusted entries with ports too), sorted.
func Members(p *policy.Policy) map[string][]Member {
	out := map[string][]Member{}
	for _, set := range p.Sets {
		var src string
		switch set.Kind {
		case policy.KindAdmins:
			src = Admins
		case policy.KindTrusted:
			src = Trusted
		case policy.KindRole:
			src = Role + " " + set.Subject
		case policy.KindOverlay:
			src = Overlay + " " + set.Subject
		case policy.KindPods:
			src = Pods
		default:
			continue
		}
		for _, e := range set.Entries {
			out[src] = append(out[src], Member{Prefix: e.Prefix, Pos: e.Prov.Pos, What: e.Prov.What})
		}
	}
	for k, ms := range out {
		slices.SortStableFunc(ms, func(a, b Member) int { return ranges.ComparePrefixes(a.Prefix, b.Prefix) })
		out[k] = ms
	}
	return out
}
