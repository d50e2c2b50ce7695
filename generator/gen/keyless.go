package gen

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rampart-cluster/rampart/generator/pki"
)

// prepareState readies the state of a spec with etcd members for the run
// and says whether the run makes (or, with Check, checks) the final
// userdata, which needs the private keys. A state that holds certificates
// without their keys (a copy without its keys) serves the public tree and
// Check; a run that would write the final userdata from it is refused
// naming the missing keys, and nothing in such a state is ever created or
// changed: a key it lacks is never replaced by a new one, which would
// change the cluster's identity.
func prepareState(o Options, st *pki.State, r *Report) (withKeys bool, err error) {
	if o.TreeOnly {
		return false, nil // certificates only, read by Build
	}
	cas, leaves, err := st.MissingKeys(o.Spec.Cluster, r.Members)
	if err != nil {
		return false, fmt.Errorf("gen: state %s: %w", o.State, err)
	}
	if o.Check && o.KeylessCheck {
		r.KeysMissing = leaves
		return len(leaves) == 0, nil
	}
	if len(leaves) > 0 {
		err := st.NeedKeys(o.Spec.Cluster, r.Members)
		if o.Check {
			return false, fmt.Errorf("gen: state %s: %w", o.State, err)
		}
		return false, fmt.Errorf("gen: state %s: %w; nothing was written", o.State, err)
	}
	if o.Check {
		return true, nil
	}
	if len(cas) > 0 {
		// a CA key kept elsewhere: fine as long as nothing must be
		// issued, which the certificates tell without writing anything
		if _, err := st.LoadCertificates(o.Spec.Cluster, r.Members); err != nil {
			paths := make([]string, len(cas))
			for i, c := range cas {
				paths[i] = filepath.Join(o.State, filepath.FromSlash(c))
			}
			return false, fmt.Errorf("gen: state %s holds the CA certificate without its key (%s missing), so gen can issue nothing, and the spec needs a certificate issued: %w; nothing was written", o.State, strings.Join(paths, ", "), err)
		}
	}
	changes, err := st.Ensure(o.Spec.Cluster, r.Members)
	if err != nil {
		return false, fmt.Errorf("gen: state %s: %w", o.State, err)
	}
	r.StateChanges = changes
	if r.Certificates, err = st.List(); err != nil {
		return false, fmt.Errorf("gen: state %s: %w", o.State, err)
	}
	return true, nil
}
