package review

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
)

// Protocols of a cell, in the order cells list them. Other stands for every
// protocol that is not tcp, udp or icmp (sctp, gre, esp, ...), reached only
// by rules that name no protocol.
const (
	TCP   = "tcp"
	UDP   = "udp"
	ICMP  = "icmp" // echo requests (ping): ICMP for IPv4, ICMPv6 for IPv6
	Other = "other"
)

// Protocols lists the protocols of a cell in order.
var Protocols = []string{TCP, UDP, ICMP, Other}

// hasPorts reports whether a protocol is split by port.
func hasPorts(proto string) bool { return proto == TCP || proto == UDP }

// allPorts is every port a tcp or udp connection can go to.
var allPorts = []policy.PortRange{{From: 1, To: 65535}}

// Ranges is a sorted list of disjoint, non-touching port ranges.
type Ranges []policy.PortRange

// normal sorts and merges ranges that overlap or touch.
func normal(rs []policy.PortRange) Ranges {
	return Ranges(policy.MergeRanges(rs))
}

// intersect returns the ports in both a and b (both normal).
func intersect(a, b Ranges) Ranges {
	var out Ranges
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].From, b[j].From), min(a[i].To, b[j].To)
		if lo <= hi {
			out = append(out, policy.PortRange{From: lo, To: hi})
		}
		if a[i].To < b[j].To {
			i++
		} else {
			j++
		}
	}
	return out
}

