package policy

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// Pos is a position in the spec: file, line and column.
type Pos = spec.Pos

// Member is one address or range the spec gives a set, with where it is
// written.
type Member struct {
	Prefix netip.Prefix // masked; a single address is a /32 or /128
	// Prov says where: Origin "admins[0]", "trusted[1]", "nodes[2]",
	// "pools[0]" or "overlays.networks.it"; What "admins[0]",
	// "trusted[1]", "node agent-1", "pool of agent" or "overlay it".
	Prov Provenance
	Node string // the node whose address it is (cluster and role sets)
	// Ports are the ports of a trusted entry that lists them: it reaches
	// those ports only, by rules of its own, and is not among the set's
	// Members.
	Ports []PortSource
}

// PortSource is one entry of a port list as the spec writes it.
type PortSource struct {
	Proto Protocol   // TCP, UDP, SCTP, ICMP or an IP protocol number (spec.ProtocolNumber)
	Range PortRange  // zero for protocols without ports
	Prov  Provenance // Pos: the entry; Origin: the list ("roles.master.public", "rules[2]"); What: the entry ("80/tcp")
}

// String renders the entry as the spec writes it: 80/tcp, 10000-10100/tcp,
// icmp.
func (ps PortSource) String() string { return ps.Prov.What }

// JoinPorts renders port entries as the spec writes them, joined by sep.
func JoinPorts(ps []PortSource, sep string) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, sep)
}

func portSources(ports []spec.Port, origin string) []PortSource {
	var out []PortSource
	for _, p := range ports {
		out = append(out, PortSource{Proto: p.Proto, Range: PortRange{From: p.From, To: p.To},
			Prov: Provenance{Pos: p.Pos, Origin: origin, What: p.String()}})
	}
	return out
}

// PortSource returns the first port entry of the rule that holds a
// connection of its protocol to the port, or nil (a rule that names no
// ports has none).
func (r *Rule) PortSource(port uint16) *PortSource {
	for i := range r.PortSources {
		ps := &r.PortSources[i]
		if !ps.Proto.HasPorts() || ps.Range.Contains(port) {
			return ps
		}
	}
	return nil
}

// Node is a cluster member known by its addresses.
type Node struct {
	Name      string
	Role      string
	Addresses []netip.Addr
	Prov      Provenance // Origin "nodes[i]", What "node NAME"
}

// Pool is a set of members known only by address ranges.
type Pool struct {
	Role  string
	CIDRs []netip.Prefix
	Prov  Provenance // Origin "pools[i]", What "pool of ROLE"
}

// Role is what the policy knows of a role beyond its name.
type Role struct {
	Name       string
	Etcd       bool         // its nodes are members of the etcd cluster
	EtcdClient bool         // its machines get an etcd client certificate
	Prov       Provenance   // where the role is declared (or the profile that brings it)
	Admin      []PortSource // its admin ports, as the spec (or the default) lists them
	Public     []PortSource // its public ports
	AdminProv  Provenance   // where the admin list comes from: roles.NAME.admin, a zone default or a profile
	PublicProv Provenance   // the same for the public list
}

// Node returns the named node, or nil.
func (p *Policy) Node(name string) *Node {
	i := slices.IndexFunc(p.Nodes, func(n *Node) bool { return n.Name == name })
	if i < 0 {
		return nil
	}
	return p.Nodes[i]
}

// Role returns the named role, or nil.
func (p *Policy) Role(name string) *Role {
	i := slices.IndexFunc(p.RoleDefs, func(r *Role) bool { return r.Name == name })
	if i < 0 {
		return nil
	}
	return p.RoleDefs[i]
}

// NodesOf returns the nodes of a role, in spec order.
func (p *Policy) NodesOf(role string) []*Node {
	var out []*Node
	for _, n := range p.Nodes {
		if n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// Location is where an address belongs in the cluster.
type Location struct {
	Role string // the role of the node or pool
	Node *Node  // the node whose address it is; nil for an address of a pool
	Pool *Pool  // the first pool whose range holds it; nil for a node's address
}

// Locate finds the node an address belongs to, or else the pool whose
// range holds it most specifically (the longest prefix; the first of equal
// ones); ok is false for an address of neither.
func (p *Policy) Locate(a netip.Addr) (loc Location, ok bool) {
	a = a.Unmap()
	for _, n := range p.Nodes {
		for _, na := range n.Addresses {
			if na.Unmap() == a {
				return Location{Role: n.Role, Node: n}, true
			}
		}
	}
	// the most specific pool: a smaller pool inside a larger one of another
	// role is carved out of it
	best := -1
	for _, pl := range p.Pools {
		for _, c := range pl.CIDRs {
			if c.Contains(a) && c.Bits() > best {
				loc, best = Location{Role: pl.Role, Pool: pl}, c.Bits()
			}
		}
	}
	return loc, best >= 0
}
