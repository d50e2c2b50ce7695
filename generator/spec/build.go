package spec

import (
	"net/netip"

	"github.com/rampart-cluster/rampart/generator/report"
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
	admin  []string // nil: the zone's default
}

// profile is the set of defaults a profile supplies.
type profile struct {
	roles []profileRole
	rules []profileRule
}

type profileRule struct {
	from, to, action string
	ports            []string
	why              string // what the rule is for, with its source (kubeadm, a CNI); part of its origin
}

// profileOf returns what the spec's profile brings: a fixed set, or for
// kubernetes one made from its settings.
func profileOf(s *Spec) profile {
	if s.Profile == "kubernetes" {
		return kubernetesProfile(s.Kubernetes, s.Etcd)
	}
	return profiles[s.Profile]
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
		p, ok := d.port(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, nil)
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
	if !r.verGiven {
		d.errorf(root, nil, msgVersionMissing)
	}
	if !r.clGiven {
		d.errorf(root, nil, msgClusterMissing)
	} else if r.cluster != nil {
		s.Cluster = *r.cluster
	}

	s.OS = r.os
	if s.OS.Variant == "" {
		s.OS = OS{Variant: "flatcar", Version: DefaultOSVersion["flatcar"], Pos: top}
	}
	s.Outputs = r.outputs
	if s.Outputs == nil {
		s.Outputs = []string{OutputIgnition}
	} else if isNull(r.outNode) || (r.outNode.Kind == yaml.SequenceNode && len(r.outNode.Content) == 0) {
		d.errorf(r.outNode, report.At("outputs"), msgOutputsEmpty)
	}

	s.Profile = "none"
	if r.profile != nil {
		s.Profile = *r.profile
		s.ProfilePos = d.pos(r.profNode)
	}
	s.Admins, s.Trusted = r.admins, r.trusted
	s.Etcd = r.etcd
	if s.Etcd.ClientPort == 0 {
		s.Etcd.ClientPort = 2379
	}
	if s.Etcd.PeerPort == 0 {
		s.Etcd.PeerPort = 2380
	}
	if s.Etcd.ClientPort == s.Etcd.PeerPort {
		switch client, peer := r.etcdPorts[0], r.etcdPorts[1]; {
		case peer != nil && client != nil:
			d.errorf(peer, report.At("etcd", "peer_port"), msgEtcdPortsEqual, s.Etcd.PeerPort)
		case client != nil:
			d.errorf(client, report.At("etcd", "client_port"), msgEtcdPortIsDefaultPeer, s.Etcd.ClientPort)
		default:
			d.errorf(peer, report.At("etcd", "peer_port"), msgEtcdPortIsDefaultClient, s.Etcd.PeerPort)
		}
	}

	s.Reach = ReachAll
	if s.Profile == "kubernetes" {
		s.Reach = ReachListed
	}
	s.ReachPos = s.ProfilePos
	if r.reach != nil {
		s.Reach, s.ReachPos = *r.reach, r.reachPos
	}
	d.buildKubernetes(s, root, r)

	s.Users = r.users
	d.buildRoles(s, r)
	d.checkUsers(s, r)
	d.buildMembers(s, r)
	d.buildOverlays(s, r)
	d.buildRules(s, r)
	d.buildCloudConfig(s, r)
	d.buildSnippets(s, r)

	s.Accept = r.accept
	s.Provider = r.provider
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
		d.errorf(r.backend, report.At("firewall", "backend"), msgIPTablesOnFCOS)
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
	if s.Firewall.RPFilter == "" {
		s.Firewall.RPFilter = RPFilterLoose
	}
	if s.Firewall.Metadata == "" {
		s.Firewall.Metadata = MetadataDeny
	}
	if s.Firewall.MetadataPos.Line == 0 {
		s.Firewall.MetadataPos = s.Firewall.Pos
	}
	return s
}

