package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// writeLegacy gives the state the one client pair that states made before
// client certificates were per role hold (CN rampart-client), its key with
// mode keyMode.
func writeLegacy(t *testing.T, st *State, cluster string, keyMode fs.FileMode) {
	t.Helper()
	ca, err := st.readCA(cluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls := leafSpec{what: "the client", certPath: LegacyClientCert, keyPath: LegacyClientKey,
		subject: pkix.Name{Organization: []string{"rampart"}, OrganizationalUnit: []string{cluster}, CommonName: "rampart-client"},
		usage:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.issue(ls, &key.PublicKey, st.now())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.writePair(ls.keyPath, keyPEM, ls.certPath, certPEM); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(st.abs(LegacyClientKey), keyMode); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyClient: a state made before client certificates were per role
// (etcd/client.crt and .key, no etcd/clients/) is stale for Load, which
// says why; Ensure gives every client role its pair from the same CA,
// keeps the members' pairs and the legacy pair as they are (its key
// tightened, like any key others may read) and says once that it is no
// longer used; List shows it as legacy; RotateClients leaves it; Rotate
// retires it.
func TestLegacyClient(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(st.abs(clientsDir)); err != nil {
		t.Fatal(err)
	}
	writeLegacy(t, st, "c1", 0o644)
	before := map[string][]byte{}
	for _, rel := range []string{CACert, CAKey, LegacyClientCert, LegacyClientKey, MemberCert("m1"), MemberKey("m1"), MemberCert("m2"), MemberKey("m2")} {
		before[rel] = read(t, st, rel)
	}

	if _, err := st.Load("c1", members); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "clients/agent.crt (the client of role agent) is missing (the state was made before client certificates were per role); rampart gen creates it") {
		t.Fatalf("Load of a state with the legacy client pair only: %v", err)
	}
	changes, err := st.Ensure("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	want := "etcd/client.key etcd/clients/agent.key etcd/clients/agent.crt etcd/clients/etcd.key etcd/clients/etcd.crt etcd/client.crt"
	if got := paths(changes); got != want {
		t.Fatalf("changes %q, want %q", got, want)
	}
	if !strings.Contains(changes[0].What, "tightened the mode of the key from 0644 to 0600") {
		t.Errorf("the legacy key's mode: %s", changes[0])
	}
	last := changes[len(changes)-1].What
	if !strings.HasPrefix(last, "no longer used: every role has its own client certificate now (etcd/clients/)") ||
		!strings.Contains(last, "it stays valid for etcd until 20") || !strings.Contains(last, "rampart certs rotate removes it") {
		t.Errorf("what Ensure says of the legacy pair: %s", last)
	}
	for rel, data := range before {
		if !bytes.Equal(read(t, st, rel), data) {
			t.Errorf("Ensure changed %s", rel)
		}
	}
	if info, err := os.Stat(st.abs(LegacyClientKey)); err != nil || info.Mode().Perm() != KeyMode {
		t.Errorf("legacy key: %v %v, want mode 0600", info, err)
	}
	if again, err := st.Ensure("c1", members); err != nil || len(again) != 0 {
		t.Errorf("second Ensure: %v %v, want nothing to do", again, err)
	}
	mat, err := st.Load("c1", members)
	if err != nil {
		t.Fatal(err)
	}
	for role, p := range mat.Clients {
		if bytes.Equal(p.Cert, before[LegacyClientCert]) || bytes.Equal(p.Key, before[LegacyClientKey]) {
			t.Errorf("role %s got the legacy pair", role)
		}
	}
	certs, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range certs {
		got = append(got, c.Path)
		if c.Legacy != (c.Path == LegacyClientCert) {
			t.Errorf("%s: Legacy %v", c.Path, c.Legacy)
		}
	}
	if strings.Join(got, " ") != "etcd/ca.crt etcd/clients/agent.crt etcd/clients/etcd.crt etcd/client.crt etcd/members/m1.crt etcd/members/m2.crt" {
		t.Errorf("List: %v", got)
	}

	// One role's pair, and nothing else.
	agentKey, etcdKey := read(t, st, ClientKey("agent")), read(t, st, ClientKey("etcd"))
	changes, err = st.RotateClients("c1", members, []string{"agent"})
	if err != nil || paths(changes) != ClientCert("agent") || changes[0].What != "rotated: new key and certificate for the client of role agent" {
		t.Fatalf("RotateClients(agent): %v %v", changes, err)
	}
	if bytes.Equal(read(t, st, ClientKey("agent")), agentKey) || !bytes.Equal(read(t, st, ClientKey("etcd")), etcdKey) {
		t.Error("RotateClients(agent) must replace agent's key and only that")
	}
	for rel, data := range before {
		if !bytes.Equal(read(t, st, rel), data) {
			t.Errorf("RotateClients(agent) changed %s", rel)
		}
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RotateClients("c1", members, []string{"agent", "web"}); err == nil || !strings.Contains(err.Error(), `role "web" has no client certificate; the client roles are agent, etcd`) {
		t.Errorf("RotateClients(web): %v", err)
	}

	// Everything: the legacy pair is retired.
	changes, err = st.Rotate("c1", members, false)
	if err != nil {
		t.Fatal(err)
	}
	last = changes[len(changes)-1].String()
	if !strings.HasPrefix(last, "etcd/client.crt: retired the client certificate and key of a state made before client certificates were per role") ||
		!strings.Contains(last, "stays valid for etcd until 20") {
		t.Errorf("Rotate: %v", changes)
	}
	for _, rel := range []string{LegacyClientCert, LegacyClientKey} {
		if _, err := os.Stat(st.abs(rel)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Rotate: %v", rel, err)
		}
	}
	changes, err = st.Rotate("c1", members, false)
	if err != nil || len(changes) != 4 || strings.Contains(paths(changes), LegacyClientCert) {
		t.Errorf("second Rotate: %v %v", changes, err)
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Fatal(err)
	}

	// With --ca, the legacy pair goes too.
	writeLegacy(t, st, "c1", KeyMode)
	changes, err = st.Rotate("c1", members, true)
	if err != nil || !strings.Contains(changes[len(changes)-1].What, "it was signed by the replaced CA") {
		t.Errorf("Rotate with a new CA: %v %v", changes, err)
	}
	if _, err := os.Stat(st.abs(LegacyClientCert)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the legacy certificate after Rotate with a new CA: %v", err)
	}
}

// TestClientRoles: the client roles are the members' roles and the
// clients they name; a role that is no longer one keeps its pair (nothing
// is removed) but is no longer read; a client certificate in another
// role's place is refused; a member needs a role, and a role a name that
// can name files.
func TestClientRoles(t *testing.T) {
	if got := strings.Join(ClientRoles(members), " "); got != "agent etcd" {
		t.Errorf("ClientRoles %q", got)
	}
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	alone := []Member{{Name: "m1", Addresses: members[0].Addresses, Role: "etcd"}, {Name: "m2", Addresses: members[1].Addresses, Role: "etcd"}}
	if changes, err := st.Ensure("c1", alone); err != nil || len(changes) != 0 {
		t.Errorf("Ensure without the agent role: %v %v", changes, err)
	}
	mat, err := st.Load("c1", alone)
	if err != nil || len(mat.Clients) != 1 || mat.Clients["etcd"] == nil {
		t.Fatalf("Load without the agent role: %v %v", mat, err)
	}
	if _, err := os.Stat(st.abs(ClientKey("agent"))); err != nil {
		t.Errorf("agent's key was removed: %v", err)
	}
	// agent's certificate and key put in etcd's place.
	for _, ext := range []string{".crt", ".key"} {
		if err := os.WriteFile(st.abs(clientsDir+"/etcd"+ext), read(t, st, clientsDir+"/agent"+ext), KeyMode); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Load("c1", members); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), `is the certificate of "c1-agent-client", not of the client of role etcd (CN c1-etcd-client)`) {
		t.Errorf("Load with agent's pair in etcd's place: %v", err)
	}
	if _, err := st.Ensure("c1", members); !errors.Is(err, ErrBroken) {
		t.Errorf("Ensure with agent's pair in etcd's place: %v", err)
	}
	for _, bad := range []Member{
		{Name: "m1", Addresses: members[0].Addresses},
		{Name: "m1", Addresses: members[0].Addresses, Role: "../etcd"},
		{Name: "m1", Addresses: members[0].Addresses, Role: "etcd", Clients: []string{""}},
	} {
		if _, err := Open(t.TempDir()).Ensure("c1", []Member{bad}); err == nil {
			t.Errorf("Ensure accepted the member %+v", bad)
		}
	}
}
