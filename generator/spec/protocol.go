package spec

import (
	"fmt"
	"strconv"
	"strings"
)

// SCTP is a port protocol like TCP and UDP (its entries have ports).
const SCTP Protocol = "sctp"

// NamedProtocols are the IP protocols without ports a port list may name
// by word, with their IP protocol numbers (IANA): IP-in-IP (calico's
// encapsulation), ESP (IPsec), GRE and VRRP (keepalived). Any other is
// written proto/NUMBER.
var NamedProtocols = map[string]uint8{"ipip": 4, "gre": 47, "esp": 50, "vrrp": 112}

// reservedNumbers are the IP protocol numbers proto/NUMBER may not name:
// those a port list names by word (tcp, udp, sctp, icmp) and IPv6's
// extension headers, which the kernel's protocol match skips over.
var reservedNumbers = map[int]string{
	0: "IPv6 hop-by-hop options, an extension header", 1: "ICMP: write icmp", 6: "TCP: write PORT/tcp",
	17: "UDP: write PORT/udp", 43: "an IPv6 routing header", 44: "an IPv6 fragment header",
	58: "ICMPv6: write icmp", 59: "IPv6's no-next-header", 60: "IPv6 destination options, an extension header",
	132: "SCTP: write PORT/sctp", 255: "reserved",
}

// ProtocolNumber returns the protocol of an IP protocol number: what a port
// entry such as ipip or proto/41 holds.
func ProtocolNumber(n uint8) Protocol { return Protocol(strconv.Itoa(int(n))) }

// Number returns the IP protocol number of a protocol without ports (ipip,
// proto/41); ok is false for tcp, udp, sctp, icmp and every protocol ("").
func (p Protocol) Number() (uint8, bool) {
	if p == "" || p[0] < '0' || p[0] > '9' {
		return 0, false
	}
	n, err := strconv.Atoi(string(p))
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return uint8(n), true
}

// HasPorts reports whether entries of the protocol name ports: tcp, udp
// and sctp.
func (p Protocol) HasPorts() bool { return p == TCP || p == UDP || p == SCTP }

// Name renders the protocol the way a port list writes it: tcp, udp,
// sctp, icmp, a word of NamedProtocols or proto/NUMBER.
func (p Protocol) Name() string {
	n, ok := p.Number()
	if !ok {
		return string(p)
	}
	return NumberName(n)
}

// NumberName names an IP protocol number the way a port list writes it.
func NumberName(n uint8) string {
	for name, num := range NamedProtocols {
		if num == n {
			return name
		}
	}
	return fmt.Sprintf("proto/%d", n)
}

// protocolEntry decodes an entry that is a protocol without ports: icmp,
// a word of NamedProtocols or proto/NUMBER. ok is false when s is none of
// them; problem, when not empty, says what is wrong with a proto/NUMBER.
func protocolEntry(s string) (p Protocol, ok bool, problem string) {
	if s == string(ICMP) {
		return ICMP, true, ""
	}
	if n, named := NamedProtocols[s]; named {
		return ProtocolNumber(n), true, ""
	}
	num, found := strings.CutPrefix(s, "proto/")
	if !found {
		return "", false, ""
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || n > 255 {
		return "", true, fmt.Sprintf("%q is not an IP protocol number (0-255)", num)
	}
	if why, bad := reservedNumbers[n]; bad {
		return "", true, fmt.Sprintf("protocol %d is %s", n, why)
	}
	return ProtocolNumber(uint8(n)), true, ""
}
