package pki

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// legacyClient is the client certificate of a state made before client
// certificates were per role (LegacyClientCert).
type legacyClient struct {
	notAfter time.Time // zero when the certificate does not parse
}

// advice says what becomes of the legacy client certificate.
func (l *legacyClient) advice() string {
	valid := "it stays valid for etcd"
	if !l.notAfter.IsZero() {
		valid += " until " + l.notAfter.UTC().Format("2006-01-02")
	}
	return valid + " (any certificate of the CA is): rampart certs rotate removes it and its key, certs rotate --ca also makes the members refuse it"
}

// readLegacy finds the legacy client pair (nil when there is none) and
// checks its key's mode: a key that others may read is noted in loose, to
// be tightened like any other; its contents are not read.
func (st *State) readLegacy(loose *looseKeys) (*legacyClient, error) {
	if _, err := st.readKey(LegacyClientKey, loose); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	data, err := os.ReadFile(st.abs(LegacyClientCert))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	}
	l := &legacyClient{}
	if c, err := parseCert(data); err == nil {
		l.notAfter = c.NotAfter
	}
	return l, nil
}

// retireLegacy removes the legacy client pair, key first, and says so;
// nothing when there is none.
func (st *State) retireLegacy(newCA bool) ([]Change, error) {
	legacy, err := st.readLegacy(&looseKeys{}) // its key's mode does not matter: it goes
	if err != nil {
		return nil, err
	}
	_, kerr := os.Stat(st.abs(LegacyClientKey))
	if legacy == nil && errors.Is(kerr, fs.ErrNotExist) {
		return nil, nil
	}
	for _, rel := range []string{LegacyClientKey, LegacyClientCert} {
		if err := os.Remove(st.abs(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	what := "retired the client certificate and key of a state made before client certificates were per role: no machine gets them; "
	switch {
	case newCA:
		what += "it was signed by the replaced CA, which the members refuse once they run their new userdata"
	case legacy != nil && !legacy.notAfter.IsZero():
		what += "a copy kept elsewhere stays valid for etcd until " + legacy.notAfter.UTC().Format("2006-01-02") + ", unless the CA is replaced (certs rotate --ca)"
	default:
		what += "a copy kept elsewhere stays valid for etcd until it expires, unless the CA is replaced (certs rotate --ca)"
	}
	return []Change{{LegacyClientCert, what}}, nil
}
