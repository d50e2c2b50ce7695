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

// Tables of a matrix, as a change names them.
const (
	TableRoles    = "roles"    // sources to destination roles (INPUT)
	TableOverlays = "overlays" // between overlays (FORWARD)
)

// Change is a part of one cell that opened or closed: new connections of a
// protocol (and for tcp and udp a range of ports) from a source to a
// destination that one spec accepts and the other does not, with the rule
// that decides them on each side.
type Change struct {
	Table    string            // TableRoles or TableOverlays
	From, To string            // row label, column
	Families []policy.Family   // the family it happens in, or both (V4, V6) when they change alike
	Proto    policy.Protocol   // tcp, udp, icmp or other
	Ports    ranges.Ports      // for tcp, udp and sctp; protocol numbers for other
	Opened   bool              // accepted now, not before
	Now      policy.Provenance // what decides it in the new spec; only What when the row, column or family is absent there
	Before   policy.Provenance // the same for the old spec
}

// What renders the traffic of a change: "tcp/8080", "udp/all", "icmp",
// "ipip gre", "protocols 0,2-5,...".
func (c *Change) What() string {
	switch {
	case policy.HasPorts(c.Proto):
		return string(c.Proto) + "/" + c.Ports.Text()
	case c.Proto == Other && len(c.Ports) > 0:
		return policy.NumbersText(c.Ports)
	case c.Proto == Other:
		return "other protocols"
	}
	return string(c.Proto)
}

// MemberChange is an address or range a source gained or lost.
type MemberChange struct {
	Source string        // admins, trusted, role NAME, overlay NAME
	Family policy.Family // family of Member's prefix
	Member Member        // the address or range, with the line of the spec that has it (new if added, old if removed)
	Added  bool          // gained in the new spec; false: lost
	// Opens is true for an added range that the source did not hold before
	// (in whole) and from which the source reaches something.
	Opens bool
}

// Diff is what a change of the spec does to who reaches what.
type Diff struct {
	Old, New string         // the specs' names
	Changes  []Change       // cells that opened or closed: the roles table, then the overlays table
	Members  []MemberChange // addresses sources gained or lost, by source (admins, trusted, roles, overlays), then family
}

