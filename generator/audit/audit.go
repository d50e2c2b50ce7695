// Package audit reads the compiled policy and reports what an operator should
// look at before provisioning: lockouts, control-plane ports open to the
// world, other exposure, trusted public resolvers, metadata services open to
// containers and oversized whitelists, each with the spec line that causes it.
package audit

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/report"
)

// PublicResolvers are well-known public DNS resolvers.
var PublicResolvers = map[netip.Addr]string{
	netip.MustParseAddr("8.8.8.8"):              "Google Public DNS",
	netip.MustParseAddr("8.8.4.4"):              "Google Public DNS",
	netip.MustParseAddr("2001:4860:4860::8888"): "Google Public DNS",
	netip.MustParseAddr("2001:4860:4860::8844"): "Google Public DNS",
	netip.MustParseAddr("1.1.1.1"):              "Cloudflare DNS",
	netip.MustParseAddr("1.0.0.1"):              "Cloudflare DNS",
	netip.MustParseAddr("2606:4700:4700::1111"): "Cloudflare DNS",
	netip.MustParseAddr("2606:4700:4700::1001"): "Cloudflare DNS",
	netip.MustParseAddr("9.9.9.9"):              "Quad9",
	netip.MustParseAddr("149.112.112.112"):      "Quad9",
	netip.MustParseAddr("2620:fe::fe"):          "Quad9",
	netip.MustParseAddr("2620:fe::9"):           "Quad9",
	netip.MustParseAddr("208.67.222.222"):       "OpenDNS",
	netip.MustParseAddr("208.67.220.220"):       "OpenDNS",
}

// LargeWhitelist is how many single addresses of one /24 (or IPv6 /64) in
// admins or trusted make the audit suggest the CIDR instead.
const LargeWhitelist = 16

// Check audits a compiled policy. Its entries come sorted by position,
// errors before warnings on the same line.
func Check(p *policy.Policy) report.Report {
	a := &auditor{p: p}
	a.lockout()
	a.etcd()
	a.exposure()
	a.resolvers()
	a.metadata()
	a.wideSources()
	a.largeWhitelists()
	a.nodePorts()
	a.noEffect()
	a.accept()
	a.out.Sort()
	return a.out
}

type auditor struct {
	p   *policy.Policy
	out report.Report
}

func (a *auditor) add(m report.Message, path report.Path, pos policy.Pos, args ...any) {
	a.out.Append(m.At(path, pos, args...))
}

// roles lists the roles that have members (or could: every role the spec keeps).
func (a *auditor) roles() []*policy.Role { return a.p.RoleDefs }

// entries lists what the spec gives a set.
func (a *auditor) entries(set string) []policy.Member {
	if s := a.p.Set(set); s != nil {
		return s.Entries
	}
	return nil
}

// lockout: every role must be reachable on SSH by some admin.
func (a *auditor) lockout() {
	admins := a.entries(policy.AdminsSet)
	if len(admins) == 0 {
		a.add(msgNoAdmins, report.At("admins"), a.p.ProfileProv.Pos)
		return
	}
	for _, r := range a.roles() {
		reached := false
		var blocker policy.Decision
		for _, adm := range admins {
			d := a.p.Explain(policy.Query{From: adm.Prefix.Addr(), Role: r.Name, Proto: policy.TCP, Port: 22})
			if d.Verdict == policy.Accept {
				reached = true
				break
			}
			blocker = d
		}
		if !reached {
			pos := blocker.Prov.Pos
			if blocker.Rule == nil { // the final drop: point at the role's admin list, or the role
				pos = r.AdminProv.Pos
				if pos.Line == 0 {
					pos = r.Prov.Pos
				}
			}
			a.add(msgLockout, report.At("roles", r.Name), pos, r.Name, blocker.Prov.What, blocker.Prov.Origin)
		}
	}
}

// etcd: members of an etcd role must reach each other on the client and peer ports.
func (a *auditor) etcd() {
	for _, r := range a.roles() {
		if !r.Etcd {
			continue
		}
		members := a.p.NodesOf(r.Name)
		if len(members) > 0 && len(members)%2 == 0 {
			a.add(msgEtcdEven, report.At("roles", r.Name), r.Prov.Pos, r.Name, len(members), len(members)/2+1)
		}
		for _, port := range a.p.EtcdPorts {
			reported := false
			for _, from := range members {
				for _, addr := range from.Addresses {
					d := a.p.Explain(policy.Query{From: addr, Role: r.Name, Proto: policy.TCP, Port: port})
					if d.Verdict != policy.Accept && !reported {
						a.add(msgEtcdBlocked, report.At("roles", r.Name), d.Prov.Pos, from.Name, addr, r.Name, port, d.Prov.What, d.Prov.Origin)
						reported = true
					}
				}
			}
		}
	}
}

