// Package spec reads a rampart cluster spec (version 1): strict YAML decoding,
// profile defaults and validation, every error carrying file:line:col.
//
// It knows YAML, and Butane for the operator's snippets (read relative to
// the spec's directory and translated by the butane library, their errors
// at their own line and column); it produces plain Go values for the policy
// compiler and the boot generators.
package spec

import (
	"fmt"
	"net/netip"
)

// Spec is a decoded, defaulted and validated cluster spec.
type Spec struct {
	File     string   // the file name given to Parse or LoadFile
	Version  int      // spec format version; always 1
	Cluster  string   // cluster name: 1 to 20 characters of a-z, 0-9 and -
	OS       OS       // the target OS; flatcar at its default version when not given
	Outputs  []string // boot formats to write (ignition, cloud-config); default [ignition]
	Profile  string   // dcos, coreos-web, kubernetes or none (the default)
	Admins   []Source // addresses and CIDRs that reach each role's admin ports
	Trusted  []Source // addresses and CIDRs treated like cluster members: every port, or the entry's Ports
	Roles    []*Role  // in the order of the spec, profile roles first
	Nodes    []*Node  // members known by address, in spec order
	Pools    []*Pool  // members known by range, in spec order; never of an etcd role
	Rules    []*Rule  // profile rules first, then the spec's, in order
	Overlays Overlays // virtual networks and which of them may reach which
	Etcd     Etcd     // etcd client and peer ports, defaults filled in
	Firewall Firewall // backend, action and logging, defaults filled in
	Provider Provider // zero when the spec names no provider
	// Kubernetes holds the settings of profile kubernetes; zero for other
	// profiles.
	Kubernetes Kubernetes
	// Reach is cluster.reach: ReachAll (members reach every port; the
	// default but for profile kubernetes) or ReachListed (only what the
	// profile and the rules name).
	Reach    string
	ReachPos Pos // where cluster.reach was written, or the profile's position
	// Accept is audit.accept: the audit findings the operator accepts,
	// in spec order.
	Accept []Acceptance
	// Users are the login accounts of every machine, in spec order; a
	// role's own are in Role.Users (UsersOf gives a machine's).
	Users []User
	// Snippets are the operator's Butane documents merged into the
	// machines' Ignition configs (SnippetsOf gives a machine's).
	Snippets Snippets
	// CloudConfig is how the cloud-config output is written.
	CloudConfig CloudConfig

	// ProfilePos is where the profile was chosen (or the top of the file).
	ProfilePos Pos
}

// OS is the operating system the boot configuration is written for.
type OS struct {
	Variant string // flatcar | fcos
	Version string // Butane variant version, e.g. 1.1.0
	Pos     Pos    // where os: was written, or the top of the file when defaulted
}

// Output names accepted in `outputs`.
const (
	OutputIgnition    = "ignition"
	OutputCloudConfig = "cloud-config"
)

// Source is an address or CIDR given by the user, with where it was written.
type Source struct {
	Prefix netip.Prefix // an address becomes a /32 or /128
	// Ports, for a trusted entry written as {cidr: ..., ports: [...]}, are
	// the only ports the source reaches; empty: every port (admins entries
	// never have ports).
	Ports []Port
	Pos   Pos // where the entry was written
}

// Zone names: they decide the default port lists of a role.
const (
	ZoneAdmin   = "admin"
	ZonePrivate = "private"
	ZonePublic  = "public"
)

// Role is a kind of node: its zone, etcd membership and open ports.
type Role struct {
	Name string // as written under roles or by the profile
	Zone string // admin | private | public; decides the default port lists
	Etcd bool   // the role's machines are etcd members
	// EtcdClient (etcd_client, default false) gives the role's machines the
	// etcd client certificate and key, for agents that talk to etcd. An
	// etcd member has them anyway.
	EtcdClient bool
	// Users are the role's own login accounts, added to the top-level
	// ones on its machines (never a name the top-level list has).
	Users     []User
	Public    []Port // open to the world
	Admin     []Port // open to admins
	Pos       Pos    // where the role was declared (profile line for profile roles)
	PublicPos Pos    // where the public list came from
	AdminPos  Pos    // where the admin list came from
	// Origin says who declared the role: "spec" or "profile <name>".
	Origin       string
	PublicOrigin string // where Public came from: "roles.<name>.public", "zone <zone> default" or "profile <name>"
	AdminOrigin  string // where Admin came from: "roles.<name>.admin" or "zone <zone> default"
}

