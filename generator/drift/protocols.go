package drift

// protocolNames are the names /etc/protocols gives the IP protocols that
// rampart writes by number (-p 4, meta l4proto 4): iptables-save and nft
// print a number by its name where the file names it, so a live rule says
// "ipencap" where rampart wrote 4. Both sides are compared by number.
var protocolNames = map[string]string{
	"ipencap": "4", "ipv6": "41", "gre": "47", "esp": "50", "ah": "51",
	"ipip": "94", "vrrp": "112", "l2tp": "115", "udplite": "136",
}

// protoNumber is the number of a protocol name of protocolNames, or the
// word itself.
func protoNumber(w string) string {
	if n, ok := protocolNames[w]; ok {
		return n
	}
	return w
}
