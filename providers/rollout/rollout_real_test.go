package rollout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestRealRotation: a rolling CA rotation of a running three-member TLS
// cluster, while a client writes and reads every 50 ms: no request fails,
// never fewer than two members healthy; at the end a client certificate of
// the old CA is refused and the new one served.
func TestRealRotation(t *testing.T) {
	t.Parallel()
	l := newLab(t, "127.0.0")
	oldAgent := l.agentPair(t)
	if _, err := l.st.StartRotation(l.s.Cluster, etcd.Members(l.s)); err != nil {
		t.Fatal(err)
	}
	res := l.runUnderLoad(t)
	if want := []pki.Phase{pki.PhaseTrust, pki.PhaseLeaves, pki.PhaseRetire}; !slices.Equal(res.Completed, want) {
		t.Errorf("phases %v, want %v", res.Completed, want)
	}
	if got := l.restarted(); len(got) != 9 {
		t.Errorf("restarts %v, want each member once in each of the three phases", got)
	}
	l.checkRotated(t, oldAgent)
}

// TestRealRenewal: certs renew (new keys) delivered with the same rolling
// restart while the client runs: no request fails; every member serves its
// renewed certificate.
func TestRealRenewal(t *testing.T) {
	t.Parallel()
	// the state was made 29 days less than two years ago: every leaf
	// ends within 30 days
	l := newLabAt(t, "127.0.1", time.Now().Add(-pki.LeafValidity+29*24*time.Hour))
	changes, err := l.st.Renew(l.s.Cluster, etcd.Members(l.s), 30*24*time.Hour, true)
	if err != nil || len(changes) != 5 {
		t.Fatalf("renew: %v, %v", changes, err)
	}
	res := l.runUnderLoad(t)
	if !slices.Equal(res.Completed, []pki.Phase{pki.PhaseDeliver}) || !slices.Equal(l.restarted(), []string{"e1", "e2", "e3"}) {
		t.Errorf("phases %v, restarts %v", res.Completed, l.restarted())
	}
	for _, n := range l.members() {
		want := l.stateCert(t, pki.MemberCert(n.Name))
		if got := l.served(t, n.Name); !got.Equal(want) {
			t.Errorf("%s serves the certificate ending %s, the state's renewed one ends %s", n.Name, got.NotAfter, want.NotAfter)
		}
	}
	if r, _ := l.st.Rollout(); r != nil {
		t.Errorf("the state still records a rollout: %+v", r)
	}
	// a second rollout has nothing to do
	if _, err := Run(context.Background(), l.options("", 0)); !errors.Is(err, ErrNothing) {
		t.Errorf("second rollout: %v, want ErrNothing", err)
	}
}

// TestRealRotationResumes: a rotation stopped after phase (a) is carried
// on by the next run to its end.
func TestRealRotationResumes(t *testing.T) {
	t.Parallel()
	l := newLab(t, "127.0.2")
	oldAgent := l.agentPair(t)
	if _, err := l.st.StartRotation(l.s.Cluster, etcd.Members(l.s)); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), l.options(pki.PhaseTrust, 0))
	if err != nil || !slices.Equal(res.Completed, []pki.Phase{pki.PhaseTrust}) || res.Phase != pki.PhaseLeaves {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	if r, err := l.st.Rollout(); err != nil || r == nil || r.Phase != pki.PhaseLeaves || len(r.Done) != 0 {
		t.Fatalf("the state records %+v (%v), want phase leaves with nothing done", r, err)
	}
	// the members trust both CAs and still serve the old one's certificates
	if bundle := string(readFile(t, filepath.Join(l.root("e1"), etcd.CAFile))); strings.Count(bundle, "BEGIN CERTIFICATE") != 2 {
		t.Errorf("e1's CA file after phase (a) holds %d certificates, want 2", strings.Count(bundle, "BEGIN CERTIFICATE"))
	}
	res, err = Run(context.Background(), l.options("", 0))
	if err != nil || !slices.Equal(res.Completed, []pki.Phase{pki.PhaseLeaves, pki.PhaseRetire}) || res.Phase != "" {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	l.checkRotated(t, oldAgent)
}

// TestRealMemberKeptDown: a member that does not come back stops the
// rollout with a message naming it; no other member is restarted after
// it; once it is back, the rollout run again finishes. And a rollout from
// a state of another CA is refused before anything is delivered.
func TestRealMemberKeptDown(t *testing.T) {
	t.Parallel()
	l := newLab(t, "127.0.3")

	other := pki.Open(filepath.Join(l.dir, "other-state"))
	if _, err := other.Ensure(l.s.Cluster, etcd.Members(l.s)); err != nil {
		t.Fatal(err)
	}
	if _, err := other.StartRotation(l.s.Cluster, etcd.Members(l.s)); err != nil {
		t.Fatal(err)
	}
	o := l.options("", 5*time.Second)
	o.State = other
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrForeignCA) || !strings.Contains(err.Error(), "e1") {
		t.Errorf("rollout from another state's CA: %v, want ErrForeignCA naming e1", err)
	}
	if len(l.restarted()) != 0 {
		t.Fatalf("restarted %v", l.restarted())
	}

	if _, err := l.st.StartRotation(l.s.Cluster, etcd.Members(l.s)); err != nil {
		t.Fatal(err)
	}
	// a spec that names two of the three members etcd has: two healthy
	// would be no majority of three; refused before anything is done
	short, err := spec.Parse(l.s.File, []byte(strings.Replace(l.src, "  - {name: e3, role: etcd, addresses: [127.0.3.3]}\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	o = l.options("", 5*time.Second)
	o.Spec = short
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrMembership) || !strings.Contains(err.Error(), "e3") {
		t.Errorf("rollout with a spec that leaves out e3: %v, want ErrMembership naming e3", err)
	}
	if len(l.restarted()) != 0 {
		t.Fatalf("restarted %v", l.restarted())
	}
	l.keepDown["e2"] = true
	_, err = Run(context.Background(), l.options("", 5*time.Second))
	if !errors.Is(err, ErrMemberDown) || !strings.Contains(err.Error(), "member e2 ") || !strings.Contains(err.Error(), "To resume") {
		t.Fatalf("rollout with e2 kept down: %v", err)
	}
	t.Logf("the message: %v", err)
	if got := l.restarted(); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("restarts %v, want e1 then e2 and nothing after", got)
	}
	if r, _ := l.st.Rollout(); r == nil || r.Phase != pki.PhaseTrust || !slices.Equal(r.Done, []string{"e1"}) {
		t.Fatalf("the state records %+v", r)
	}
	// a rollout now refuses to restart anything: e2 is not healthy
	if _, err := Run(context.Background(), l.options("", 5*time.Second)); !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "e2") {
		t.Errorf("rollout with e2 down: %v, want ErrUnhealthy naming e2", err)
	}
	if got := l.restarted(); len(got) != 2 {
		t.Fatalf("restarts %v after a refused rollout", got)
	}
	// e2 back (with its new files): the rollout resumes at e2
	l.keepDown["e2"] = false
	l.start("e2")
	l.waitHealthy(t)
	res, err := Run(context.Background(), l.options("", 0))
	if err != nil || res.Phase != "" {
		t.Fatalf("resumed rollout: %+v, %v", res, err)
	}
	if got := l.restarted(); len(got) < 4 || !slices.Equal(got[:4], []string{"e1", "e2", "e2", "e3"}) {
		t.Errorf("restarts %v, want the resumed run to begin at e2", got)
	}
}

