// Package firewall renders the policy IR into the files a node loads at boot:
// iptables-restore input for IPv4 and IPv6 with one ipset restore file per
// family, or one nftables ruleset.
//
// rampart owns only its own chains (RAMPART-*) and sets (rampart-*), reached by
// one jump from the built-in chains, so other owners (Docker, dcos-net,
// kube-proxy) keep theirs. Sets are replaced by restore-into-temporary, swap,
// destroy, so no packet ever sees an empty whitelist.
package firewall

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Chain names rampart declares.
const (
	ChainInput      = "RAMPART-INPUT"      // jumped to from INPUT: the host's own traffic
	ChainForward    = "RAMPART-FORWARD"    // jumped to from FORWARD: traffic the node routes
	ChainPublished  = "RAMPART-PUBLISHED"  // new connections to published (DNATed) container ports
	ChainIsolation  = "RAMPART-ISOLATION"  // between overlays, reached from RAMPART-FORWARD
	ChainPrerouting = "RAMPART-PREROUTING" // mangle table, jumped to from PREROUTING: marks connections to the node
	ChainRPFilter   = "RAMPART-RPFILTER"   // raw table, jumped to from PREROUTING: drops spoofed sources (firewall.rpfilter)
)

// Tables rampart has chains in.
const (
	TableFilter = "filter"
	TableMangle = "mangle"
	TableRaw    = "raw"
)

// LocalMark is the one bit of the conntrack mark (ctmark) rampart owns. In
// PREROUTING of the mangle table (nftables: a prerouting chain at priority
// mangle), before any DNAT, a new connection whose destination is an
// address of the node itself gets the bit set, other bits untouched. In the
// FORWARD path only connections that were DNATed and carry the bit go to
// the published-port rules: a port published on the node (Docker -p, a
// NodePort, a hostPort) is filtered, while a container reaching a service
// address that is not the node's (a kube-proxy ClusterIP, a CNI port
// mapping for another host), DNATed on its way through, is not. kube-proxy,
// Docker and the common CNIs use packet marks or the low bits of the
// ctmark; bit 24 is left alone by all of them.
const LocalMark = 0x01000000

// localMarkIPT is LocalMark as value/mask, written as iptables-save prints
// it; localMarkNFT is it as nft lists it.
var (
	localMarkIPT = fmt.Sprintf("%#x/%#x", LocalMark, LocalMark)
	localMarkNFT = fmt.Sprintf("0x%08x", LocalMark)
)

// DockerUser is the chain Docker evaluates before its own FORWARD rules and
// never flushes; rampart creates it when Docker has not (yet). It jumps to
// RAMPART-FORWARD, which only vetoes (its accepting rules RETURN), so
// published ports, overlay isolation and the metadata services hold even
// when Docker has put its own ACCEPT rules ahead of FORWARD's jump.
const DockerUser = "DOCKER-USER"

// Jump is a rule rampart keeps in a chain it does not own:
// -t Table -I From 1 -j To.
type Jump struct {
	Table    string // filter or mangle
	From, To string // the chain holding the jump (e.g. INPUT), and rampart's chain it jumps to
	Create   bool   // From is not built in: create it when missing
}

// Jumps lists the jumps into rampart's chains, in the order the apply script
// ensures them.
// Every jump is kept the first rule of its chain: the script moves it back
// to the top when another owner (Docker, kube-proxy, a CNI) has inserted
// rules ahead of it.
func Jumps(p *policy.Policy) []Jump {
	j := []Jump{
		{Table: TableFilter, From: "INPUT", To: ChainInput},
		{Table: TableFilter, From: "FORWARD", To: ChainForward},
		{Table: TableFilter, From: DockerUser, To: ChainForward, Create: true},
		{Table: TableMangle, From: "PREROUTING", To: ChainPrerouting},
	}
	if p.RPFilter != spec.RPFilterOff {
		j = append(j, Jump{Table: TableRaw, From: "PREROUTING", To: ChainRPFilter})
	}
	return j
}

// chains lists the chains rampart declares in the filter table.
func chains(p *policy.Policy) []string {
	c := []string{ChainInput, ChainForward, ChainPublished}
	if len(p.Overlays.Networks) > 0 {
		c = append(c, ChainIsolation)
	}
	return c
}

