package spec

import (
	"fmt"
	"net/netip"

	"gopkg.in/yaml.v3"
)

// zoneDefaults are the port lists a role gets from its zone when neither the
// profile nor the spec gives them.
var zoneDefaults = map[string]struct{ public, admin []string }{
	ZoneAdmin:   {public: []string{"80/tcp", "443/tcp"}, admin: []string{"22/tcp"}},
	ZonePrivate: {public: nil, admin: []string{"22/tcp"}},
	ZonePublic:  {public: []string{"80/tcp", "443/tcp"}, admin: []string{"22/tcp"}},
}

// profileRole is a role a profile declares.
type profileRole struct {
	name   string
	zone   string
	etcd   bool
	public []string // nil: the zone's default
}

// profile is the set of defaults a profile supplies.
type profile struct {
	roles []profileRole
	rules []profileRule
}

type profileRule struct {
	from, to, action string
	ports            []string
}

// profiles are the defaults each `profile:` value brings.
var profiles = map[string]profile{
	"none": {},
	"dcos": {
		roles: []profileRole{
			{name: "master", zone: ZoneAdmin},
			{name: "agent", zone: ZonePrivate},
			{name: "public-agent", zone: ZonePublic},
		},
		// The DC/OS connectivity table: agents reach masters on every port
		// but TCP 8201 and 26257.
		rules: []profileRule{
			{from: "agent", to: "master", action: ActionDeny, ports: []string{"8201/tcp", "26257/tcp"}},
			{from: "public-agent", to: "master", action: ActionDeny, ports: []string{"8201/tcp", "26257/tcp"}},
		},
	},
	"coreos-web": {
		roles: []profileRole{
			{name: "web", zone: ZonePublic, etcd: true, public: []string{"80/tcp", "443/tcp", "3000/tcp", "3001/tcp"}},
		},
	},
}

func mustPorts(list []string, pos Pos) []Port {
	out := make([]Port, 0, len(list))
	for _, s := range list {
		d := &decoder{file: pos.File}
		p, ok := d.port(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, "")
		if !ok {
			panic("rampart: bad built-in port " + s)
		}
		p.Pos = pos
		out = append(out, p)
	}
	return out
}

// build applies the profile and defaults to what was written, then checks
// everything that refers to something else.
func (d *decoder) build(root *yaml.Node, r *raw) *Spec {
	top := Pos{File: d.file, Line: root.Line, Col: root.Column}
	s := &Spec{File: d.file, Version: 1, ProfilePos: top}
	if r.version == nil {
		d.errorf(root, "", "version is missing: write `version: 1` at the top of the spec")
	}
	if r.cluster == nil {
		d.errorf(root, "", "cluster is missing: name the cluster (1 to 20 characters of a-z, 0-9 and -)")
	} else {
		s.Cluster = *r.cluster
	}

	s.OS = r.os
	if s.OS.Variant == "" {
		s.OS = OS{Variant: "flatcar", Version: DefaultOSVersion["flatcar"], Pos: top}
	}
	s.Outputs = r.outputs
	if s.Outputs == nil {
		s.Outputs = []string{OutputIgnition}
	} else if len(s.Outputs) == 0 {
		d.errorf(r.outNode, "outputs", "outputs is empty: name at least one of ignition, cloud-config")
	}

	s.Profile = "none"
	if r.profile != nil {
		s.Profile = *r.profile
		s.ProfilePos = d.pos(r.profNode)
	}
	s.Admins, s.Trusted = r.admins, r.trusted

	d.buildRoles(s, r)
	d.buildMembers(s, r)
	d.buildOverlays(s, r)
	d.buildRules(s, r)

	s.Etcd = r.etcd
	if s.Etcd.ClientPort == 0 {
		s.Etcd.ClientPort = 2379
	}
	if s.Etcd.PeerPort == 0 {
		s.Etcd.PeerPort = 2380
	}
	if s.Etcd.ClientPort == s.Etcd.PeerPort {
		d.errorf(r.etcdNode, "etcd", "client_port and peer_port are both %d; etcd needs two ports", s.Etcd.ClientPort)
	}

	s.Firewall = r.firewall
	if !r.fwGiven {
		s.Firewall.Pos = top
	}
	if s.Firewall.Backend == "" {
		s.Firewall.Backend = "iptables"
		if s.OS.Variant == "fcos" {
			s.Firewall.Backend = "nftables"
		}
	} else if s.Firewall.Backend == "iptables" && s.OS.Variant == "fcos" {
		d.errorf(r.backend, "firewall.backend", "iptables needs ipset, which Fedora CoreOS does not ship; use nftables (the default for fcos)")
	}
	if s.Firewall.Action == "" {
		s.Firewall.Action = "drop"
	}
	if s.Firewall.LogPrefix == "" {
		s.Firewall.LogPrefix = "rampart-drop: "
	}
	if s.Firewall.LogRate == "" {
		s.Firewall.LogRate = "10/minute"
	}
	return s
}

