package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Protocol is what a rule or a connection speaks: TCP, UDP, SCTP, ICMP
// (echo requests, ICMP for IPv4 and ICMPv6 for IPv6), an IP protocol
// number (spec.ProtocolNumber: "4" for ipip) or, for a connection only,
// Other.
type Protocol = spec.Protocol

// Protocols of rules and connections.
const (
	TCP  = spec.TCP
	UDP  = spec.UDP
	SCTP = spec.SCTP
	ICMP = spec.ICMP
	// Other stands for the IP protocols that are not TCP, UDP, SCTP or
	// ICMP (gre, esp, ipip, ...): a segment of Other holds a range of
	// protocol numbers where other segments hold ports.
	Other Protocol = "other"
)

// Protocols lists the protocols of a connection, in the order an Access
// lists its segments.
var Protocols = []Protocol{TCP, UDP, SCTP, ICMP, Other}

// HasPorts reports whether connections of the protocol go to a port.
func HasPorts(p Protocol) bool { return p.HasPorts() }

// EchoType is the ICMP type of an echo request in the family (8, or 128
// for ICMPv6): the only ICMP a rule names.
func EchoType(f Family) uint16 {
	if f == V6 {
		return 128
	}
	return 8
}

// AllTypes is every ICMP (or ICMPv6) type.
func AllTypes() ranges.Ports { return ranges.Span(0, 255) }

// OtherNumbers is every IP protocol number that is Other: all but those of
// TCP (6), UDP (17), SCTP (132), ICMP (1) and ICMPv6 (58).
func OtherNumbers() ranges.Ports {
	return ranges.Span(0, 255).Minus(ranges.Merge([]PortRange{{From: 1, To: 1}, {From: 6, To: 6}, {From: 17, To: 17}, {From: 58, To: 58}, {From: 132, To: 132}}))
}

// Space is a part of all traffic: TCP, UDP and SCTP ports, ICMP and ICMPv6
// types, and the numbers of the other IP protocols.
type Space struct {
	TCP, UDP, SCTP ranges.Ports // ports
	ICMP, ICMPv6   ranges.Ports // types
	Other          ranges.Ports // IP protocol numbers, within OtherNumbers
}

// AllTraffic is every protocol, port and type.
func AllTraffic() Space {
	return Space{TCP: ranges.AllPorts(), UDP: ranges.AllPorts(), SCTP: ranges.AllPorts(), ICMP: AllTypes(), ICMPv6: AllTypes(), Other: OtherNumbers()}
}

// Space is the traffic a rule matches: every protocol, or its protocol's
// ports (every port when it lists none); an ICMP rule matches echo
// requests, a rule of a protocol number that protocol.
func (r *Rule) Space() Space { return spaceOf(r.Proto, r.Ports) }

// Space is the traffic an allowed pair of overlays matches.
func (p *Pair) Space() Space { return spaceOf(p.Proto, p.Ports) }

func spaceOf(proto Protocol, ports []PortRange) Space {
	set := ranges.Merge(ports)
	if len(set) == 0 {
		set = ranges.AllPorts()
	}
	switch proto {
	case TCP:
		return Space{TCP: set}
	case UDP:
		return Space{UDP: set}
	case SCTP:
		return Space{SCTP: set}
	case ICMP:
		return Space{ICMP: ranges.Span(EchoType(V4), EchoType(V4)), ICMPv6: ranges.Span(EchoType(V6), EchoType(V6))}
	}
	if n, ok := proto.Number(); ok {
		return Space{Other: ranges.Span(uint16(n), uint16(n))}
	}
	return AllTraffic()
}

// Empty reports whether the space holds no traffic.
func (s Space) Empty() bool {
	return len(s.TCP) == 0 && len(s.UDP) == 0 && len(s.SCTP) == 0 && len(s.ICMP) == 0 && len(s.ICMPv6) == 0 && len(s.Other) == 0
}

// Minus is the traffic of s that is not in t.
func (s Space) Minus(t Space) Space {
	return Space{TCP: s.TCP.Minus(t.TCP), UDP: s.UDP.Minus(t.UDP), SCTP: s.SCTP.Minus(t.SCTP), ICMP: s.ICMP.Minus(t.ICMP), ICMPv6: s.ICMPv6.Minus(t.ICMPv6), Other: s.Other.Minus(t.Other)}
}