// policyRules renders the ordered rules of a role into a chain; ports are
// matched by ports(r, f). With published, an accepting rule RETURNs: in the
// FORWARD path rampart only vetoes, it never accepts for another owner.
func policyRules(add func(match, target, comment string), p *policy.Policy, rules []policy.Rule, f policy.Family, ports func(policy.Rule, policy.Family) []string, published bool) {
	for _, r := range rules {
		if !p.Renders(r, f) {
			continue
		}
		if published && r.Proto == spec.ICMP {
			continue // echo requests are not published container ports
		}
		src := sourceMatch(r.From, f)
		target := string(r.Verdict) + rejectWith(r.Verdict, f)
		if published && r.Verdict == policy.Accept {
			target = "RETURN"
		}
		for _, m := range ports(r, f) {
			add(strings.TrimSpace(src+" "+m), target, r.Prov.Comment())
		}
	}
}

// origPortMatches matches the destination port a connection had before DNAT,
// through conntrack: the port a container publishes, not the container's own.
func origPortMatches(r policy.Rule, _ policy.Family) []string {
	if r.Proto == "" {
		return []string{""}
	}
	base := "-m conntrack --ctproto " + string(r.Proto)
	if len(r.Ports) == 0 {
		return []string{base}
	}
	out := make([]string, len(r.Ports))
	for i, pr := range r.Ports {
		out[i] = base + " --ctorigdstport " + portArg(pr)
	}
	return out
}

// renderForward writes the FORWARD side: published container ports get the
// same rules as the host's own ports, and traffic between overlays is
// isolated.
func renderForward(b *strings.Builder, p *policy.Policy, rules []policy.Rule, f policy.Family) {
	chainAdd := func(chain string) func(match, target, comment string) {
		return func(match, target, comment string) {
			fmt.Fprintf(b, "-A %s", chain)
			if match != "" {
				b.WriteString(" " + match)
			}
			fmt.Fprintf(b, " -m comment --comment %s -j %s\n", quote(comment), target)
		}
	}
	fwd, pub := chainAdd(ChainForward), chainAdd(ChainPublished)
	for _, m := range p.MetadataServices {
		if policy.FamilyOf(m) == f {
			fwd("-d "+m.String(), string(p.Default)+rejectWith(p.Default, f), p.MetadataProv.Comment())
		}
	}
	fwd("-m conntrack --ctstate DNAT -m connmark --mark "+localMarkIPT, ChainPublished, "connections to published container ports (DNAT of an address of this node)")
	pub("-m conntrack ! --ctstate DNAT", "RETURN", "not a published port: container egress, routed traffic")
	pub("-m connmark ! --mark "+localMarkIPT, "RETURN", "DNAT of an address that is not this node's: a service address (ClusterIP), container egress")
	pub("-m conntrack --ctstate ESTABLISHED,RELATED", "RETURN", "replies")
	policyRules(pub, p, rules, f, origPortMatches, true)
	fmt.Fprintf(b, "-A %s -m limit --limit %s -j LOG --log-prefix %s\n", ChainPublished, p.LogRate, quote(p.LogPrefix))
	pub("", string(p.Default)+rejectWith(p.Default, f), p.DefaultProv.Comment())
	if len(p.Overlays.Networks) > 0 {
		renderIsolation(b, p, f)
	}
}

// File is one rendered firewall file.
type File struct {
	Name     string // base name under the node's firewall directory
	Contents []byte // ipset or iptables-restore input, or an nft script, as written on the node
}

// SetName is the ipset name of a policy set in a family: rampart-admins-4.
func SetName(set string, f policy.Family) string {
	return fmt.Sprintf("rampart-%s-%d", set, f)
}

// tmpSuffix marks the temporary set a restore fills before the swap.
const tmpSuffix = "-n"

// RenderIPTables renders, for nodes of one role, the ipset and
// iptables-restore files of both families and the failsafe rules the
// script falls back to: ipset.v4, ipset.v6, iptables.v4, iptables.v6,
// failsafe.v4, failsafe.v6.
func RenderIPTables(p *policy.Policy, role string) []File {
	rules := p.RulesFor(role)
	var files []File
	for _, f := range policy.Families {
		files = append(files, File{Name: fmt.Sprintf("ipset.v%d", f), Contents: renderIPSet(p, role, rules, f)})
	}
	for _, f := range policy.Families {
		files = append(files, File{Name: fmt.Sprintf("iptables.v%d", f), Contents: renderFilter(p, role, rules, f)})
	}
	for _, f := range policy.Families {
		files = append(files, File{Name: fmt.Sprintf("failsafe.v%d", f), Contents: renderFailsafe(p, role, f)})
	}
	return files
}