func (d *decoder) buildRoles(s *Spec, r *raw) {
	prof := profileOf(s)
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
		if pr.admin != nil {
			role.Admin = mustPorts(pr.admin, s.ProfilePos)
		} else {
			role.Admin = mustPorts(zoneDefaults[pr.zone].admin, s.ProfilePos)
			role.AdminOrigin = "zone " + pr.zone + " default"
		}
		byName[role.Name] = role
		s.Roles = append(s.Roles, role)
	}
	for _, rr := range r.roles {
		role, fromProfile := byName[rr.name]
		if !fromProfile {
			if !rr.zoneGiven {
				// Reported, and the role still exists: what refers to it
				// is not a second problem.
				d.add(msgRoleWithoutZone.At(report.At("roles", rr.name), rr.pos))
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
		if rr.etcdClient != nil {
			role.EtcdClient = *rr.etcdClient
		}
		role.Users = rr.users
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
	etcd := false
	for _, role := range s.Roles {
		etcd = etcd || role.Etcd
	}
	for _, rr := range r.roles {
		if rr.etcdClient != nil && *rr.etcdClient && !etcd {
			d.errorf(rr.etcdClientNode, report.At("roles", rr.name, "etcd_client"), msgEtcdClientWithoutEtcd)
		}
	}
	if len(s.Roles) == 0 && !r.rlGiven && (r.profNode == nil || r.profile != nil) {
		d.add(msgNoRoles.At(nil, s.ProfilePos))
	}
}

func (d *decoder) buildMembers(s *Spec, r *raw) {
	names := map[string]*Node{}
	owners := map[netip.Addr]*Node{}
	for _, n := range r.nodes {
		// Each check runs whatever the others found: a role typo on one
		// node does not hide a duplicate address on the next.
		ref := d.refs[n]
		ok := n.Name != "" && n.Role != ""
		if first, dup := names[n.Name]; dup && n.Name != "" {
			d.errorf(ref.name, ref.path.Append("name"), msgNodeNameTwice, n.Name, d.refs[first].name.Line)
			ok = false
		} else if n.Name != "" {
			names[n.Name] = n
		}
		if n.Role != "" && s.Role(n.Role) == nil {
			if !r.roleNames[n.Role] {
				d.errorf(ref.to, ref.path.Append("role"), msgUnknownRole, n.Role, roleList(s))
			}
			ok = false
		}
		for j, a := range n.Addresses {
			if other, dup := owners[a]; dup {
				label, line := d.nodeLabel(other)
				d.errorf(ref.addrs[j], ref.addrPath[j], msgAddressOfOtherNode, a, label, line)
				ok = false
				continue
			}
			owners[a] = n
		}
		if ok {
			s.Nodes = append(s.Nodes, n)
		}
	}
	for _, p := range r.pools {
		ref := d.refs[p]
		role := s.Role(p.Role)
		if role == nil {
			if !r.roleNames[p.Role] {
				d.errorf(ref.to, ref.path.Append("role"), msgUnknownRole, p.Role, roleList(s))
			}
			continue
		}
		if role.Etcd {
			d.errorf(ref.to, ref.path.Append("role"), msgEtcdRoleInPool, p.Role)
			continue
		}
		s.Pools = append(s.Pools, p)
	}
}

// nodeLabel names a node in a message, and the line it is written on: by
// its name, or by its place in the list when it has none.
func (d *decoder) nodeLabel(n *Node) (string, int) {
	ref := d.refs[n]
	if n.Name == "" || ref.name == nil {
		return "without a name (" + ref.path.String() + ")", n.Pos.Line
	}
	return n.Name, ref.name.Line
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
			d.add(msgOverlayIsRole.At(report.At("overlays", "networks", o.Name), o.Pos, o.Name))
			continue
		}
		clash := false
		for _, prev := range s.Overlays.Networks {
			if prev.Prefix.Overlaps(o.Prefix) {
				d.add(msgOverlaysOverlap.At(report.At("overlays", "networks", o.Name), o.Pos, o.Prefix, prev.Name, prev.Prefix, prev.Pos.Line))
				clash = true
				break
			}
		}
		if !clash {
			s.Overlays.Networks = append(s.Overlays.Networks, o)
		}
	}
	for i, a := range r.overlays.Allow {
		ref := d.allowRefs[i]
		ok := true
		for j, end := range []*yaml.Node{ref.from, ref.to} {
			name := []string{a.From, a.To}[j]
			if r.overlays.Overlay(name) == nil {
				if !r.overlayNames[name] {
					d.errorf(end, ref.path.Append([]string{"from", "to"}[j]), msgUnknownOverlay, name, overlayList(r.overlays))
				}
				ok = false
			}
		}
		if ok && a.From == a.To {
			d.errorf(ref.to, ref.path.Append("to"), msgOverlayPairToItself, a.From)
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
	for _, pr := range profileOf(s).rules {
		origin := "profile " + s.Profile
		if pr.why != "" {
			origin += ": " + pr.why
		}
		action := pr.action
		if action == "" {
			action = ActionAllow
		}
		s.Rules = append(s.Rules, &Rule{From: pr.from, To: pr.to, Action: action,
			Ports: mustPorts(pr.ports, s.ProfilePos), Pos: s.ProfilePos, Origin: origin})
	}
	for _, rule := range r.rules {
		ref := d.refs[rule]
		ok := true
		switch {
		case rule.From == FromPods:
			if len(s.Kubernetes.Pods) == 0 {
				if s.Profile != "kubernetes" {
					d.errorf(ref.from, ref.path.Append("from"), msgPodsWithoutKubernetes)
				}
				ok = false
			}
		case reserved[rule.From] && rule.From != ToAll:
		case s.Role(rule.From) != nil, r.overlays.Overlay(rule.From) != nil:
		case r.roleNames[rule.From], r.overlayNames[rule.From]:
			ok = false // a broken role or overlay, reported where it is declared
		default:
			_, perr := netip.ParsePrefix(rule.From)
			_, aerr := netip.ParseAddr(rule.From)
			if perr == nil || aerr == nil {
				rule.FromIP, ok = d.prefix(ref.from, ref.path.Append("from"), true)
			} else {
				d.errorf(ref.from, ref.path.Append("from"), msgUnknownSource, rule.From, roleList(s), overlayList(r.overlays))
				ok = false
			}
		}
		if rule.To == FromCluster {
			rule.To = ToAll // every member's role
		}
		if rule.To != ToAll && s.Role(rule.To) == nil {
			if !r.roleNames[rule.To] {
				d.errorf(ref.to, ref.path.Append("to"), msgUnknownDestination, rule.To, roleList(s))
			}
			ok = false
		}
		if ok {
			s.Rules = append(s.Rules, rule)
		}
	}
}
