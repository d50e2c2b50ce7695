package drift

// protocolNames are the names /etc/protocols (Debian's netbase, as Flatcar's
// and Fedora's files, both from IANA's keywords) gives the IP protocols that
// rampart writes by number (-p 4, meta l4proto 4): iptables-save and nft
// print a number by its name where the node's file names it, so a live rule
// says "ipencap" where rampart wrote 4. Both sides are compared by number.
// The names rampart itself writes (tcp, udp, icmp, ipv6-icmp, sctp) are not
// here: they are compared as written.
var protocolNames = map[string]string{
	"igmp": "2", "ggp": "3", "ip-encap": "4", "ipencap": "4", "st": "5", "egp": "8",
	"igp": "9", "pup": "12", "hmp": "20", "xns-idp": "22", "rdp": "27", "iso-tp4": "29",
	"dccp": "33", "xtp": "36", "ddp": "37", "idpr-cmtp": "38", "ipv6": "41",
	"ipv6-route": "43", "ipv6-frag": "44", "idrp": "45", "rsvp": "46", "gre": "47",
	"esp": "50", "ipsec-esp": "50", "ah": "51", "ipsec-ah": "51", "skip": "57",
	"ipv6-nonxt": "59", "ipv6-opts": "60", "cphb": "73", "rspf": "73", "vmtp": "81",
	"eigrp": "88", "ospf": "89", "ospfigp": "89", "ax.25": "93", "ipip": "94",
	"etherip": "97", "encap": "98", "pim": "103", "ipcomp": "108", "vrrp": "112",
	"l2tp": "115", "isis": "124", "fc": "133", "mobility-header": "135", "udplite": "136",
	"mpls-in-ip": "137", "manet": "138", "hip": "139", "shim6": "140", "wesp": "141",
	"rohc": "142", "ethernet": "143",
}

// protoNumber is the number of a protocol name of protocolNames, or the
// word itself.
func protoNumber(w string) string {
	if n, ok := protocolNames[w]; ok {
		return n
	}
	return w
}
