package vmlab

import (
	"fmt"
	"net/netip"
	"strings"
)

// networkdConfig is the VM's static network: its addresses on eth0 (the
// kernel's names: net.ifnames=0), no router advertisements and no default
// route, so every host of the lab is a neighbour on the link.
func networkdConfig(addrs []netip.Prefix) string {
	var b strings.Builder
	b.WriteString("# vmlab: the VM's addresses on the lab's bridge\n[Match]\nName=eth0\n\n[Network]\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "Address=%s\n", a)
	}
	return b.String()
}
