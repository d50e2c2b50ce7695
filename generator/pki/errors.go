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
)
