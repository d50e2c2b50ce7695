package trace

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
)

// The conditions both backends compile into.

// Properties a packet may lack (MissingError.Need).
const (
	needSrcPort = "source port"
	needDst     = "destination address"
	needIface   = "input interface"
	needHop     = "hop limit"
	needOrig    = "original port in conntrack (an echo request has none)"
)

func not(c cond) cond {
	return func(pk *Packet) (bool, string) {
		ok, need := c(pk)
		return !ok, need
	}
}

func negate(c cond, neg bool) cond {
	if neg {
		return not(c)
	}
	return c
}

// familyCond holds for packets of the family.
func familyCond(f policy.Family) cond {
	return func(pk *Packet) (bool, string) { return pk.family() == f, "" }
}

// l4Cond holds for packets of one of the protocols, named as iptables-save
// does (tcp, udp, icmp, ipv6-icmp) or by number.
func l4Cond(protos ...string) cond {
	return func(pk *Packet) (bool, string) {
		for _, p := range protos {
			if p == pk.l4() || p == strconv.Itoa(pk.l4Number()) {
				return true, ""
			}
		}
		return false, ""
	}
}

// portRange is an inclusive range of ports.
type portRange struct{ from, to uint16 }

// parsePortRange reads 80, or a range written with sep (10000:10100 in
// iptables, 10000-10100 in nft).
func parsePortRange(s, sep string) (portRange, bool) {
	a, b, isRange := strings.Cut(s, sep)
	from, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return portRange{}, false
	}
	to := from
	if isRange {
		if to, err = strconv.ParseUint(b, 10, 16); err != nil || to < from {
			return portRange{}, false
		}
	}
	return portRange{uint16(from), uint16(to)}, true
}

// portCond holds for a tcp or udp packet whose destination (or source) port
// is in one of the ranges; an echo request has no ports.
func portCond(rs []portRange, source bool) cond {
	return func(pk *Packet) (bool, string) {
		if pk.l4() != "tcp" && pk.l4() != "udp" {
			return false, ""
		}
		port := pk.DstPort
		if source {
			if pk.SrcPort == 0 {
				return false, needSrcPort
			}
			port = pk.SrcPort
		}
		for _, r := range rs {
			if port >= r.from && port <= r.to {
				return true, ""
			}
		}
		return false, ""
	}
}

// origPortCond holds when the destination (or source) port of the
// connection before any NAT is in one of the ranges: the packet's own, as
// it is not NATed. What conntrack keeps in place of ports for an echo
// request is left undecided.
func origPortCond(rs []portRange, source bool) cond {
	ports := portCond(rs, source)
	return func(pk *Packet) (bool, string) {
		if pk.l4() != "tcp" && pk.l4() != "udp" {
			return false, needOrig
		}
		return ports(pk)
	}
}

// addrMatcher tells whether an address is in something: a prefix list, a
// set.
type addrMatcher func(netip.Addr) bool

func prefixesMatcher(ps []netip.Prefix) addrMatcher {
	return func(a netip.Addr) bool {
		for _, p := range ps {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}

func rangesMatcher(rs []drift.Range) addrMatcher {
	return func(a netip.Addr) bool {
		for _, r := range rs {
			if r.From.Is4() == a.Is4() && a.Compare(r.From) >= 0 && a.Compare(r.To) <= 0 {
				return true
			}
		}
		return false
	}
}

// addrCond holds when the packet's source (or destination) is in m.
func addrCond(m addrMatcher, dst bool) cond {
	return func(pk *Packet) (bool, string) {
		if !dst {
			return m(pk.Src), ""
		}
		if !pk.Dst.IsValid() {
			return false, needDst
		}
		return m(pk.Dst), ""
	}
}

// ifaceCond holds when the packet came in on the interface: a name, or a
// prefix ending in + (iptables) or * (nft) that matches every name it
// starts. A packet without In came in on some interface that is not lo.
func ifaceCond(pattern string) cond {
	prefix, wild := strings.CutSuffix(pattern, "+")
	if !wild {
		prefix, wild = strings.CutSuffix(pattern, "*")
	}
	matches := func(name string) bool {
		if wild {
			return strings.HasPrefix(name, prefix)
		}
		return name == prefix
	}
	return func(pk *Packet) (bool, string) {
		switch {
		case pk.In != "":
			return matches(pk.In), ""
		case wild && prefix == "":
			return true, "" // every interface
		case !wild && prefix == "lo":
			return false, ""
		}
		return false, needIface
	}
}

// stateCond holds when the packet's conntrack state is one of the states
// (NEW, ESTABLISHED, ...); the virtual states SNAT and DNAT never hold: the
// packet is not NATed.
func stateCond(states []string) cond {
	return func(pk *Packet) (bool, string) {
		for _, s := range states {
			if s == pk.State {
				return true, ""
			}
		}
		return false, ""
	}
}

// knownState reports whether a conntrack state (upper case) is one a
// packet's state is compared with: the packet's states and the virtual
// SNAT and DNAT.
func knownState(s string) bool {
	if s == "SNAT" || s == "DNAT" {
		return true
	}
	for _, k := range States {
		if k == s {
			return true
		}
	}
	return false
}

// icmpCond holds for an echo request of the family's ICMP whose type (any
// type when typ < 0) and code (when given: code >= 0) the rule names.
func icmpCond(proto string, typ, code int) cond {
	return func(pk *Packet) (bool, string) {
		if pk.l4() != proto {
			return false, ""
		}
		return (typ < 0 || pk.icmpType() == typ) && (code < 0 || code == 0), ""
	}
}

// hopCond compares the packet's TTL or hop limit: op is eq, lt or gt.
func hopCond(op string, n int) cond {
	return func(pk *Packet) (bool, string) {
		if pk.HopLimit == 0 {
			return false, needHop
		}
		h := int(pk.HopLimit)
		switch op {
		case "lt":
			return h < n, ""
		case "gt":
			return h > n, ""
		}
		return h == n, ""
	}
}

func always(pk *Packet) (bool, string) { return true, "" }

func never(pk *Packet) (bool, string) { return false, "" }

func anyOf(cs []cond) cond {
	return func(pk *Packet) (bool, string) {
		need := ""
		for _, c := range cs {
			ok, n := c(pk)
			if n != "" {
				need = n
				continue
			}
			if ok {
				return true, ""
			}
		}
		return false, need
	}
}
