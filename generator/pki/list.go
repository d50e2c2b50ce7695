package pki

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// CertInfo describes one certificate of the state directory.
type CertInfo struct {
	Path     string    // relative to the state directory
	Subject  string    // distinguished name as pkix.Name.String renders it, e.g. CN=e1,OU=lab,O=rampart
	DNSNames []string  // DNS SANs; empty for the CA and the client certificates
	IPs      []string  // IP SANs in text form; empty for the CA and the client certificates
	NotAfter time.Time // end of validity
	IsCA     bool      // set for the CA certificate only
	// Role is the client role of a client certificate (etcd/clients/<role>.crt); "" for the others.
	Role string
	// Legacy is set for LegacyClientCert, the one client certificate of a
	// state made before client certificates were per role: no machine
	// gets it, and Rotate retires it.
	Legacy bool
}

// DaysLeft is the number of whole days from now until the certificate
// expires; negative once it has.
func (c CertInfo) DaysLeft(now time.Time) int {
	d := c.NotAfter.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days-- // an expired certificate is at least a day late
	}
	return days
}

// SANs renders the subject alternative names: addresses, then DNS names.
func (c CertInfo) SANs() string {
	return strings.Join(append(append([]string(nil), c.IPs...), c.DNSNames...), ", ")
}

// List reads every certificate of the state directory: the CA, the client
// roles' in role order, the legacy client certificate if there is one,
// then the members' in name order. A state without a CA returns ErrNoCA.
func (st *State) List() ([]CertInfo, error) {
	if _, err := os.Stat(st.abs(CACert)); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCA
	}
	paths := []string{CACert}
	for _, dir := range []string{clientsDir, "", membersDir} {
		if dir == "" {
			paths = append(paths, LegacyClientCert)
			continue
		}
		found, err := filepath.Glob(filepath.Join(st.abs(dir), "*.crt"))
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		for _, f := range found {
			paths = append(paths, dir+"/"+filepath.Base(f))
		}
	}
	var out []CertInfo
	for _, p := range paths {
		data, err := os.ReadFile(st.abs(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c, err := parseCert(data)
		if err != nil {
			return nil, errors.Join(ErrBroken, errors.New(st.abs(p)+": "+err.Error()))
		}
		ci := info(p, c)
		ci.Legacy = p == LegacyClientCert
		if dir, base := path.Split(p); dir == clientsDir+"/" {
			ci.Role = strings.TrimSuffix(base, ".crt")
		}
		out = append(out, ci)
	}
	return out, nil
}

func info(p string, c *x509.Certificate) CertInfo {
	ci := CertInfo{Path: p, Subject: c.Subject.String(), DNSNames: c.DNSNames, NotAfter: c.NotAfter, IsCA: c.IsCA}
	for _, ip := range c.IPAddresses {
		ci.IPs = append(ci.IPs, ip.String())
	}
	return ci
}