// Node is a cluster member known by its addresses.
type Node struct {
	Name      string       // host name, unique in the spec
	Role      string       // name of one of the spec's roles
	Addresses []netip.Addr // IPv4 and IPv6, at least one; no other node has them
	// SSH is where `rampart apply` connects to the node: a host name or an
	// address, with an optional :port. "" means its first address.
	SSH string
	Pos Pos // where the list item was written
}

// Pool is a set of members known only by address ranges (autoscaling groups).
type Pool struct {
	Role  string         // name of one of the spec's roles, one that does not run etcd
	CIDRs []netip.Prefix // at least one; masked CIDRs, not single addresses
	Pos   Pos            // where the list item was written
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
// Entries of protocols without ports (icmp, ipip, proto/41) have no range
// (From and To are 0).
type Port struct {
	Proto Protocol // tcp, udp, sctp, icmp, or an IP protocol number (ProtocolNumber) for ipip, esp, gre, vrrp, proto/N
	From  uint16   // first port; 0 for icmp
	To    uint16   // last port, inclusive; equals From for a single port, 0 for icmp
	Pos   Pos      // where the entry was written; for built-in defaults, the line that brought them
}

// String renders the port the way the spec writes it: 80/tcp,
// 10000-10100/tcp, icmp, ipip, proto/41.
func (p Port) String() string {
	switch {
	case !p.Proto.HasPorts():
		return p.Proto.Name()
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
	From   string       // world, admins, trusted, cluster, pods, a role, an overlay or an address/CIDR, as written
	FromIP netip.Prefix // set when From is a literal address or CIDR
	To     string       // a role name or "all" (`to: cluster` is read as all)
	Ports  []Port       // empty: every port of every protocol
	Action string       // allow (the default) or deny
	Pos    Pos          // where the rule was written; for profile rules, the profile line
	Origin string       // "spec" or "profile <name>"
}

// Overlays are virtual networks isolated from each other in FORWARD.
type Overlays struct {
	Networks []Overlay      // in spec order; none overlap or share a role's name
	Default  string         // reject | accept
	Allow    []OverlayAllow // overlay pairs let through, in spec order
	Pos      Pos            // where overlays: was written; zero when the spec has none
}

// Overlay is one virtual network.
type Overlay struct {
	Name   string       // as written under overlays.networks; never a role's name
	Prefix netip.Prefix // the network's range, host bits clear
	Pos    Pos          // where the name was written
}

// OverlayAllow lets one overlay reach another, on some ports or on all.
type OverlayAllow struct {
	From  string // name of the overlay the traffic comes from
	To    string // name of the overlay it may reach; never From
	Ports []Port // empty: every port of every protocol
	Pos   Pos    // where the list item was written
}

// Etcd holds the ports of the etcd cluster and the image it runs.
type Etcd struct {
	ClientPort uint16 // etcd.client_port; default 2379
	PeerPort   uint16 // etcd.peer_port; default 2380, never ClientPort
	// Image is etcd.image: the container image etcd runs from (on fcos the
	// image of the container, on Flatcar the etcd-member wrapper's image
	// and tag); "" when not given, for the generator's default. When given
	// it is a non-empty string without whitespace.
	Image    string
	ImagePos Pos // where etcd.image was written; zero when not given
}

// Firewall settings shared by all backends.
type Firewall struct {
	Backend   string // iptables | nftables
	Action    string // drop | reject
	LogPrefix string // kernel log prefix of dropped packets, at most 29 printable ASCII characters; default "rampart-drop: "
	LogRate   string // N/second|minute|hour|day
	// RPFilter is firewall.rpfilter, reverse-path filtering of incoming
	// packets against spoofed sources: strict, loose (the default: cloud and
	// bare-metal nodes are often multi-homed) or off.
	RPFilter string
	// Metadata is firewall.metadata: whether containers (forwarded traffic)
	// may reach the cloud metadata services, which serve the node's
	// userdata: deny (the default) or allow.
	Metadata    string
	MetadataPos Pos // where firewall.metadata was written; Pos when not given
	Pos         Pos // where firewall: was written, or the top of the file when not given
}

// Values of firewall.rpfilter.
const (
	RPFilterStrict = "strict" // a packet must arrive on the interface its reply would leave by
	RPFilterLoose  = "loose"  // a packet's source must be routable through some interface
	RPFilterOff    = "off"    // no reverse-path check
)

// Values of firewall.metadata.
const (
	MetadataDeny  = "deny"  // containers may not reach the metadata services
	MetadataAllow = "allow" // containers may reach them
)

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
