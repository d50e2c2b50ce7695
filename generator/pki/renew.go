package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"time"
)

// Renew reissues, from the same CA, every leaf certificate of the cluster
// (each client role's, each member's) that expires within the window from
// now: with the same key, or with a new one when newKeys. A certificate
// further from its end, or one the state does not hold yet (Ensure issues
// it), is left alone. A CA that expires within the window is refused
// (ErrCAExpiring): renewing leaves under it gains nothing, certs rotate --ca
// replaces it. What it renewed is recorded for delivery (PhaseDeliver, or
// the rotation phase in progress begun again). Only an operator's explicit
// request calls it.
func (st *State) Renew(cluster string, members []Member, within time.Duration, newKeys bool) ([]Change, error) {
	unlock, ca, changes, err := st.beginWithCA(cluster, members)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tightened := changes
	now := st.now()
	if ca.cert.NotAfter.Sub(now) < within {
		return nil, fmt.Errorf("%w: %s ends on %s; rampart certs rotate --ca replaces it and everything under it", ErrCAExpiring, st.abs(CACert), ca.cert.NotAfter.UTC().Format(time.DateOnly))
	}
	for _, ls := range leafSpecs(cluster, members) {
		cert, _, key, keyPEM, err := st.readLeaf(ca, ls, nil)
		if err != nil {
			return nil, err
		}
		if cert == nil || cert.NotAfter.Sub(now) >= within {
			continue
		}
		what := "same key"
		if newKeys {
			if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				return nil, err
			}
			if keyPEM, err = encodeKey(key); err != nil {
				return nil, err
			}
			what = "new key"
		}
		certPEM, err := ca.issue(ls, &key.PublicKey, now)
		if err != nil {
			return nil, err
		}
		renewed, err := parseCert(certPEM)
		if err != nil {
			return nil, err
		}
		if err := st.writePair(ls.keyPath, keyPEM, ls.certPath, certPEM); err != nil {
			return nil, err
		}
		changes = append(changes, Change{ls.certPath, fmt.Sprintf("renewed (%s) for %s: it ended on %s, now on %s",
			what, ls.what, cert.NotAfter.UTC().Format(time.DateOnly), renewed.NotAfter.UTC().Format(time.DateOnly))})
	}
	if len(changes) > len(tightened) {
		if err := st.leavesChanged(); err != nil {
			return nil, err
		}
	}
	return changes, nil
}
