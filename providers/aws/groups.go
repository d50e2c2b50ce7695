package aws

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Owned is the prefix of the description of every rule rampart owns. A rule
// without it is someone else's: rampart never revokes it.
const Owned = "rampart:"

// Protocol names as security groups write them.
const (
	ProtoAll    = "-1"
	ProtoTCP    = "tcp"
	ProtoUDP    = "udp"
	ProtoICMP   = "icmp"
	ProtoICMPv6 = "icmpv6"
	ProtoSCTP   = "132" // SCTP by number: AWS admits all of it, whatever the ports
)

// ICMP types rampart names beside echo requests (the only ICMP the policy
// speaks of): what path MTU discovery needs (SPEC semantics 1).
const (
	icmpUnreachable  = 3
	icmpFragNeeded   = 4 // the code of "fragmentation needed" under type 3
	icmpv6TooBig     = 2
	maxICMPTypeRules = 8 // more single types than this is not worth the quota
	maxProtocolRules = 8 // more single IP protocols than this is not worth the quota
)

// Peer is the other side of a rule: an address range, a role's security
// group (by role name, for groups rampart manages), or a group rampart does
// not manage (by id, only in rules read back from AWS).
type Peer struct {
	CIDR    netip.Prefix // an address range, masked; invalid when the peer is not a range
	Role    string       // the role whose rampart-managed group is the peer
	GroupID string       // the id of a group rampart does not manage
	List    string       // a prefix list id: never rampart's
}

// String renders the peer: a CIDR, "group <cluster>-<role>" or an id.
func (p Peer) String() string {
	switch {
	case p.CIDR.IsValid():
		return p.CIDR.String()
	case p.Role != "":
		return "role " + p.Role
	case p.GroupID != "":
		return p.GroupID
	}
	return p.List
}

func (p Peer) key() string {
	switch {
	case p.CIDR.IsValid():
		return "cidr:" + p.CIDR.String()
	case p.Role != "":
		return "role:" + p.Role
	case p.GroupID != "":
		return "sg:" + p.GroupID
	}
	return "pl:" + p.List
}

// families reports which address families a rule with this peer counts
// against: a reference to a group counts as one rule in each.
func (p Peer) families() []policy.Family {
	if p.CIDR.IsValid() {
		return []policy.Family{policy.FamilyOf(p.CIDR)}
	}
	return policy.Families
}

// Permission is one security group rule: a protocol, a port range (or, for
// ICMP, a type and code; -1 for all) and a peer.
type Permission struct {
	Proto       string // ProtoAll, ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6, or a protocol number read back from AWS
	From, To    int32  // tcp, udp: first and last port; icmp: type and code; -1 for all
	Peer        Peer   // the source of an inbound rule, the destination of an outbound one
	Description string // the rule's AWS description; starts with Owned on rampart's rules
}

// Key identifies the rule the way AWS does: two rules with the same key are
// the same rule, whatever their descriptions.
func (p Permission) Key() string {
	return fmt.Sprintf("%s/%d/%d/%s", p.Proto, p.From, p.To, p.Peer.key())
}

// Ports renders the protocol and ports: "tcp 22", "tcp 0-8200", "all",
// "icmp type 3 code 4", "icmpv6 all".
func (p Permission) Ports() string {
	switch p.Proto {
	case ProtoAll:
		return "all traffic"
	case ProtoTCP, ProtoUDP:
		if p.From == p.To {
			return fmt.Sprintf("%s %d", p.Proto, p.From)
		}
		return fmt.Sprintf("%s %d-%d", p.Proto, p.From, p.To)
	case ProtoICMP, ProtoICMPv6:
		switch {
		case p.From == -1:
			return p.Proto + " all"
		case p.To == -1:
			return fmt.Sprintf("%s type %d", p.Proto, p.From)
		}
		return fmt.Sprintf("%s type %d code %d", p.Proto, p.From, p.To)
	}
	if n, err := strconv.Atoi(p.Proto); err == nil && n >= 0 && n <= 255 && p.From == -1 {
		return fmt.Sprintf("protocol %d (%s)", n, spec.NumberName(uint8(n)))
	}
	return fmt.Sprintf("protocol %s %d-%d", p.Proto, p.From, p.To)
}

// Owned reports whether rampart owns the rule.
func (p Permission) Owned() bool { return strings.HasPrefix(p.Description, Owned) }

// Group is the security group of one role, as rampart wants it.
type Group struct {
	Role    string       // the role whose nodes the group guards
	Name    string       // <cluster>-<role>
	Ingress []Permission // inbound rules, sorted, without duplicates
	Egress  []Permission // outbound rules: all traffic to 0.0.0.0/0 and ::/0
}

