package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Pair is a certificate with its key, both PEM encoded, as read from the
// state directory.
type Pair struct {
	Cert     []byte // PEM certificate
	Key      []byte // PEM private key
	CertPath string // relative to the state directory
	KeyPath  string // relative to the state directory
	parsed   *x509.Certificate
}

// Certificate is the parsed certificate.
func (p *Pair) Certificate() *x509.Certificate { return p.parsed }

// Material is everything the boot configuration of a cluster needs from the
// state: the CA certificate, each member's pair and each client role's pair.
type Material struct {
	CA      []byte           // PEM
	Clients map[string]*Pair // each client role's pair (ClientRoles), keyed by role name
	Members map[string]*Pair // each member's pair, keyed by member name
}

// Load reads the material for cluster and members without writing
// anything. Everything must be there and current (as Ensure leaves it);
// otherwise the error says what is missing or stale.
func (st *State) Load(cluster string, members []Member) (*Material, error) {
	return st.load(cluster, members, true)
}

// LoadCertificates reads what the public output tree needs: the CA's and
// every leaf's certificate, checked as Load checks them (signed by the CA,
// naming the right addresses), without reading any key: the Pairs' Key is
// nil. A copy of the state without its keys serves.
func (st *State) LoadCertificates(cluster string, members []Member) (*Material, error) {
	return st.load(cluster, members, false)
}

func (st *State) load(cluster string, members []Member, withKeys bool) (*Material, error) {
	if err := checkMembers(members); err != nil {
		return nil, err
	}
	if withKeys {
		// every missing key named at once, not the first as inconsistent
		if err := st.NeedKeys(cluster, members); err != nil {
			return nil, err
		}
	}
	var ca *authority
	var err error
	if withKeys {
		ca, err = st.readCA(cluster, nil)
	} else {
		ca, err = st.readCACert(cluster)
	}
	if err != nil {
		return nil, err
	}
	mat := &Material{CA: ca.certPEM, Clients: map[string]*Pair{}, Members: map[string]*Pair{}}
	for _, role := range ClientRoles(members) {
		p, err := st.loadLeaf(ca, clientSpec(cluster, role), withKeys)
		if err != nil {
			return nil, err
		}
		mat.Clients[role] = p
	}
	for _, m := range members {
		p, err := st.loadLeaf(ca, memberSpec(cluster, m), withKeys)
		if err != nil {
			return nil, err
		}
		mat.Members[m.Name] = p
	}
	return mat, nil
}

// readCACert reads and checks the CA certificate.
func (st *State) readCACert(cluster string) (*authority, error) {
	data, err := os.ReadFile(st.abs(CACert))
	if errors.Is(err, fs.ErrNotExist) {
		if _, kerr := os.Stat(st.abs(CAKey)); kerr == nil {
			return nil, fmt.Errorf("%w: %s exists without %s; restore the certificate from a backup, or start over with rampart certs rotate --ca", ErrBroken, st.abs(CAKey), st.abs(CACert))
		}
		return nil, fmt.Errorf("%w (%s)", ErrNoCA, st.abs(CACert))
	}
	if err != nil {
		return nil, err
	}
	cert, err := parseCert(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBroken, st.abs(CACert), err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrBroken, st.abs(CACert))
	}
	if ou := cert.Subject.OrganizationalUnit; len(ou) != 1 || ou[0] != cluster {
		return nil, fmt.Errorf("%w: %s is the CA of cluster %q, the spec is for cluster %q; use another --state", ErrOtherCluster, st.abs(CACert), strings.Join(ou, ","), cluster)
	}
	return &authority{cert: cert, certPEM: data, keyPath: CAKey}, nil
}

// readCA reads the CA certificate and, when present, its key. A key that
// others may read is noted in loose, or refused when loose is nil.
func (st *State) readCA(cluster string, loose *looseKeys) (*authority, error) {
	ca, err := st.readCACert(cluster)
	if err != nil {
		return nil, err
	}
	data, err := st.readKey(CAKey, loose)
	if errors.Is(err, fs.ErrNotExist) {
		return ca, nil // signing will say so, if anything needs signing
	}
	if err != nil {
		return nil, err
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBroken, st.abs(CAKey), err)
	}
	if !key.PublicKey.Equal(ca.cert.PublicKey) {
		return nil, fmt.Errorf("%w: %s is not the key of %s", ErrBroken, st.abs(CAKey), st.abs(CACert))
	}
	ca.key, ca.keyPEM = key, data
	return ca, nil
}

