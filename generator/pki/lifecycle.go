package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Change is one thing a run did to the state directory.
type Change struct {
	Path string // relative to the state directory
	What string // what the run did, in words, e.g. "created the key of member e1"
}

// String renders the change as "path: what".
func (c Change) String() string { return c.Path + ": " + c.What }

// Ensure makes the state directory hold a CA for cluster, a pair for each
// member whose certificate names exactly its addresses, and a client pair
// for each client role (ClientRoles). It reads and checks everything first
// and writes only then, creating only what is missing: a member whose
// addresses changed gets a new certificate for its existing key, signed by
// the existing CA. The client pair of a state made before client pairs were
// per role (LegacyClientCert) is left as it is. It returns what it changed,
// in a stable order.
func (st *State) Ensure(cluster string, members []Member) ([]Change, error) {
	unlock, err := st.begin(members)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Read.
	loose := &looseKeys{}
	ca, err := st.readCA(cluster, loose)
	newAuthority := errors.Is(err, ErrNoCA)
	if err != nil && !newAuthority {
		return nil, err
	}
	legacy, err := st.readLegacy(loose)
	if err != nil {
		return nil, err
	}
	type pending struct {
		ls     leafSpec
		key    *ecdsa.PrivateKey // nil: a new key is needed
		reason string            // why a certificate is issued; "" if none is
	}
	var todo []pending
	for _, ls := range leafSpecs(cluster, members) {
		p := pending{ls: ls}
		var cert *x509.Certificate
		if !newAuthority {
			if cert, _, p.key, _, err = st.readLeaf(ca, ls, loose); err != nil {
				return nil, err
			}
		}
		switch {
		case cert == nil:
			p.reason = "issued the certificate of " + ls.what
		case ls.sanDiff(cert) != "":
			p.reason = fmt.Sprintf("issued a new certificate of %s from the same CA for its key: the addresses it must name changed (%s)", ls.what, ls.sanDiff(cert))
		}
		if p.reason != "" {
			todo = append(todo, p)
		}
	}
	if !newAuthority && ca.key == nil && len(todo) > 0 {
		_, err := ca.issue(todo[0].ls, nil, st.now())
		return nil, err // says that the CA key is missing
	}
	// Write.
	changes, err := st.tighten(loose)
	if err != nil {
		return nil, err
	}
	if newAuthority {
		if ca, err = newCA(cluster, st.now()); err != nil {
			return nil, err
		}
		if err := st.writePair(CAKey, ca.keyPEM, CACert, ca.certPEM); err != nil {
			return nil, err
		}
		changes = append(changes, Change{CACert, "created the etcd CA of cluster " + cluster})
	}
	newClients := false
	for _, p := range todo {
		newClients = newClients || p.ls.role != "" && p.key == nil
		if p.key == nil {
			if p.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				return nil, err
			}
			keyPEM, err := encodeKey(p.key)
			if err != nil {
				return nil, err
			}
			if _, err := st.WriteFile(p.ls.keyPath, keyPEM, KeyMode); err != nil {
				return nil, err
			}
			changes = append(changes, Change{p.ls.keyPath, "created the key of " + p.ls.what})
		}
		certPEM, err := ca.issue(p.ls, &p.key.PublicKey, st.now())
		if err != nil {
			return nil, err
		}
		if _, err := st.WriteFile(p.ls.certPath, certPEM, CertMode); err != nil {
			return nil, err
		}
		changes = append(changes, Change{p.ls.certPath, p.reason})
	}
	if legacy != nil && newClients {
		changes = append(changes, Change{LegacyClientCert, "no longer used: every role has its own client certificate now (" + clientsDir + "/), which its machines get with their new userdata; " + legacy.advice()})
	}
	return changes, nil
}

// begin checks the members and takes the lock for a run that writes.
func (st *State) begin(members []Member) (func(), error) {
	if err := checkMembers(members); err != nil {
		return nil, err
	}
	return st.lock()
}

// beginWithCA begins a run that writes under the existing CA: the lock
// taken, the CA read, and the state's keys that others could read made
// private again (the changes say which).
func (st *State) beginWithCA(cluster string, members []Member) (unlock func(), ca *authority, changes []Change, err error) {
	if unlock, err = st.begin(members); err != nil {
		return nil, nil, nil, err
	}
	loose := &looseKeys{}
	if ca, err = st.readCA(cluster, loose); err == nil {
		changes, err = st.tighten(loose)
	}
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return unlock, ca, changes, nil
}