// Intersect is the traffic in both.
func (s Space) Intersect(t Space) Space {
	return Space{TCP: s.TCP.Intersect(t.TCP), UDP: s.UDP.Intersect(t.UDP), SCTP: s.SCTP.Intersect(t.SCTP), ICMP: s.ICMP.Intersect(t.ICMP), ICMPv6: s.ICMPv6.Intersect(t.ICMPv6), Other: s.Other.Intersect(t.Other)}
}

// Overlaps reports whether some traffic is in both.
func (s Space) Overlaps(t Space) bool { return !s.Intersect(t).Empty() }

// dims lists the dimensions of the space a connection of the family can
// fall in: the family's ICMP types count as ICMP.
func (s Space) dims(f Family) []dim {
	icmp := s.ICMP
	if f == V6 {
		icmp = s.ICMPv6
	}
	return []dim{{TCP, s.TCP}, {UDP, s.UDP}, {SCTP, s.SCTP}, {ICMP, icmp}, {Other, s.Other}}
}

type dim struct {
	proto Protocol
	set   ranges.Ports
}

// Segment is a part of the traffic from one source to one destination (one
// protocol and, for TCP, UDP and SCTP, a range of ports; for ICMP a range
// of the family's types; for Other a range of protocol numbers) and the
// verdict it gets.
type Segment struct {
	Proto   Protocol   // TCP, UDP, SCTP, ICMP or Other
	Ports   PortRange  // ports for TCP, UDP and SCTP, types for ICMP, protocol numbers for Other
	Verdict Verdict    // Accept, Drop or Reject
	Rule    *Rule      // the deciding rule; nil for the default and for overlay isolation
	Prov    Provenance // the deciding rule's, or the default's when Default
	Default bool       // no rule matched: the default (firewall.action, overlays.default) decides
}

// Access is what one source gets from the policy at one destination in one
// family: the segments cover every protocol, port and type, each decided by
// the first rule that matches it.
type Access struct {
	Family   Family
	Segments []Segment // sorted by protocol (TCP, UDP, ICMP, Other), then port
}

// Decides returns the segment that decides a new connection of the protocol
// to the port: for ICMP, an echo request, the port is ignored; for a
// protocol number (spec.ProtocolNumber) too; for Other the port is the
// protocol number.
func (a *Access) Decides(proto Protocol, port uint16) *Segment {
	switch proto {
	case ICMP:
		port = EchoType(a.Family)
	case TCP, UDP, SCTP, Other:
	default:
		n, _ := proto.Number()
		proto, port = Other, uint16(n)
	}
	for i := range a.Segments {
		s := &a.Segments[i]
		if s.Proto == proto && s.Ports.Contains(port) {
			return s
		}
	}
	return nil
}

// Accepts reports whether a new connection of the protocol to the port is
// accepted.
func (a *Access) Accepts(proto Protocol, port uint16) bool {
	s := a.Decides(proto, port)
	return s != nil && s.Verdict == Accept
}

// Open returns the accepted ports of TCP, UDP or SCTP (types of ICMP,
// numbers of Other).
func (a *Access) Open(proto Protocol) ranges.Ports {
	var rs []PortRange
	for _, s := range a.Segments {
		if s.Proto == proto && s.Verdict == Accept {
			rs = append(rs, s.Ports)
		}
	}
	return ranges.Merge(rs)
}

// Nothing is how an access that accepts nothing reads.
const Nothing = "—"

