package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// The failsafe ruleset is what a node admits while its own ruleset is not
// (yet) loaded: at boot until the load succeeds, and for good when a load
// fails (a bad file, a kernel without a module the ruleset uses). It admits
// loopback, replies, the ICMP and DHCP a network needs and the admins on
// their admin ports, and nothing else, in both families; forwarded traffic
// gets replies only. It is written with the fewest kernel features rampart
// can do with (conntrack and the protocol matches: no sets, no comments, no
// multiport, no hop-limit match), so that what breaks the ruleset leaves
// the failsafe standing, and in the iptables backend the script can still
// add its rules one by one when its restore fails. It never admits more
// than the spec: deny rules that cover part of an admin range come first.
const (
	ChainFailsafe        = "RAMPART-FAILSAFE"     // jumped to first from INPUT while the ruleset is not loaded
	ChainFailsafeForward = "RAMPART-FAILSAFE-FWD" // jumped to first from FORWARD meanwhile: replies only
	NFTFailsafeTable     = "inet rampart_failsafe"
)

// literal is a failsafe rule over one literal source prefix.
type literal struct {
	src     netip.Prefix // the invalid Prefix for any source
	proto   spec.Protocol
	ports   []policy.PortRange
	verdict policy.Verdict // Accept, or Drop for a deny rule
}

// failsafeRules lists, in the order of the role's rules, the admins' allow
// rules with their addresses written out, and before them every deny rule
// narrowed to the part of its sources inside an admin range: the first
// match over this list accepts a packet only where the role's whole rule
// list accepts it.
func failsafeRules(p *policy.Policy, role string, f policy.Family) []literal {
	var admins []netip.Prefix
	if s := p.Set("admins"); s != nil {
		admins = s.Members[f]
	}
	var out []literal
	for _, r := range p.RulesFor(role) {
		if !p.Renders(r, f) {
			continue
		}
		lit := literal{proto: r.Proto, ports: r.Ports, verdict: r.Verdict}
		if r.Verdict == policy.Accept {
			if r.From.Kind != policy.SetSource || r.From.Set != "admins" {
				continue // the failsafe admits the admins only
			}
			if r.Proto == spec.ICMP {
				continue // echo: the ruleset rate-limits it, the failsafe (no limit module) leaves it out
			}
			for _, a := range admins {
				lit.src = a
				out = append(out, lit)
			}
			continue
		}
		lit.verdict = policy.Drop
		switch r.From.Kind {
		case policy.AnySource:
			out = append(out, lit)
		case policy.CIDRSource:
			if overlapsAny(r.From.CIDR, admins) {
				lit.src = r.From.CIDR
				out = append(out, lit)
			}
		case policy.SetSource:
			for _, m := range p.Set(r.From.Set).Members[f] {
				for _, a := range admins {
					if m.Overlaps(a) {
						lit.src = narrower(m, a)
						out = append(out, lit)
					}
				}
			}
		}
	}
	return slices.CompactFunc(out, func(a, b literal) bool {
		return a.src == b.src && a.proto == b.proto && a.verdict == b.verdict && slices.Equal(a.ports, b.ports)
	})
}

