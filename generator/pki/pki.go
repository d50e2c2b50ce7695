// Package pki keeps the etcd cluster's certificates in the state directory:
// one CA, per member a certificate for server and peer use, and per client
// role (the roles of the members, and the roles whose machines are etcd
// clients) a client certificate, so that one role's client key can be
// replaced without touching the others'. ECDSA P-256 keys and crypto/x509
// from the standard library only.
//
// The state is read before anything is written, and what exists is never
// replaced: a run creates only what is missing, and gives a member whose
// addresses changed a new certificate from the same CA for the key it already
// has. Certificates are made once and read back ever after, so the output of
// rampart is byte-identical from run to run although ECDSA signatures are
// not. New keys and certificates replace old ones only when asked to
// (Rotate).
//
// Layout of the state directory (directories 0700, keys 0600, certificates
// 0644). A key that group or others may read is tightened to 0600, and
// reported, by a run that writes (Ensure, Rotate), and refused by one that
// only reads (Load):
//
//	etcd/ca.crt, etcd/ca.key                 the cluster's etcd CA
//	etcd/members/<node>.crt, <node>.key      server and peer certificate of a member
//	etcd/clients/<role>.crt, <role>.key      client certificate of a role (CN <cluster>-<role>-client)
//	etcd/ca.replaced                         fingerprints of the CAs Rotate replaced
//	etcd/client.crt, etcd/client.key         the one client certificate of a state made
//	                                         before they were per role: never issued, never
//	                                         given to a machine; kept until Rotate retires it
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// File modes of the state directory.
const (
	DirMode  fs.FileMode = 0o700
	KeyMode  fs.FileMode = 0o600
	CertMode fs.FileMode = 0o644
)

// Validity of what Ensure and Rotate issue.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 2 * 365 * 24 * time.Hour
	// backdate lets a node whose clock is a little behind accept a
	// certificate issued a moment ago.
	backdate = time.Hour
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
	CAHistory  = "etcd/ca.replaced"
	membersDir = "etcd/members"
	clientsDir = "etcd/clients"
	lockName   = ".lock"
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

// ClientName is the common name of a role's client certificate,
// <cluster>-<role>-client: what etcd logs, and takes for the user name
// when its authentication is enabled.
func ClientName(cluster, role string) string { return cluster + "-" + role + "-client" }

// Member is an etcd member as the certificates see it, with the client
// roles of its cluster.
type Member struct {
	Name      string       // node name: the certificate's CN and a DNS SAN, and its file name under etcd/members
	Addresses []netip.Addr // its IP SANs
	// Role is the member's role. Its machine carries that role's client
	// certificate (ClientCert), for etcdctl and agents on the member.
	Role string
	// Clients are the other roles whose machines are clients of the
	// member's etcd cluster (roles with etcd_client). The state holds a
	// client pair for every role that the Role or Clients of a member
	// names (ClientRoles); gen.EtcdMembers gives every member the spec's
	// list, so that the members alone say what the state must hold.
	Clients []string
}

// ClientRoles are the roles with a client certificate in a cluster of
// members: each member's Role and Clients, sorted, each once.
func ClientRoles(members []Member) []string {
	var roles []string
	for _, m := range members {
		roles = append(roles, m.Role)
		roles = append(roles, m.Clients...)
	}
	sort.Strings(roles)
	return slices.Compact(roles)
}

// DNSNames are the DNS SANs of a member's certificate: its name and localhost.
func (m Member) DNSNames() []string { return []string{m.Name, "localhost"} }

// Loopback are the addresses a member's certificate names besides the
// member's own: etcd also listens on 127.0.0.1 for clients on the member
// (etcdctl's default endpoint), and they must be able to verify it there.
var Loopback = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}

// IPs are the IP SANs of a member's certificate: its addresses and
// Loopback, sorted, each once.
func (m Member) IPs() []netip.Addr {
	addrs := append(slices.Clone(m.Addresses), Loopback...)
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	return slices.Compact(addrs)
}

