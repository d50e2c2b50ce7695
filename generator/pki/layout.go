package pki

import (
	"io/fs"
	"path"
)

// File modes of the state directory.
const (
	DirMode  fs.FileMode = 0o700
	KeyMode  fs.FileMode = 0o600
	CertMode fs.FileMode = 0o644
)

// Paths of the state directory, relative to its root, slash-separated.
const (
	CACert = "etcd/ca.crt"
	CAKey  = "etcd/ca.key"
	// LegacyClientCert and LegacyClientKey are the one client pair of the
	// whole cluster that states made before client certificates were per
	// role hold. Nothing issues it or gives it to a machine any more; Ensure
	// leaves it as it is (a key others may read tightened) and says, when it
	// issues client certificates, that it is no longer used; Rotate retires
	// it (removes both files). It stays valid for etcd until it expires, or
	// until the CA is replaced.
	LegacyClientCert = "etcd/client.crt"
	LegacyClientKey  = "etcd/client.key"
	// CAHistory lists, one a line, the fingerprints (Fingerprint) of the
	// CAs that Rotate replaced: the output trees they made may be replaced
	// by trees of the current CA.
	CAHistory = "etcd/ca.replaced"
	// NextCACert and NextCAKey are the new CA of a rolling rotation in
	// its first phase (PhaseTrust), trusted beside the current one but
	// signing nothing yet.
	NextCACert = "etcd/ca.next.crt"
	NextCAKey  = "etcd/ca.next.key"
	// PrevCACert and PrevCAKey are the CA a rolling rotation replaced,
	// while the members still trust it (PhaseLeaves, PhaseRetire); its
	// key is kept until the rotation ends, so that it could be undone.
	PrevCACert = "etcd/ca.prev.crt"
	PrevCAKey  = "etcd/ca.prev.key"
	// RolloutFile records the delivery in progress (Rollout).
	RolloutFile = "etcd/rollout.json"
	membersDir  = "etcd/members"
	clientsDir  = "etcd/clients"
	lockName    = ".lock"

	rolloutLockName = ".rollout-lock"
)

// MemberCert is the path of a member's certificate in the state directory.
func MemberCert(name string) string { return path.Join(membersDir, name+".crt") }

// MemberKey is the path of a member's key in the state directory.
func MemberKey(name string) string { return path.Join(membersDir, name+".key") }

// ClientCert is the path of a role's client certificate in the state
// directory.
func ClientCert(role string) string { return path.Join(clientsDir, role+".crt") }

// ClientKey is the path of a role's client key in the state directory.
func ClientKey(role string) string { return path.Join(clientsDir, role+".key") }