// worldFacing reports whether a rule's source is the world, or holds a
// range so wide that it stands for it: a literal one, or a member of the
// admins. (Such a range among the trusted sources or the cluster's pools
// opens every port; wideSources reports it once, as an error, rather than
// once per catalogued port.)
func (a *auditor) worldFacing(src policy.Source) bool {
	switch src.Kind {
	case policy.AnySource:
		return true
	case policy.CIDRSource:
		return worldWide(src.CIDR)
	case policy.SetSource:
		if set := a.p.Set(src.Set); set != nil && set.Kind == policy.KindAdmins {
			for _, members := range set.Members {
				for _, m := range members {
					if worldWide(m) {
						return true
					}
				}
			}
		}
	}
	return false
}

// privateSpace are the ranges no one reaches from the internet.
var privateSpace = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// worldWide reports whether a range is so wide that it stands for the world:
// an IPv4 /8 or wider, an IPv6 /16 or wider, not inside private space.
func worldWide(p netip.Prefix) bool {
	if p.Addr().Is4() && p.Bits() > 8 || p.Addr().Is6() && p.Bits() > 16 {
		return false
	}
	for _, private := range privateSpace {
		if ranges.Inside(p, private) {
			return false
		}
	}
	return true
}

// wideSources: a range that stands for the world, written where the spec
// means a few trusted machines.
func (a *auditor) wideSources() {
	check := func(list string, m report.Message, path report.Path, why string, p netip.Prefix, pos policy.Pos) {
		if worldWide(p) {
			a.add(m, path, pos, list, p, why)
		}
	}
	for i, t := range a.entries(policy.TrustedSet) {
		why := "it reaches every port of every node"
		if len(t.Ports) > 0 {
			why = "it reaches every node on " + policy.JoinPorts(t.Ports, ", ")
		}
		check("trusted", msgWorldTrusted, report.At("trusted", i), why, t.Prefix, t.Prov.Pos)
	}
	for i, adm := range a.entries(policy.AdminsSet) {
		check("admins", msgWorldAdmin, report.At("admins", i), "it reaches every role's admin ports (SSH among them)", adm.Prefix, adm.Prov.Pos)
	}
	for i, pool := range a.p.Pools {
		for j, c := range pool.CIDRs {
			check("a pool of role "+pool.Role, msgWorldPool, report.At("pools", i, "cidrs", j), "as cluster members it reaches every port of every node", c, pool.Prov.Pos)
		}
	}
}

// fromWorld evaluates a connection from an address outside every set and
// narrow range: the first world-facing rule that matches decides; nil when
// none does.
func (a *auditor) fromWorld(role string, proto policy.Protocol, port uint16) *policy.Rule {
	return a.p.Evaluate(role, policy.V4, a.worldFacing).Decides(proto, port).Rule
}

// exposure: catalogued services the world reaches.
func (a *auditor) exposure() {
	for _, r := range a.roles() {
		for _, svc := range catalogue(a.p.Profile) {
			rule := a.fromWorld(r.Name, svc.Proto, svc.Port)
			if rule == nil || rule.Verdict != policy.Accept {
				continue
			}
			pos := a.portPos(rule, svc)
			switch {
			case r.Etcd && svc.Proto == policy.TCP && slices.Contains(a.p.EtcdPorts, svc.Port):
				// rampart's own etcd: TLS with client certificates
				a.add(msgEtcdExposed, report.At("roles", r.Name), pos, r.Name, svc.Port, svc.Proto, svc.Name, rule.Prov.What, rule.Prov.Origin)
			case svc.ControlPlane:
				a.add(msgControlPlaneExposed, report.At("roles", r.Name), pos, r.Name, svc.Port, svc.Proto, svc.Name, rule.Prov.What, rule.Prov.Origin)
			default:
				a.add(msgExposed, report.At("roles", r.Name), pos, r.Name, svc.Port, svc.Proto, svc.Name, rule.Prov.What, rule.Prov.Origin)
			}
		}
	}
}