// subtract returns the ports of a that are not in b (both normal).
func subtract(a, b Ranges) Ranges {
	var out Ranges
	for _, r := range a {
		cur := []policy.PortRange{r}
		for _, x := range b {
			var next []policy.PortRange
			for _, c := range cur {
				if x.To < c.From || x.From > c.To {
					next = append(next, c)
					continue
				}
				if x.From > c.From {
					next = append(next, policy.PortRange{From: c.From, To: x.From - 1})
				}
				if x.To < c.To {
					next = append(next, policy.PortRange{From: x.To + 1, To: c.To})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return normal(out)
}

// Contains reports whether a port is in the ranges.
func (rs Ranges) Contains(port uint16) bool {
	for _, r := range rs {
		if port >= r.From && port <= r.To {
			return true
		}
	}
	return false
}

// String renders 80,443,10000-10100.
func (rs Ranges) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// full reports whether the ranges are every port.
func (rs Ranges) full() bool { return slices.Equal(rs, Ranges(allPorts)) }

// Segment is a part of a cell's traffic (one protocol, and for tcp and udp a
// range of ports) and the verdict the policy gives it, with the rule that
// decides it.
type Segment struct {
	Proto   string            // tcp, udp, icmp or other
	Ports   policy.PortRange  // for tcp and udp; zero for icmp and other
	Verdict policy.Verdict    // Accept, Drop or Reject
	Prov    policy.Provenance // the deciding rule's, or the default's when Default
	Default bool              // no rule matched: the default (firewall.action, overlays.default) decides
}

// Access is what one source reaches on one destination in one family: the
// segments cover every protocol and, for tcp and udp, every port.
type Access struct {
	Segments []Segment // sorted by protocol (tcp, udp, icmp, other), then port
}

// Open returns the accepted ports of a port protocol (tcp, udp).
func (a *Access) Open(proto string) Ranges {
	var rs []policy.PortRange
	for _, s := range a.Segments {
		if s.Proto == proto && s.Verdict == policy.Accept {
			rs = append(rs, s.Ports)
		}
	}
	return normal(rs)
}

// Accepts reports whether a new connection of the protocol to the port is
// accepted (port is ignored for icmp and other).
func (a *Access) Accepts(proto string, port uint16) bool {
	for _, s := range a.Segments {
		if s.Proto != proto {
			continue
		}
		if !hasPorts(proto) || (port >= s.Ports.From && port <= s.Ports.To) {
			return s.Verdict == policy.Accept
		}
	}
	return false
}

// Decides returns the segment that decides a connection, or nil.
func (a *Access) Decides(proto string, port uint16) *Segment {
	for i := range a.Segments {
		s := &a.Segments[i]
		if s.Proto == proto && (!hasPorts(proto) || (port >= s.Ports.From && port <= s.Ports.To)) {
			return s
		}
	}
	return nil
}

// String renders the cell compressed: "all", "all but tcp/8201,26257",
// "tcp/80,443,10000-10100 icmp", or "—" when nothing is open.
func (a *Access) String() string {
	tcp, udp := a.Open(TCP), a.Open(UDP)
	icmp, other := a.Accepts(ICMP, 0), a.Accepts(Other, 0)
	var parts []string
	if other {
		// positives cannot name "every other protocol": list what is closed
		if c := subtract(Ranges(allPorts), tcp); len(c) > 0 {
			parts = append(parts, TCP+"/"+portsText(c))
		}
		if c := subtract(Ranges(allPorts), udp); len(c) > 0 {
			parts = append(parts, UDP+"/"+portsText(c))
		}
		if !icmp {
			parts = append(parts, ICMP)
		}
		if len(parts) == 0 {
			return "all"
		}
		return "all but " + strings.Join(parts, " ")
	}
	if len(tcp) > 0 {
		parts = append(parts, TCP+"/"+portsText(tcp))
	}
	if len(udp) > 0 {
		parts = append(parts, UDP+"/"+portsText(udp))
	}
	if icmp {
		parts = append(parts, ICMP)
	}
	if len(parts) == 0 {
		return Nothing
	}
	return strings.Join(parts, " ")
}

// key identifies the access by meaning and by the rules that decide it.
func (a *Access) key() string {
	var b strings.Builder
	for _, s := range a.Segments {
		fmt.Fprintf(&b, "%s %s %s %v %s:%d %s|", s.Proto, s.Ports, s.Verdict, s.Default, s.Prov.Pos.File, s.Prov.Pos.Line, s.Prov.What)
	}
	return b.String()
}

// Nothing is how a cell with nothing open reads.
const Nothing = "—"

func portsText(rs Ranges) string {
	if rs.full() {
		return "all"
	}
	return rs.String()
}

// decider computes segments: each part of the traffic is decided by the
// first rule that matches it.
type decider struct {
	open map[string]Ranges // undecided ports of tcp and udp
	done map[string]bool   // icmp and other decided
	segs []Segment
}

func newDecider() *decider {
	return &decider{open: map[string]Ranges{TCP: Ranges(allPorts), UDP: Ranges(allPorts)}, done: map[string]bool{}}
}

// decide gives the verdict to the still undecided traffic of a protocol
// ("" for every protocol) on the ports (nil: every port).
func (d *decider) decide(proto string, ports []policy.PortRange, v policy.Verdict, prov policy.Provenance, def bool) {
	protos := []string{proto}
	if proto == "" {
		protos = Protocols
	}
	for _, p := range protos {
		if !hasPorts(p) {
			if !d.done[p] {
				d.done[p] = true
				d.segs = append(d.segs, Segment{Proto: p, Verdict: v, Prov: prov, Default: def})
			}
			continue
		}
		want := Ranges(allPorts)
		if len(ports) > 0 {
			want = normal(ports)
		}
		hit := intersect(d.open[p], want)
		for _, r := range hit {
			d.segs = append(d.segs, Segment{Proto: p, Ports: r, Verdict: v, Prov: prov, Default: def})
		}
		d.open[p] = subtract(d.open[p], want)
	}
}

// access finishes: what is left gets the default; segments are sorted by
// protocol and port.
func (d *decider) access(v policy.Verdict, prov policy.Provenance) *Access {
	d.decide("", nil, v, prov, true)
	order := map[string]int{TCP: 0, UDP: 1, ICMP: 2, Other: 3}
	slices.SortStableFunc(d.segs, func(a, b Segment) int {
		if order[a.Proto] != order[b.Proto] {
			return order[a.Proto] - order[b.Proto]
		}
		return int(a.Ports.From) - int(b.Ports.From)
	})
	return &Access{Segments: d.segs}
}

// AllPorts is every tcp or udp port.
func AllPorts() Ranges { return Ranges(allPorts) }

// Intersect returns the ports in both lists.
func (rs Ranges) Intersect(other Ranges) Ranges { return intersect(normal(rs), normal(other)) }

// Minus returns the ports of rs that are not in other.
func (rs Ranges) Minus(other Ranges) Ranges { return subtract(normal(rs), normal(other)) }

// Text renders the ranges as a cell does: "all" or 80,443,10000-10100.
func (rs Ranges) Text() string { return portsText(rs) }

// Union returns the ports in either list.
func (rs Ranges) Union(other Ranges) Ranges {
	return normal(append(slices.Clone([]policy.PortRange(rs)), other...))
}
