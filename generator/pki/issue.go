package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"slices"
	"sort"
	"strings"
	"time"
)

// Validity of what Ensure and Rotate issue.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 2 * 365 * 24 * time.Hour
	// backdate lets a node whose clock is a little behind accept a
	// certificate issued a moment ago.
	backdate = time.Hour
)

// ClientName is the common name of a role's client certificate,
// <cluster>-<role>-client: what etcd logs, and takes for the user name
// when its authentication is enabled.
func ClientName(cluster, role string) string { return cluster + "-" + role + "-client" }

// leafSpecs are the leaf certificates of a cluster: each client role's in
// name order, then each member's in order.
func leafSpecs(cluster string, members []Member) []leafSpec {
	var out []leafSpec
	for _, role := range ClientRoles(members) {
		out = append(out, clientSpec(cluster, role))
	}
	for _, m := range members {
		out = append(out, memberSpec(cluster, m))
	}
	return out
}

// authority is the CA: its certificate always, its key when present.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey // nil when the CA key is kept elsewhere
	keyPEM  []byte
	keyPath string
}

func caSubject(cluster string) pkix.Name {
	return pkix.Name{Organization: []string{"rampart"}, OrganizationalUnit: []string{cluster}, CommonName: cluster + " etcd CA"}
}

func newCA(cluster string, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               caSubject(cluster),
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, certPEM: encodeCert(der), key: key, keyPEM: keyPEM, keyPath: CAKey}, nil
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// leafSpec is what a leaf certificate must say.
type leafSpec struct {
	what     string // "member master-1", "the client of role agent"
	role     string // the client role of a client certificate; "" for a member's
	certPath string
	keyPath  string
	subject  pkix.Name
	dns      []string
	ips      []net.IP
	usage    []x509.ExtKeyUsage
}

func memberSpec(cluster string, m Member) leafSpec {
	addrs := m.IPs()
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = net.IP(a.AsSlice())
	}
	return leafSpec{
		what:     "member " + m.Name,
		certPath: MemberCert(m.Name),
		keyPath:  MemberKey(m.Name),
		subject:  pkix.Name{Organization: []string{"rampart"}, OrganizationalUnit: []string{cluster}, CommonName: m.Name},
		dns:      m.DNSNames(),
		ips:      ips,
		usage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
}

func clientSpec(cluster, role string) leafSpec {
	return leafSpec{
		what:     "the client of role " + role,
		role:     role,
		certPath: ClientCert(role),
		keyPath:  ClientKey(role),
		subject:  pkix.Name{Organization: []string{"rampart"}, OrganizationalUnit: []string{cluster}, CommonName: ClientName(cluster, role)},
		usage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// sanDiff reports how a certificate's SANs differ from the spec's, or "".
func (ls leafSpec) sanDiff(c *x509.Certificate) string {
	have := sanList(c.DNSNames, c.IPAddresses)
	want := sanList(ls.dns, ls.ips)
	if slices.Equal(have, want) {
		return ""
	}
	return fmt.Sprintf("was %s, now %s", strings.Join(have, ", "), strings.Join(want, ", "))
}

func sanList(dns []string, ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	sort.Strings(out)
	d := slices.Clone(dns)
	sort.Strings(d)
	return append(out, d...)
}

// issue signs a certificate for pub as ls describes, valid from now.
func (ca *authority) issue(ls leafSpec, pub *ecdsa.PublicKey, now time.Time) ([]byte, error) {
	if ca.key == nil {
		return nil, fmt.Errorf("%w: %s needs a certificate (%s), and only the CA key can sign one; put %s back", ErrCAKeyMissing, ls.certPath, ls.what, ca.keyPath)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(LeafValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               ls.subject,
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           ls.usage,
		BasicConstraintsValid: true,
		DNSNames:              ls.dns,
		IPAddresses:           ls.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	return encodeCert(der), nil
}
