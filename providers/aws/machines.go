package aws

import (
	"fmt"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// MachinesFromState collects the final userdata of every machine of the
// spec, as gen.FinalUserdata gives it: a role's, or an etcd member's with its
// keys from the state directory (which `rampart gen` must have made; this
// only reads it). Ignition where the spec asks for it, else cloud-config.
// Machines whose userdata carries etcd keys get the CA's EtcdCA.
func MachinesFromState(s *spec.Spec, st *pki.State) ([]Machine, error) {
	format := spec.OutputIgnition
	if !s.Wants(spec.OutputIgnition) {
		format = spec.OutputCloudConfig
	}
	ms, err := gen.Machines(s, policy.Compile(s))
	if err != nil {
		return nil, err
	}
	var out []Machine
	ca := ""
	for _, bm := range ms {
		m := Machine{Role: bm.Name, Format: FormatIgnition}
		if format == spec.OutputCloudConfig {
			m.Format = FormatCloudConfig
		}
		if bm.Kind == "node" {
			n := s.Node(bm.Name)
			if n == nil {
				return nil, fmt.Errorf("machine %s is not a node of the spec", bm.Name)
			}
			m.Role, m.Node = n.Role, n.Name
		}
		m.Userdata, err = gen.FinalUserdata(s, st, bm.Kind, bm.Name, format)
		if err != nil {
			return nil, fmt.Errorf("userdata of %s %s: %w", bm.Kind, bm.Name, err)
		}
		if r := s.Role(m.Role); m.Node != "" || r != nil && r.EtcdClient {
			// its userdata carries keys of the state's CA
			if ca == "" {
				fp, err := st.CAFingerprint()
				if err != nil {
					return nil, err
				}
				ca = fp[:16]
			}
			m.EtcdCA = ca
		}
		out = append(out, m)
	}
	return out, nil
}
