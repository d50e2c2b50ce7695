package firewall

import (
	"fmt"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// NFTTable is the one table rampart owns in the nftables backend.
const NFTTable = "inet rampart"

// The files of the nftables backend: the ruleset, and the failsafe the
// script loads while the ruleset is not in place.
const (
	NFTFile         = "rampart.nft"
	NFTFailsafeFile = "failsafe.nft"
)

// RenderNFTables renders, for nodes of one role, one nftables ruleset
// (rampart.nft) that replaces the contents of table inet rampart in a single
// transaction: every chain emptied and defined again, every set emptied and
// filled again. Chains and sets of an older version that this one no longer
// has are left for the apply script to delete.
func RenderNFTables(p *policy.Policy, role string) []File {
	rules := p.RulesFor(role)
	var b strings.Builder
	b.WriteString(header(p, role, "nftables ruleset (IPv4 and IPv6)"))
	b.WriteString("# Loaded with nft -f as one transaction: the table is created if absent, its chains are\n")
	b.WriteString("# emptied and its sets refilled in place, so a reload never leaves the node without rules.\n")
	b.WriteString("# The sets are kept, not deleted with the table: a set created in a transaction can look\n")
	b.WriteString("# empty to packets for a moment after the commit. Other tables are untouched.\n")
	fmt.Fprintf(&b, "table %s\nflush table %s\n", NFTTable, NFTTable)
	for _, f := range policy.Families {
		for _, s := range usedSets(p, rules, f) {
			fmt.Fprintf(&b, "add set %s %s { type %s; flags interval; }\nflush set %[1]s %[2]s\n", NFTTable, nftSet(s.Name, f), nftAddrType(f))
		}
	}
	fmt.Fprintf(&b, "table %s {\n", NFTTable)
	for _, f := range policy.Families {
		for _, s := range usedSets(p, rules, f) {
			fmt.Fprintf(&b, "\t# %s\n", s.Prov.What)
			fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n", nftSet(s.Name, f), nftAddrType(f))
			members := s.Members[f]
			if len(members) > 0 {
				b.WriteString("\t\telements = {")
				for i, m := range members {
					if i > 0 {
						b.WriteString(",")
					}
					if i%4 == 0 {
						b.WriteString("\n\t\t\t")
					} else {
						b.WriteString(" ")
					}
					b.WriteString(m.String())
				}
				b.WriteString("\n\t\t}\n")
			}
			b.WriteString("\t}\n")
		}
	}
	b.WriteString("\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n")
	add := func(stmt, comment string) {
		fmt.Fprintf(&b, "\t\t%s comment %s\n", stmt, nftQuote(comment))
	}
	add(`iifname "lo" accept`, "loopback")
	add("icmp type redirect drop", "ICMP redirects: routes are not changed from outside")
	add("icmpv6 type nd-redirect drop", "ICMPv6 redirects: routes are not changed from outside")
	add("ct state established,related accept", "replies to connections this node made or accepted")
	add("ct state invalid drop", "invalid packets")
	for _, f := range policy.Families {
		for _, r := range infraRules(f) {
			add(r.nft+" accept", r.comment)
		}
	}
	nftPolicyRules(add, p, rules, nftProto, false)
	fmt.Fprintf(&b, "\t\tlimit rate %s log prefix %s\n", p.LogRate, nftQuote(p.LogPrefix))
	add(nftVerdict(p.Default), p.DefaultProv.Comment())
	b.WriteString("\t}\n")
	renderNFTForward(&b, p, rules)
	b.WriteString("}\n")
	return []File{
		{Name: NFTFile, Contents: []byte(b.String())},
		{Name: NFTFailsafeFile, Contents: renderNFTFailsafe(p, role)},
	}
}

// nftAddrType is the type of a family's address sets.
func nftAddrType(f policy.Family) string {
	if f == policy.V6 {
		return "ipv6_addr"
	}
	return "ipv4_addr"
}

func nftSet(name string, f policy.Family) string {
	return strings.ReplaceAll(name, "-", "_") + fmt.Sprintf("_v%d", f)
}

func nftSource(s policy.Source, f policy.Family) string {
	fam := "ip"
	if f == policy.V6 {
		fam = "ip6"
	}
	switch s.Kind {
	case policy.SetSource:
		return fmt.Sprintf("%s saddr @%s", fam, nftSet(s.Set, f))
	case policy.CIDRSource:
		return fmt.Sprintf("%s saddr %s", fam, s.CIDR)
	}
	return ""
}

func nftProto(r policy.Rule, f policy.Family) string {
	switch r.Proto {
	case "":
		return ""
	case spec.ICMP:
		limit := ""
		if r.Verdict == policy.Accept {
			limit = fmt.Sprintf(" limit rate %s burst %d packets", EchoRate, EchoBurst)
		}
		if f == policy.V6 {
			return "icmpv6 type echo-request" + limit
		}
		return "icmp type echo-request" + limit
	}
	if len(r.Ports) == 0 {
		return "meta l4proto " + string(r.Proto)
	}
	parts := make([]string, len(r.Ports))
	for i, pr := range r.Ports {
		parts[i] = pr.String()
	}
	if len(parts) == 1 {
		return fmt.Sprintf("%s dport %s", r.Proto, parts[0])
	}
	return fmt.Sprintf("%s dport { %s }", r.Proto, strings.Join(parts, ", "))
}

func nftVerdict(v policy.Verdict) string {
	switch v {
	case policy.Accept:
		return "accept"
	case policy.Reject:
		return "reject with icmpx type admin-prohibited"
	}
	return "drop"
}

func nftQuote(s string) string {
	s = strings.NewReplacer(`"`, `'`, `\`, `/`, "\n", " ").Replace(s)
	if len(s) > 127 {
		s = s[:124] + "..."
	}
	return `"` + s + `"`
}

// nftPolicyRules renders the ordered rules of a role; ports are matched by
// ports(r, f). With published, accepting rules return: in the forward hook
// rampart only vetoes (a drop in any base chain is final), it never accepts
// for another table.
func nftPolicyRules(add func(stmt, comment string), p *policy.Policy, rules []policy.Rule, ports func(policy.Rule, policy.Family) string, published bool) {
	for _, r := range rules {
		if published && r.Proto == spec.ICMP {
			continue // echo requests are not published container ports
		}
		for _, f := range policy.Families {
			if !p.Renders(r, f) {
				continue
			}
			if r.From.Kind == policy.AnySource && f == policy.V6 && r.Proto != spec.ICMP {
				continue // one rule covers both families
			}
			verdict := nftVerdict(r.Verdict)
			if published && r.Verdict == policy.Accept {
				verdict = "return"
			}
			stmt := strings.TrimSpace(nftSource(r.From, f) + " " + ports(r, f) + " " + verdict)
			add(strings.Join(strings.Fields(stmt), " "), r.Prov.Comment())
		}
	}
}

// nftOrigPort matches the destination port a connection had before DNAT.
func nftOrigPort(r policy.Rule, _ policy.Family) string {
	if r.Proto == "" {
		return ""
	}
	m := "meta l4proto " + string(r.Proto)
	if len(r.Ports) == 0 {
		return m
	}
	parts := make([]string, len(r.Ports))
	for i, pr := range r.Ports {
		parts[i] = pr.String()
	}
	if len(parts) == 1 {
		return m + " ct original proto-dst " + parts[0]
	}
	return m + " ct original proto-dst { " + strings.Join(parts, ", ") + " }"
}

// renderNFTForward writes the prerouting hook, which marks new connections
// to the node's own addresses (LocalMark) before DNAT, and the forward hook:
// new connections DNATed from an address of the node (published container
// ports) get the role's rules, matched on the original destination port;
// traffic from an overlay to an overlay goes to chain isolation.
func renderNFTForward(b *strings.Builder, p *policy.Policy, rules []policy.Rule) {
	add := func(stmt, comment string) {
		fmt.Fprintf(b, "\t\t%s comment %s\n", stmt, nftQuote(comment))
	}
	if p.RPFilter != spec.RPFilterOff {
		b.WriteString("\n\tchain rpfilter {\n\t\ttype filter hook prerouting priority raw; policy accept;\n")
		add(`iifname "lo" accept`, "loopback")
		for _, f := range policy.Families {
			for _, r := range rpfilterRules(p, f) {
				verdict := "drop"
				if r.target == "RETURN" {
					verdict = "accept" // ends this chain only: the filter chains still decide
				}
				add(r.nft+" "+verdict, r.comment)
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("\n\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n")
	add(fmt.Sprintf("ct state new fib daddr type local ct mark set ct mark | %s", localMarkNFT),
		fmt.Sprintf("new connections to this node's own addresses: ctmark bit %s, before any DNAT", localMarkNFT))
	b.WriteString("\t}\n")
	b.WriteString("\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n")
	for _, m := range p.MetadataServices {
		add(fmt.Sprintf("%s daddr %s %s", nftFamily(policy.FamilyOf(m)), m, nftVerdict(p.Default)), p.MetadataProv.Comment())
	}
	add(fmt.Sprintf("ct state new ct status dnat ct mark & %[1]s == %[1]s jump published", localMarkNFT),
		"connections to published container ports (DNAT of an address of this node)")
	if all := p.Set(policy.OverlaysSet); all != nil {
		for _, f := range policy.Families {
			if len(all.Members[f]) > 0 {
				fam, set := nftFamily(f), nftSet(policy.OverlaysSet, f)
				add(fmt.Sprintf("%s saddr @%s %s daddr @%s jump isolation", fam, set, fam, set), "from an overlay to an overlay")
			}
		}
	}
	b.WriteString("\t}\n\n\tchain published {\n")
	nftPolicyRules(add, p, rules, nftOrigPort, true)
	fmt.Fprintf(b, "\t\tlimit rate %s log prefix %s\n", p.LogRate, nftQuote(p.LogPrefix))
	add(nftVerdict(p.Default), p.DefaultProv.Comment())
	b.WriteString("\t}\n")
	if len(p.Overlays.Networks) > 0 {
		renderNFTIsolation(b, p)
	}
}

// renderNFTIsolation writes chain isolation: staying in one overlay, replies
// and allowed pairs return and the rest gets the overlays' default.
func renderNFTIsolation(b *strings.Builder, p *policy.Policy) {
	add := func(stmt, comment string) {
		fmt.Fprintf(b, "\t\t%s comment %s\n", stmt, nftQuote(comment))
	}
	b.WriteString("\n\tchain isolation {\n")
	add("ct state established,related return", "replies")
	for _, name := range p.Overlays.Networks {
		s := p.Set(name)
		for _, f := range policy.Families {
			if len(s.Members[f]) > 0 {
				fam, set := nftFamily(f), nftSet(name, f)
				add(fmt.Sprintf("%s saddr @%s %s daddr @%s return", fam, set, fam, set), "within "+s.Prov.What)
			}
		}
	}
	for _, pair := range p.Overlays.Pairs {
		from, to := p.Set(pair.From), p.Set(pair.To)
		for _, f := range policy.Families {
			if len(from.Members[f]) == 0 || len(to.Members[f]) == 0 {
				continue
			}
			fam := nftFamily(f)
			stmt := fmt.Sprintf("%s saddr @%s %s daddr @%s %s return", fam, nftSet(pair.From, f), fam, nftSet(pair.To, f), nftProto(policy.Rule{Proto: pair.Proto, Ports: pair.Ports}, f))
			add(strings.Join(strings.Fields(stmt), " "), pair.Prov.Comment())
		}
	}
	if p.Overlays.Default == policy.Reject {
		add(nftVerdict(policy.Reject), p.Overlays.Prov.Comment())
	} else {
		add("return", p.Overlays.Prov.Comment())
	}
	b.WriteString("\t}\n")
}

func nftFamily(f policy.Family) string {
	if f == policy.V6 {
		return "ip6"
	}
	return "ip"
}