// Errors the user sees.
var (
	ErrNoCA         = errors.New("the state directory holds no etcd CA")
	ErrOtherCluster = errors.New("the state directory belongs to another cluster")
	ErrStale        = errors.New("the state directory is not up to date with the spec")
	ErrBroken       = errors.New("the state directory is inconsistent")
	ErrCAKeyMissing = errors.New("the CA key is not in the state directory")
	ErrKeyMode      = errors.New("a private key of the state directory is readable by others")
)

// State is a state directory. Its methods that write take an exclusive lock
// on STATE/.lock, so two runs on one state do not interleave.
type State struct {
	Dir string // path of the state directory on disk
	// Now is the clock that dates what Ensure and Rotate issue; nil is
	// time.Now. Tests set it. Reading the state does not depend on the
	// date: an expired certificate is still read (certs list reports it).
	Now func() time.Time
}

// now is the time of an issue, to the second.
func (st *State) now() time.Time {
	clock := st.Now
	if clock == nil {
		clock = time.Now
	}
	return clock().UTC().Truncate(time.Second)
}

// Open returns the state directory at dir; nothing is read or created yet.
func Open(dir string) *State { return &State{Dir: dir} }

func (st *State) abs(rel string) string { return filepath.Join(st.Dir, filepath.FromSlash(rel)) }

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

// begin checks the members and takes the lock for a run that writes.
func (st *State) begin(members []Member) (func(), error) {
	if err := checkMembers(members); err != nil {
		return nil, err
	}
	return st.lock()
}

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

// Rotate replaces the leaf pairs (every client role's and every member's:
// new keys, new certificates) with new ones from the existing CA; with
// newCA it first replaces the CA itself. It also retires the legacy client
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
			history, err := os.ReadFile(st.abs(CAHistory))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			history = append(history, Fingerprint(old)+"\n"...)
			if _, err := st.WriteFile(CAHistory, history, CertMode); err != nil {
				return nil, err
			}
			changes = append(changes, Change{CAHistory, "recorded the replaced CA " + Fingerprint(old) + ": gen may replace the output trees it made"})
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
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
	unlock, err := st.begin(members)
	if err != nil {
		return nil, err
	}
	defer unlock()
	loose := &looseKeys{}
	ca, err := st.readCA(cluster, loose)
	if err != nil {
		return nil, err
	}
	changes, err := st.tighten(loose)
	if err != nil {
		return nil, err
	}
	rotated, err := st.rotateLeaves(ca, specs)
	if err != nil {
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

func checkMembers(members []Member) error {
	seen := map[string]bool{}
	for _, m := range members {
		if !fileName(m.Name) {
			return fmt.Errorf("pki: %q cannot name a member's files", m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("pki: member %s twice", m.Name)
		}
		seen[m.Name] = true
		if len(m.Addresses) == 0 {
			return fmt.Errorf("pki: member %s has no address", m.Name)
		}
		if m.Role == "" {
			return fmt.Errorf("pki: member %s has no role (its machine carries its role's client certificate)", m.Name)
		}
		for _, role := range append([]string{m.Role}, m.Clients...) {
			if !fileName(role) {
				return fmt.Errorf("pki: %q cannot name a client role's files", role)
			}
		}
	}
	return nil
}

// fileName reports whether name can be the base of a file name in the
// state directory.
func fileName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/\\") && name != "." && name != ".."
}

// lock takes the state directory's lock, creating the directory if needed.
func (st *State) lock() (func(), error) {
	if err := st.mkdir("."); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(st.abs(lockName), os.O_RDWR|os.O_CREATE, KeyMode)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state %s is in use by another rampart run (%s is locked)", st.Dir, st.abs(lockName))
		}
		return nil, fmt.Errorf("locking %s: %w", st.abs(lockName), err)
	}
	return func() { f.Close() }, nil
}

// Lock takes the state directory's lock for a caller that writes other files
// there (the final userdata); the returned function releases it.
func (st *State) Lock() (func(), error) { return st.lock() }

// mkdir makes a directory of the state (and its parents inside it) 0700.
func (st *State) mkdir(rel string) error {
	p := st.abs(rel)
	if err := os.MkdirAll(p, DirMode); err != nil {
		return err
	}
	// MkdirAll honours the umask and leaves existing directories alone: an
	// existing state directory with a looser mode is tightened.
	for q := p; ; q = filepath.Dir(q) {
		if err := os.Chmod(q, DirMode); err != nil {
			return err
		}
		if filepath.Clean(q) == filepath.Clean(st.Dir) || filepath.Dir(q) == q {
			break
		}
	}
	return nil
}

