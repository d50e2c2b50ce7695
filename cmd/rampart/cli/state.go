package cli

import (
	"errors"
	"fmt"

	"github.com/rampart-cluster/rampart/generator/pki"
)

// withStateAdvice adds to an error of a state without a CA, or one behind the
// spec, what to do about it. Running gen on an empty --state would make a
// new CA, whose userdata cannot join the running cluster: that is the
// advice only for a new cluster.
func withStateAdvice(err error, state string) error {
	switch {
	case errors.Is(err, pki.ErrNoCA):
		return fmt.Errorf("%w\nif this cluster was generated before, point --state at its state directory (now %s; it is relative to the current directory); rampart gen creates a new CA only for a new cluster, and userdata of a new CA cannot join a running one", err, state)
	case errors.Is(err, pki.ErrStale):
		return fmt.Errorf("%w\nif %s is this cluster's state directory, rampart gen -f SPEC --state %s brings it up to date with the spec (it keeps the CA); if not, point --state at the cluster's state directory", err, state, state)
	}
	return err
}