// runUnderLoad runs the whole rollout while the client and the health
// watcher run (startLoad), and checks them.
func (l *lab) runUnderLoad(t *testing.T) *Result {
	t.Helper()
	ld := l.startLoad()
	time.Sleep(300 * time.Millisecond)
	res, err := Run(context.Background(), l.options("", 0))
	time.Sleep(300 * time.Millisecond)
	ld.end()
	if err != nil {
		t.Fatalf("rollout: %v", err)
	}
	ld.check(t)
	return res
}

// agentPair is the agent machine's client pair now.
func (l *lab) agentPair(t *testing.T) tls.Certificate {
	pair, err := tls.LoadX509KeyPair(filepath.Join(l.root("a1"), etcd.ClientCert), filepath.Join(l.root("a1"), etcd.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// checkRotated: the state has one CA; every member serves a certificate of
// it and trusts only it: the agent's new pair is served, its pair of the
// old CA refused (by the member: the client trusts the new CA).
func (l *lab) checkRotated(t *testing.T, oldAgent tls.Certificate) {
	t.Helper()
	ca := l.stateCert(t, pki.CACert)
	if r, _ := l.st.Rollout(); r != nil {
		t.Errorf("the state still records a rollout: %+v", r)
	}
	for _, rel := range []string{pki.NextCACert, pki.PrevCACert, pki.PrevCAKey} {
		if _, err := os.Stat(filepath.Join(l.st.Dir, rel)); err == nil {
			t.Errorf("%s is still there", rel)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, n := range l.members() {
		if err := l.served(t, n.Name).CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s serves a certificate not of the new CA: %v", n.Name, err)
		}
		if b := string(readFile(t, filepath.Join(l.root(n.Name), etcd.CAFile))); strings.Count(b, "BEGIN CERTIFICATE") != 1 {
			t.Errorf("%s trusts %d CAs at the end", n.Name, strings.Count(b, "BEGIN CERTIFICATE"))
		}
		newCfg, err := l.clientTLS()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call(context.Background(), newCfg, l.url(n)+"/v3/kv/range", `{"key":"cm9sbG91dC9wcm9iZQ=="}`, 3*time.Second); err != nil {
			t.Errorf("%s refuses the agent's new client certificate: %v", n.Name, err)
		}
		oldCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{oldAgent}}
		if _, err := call(context.Background(), oldCfg, l.url(n)+"/v3/kv/range", `{"key":"cm9sbG91dC9wcm9iZQ=="}`, 3*time.Second); err == nil || !isTLSRefusal(err) {
			t.Errorf("%s answers a client certificate of the old CA: %v", n.Name, err)
		}
	}
}

func (l *lab) stateCert(t *testing.T, rel string) *x509.Certificate {
	t.Helper()
	c, err := parsePEM(readFile(t, filepath.Join(l.st.Dir, rel)))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return c
}

// served is the certificate a member presents.
func (l *lab) served(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	n := l.s.Node(name)
	host := strings.TrimPrefix(l.url(n), "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// isTLSRefusal reports whether err is the server refusing the client's
// certificate during or right after the handshake.
func isTLSRefusal(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return true
	}
	for _, s := range []string{"certificate required", "bad certificate", "unknown certificate authority", "handshake failure", "connection reset", "EOF"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}
