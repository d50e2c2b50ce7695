package pki

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Trust is the bundle of CA certificates (PEM, one after the other) that
// members and clients must trust now: the CA that signs the leaves
// (etcd/ca.crt) first, then, while a rolling rotation needs it, the other
// CA: the new one in PhaseTrust, the replaced one in PhaseLeaves. Outside
// those phases it is etcd/ca.crt alone.
func (st *State) Trust() ([]byte, error) {
	ca, err := os.ReadFile(st.abs(CACert))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s)", ErrNoCA, st.abs(CACert))
	}
	if err != nil {
		return nil, err
	}
	r, err := st.Rollout()
	if err != nil {
		return nil, err
	}
	other := ""
	switch {
	case r == nil:
	case r.Phase == PhaseTrust:
		other = NextCACert
	case r.Phase == PhaseLeaves:
		other = PrevCACert
	}
	if other == "" {
		return ca, nil
	}
	more, err := os.ReadFile(st.abs(other))
	if err != nil {
		return nil, fmt.Errorf("%w: phase %s of the rotation needs %s: %v", ErrBroken, r.Phase, st.abs(other), err)
	}
	if _, err := parseCert(more); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBroken, st.abs(other), err)
	}
	return append(append([]byte(nil), ca...), more...), nil
}

// Trusting makes the material's CA the bundle the machines must trust now
// (Trust), the CA that signed its leaves first (SigningCA gives it back):
// what a member's and a client's CA file hold.
func (st *State) Trusting(mat *Material) error {
	trust, err := st.Trust()
	if err != nil {
		return err
	}
	if string(SigningCA(trust)) != string(mat.CA) {
		return fmt.Errorf("%w: %s changed while it was read", ErrBroken, st.abs(CACert))
	}
	mat.CA = trust
	return nil
}

// SigningCA is the first certificate of a bundle, as it is written there:
// the CA that signs (Trust puts it first). A bundle of one certificate is
// returned whole.
func SigningCA(bundle []byte) []byte {
	b, rest := pem.Decode(bundle)
	if b == nil {
		return bundle
	}
	return bundle[:len(bundle)-len(rest)]
}

// KnownCAs are every CA certificate the state holds: etcd/ca.crt and, during
// a rolling rotation, the next or the previous one. A member presenting a
// certificate of none of them belongs to another cluster or state.
func (st *State) KnownCAs() ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, rel := range []string{CACert, NextCACert, PrevCACert} {
		data, err := os.ReadFile(st.abs(rel))
		if errors.Is(err, fs.ErrNotExist) && rel != CACert {
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s)", ErrNoCA, st.abs(CACert))
		}
		if err != nil {
			return nil, err
		}
		c, err := parseCert(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBroken, st.abs(rel), err)
		}
		out = append(out, c)
	}
	return out, nil
}
