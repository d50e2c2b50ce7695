package trace

import (
	"net/netip"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Packet is the first packet of a connection to the node. Properties left
// zero are not known: a rule that needs one makes Trace return a
// *MissingError, never a guess.
type Packet struct {
	Src   netip.Addr    // source address; its family picks the rules (an IPv4-mapped IPv6 address is IPv4)
	Dst   netip.Addr    // an address of the node; optional, only a rule matching destinations needs it
	Proto spec.Protocol // tcp, udp, or icmp: an echo request (ICMP for IPv4, ICMPv6 for IPv6)
	// SrcPort is the tcp or udp source port; optional, only a rule
	// matching source ports needs it (DHCP replies come from 67 or 547).
	SrcPort uint16
	DstPort uint16 // the tcp or udp destination port; ignored for icmp
	// State is the conntrack state: NEW (when empty), ESTABLISHED, RELATED,
	// INVALID or UNTRACKED. The packet is never NATed: its destination is
	// the node itself.
	State string
	// In is the input interface; empty: some interface that is not lo (a
	// rule about lo is decided, one about another interface needs it).
	In string
	// HopLimit is the IPv4 TTL or IPv6 hop limit; optional (0), only a
	// rule matching it needs it.
	HopLimit uint8
}

// States a packet's conntrack state may be.
var States = []string{"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"}

// normalise checks the packet and fills its defaults.
func (pk Packet) normalise() (Packet, error) {
	if !pk.Src.IsValid() {
		return pk, &PacketError{Msg: "no source address"}
	}
	pk.Src = pk.Src.Unmap()
	if pk.Dst.IsValid() {
		pk.Dst = pk.Dst.Unmap()
		if pk.Dst.Is4() != pk.Src.Is4() {
			return pk, &PacketError{Msg: "source " + pk.Src.String() + " and destination " + pk.Dst.String() + " are of different families"}
		}
	}
	switch pk.Proto {
	case spec.TCP, spec.UDP:
		if pk.DstPort == 0 {
			return pk, &PacketError{Msg: string(pk.Proto) + " needs a destination port"}
		}
	case spec.ICMP:
		pk.SrcPort, pk.DstPort = 0, 0
	default:
		return pk, &PacketError{Msg: "protocol " + string(pk.Proto) + ": want tcp, udp or icmp"}
	}
	pk.State = strings.ToUpper(pk.State)
	if pk.State == "" {
		pk.State = "NEW"
	}
	known := false
	for _, s := range States {
		known = known || s == pk.State
	}
	if !known {
		return pk, &PacketError{Msg: "conntrack state " + pk.State + ": want one of " + strings.Join(States, ", ")}
	}
	return pk, nil
}

func (pk *Packet) family() policy.Family {
	if pk.Src.Is4() {
		return policy.V4
	}
	return policy.V6
}

// l4 names the packet's protocol the way iptables-save prints it: tcp, udp,
// icmp or ipv6-icmp.
func (pk *Packet) l4() string {
	if pk.Proto == spec.ICMP && !pk.Src.Is4() {
		return "ipv6-icmp"
	}
	return string(pk.Proto)
}

// l4Number is the packet's IP protocol number.
func (pk *Packet) l4Number() int {
	switch pk.l4() {
	case "tcp":
		return 6
	case "udp":
		return 17
	case "icmp":
		return 1
	}
	return 58
}

// icmpType is the type of an echo request in the packet's family; its code
// is 0.
func (pk *Packet) icmpType() int {
	if pk.Src.Is4() {
		return 8
	}
	return 128
}
