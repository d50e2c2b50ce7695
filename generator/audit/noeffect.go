package audit

import (
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/report"
)

// noEffect: a rule of the spec that decides no traffic for any address of
// its source, at any role it guards, in any family, changes nothing: every
// connection it matches is decided first by earlier rules (a rule shadowed
// by another, an allow inside what cluster trust already admits). It is
// named with the rules that decide what it matches.
func (a *auditor) noEffect() {
	classes := map[policy.Family]*policy.Classifier{}
	for _, f := range policy.Families {
		classes[f] = a.p.Classify(f)
	}
	for i := range a.p.Rules {
		r := &a.p.Rules[i]
		if r.By != policy.ByRule || !strings.HasPrefix(r.Prov.Origin, "rules[") {
			continue
		}
		decides, rendered := false, false
		var firsts []*policy.Rule
		for _, role := range a.p.Roles {
			if !r.AppliesTo(role) {
				continue
			}
			for _, f := range policy.Families {
				if !a.p.Renders(*r, f) {
					continue
				}
				rendered = true
				for _, l := range a.pieces(classes[f], r.From, f) {
					if !sourceHolds(r.From, l) {
						continue
					}
					for _, seg := range classes[f].Access(l, role).Segments {
						if !overlaps(seg, r.Space(), f) {
							continue
						}
						if seg.Rule == r {
							decides = true
						} else if seg.Rule != nil && !containsRule(firsts, seg.Rule) {
							firsts = append(firsts, seg.Rule)
						}
					}
				}
			}
		}
		if rendered && !decides {
			var names []string
			for _, d := range firsts {
				names = append(names, d.Prov.String())
			}
			a.add(msgNoEffect, report.At(pathOf(r.Prov.Origin)...), r.Prov.Pos, r.Prov.What, strings.Join(names, "; "))
		}
	}
}

// pieces are the parts of the rule's source the policy treats alike.
func (a *auditor) pieces(c *policy.Classifier, src policy.Source, f policy.Family) []ranges.Leaf {
	switch src.Kind {
	case policy.CIDRSource:
		return c.Pieces(src.CIDR.Masked())
	case policy.SetSource:
		var out []ranges.Leaf
		if s := a.p.Set(src.Set); s != nil {
			for _, m := range s.Members[f] {
				out = append(out, c.Pieces(m)...)
			}
		}
		return out
	}
	return c.Pieces(ranges.Everything(f == policy.V6))
}

// sourceHolds reports whether a piece is the rule's source's.
func sourceHolds(src policy.Source, l ranges.Leaf) bool {
	if src.Kind == policy.AnySource {
		return true
	}
	for _, t := range l.Tags {
		if t == src.Tag() {
			return true
		}
	}
	return false
}

// overlaps reports whether a segment's traffic is in the space.
func overlaps(seg policy.Segment, sp policy.Space, f policy.Family) bool {
	set := map[policy.Protocol]ranges.Ports{policy.TCP: sp.TCP, policy.UDP: sp.UDP, policy.SCTP: sp.SCTP, policy.Other: sp.Other, policy.ICMP: sp.ICMP}
	if f == policy.V6 {
		set[policy.ICMP] = sp.ICMPv6
	}
	return set[seg.Proto].Overlaps(ranges.Ports{seg.Ports})
}

func containsRule(rs []*policy.Rule, r *policy.Rule) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// pathOf turns an origin such as rules[3] into a typed path.
func pathOf(origin string) []any {
	name, rest, ok := strings.Cut(origin, "[")
	if !ok {
		return []any{origin}
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil {
		return []any{origin}
	}
	return []any{name, n}
}
