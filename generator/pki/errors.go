package pki

import "errors"

// Errors the user sees.
var (
	ErrNoCA         = errors.New("the state directory holds no etcd CA")
	ErrOtherCluster = errors.New("the state directory belongs to another cluster")
	ErrStale        = errors.New("the state directory is not up to date with the spec")
	ErrBroken       = errors.New("the state directory is inconsistent")
	ErrCAKeyMissing = errors.New("the CA key is not in the state directory")
	ErrKeyMode      = errors.New("a private key of the state directory is readable by others")
	ErrCAExpiring   = errors.New("the etcd CA itself expires within the window")
	// ErrPhaseNotDone: a rollout phase cannot end while a member has not
	// had it (a renewal or a rotation during the rollout begins the phase
	// again); run the rollout again.
	ErrPhaseNotDone = errors.New("the rollout phase is not done on every member")
)
