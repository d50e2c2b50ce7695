// Package spec reads a rampart cluster spec (version 1): strict YAML decoding,
// profile defaults and validation, every error carrying file:line:col.
//
// It knows YAML and nothing else; it produces plain Go values for the policy
// compiler and the boot generators.
package spec

import (
	"fmt"
	"net/netip"
)

// Pos is where a value was written in the spec file.
type Pos struct {
	File string
	Line int
	Col  int
}

// String renders the position like a compiler does: file:line:col.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Spec is a decoded, defaulted and validated cluster spec.
type Spec struct {
	File     string
	Version  int
	Cluster  string
	OS       OS
	Outputs  []string
	Profile  string
	Admins   []Source
	Trusted  []Source
	Roles    []*Role // in the order of the spec, profile roles first
	Nodes    []*Node
	Pools    []*Pool
	Rules    []*Rule // profile rules first, then the spec's, in order
	Overlays Overlays
	Etcd     Etcd
	Firewall Firewall
	Provider Provider

	// ProfilePos is where the profile was chosen (or the top of the file).
	ProfilePos Pos
}

// OS is the operating system the boot configuration is written for.
type OS struct {
	Variant string // flatcar | fcos
	Version string // Butane variant version, e.g. 1.1.0
	Pos     Pos
}

// Output names accepted in `outputs`.
const (
	OutputIgnition    = "ignition"
	OutputCloudConfig = "cloud-config"
)

// Source is an address or CIDR given by the user, with where it was written.
type Source struct {
	Prefix netip.Prefix
	Pos    Pos
}

// Zone names: they decide the default port lists of a role.
const (
	ZoneAdmin   = "admin"
	ZonePrivate = "private"
	ZonePublic  = "public"
)

// Role is a kind of node: its zone, etcd membership and open ports.
type Role struct {
	Name string
	Zone string
	Etcd bool
	// EtcdClient (etcd_client, default false) gives the role's machines the
	// etcd client certificate and key, for agents that talk to etcd. An
	// etcd member has them anyway.
	EtcdClient bool
	Public     []Port // open to the world
	Admin      []Port // open to admins
	Pos        Pos    // where the role was declared (profile line for profile roles)
	PublicPos  Pos    // where the public list came from
	AdminPos   Pos    // where the admin list came from
	// Origin says who declared the role: "spec" or "profile <name>".
	Origin       string
	PublicOrigin string
	AdminOrigin  string
}

// Node is a cluster member known by its addresses.
type Node struct {
	Name      string
	Role      string
	Addresses []netip.Addr
	Pos       Pos
}

// Pool is a set of members known only by address ranges (autoscaling groups).
type Pool struct {
	Role  string
	CIDRs []netip.Prefix
	Pos   Pos
}

// Protocol of a port entry.
type Protocol string

// Protocols a port entry may name.
const (
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
	ICMP Protocol = "icmp" // echo requests (ping), ICMP for IPv4 and ICMPv6 for IPv6
)

// Port is one entry of a port list: a protocol and an inclusive range.
// ICMP entries have no range (From and To are 0).
type Port struct {
	Proto Protocol
	From  uint16
	To    uint16
	Pos   Pos
}

// String renders the port the way the spec writes it: 80/tcp, 10000-10100/tcp, icmp.
func (p Port) String() string {
	switch {
	case p.Proto == ICMP:
		return "icmp"
	case p.From == p.To:
		return fmt.Sprintf("%d/%s", p.From, p.Proto)
	default:
		return fmt.Sprintf("%d-%d/%s", p.From, p.To, p.Proto)
	}
}

// Actions a rule may take.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"
)

// Source kinds a rule's `from` resolves to.
const (
	FromWorld   = "world"
	FromAdmins  = "admins"
	FromTrusted = "trusted"
	FromCluster = "cluster"
	ToAll       = "all"
)

// Rule is an extra allow or deny rule.
type Rule struct {
	From   string
	FromIP netip.Prefix // set when From is a literal address or CIDR
	To     string       // a role name or "all"
	Ports  []Port       // empty: every port of every protocol
	Action string
	Pos    Pos
	Origin string // "spec" or "profile <name>"
}

// Overlays are virtual networks isolated from each other in FORWARD.
type Overlays struct {
	Networks []Overlay
	Default  string // reject | accept
	Allow    []OverlayAllow
	Pos      Pos
}

// Overlay is one virtual network.
type Overlay struct {
	Name   string
	Prefix netip.Prefix
	Pos    Pos
}

// OverlayAllow lets one overlay reach another, on some ports or on all.
type OverlayAllow struct {
	From  string
	To    string
	Ports []Port
	Pos   Pos
}

// Etcd holds the ports of the etcd cluster.
type Etcd struct {
	ClientPort uint16
	PeerPort   uint16
}

// Firewall settings shared by all backends.
type Firewall struct {
	Backend   string // iptables | nftables
	Action    string // drop | reject
	LogPrefix string
	LogRate   string // N/second|minute|hour|day
	Pos       Pos
}

// Role returns the role with the given name, or nil.
func (s *Spec) Role(name string) *Role {
	for _, r := range s.Roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Node returns the node with the given name, or nil.
func (s *Spec) Node(name string) *Node {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Overlay returns the overlay with the given name, or nil.
func (o *Overlays) Overlay(name string) *Overlay {
	for i := range o.Networks {
		if o.Networks[i].Name == name {
			return &o.Networks[i]
		}
	}
	return nil
}

// Wants reports whether the spec asks for the named output.
func (s *Spec) Wants(output string) bool {
	for _, o := range s.Outputs {
		if o == output {
			return true
		}
	}
	return false
}
