// Package ranges is rampart's one copy of port-range and prefix arithmetic:
// sets of ports (merge, subtract, intersect, complement, contains, overlap)
// and prefixes (last address, halves, the prefixes around a hole, cover,
// splitting a prefix into pieces that every named prefix treats alike).
//
// "All ports" is the whole port field, 0-65535, everywhere: what a rule
// without ports matches in the kernel and in an AWS security group.
package ranges

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxPort is the highest port (and the highest number a port range holds).
const MaxPort = 65535

// PortRange is an inclusive range of ports (or, for ICMP, of types).
type PortRange struct {
	From, To uint16 // first and last port; From == To for a single port
}

// String renders 80 or 10000-10100.
func (r PortRange) String() string {
	if r.From == r.To {
		return strconv.Itoa(int(r.From))
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Contains reports whether the port is in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.From && port <= r.To }

// Ports is a set of ports: sorted, disjoint ranges that do not touch. The
// methods take and return such sets; Merge makes one of any list of ranges.
type Ports []PortRange

// AllPorts is every port, 0-65535.
func AllPorts() Ports { return Ports{{From: 0, To: MaxPort}} }

// Span is the ports from one to another, inclusive.
func Span(from, to uint16) Ports { return Ports{{From: from, To: to}} }

// Merge sorts ranges and merges those that overlap or touch.
func Merge(in []PortRange) Ports {
	if len(in) == 0 {
		return nil
	}
	rs := slices.Clone(in)
	slices.SortFunc(rs, func(a, b PortRange) int { return int(a.From) - int(b.From) })
	out := Ports{rs[0]}
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if uint32(r.From) <= uint32(last.To)+1 {
			last.To = max(last.To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

// Union returns the ports in either set.
func (a Ports) Union(b Ports) Ports { return Merge(append(slices.Clone(a), b...)) }

// Intersect returns the ports in both sets.
func (a Ports) Intersect(b Ports) Ports {
	var out Ports
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].From, b[j].From), min(a[i].To, b[j].To)
		if lo <= hi {
			out = append(out, PortRange{From: lo, To: hi})
		}
		if a[i].To < b[j].To {
			i++
		} else {
			j++
		}
	}
	return out
}

// Minus returns the ports of a that are not in b.
func (a Ports) Minus(b Ports) Ports {
	var out Ports
	for _, x := range a {
		from, to := int(x.From), int(x.To)
		for _, y := range b {
			if int(y.To) < from || int(y.From) > to {
				continue
			}
			if int(y.From) > from {
				out = append(out, PortRange{From: uint16(from), To: y.From - 1})
			}
			from = int(y.To) + 1
			if from > to {
				break
			}
		}
		if from <= to {
			out = append(out, PortRange{From: uint16(from), To: uint16(to)})
		}
	}
	return out
}

// Complement returns every port not in the set.
func (a Ports) Complement() Ports { return AllPorts().Minus(a) }

// Contains reports whether the port is in the set.
func (a Ports) Contains(port uint16) bool {
	i, found := slices.BinarySearchFunc(a, port, func(r PortRange, p uint16) int {
		switch {
		case r.To < p:
			return -1
		case r.From > p:
			return 1
		}
		return 0
	})
	return found && a[i].Contains(port)
}

// Overlaps reports whether some port is in both sets.
func (a Ports) Overlaps(b Ports) bool { return len(a.Intersect(b)) > 0 }

// Full reports whether the set is every port.
func (a Ports) Full() bool { return len(a) == 1 && a[0] == PortRange{From: 0, To: MaxPort} }

// Size is how many ports the set holds.
func (a Ports) Size() int {
	n := 0
	for _, r := range a {
		n += int(r.To) - int(r.From) + 1
	}
	return n
}

// String renders 80,443,10000-10100.
func (a Ports) String() string {
	parts := make([]string, len(a))
	for i, r := range a {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Text renders the set for people: "all" when it is every port, else as
// String does.
func (a Ports) Text() string {
	if a.Full() {
		return "all"
	}
	return a.String()
}

// ParsePort reads a port number, 0 to 65535, in decimal digits only.
func ParsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint16(n), n <= MaxPort
}

// ParseList reads a comma-separated list of ports and ranges whose ends are
// joined by sep: "22,80:90" with sep ":" (iptables), "22,80-90" with "-".
func ParseList(s, sep string) (Ports, bool) {
	var rs []PortRange
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, sep)
		a, ok1 := ParsePort(lo)
		b, ok2 := a, true
		if isRange {
			b, ok2 = ParsePort(hi)
		}
		if !ok1 || !ok2 || a > b {
			return nil, false
		}
		rs = append(rs, PortRange{From: a, To: b})
	}
	return Merge(rs), true
}
