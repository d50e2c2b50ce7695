package apply

import (
	"errors"
	"fmt"
)

// Errors the user sees. Those that stop one node are reported on that
// node's line; those that stop the whole apply come back from Run.
var (
	// ErrNoAuth: neither -i KEY nor an agent at SSH_AUTH_SOCK.
	ErrNoAuth = errors.New("no SSH credentials: give -i KEY or run an ssh-agent (SSH_AUTH_SOCK)")
	// ErrLockout: the spec locks the operators out (audit's lockout
	// errors); nothing is applied anywhere.
	ErrLockout = errors.New("the spec locks the operators out (rampart audit reports it); nothing was applied")
	// ErrRollbackPending: an earlier apply armed a rollback on the node
	// that has neither been confirmed nor fired yet.
	ErrRollbackPending = errors.New("a rollback armed by an earlier apply is pending on the node; wait for its timeout and run apply again")
	// ErrUnsafePath: a path of the tree that cannot be written into the
	// node's shell scripts as it is.
	ErrUnsafePath = errors.New("path has characters apply does not write into a remote script")
	// ErrNoMachine: the tree has no machine for a node.
	ErrNoMachine = errors.New("the output tree has no machine for the node")
	// ErrUnknownNode: --node names no node of the spec.
	ErrUnknownNode = errors.New("no such node in the spec")
)

// HostKeyError stops a node whose host key is not the one known_hosts
// holds for it: unknown (never trusted on first use) or changed.
type HostKeyError struct {
	Host        string // host:port as known_hosts is searched for it
	KnownHosts  string // the file searched
	Fingerprint string // SHA256 fingerprint of the key the node offered
	Changed     bool   // known_hosts has another key for the host
}

// Error says what is wrong with the key and how to check it out of band.
func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("host key of %s CHANGED: it offered %s, which is not the key %s holds for it; someone may be intercepting the connection, or the node was reinstalled: check the key on the node's console before you replace the line in %s", e.Host, e.Fingerprint, e.KnownHosts, e.KnownHosts)
	}
	return fmt.Sprintf("host key of %s is unknown: it offered %s, and %s has no key for it; apply never trusts a key on first use: check the fingerprint on the node's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add the key to %s (ssh-keyscan)", e.Host, e.Fingerprint, e.KnownHosts, e.KnownHosts)
}