// WriteFile writes data to rel in the state directory atomically (a
// temporary file renamed over it) with mode, unless the file already holds
// exactly data with that mode: an unchanged file is not touched. It reports
// whether it wrote.
func (st *State) WriteFile(rel string, data []byte, mode fs.FileMode) (bool, error) {
	p := st.abs(rel)
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
		if info, err := os.Stat(p); err == nil && info.Mode().Perm() == mode {
			return false, nil
		}
	}
	if err := st.mkdir(path.Dir(rel)); err != nil {
		return false, err
	}
	return true, WriteAtomic(p, data, mode)
}

// WriteAtomic writes data to the file p with mode through a temporary file
// in the same directory renamed over p, so that p is never seen half
// written and never, even for a moment, with a looser mode.
func WriteAtomic(p string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// writePair writes the key first: a run that stops between the two leaves a
// key without certificate, which the next run certifies, never a
// certificate without its key.
func (st *State) writePair(keyRel string, keyPEM []byte, certRel string, certPEM []byte) error {
	if _, err := st.WriteFile(keyRel, keyPEM, KeyMode); err != nil {
		return err
	}
	_, err := st.WriteFile(certRel, certPEM, CertMode)
	return err
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

// Fingerprint is the fingerprint rampart records of a CA certificate: the
// sha256 of its PEM file, in hex.
func Fingerprint(certPEM []byte) string {
	sum := sha256.Sum256(certPEM)
	return hex.EncodeToString(sum[:])
}

// CAFingerprint is the Fingerprint of the state's CA certificate; ErrNoCA
// when there is none.
func (st *State) CAFingerprint() (string, error) {
	data, err := os.ReadFile(st.abs(CACert))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w (%s)", ErrNoCA, st.abs(CACert))
	}
	if err != nil {
		return "", err
	}
	return Fingerprint(data), nil
}

// ReplacedCAs are the fingerprints of the CAs that Rotate replaced in this
// state, oldest first.
func (st *State) ReplacedCAs() ([]string, error) {
	data, err := os.ReadFile(st.abs(CAHistory))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
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

// names reports how a certificate's SANs differ from the spec's, or "".
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

// looseKeys are the keys a run found readable by others, with their modes.
type looseKeys struct {
	rels  []string
	modes []fs.FileMode
}

// readKey reads the key file rel and checks its mode: group and others
// must have no access. A looser key is noted in loose, to be tightened by
// the run (tighten); without loose (a run that only reads) it is refused.
func (st *State) readKey(rel string, loose *looseKeys) ([]byte, error) {
	p := st.abs(rel)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBroken, p)
	}
	if mode := info.Mode().Perm(); mode&0o077 != 0 {
		if loose == nil {
			return nil, fmt.Errorf("%w: %s is mode %04o; a key must be %04o: rampart gen tightens it (or chmod %o it)", ErrKeyMode, p, mode, KeyMode, KeyMode)
		}
		loose.rels = append(loose.rels, rel)
		loose.modes = append(loose.modes, mode)
	}
	return io.ReadAll(f)
}

// tighten makes every loose key 0600 and reports each; a key whose mode
// cannot be changed (owned by another user, a read-only file system) stops
// the run.
func (st *State) tighten(loose *looseKeys) ([]Change, error) {
	var changes []Change
	for i, rel := range loose.rels {
		if err := os.Chmod(st.abs(rel), KeyMode); err != nil {
			return nil, fmt.Errorf("%w: %s is mode %04o and cannot be made %04o (%v); fix its mode or owner by hand", ErrKeyMode, st.abs(rel), loose.modes[i], KeyMode, err)
		}
		changes = append(changes, Change{rel, fmt.Sprintf("tightened the mode of the key from %04o to %04o: it was readable by others", loose.modes[i], KeyMode)})
	}
	return changes, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	b, rest := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("not a PEM key")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", b.Type)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T, rampart uses ECDSA P-256", k)
	}
	return ec, nil
}