// usedSets lists, in policy order, the sets the role's rules refer to in a family.
func usedSets(p *policy.Policy, rules []policy.Rule, f policy.Family) []*policy.Set {
	used := map[string]bool{}
	for _, r := range rules {
		if r.From.Kind == policy.SetSource && p.Renders(r, f) {
			used[r.From.Set] = true
		}
	}
	for _, name := range append(slices.Clone(p.Overlays.Networks), policy.OverlaysSet) {
		if s := p.Set(name); s != nil && len(s.Members[f]) > 0 {
			used[name] = true
		}
	}
	var out []*policy.Set
	for _, s := range p.Sets {
		if used[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

func header(p *policy.Policy, role, what string) string {
	return fmt.Sprintf("# rampart %s for role %s of cluster %s.\n# Generated from the cluster spec: edit the spec, not this file.\n", what, role, p.Cluster)
}

func renderIPSet(p *policy.Policy, role string, rules []policy.Rule, f policy.Family) []byte {
	var b strings.Builder
	b.WriteString(header(p, role, fmt.Sprintf("ipsets (%s)", f)))
	b.WriteString("# Every set is filled under a temporary name first; the swaps at the end put them all in place\n")
	b.WriteString("# at once. The script loads the fills of both families, checks the rules, and only then swaps.\n")
	family := "inet"
	if f == policy.V6 {
		family = "inet6"
	}
	sets := usedSets(p, rules, f)
	for _, s := range sets {
		name := SetName(s.Name, f)
		members := s.Members[f]
		opts := fmt.Sprintf("hash:net family %s hashsize %d maxelem %d", family, hashSize(len(members)), setMaxElem)
		fmt.Fprintf(&b, "# %s\n", s.Prov.What)
		fmt.Fprintf(&b, "create %s %s\n", name, opts)
		fmt.Fprintf(&b, "create %s%s %s\n", name, tmpSuffix, opts)
		fmt.Fprintf(&b, "flush %s%s\n", name, tmpSuffix)
		add := "add " + name + tmpSuffix + " "
		buf := make([]byte, 0, 64)
		for _, m := range members {
			buf = append(m.AppendTo(append(buf[:0], add...)), '\n')
			b.Write(buf)
		}
	}
	if len(sets) > 0 {
		b.WriteString("# swap: every set at once\n")
	}
	for _, s := range sets {
		fmt.Fprintf(&b, "swap %s%s %[1]s\n", SetName(s.Name, f), tmpSuffix)
	}
	for _, s := range sets {
		fmt.Fprintf(&b, "destroy %s%s\n", SetName(s.Name, f), tmpSuffix)
	}
	return []byte(b.String())
}

// setMaxElem is the element limit of every set, whatever its member count.
// It is a limit, not an allocation (a set takes memory for what it holds),
// and it must not change from one version of a node's files to the next:
// `ipset -exist restore` refuses to create a set that exists with another
// maxelem, so a limit that grew with the cluster made re-applying the
// firewall of a cluster grown past 32,768 members (or shrunk below) fail,
// leaving the old rules in place. hashsize may differ between runs: the
// kernel resizes hashes itself and ignores it when it compares.
const setMaxElem = 1 << 24

// hashSize is the initial hash size, a power of two near the member count.
func hashSize(n int) int {
	h := 1024
	for h < n {
		h *= 2
	}
	return h
}

func renderFilter(p *policy.Policy, role string, rules []policy.Rule, f policy.Family) []byte {
	var b strings.Builder
	b.WriteString(header(p, role, fmt.Sprintf("filter rules (%s)", f)))
	b.WriteString("# Loaded with --noflush: only rampart's own chains (filter; RAMPART-PREROUTING in mangle;\n# RAMPART-RPFILTER in raw) are replaced; the jumps to them are kept first in their chains.\n")
	if p.RPFilter != spec.RPFilterOff {
		renderRaw(&b, p, f)
	}
	b.WriteString("*filter\n")
	for _, c := range chains(p) {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	add := func(match, target, comment string) {
		fmt.Fprintf(&b, "-A %s", ChainInput)
		if match != "" {
			b.WriteString(" " + match)
		}
		fmt.Fprintf(&b, " -m comment --comment %s -j %s\n", quote(comment), target)
	}
	add("-i lo", "ACCEPT", "loopback")
	// A redirect would be RELATED to a connection the node made: it is
	// decided before the replies, so no router can reroute the node.
	if f == policy.V4 {
		add("-p icmp -m icmp --icmp-type redirect", "DROP", "ICMP redirects: routes are not changed from outside")
	} else {
		add("-p ipv6-icmp -m icmp6 --icmpv6-type redirect", "DROP", "ICMPv6 redirects: routes are not changed from outside")
	}
	add("-m conntrack --ctstate ESTABLISHED,RELATED", "ACCEPT", "replies to connections this node made or accepted")
	add("-m conntrack --ctstate INVALID", "DROP", "invalid packets")
	for _, r := range infraRules(f) {
		add(r.ipt, "ACCEPT", r.comment)
	}
	policyRules(add, p, rules, f, protoMatches, false)
	fmt.Fprintf(&b, "-A %s -m limit --limit %s -j LOG --log-prefix %s\n", ChainInput, p.LogRate, quote(p.LogPrefix))
	add("", string(p.Default)+rejectWith(p.Default, f), p.DefaultProv.Comment())
	renderForward(&b, p, rules, f)
	b.WriteString("COMMIT\n")
	renderMangle(&b)
	return []byte(b.String())
}

// infraRule is a packet every node must accept whatever the spec says: the
// ICMP a network needs, neighbour discovery, and the replies of DHCP servers
// to the node's own client. The failsafe ruleset keeps them too.
type infraRule struct {
	ipt, nft string // the match in iptables and nft syntax
	comment  string
}

// infraRules lists the family's infrastructure rules. Neighbour discovery
// is accepted with hop limit 255 only (it cannot have crossed a router),
// router advertisements only from link-local sources. DHCPv6 replies come
// from a server's or relay's link-local address to the client's port 546;
// conntrack does not see them as replies (the request went to a multicast
// group), so without this rule a node never gets its DHCPv6 address. DHCPv4
// replies (port 67 to 68) mostly reach the client through a packet socket,
// which no firewall sees; renewals of clients with a UDP socket do not.
func infraRules(f policy.Family) []infraRule {
	if f == policy.V4 {
		var out []infraRule
		for _, t := range []string{"destination-unreachable", "time-exceeded", "parameter-problem"} {
			out = append(out, infraRule{"-p icmp -m icmp --icmp-type " + t, "icmp type " + t, "ICMP the network needs: " + t})
		}
		return append(out, infraRule{"-p udp -m udp --sport 67 --dport 68", "meta nfproto ipv4 udp sport 67 udp dport 68", "DHCPv4 replies to this node's client"})
	}
	var out []infraRule
	for _, t := range []string{"destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem"} {
		out = append(out, infraRule{"-p ipv6-icmp -m icmp6 --icmpv6-type " + t, "icmpv6 type " + t, "ICMPv6 the network needs: " + t})
	}
	out = append(out, infraRule{"-s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type router-advertisement -m hl --hl-eq 255",
		"ip6 saddr fe80::/10 icmpv6 type nd-router-advert ip6 hoplimit 255", "neighbour discovery: router-advertisement, from a link-local router"})
	for _, t := range []struct{ ipt, nft string }{{"neighbour-solicitation", "nd-neighbor-solicit"}, {"neighbour-advertisement", "nd-neighbor-advert"}} {
		out = append(out, infraRule{"-p ipv6-icmp -m icmp6 --icmpv6-type " + t.ipt + " -m hl --hl-eq 255", "icmpv6 type " + t.nft + " ip6 hoplimit 255", "neighbour discovery: " + t.ipt})
	}
	return append(out,
		infraRule{"-s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 130", "ip6 saddr fe80::/10 icmpv6 type mld-listener-query", "multicast listener query (MLD)"},
		infraRule{"-s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 143", "ip6 saddr fe80::/10 icmpv6 type mld2-listener-report", "multicast listener report (MLDv2)"},
		infraRule{"-s fe80::/10 -p udp -m udp --sport 547 --dport 546", "ip6 saddr fe80::/10 udp sport 547 udp dport 546", "DHCPv6 replies to this node's client"},
	)
}

// renderRaw writes the raw table: RAMPART-RPFILTER drops a packet whose
// source address the node would not route back the way it came (strict) or
// at all (loose), before conntrack sees it. A source trusted by address is
// only as good as the address: this is what keeps a spoofed member address
// arriving on the public interface out. DHCPv4 replies to a client that has
// no address yet are let through; the kernel's check passes loopback and
// the unspecified IPv6 source (duplicate address detection) by itself.
func renderRaw(b *strings.Builder, p *policy.Policy, f policy.Family) {
	fmt.Fprintf(b, "*%s\n:%s - [0:0]\n", TableRaw, ChainRPFilter)
	add := func(match, target, comment string) {
		fmt.Fprintf(b, "-A %s %s -m comment --comment %s -j %s\n", ChainRPFilter, match, quote(comment), target)
	}
	for _, r := range rpfilterRules(p, f) {
		add(r.ipt, r.target, r.comment)
	}
	b.WriteString("COMMIT\n")
}

// rpRule is one rule of the reverse-path check, in both syntaxes.
type rpRule struct {
	ipt, nft string // match
	target   string // RETURN (let it through) or DROP
	comment  string
}

// rpfilterRules lists the reverse-path check of a family. DHCPv4 replies to
// a client that has no address yet, and the unspecified IPv6 source of
// duplicate address detection, have no route back and pass; a link-local
// source is always checked against the interface it came in on (as the
// kernel's own rpfilter match does), even in loose mode, where a lookup
// without the interface would find no route for it.
func rpfilterRules(p *policy.Policy, f policy.Family) []rpRule {
	var out []rpRule
	if f == policy.V4 {
		out = append(out, rpRule{"-p udp -m udp --sport 67 --dport 68", "meta nfproto ipv4 udp sport 67 udp dport 68", "RETURN", "DHCPv4 replies to a client without an address yet"})
	} else {
		out = append(out,
			rpRule{"-s ::/128", "ip6 saddr ::", "RETURN", "the unspecified source of duplicate address detection"},
			rpRule{"-s fe80::/10 -m rpfilter --invert", "ip6 saddr fe80::/10 fib saddr . iif oif missing", "DROP", "spoofed link-local sources: not on the link they came in on"},
			rpRule{"-s fe80::/10", "ip6 saddr fe80::/10", "RETURN", "link-local sources on their own link"},
		)
	}
	fam := nfproto(f)
	if p.RPFilter == spec.RPFilterStrict {
		return append(out, rpRule{"-m rpfilter --invert", fam + " fib saddr . iif oif missing", "DROP", rpfilterComment(p)})
	}
	return append(out, rpRule{"-m rpfilter --loose --invert", fam + " fib saddr oif missing", "DROP", rpfilterComment(p)})
}

// rpfilterComment says what the reverse-path rule drops.
func rpfilterComment(p *policy.Policy) string {
	if p.RPFilter == spec.RPFilterStrict {
		return "spoofed sources: not routed back through the interface they came in on (firewall.rpfilter strict)"
	}
	return "spoofed sources: not routed back through any interface (firewall.rpfilter loose)"
}

// renderMangle writes the mangle table: RAMPART-PREROUTING sets LocalMark
// on new connections to an address of the node, before nat PREROUTING
// rewrites the destination.
func renderMangle(b *strings.Builder) {
	fmt.Fprintf(b, "*%s\n:%s - [0:0]\n", TableMangle, ChainPrerouting)
	fmt.Fprintf(b, "-A %s -m conntrack --ctstate NEW -m addrtype --dst-type LOCAL -m comment --comment %s -j CONNMARK --set-xmark %s\n",
		ChainPrerouting, quote(fmt.Sprintf("new connections to this node's own addresses: ctmark bit %#x, before any DNAT", LocalMark)), localMarkIPT)
	b.WriteString("COMMIT\n")
}

func rejectWith(v policy.Verdict, f policy.Family) string {
	if v != policy.Reject {
		return ""
	}
	if f == policy.V6 {
		return " --reject-with icmp6-adm-prohibited"
	}
	return " --reject-with icmp-admin-prohibited"
}

func sourceMatch(s policy.Source, f policy.Family) string {
	switch s.Kind {
	case policy.SetSource:
		return fmt.Sprintf("-m set --match-set %s src", SetName(s.Set, f))
	case policy.CIDRSource:
		return "-s " + s.CIDR.String()
	}
	return ""
}

// protoMatches renders the protocol and port part of a rule; multiport takes
// at most 15 ports (a range counts as two), so long lists become several rules.
func protoMatches(r policy.Rule, f policy.Family) []string {
	switch r.Proto {
	case "":
		return []string{""}
	case spec.ICMP:
		limit := ""
		if r.Verdict == policy.Accept {
			limit = fmt.Sprintf(" -m limit --limit %s --limit-burst %d", EchoRate, EchoBurst)
		}
		if f == policy.V6 {
			return []string{"-p ipv6-icmp -m icmp6 --icmpv6-type echo-request" + limit}
		}
		return []string{"-p icmp -m icmp --icmp-type echo-request" + limit}
	}
	proto := string(r.Proto)
	if len(r.Ports) == 0 {
		return []string{"-p " + proto}
	}
	if len(r.Ports) == 1 {
		return []string{fmt.Sprintf("-p %s -m %s --dport %s", proto, proto, portArg(r.Ports[0]))}
	}
	var out []string
	var chunk []string
	weight := 0
	flush := func() {
		if len(chunk) > 0 {
			out = append(out, fmt.Sprintf("-p %s -m multiport --dports %s", proto, strings.Join(chunk, ",")))
		}
		chunk, weight = nil, 0
	}
	for _, pr := range r.Ports {
		w := 1
		if pr.From != pr.To {
			w = 2
		}
		if weight+w > 15 {
			flush()
		}
		chunk = append(chunk, portArg(pr))
		weight += w
	}
	flush()
	return out
}

// EchoRate and EchoBurst limit the echo requests a rule that opens them
// accepts (all sources of the rule together); those above the limit go on
// to the next rule, and in the end to the default verdict.
const (
	EchoRate  = "10/second"
	EchoBurst = 20
)

func portArg(r policy.PortRange) string {
	if r.From == r.To {
		return strconv.Itoa(int(r.From))
	}
	return fmt.Sprintf("%d:%d", r.From, r.To)
}

// quote renders a string for an iptables-restore line; comments are limited
// to 256 bytes by the kernel.
func quote(s string) string {
	s = strings.NewReplacer(`"`, `'`, `\`, `/`, "\n", " ").Replace(s)
	if len(s) > 255 {
		s = s[:252] + "..."
	}
	return `"` + s + `"`
}

// renderIsolation writes the FORWARD side: traffic from an overlay to an
// overlay goes through RAMPART-ISOLATION, where staying in one overlay,
// replies and allowed pairs RETURN (rampart does not decide them further) and
// the rest gets the overlays' default.
func renderIsolation(b *strings.Builder, p *policy.Policy, f policy.Family) {
	rule := func(chain, match, target, comment string) {
		fmt.Fprintf(b, "-A %s", chain)
		if match != "" {
			b.WriteString(" " + match)
		}
		fmt.Fprintf(b, " -m comment --comment %s -j %s\n", quote(comment), target)
	}
	all := p.Set(policy.OverlaysSet)
	if len(all.Members[f]) == 0 {
		return
	}
	gate := SetName(policy.OverlaysSet, f)
	rule(ChainForward, fmt.Sprintf("-m set --match-set %s src -m set --match-set %s dst", gate, gate), ChainIsolation, "from an overlay to an overlay")
	rule(ChainIsolation, "-m conntrack --ctstate ESTABLISHED,RELATED", "RETURN", "replies")
	for _, name := range p.Overlays.Networks {
		s := p.Set(name)
		if len(s.Members[f]) == 0 {
			continue
		}
		set := SetName(name, f)
		rule(ChainIsolation, fmt.Sprintf("-m set --match-set %s src -m set --match-set %s dst", set, set), "RETURN", "within "+s.Prov.What)
	}
	for _, pair := range p.Overlays.Pairs {
		from, to := p.Set(pair.From), p.Set(pair.To)
		if len(from.Members[f]) == 0 || len(to.Members[f]) == 0 {
			continue
		}
		match := fmt.Sprintf("-m set --match-set %s src -m set --match-set %s dst", SetName(pair.From, f), SetName(pair.To, f))
		for _, m := range protoMatches(policy.Rule{Proto: pair.Proto, Ports: pair.Ports}, f) {
			rule(ChainIsolation, strings.TrimSpace(match+" "+m), "RETURN", pair.Prov.Comment())
		}
	}
	target := "RETURN"
	if p.Overlays.Default == policy.Reject {
		target = "REJECT" + rejectWith(policy.Reject, f)
	}
	rule(ChainIsolation, "", target, p.Overlays.Prov.Comment())
}