// readLeaf reads a leaf pair; either file may be missing (nil). A key that
// others may read is noted in loose, or refused when loose is nil.
func (st *State) readLeaf(ca *authority, ls leafSpec, loose *looseKeys) (cert *x509.Certificate, certPEM []byte, key *ecdsa.PrivateKey, keyPEM []byte, err error) {
	keyPEM, err = st.readKey(ls.keyPath, loose)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		keyPEM = nil
	case err != nil:
		return nil, nil, nil, nil, err
	default:
		if key, err = parseKey(keyPEM); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("%w: %s: %v", ErrBroken, st.abs(ls.keyPath), err)
		}
	}
	if cert, certPEM, err = st.readLeafCert(ca, ls); err != nil {
		return nil, nil, nil, nil, err
	}
	switch {
	case cert == nil:
		return nil, nil, key, keyPEM, nil
	case key == nil:
		return nil, nil, nil, nil, fmt.Errorf("%w: %s exists but its key %s does not; a lost key needs a new pair: rampart certs rotate", ErrBroken, st.abs(ls.certPath), st.abs(ls.keyPath))
	case !key.PublicKey.Equal(cert.PublicKey):
		return nil, nil, nil, nil, fmt.Errorf("%w: %s is not the key of %s", ErrBroken, st.abs(ls.keyPath), st.abs(ls.certPath))
	}
	return cert, certPEM, key, keyPEM, nil
}

// loadLeaf reads a leaf pair that must be present and current; without
// withKeys only its certificate, checked against the CA.
func (st *State) loadLeaf(ca *authority, ls leafSpec, withKeys bool) (*Pair, error) {
	var cert *x509.Certificate
	var certPEM, keyPEM []byte
	var err error
	if withKeys {
		cert, certPEM, _, keyPEM, err = st.readLeaf(ca, ls, nil)
	} else {
		cert, certPEM, err = st.readLeafCert(ca, ls)
	}
	if err != nil {
		return nil, err
	}
	if cert == nil {
		why := ""
		if _, err := os.Stat(st.abs(LegacyClientCert)); err == nil && ls.role != "" {
			why = " (the state was made before client certificates were per role)"
		}
		return nil, fmt.Errorf("%w: %s (%s) is missing%s; rampart gen creates it", ErrStale, st.abs(ls.certPath), ls.what, why)
	}
	if d := ls.sanDiff(cert); d != "" {
		return nil, fmt.Errorf("%w: %s names other addresses than the spec (%s); rampart gen issues a new one", ErrStale, st.abs(ls.certPath), d)
	}
	return &Pair{Cert: certPEM, Key: keyPEM, CertPath: ls.certPath, KeyPath: ls.keyPath, parsed: cert}, nil
}

// readLeafCert reads a leaf certificate alone (nil when there is none) and
// checks that the CA signed it.
func (st *State) readLeafCert(ca *authority, ls leafSpec) (*x509.Certificate, []byte, error) {
	certPEM, err := os.ReadFile(st.abs(ls.certPath))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrBroken, st.abs(ls.certPath), err)
	}
	if err := cert.CheckSignatureFrom(ca.cert); err != nil {
		return nil, nil, fmt.Errorf("%w: %s is not signed by %s (%v); rampart certs rotate issues new ones", ErrBroken, st.abs(ls.certPath), st.abs(CACert), err)
	}
	if cn := cert.Subject.CommonName; cn != ls.subject.CommonName {
		return nil, nil, fmt.Errorf("%w: %s is the certificate of %q, not of %s (CN %s); rampart certs rotate issues new ones", ErrBroken, st.abs(ls.certPath), cn, ls.what, ls.subject.CommonName)
	}
	return cert, certPEM, nil
}
