// Package review answers the questions a reviewer of a cluster spec asks:
// who reaches what (the reachability matrix, computed from the policy IR)
// and what a change of the spec opens or closes (a semantic diff of two
// matrices, with the spec lines on both sides).
package review

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Source kinds of a row.
const (
	World   = "world"
	Admins  = "admins"
	Trusted = "trusted"
	Role    = "role"
	Overlay = "overlay"
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
	Kind   string                           // world, admins, trusted, role, overlay
	Name   string                           // the role's or overlay's name; the kind for the others
	Cells  []Cell                           // one per column
	Leaves map[policy.Family][]netip.Prefix // the ranges the row stands for, per family; none for a source with no address
}

// Source names the row's source the way Members keys it: "world",
// "admins", "trusted", "role NAME" or "overlay NAME".
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
	b := &builder{p: p, names: map[policy.Family][]tagged{}, cells: map[string]*Access{},
		used: map[policy.Family]*index{}, all: map[policy.Family]*index{}}
	for _, f := range policy.Families {
		b.names[f] = names(p, f)
		b.used[f] = newIndex(b.names[f])
		var sets []tagged
		for _, s := range p.Sets {
			for _, m := range s.Members[f] {
				sets = append(sets, tagged{m.Masked(), s.Name})
			}
		}
		b.all[f] = newIndex(sets)
	}
	m.Rows = append(m.Rows, b.rows(World, World, nil)...)
	m.Rows = append(m.Rows, b.rows(Admins, Admins, p.Set("admins"))...)
	m.Rows = append(m.Rows, b.rows(Trusted, Trusted, p.Set("trusted"))...)
	for _, r := range p.Roles {
		m.Rows = append(m.Rows, b.rows(Role, r, p.Set("r-"+r))...)
	}
	for _, o := range p.Overlays.Networks {
		m.Rows = append(m.Rows, b.rows(Overlay, strings.TrimPrefix(o, "o-"), p.Set(o))...)
	}
	for _, o := range p.Overlays.Networks {
		m.Overlays = append(m.Overlays, strings.TrimPrefix(o, "o-"))
	}
	for _, from := range p.Overlays.Networks {
		row := Row{Label: strings.TrimPrefix(from, "o-"), Kind: Overlay, Name: strings.TrimPrefix(from, "o-"), Leaves: map[policy.Family][]netip.Prefix{}}
		set := p.Set(from)
		for _, f := range policy.Families {
			row.Leaves[f] = slices.Clone(set.Members[f])
		}
		for _, to := range p.Overlays.Networks {
			cell := Cell{}
			for _, f := range row.Families() {
				if len(p.Set(to).Members[f]) > 0 {
					cell[f] = between(p, from, to, f)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		m.Between = append(m.Between, row)
	}
	return m
}

type builder struct {
	p     *policy.Policy
	names map[policy.Family][]tagged // what rules match on
	used  map[policy.Family]*index   // the same, indexed
	all   map[policy.Family]*index   // every member of every set: what is not the world
	cells map[string]*Access         // by family, signature and role
}

// cell evaluates the rules guarding a role for addresses with a signature:
// the first rule that matches a part of the traffic decides it.
func (b *builder) cell(f policy.Family, sig []string, role string) *Access {
	key := fmt.Sprintf("%d|%s|%s", f, strings.Join(sig, " "), role)
	if a, ok := b.cells[key]; ok {
		return a
	}
	in := map[string]bool{}
	for _, t := range sig {
		in[t] = true
	}
	d := newDecider()
	for _, r := range b.p.RulesFor(role) {
		switch r.From.Kind {
		case policy.SetSource:
			if !in[r.From.Set] {
				continue
			}
		case policy.CIDRSource:
			if !in[cidrTag+r.From.CIDR.Masked().String()] {
				continue
			}
		}
		d.decide(string(r.Proto), r.Ports, r.Verdict, r.Prov, false)
	}
	a := d.access(b.p.Default, b.p.DefaultProv)
	b.cells[key] = a
	return a
}

// group is the part of a source's addresses in one family that the policy
// treats alike.
type group struct {
	leaves []leaf
	cells  []*Access
}

// rows computes the rows of one source: its leaves in each family, grouped
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
		var leaves []leaf
		if set == nil {
			// the world: every address in no set. Its leaves are cut by the
			// literal sources only, and kept when some address of theirs is
			// in no set; addresses of sets inside them belong to their own
			// rows.
			var cut []leaf
			split(everything(f), literals(b.names[f]), &cut)
			for _, l := range cut {
				if !covered(l.prefix, b.all[f].overlapping(l.prefix)) {
					leaves = append(leaves, l)
				}
			}
		} else {
			for _, m := range set.Members[f] {
				split(m.Masked(), b.used[f].overlapping(m), &leaves)
			}
		}
		if len(leaves) == 0 {
			continue
		}
		groups := map[string]*group{}
		bySig := map[string]*group{}
		var keys []string
		for _, l := range leaves {
			sk := l.key()
			g := bySig[sk]
			if g == nil {
				var cells []*Access
				var texts []string
				for _, r := range b.p.Roles {
					a := b.cell(f, l.sig, r)
					cells = append(cells, a)
					texts = append(texts, a.key())
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
			ls = append(ls, labelled{label(base, groups[k], len(groups) > 1, leaves), groups[k]})
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
				row.Leaves[f] = append(row.Leaves[f], l.prefix)
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
func label(name string, g *group, splitUp bool, all []leaf) string {
	if !splitUp {
		return name
	}
	common := map[string]int{}
	for _, l := range all {
		for _, t := range l.sig {
			common[t]++
		}
	}
	extra := map[string]bool{}
	for _, l := range g.leaves {
		own := false
		for _, t := range l.sig {
			if common[t] < len(all) && t != policy.OverlaysSet {
				extra[tagName(t)] = true
				own = true
			}
		}
		if !own {
			return name // some of this group's addresses are in nothing more
		}
	}
	if extra["cluster"] && slices.ContainsFunc(slices.Collect(maps.Keys(extra)), func(n string) bool { return strings.HasPrefix(n, "role ") }) {
		delete(extra, "cluster") // a role's members are cluster members
	}
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	slices.Sort(names)
	return name + " ∩ " + strings.Join(names, ", ")
}

// tagName is how a row label names a set or literal source.
func tagName(t string) string {
	switch {
	case strings.HasPrefix(t, cidrTag):
		return strings.TrimPrefix(t, cidrTag)
	case strings.HasPrefix(t, "r-"):
		return "role " + strings.TrimPrefix(t, "r-")
	case strings.HasPrefix(t, "o-"):
		return "overlay " + strings.TrimPrefix(t, "o-")
	}
	return t
}

// between computes what rampart's isolation lets through from one overlay to
// another: staying in one overlay, then the allowed pairs in order, then the
// overlays' default.
func between(p *policy.Policy, from, to string, f policy.Family) *Access {
	d := newDecider()
	if from == to {
		d.decide("", nil, policy.Accept, p.Set(from).Prov, false)
	}
	for _, pair := range p.Overlays.Pairs {
		if pair.From == from && pair.To == to {
			d.decide(string(pair.Proto), pair.Ports, policy.Accept, pair.Prov, false)
		}
	}
	return d.access(p.Overlays.Default, p.Overlays.Prov)
}

// Member is one address or range a source names, with the spec line that
// names it.
type Member struct {
	Prefix netip.Prefix // masked; a single address is a /32 or /128
	Pos    spec.Pos     // position of the spec entry that names it
	What   string       // "admins[0]", "node agent-1", "pool of agent", "overlay it"
}

// Members lists, per row source ("admins", "trusted", "role NAME",
// "overlay NAME"), the addresses the spec gives it, sorted.
func Members(s *spec.Spec) map[string][]Member {
	out := map[string][]Member{}
	for i, a := range s.Admins {
		out[Admins] = append(out[Admins], Member{a.Prefix.Masked(), a.Pos, fmt.Sprintf("admins[%d]", i)})
	}
	for i, a := range s.Trusted {
		out[Trusted] = append(out[Trusted], Member{a.Prefix.Masked(), a.Pos, fmt.Sprintf("trusted[%d]", i)})
	}
	for _, n := range s.Nodes {
		for _, a := range n.Addresses {
			out[Role+" "+n.Role] = append(out[Role+" "+n.Role], Member{netip.PrefixFrom(a, a.BitLen()), n.Pos, "node " + n.Name})
		}
	}
	for _, pl := range s.Pools {
		for _, c := range pl.CIDRs {
			out[Role+" "+pl.Role] = append(out[Role+" "+pl.Role], Member{c.Masked(), pl.Pos, "pool of " + pl.Role})
		}
	}
	for _, o := range s.Overlays.Networks {
		out[Overlay+" "+o.Name] = append(out[Overlay+" "+o.Name], Member{o.Prefix.Masked(), o.Pos, "overlay " + o.Name})
	}
	for k, ms := range out {
		slices.SortStableFunc(ms, func(a, b Member) int {
			return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
		})
		out[k] = ms
	}
	return out
}

// Reach returns what the addresses of a source prefix may open to the nodes
// of a role: one Access for each part of the prefix the policy treats
// differently (a prefix that holds admins and the world gives two).
func Reach(p *policy.Policy, role string, src netip.Prefix) []*Access {
	f := policy.FamilyOf(src)
	ns := names(p, f)
	b := &builder{p: p, cells: map[string]*Access{}}
	var leaves []leaf
	split(src.Masked(), newIndex(ns).overlapping(src), &leaves)
	seen := map[string]bool{}
	var out []*Access
	for _, l := range leaves {
		if seen[l.key()] {
			continue
		}
		seen[l.key()] = true
		out = append(out, b.cell(f, l.sig, role))
	}
	return out
}
