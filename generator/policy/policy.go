// Package policy compiles a cluster spec into rampart's intermediate
// representation: named address sets per family and one ordered,
// backend-neutral list of rules, each carrying the spec line that made it.
//
// Every firewall backend, every question (explain, audit) and the AWS security
// groups read this one IR; nothing downstream re-reads the spec.
package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Family is an IP address family.
type Family uint8

// The two families every backend renders.
const (
	V4 Family = 4
	V6 Family = 6
)

// Families lists V4 then V6, the order every backend renders them in.
var Families = []Family{V4, V6}

// String names the family the way people say it.
func (f Family) String() string {
	if f == V6 {
		return "IPv6"
	}
	return "IPv4"
}

// FamilyOf returns the family of a prefix.
func FamilyOf(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return V4
	}
	return V6
}

// Verdict is what a rule decides.
type Verdict string

// Verdicts.
const (
	Accept Verdict = "ACCEPT"
	Drop   Verdict = "DROP"
	Reject Verdict = "REJECT"
)

// Provenance says where a rule or set came from.
type Provenance struct {
	Pos    spec.Pos // spec position of the line that made it
	Origin string   // what in the spec made it: "profile dcos", "roles.master.admin", "rules[1]", ...
	What   string   // a sentence for people: "admins reach master on its admin ports"
}

// Comment renders provenance for what lands on a node and in the cloud
// (rule comments, security group descriptions): "what (origin)", the spec
// path and never a line, so that a comment or a blank line added to the
// spec changes no node file.
func (p Provenance) Comment() string {
	return fmt.Sprintf("%s (%s)", p.What, p.Origin)
}

// String renders provenance for people reading at review time (explain,
// audit, diff): "what (origin, file:line)".
func (p Provenance) String() string {
	return fmt.Sprintf("%s (%s, %s:%d)", p.What, p.Origin, baseName(p.Pos.File), p.Pos.Line)
}

func baseName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// SetKind says what a set holds.
type SetKind uint8

// Set kinds.
const (
	KindAdmins   SetKind = iota + 1 // the admins (AdminsSet)
	KindTrusted                     // the trusted sources without ports (TrustedSet)
	KindCluster                     // every node address and pool range (ClusterSet)
	KindRole                        // the members of one role (Subject)
	KindOverlay                     // one overlay network (Subject)
	KindOverlays                    // every overlay network (OverlaysSet)
	KindPods                        // the pod ranges of profile kubernetes (PodsSet)
)

// Names of the sets there is one of.
const (
	AdminsSet  = "admins"
	TrustedSet = "trusted"
	ClusterSet = "cluster"
	// OverlaysSet is the set of every overlay network, the gate to isolation.
	OverlaysSet = "overlays"
	// PodsSet is the set of the kubernetes pod ranges (kubernetes.pods),
	// the source of `from: pods`.
	PodsSet = "pods"
)

// Set is a named group of source addresses, split by family.
type Set struct {
	Name    string                    // family-neutral name, e.g. "admins", "r-agent", "o-it"; what the firewall calls it
	Kind    SetKind                   // what the set holds
	Subject string                    // the role's or overlay's name, for KindRole and KindOverlay
	Members map[Family][]netip.Prefix // prefixes per family, sorted and deduplicated; single addresses are /32 or /128
	Prov    Provenance                // the spec entry the set comes from
	// Entries are what the spec lists for the set, in spec order, with
	// where: a role's pool ranges as written (Members leaves out the
	// addresses of other roles' nodes inside them), the trusted entries
	// with ports (not in Members) too.
	Entries []Member
}

// SourceKind says what a rule's source is.
type SourceKind uint8

// Source kinds.
const (
	AnySource  SourceKind = iota // the world
	SetSource                    // the members of a Set
	CIDRSource                   // one literal prefix
)

// Source is where a rule's traffic comes from.
type Source struct {
	Kind SourceKind   // which of the fields below applies; AnySource uses neither
	Set  string       // for SetSource
	CIDR netip.Prefix // for CIDRSource
}

// PortRange is an inclusive range of ports (ranges.PortRange).
type PortRange = ranges.PortRange

