package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestCertsList: every certificate with subject, SANs, not-after and days
// left; exit 1 once one expires within 30 days.
func TestCertsList(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if code, _, stderr := run("certs", "list", "--state", state); code != 1 || !strings.Contains(stderr, "holds no etcd CA") {
		t.Fatalf("certs list on an empty state: exit %d, %q", code, stderr)
	}
	if code, out, stderr := run("gen", "-f", fixture, "-o", filepath.Join(dir, "out"), "--state", state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := run("certs", "list", "--state", state)
	if code != 0 {
		t.Fatalf("certs list: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"CERTIFICATE", "DAYS LEFT", "CN=dcos-packet etcd CA,OU=dcos-packet,O=rampart", "state/etcd/clients/master.crt", "CN=dcos-packet-master-client,OU=dcos-packet,O=rampart", "CN=master-1",
		"10.88.1.2, 127.0.0.1, 147.75.1.10, ::1, 2604:1380:1::10, master-1, localhost", " 729\n", " 3649\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("certs list does not show %q:\n%s", want, out)
		}
	}
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Now().Add(700 * 24 * time.Hour) }
	code, out, stderr = run("certs", "list", "--state", state)
	if code != 1 || !strings.Contains(stderr, "2 certificate(s) expire within 30 days") || !strings.Contains(out, " 29\n") ||
		!strings.Contains(stderr, "rampart certs renew -f cluster.yaml --state "+state+" reissues them") {
		t.Errorf("29 days before the leaves expire: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = run("gen", "-f", fixture, "-o", filepath.Join(dir, "out"), "--state", state)
	if code != 0 || !strings.Contains(stderr, "warning: "+filepath.Join(state, "etcd", "members", "master-1.crt")+" expires in 29 day(s)") {
		t.Errorf("gen 29 days before the leaves expire: exit %d, want 0 and a warning\n%s%s", code, out, stderr)
	}
}

// TestCertsRenew: renew reissues what ends within the window, keeping the
// keys, after which certs list is clean and gen writes the new
// certificates; a second renew does nothing; a bad window is a usage error.
func TestCertsRenew(t *testing.T) {
	dir := t.TempDir()
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
	if code, _, stderr := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatal(stderr)
	}
	key, _ := os.ReadFile(filepath.Join(state, "etcd", "members", "master-1.key"))
	cert, _ := os.ReadFile(filepath.Join(state, "etcd", "members", "master-1.crt"))
	if code, stdout, _ := run("certs", "renew", "-f", fixture, "--state", state); code != 0 || !strings.Contains(stdout, "nothing ends within 30d") {
		t.Errorf("renew of a fresh state: exit %d\n%s", code, stdout)
	}
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Now().Add(701 * 24 * time.Hour) } // 29 days before the leaves end
	code, stdout, stderr := run("certs", "renew", "-f", fixture, "--state", state, "--within", "30d")
	if code != 0 || !strings.Contains(stdout, "renewed (same key) for member master-1") || !strings.Contains(stdout, "renewed (same key) for the client of role master") ||
		!strings.Contains(stdout, "next: rampart certs rollout") {
		t.Fatalf("certs renew: exit %d\n%s%s", code, stdout, stderr)
	}
	if k, _ := os.ReadFile(filepath.Join(state, "etcd", "members", "master-1.key")); string(k) != string(key) {
		t.Error("renew changed master-1's key")
	}
	if c, _ := os.ReadFile(filepath.Join(state, "etcd", "members", "master-1.crt")); string(c) == string(cert) {
		t.Error("renew kept master-1's certificate")
	}
	if code, stdout, stderr := run("certs", "list", "--state", state); code != 0 || !strings.Contains(stdout, "rollout: delivery of renewed certificates in phase deliver") {
		t.Errorf("certs list after renew: exit %d, want 0 and the delivery in progress\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ := run("certs", "renew", "-f", fixture, "--state", state); code != 0 || !strings.Contains(stdout, "nothing ends within 30d") {
		t.Errorf("a second renew: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := run("gen", "-f", fixture, "-o", out, "--state", state, "--check"); code != 1 || !strings.Contains(stderr, "is stale") {
		t.Errorf("after renew the tree is stale until gen runs: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run("certs", "renew", "-f", fixture, "--state", state, "--within", "soon"); code != 2 || !strings.Contains(stderr, "want days (30d)") {
		t.Errorf("--within soon: exit %d\n%s", code, stderr)
	}
}

func TestCertsRotate(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if code, _, stderr := run("gen", "-f", fixture, "-o", filepath.Join(dir, "out"), "--state", state); code != 0 {
		t.Fatal(stderr)
	}
	ca, _ := os.ReadFile(filepath.Join(state, "etcd", "ca.crt"))
	key, _ := os.ReadFile(filepath.Join(state, "etcd", "members", "master-1.key"))
	code, out, stderr := run("certs", "rotate", "-f", fixture, "--state", state)
	if code != 0 || !strings.Contains(out, "rotated: new key and certificate for member master-1") || !strings.Contains(out, "next: rampart certs rollout") {
		t.Fatalf("certs rotate: exit %d\n%s%s", code, out, stderr)
	}
	ca2, _ := os.ReadFile(filepath.Join(state, "etcd", "ca.crt"))
	key2, _ := os.ReadFile(filepath.Join(state, "etcd", "members", "master-1.key"))
	if string(ca) != string(ca2) || string(key) == string(key2) {
		t.Error("rotate must keep the CA and replace the member key")
	}
	if code, out, _ := run("gen", "-f", fixture, "-o", filepath.Join(dir, "out"), "--state", state); code != 0 || strings.Contains(out, "etcd/") {
		t.Errorf("gen after rotate should find the state complete:\n%s", out)
	}
	// One role's client pair: nothing else changes.
	clientKey, _ := os.ReadFile(filepath.Join(state, "etcd", "clients", "master.key"))
	code, out, stderr = run("certs", "rotate", "-f", fixture, "--state", state, "--client", "master")
	if code != 0 || !strings.Contains(out, "etcd/clients/master.crt: rotated: new key and certificate for the client of role master") || strings.Contains(out, "member master-1") ||
		!strings.Contains(out, "brings them to the machines of role(s) master") {
		t.Errorf("certs rotate --client master: exit %d\n%s%s", code, out, stderr)
	}
	if now, _ := os.ReadFile(filepath.Join(state, "etcd", "clients", "master.key")); string(now) == string(clientKey) {
		t.Error("certs rotate --client master kept master's client key")
	}
	if now, _ := os.ReadFile(filepath.Join(state, "etcd", "members", "master-1.key")); string(now) != string(key2) {
		t.Error("certs rotate --client master replaced the member's key")
	}
	if code, _, stderr := run("certs", "rotate", "-f", fixture, "--state", state, "--client", "agent"); code != 1 || !strings.Contains(stderr, `role "agent" has no client certificate; the client roles are master`) {
		t.Errorf("certs rotate --client agent (no etcd client): exit %d\n%s", code, stderr)
	}
	if code, _, stderr := run("certs", "rotate", "-f", fixture, "--state", state, "--client", "master", "--ca"); code != 2 || !strings.Contains(stderr, "give one of them") {
		t.Errorf("certs rotate --client --ca: exit %d, want 2\n%s", code, stderr)
	}
	if code, out, _ := run("certs", "rotate", "-f", fixture, "--state", state, "--ca", "--at-once"); code != 0 || !strings.Contains(out, "replaced the etcd CA") {
		t.Errorf("certs rotate --ca --at-once: exit %d\n%s", code, out)
	}
	if code, _, stderr := run("certs", "rotate", "-f", fixture, "--state", state, "--at-once"); code != 2 || !strings.Contains(stderr, "--at-once goes with --ca") {
		t.Errorf("certs rotate --at-once: exit %d, want 2\n%s", code, stderr)
	}
	if code, _, _ := run("certs", "rotate", "--state", state); code != 2 {
		t.Errorf("certs rotate without -f: exit %d, want 2", code)
	}
	if code, _, _ := run("certs"); code != 2 {
		t.Errorf("certs without a subcommand: exit %d, want 2", code)
	}
}

func TestRecoverErrors(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"recover", "master-1", "-f", fixture, "--state", state}, 1, "if this cluster was generated before, point --state at its state directory (now " + state + "; it is relative to the current directory); rampart gen creates a new CA only for a new cluster"},
		{[]string{"recover", "nobody", "-f", fixture, "--state", state}, 1, `has no node "nobody"; its nodes: master-1, agent-1`},
		{[]string{"recover", "agent-1", "-f", fixture, "--state", state, "--replace"}, 2, "--replace is for etcd members, and agent-1 (role agent) is not one"},
		{[]string{"recover", "master-1", "-f", fixture, "--state", state, "--replace"}, 2, "master-1 is the only etcd member"},
		{[]string{"recover", "-f", fixture}, 2, "recover takes one node name"},
	}
	for _, c := range cases {
		code, out, stderr := run(c.args...)
		if code != c.code || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant: %s", c.args, code, c.code, out, stderr, c.stderr)
		}
	}
	// A node that is no etcd member gets its role's userdata, which holds no key.
	code, out, stderr := run("recover", "agent-1", "-f", fixture, "--state", state, "-o", filepath.Join(dir, "agent-1"))
	if code != 0 || !strings.Contains(out, "its role agent's userdata") {
		t.Fatalf("recover agent-1: exit %d\n%s%s", code, out, stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "agent-1", "cloud-config.yaml"))
	if err != nil || !strings.Contains(string(data), "for role agent of cluster dcos-packet") || strings.Contains(string(data), "PRIVATE KEY") {
		t.Errorf("agent-1's userdata: %v\n%.200s", err, data)
	}
}