func (d *decoder) buildRoles(s *Spec, r *raw) {
	prof := profiles[s.Profile]
	origin := "profile " + s.Profile
	byName := map[string]*Role{}
	for _, pr := range prof.roles {
		role := &Role{Name: pr.name, Zone: pr.zone, Etcd: pr.etcd, Pos: s.ProfilePos, Origin: origin,
			PublicPos: s.ProfilePos, AdminPos: s.ProfilePos, PublicOrigin: origin, AdminOrigin: origin}
		if pr.public != nil {
			role.Public = mustPorts(pr.public, s.ProfilePos)
		} else {
			role.Public = mustPorts(zoneDefaults[pr.zone].public, s.ProfilePos)
			role.PublicOrigin = "zone " + pr.zone + " default"
		}
		role.Admin = mustPorts(zoneDefaults[pr.zone].admin, s.ProfilePos)
		role.AdminOrigin = "zone " + pr.zone + " default"
		byName[role.Name] = role
		s.Roles = append(s.Roles, role)
	}
	for _, rr := range r.roles {
		role, fromProfile := byName[rr.name]
		if !fromProfile {
			if rr.zone == nil {
				d.errs = append(d.errs, &Error{Pos: rr.pos, Path: "roles." + rr.name, Msg: "the role needs a zone (admin, private or public)"})
				continue
			}
			role = &Role{Name: rr.name, Pos: rr.pos, Origin: "spec"}
			byName[rr.name] = role
			s.Roles = append(s.Roles, role)
		}
		zoneChanged := rr.zone != nil && *rr.zone != role.Zone
		if rr.zone != nil {
			role.Zone = *rr.zone
		}
		if rr.etcd != nil {
			role.Etcd = *rr.etcd
		}
		switch {
		case rr.publicPos != nil:
			role.Public, role.PublicPos, role.PublicOrigin = rr.public, *rr.publicPos, "roles."+rr.name+".public"
		case !fromProfile || zoneChanged:
			role.Public = mustPorts(zoneDefaults[role.Zone].public, rr.pos)
			role.PublicPos, role.PublicOrigin = rr.pos, "zone "+role.Zone+" default"
		}
		switch {
		case rr.adminPos != nil:
			role.Admin, role.AdminPos, role.AdminOrigin = rr.admin, *rr.adminPos, "roles."+rr.name+".admin"
		case !fromProfile || zoneChanged:
			role.Admin = mustPorts(zoneDefaults[role.Zone].admin, rr.pos)
			role.AdminPos, role.AdminOrigin = rr.pos, "zone "+role.Zone+" default"
		}
	}
	if len(s.Roles) == 0 && len(d.errs) == 0 {
		d.errs = append(d.errs, &Error{Pos: s.ProfilePos, Msg: "no roles: declare roles or choose a profile (dcos, coreos-web) that brings them"})
	}
}

func (d *decoder) buildMembers(s *Spec, r *raw) {
	names := map[string]*Node{}
	owners := map[netip.Addr]*Node{}
	for _, n := range r.nodes {
		if first, dup := names[n.Name]; dup {
			d.errs = append(d.errs, &Error{Pos: n.Pos, Path: "nodes", Msg: fmt.Sprintf("node name %q is used twice (first at line %d)", n.Name, first.Pos.Line)})
			continue
		}
		names[n.Name] = n
		if s.Role(n.Role) == nil {
			d.errorf(d.nodeRoles[n], "nodes."+n.Name+".role", "role %q does not exist (roles: %s)", n.Role, roleList(s))
			continue
		}
		clash := false
		for _, a := range n.Addresses {
			if other, dup := owners[a]; dup {
				d.errs = append(d.errs, &Error{Pos: n.Pos, Path: "nodes." + n.Name, Msg: fmt.Sprintf("address %s is also node %s's (line %d)", a, other.Name, other.Pos.Line)})
				clash = true
			}
			owners[a] = n
		}
		if !clash {
			s.Nodes = append(s.Nodes, n)
		}
	}
	for i, p := range r.pools {
		role := s.Role(p.Role)
		if role == nil {
			d.errs = append(d.errs, &Error{Pos: p.Pos, Path: index("pools", i), Msg: fmt.Sprintf("role %q does not exist (roles: %s)", p.Role, roleList(s))})
			continue
		}
		if role.Etcd {
			d.errs = append(d.errs, &Error{Pos: p.Pos, Path: index("pools", i), Msg: fmt.Sprintf("role %q runs etcd, whose members must be listed as nodes with their addresses, not as a pool", p.Role)})
			continue
		}
		s.Pools = append(s.Pools, p)
	}
}

