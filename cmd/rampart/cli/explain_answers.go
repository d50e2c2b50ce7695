package cli

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// answer is one distinct verdict of an explain question: the segment of
// the policy's evaluation that decides it (verdict and rule), the part of
// --port it decides, and the sources it decides it for.
type answer struct {
	seg      policy.Segment
	ports    ranges.Ports // the sub-ranges of --port; nil for a protocol without ports
	parts    []originPart // the sources, in the order of the question's
	noFamily bool         // the destination node has no address of these sources' family
}

// answers evaluates, with the policy's one first-match evaluation
// (policy.Classifier: every part of the source cut into the pieces the
// rules treat alike), what each part of the source gets at the role's
// nodes on every port of the question, and groups the parts and
// sub-ranges that get the same verdict from the same rule, ordered by
// port, then by source.
func answers(p *policy.Policy, src *origin, role string, node *policy.Node, port spec.Port) []*answer {
	classifiers := map[policy.Family]*policy.Classifier{}
	var out []*answer
	groups := map[string]*answer{}
	for _, part := range src.parts {
		fam := policy.FamilyOf(part.prefix)
		c := classifiers[fam]
		if c == nil {
			c = p.Classify(fam)
			classifiers[fam] = c
		}
		noFamily := node != nil && !hasFamily(node.Addresses, part.prefix.Addr())
		for _, leaf := range c.Pieces(part.prefix) {
			piece := originPart{owner: part.owner, prefix: leaf.Prefix}
			acc := c.Access(leaf, role)
			// what decides each sub-range of the question, merged per decision
			var keys []string
			decided := map[string]ranges.Ports{}
			segs := map[string]policy.Segment{}
			add := func(s policy.Segment, ports ranges.Ports) {
				k := decisionKey(s)
				if _, ok := segs[k]; !ok {
					keys = append(keys, k)
					segs[k] = s
				}
				decided[k] = decided[k].Union(ports)
			}
			if port.Proto.HasPorts() {
				want := ranges.Span(port.From, port.To)
				for _, s := range acc.Segments {
					if s.Proto == port.Proto {
						if sub := want.Intersect(ranges.Ports{s.Ports}); len(sub) > 0 {
							add(s, sub)
						}
					}
				}
			} else {
				add(*acc.Decides(port.Proto, 0), nil)
			}
			for _, k := range keys {
				g := fmt.Sprintf("%s|%s|%v", k, decided[k], noFamily)
				a := groups[g]
				if a == nil {
					a = &answer{seg: segs[k], ports: decided[k], noFamily: noFamily}
					groups[g] = a
					out = append(out, a)
				}
				a.parts = append(a.parts, piece)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *answer) int {
		if len(a.ports) == 0 || len(b.ports) == 0 {
			return 0
		}
		return int(a.ports[0].From) - int(b.ports[0].From)
	})
	return out
}

// decisionKey identifies what decides a segment: its verdict and its rule
// (or the default), wherever in the traffic it is.
func decisionKey(s policy.Segment) string {
	return fmt.Sprintf("%s|%v|%p|%s|%s|%s", s.Verdict, s.Default, s.Rule, s.Prov.Origin, s.Prov.What, s.Prov.Pos)
}

// portsText renders the sub-ranges of --port an answer decides the way a
// port list writes them (8000-8079/tcp, 8081/tcp), or the protocol.
func (a *answer) portsText(port spec.Port) []string {
	if !port.Proto.HasPorts() {
		return []string{port.String()}
	}
	var out []string
	for _, r := range a.ports {
		out = append(out, spec.Port{Proto: port.Proto, From: r.From, To: r.To}.String())
	}
	return out
}

// sources names the sources of an answer: the whole question's name when
// it holds all of them; else each node, pool or overlay whose every piece
// it holds by its name, and the others by the pieces it holds.
func (a *answer) sources(src *origin, all []*answer) []string {
	count := map[string]int{} // distinct pieces per owner in the whole question
	seen := map[originPart]bool{}
	for _, b := range all {
		for _, p := range b.parts {
			if !seen[p] {
				seen[p] = true
				count[p.owner]++
			}
		}
	}
	if len(a.parts) == len(seen) {
		return []string{src.what}
	}
	var owners []string
	mine := map[string][]netip.Prefix{}
	for _, p := range a.parts {
		if _, ok := mine[p.owner]; !ok {
			owners = append(owners, p.owner)
		}
		mine[p.owner] = append(mine[p.owner], p.prefix)
	}
	var out []string
	for _, o := range owners {
		switch {
		case o == "":
			out = append(out, addressRanges(mine[o])...)
		case len(mine[o]) == count[o]:
			out = append(out, o)
		default:
			out = append(out, o+" ("+strings.Join(addressRanges(mine[o]), ", ")+")")
		}
	}
	return out
}

// addressRanges names the addresses of prefixes the shortest way: the
// adjacent ones joined, each run as an address, a prefix when it is one,
// or FIRST-LAST.
func addressRanges(ps []netip.Prefix) []string {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, ranges.ComparePrefixes)
	var out []string
	flush := func(from, to netip.Addr) {
		switch whole := ranges.RangePrefixes(from, to); {
		case from == to:
			out = append(out, from.String())
		case len(whole) == 1:
			out = append(out, whole[0].String())
		default:
			out = append(out, from.String()+"-"+to.String())
		}
	}
	for i := 0; i < len(ps); {
		from, to := ps[i].Masked().Addr(), ranges.LastAddr(ps[i])
		for i++; i < len(ps) && ps[i].Addr().Is4() == from.Is4() && to.Next() == ps[i].Masked().Addr(); i++ {
			to = ranges.LastAddr(ps[i])
		}
		flush(from, to)
	}
	return out
}