// Groups is the compiled security groups of a cluster.
type Groups struct {
	Cluster  string        // the cluster's name, the prefix of every group name
	Quota    int           // inbound rules per group and family
	Groups   []*Group      // in the policy's role order
	Findings report.Report // warnings: where a group admits less than the host firewall
}

// Group returns the group of the role, or nil.
func (g *Groups) Group(role string) *Group {
	for _, x := range g.Groups {
		if x.Role == role {
			return x
		}
	}
	return nil
}

// GroupName is the name of a role's security group.
func GroupName(cluster, role string) string { return cluster + "-" + role }

// CompileGroups compiles the policy into one security group per role.
//
// Security groups only allow, and admit the union of their rules. The
// policy is an ordered list where the first match decides, deny rules first;
// so each allow rule becomes the traffic it admits minus every earlier rule
// that does not accept: the same source with the complement of the denied
// ports, or, where a deny covers only part of an address range, the range
// split around it. Cluster members are referenced by their role's group
// (every pool and node address of a role is the role's member), world,
// admins, trusted sources and literal ranges by CIDR.
//
// What security groups cannot say is never widened: where exactness would
// need rules a group cannot hold (every IP protocol but some TCP ports; every
// ICMP type but echo), the group admits less and a warning says so.
func CompileGroups(p *policy.Policy, quota int) (*Groups, error) {
	out := &Groups{Cluster: p.Cluster, Quota: quota}
	c := &groupCompiler{p: p, warned: map[string]bool{}}
	for _, role := range p.Roles {
		g := &Group{Role: role, Name: GroupName(p.Cluster, role)}
		seen := map[string]bool{}
		add := func(perm Permission) {
			if !seen[perm.Key()] {
				seen[perm.Key()] = true
				g.Ingress = append(g.Ingress, perm)
			}
		}
		for _, a := range p.Allowances(role) {
			r := a.Rule
			entries := c.entries(r.From, r.Space())
			for _, d := range a.Except {
				entries = c.subtract(entries, d, role)
			}
			for _, e := range entries {
				for _, perm := range c.render(e, r, role) {
					perm.Description = describe(r.Prov.Comment())
					add(perm)
				}
			}
		}
		network := describe("the ICMP a network needs: fragmentation needed, packet too big (SPEC semantics 1)")
		add(Permission{Proto: ProtoICMP, From: icmpUnreachable, To: icmpFragNeeded, Peer: Peer{CIDR: worldV4}, Description: network})
		add(Permission{Proto: ProtoICMPv6, From: icmpv6TooBig, To: -1, Peer: Peer{CIDR: worldV6}, Description: network})
		sortPermissions(g.Ingress)
		egress := describe("output is accepted (SPEC semantics 7)")
		g.Egress = []Permission{
			{Proto: ProtoAll, From: -1, To: -1, Peer: Peer{CIDR: worldV4}, Description: egress},
			{Proto: ProtoAll, From: -1, To: -1, Peer: Peer{CIDR: worldV6}, Description: egress},
		}
		if err := checkQuota(g, quota); err != nil {
			return nil, err
		}
		out.Groups = append(out.Groups, g)
	}
	out.Findings = c.findings
	return out, nil
}

var (
	worldV4 = ranges.Everything(false)
	worldV6 = ranges.Everything(true)
)

// checkQuota counts the inbound rules of each family, a group reference
// counting in both, as AWS does.
// Rules rampart does not own (foreign) count too, where they are known.
func checkQuota(g *Group, quota int, foreign ...Permission) error {
	count, other := map[policy.Family]int{}, map[policy.Family]int{}
	for i, perm := range append(slices.Clone(g.Ingress), foreign...) {
		for _, f := range perm.Peer.families() {
			count[f]++
			if i >= len(g.Ingress) {
				other[f]++
			}
		}
	}
	for _, f := range policy.Families {
		if count[f] > quota {
			return &QuotaError{Group: g.Name, Family: f, Count: count[f], Foreign: other[f], Quota: quota}
		}
	}
	return nil
}

