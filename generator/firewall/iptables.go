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
)

// Tables rampart has chains in.
const (
	TableFilter = "filter"
	TableMangle = "mangle"
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
// never flushes; rampart creates it when Docker has not (yet).
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
func Jumps(p *policy.Policy) []Jump {
	return []Jump{
		{Table: TableFilter, From: "INPUT", To: ChainInput},
		{Table: TableFilter, From: "FORWARD", To: ChainForward},
		{Table: TableFilter, From: DockerUser, To: ChainPublished, Create: true},
		{Table: TableMangle, From: "PREROUTING", To: ChainPrerouting},
	}
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
			add(strings.TrimSpace(src+" "+m), target, r.Prov.String())
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
	fwd("-m conntrack --ctstate DNAT -m connmark --mark "+localMarkIPT, ChainPublished, "connections to published container ports (DNAT of an address of this node)")
	pub("-m conntrack ! --ctstate DNAT", "RETURN", "not a published port: container egress, routed traffic")
	pub("-m connmark ! --mark "+localMarkIPT, "RETURN", "DNAT of an address that is not this node's: a service address (ClusterIP), container egress")
	pub("-m conntrack --ctstate ESTABLISHED,RELATED", "RETURN", "replies")
	policyRules(pub, p, rules, f, origPortMatches, true)
	fmt.Fprintf(b, "-A %s -m limit --limit %s -j LOG --log-prefix %s\n", ChainPublished, p.LogRate, quote(p.LogPrefix))
	pub("", string(p.Default)+rejectWith(p.Default, f), p.DefaultProv.String())
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
// iptables-restore files of both families: ipset.v4, ipset.v6, iptables.v4,
// iptables.v6.
func RenderIPTables(p *policy.Policy, role string) []File {
	rules := p.RulesFor(role)
	var files []File
	for _, f := range policy.Families {
		files = append(files, File{Name: fmt.Sprintf("ipset.v%d", f), Contents: renderIPSet(p, role, rules, f)})
	}
	for _, f := range policy.Families {
		files = append(files, File{Name: fmt.Sprintf("iptables.v%d", f), Contents: renderFilter(p, role, rules, f)})
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
	b.WriteString("# Each set is filled under a temporary name, then swapped in: no packet sees a half-filled set.\n")
	family := "inet"
	if f == policy.V6 {
		family = "inet6"
	}
	for _, s := range usedSets(p, rules, f) {
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
		fmt.Fprintf(&b, "swap %s%s %s\n", name, tmpSuffix, name)
		fmt.Fprintf(&b, "destroy %s%s\n", name, tmpSuffix)
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
	b.WriteString("# Loaded with --noflush: only rampart's own chains (filter, and RAMPART-PREROUTING in mangle) are\n# replaced; the jumps to them are added once.\n")
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
	add("-m conntrack --ctstate ESTABLISHED,RELATED", "ACCEPT", "replies to connections this node made or accepted")
	add("-m conntrack --ctstate INVALID", "DROP", "invalid packets")
	if f == policy.V4 {
		for _, t := range []string{"destination-unreachable", "time-exceeded", "parameter-problem"} {
			add("-p icmp -m icmp --icmp-type "+t, "ACCEPT", "ICMP the network needs: "+t)
		}
	} else {
		for _, t := range []string{"destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem"} {
			add("-p ipv6-icmp -m icmp6 --icmpv6-type "+t, "ACCEPT", "ICMPv6 the network needs: "+t)
		}
		for _, t := range []string{"router-advertisement", "neighbour-solicitation", "neighbour-advertisement"} {
			add("-p ipv6-icmp -m icmp6 --icmpv6-type "+t+" -m hl --hl-eq 255", "ACCEPT", "neighbour discovery: "+t)
		}
		add("-s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 130", "ACCEPT", "multicast listener query (MLD)")
		add("-s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 143", "ACCEPT", "multicast listener report (MLDv2)")
	}
	policyRules(add, p, rules, f, protoMatches, false)
	fmt.Fprintf(&b, "-A %s -m limit --limit %s -j LOG --log-prefix %s\n", ChainInput, p.LogRate, quote(p.LogPrefix))
	add("", string(p.Default)+rejectWith(p.Default, f), p.DefaultProv.String())
	renderForward(&b, p, rules, f)
	b.WriteString("COMMIT\n")
	renderMangle(&b)
	return []byte(b.String())
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
		if f == policy.V6 {
			return []string{"-p ipv6-icmp -m icmp6 --icmpv6-type echo-request"}
		}
		return []string{"-p icmp -m icmp --icmp-type echo-request"}
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
			rule(ChainIsolation, strings.TrimSpace(match+" "+m), "RETURN", pair.Prov.String())
		}
	}
	target := "RETURN"
	if p.Overlays.Default == policy.Reject {
		target = "REJECT" + rejectWith(policy.Reject, f)
	}
	rule(ChainIsolation, "", target, p.Overlays.Prov.String())
}