// Opened reports whether the change lets anything new in: a cell that
// opened, or a source that gained addresses from which it reaches something.
func (d *Diff) Opened() bool {
	for _, c := range d.Changes {
		if c.Opened {
			return true
		}
	}
	for _, m := range d.Members {
		if m.Opens {
			return true
		}
	}
	return false
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool { return len(d.Changes) == 0 && len(d.Members) == 0 }

// Side is one spec of a diff, compiled.
type Side struct {
	Name   string         // the spec's file: names the side in the diff
	Policy *policy.Policy // the compiled spec
	Matrix *Matrix        // the spec's reachability matrix
}

// SideOf makes a side of a diff from a compiled spec.
func SideOf(p *policy.Policy) *Side {
	return &Side{Name: p.File, Policy: p, Matrix: Build(p)}
}

// Compare computes what changes from old to new: the cells that opened or
// closed, per family, and the addresses sources gained or lost. A change
// that only reorders or reformats the spec gives an empty diff.
func Compare(old, new *Side) *Diff {
	d := &Diff{Old: old.Name, New: new.Name}
	d.Changes = append(d.Changes, compareTable(TableRoles, "role", old.Matrix.Roles, old.Matrix.Rows, new.Matrix.Roles, new.Matrix.Rows)...)
	d.Changes = append(d.Changes, compareTable(TableOverlays, "overlay", old.Matrix.Overlays, old.Matrix.Between, new.Matrix.Overlays, new.Matrix.Between)...)
	d.Members = compareMembers(old, new)
	return d
}

// absent is the provenance of a side that has no such row or column.
func absent(what string) policy.Provenance {
	return policy.Provenance{What: what}
}

func compareTable(table, colKind string, oldCols []string, oldRows []Row, newCols []string, newRows []Row) []Change {
	cols := slices.Clone(newCols)
	for _, c := range oldCols {
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	var labels []string
	oldBy, newBy := map[string]*Row{}, map[string]*Row{}
	for i := range newRows {
		newBy[newRows[i].Label] = &newRows[i]
		labels = append(labels, newRows[i].Label)
	}
	for i := range oldRows {
		oldBy[oldRows[i].Label] = &oldRows[i]
		if newBy[oldRows[i].Label] == nil {
			labels = append(labels, oldRows[i].Label)
		}
	}
	var out []Change
	for _, lbl := range labels {
		or, nr := oldBy[lbl], newBy[lbl]
		for _, col := range cols {
			oi, ni := slices.Index(oldCols, col), slices.Index(newCols, col)
			var changes [2][]Change
			for fi, f := range policy.Families {
				oa, oWhy := side(or, oi, f, lbl, colKind, col, "old")
				na, nWhy := side(nr, ni, f, lbl, colKind, col, "new")
				if oa == nil && na == nil {
					continue
				}
				changes[fi] = cellChanges(oa, oWhy, na, nWhy)
			}
			out = append(out, mergeFamilies(table, lbl, col, changes)...)
		}
	}
	return out
}

// side returns a row's access in a column and family, or nil and why there
// is none: the row or column is not in that spec, or the row has no address
// of the family.
func side(r *Row, col int, f policy.Family, label, colKind, colName, which string) (*Access, policy.Provenance) {
	switch {
	case r == nil:
		return nil, absent(fmt.Sprintf("no source %s in the %s spec", label, which))
	case col < 0:
		return nil, absent(fmt.Sprintf("no %s %s in the %s spec", colKind, colName, which))
	case r.Cells[col][f] == nil:
		return nil, absent(fmt.Sprintf("%s has no %s address in the %s spec", label, f, which))
	}
	return r.Cells[col][f], policy.Provenance{}
}

// cellChanges compares one cell in one family; a nil access accepts nothing
// and why says so. ICMP is compared on echo requests, the only ICMP a rule
// names.
func cellChanges(old *Access, oldWhy policy.Provenance, new *Access, newWhy policy.Provenance) []Change {
	var out []Change
	for _, proto := range policy.Protocols {
		starts := []uint16{0}
		ranged := policy.HasPorts(proto) || proto == Other // Other's segments are ranges of protocol numbers
		last := uint16(ranges.MaxPort)
		if proto == Other {
			last = 255
		}
		if ranged {
			for _, a := range []*Access{old, new} {
				if a == nil {
					continue
				}
				for _, s := range a.Segments {
					if s.Proto == proto {
						starts = append(starts, s.Ports.From)
					}
				}
			}
			slices.Sort(starts)
			starts = slices.Compact(starts)
		}
		for i, from := range starts {
			to := last
			if i+1 < len(starts) {
				to = starts[i+1] - 1
			}
			if proto == Other && !policy.OtherNumbers().Contains(from) {
				continue
			}
			oOpen, oProv := decide(old, oldWhy, proto, from)
			nOpen, nProv := decide(new, newWhy, proto, from)
			if oOpen == nOpen {
				continue
			}
			c := Change{Proto: proto, Opened: nOpen, Now: nProv, Before: oProv}
			if policy.HasPorts(proto) {
				c.Ports = ranges.Span(from, to)
			}
			if proto == Other {
				c.Ports = ranges.Span(from, to).Intersect(policy.OtherNumbers())
			}
			if n := len(out); n > 0 && ranged && out[n-1].Proto == proto && out[n-1].Opened == c.Opened &&
				out[n-1].Now == c.Now && out[n-1].Before == c.Before {
				out[n-1].Ports = out[n-1].Ports.Union(c.Ports)
				continue
			}
			out = append(out, c)
		}
	}
	return out
}

func decide(a *Access, why policy.Provenance, proto policy.Protocol, port uint16) (bool, policy.Provenance) {
	if a == nil {
		return false, why
	}
	s := a.Decides(proto, port)
	if s == nil {
		return false, why
	}
	return s.Verdict == policy.Accept, s.Prov
}

// mergeFamilies gives a change both families when IPv4 and IPv6 change
// alike.
func mergeFamilies(table, from, to string, byFamily [2][]Change) []Change {
	same := len(byFamily[0]) == len(byFamily[1])
	for i := 0; same && i < len(byFamily[0]); i++ {
		a, b := byFamily[0][i], byFamily[1][i]
		same = a.Proto == b.Proto && slices.Equal(a.Ports, b.Ports) && a.Opened == b.Opened && a.Now == b.Now && a.Before == b.Before
	}
	var out []Change
	for fi, f := range policy.Families {
		if same && fi == 1 {
			break
		}
		for _, c := range byFamily[fi] {
			c.Table, c.From, c.To = table, from, to
			c.Families = []policy.Family{f}
			if same {
				c.Families = policy.Families
			}
			out = append(out, c)
		}
	}
	return out
}

// compareMembers lists the entries each source gained or lost, by range.
func compareMembers(old, new *Side) []MemberChange {
	om, nm := Members(old.Policy), Members(new.Policy)
	var sources []string
	for k := range om {
		sources = append(sources, k)
	}
	for k := range nm {
		if _, ok := om[k]; !ok {
			sources = append(sources, k)
		}
	}
	slices.SortFunc(sources, func(a, b string) int { return cmp.Compare(sourceOrder(a), sourceOrder(b)) })
	var out []MemberChange
	for _, src := range slices.Compact(sources) {
		for _, f := range policy.Families {
			of, nf := ofFamily(om[src], f), ofFamily(nm[src], f)
			inOld, inNew := map[netip.Prefix]bool{}, map[netip.Prefix]bool{}
			var olds []netip.Prefix
			for _, m := range of {
				inOld[m.Prefix] = true
				olds = append(olds, m.Prefix)
			}
			for _, m := range nf {
				inNew[m.Prefix] = true
			}
			for _, m := range of {
				if !inNew[m.Prefix] {
					out = append(out, MemberChange{Source: src, Family: f, Member: m})
				}
			}
			for _, m := range nf {
				if inOld[m.Prefix] {
					continue
				}
				opens := !ranges.Covered(m.Prefix, olds) && reaches(new.Matrix, src, f)
				out = append(out, MemberChange{Source: src, Family: f, Member: m, Added: true, Opens: opens})
			}
		}
	}
	return out
}

// sourceOrder sorts sources the way the matrix lists them: admins, trusted,
// roles, overlays, each by name.
func sourceOrder(s string) string {
	switch {
	case s == Admins:
		return "0"
	case s == Trusted:
		return "1"
	case strings.HasPrefix(s, Role+" "):
		return "2" + s
	}
	return "3" + s
}

func ofFamily(ms []Member, f policy.Family) []Member {
	var out []Member
	for _, m := range ms {
		if policy.FamilyOf(m.Prefix) == f {
			out = append(out, m)
		}
	}
	return out
}

// reaches reports whether some row of the source reaches anything in the
// family, in either table.
func reaches(m *Matrix, src string, f policy.Family) bool {
	for _, rows := range [][]Row{m.Rows, m.Between} {
		for i := range rows {
			if rows[i].Source() != src {
				continue
			}
			for _, c := range rows[i].Cells {
				if a := c[f]; a != nil && a.String() != Nothing {
					return true
				}
			}
		}
	}
	return false
}