// TestRecoverRefusesOutputTree: recover writes a member's keys, so -o may
// not name the output tree or anything under it (however deep, existing or
// not, through a symbolic link); and gen --check says "contains secrets"
// for a tree file that holds a key, not just "differs".
func TestRecoverRefusesOutputTree(t *testing.T) {
	dir := t.TempDir()
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	treeIgn := filepath.Join(out, "nodes", "master-1", "ignition.json")
	before, err := os.ReadFile(treeIgn)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(out, "nodes"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{
		filepath.Join(out, "nodes", "master-1"),
		out,
		filepath.Join(out, "nodes", "not", "yet", "there"),
		filepath.Join(dir, "link", "master-1"),
	} {
		code, stdout, stderr := run("recover", "master-1", "-f", fixture, "--state", state, "-o", o)
		if code != 2 || !strings.Contains(stderr, "is inside the output tree "+out) || !strings.Contains(stderr, "must never hold") {
			t.Errorf("recover -o %s: exit %d, want 2 and a refusal\n%s%s", o, code, stdout, stderr)
		}
	}
	after, err := os.ReadFile(treeIgn)
	if err != nil || string(after) != string(before) {
		t.Fatalf("recover changed the tree's %s (%v)", treeIgn, err)
	}
	if _, err := os.Stat(filepath.Join(out, "nodes", "not")); err == nil {
		t.Error("recover created directories in the tree")
	}
	// Next to the tree is fine.
	if code, o, e := run("recover", "master-1", "-f", fixture, "--state", state, "-o", filepath.Join(dir, "out-recovered")); code != 0 {
		t.Fatalf("recover -o beside the tree: exit %d\n%s%s", code, o, e)
	}

	// The final userdata (with keys) copied into the tree, and a stray key.
	final, err := os.ReadFile(filepath.Join(dir, "out-recovered", "ignition.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(treeIgn, final, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(state, "etcd", "clients", "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "notes.txt"), key, 0o644); err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(out, "roles", "agent", "rootfs", "etc", "rampart", "firewall", "iptables.v4")
	if err := os.WriteFile(edited, []byte("*filter\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("gen", "-f", fixture, "-o", out, "--state", state, "--check")
	for _, want := range []string{
		filepath.Join(out, "nodes", "master-1", "ignition.json") + ": error: contains secrets",
		filepath.Join(out, "notes.txt") + ": error: contains secrets",
		edited + ": error: differs",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("gen --check does not say %q:\n%s", want, stdout)
		}
	}
	if code != 1 || !strings.Contains(stderr, out+" contains secrets: 2 file(s) hold a private key") {
		t.Errorf("gen --check with keys in the tree: exit %d, want 1 and \"contains secrets\"\n%s", code, stderr)
	}
}

// TestGenRefusesTreeOfOtherCA: the manifest records the etcd CA's
// fingerprint; gen refuses to rewrite the tree from a state without that CA
// (none: no new CA is created; another: both fingerprints are named),
// accepts it with --new-ca, and after certs rotate --ca.
func TestGenRefusesTreeOfOtherCA(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	stateA, stateB, stateC := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	fingerprint := func(state string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(state, "etcd", "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:])
	}
	recorded := func() string {
		t.Helper()
		var m struct {
			CA string `json:"etcd_ca_sha256"`
		}
		data, err := os.ReadFile(filepath.Join(out, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m.CA
	}
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", stateA); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	fpA := fingerprint(stateA)
	if got := recorded(); got != fpA {
		t.Fatalf("manifest.json records the CA %q, want %s", got, fpA)
	}
	manifest, _ := os.ReadFile(filepath.Join(out, "manifest.json"))

	// A state directory that does not exist (gen run from elsewhere).
	code, o, e := run("gen", "-f", fixture, "-o", out, "--state", stateB)
	if code != 1 || !strings.Contains(e, out+" was made with the etcd CA "+fpA) || !strings.Contains(e, "holds no etcd CA, and gen would create a new one") || !strings.Contains(e, "--state") {
		t.Errorf("gen with an empty state: exit %d, want 1 and a refusal\n%s%s", code, o, e)
	}
	if _, err := os.Stat(stateB); err == nil {
		t.Errorf("the refused run created %s", stateB)
	}
	// Another state's CA.
	if code, o, e := run("gen", "-f", fixture, "-o", filepath.Join(dir, "out-c"), "--state", stateC); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	fpC := fingerprint(stateC)
	code, o, e = run("gen", "-f", fixture, "-o", out, "--state", stateC)
	if code != 1 || !strings.Contains(e, "was made with the etcd CA "+fpA) || !strings.Contains(e, "holds the etcd CA "+fpC) || !strings.Contains(e, "--new-ca") {
		t.Errorf("gen with another state: exit %d, want 1 naming both CAs\n%s%s", code, o, e)
	}
	if now, _ := os.ReadFile(filepath.Join(out, "manifest.json")); string(now) != string(manifest) {
		t.Error("a refused run changed the tree")
	}
	// On purpose.
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", stateC, "--new-ca"); code != 0 || recorded() != fpC {
		t.Fatalf("gen --new-ca: exit %d, CA %s\n%s%s", code, recorded(), o, e)
	}
	if code, o, e := run("certs", "rotate", "-f", fixture, "--state", stateC, "--ca", "--at-once"); code != 0 || !strings.Contains(o, "recorded the replaced CA "+fpC) {
		t.Fatalf("certs rotate --ca: exit %d\n%s%s", code, o, e)
	}
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", stateC); code != 0 || recorded() != fingerprint(stateC) || recorded() == fpC {
		t.Fatalf("gen after certs rotate --ca: exit %d, want 0 and the new CA recorded\n%s%s", code, o, e)
	}
	// A state that replaced its own CA does not vouch for another's.
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", stateA); code != 1 {
		t.Errorf("gen back with state a: exit %d, want 1\n%s%s", code, o, e)
	}
}

// TestGenRefusesNestedTreeAndState: an output tree and a state directory
// inside one another (however named) are refused before anything is
// written: no CA, no key, no tree.
func TestGenRefusesNestedTreeAndState(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "d")
	if err := os.Symlink(d, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ out, state, want string }{
		{d, filepath.Join(d, "state"), "is inside the output tree"},
		{d, filepath.Join(dir, "link", "state"), "is inside the output tree"},
		{d, d, "is inside the output tree"},
		{filepath.Join(d, "out"), d, "is inside the state directory"},
	}
	for _, c := range cases {
		code, o, e := run("gen", "-f", fixture, "-o", c.out, "--state", c.state)
		if code != 2 || !strings.Contains(e, c.want) {
			t.Errorf("gen -o %s --state %s: exit %d, want 2 and %q\n%s%s", c.out, c.state, code, c.want, o, e)
		}
		if _, err := os.Lstat(d); err == nil {
			t.Fatalf("gen -o %s --state %s wrote %s before refusing", c.out, c.state, d)
		}
	}
	// Side by side is fine (in a directory that exists: gen creates no
	// missing parent).
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, o, e := run("gen", "-f", fixture, "-o", filepath.Join(d, "out"), "--state", filepath.Join(d, "state")); code != 0 {
		t.Errorf("gen with the tree beside the state: exit %d\n%s%s", code, o, e)
	}
}

// TestGenAfterExpiry: a state's leaf certificates expire two years after
// they were made; gen with the clock past that day writes the same tree as
// today (nothing in the tree depends on the date) and warns that they
// expired.
func TestGenAfterExpiry(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	today := filepath.Join(dir, "today")
	if code, o, e := run("gen", "-f", fixture, "-o", today, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	defer func() { now = time.Now }()
	now = func() time.Time { return time.Now().AddDate(3, 0, 0) }
	later := filepath.Join(dir, "later")
	code, o, e := run("gen", "-f", fixture, "-o", later, "--state", state)
	if code != 0 || !strings.Contains(e, "warning: "+filepath.Join(state, "etcd", "members", "master-1.crt")+" expired on 20") {
		t.Fatalf("gen three years on: exit %d, want 0 and an expiry warning\n%s%s", code, o, e)
	}
	a, b := readDir(t, today), readDir(t, later)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d files today, %d three years on", len(a), len(b))
	}
	for p, data := range a {
		if b[p] != data {
			t.Errorf("%s differs three years on", p)
		}
	}
}

// readDir reads every file under dir, by path relative to it.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLegacyClientState: a state made before client certificates were per
// role (one etcd/client.crt and .key, no etcd/clients/) keeps working: the
// commands that only read it say it is stale and that gen brings it up to
// date; gen gives each client role its pair from the same CA and says that
// the old pair is no longer used, leaving it as it is; the tree and the
// userdata carry the role's pair; certs list shows the old one with a
// note; certs rotate retires it.
func TestLegacyClientState(t *testing.T) {
	dir := t.TempDir()
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	if err := os.RemoveAll(filepath.Join(state, "etcd", "clients")); err != nil {
		t.Fatal(err)
	}
	legacyCert, legacyKey := signLegacyClient(t, state)
	writeTestFile(t, filepath.Join(state, "etcd", "client.crt"), legacyCert, 0o644)
	writeTestFile(t, filepath.Join(state, "etcd", "client.key"), legacyKey, 0o600)

	code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state, "--check")
	if code != 1 || !strings.Contains(e, "clients/master.crt (the client of role master) is missing (the state was made before client certificates were per role); rampart gen creates it") {
		t.Errorf("gen --check on the old state: exit %d, want 1 naming what is missing\n%s%s", code, o, e)
	}
	code, o, e = run("recover", "master-1", "-f", fixture, "--state", state, "-o", filepath.Join(dir, "recovered"))
	if code != 1 || !strings.Contains(e, "rampart gen -f SPEC --state "+state+" brings it up to date") {
		t.Errorf("recover on the old state: exit %d, want 1 and the advice to run gen\n%s%s", code, o, e)
	}

	code, o, e = run("gen", "-f", fixture, "-o", out, "--state", state)
	if code != 0 || !strings.Contains(o, "etcd/clients/master.crt: issued the certificate of the client of role master") ||
		!strings.Contains(o, filepath.Join(state, "etcd", "client.crt")+": no longer used: every role has its own client certificate now") {
		t.Fatalf("gen on the old state: exit %d\n%s%s", code, o, e)
	}
	if now, _ := os.ReadFile(filepath.Join(state, "etcd", "client.crt")); string(now) != string(legacyCert) {
		t.Error("gen changed the old client certificate")
	}
	if now, _ := os.ReadFile(filepath.Join(state, "etcd", "client.key")); string(now) != string(legacyKey) {
		t.Error("gen changed the old client key")
	}
	roleCert, _ := os.ReadFile(filepath.Join(state, "etcd", "clients", "master.crt"))
	onNode, _ := os.ReadFile(filepath.Join(out, "nodes", "master-1", "rootfs", "etc", "ssl", "certs", "etcd", "client.crt"))
	if len(roleCert) == 0 || string(onNode) != string(roleCert) {
		t.Error("master-1's client certificate in the tree is not role master's")
	}
	final, _ := os.ReadFile(filepath.Join(state, "userdata", "nodes", "master-1", "cloud-config.yaml"))
	line := func(pemData []byte) string { return strings.Split(string(pemData), "\n")[1] } // a line of base64
	if strings.Contains(string(final), line(legacyKey)) || strings.Contains(string(final), line(legacyCert)) || !strings.Contains(string(final), line(roleCert)) {
		t.Error("master-1's final userdata carries the old client pair, or not its role's")
	}
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state, "--check"); code != 0 {
		t.Errorf("gen --check after gen: exit %d\n%s%s", code, o, e)
	}
	code, o, e = run("certs", "list", "--state", state)
	if code != 0 || !strings.Contains(o, "note: "+filepath.Join(state, "etcd", "client.crt")+" is the one client certificate of a state made before client certificates were per role") {
		t.Errorf("certs list: exit %d\n%s%s", code, o, e)
	}

	code, o, e = run("certs", "rotate", "-f", fixture, "--state", state)
	if code != 0 || !strings.Contains(o, filepath.Join(state, "etcd", "client.crt")+": retired the client certificate and key") {
		t.Fatalf("certs rotate: exit %d\n%s%s", code, o, e)
	}
	for _, f := range []string{"client.crt", "client.key"} {
		if _, err := os.Stat(filepath.Join(state, "etcd", f)); err == nil {
			t.Errorf("certs rotate left etcd/%s", f)
		}
	}
	if code, o, _ := run("certs", "list", "--state", state); code != 0 || strings.Contains(o, "note:") {
		t.Errorf("certs list after rotate: exit %d\n%s", code, o)
	}
}