// portPos points at the entry of a role's public or admin list that opens
// the port, when such a list made the rule; otherwise at the rule.
func (a *auditor) portPos(rule *policy.Rule, svc policy.Service) policy.Pos {
	if rule.By == policy.ByPublicPorts || rule.By == policy.ByAdminPorts {
		if ps := rule.PortSource(svc.Port); ps != nil {
			return ps.Prov.Pos
		}
	}
	return rule.Prov.Pos
}

// resolvers: a public resolver trusted by address gains nothing (its
// replies are accepted as ESTABLISHED anyway) and lets spoofed UDP from it
// reach every port. An entry with ports reaches those ports only and is
// left alone.
func (a *auditor) resolvers() {
	for i, t := range a.entries(policy.TrustedSet) {
		if worldWide(t.Prefix) || len(t.Ports) > 0 {
			continue // a wide range is an error of its own: wideSources
		}
		if t.Prefix.IsSingleIP() {
			if name, ok := PublicResolvers[t.Prefix.Addr()]; ok {
				a.add(msgPublicResolver, report.At("trusted", i), t.Prov.Pos, t.Prefix.Addr(), name, t.Prefix)
			}
			continue
		}
		var inside []string
		for addr, name := range PublicResolvers {
			if t.Prefix.Contains(addr) {
				inside = append(inside, addr.String()+" ("+name+")")
			}
		}
		if len(inside) > 0 {
			sort.Strings(inside)
			a.add(msgResolversInside, report.At("trusted", i), t.Prov.Pos, t.Prefix, strings.Join(inside, ", "))
		}
	}
}

// metadata: with firewall.metadata allow, containers read the node's
// userdata from the metadata service, and the userdata of etcd members and
// etcd clients holds etcd keys.
func (a *auditor) metadata() {
	if a.p.MetadataServices != nil {
		return
	}
	var keyed []string
	for _, r := range a.roles() {
		if r.Etcd || r.EtcdClient {
			keyed = append(keyed, r.Name)
		}
	}
	if len(keyed) == 0 {
		return
	}
	which := "role " + keyed[0]
	if len(keyed) > 1 {
		which = "roles " + strings.Join(keyed, ", ")
	}
	a.add(msgMetadataOpen, report.At("firewall", "metadata"), a.p.MetadataProv.Pos, which)
}

// largeWhitelists: many single addresses of one network listed one by one.
func (a *auditor) largeWhitelists() {
	for _, list := range []struct {
		name string
		srcs []policy.Member
	}{{"admins", a.entries(policy.AdminsSet)}, {"trusted", a.entries(policy.TrustedSet)}} {
		groups := map[netip.Prefix][]policy.Member{}
		var order []netip.Prefix
		for _, src := range list.srcs {
			if !src.Prefix.IsSingleIP() {
				continue
			}
			bits := 24
			if src.Prefix.Addr().Is6() {
				bits = 64
			}
			net, _ := src.Prefix.Addr().Prefix(bits)
			if _, seen := groups[net]; !seen {
				order = append(order, net)
			}
			groups[net] = append(groups[net], src)
		}
		for _, net := range order {
			if g := groups[net]; len(g) >= LargeWhitelist {
				a.add(msgLargeWhitelist, report.At(list.name), g[0].Prov.Pos, list.name, len(g), net)
			}
		}
	}
}

// nodePorts: with profile kubernetes, the world reaching a role's NodePort
// range (30000-32767, tcp or udp) makes every NodePort Service public.
func (a *auditor) nodePorts() {
	if a.p.Profile != "kubernetes" {
		return
	}
	nodePorts := ranges.Span(30000, 32767)
	for _, r := range a.roles() {
		acc := a.p.Evaluate(r.Name, policy.V4, a.worldFacing)
		for _, proto := range []policy.Protocol{policy.TCP, policy.UDP} {
			open := acc.Open(proto).Intersect(nodePorts)
			if len(open) == 0 {
				continue
			}
			rule := acc.Decides(proto, open[0].From).Rule
			pos := rule.Prov.Pos
			if ps := rule.PortSource(open[0].From); ps != nil && (rule.By == policy.ByPublicPorts || rule.By == policy.ByAdminPorts) {
				pos = ps.Prov.Pos
			}
			a.add(msgNodePortsWorld, report.At("roles", r.Name), pos, r.Name, string(proto)+"/"+open.Text(), rule.Prov.What, rule.Prov.Origin)
			break
		}
	}
}