func roleList(s *Spec) string {
	out := ""
	for i, r := range s.Roles {
		if i > 0 {
			out += ", "
		}
		out += r.Name
	}
	if out == "" {
		return "none"
	}
	return out
}

func (d *decoder) buildOverlays(s *Spec, r *raw) {
	s.Overlays = r.overlays
	s.Overlays.Networks = nil
	s.Overlays.Allow = nil
	if s.Overlays.Default == "" {
		s.Overlays.Default = "reject"
	}
	for _, o := range r.overlays.Networks {
		if s.Role(o.Name) != nil {
			d.errs = append(d.errs, &Error{Pos: o.Pos, Path: "overlays.networks." + o.Name, Msg: fmt.Sprintf("%q is also a role; rules could not tell them apart", o.Name)})
			continue
		}
		clash := false
		for _, prev := range s.Overlays.Networks {
			if prev.Prefix.Overlaps(o.Prefix) {
				d.errs = append(d.errs, &Error{Pos: o.Pos, Path: "overlays.networks." + o.Name,
					Msg: fmt.Sprintf("%s overlaps overlay %s (%s, line %d); overlays must not share addresses", o.Prefix, prev.Name, prev.Prefix, prev.Pos.Line)})
				clash = true
				break
			}
		}
		if !clash {
			s.Overlays.Networks = append(s.Overlays.Networks, o)
		}
	}
	for i, a := range r.overlays.Allow {
		ends := d.allowEnds[i]
		ok := true
		for j, name := range []string{a.From, a.To} {
			if r.overlays.Overlay(name) == nil {
				d.errorf(ends[j], index("overlays.allow", i), "%q is not an overlay (overlays: %s)", name, overlayList(r.overlays))
				ok = false
			}
		}
		if ok && a.From == a.To {
			d.errorf(ends[0], index("overlays.allow", i), "%s to itself is always allowed; an allowed pair names two overlays", a.From)
			ok = false
		}
		if ok {
			s.Overlays.Allow = append(s.Overlays.Allow, a)
		}
	}
}

func overlayList(o Overlays) string {
	out := ""
	for i, n := range o.Networks {
		if i > 0 {
			out += ", "
		}
		out += n.Name
	}
	if out == "" {
		return "none"
	}
	return out
}

func (d *decoder) buildRules(s *Spec, r *raw) {
	for _, pr := range profiles[s.Profile].rules {
		s.Rules = append(s.Rules, &Rule{From: pr.from, To: pr.to, Action: pr.action,
			Ports: mustPorts(pr.ports, s.ProfilePos), Pos: s.ProfilePos, Origin: "profile " + s.Profile})
	}
	for i, rule := range r.rules {
		ends := d.ruleEnds[rule]
		ok := true
		switch {
		case reserved[rule.From] && rule.From != ToAll:
		case s.Role(rule.From) != nil, s.Overlays.Overlay(rule.From) != nil:
		default:
			if p, perr := netip.ParsePrefix(rule.From); perr == nil && p.Masked() == p {
				rule.FromIP = p
			} else if a, aerr := netip.ParseAddr(rule.From); aerr == nil && a.Zone() == "" {
				rule.FromIP = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			} else if perr == nil {
				d.errorf(ends[0], index("rules", i)+".from", "%q has host bits set; did you mean %s?", rule.From, p.Masked())
				ok = false
			} else {
				d.errorf(ends[0], index("rules", i)+".from", "%q is not world, admins, trusted, cluster, a role (%s), an overlay or an address/CIDR", rule.From, roleList(s))
				ok = false
			}
		}
		if rule.To != ToAll && s.Role(rule.To) == nil {
			d.errorf(ends[1], index("rules", i)+".to", "%q is not a role (%s) or all", rule.To, roleList(s))
			ok = false
		}
		if ok {
			s.Rules = append(s.Rules, rule)
		}
	}
}
