package aws

import "github.com/rampart-cluster/rampart/providers/delivery"

// Machines are the launch templates' machines of the delivered ones: one
// per role without etcd (its nodes and pools) and one per etcd member, in
// their order, each with the userdata it boots with (Ignition when the spec
// outputs it, else cloud-config) and, when that carries etcd keys, its CA's
// fingerprint cut to the tag's 16 hex digits.
func Machines(delivered []delivery.Machine) []Machine {
	out := make([]Machine, 0, len(delivered))
	for _, d := range delivered {
		m := Machine{Role: d.Role, EtcdCA: caTag(d.EtcdCA)}
		if d.Kind == delivery.KindNode {
			m.Node = d.Name
		}
		m.Format, m.Userdata = d.Boot()
		out = append(out, m)
	}
	return out
}

// caTag is the TagEtcdCA value of a CA fingerprint: its first 16 hex
// digits.
func caTag(fingerprint string) string {
	if len(fingerprint) > 16 {
		return fingerprint[:16]
	}
	return fingerprint
}