func sortPermissions(ps []Permission) {
	rank := func(p Peer) int {
		switch {
		case p.Role != "":
			return 0
		case p.CIDR.IsValid() && p.CIDR.Addr().Is4():
			return 1
		case p.CIDR.IsValid():
			return 2
		}
		return 3
	}
	slices.SortFunc(ps, func(a, b Permission) int {
		if c := cmp.Compare(rank(a.Peer), rank(b.Peer)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Peer.Role, b.Peer.Role); c != 0 {
			return c
		}
		if a.Peer.CIDR.IsValid() && b.Peer.CIDR.IsValid() {
			if c := ranges.ComparePrefixes(a.Peer.CIDR, b.Peer.CIDR); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.Peer.key(), b.Peer.key()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		if c := cmp.Compare(a.From, b.From); c != 0 {
			return c
		}
		return cmp.Compare(a.To, b.To)
	})
}

// describe makes a rule description AWS accepts: the Owned prefix, only the
// characters AWS allows (a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*), at
// most 255 characters.
func describe(s string) string {
	var b strings.Builder
	b.WriteString(Owned + " ")
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" ._-:/()#,@[]+=&;{}!$*", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	d := b.String()
	if len(d) > 255 {
		d = d[:255]
	}
	return d
}

// entry is part of what one allow rule admits: a source (a CIDR or a role's
// members) and the protocols and ports it may use.
type entry struct {
	cidr  netip.Prefix
	role  string
	space policy.Space
}

type groupCompiler struct {
	p        *policy.Policy
	findings report.Report
	warned   map[string]bool
}

// warn reports, once, that the group of role admits less than rule r: the
// entry is about the role, at the spec line that made the rule.
func (c *groupCompiler) warn(m report.Message, role string, r *policy.Rule, args ...any) {
	e := m.At(report.At("roles", role), r.Prov.Pos, args...)
	if !c.warned[e.Message] {
		c.warned[e.Message] = true
		c.findings.Append(e)
	}
}

// members returns the addresses of a role's members (nodes and pools).
func (c *groupCompiler) members(role string) []netip.Prefix {
	s := c.p.RoleSet(role)
	if s == nil {
		return nil
	}
	return append(slices.Clone(s.Members[policy.V4]), s.Members[policy.V6]...)
}

// entries resolves a rule's source into peers: the world is 0.0.0.0/0 and
// ::/0; the cluster is every role that has members; a role is its group;
// every other set (admins, trusted, overlays) is its addresses.
func (c *groupCompiler) entries(src policy.Source, sp policy.Space) []entry {
	switch src.Kind {
	case policy.AnySource:
		return []entry{{cidr: worldV4, space: sp}, {cidr: worldV6, space: sp}}
	case policy.CIDRSource:
		return []entry{{cidr: src.CIDR.Masked(), space: sp}}
	}
	s := c.p.Set(src.Set)
	if s == nil {
		return nil
	}
	var out []entry
	switch s.Kind {
	case policy.KindCluster:
		for _, role := range c.p.Roles {
			if len(c.members(role)) > 0 {
				out = append(out, entry{role: role, space: sp})
			}
		}
	case policy.KindRole:
		if len(c.members(s.Subject)) > 0 {
			out = append(out, entry{role: s.Subject, space: sp})
		}
	default:
		for _, f := range policy.Families {
			for _, m := range s.Members[f] {
				out = append(out, entry{cidr: m.Masked(), space: sp})
			}
		}
	}
	return out
}

// subtract removes what the non-accepting rule d decides from the entries of
// an allow rule guarding the role.
func (c *groupCompiler) subtract(entries []entry, d *policy.Rule, role string) []entry {
	ds := d.Space()
	for _, de := range c.entries(d.From, ds) {
		var next []entry
		for _, e := range entries {
			if !e.space.Overlaps(ds) {
				next = append(next, e)
				continue
			}
			switch {
			case e.role != "" && de.role != "":
				if e.role == de.role {
					e.space = e.space.Minus(ds)
				}
				next = append(next, e)
			case e.role != "":
				// a group reference cannot be split by address: the whole
				// group loses the denied ports if any member is denied
				denied, partial := false, false
				for _, m := range c.members(e.role) {
					denied = denied || m.Overlaps(de.cidr)
					partial = partial || !ranges.Inside(m, de.cidr)
				}
				if denied {
					if partial {
						c.warn(msgPartOfRoleDenied, role, d,
							GroupName(c.p.Cluster, role), d.Prov.What, d.Prov.Origin, e.role, GroupName(c.p.Cluster, role), e.role)
					}
					e.space = e.space.Minus(ds)
				}
				next = append(next, e)
			default:
				subs := []netip.Prefix{de.cidr}
				if de.role != "" {
					subs = c.members(de.role)
				}
				pieces := []entry{e}
				for _, sub := range subs {
					var carved []entry
					for _, p := range pieces {
						carved = append(carved, carve(p, sub, ds)...)
					}
					pieces = carved
				}
				next = append(next, pieces...)
			}
		}
		entries = next
	}
	var out []entry
	for _, e := range entries {
		if !e.space.Empty() {
			out = append(out, e)
		}
	}
	return out
}

// carve removes the space ds from the part of the CIDR entry e that lies in
// sub: all of e when sub covers it, or e split into the prefixes around sub
// (unchanged) and sub (minus ds).
func carve(e entry, sub netip.Prefix, ds policy.Space) []entry {
	sub = sub.Masked()
	switch {
	case !e.cidr.Overlaps(sub):
		return []entry{e}
	case ranges.Inside(e.cidr, sub):
		e.space = e.space.Minus(ds)
		return []entry{e}
	}
	var out []entry
	for _, p := range ranges.Minus(e.cidr, sub) {
		out = append(out, entry{cidr: p, space: e.space})
	}
	return append(out, entry{cidr: sub, space: e.space.Minus(ds)})
}

// render turns an entry into security group rules: one rule for all
// traffic where the entry admits everything, else one per TCP or UDP range
// and per ICMP type of the entry's families.
func (c *groupCompiler) render(e entry, r *policy.Rule, role string) []Permission {
	peer := Peer{CIDR: e.cidr, Role: e.role}
	v4 := e.role != "" || e.cidr.Addr().Is4()
	v6 := e.role != "" || !e.cidr.Addr().Is4()
	s := e.space
	allTypes := policy.AllTypes()
	full := slices.Equal(s.Other, policy.OtherNumbers()) && s.TCP.Full() && s.UDP.Full() && s.SCTP.Full() &&
		(!v4 || slices.Equal(s.ICMP, allTypes)) && (!v6 || slices.Equal(s.ICMPv6, allTypes))
	if full {
		return []Permission{{Proto: ProtoAll, From: -1, To: -1, Peer: peer}}
	}
	var out []Permission
	for _, pr := range s.TCP {
		out = append(out, Permission{Proto: ProtoTCP, From: int32(pr.From), To: int32(pr.To), Peer: peer})
	}
	for _, pr := range s.UDP {
		out = append(out, Permission{Proto: ProtoUDP, From: int32(pr.From), To: int32(pr.To), Peer: peer})
	}
	icmp := func(proto, label string, types ranges.Ports) {
		if slices.Equal(types, allTypes) {
			out = append(out, Permission{Proto: proto, From: -1, To: -1, Peer: peer})
			return
		}
		n := types.Size()
		if n > maxICMPTypeRules {
			c.warn(msgICMPTypes, role, r,
				GroupName(c.p.Cluster, role), r.Prov.What, peer, n, label, GroupName(c.p.Cluster, role))
			return
		}
		for _, pr := range types {
			for t := int(pr.From); t <= int(pr.To); t++ {
				out = append(out, Permission{Proto: proto, From: int32(t), To: -1, Peer: peer})
			}
		}
	}
	if v4 {
		icmp(ProtoICMP, "ICMP", s.ICMP)
	}
	if v6 {
		icmp(ProtoICMPv6, "ICMPv6", s.ICMPv6)
	}
	// every protocol but some ports (a deny inside cluster trust): a group
	// cannot say it; TCP, UDP and ICMP as above, and nothing else
	if slices.Equal(s.Other, policy.OtherNumbers()) {
		c.warn(msgProtocolsButPorts, role, r,
			GroupName(c.p.Cluster, role), r.Prov.What, peer)
		return out
	}
	// SCTP and the other protocols: AWS takes a protocol number and, for
	// any protocol but tcp, udp, icmp and icmpv6, admits all of it
	// whatever ports a rule gives
	switch {
	case s.SCTP.Full():
		out = append(out, Permission{Proto: ProtoSCTP, From: -1, To: -1, Peer: peer})
	case len(s.SCTP) > 0:
		c.warn(msgSCTPPorts, role, r,
			GroupName(c.p.Cluster, role), r.Prov.What, peer, s.SCTP.Text())
	}
	switch n := s.Other.Size(); {
	case n > maxProtocolRules:
		c.warn(msgProtocols, role, r,
			GroupName(c.p.Cluster, role), r.Prov.What, peer, n, policy.NumbersText(s.Other))
	default:
		for _, pr := range s.Other {
			for n := int(pr.From); n <= int(pr.To); n++ {
				out = append(out, Permission{Proto: strconv.Itoa(n), From: -1, To: -1, Peer: peer})
			}
		}
	}
	return out
}
