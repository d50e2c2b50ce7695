// Package delivery is what rampart hands to a provider and the shape every
// provider adapter shares. A Machine is the userdata of one role, or of one
// node with its own identity, exactly as `rampart gen` wrote it and a person
// reviewed it (package reviewed reads them and refuses a stale tree); a
// Provider plans their delivery, then applies the plan, and both say what
// they do as a Report of Changes.
//
// The package imports nothing of the generator but its report shape
// (generator/report, which builds nothing): a provider that takes Machines
// cannot rebuild them.
package delivery

// Kinds of machine, as the output tree names them (roles/NAME, nodes/NAME).
const (
	KindRole = "role" // every member of a role without its own identity: its nodes and pools
	KindNode = "node" // a node with its own identity: an etcd member
)

// Userdata formats, as the spec's outputs name them.
const (
	FormatIgnition    = "ignition"
	FormatCloudConfig = "cloud-config"
)

// Machine is one machine to deliver: a role's userdata, or an etcd
// member's.
type Machine struct {
	Kind string // KindRole or KindNode
	Name string // the role's name, or the node's
	Role string // the role it boots as (Name for KindRole)
	// Userdata holds the userdata in every format the spec outputs, byte
	// for byte as gen wrote it: from the output tree for a machine without
	// secrets, from the state directory's final userdata for one with them
	// (an etcd member, a role with etcd_client).
	Userdata map[string][]byte
	// EtcdCA is, for a machine whose userdata carries etcd keys, the sha256
	// (hex) of their CA certificate: the manifest's etcd_ca_sha256. "" for
	// a machine without keys.
	EtcdCA string
}

// Boot is the userdata a provider that takes one document boots the
// machine with: Ignition when the spec outputs it, else cloud-config.
func (m Machine) Boot() (format string, data []byte) {
	if data, ok := m.Userdata[FormatIgnition]; ok {
		return FormatIgnition, data
	}
	return FormatCloudConfig, m.Userdata[FormatCloudConfig]
}

// For is the machine a node of the spec boots as: its own when it has one
// (an etcd member), else its role's. ok is false when there is neither.
func For(machines []Machine, node, role string) (m Machine, ok bool) {
	for _, m := range machines {
		if m.Kind == KindNode && m.Name == node {
			return m, true
		}
	}
	for _, m := range machines {
		if m.Kind == KindRole && m.Name == role {
			return m, true
		}
	}
	return Machine{}, false
}