// Rule is one entry of the ordered rule list: the first rule that matches a
// new connection decides it.
type Rule struct {
	From    Source        // where the traffic comes from
	To      string        // a role name, or spec.ToAll
	Proto   spec.Protocol // "" for every protocol; tcp, udp, sctp, icmp, or an IP protocol number ("4" for ipip)
	Ports   []PortRange   // empty: every port (tcp, udp, sctp), every echo (icmp) or the whole protocol (a number)
	Verdict Verdict       // Accept, Drop or Reject for a matching connection
	Prov    Provenance    // the spec line that made the rule
	// PortSources are the entries of the port list that made Ports, in
	// spec order, each with its position; empty when the rule names no
	// ports.
	PortSources []PortSource
	By          Maker // what part of the spec made the rule
}

// Maker says what part of the spec made a rule.
type Maker uint8

// Makers of rules.
const (
	ByRule        Maker = iota // an entry of rules (or of the profile's rules)
	ByCluster                  // cluster members reach every port
	ByTrusted                  // trusted sources reach every port, or an entry's ports
	ByAdminPorts               // a role's admin ports, for admins
	ByPublicPorts              // a role's public ports, for the world
)

// AppliesTo reports whether the rule guards nodes of the role.
func (r *Rule) AppliesTo(role string) bool { return r.To == spec.ToAll || r.To == role }

// Policy is the compiled cluster policy.
type Policy struct {
	File    string   // the spec file the policy was compiled from
	Cluster string   // cluster name from the spec
	Roles   []string // role names in spec order
	Sets    []*Set   // in a stable order: admins, trusted, cluster, roles, overlays
	Rules   []Rule   // deny rules first, then allows, in spec order
	// ClusterReach is cluster.reach: spec.ReachAll (a rule lets members
	// reach every port) or spec.ReachListed (only the rules that name them).
	ClusterReach string
	Default      Verdict // Drop or Reject (firewall.action) for a new connection no rule matches
	// DefaultProv says where the default verdict was chosen.
	DefaultProv Provenance
	LogPrefix   string   // prefix of the kernel log line for defaulted packets (firewall.log.prefix, "rampart-drop: " by default)
	LogRate     string   // rate limit of those log lines, N/second|minute|hour|day (firewall.log.rate, "10/minute" by default)
	Overlays    Overlays // isolation between overlay networks; no Networks when the spec declares none
	EtcdPorts   []uint16 // etcd client port, then peer port
	// RPFilter is the reverse-path filter of incoming packets
	// (firewall.rpfilter): spec.RPFilterStrict, spec.RPFilterLoose (the
	// default) or spec.RPFilterOff.
	RPFilter string
	// Backend is the firewall that renders the policy on the nodes
	// (firewall.backend): "iptables" or "nftables".
	Backend string
	// MetadataServices are the cloud metadata addresses that forwarded
	// traffic (containers) may not reach, sorted; nil when firewall.metadata
	// is allow.
	MetadataServices []netip.Prefix
	// MetadataProv says where firewall.metadata was set (or defaulted).
	MetadataProv Provenance
	// ProfileProv says where the profile was chosen (or the top of the
	// file).
	ProfileProv Provenance
	// Profile is the spec's profile: dcos, coreos-web, kubernetes or none.
	// The audit's catalogue of dangerous ports depends on it.
	Profile string
	// Accept are the audit findings the spec accepts (audit.accept).
	Accept   []spec.Acceptance
	Nodes    []*Node // the nodes, in spec order
	Pools    []*Pool // the pools, in spec order
	RoleDefs []*Role // the roles, in the order of Roles
	// Carved lists the pool ranges carved out of a larger pool of another
	// role, in the order of the roles: their addresses belong to the
	// smaller pool's role only.
	Carved []Carve
}

// Carve is a pool range of one role inside a larger pool range of another:
// the larger's role set leaves it out.
type Carve struct {
	Inner, Outer         netip.Prefix
	InnerRole, OuterRole string
	InnerProv, OuterProv Provenance // the pools that list them
	InnerPool            int        // the inner pool's index in the spec's pools
}