// signLegacyClient issues, from the state's CA, a client certificate like
// the one of states made before client certificates were per role.
func signLegacyClient(t *testing.T, state string) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, _ = signByStateCA(t, state, &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"rampart"}, CommonName: "rampart-client"},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return certPEM, keyPEM
}

func writeTestFile(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestCertsRotateRolling: certs rotate --ca begins a rolling rotation:
// certs list shows its phase, gen writes both CAs into the members' CA
// file while the manifest keeps naming the CA that signs, a second
// rotate --ca is refused, and certs rollout checks its flags.
func TestCertsRotateRolling(t *testing.T) {
	dir := t.TempDir()
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
	if code, _, stderr := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatal(stderr)
	}
	if code, o, _ := run("certs", "rollout", "-f", fixture, "--state", state); code != 0 || !strings.Contains(o, "nothing to roll out") {
		t.Errorf("certs rollout with nothing recorded: exit %d\n%s", code, o)
	}
	fingerprint := func(state string) string {
		t.Helper()
		fp, err := pki.Open(state).CAFingerprint()
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	oldFP := fingerprint(state)
	code, o, e := run("certs", "rotate", "-f", fixture, "--state", state, "--ca")
	if code != 0 || !strings.Contains(o, "rolling rotation begun: phase trust") || !strings.Contains(o, "next: rampart certs rollout") || strings.Contains(o, "replaced the etcd CA") {
		t.Fatalf("certs rotate --ca: exit %d\n%s%s", code, o, e)
	}
	if fingerprint(state) != oldFP {
		t.Error("certs rotate --ca replaced etcd/ca.crt at once")
	}
	if code, o, _ := run("certs", "list", "--state", state); code != 0 || !strings.Contains(o, "rollout: rolling CA rotation in phase trust (a) members and clients trust the old and the new CA") || !strings.Contains(o, "members done: none") {
		t.Errorf("certs list: exit %d\n%s", code, o)
	}
	if code, _, e := run("certs", "rotate", "-f", fixture, "--state", state, "--ca"); code != 1 || !strings.Contains(e, "rolling CA rotation is in progress") {
		t.Errorf("a second certs rotate --ca: exit %d\n%s", code, e)
	}
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatalf("gen during the rotation: exit %d\n%s%s", code, o, e)
	}
	bundle, err := os.ReadFile(filepath.Join(out, "nodes", "master-1", "rootfs", "etc", "ssl", "certs", "etcd", "ca.crt"))
	if err != nil || strings.Count(string(bundle), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("the member's CA file in phase trust holds %d certificates (%v), want 2", strings.Count(string(bundle), "BEGIN CERTIFICATE"), err)
	}
	manifest, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if !strings.Contains(string(manifest), `"etcd_ca_sha256": "`+oldFP+`"`) {
		t.Errorf("the manifest does not name the signing CA %s", oldFP)
	}
	if code, _, e := run("certs", "rollout", "-f", fixture, "--state", state, "--stop-after", "retire"); code != 2 || !strings.Contains(e, "want trust or leaves") {
		t.Errorf("certs rollout --stop-after retire: exit %d\n%s", code, e)
	}
	// phase (a) done (as certs rollout ends it): the new CA signs, gen
	// accepts the tree of the old one and writes the new CA first
	s, err := spec.LoadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range etcd.Members(s) {
		if err := pki.Open(state).MarkDone(m.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := pki.Open(state).NextPhase(s.Cluster, etcd.Members(s)); err != nil {
		t.Fatal(err)
	}
	newFP := fingerprint(state)
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatalf("gen in phase leaves: exit %d\n%s%s", code, o, e)
	}
	manifest, _ = os.ReadFile(filepath.Join(out, "manifest.json"))
	bundle, _ = os.ReadFile(filepath.Join(out, "nodes", "master-1", "rootfs", "etc", "ssl", "certs", "etcd", "ca.crt"))
	ca, _ := os.ReadFile(filepath.Join(state, pki.CACert))
	if newFP == oldFP || !strings.Contains(string(manifest), `"etcd_ca_sha256": "`+newFP+`"`) || !strings.HasPrefix(string(bundle), string(ca)) || strings.Count(string(bundle), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("phase leaves: the manifest or the member's CA file is not the new CA's first (manifest names new %v)", strings.Contains(string(manifest), newFP))
	}
	if code, o, _ := run("certs", "list", "--state", state); code != 0 || !strings.Contains(o, "in phase leaves") {
		t.Errorf("certs list in phase leaves: exit %d\n%s", code, o)
	}
}

// TestCertsRolloutRefusesUnhealthy: certs rollout over SSH checks the
// cluster's health before anything: members that do not answer stop it
// with nothing delivered or restarted (no SSH connection is made).
func TestCertsRolloutRefusesUnhealthy(t *testing.T) {
	dir := t.TempDir()
	file, state := filepath.Join(dir, "c.yaml"), filepath.Join(dir, "state")
	writeTestFile(t, file, []byte(`version: 1
cluster: down-lab
os: {variant: flatcar, version: 1.1.0}
outputs: [ignition]
profile: none
roles:
  etcd: {zone: private, etcd: true}
nodes:
  - {name: e1, role: etcd, addresses: [127.0.9.1]}
  - {name: e2, role: etcd, addresses: [127.0.9.2]}
  - {name: e3, role: etcd, addresses: [127.0.9.3]}
etcd: {client_port: 9, peer_port: 10}
`), 0o644)
	if code, o, e := run("gen", "-f", file, "-o", filepath.Join(dir, "out"), "--state", state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	if code, o, e := run("certs", "rotate", "-f", file, "--state", state, "--ca"); code != 0 {
		t.Fatalf("certs rotate --ca: exit %d\n%s%s", code, o, e)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key, known := filepath.Join(dir, "key"), filepath.Join(dir, "known_hosts")
	writeTestFile(t, key, pem.EncodeToMemory(block), 0o600)
	writeTestFile(t, known, nil, 0o644)
	code, o, e := run("certs", "rollout", "-f", file, "--state", state, "-i", key, "--known-hosts", known)
	if code != 1 || !strings.Contains(e, "not healthy with every member") || !strings.Contains(e, "e1 (127.0.9.1:9)") || !strings.Contains(e, "nothing was delivered or restarted") {
		t.Errorf("certs rollout against members that are down: exit %d\n%s%s", code, o, e)
	}
	if r, err := pki.Open(state).Rollout(); err != nil || r == nil || r.Phase != pki.PhaseTrust {
		t.Errorf("the state records %+v (%v), want phase trust untouched", r, err)
	}
}
