package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// members are two members of role etcd, in a cluster whose role agent is
// an etcd client too.
var members = []Member{
	{Name: "m1", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")}, Role: "etcd", Clients: []string{"agent"}},
	{Name: "m2", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Role: "etcd", Clients: []string{"agent"}},
}

func read(t *testing.T, st *State, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(st.abs(rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func paths(changes []Change) string {
	var out []string
	for _, c := range changes {
		out = append(out, c.Path)
	}
	return strings.Join(out, " ")
}

func TestEnsureCreatesThenKeeps(t *testing.T) {
	st := Open(filepath.Join(t.TempDir(), "state"))
	changes, err := st.Ensure("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	want := "etcd/ca.crt etcd/clients/agent.key etcd/clients/agent.crt etcd/clients/etcd.key etcd/clients/etcd.crt etcd/members/m1.key etcd/members/m1.crt etcd/members/m2.key etcd/members/m2.crt"
	if got := paths(changes); got != want {
		t.Errorf("changes %q, want %q", got, want)
	}
	modes := map[string]fs.FileMode{CACert: CertMode, CAKey: KeyMode, ClientCert("agent"): CertMode, ClientKey("agent"): KeyMode,
		ClientCert("etcd"): CertMode, ClientKey("etcd"): KeyMode, MemberCert("m1"): CertMode, MemberKey("m1"): KeyMode,
		"etcd": DirMode, "etcd/members": DirMode, "etcd/clients": DirMode, ".": DirMode}
	before := map[string][]byte{}
	for rel, mode := range modes {
		info, err := os.Stat(st.abs(rel))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o, want %04o", rel, info.Mode().Perm(), mode)
		}
		if !info.IsDir() {
			before[rel] = read(t, st, rel)
		}
	}
	again, err := st.Ensure("c1", members)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Ensure: %v %v", again, err)
	}
	for rel, data := range before {
		if !bytes.Equal(read(t, st, rel), data) {
			t.Errorf("%s changed in a run with nothing to do", rel)
		}
	}

	// The member certificate: P-256, server and client use, its addresses
	// and name and localhost, valid for its addresses from the CA.
	mat, err := st.Load("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	c := mat.Members["m1"].Certificate()
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("m1's key is %T, want ECDSA P-256", c.PublicKey)
	}
	if len(c.ExtKeyUsage) != 2 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || c.ExtKeyUsage[1] != x509.ExtKeyUsageClientAuth {
		t.Errorf("m1's usages %v", c.ExtKeyUsage)
	}
	if strings.Join(c.DNSNames, ",") != "m1,localhost" || len(c.IPAddresses) != 4 {
		t.Errorf("m1's SANs: %v %v", c.DNSNames, c.IPAddresses)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mat.CA)
	for _, host := range []string{"10.0.0.1", "2001:db8::1", "m1", "localhost", "127.0.0.1", "::1"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("m1's certificate for %s: %v", host, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.0.0.2"}); err == nil {
		t.Error("m1's certificate is valid for m2's address")
	}
	// One client certificate per role: client use only, the role in its
	// name, a key of its own; valid from the CA.
	if len(mat.Clients) != 2 {
		t.Fatalf("client pairs %v, want agent's and etcd's", mat.Clients)
	}
	keys := map[string]bool{}
	for role, p := range mat.Clients {
		cl := p.Certificate()
		if len(cl.ExtKeyUsage) != 1 || cl.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || cl.Subject.String() != "CN=c1-"+role+"-client,OU=c1,O=rampart" {
			t.Errorf("client certificate of %s: %v %v", role, cl.ExtKeyUsage, cl.Subject)
		}
		if len(cl.DNSNames)+len(cl.IPAddresses) != 0 {
			t.Errorf("client certificate of %s names %v %v", role, cl.DNSNames, cl.IPAddresses)
		}
		if _, err := cl.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("client certificate of %s: %v", role, err)
		}
		if p.CertPath != ClientCert(role) || p.KeyPath != ClientKey(role) || !bytes.Equal(p.Key, read(t, st, ClientKey(role))) {
			t.Errorf("client pair of %s: %s %s", role, p.CertPath, p.KeyPath)
		}
		keys[string(p.Key)] = true
	}
	if len(keys) != 2 {
		t.Error("two roles share a client key")
	}
}

func TestAddressChangeKeepsKeyAndCA(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	ca, key, other := read(t, st, CACert), read(t, st, MemberKey("m2")), read(t, st, MemberCert("m1"))
	moved := []Member{members[0], {Name: "m2", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.9")}, Role: "etcd"}}
	if _, err := st.Load("c1", moved); !errors.Is(err, ErrStale) {
		t.Fatalf("Load with a moved member: %v, want ErrStale", err)
	}
	changes, err := st.Ensure("c1", moved)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Path != MemberCert("m2") || !strings.Contains(changes[0].What, "was 10.0.0.2, 127.0.0.1, ::1, localhost, m2, now 10.0.0.9, 127.0.0.1, ::1, localhost, m2") {
		t.Fatalf("changes %v", changes)
	}
	if !bytes.Equal(read(t, st, CACert), ca) || !bytes.Equal(read(t, st, MemberKey("m2")), key) || !bytes.Equal(read(t, st, MemberCert("m1")), other) {
		t.Error("the CA, m2's key or m1's certificate changed")
	}
	if _, err := st.Load("c1", moved); err != nil {
		t.Fatal(err)
	}
}

// TestLoopbackSANsReissued: a member certificate of a state made before
// members listened on loopback (its SANs without 127.0.0.1 and ::1) is
// re-issued by the next Ensure, for the same key from the same CA, and the
// run says why; Load calls the old one stale.
func TestLoopbackSANsReissued(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	ca, err := st.readCA("c1", nil)
	if err != nil {
		t.Fatal(err)
	}
	old := memberSpec("c1", members[1])
	_, _, key, _, err := st.readLeaf(ca, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	old.ips = old.ips[:0]
	for _, a := range members[1].Addresses {
		old.ips = append(old.ips, a.AsSlice())
	}
	certPEM, err := ca.issue(old, &key.PublicKey, st.now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteFile(MemberCert("m2"), certPEM, CertMode); err != nil {
		t.Fatal(err)
	}
	keyBefore, caBefore := read(t, st, MemberKey("m2")), read(t, st, CACert)
	if _, err := st.Load("c1", members); !errors.Is(err, ErrStale) {
		t.Fatalf("Load with a certificate without loopback SANs: %v, want ErrStale", err)
	}
	changes, err := st.Ensure("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Path != MemberCert("m2") ||
		!strings.Contains(changes[0].What, "issued a new certificate of member m2 from the same CA for its key") ||
		!strings.Contains(changes[0].What, "was 10.0.0.2, localhost, m2, now 10.0.0.2, 127.0.0.1, ::1, localhost, m2") {
		t.Fatalf("changes %v", changes)
	}
	if !bytes.Equal(read(t, st, MemberKey("m2")), keyBefore) || !bytes.Equal(read(t, st, CACert), caBefore) {
		t.Error("the re-issue replaced m2's key or the CA")
	}
	mat, err := st.Load("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mat.CA)
	if _, err := mat.Members["m2"].Certificate().Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("m2's new certificate for 127.0.0.1: %v", err)
	}
}

func TestNeverReplacesWhatExists(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members[:1]); err != nil {
		t.Fatal(err)
	}
	// Another cluster's spec is refused, nothing written.
	if _, err := st.Ensure("c2", members); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("another cluster: %v", err)
	}
	if _, err := os.Stat(st.abs(MemberKey("m2"))); err == nil {
		t.Error("a refused run wrote m2's key")
	}
	// A certificate without its key is an error, not a reason to replace it.
	key := read(t, st, MemberKey("m1"))
	if err := os.Remove(st.abs(MemberKey("m1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ensure("c1", members[:1]); !errors.Is(err, ErrBroken) {
		t.Fatalf("certificate without key: %v", err)
	}
	if err := os.WriteFile(st.abs(MemberKey("m1")), key, KeyMode); err != nil {
		t.Fatal(err)
	}
	// A key without its certificate is certified, the key kept.
	if err := os.Remove(st.abs(MemberCert("m1"))); err != nil {
		t.Fatal(err)
	}
	changes, err := st.Ensure("c1", members[:1])
	if err != nil || paths(changes) != MemberCert("m1") {
		t.Fatalf("key without certificate: %v %v", changes, err)
	}
	if !bytes.Equal(read(t, st, MemberKey("m1")), key) {
		t.Error("m1's key was replaced")
	}
	// With the CA key kept elsewhere, nothing to sign is fine; a new member
	// is an error that leaves no key behind.
	caKey := read(t, st, CAKey)
	if err := os.Remove(st.abs(CAKey)); err != nil {
		t.Fatal(err)
	}
	if changes, err := st.Ensure("c1", members[:1]); err != nil || len(changes) != 0 {
		t.Fatalf("without the CA key, nothing to do: %v %v", changes, err)
	}
	if _, err := st.Ensure("c1", members); !errors.Is(err, ErrCAKeyMissing) {
		t.Fatalf("without the CA key, a new member: %v", err)
	}
	if _, err := os.Stat(st.abs(MemberKey("m2"))); err == nil {
		t.Error("a key was left that no certificate can go with")
	}
	if err := os.WriteFile(st.abs(CAKey), caKey, KeyMode); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	// A CA key without its certificate is not papered over with a new CA.
	if err := os.Remove(st.abs(CACert)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ensure("c1", members); !errors.Is(err, ErrBroken) {
		t.Fatalf("CA key without certificate: %v", err)
	}
	if !bytes.Equal(read(t, st, CAKey), caKey) {
		t.Error("the CA key was replaced")
	}
}

func TestRotate(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	ca, key := read(t, st, CACert), read(t, st, MemberKey("m1"))
	if _, err := st.Rotate("c1", members, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, st, CACert), ca) || bytes.Equal(read(t, st, MemberKey("m1")), key) {
		t.Error("rotate: the CA must stay, the keys must change")
	}
	changes, err := st.Rotate("c1", members, true)
	if err != nil {
		t.Fatal(err)
	}
	// the leaf rotation's pending delivery is dropped: every certificate
	// is new under the new CA
	if len(changes) != 7 || changes[0].Path != CAHistory || changes[1].Path != RolloutFile || changes[2].Path != CACert {
		t.Errorf("rotate --ca: %v", changes)
	}
	if bytes.Equal(read(t, st, CACert), ca) {
		t.Error("rotate --ca kept the CA")
	}
	second := read(t, st, CACert)
	if _, err := st.Rotate("c1", members, true); err != nil {
		t.Fatal(err)
	}
	// Every replaced CA is recorded, oldest first.
	if replaced, err := st.ReplacedCAs(); err != nil || strings.Join(replaced, " ") != Fingerprint(ca)+" "+Fingerprint(second) {
		t.Errorf("ReplacedCAs: %v %v, want the first two CAs", replaced, err)
	}
	if fp, err := st.CAFingerprint(); err != nil || fp != Fingerprint(read(t, st, CACert)) || fp == Fingerprint(second) {
		t.Errorf("CAFingerprint: %s %v", fp, err)
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Fatalf("after rotate --ca the leaves do not chain to the new CA: %v", err)
	}
	if _, err := st.Rotate("c2", members, true); !errors.Is(err, ErrOtherCluster) {
		t.Errorf("rotate --ca of another cluster's state: %v", err)
	}
}

func TestList(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.List(); !errors.Is(err, ErrNoCA) {
		t.Fatalf("List of an empty state: %v", err)
	}
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	certs, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range certs {
		got = append(got, c.Path)
	}
	if strings.Join(got, " ") != "etcd/ca.crt etcd/clients/agent.crt etcd/clients/etcd.crt etcd/members/m1.crt etcd/members/m2.crt" {
		t.Errorf("List: %v", got)
	}
	if certs[1].Role != "agent" || certs[2].Role != "etcd" || certs[3].Role != "" || certs[1].Legacy || certs[1].SANs() != "" {
		t.Errorf("List: roles %q %q %q, legacy %v, SANs %q", certs[1].Role, certs[2].Role, certs[3].Role, certs[1].Legacy, certs[1].SANs())
	}
	if s := certs[3].SANs(); s != "10.0.0.1, 127.0.0.1, ::1, 2001:db8::1, m1, localhost" {
		t.Errorf("SANs %q", s)
	}
	now := time.Now()
	if d := certs[3].DaysLeft(now); d < 728 || d > 730 {
		t.Errorf("a new member certificate has %d days left, want about 730", d)
	}
	if d := certs[0].DaysLeft(certs[0].NotAfter.Add(time.Minute)); d != -1 {
		t.Errorf("a certificate expired a minute ago has %d days left, want -1", d)
	}
}

func TestLockRefusesSecondRun(t *testing.T) {
	st := Open(t.TempDir())
	unlock, err := st.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ensure("c1", members); err == nil || !strings.Contains(err.Error(), "in use by another rampart run") {
		t.Errorf("Ensure while locked: %v", err)
	}
	unlock()
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
}

// TestLooseKeyModes: a key that others may read is refused by a run that
// only reads (Load) and tightened to 0600, and reported, by one that writes
// (Ensure, Rotate); nothing else changes.
func TestLooseKeyModes(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	loosen := func() {
		t.Helper()
		for rel, mode := range map[string]fs.FileMode{CAKey: 0o644, ClientKey("agent"): 0o640, MemberKey("m2"): 0o604} {
			if err := os.Chmod(st.abs(rel), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	loosen()
	before := map[string][]byte{}
	for _, rel := range []string{CACert, CAKey, ClientCert("agent"), ClientKey("agent"), ClientCert("etcd"), ClientKey("etcd"), MemberCert("m1"), MemberKey("m1"), MemberCert("m2"), MemberKey("m2")} {
		before[rel] = read(t, st, rel)
	}
	if _, err := st.Load("c1", members); !errors.Is(err, ErrKeyMode) || !strings.Contains(err.Error(), st.abs(CAKey)+" is mode 0644; a key must be 0600") {
		t.Fatalf("Load with ca.key 0644: %v, want ErrKeyMode naming it", err)
	}
	changes, err := st.Ensure("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := []string{
		"etcd/ca.key: tightened the mode of the key from 0644 to 0600: it was readable by others",
		"etcd/clients/agent.key: tightened the mode of the key from 0640 to 0600: it was readable by others",
		"etcd/members/m2.key: tightened the mode of the key from 0604 to 0600: it was readable by others",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Ensure reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for rel, data := range before {
		if !bytes.Equal(read(t, st, rel), data) {
			t.Errorf("%s changed", rel)
		}
		if strings.HasSuffix(rel, ".key") {
			if info, err := os.Stat(st.abs(rel)); err != nil || info.Mode().Perm() != KeyMode {
				t.Errorf("%s: %v %v, want mode 0600", rel, info.Mode(), err)
			}
		}
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Fatal(err)
	}
	// 0400 is no looser than 0600: left alone.
	if err := os.Chmod(st.abs(CAKey), 0o400); err != nil {
		t.Fatal(err)
	}
	if changes, err := st.Ensure("c1", members); err != nil || len(changes) != 0 {
		t.Errorf("Ensure with ca.key 0400: %v %v, want nothing to do", changes, err)
	}
	// Rotate tightens the CA key it keeps.
	if err := os.Chmod(st.abs(CAKey), 0o644); err != nil {
		t.Fatal(err)
	}
	changes, err = st.Rotate("c1", members, false)
	if err != nil || len(changes) == 0 || changes[0].Path != CAKey || !strings.Contains(changes[0].What, "tightened") {
		t.Errorf("Rotate with ca.key 0644: %v %v", changes, err)
	}
	if info, _ := os.Stat(st.abs(CAKey)); info.Mode().Perm() != KeyMode {
		t.Errorf("ca.key after Rotate: %04o", info.Mode().Perm())
	}
}

// TestClock: what Ensure issues is dated by the state's clock; a state
// whose certificates have all expired is still read as it is (rotation is
// on demand, and the output of gen does not depend on the date), and
// Ensure does not replace them.
func TestClock(t *testing.T) {
	then := time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)
	st := Open(t.TempDir())
	st.Now = func() time.Time { return then }
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	certs, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		want := then.Add(LeafValidity)
		if c.IsCA {
			want = then.Add(CAValidity)
		}
		if !c.NotAfter.Equal(want) {
			t.Errorf("%s: not after %s, want %s", c.Path, c.NotAfter, want)
		}
	}
	before := read(t, st, MemberCert("m1"))
	st.Now = nil // today: the leaves expired in 2022
	if _, err := st.Load("c1", members); err != nil {
		t.Fatalf("Load of an expired state: %v", err)
	}
	if changes, err := st.Ensure("c1", members); err != nil || len(changes) != 0 {
		t.Errorf("Ensure of an expired state: %v %v, want nothing done", changes, err)
	}
	if !bytes.Equal(read(t, st, MemberCert("m1")), before) {
		t.Error("Ensure replaced an expired certificate")
	}
	c, err := parseCert(before)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotBefore.Equal(then.Add(-backdate)) || certs[3].DaysLeft(time.Now()) >= 0 {
		t.Errorf("m1: not before %s, %d days left", c.NotBefore, certs[3].DaysLeft(time.Now()))
	}
}

// TestLoadCertificatesNeedsNoKey: with every key removed, LoadCertificates
// still reads the CA's and the leaves' certificates (and no key), while
// Load refuses; a leaf of another CA and a leaf naming other addresses are
// refused by both.
func TestLoadCertificatesNeedsNoKey(t *testing.T) {
	st := Open(filepath.Join(t.TempDir(), "state"))
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{CAKey, ClientKey("agent"), ClientKey("etcd"), MemberKey("m1"), MemberKey("m2")} {
		if err := os.Remove(st.abs(rel)); err != nil {
			t.Fatal(err)
		}
	}
	mat, err := st.LoadCertificates("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mat.Members["m1"].Cert, read(t, st, MemberCert("m1"))) || mat.Members["m1"].Key != nil || mat.Clients["agent"].Key != nil || !bytes.Equal(mat.Clients["etcd"].Cert, read(t, st, ClientCert("etcd"))) {
		t.Errorf("LoadCertificates: certificates not as stored, or keys read")
	}
	if _, err := st.Load("c1", members); !errors.Is(err, ErrKeysMissing) || !strings.Contains(err.Error(), st.abs(MemberKey("m2"))) {
		t.Errorf("Load without keys: %v, want ErrKeysMissing naming every key", err)
	}
	moved := []Member{members[0], {Name: members[1].Name, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.99")}, Role: "etcd"}}
	if _, err := st.LoadCertificates("c1", moved); !errors.Is(err, ErrStale) {
		t.Errorf("a member with other addresses: %v, want ErrStale", err)
	}
	other := Open(filepath.Join(t.TempDir(), "other"))
	if _, err := other.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.abs(MemberCert("m2")), read(t, other, MemberCert("m2")), CertMode); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadCertificates("c1", members); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "is not signed by") {
		t.Errorf("a leaf of another CA: %v, want ErrBroken, not signed", err)
	}
}