// MetadataAddresses are the addresses of the cloud metadata services, which
// serve a node's userdata (and with it etcd keys) to whatever on the node
// asks.
var MetadataAddresses = []netip.Prefix{
	// AWS, GCP, Azure, OpenStack and most other clouds (link-local).
	netip.MustParsePrefix("169.254.169.254/32"),
	// Equinix Metal (formerly Packet): metadata.platformequinix.com, formerly
	// metadata.packet.net, is a public address rather than a link-local one.
	// Equinix's own pages give only the name; the address is the one that
	// Lokomotive blocks for pods on Packet (kinvolk/lokomotive,
	// assets/terraform-modules/packet/flatcar-linux/kubernetes/bootkube.tf:
	// "metadata.packet.net should always resolve to 192.80.8.124") and that
	// Gardener's Packet seed declares as its metadataServiceCIDR.
	netip.MustParsePrefix("192.80.8.124/32"),
	// AWS's IPv6 instance metadata endpoint (Nitro instances).
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

// Overlays is the compiled isolation between virtual networks: traffic
// forwarded from one overlay to another is accepted when it stays in one
// overlay, is a reply, or matches an allowed pair; the rest gets Default.
type Overlays struct {
	Networks []string   // set names (o-<name>) in spec order
	Pairs    []Pair     // allowed pairs from overlays.allow, one per protocol of each entry
	Default  Verdict    // Reject or Accept between different overlays
	Prov     Provenance // where overlays.default was set
}

// Pair lets one overlay reach another.
type Pair struct {
	From, To string        // set names
	Proto    spec.Protocol // "" for every protocol
	Ports    []PortRange   // merged ranges; empty: every port (tcp, udp) or every echo (icmp)
	Prov     Provenance    // the overlays.allow entry that made it
}

// Set returns the named set, or nil.
func (p *Policy) Set(name string) *Set {
	for _, s := range p.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// RoleSet returns the set of a role's members, or nil.
func (p *Policy) RoleSet(role string) *Set { return p.setOf(KindRole, role) }

// OverlaySet returns the set of an overlay network, or nil.
func (p *Policy) OverlaySet(overlay string) *Set { return p.setOf(KindOverlay, overlay) }

func (p *Policy) setOf(k SetKind, subject string) *Set {
	for _, s := range p.Sets {
		if s.Kind == k && s.Subject == subject {
			return s
		}
	}
	return nil
}

// OverlaySets returns the sets of the overlay networks, in spec order.
func (p *Policy) OverlaySets() []*Set {
	out := make([]*Set, 0, len(p.Overlays.Networks))
	for _, name := range p.Overlays.Networks {
		out = append(out, p.Set(name))
	}
	return out
}

// RulesFor returns the rules that guard nodes of the role, in order.
func (p *Policy) RulesFor(role string) []Rule {
	var out []Rule
	for _, r := range p.Rules {
		if r.AppliesTo(role) {
			out = append(out, r)
		}
	}
	return out
}

// Renders reports whether a rule has anything to match in the family: a rule
// over a set with no member of that family, or a literal CIDR of the other
// family, yields no rule there (never a wider one).
func (p *Policy) Renders(r Rule, f Family) bool {
	switch r.From.Kind {
	case SetSource:
		s := p.Set(r.From.Set)
		return s != nil && len(s.Members[f]) > 0
	case CIDRSource:
		return FamilyOf(r.From.CIDR) == f
	}
	return true
}

// Compile turns a validated spec into the policy IR.
func Compile(s *spec.Spec) *Policy {
	c := &compiler{s: s, p: &Policy{
		File:         s.File,
		Cluster:      s.Cluster,
		Default:      Drop,
		LogPrefix:    s.Firewall.LogPrefix,
		LogRate:      s.Firewall.LogRate,
		EtcdPorts:    []uint16{s.Etcd.ClientPort, s.Etcd.PeerPort},
		RPFilter:     s.Firewall.RPFilter,
		Backend:      s.Firewall.Backend,
		ClusterReach: s.Reach,
	}}
	if s.Firewall.Action == "reject" {
		c.p.Default = Reject
	}
	c.p.DefaultProv = Provenance{Pos: s.Firewall.Pos, Origin: "firewall.action",
		What: "what no rule accepts is logged and " + map[Verdict]string{Drop: "dropped", Reject: "rejected"}[c.p.Default]}
	c.p.MetadataProv = Provenance{Pos: s.Firewall.MetadataPos, Origin: "firewall.metadata",
		What: "containers may reach the cloud metadata services"}
	if s.Firewall.Metadata != spec.MetadataAllow {
		c.p.MetadataServices = slices.Clone(MetadataAddresses)
		c.p.MetadataProv.What = "containers may not reach the cloud metadata services (they serve the node's userdata)"
	}
	c.p.ProfileProv = Provenance{Pos: s.ProfilePos, Origin: "profile", What: "profile " + s.Profile}
	c.p.Profile = s.Profile
	c.p.Accept = slices.Clone(s.Accept)
	for _, r := range s.Roles {
		c.p.Roles = append(c.p.Roles, r.Name)
		c.p.RoleDefs = append(c.p.RoleDefs, &Role{Name: r.Name, Etcd: r.Etcd, EtcdClient: r.EtcdClient,
			Prov:       Provenance{Pos: r.Pos, Origin: "roles." + r.Name, What: "role " + r.Name},
			Admin:      portSources(r.Admin, r.AdminOrigin),
			Public:     portSources(r.Public, r.PublicOrigin),
			AdminProv:  Provenance{Pos: r.AdminPos, Origin: r.AdminOrigin, What: "the admin ports of " + r.Name},
			PublicProv: Provenance{Pos: r.PublicPos, Origin: r.PublicOrigin, What: "the public ports of " + r.Name}})
	}
	c.sets()
	c.rules()
	c.overlays()
	return c.p
}

type compiler struct {
	s          *spec.Spec
	p          *Policy
	clusterPos spec.Pos // where the first member was written
}

func (c *compiler) addSet(name string, kind SetKind, subject string, prov Provenance, entries []Member, members []netip.Prefix) {
	set := &Set{Name: name, Kind: kind, Subject: subject, Prov: prov, Entries: entries, Members: map[Family][]netip.Prefix{}}
	for _, m := range members {
		f := FamilyOf(m)
		set.Members[f] = append(set.Members[f], m)
	}
	for f, ms := range set.Members {
		slices.SortFunc(ms, ranges.ComparePrefixes)
		set.Members[f] = slices.Compact(ms)
	}
	c.p.Sets = append(c.p.Sets, set)
}

// prefixes returns the prefixes of entries: all of them, or with
// everyPort, those that reach every port (no ports of their own).
func prefixes(entries []Member, everyPort bool) []netip.Prefix {
	var out []netip.Prefix
	for _, e := range entries {
		if !everyPort || len(e.Ports) == 0 {
			out = append(out, e.Prefix)
		}
	}
	return out
}

func (c *compiler) sets() {
	s := c.s
	var admins, trusted []Member
	for i, a := range s.Admins {
		origin := fmt.Sprintf("admins[%d]", i)
		admins = append(admins, Member{Prefix: a.Prefix.Masked(), Prov: Provenance{Pos: a.Pos, Origin: origin, What: origin}})
	}
	for i, t := range s.Trusted {
		origin := fmt.Sprintf("trusted[%d]", i)
		// entries with ports get rules of their own and are no members
		trusted = append(trusted, Member{Prefix: t.Prefix.Masked(), Prov: Provenance{Pos: t.Pos, Origin: origin, What: origin},
			Ports: portSources(t.Ports, origin)})
	}
	var cluster []Member
	byRole := map[string][]Member{}
	for i, n := range s.Nodes {
		node := &Node{Name: n.Name, Role: n.Role, Addresses: slices.Clone(n.Addresses),
			Prov: Provenance{Pos: n.Pos, Origin: fmt.Sprintf("nodes[%d]", i), What: "node " + n.Name}}
		c.p.Nodes = append(c.p.Nodes, node)
		for _, a := range n.Addresses {
			m := Member{Prefix: ranges.Host(a), Prov: node.Prov, Node: n.Name}
			cluster = append(cluster, m)
			byRole[n.Role] = append(byRole[n.Role], m)
		}
	}
	for i, pl := range s.Pools {
		pool := &Pool{Role: pl.Role, CIDRs: slices.Clone(pl.CIDRs),
			Prov: Provenance{Pos: pl.Pos, Origin: fmt.Sprintf("pools[%d]", i), What: "pool of " + pl.Role}}
		c.p.Pools = append(c.p.Pools, pool)
		for _, p := range pl.CIDRs {
			m := Member{Prefix: p.Masked(), Prov: pool.Prov}
			cluster = append(cluster, m)
			byRole[pl.Role] = append(byRole[pl.Role], m)
		}
	}
	top := spec.Pos{File: s.File, Line: 1, Col: 1}
	c.clusterPos = top
	if len(s.Nodes) > 0 {
		c.clusterPos = s.Nodes[0].Pos
	} else if len(s.Pools) > 0 {
		c.clusterPos = s.Pools[0].Pos
	}
	c.addSet(AdminsSet, KindAdmins, "", Provenance{Pos: firstPos(s.Admins, top), Origin: "admins", What: "admins"}, admins, prefixes(admins, false))
	c.addSet(TrustedSet, KindTrusted, "", Provenance{Pos: firstPos(everyPort(s.Trusted), top), Origin: "trusted", What: "trusted sources"}, trusted, prefixes(trusted, true))
	c.addSet(ClusterSet, KindCluster, "", Provenance{Pos: c.clusterPos, Origin: "nodes and pools", What: "every cluster member"}, cluster, prefixes(cluster, false))
	// A pool's range may hold nodes of other roles (one subnet for the whole
	// cluster): those addresses belong to their node's role, not the pool's,
	// or a rule about the pool's role (the dcos deny of agents to masters on
	// 8201 and 26257) would hit them too.
	for _, r := range s.Roles {
		var members []netip.Prefix
		for _, e := range byRole[r.Name] {
			if e.Node != "" {
				members = append(members, e.Prefix)
				continue
			}
			var others []netip.Prefix // the addresses of other roles' nodes in the pool's range
			for _, n := range c.p.Nodes {
				for _, a := range n.Addresses {
					if n.Role != r.Name && e.Prefix.Contains(a) {
						others = append(others, ranges.Host(a))
					}
				}
			}
			// and the smaller pools of other roles inside it (an edge /24 in
			// a worker /16): their addresses are their role's
			for j, pl := range c.p.Pools {
				for _, inner := range pl.CIDRs {
					inner = inner.Masked()
					if pl.Role != r.Name && inner.Bits() > e.Prefix.Bits() && e.Prefix.Contains(inner.Addr()) {
						others = append(others, inner)
						c.p.Carved = append(c.p.Carved, Carve{Inner: inner, Outer: e.Prefix, InnerRole: pl.Role, OuterRole: r.Name,
							InnerProv: pl.Prov, OuterProv: e.Prov, InnerPool: j})
					}
				}
			}
			members = append(members, ranges.Minus(e.Prefix, others...)...)
		}
		c.addSet(roleSetName(r.Name), KindRole, r.Name, Provenance{Pos: r.Pos, Origin: "roles." + r.Name, What: "members of role " + r.Name}, byRole[r.Name], members)
	}
	var all []Member
	for _, o := range s.Overlays.Networks {
		prov := Provenance{Pos: o.Pos, Origin: "overlays.networks." + o.Name, What: "overlay " + o.Name}
		entry := []Member{{Prefix: o.Prefix.Masked(), Prov: prov}}
		c.addSet(overlaySetName(o.Name), KindOverlay, o.Name, prov, entry, prefixes(entry, false))
		all = append(all, entry...)
	}
	if len(all) > 0 {
		c.addSet(OverlaysSet, KindOverlays, "", Provenance{Pos: s.Overlays.Pos, Origin: "overlays.networks", What: "every overlay"}, all, prefixes(all, false))
	}
	if len(s.Kubernetes.Pods) > 0 {
		var pods []Member
		for i, p := range s.Kubernetes.Pods {
			origin := fmt.Sprintf("kubernetes.pods[%d]", i)
			pods = append(pods, Member{Prefix: p.Masked(), Prov: Provenance{Pos: s.Kubernetes.PodsPos, Origin: origin, What: "pod range " + p.String()}})
		}
		c.addSet(PodsSet, KindPods, "", Provenance{Pos: s.Kubernetes.PodsPos, Origin: "kubernetes.pods", What: "the pods"}, pods, prefixes(pods, false))
	}
}

// roleSetName and overlaySetName name the sets of a role and an overlay
// (what the firewall calls them): consumers find them by kind, not by name.
func roleSetName(role string) string       { return "r-" + role }
func overlaySetName(overlay string) string { return "o-" + overlay }

// everyPort returns the sources that reach every port: those without ports.
func everyPort(srcs []spec.Source) []spec.Source {
	var out []spec.Source
	for _, src := range srcs {
		if len(src.Ports) == 0 {
			out = append(out, src)
		}
	}
	return out
}

func firstPos(srcs []spec.Source, def spec.Pos) spec.Pos {
	if len(srcs) > 0 {
		return srcs[0].Pos
	}
	return def
}

// source resolves a rule's `from`.
func (c *compiler) source(r *spec.Rule) Source {
	switch {
	case r.FromIP.IsValid():
		return Source{Kind: CIDRSource, CIDR: r.FromIP}
	case r.From == spec.FromWorld:
		return Source{Kind: AnySource}
	case r.From == spec.FromAdmins, r.From == spec.FromTrusted, r.From == spec.FromCluster:
		return Source{Kind: SetSource, Set: r.From}
	case r.From == spec.FromPods:
		return Source{Kind: SetSource, Set: PodsSet}
	case c.s.Overlays.Overlay(r.From) != nil:
		return Source{Kind: SetSource, Set: overlaySetName(r.From)}
	default:
		return Source{Kind: SetSource, Set: roleSetName(r.From)}
	}
}

// portRules splits a port list into one rule per protocol, ranges sorted
// and merged; an empty list gives one rule for every protocol and port.
func portRules(base Rule, ports []spec.Port) []Rule {
	if len(ports) == 0 {
		return []Rule{base}
	}
	var out []Rule
	protos := []spec.Protocol{spec.TCP, spec.UDP, spec.SCTP, spec.ICMP}
	var numbers []int
	for _, p := range ports {
		if n, ok := p.Proto.Number(); ok && !slices.Contains(numbers, int(n)) {
			numbers = append(numbers, int(n))
		}
	}
	slices.Sort(numbers)
	for _, n := range numbers {
		protos = append(protos, spec.ProtocolNumber(uint8(n)))
	}
	for _, proto := range protos {
		var rs []PortRange
		seen := false
		for _, p := range ports {
			if p.Proto == proto {
				seen = true
				if proto.HasPorts() {
					rs = append(rs, PortRange{From: p.From, To: p.To})
				}
			}
		}
		if !seen {
			continue
		}
		r := base
		r.Proto = proto
		r.Ports = ranges.Merge(rs)
		for _, ps := range portSources(ports, base.Prov.Origin) {
			if ps.Proto == proto {
				r.PortSources = append(r.PortSources, ps)
			}
		}
		out = append(out, r)
	}
	return out
}

func (c *compiler) rules() {
	s := c.s
	deny := c.p.Default
	userRules := func(action string) {
		for i, r := range s.Rules {
			if r.Action != action {
				continue
			}
			origin := fmt.Sprintf("rules[%d]", i-c.profileRules())
			if r.Origin != "spec" {
				origin = r.Origin
			}
			verdict, v := "allowed", Accept
			if action == spec.ActionDeny {
				verdict, v = "denied", deny
			}
			what := fmt.Sprintf("%s to %s", r.From, describeTo(r.To))
			if len(r.Ports) > 0 {
				what += " on " + portList(r.Ports)
			}
			what += ": " + verdict
			base := Rule{From: c.source(r), To: r.To, Verdict: v, Prov: Provenance{Pos: r.Pos, Origin: origin, What: what}}
			c.p.Rules = append(c.p.Rules, portRules(base, r.Ports)...)
		}
	}
	// 1. deny rules are decided before any allow
	userRules(spec.ActionDeny)
	// 2. cluster members (unless cluster.reach is listed) and trusted
	// sources reach every port of every node
	top := spec.Pos{File: s.File, Line: 1, Col: 1}
	if s.Reach != spec.ReachListed {
		c.p.Rules = append(c.p.Rules,
			Rule{From: Source{Kind: SetSource, Set: ClusterSet}, To: spec.ToAll, Verdict: Accept, By: ByCluster,
				Prov: Provenance{Pos: c.clusterPos, Origin: "nodes and pools", What: "cluster members reach every port"}})
	}
	c.p.Rules = append(c.p.Rules,
		Rule{From: Source{Kind: SetSource, Set: TrustedSet}, To: spec.ToAll, Verdict: Accept, By: ByTrusted,
			Prov: Provenance{Pos: firstPos(everyPort(s.Trusted), top), Origin: "trusted", What: "trusted sources reach every port"}},
	)
	// trusted entries with ports reach those ports only
	for i, t := range s.Trusted {
		if len(t.Ports) == 0 {
			continue
		}
		base := Rule{From: Source{Kind: CIDRSource, CIDR: t.Prefix}, To: spec.ToAll, Verdict: Accept, By: ByTrusted,
			Prov: Provenance{Pos: t.Pos, Origin: fmt.Sprintf("trusted[%d]", i),
				What: fmt.Sprintf("trusted %s reaches every role on %s", t.Prefix, portList(t.Ports))}}
		c.p.Rules = append(c.p.Rules, portRules(base, t.Ports)...)
	}
	// 3. admins reach each role's admin ports; the world its public ports
	for _, r := range s.Roles {
		base := Rule{From: Source{Kind: SetSource, Set: AdminsSet}, To: r.Name, Verdict: Accept, By: ByAdminPorts,
			Prov: Provenance{Pos: r.AdminPos, Origin: r.AdminOrigin, What: "admins reach " + r.Name + " on its admin ports"}}
		c.p.Rules = append(c.p.Rules, portRules(base, r.Admin)...)
	}
	for _, r := range s.Roles {
		base := Rule{From: Source{Kind: AnySource}, To: r.Name, Verdict: Accept, By: ByPublicPorts,
			Prov: Provenance{Pos: r.PublicPos, Origin: r.PublicOrigin, What: "the world reaches " + r.Name + " on its public ports"}}
		if len(r.Public) > 0 {
			c.p.Rules = append(c.p.Rules, portRules(base, r.Public)...)
		}
	}
	// 4. extra allow rules
	userRules(spec.ActionAllow)
}

func (c *compiler) profileRules() int {
	n := 0
	for _, r := range c.s.Rules {
		if r.Origin != "spec" {
			n++
		}
	}
	return n
}

func describeTo(to string) string {
	if to == spec.ToAll {
		return "every role"
	}
	return to
}

func portList(ports []spec.Port) string { return JoinPorts(portSources(ports, ""), ",") }

func (c *compiler) overlays() {
	o := c.s.Overlays
	c.p.Overlays.Default = Reject
	if o.Default == "accept" {
		c.p.Overlays.Default = Accept
	}
	c.p.Overlays.Prov = Provenance{Pos: o.Pos, Origin: "overlays.default", What: "traffic between different overlays gets " + o.Default}
	for _, n := range o.Networks {
		c.p.Overlays.Networks = append(c.p.Overlays.Networks, overlaySetName(n.Name))
	}
	for i, a := range o.Allow {
		what := a.From + " reaches overlay " + a.To
		if len(a.Ports) > 0 {
			what += " on " + portList(a.Ports)
		}
		prov := Provenance{Pos: a.Pos, Origin: fmt.Sprintf("overlays.allow[%d]", i), What: what}
		base := Rule{Prov: prov}
		for _, r := range portRules(base, a.Ports) {
			c.p.Overlays.Pairs = append(c.p.Overlays.Pairs, Pair{From: overlaySetName(a.From), To: overlaySetName(a.To), Proto: r.Proto, Ports: r.Ports, Prov: prov})
		}
	}
}