// String renders what the access accepts, compressed: "all", "all but
// tcp/8201,26257", "tcp/80,443,10000-10100 icmp ipip", or Nothing.
func (a *Access) String() string {
	icmp := a.Accepts(ICMP, 0)
	other := a.Open(Other)
	var parts []string
	if slices.Equal(other, OtherNumbers()) {
		// positives cannot name "every other protocol": list what is closed
		for _, proto := range []Protocol{TCP, UDP, SCTP} {
			if c := a.Open(proto).Complement(); len(c) > 0 {
				parts = append(parts, string(proto)+"/"+c.Text())
			}
		}
		if !icmp {
			parts = append(parts, string(ICMP))
		}
		if len(parts) == 0 {
			return "all"
		}
		return "all but " + strings.Join(parts, " ")
	}
	for _, proto := range []Protocol{TCP, UDP, SCTP} {
		if open := a.Open(proto); len(open) > 0 {
			parts = append(parts, string(proto)+"/"+open.Text())
		}
	}
	if icmp {
		parts = append(parts, string(ICMP))
	}
	if len(other) > 0 {
		parts = append(parts, NumbersText(other))
	}
	if len(parts) == 0 {
		return Nothing
	}
	return strings.Join(parts, " ")
}

// NumbersText names IP protocol numbers the way a port list writes them:
// "ipip gre proto/41"; more than 8 numbers as "protocols 0-5,7-16" (every
// other protocol but a few, or a wide range, reads better as ranges).
func NumbersText(ns ranges.Ports) string {
	if ns.Size() > 8 {
		return "protocols " + ns.Text()
	}
	var parts []string
	for _, pr := range ns {
		for n := int(pr.From); n <= int(pr.To); n++ {
			parts = append(parts, spec.NumberName(uint8(n)))
		}
	}
	return strings.Join(parts, " ")
}

// Key identifies the access by meaning and by what decides each part.
func (a *Access) Key() string {
	var b strings.Builder
	for _, s := range a.Segments {
		fmt.Fprintf(&b, "%s %s %s %v %s:%d %s|", s.Proto, s.Ports, s.Verdict, s.Default, s.Prov.Pos.File, s.Prov.Pos.Line, s.Prov.What)
	}
	return b.String()
}

// decider is the first-match evaluation: each part of the traffic is
// decided by the first rule that matches it.
type decider struct {
	f    Family
	open Space // what no rule decided yet
	segs []Segment
}

func newDecider(f Family) *decider { return &decider{f: f, open: AllTraffic()} }

// decide gives the verdict to the still undecided part of the space.
func (d *decider) decide(sp Space, v Verdict, r *Rule, prov Provenance, def bool) {
	for _, dm := range d.open.Intersect(sp).dims(d.f) {
		for _, pr := range dm.set {
			d.segs = append(d.segs, Segment{Proto: dm.proto, Ports: pr, Verdict: v, Rule: r, Prov: prov, Default: def})
		}
	}
	d.open = d.open.Minus(sp)
}

// done reports whether every part of the traffic of the family is decided.
func (d *decider) done() bool {
	for _, dm := range d.open.dims(d.f) {
		if len(dm.set) > 0 {
			return false
		}
	}
	return true
}

// access finishes: what is left gets the default; segments are sorted by
// protocol and port.
func (d *decider) access(v Verdict, prov Provenance) *Access {
	d.decide(AllTraffic(), v, nil, prov, true)
	slices.SortStableFunc(d.segs, func(a, b Segment) int {
		if x, y := slices.Index(Protocols, a.Proto), slices.Index(Protocols, b.Proto); x != y {
			return x - y
		}
		return int(a.Ports.From) - int(b.Ports.From)
	})
	return &Access{Family: d.f, Segments: d.segs}
}

// Evaluate is the policy's one first-match evaluation: what a source gets
// at the nodes of a role, in a family. from says whether a rule's source
// holds the source asked about; the first rule guarding the role whose
// source holds it decides each part of the traffic, the default
// (firewall.action) what no rule matches.
func (p *Policy) Evaluate(role string, f Family, from func(Source) bool) *Access {
	d := newDecider(f)
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.AppliesTo(role) || !from(r.From) {
			continue
		}
		d.decide(r.Space(), r.Verdict, r, r.Prov, false)
		if d.done() {
			break
		}
	}
	return d.access(p.Default, p.DefaultProv)
}

