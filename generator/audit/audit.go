// Package audit reads the compiled policy and reports what an operator should
// look at before provisioning: lockouts, control-plane ports open to the
// world, other exposure, trusted public resolvers, metadata services open to
// containers and oversized whitelists, each with the spec line that causes it.
package audit

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
)

// Severity of a finding: errors make `rampart audit` exit 1.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one thing the audit reports.
type Finding struct {
	Severity Severity   `json:"severity"` // Error or Warning
	Code     string     `json:"code"`     // lockout, etcd-blocked, etcd-even, control-plane-exposed, exposed, world-source, public-resolver, metadata-open, large-whitelist
	Message  string     `json:"message"`  // what is wrong and why, in one line
	Pos      policy.Pos `json:"-"`        // spec position that causes the finding
	File     string     `json:"file"`     // spec file of Pos, copied for the JSON output
	Line     int        `json:"line"`     // 1-based line of Pos
	Column   int        `json:"column"`   // 1-based column of Pos
}

// String renders the finding like a compiler: file:line:col: severity: message.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s", f.Pos, f.Severity, f.Message)
}

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

// Check audits a compiled policy. Findings come sorted by position, errors
// before warnings on the same line.
func Check(p *policy.Policy) []Finding {
	a := &auditor{p: p}
	a.lockout()
	a.etcd()
	a.exposure()
	a.resolvers()
	a.metadata()
	a.wideSources()
	a.largeWhitelists()
	sort.SliceStable(a.out, func(i, j int) bool {
		x, y := a.out[i], a.out[j]
		if x.Pos.Line != y.Pos.Line {
			return x.Pos.Line < y.Pos.Line
		}
		if x.Pos.Col != y.Pos.Col {
			return x.Pos.Col < y.Pos.Col
		}
		return x.Severity == Error && y.Severity != Error
	})
	return a.out
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

type auditor struct {
	p   *policy.Policy
	out []Finding
}

func (a *auditor) add(sev Severity, code string, pos policy.Pos, format string, args ...any) {
	a.out = append(a.out, Finding{Severity: sev, Code: code, Message: fmt.Sprintf(format, args...),
		Pos: pos, File: pos.File, Line: pos.Line, Column: pos.Col})
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
		a.add(Error, "lockout", a.p.ProfileProv.Pos, "admins is empty: no operator can reach any node on SSH (22/tcp) from outside the cluster")
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
			a.add(Error, "lockout", pos, "no admin can reach role %s on SSH (22/tcp): %s (%s)", r.Name, blocker.Prov.What, blocker.Prov.Origin)
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
			a.add(Warning, "etcd-even", r.Prov.Pos, "role %s has %d etcd members (quorum %d): an even number tolerates no more failures than one member fewer; use an odd number",
				r.Name, len(members), len(members)/2+1)
		}
		for _, port := range a.p.EtcdPorts {
			reported := false
			for _, from := range members {
				for _, addr := range from.Addresses {
					d := a.p.Explain(policy.Query{From: addr, Role: r.Name, Proto: policy.TCP, Port: port})
					if d.Verdict != policy.Accept && !reported {
						a.add(Error, "etcd-blocked", d.Prov.Pos, "etcd member %s (%s) cannot reach the other members of role %s on %d/tcp: %s (%s)",
							from.Name, addr, r.Name, port, d.Prov.What, d.Prov.Origin)
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
	check := func(list string, sev Severity, why string, p netip.Prefix, pos policy.Pos) {
		if worldWide(p) {
			a.add(sev, "world-source", pos, "%s lists %s, which stands for the world: %s", list, p, why)
		}
	}
	for _, t := range a.entries(policy.TrustedSet) {
		why := "it reaches every port of every node"
		if len(t.Ports) > 0 {
			why = "it reaches every node on " + policy.JoinPorts(t.Ports, ", ")
		}
		check("trusted", Error, why, t.Prefix, t.Prov.Pos)
	}
	for _, adm := range a.entries(policy.AdminsSet) {
		check("admins", Warning, "it reaches every role's admin ports (SSH among them)", adm.Prefix, adm.Prov.Pos)
	}
	for _, pool := range a.p.Pools {
		for _, c := range pool.CIDRs {
			check("a pool of role "+pool.Role, Error, "as cluster members it reaches every port of every node", c, pool.Prov.Pos)
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
		for _, svc := range policy.Catalog {
			rule := a.fromWorld(r.Name, svc.Proto, svc.Port)
			if rule == nil || rule.Verdict != policy.Accept {
				continue
			}
			pos := a.portPos(rule, svc)
			if svc.ControlPlane {
				a.add(Error, "control-plane-exposed", pos, "the world reaches %s on %d/%s (%s, unauthenticated control plane): %s (%s)",
					r.Name, svc.Port, svc.Proto, svc.Name, rule.Prov.What, rule.Prov.Origin)
			} else {
				a.add(Warning, "exposed", pos, "the world reaches %s on %d/%s (%s): %s (%s)",
					r.Name, svc.Port, svc.Proto, svc.Name, rule.Prov.What, rule.Prov.Origin)
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
	for _, t := range a.entries(policy.TrustedSet) {
		if worldWide(t.Prefix) || len(t.Ports) > 0 {
			continue // a wide range is an error of its own: wideSources
		}
		if t.Prefix.IsSingleIP() {
			if name, ok := PublicResolvers[t.Prefix.Addr()]; ok {
				a.add(Error, "public-resolver", t.Prov.Pos, "trusted %s is a public resolver (%s): its replies are accepted anyway (ESTABLISHED), so trust gains nothing, and trust by address lets spoofed UDP from it reach every port of every node; remove it from trusted, or write it as {cidr: %s, ports: [...]} with the ports it really needs",
					t.Prefix.Addr(), name, t.Prefix)
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
			a.add(Warning, "public-resolver", t.Prov.Pos, "trusted %s holds public resolvers %s: their replies are accepted as established without trust, and trust lets spoofed UDP from them reach every port; narrow it",
				t.Prefix, strings.Join(inside, ", "))
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
	a.add(Warning, "metadata-open", a.p.MetadataProv.Pos, "firewall.metadata is allow: containers can read their node's userdata from the cloud metadata service, and the userdata of %s holds etcd keys; allow it only where every container is trusted",
		which)
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
				a.add(Warning, "large-whitelist", g[0].Prov.Pos, "%s lists %d single addresses of %s one by one; the CIDR (or a narrower one) would serve and keep the list reviewable",
					list.name, len(g), net)
			}
		}
	}
}