func overlapsAny(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// narrower returns the smaller of two overlapping prefixes: their
// intersection.
func narrower(a, b netip.Prefix) netip.Prefix {
	if a.Bits() >= b.Bits() {
		return a
	}
	return b
}

// renderFailsafe writes failsafe.v4 or failsafe.v6: iptables-restore input
// for the chains RAMPART-FAILSAFE and RAMPART-FAILSAFE-FWD.
func renderFailsafe(p *policy.Policy, role string, f policy.Family) []byte {
	var b strings.Builder
	b.WriteString(header(p, role, fmt.Sprintf("failsafe rules (%s)", f)))
	b.WriteString("# What the node admits while its ruleset cannot be loaded: loopback, replies, the ICMP and DHCP\n")
	b.WriteString("# a network needs, the admins on their admin ports. The script jumps here first from INPUT and\n")
	b.WriteString("# FORWARD at boot until the ruleset is loaded, and for good when loading it fails.\n")
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n:%s - [0:0]\n", ChainFailsafe, ChainFailsafeForward)
	add := func(match, target string) {
		fmt.Fprintf(&b, "-A %s", ChainFailsafe)
		if match != "" {
			b.WriteString(" " + match)
		}
		fmt.Fprintf(&b, " -j %s\n", target)
	}
	add("-i lo", "ACCEPT")
	if f == policy.V4 {
		add("-p icmp -m icmp --icmp-type redirect", "DROP")
	} else {
		add("-p ipv6-icmp -m icmp6 --icmpv6-type redirect", "DROP")
	}
	add("-m conntrack --ctstate ESTABLISHED,RELATED", "ACCEPT")
	for _, r := range infraRules(f) {
		// The kernel itself ignores neighbour discovery that crossed a
		// router (hop limit below 255); the failsafe does without the
		// hop-limit match.
		add(strings.Replace(r.ipt, " -m hl --hl-eq 255", "", 1), "ACCEPT")
	}
	for _, l := range failsafeRules(p, role, f) {
		src := ""
		if l.src.IsValid() {
			src = "-s " + l.src.String() + " "
		}
		for _, m := range literalMatches(l, f) {
			add(strings.TrimSpace(src+m), strings.ToUpper(string(l.verdict)))
		}
	}
	add("", "DROP")
	fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n", ChainFailsafeForward)
	fmt.Fprintf(&b, "-A %s -j DROP\n", ChainFailsafeForward)
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

// literalMatches renders a failsafe rule's protocol and ports, one rule per
// port range (no multiport module).
func literalMatches(l literal, f policy.Family) []string {
	switch l.proto {
	case "":
		return []string{""}
	case spec.ICMP:
		if f == policy.V6 {
			return []string{"-p ipv6-icmp -m icmp6 --icmpv6-type echo-request"}
		}
		return []string{"-p icmp -m icmp --icmp-type echo-request"}
	}
	if len(l.ports) == 0 {
		return []string{"-p " + string(l.proto)}
	}
	out := make([]string, len(l.ports))
	for i, pr := range l.ports {
		out[i] = fmt.Sprintf("-p %s -m %[1]s --dport %s", l.proto, portArg(pr))
	}
	return out
}

// renderNFTFailsafe writes failsafe.nft: table inet rampart_failsafe, made
// anew in one transaction, with input and forward chains whose policy is
// drop, hooked just before rampart's own.
func renderNFTFailsafe(p *policy.Policy, role string) []byte {
	var b strings.Builder
	b.WriteString(header(p, role, "nftables failsafe ruleset (IPv4 and IPv6)"))
	b.WriteString("# What the node admits while its ruleset cannot be loaded: loopback, replies, the ICMP and DHCP\n")
	b.WriteString("# a network needs, the admins on their admin ports. The script loads it at boot until the\n")
	b.WriteString("# ruleset is loaded, and keeps it when loading the ruleset fails. No sets, no fib.\n")
	fmt.Fprintf(&b, "table %s\ndelete table %[1]s\ntable %[1]s {\n", NFTFailsafeTable)
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority filter - 10; policy drop;\n")
	add := func(stmt string) { fmt.Fprintf(&b, "\t\t%s\n", stmt) }
	add(`iifname "lo" accept`)
	add("icmp type redirect drop")
	add("icmpv6 type nd-redirect drop")
	add("ct state established,related accept")
	for _, f := range policy.Families {
		for _, r := range infraRules(f) {
			add(strings.Replace(r.nft, " ip6 hoplimit 255", "", 1) + " accept")
		}
	}
	for _, f := range policy.Families {
		for _, l := range failsafeRules(p, role, f) {
			src := ""
			if l.src.IsValid() {
				src = nftFamily(f) + " saddr " + l.src.String() + " "
			} else if l.proto != spec.ICMP {
				src = nfproto(f) + " "
			}
			for _, m := range nftLiteralMatches(l, f) {
				add(strings.Join(strings.Fields(src+m+" "+nftVerdict(l.verdict)), " "))
			}
		}
	}
	b.WriteString("\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter - 10; policy drop;\n")
	add("ct state established,related accept")
	b.WriteString("\t}\n}\n")
	return []byte(b.String())
}

// nfproto matches a family in table inet.
func nfproto(f policy.Family) string {
	if f == policy.V6 {
		return "meta nfproto ipv6"
	}
	return "meta nfproto ipv4"
}

func nftLiteralMatches(l literal, f policy.Family) []string {
	switch l.proto {
	case "":
		return []string{""}
	case spec.ICMP:
		if f == policy.V6 {
			return []string{"icmpv6 type echo-request"}
		}
		return []string{"icmp type echo-request"}
	}
	if len(l.ports) == 0 {
		return []string{"meta l4proto " + string(l.proto)}
	}
	out := make([]string, len(l.ports))
	for i, pr := range l.ports {
		out[i] = fmt.Sprintf("%s dport %s", l.proto, pr)
	}
	return out
}