// Between is what rampart's isolation does with traffic forwarded from one
// overlay to another (set names) in a family: staying in one overlay is
// accepted, then the allowed pairs in order, then the overlays' default.
func (p *Policy) Between(from, to string, f Family) *Access {
	d := newDecider(f)
	if from == to {
		prov := Provenance{}
		if s := p.Set(from); s != nil {
			prov = s.Prov
		}
		d.decide(AllTraffic(), Accept, nil, prov, false)
	}
	for i := range p.Overlays.Pairs {
		pair := &p.Overlays.Pairs[i]
		if pair.From == from && pair.To == to {
			d.decide(pair.Space(), Accept, nil, pair.Prov, false)
		}
	}
	return d.access(p.Overlays.Default, p.Overlays.Prov)
}

// Holds reports whether a rule's source holds an address: the world holds
// every address, a set its members of the address's family, a literal its
// prefix. An IPv4-mapped IPv6 address counts as IPv4.
func (p *Policy) Holds(s Source, a netip.Addr) bool {
	a = a.Unmap()
	switch s.Kind {
	case SetSource:
		set := p.Set(s.Set)
		return set != nil && set.Contains(a)
	case CIDRSource:
		return s.CIDR.Contains(a)
	}
	return true
}

// Contains reports whether an address is a member of the set.
func (s *Set) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, m := range s.Members[familyOfAddr(a)] {
		if m.Contains(a) {
			return true
		}
	}
	return false
}

// FamilyOfAddr returns the family of an address (an IPv4-mapped IPv6
// address is IPv4).
func FamilyOfAddr(a netip.Addr) Family { return familyOfAddr(a.Unmap()) }

func familyOfAddr(a netip.Addr) Family {
	if a.Is4() {
		return V4
	}
	return V6
}

// Allowance is what one accepting rule decides at the nodes of a role: what
// it matches, except what the earlier rules that do not accept match
// (they decide it first). The union of a role's allowances is exactly what
// Evaluate accepts, for every source: the form of the policy for consumers
// that can only allow (security groups).
type Allowance struct {
	Rule   *Rule   // an accepting rule guarding the role
	Except []*Rule // the earlier rules guarding the role that do not accept and whose traffic overlaps the rule's
}

// Allowances lists the allowances of a role, in rule order.
func (p *Policy) Allowances(role string) []Allowance {
	var out []Allowance
	var denied []*Rule
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.AppliesTo(role) {
			continue
		}
		if r.Verdict != Accept {
			denied = append(denied, r)
			continue
		}
		a := Allowance{Rule: r}
		sp := r.Space()
		for _, d := range denied {
			if d.Space().Overlaps(sp) {
				a.Except = append(a.Except, d)
			}
		}
		out = append(out, a)
	}
	return out
}

// Query is a new connection to ask the policy about.
type Query struct {
	From  netip.Addr // source address; an IPv4-mapped IPv6 address counts as IPv4
	Role  string     // the destination node's role
	Proto Protocol   // TCP, UDP, SCTP, ICMP (an echo request), an IP protocol number (spec.ProtocolNumber) or Other
	Port  uint16     // ignored for ICMP and a protocol number; for Other, the protocol number
}

// Decision is the policy's answer: the verdict and the rule that decides it.
type Decision struct {
	Verdict Verdict    // Accept, Drop or Reject
	Rule    *Rule      // nil when no rule matches and the default decides
	Prov    Provenance // the deciding rule's provenance, or the default's (firewall.action)
}

// Explain evaluates the IR, not a kernel: the first rule guarding the role
// that matches the connection decides it; when none does, the default
// (firewall.action) does.
func (p *Policy) Explain(q Query) Decision {
	from := q.From.Unmap()
	a := p.Evaluate(q.Role, familyOfAddr(from), func(s Source) bool { return p.Holds(s, from) })
	s := a.Decides(q.Proto, q.Port)
	return Decision{Verdict: s.Verdict, Rule: s.Rule, Prov: s.Prov}
}

// String renders a decision for people: "ACCEPT by: what (origin, file:line)".
func (d Decision) String() string {
	if d.Rule == nil {
		return fmt.Sprintf("%s: no rule accepts it (%s)", d.Verdict, d.Prov)
	}
	return fmt.Sprintf("%s by rule: %s", d.Verdict, d.Prov)
}