// Rotate replaces the leaf pairs (every client role's and every member's:
// new keys, new certificates) with new ones from the existing CA, and
// records that they are to be delivered (PhaseDeliver); with newCA it
// first replaces the CA itself, at once (the members trust only the new CA
// once they restart: no rolling restart can bring it; StartRotation is the
// rolling way), abandoning a rolling rotation in progress. It also retires the legacy client
// pair (LegacyClientCert), which no machine gets any more. Only an
// operator's explicit request calls it.
func (st *State) Rotate(cluster string, members []Member, newCAToo bool) ([]Change, error) {
	unlock, err := st.begin(members)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var changes []Change
	var ca *authority
	if newCAToo {
		if _, err := st.readCACert(cluster); err != nil && !errors.Is(err, ErrNoCA) {
			return nil, err // never rotate another cluster's state
		}
		ca, err = newCA(cluster, st.now())
		if err != nil {
			return nil, err
		}
		if old, err := os.ReadFile(st.abs(CACert)); err == nil {
			// Recorded before the CA is replaced: a run that stops in
			// between leaves a record too many, never one too few.
			recorded, err := st.recordReplaced(old)
			if err != nil {
				return nil, err
			}
			changes = append(changes, recorded...)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		abandoned, err := st.abandonRotation()
		if err != nil {
			return nil, err
		}
		changes = append(changes, abandoned...)
		if err := st.writePair(CAKey, ca.keyPEM, CACert, ca.certPEM); err != nil {
			return nil, err
		}
		changes = append(changes, Change{CACert, "replaced the etcd CA (new key and certificate)"})
	} else {
		loose := &looseKeys{}
		ca, err = st.readCA(cluster, loose)
		if err != nil {
			return nil, err
		}
		if changes, err = st.tighten(loose); err != nil { // the leaves' keys are replaced below
			return nil, err
		}
	}
	rotated, err := st.rotateLeaves(ca, leafSpecs(cluster, members))
	if err != nil {
		return nil, err
	}
	changes = append(changes, rotated...)
	if !newCAToo {
		// the same CA: the running members take the new leaves in a
		// rolling restart (a CA replaced at once cannot be rolled)
		if err := st.leavesChanged(); err != nil {
			return nil, err
		}
	}
	retired, err := st.retireLegacy(newCAToo)
	if err != nil {
		return nil, err
	}
	return append(changes, retired...), nil
}

// RotateClients replaces the client pairs of the given roles, and nothing
// else, with new keys and certificates from the existing CA: for a role
// whose client key may have leaked. Each role must be a client role of
// members (ClientRoles). Only an operator's explicit request calls it.
func (st *State) RotateClients(cluster string, members []Member, roles []string) ([]Change, error) {
	known := ClientRoles(members)
	var specs []leafSpec
	for i, role := range roles {
		if slices.Contains(roles[:i], role) {
			continue
		}
		if !slices.Contains(known, role) {
			return nil, fmt.Errorf("pki: role %q has no client certificate; the client roles are %s", role, strings.Join(known, ", "))
		}
		specs = append(specs, clientSpec(cluster, role))
	}
	unlock, ca, changes, err := st.beginWithCA(cluster, members)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rotated, err := st.rotateLeaves(ca, specs)
	if err != nil {
		return nil, err
	}
	if err := st.leavesChanged(); err != nil {
		return nil, err
	}
	return append(changes, rotated...), nil
}

// rotateLeaves gives each leaf a new key and a new certificate from ca.
func (st *State) rotateLeaves(ca *authority, specs []leafSpec) ([]Change, error) {
	var changes []Change
	for _, ls := range specs {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		certPEM, err := ca.issue(ls, &key.PublicKey, st.now())
		if err != nil {
			return nil, err
		}
		keyPEM, err := encodeKey(key)
		if err != nil {
			return nil, err
		}
		if err := st.writePair(ls.keyPath, keyPEM, ls.certPath, certPEM); err != nil {
			return nil, err
		}
		changes = append(changes, Change{ls.certPath, "rotated: new key and certificate for " + ls.what})
	}
	return changes, nil
}
