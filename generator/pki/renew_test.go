package pki

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestRenew: only the leaves that end within the window are reissued, from
// the same CA, keeping their keys (or with new ones when asked); a second
// run renews nothing; a CA that ends within the window is refused.
func TestRenew(t *testing.T) {
	then := time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := then
	st := Open(t.TempDir())
	st.Now = func() time.Time { return clock }
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	// a year on, the agent's client pair is rotated: it ends a year after
	// the others
	clock = then.Add(365 * 24 * time.Hour)
	if _, err := st.RotateClients("c1", members, []string{"agent"}); err != nil {
		t.Fatal(err)
	}
	agentCert := read(t, st, ClientCert("agent"))
	caCert := read(t, st, CACert)
	keys := map[string][]byte{}
	for _, rel := range []string{MemberKey("m1"), MemberKey("m2"), ClientKey("etcd")} {
		keys[rel] = read(t, st, rel)
	}

	// 20 days before the first leaves end: a 30-day window takes them
	clock = then.Add(LeafValidity - 20*24*time.Hour)
	if changes, err := st.Renew("c1", members, 10*24*time.Hour, false); err != nil || len(changes) != 0 {
		t.Fatalf("a 10-day window 20 days before the end renewed %v (%v)", paths(changes), err)
	}
	changes, err := st.Renew("c1", members, 30*24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := paths(changes), ClientCert("etcd")+" "+MemberCert("m1")+" "+MemberCert("m2"); got != want {
		t.Fatalf("renewed %s, want %s", got, want)
	}
	ca, err := parseCert(caCert)
	if err != nil {
		t.Fatal(err)
	}
	for rel, key := range keys {
		if !bytes.Equal(read(t, st, rel), key) {
			t.Errorf("%s changed: renew keeps the keys", rel)
		}
	}
	for _, rel := range []string{MemberCert("m1"), MemberCert("m2"), ClientCert("etcd")} {
		c, err := parseCert(read(t, st, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CheckSignatureFrom(ca); err != nil || !c.NotAfter.Equal(clock.Add(LeafValidity)) {
			t.Errorf("%s: signed by the CA: %v; ends %s, want %s", rel, err, c.NotAfter, clock.Add(LeafValidity))
		}
	}
	if !bytes.Equal(read(t, st, ClientCert("agent")), agentCert) || !bytes.Equal(read(t, st, CACert), caCert) {
		t.Error("renew touched a certificate far from its end, or the CA")
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Errorf("the renewed state does not load: %v", err)
	}
	if changes, err := st.Renew("c1", members, 30*24*time.Hour, false); err != nil || len(changes) != 0 {
		t.Errorf("a second renew: %v %v, want nothing", paths(changes), err)
	}

	// new keys on request
	clock = clock.Add(LeafValidity - 5*24*time.Hour)
	changes, err = st.Renew("c1", members, 30*24*time.Hour, true)
	if err != nil || len(changes) != 4 {
		t.Fatalf("renew --new-keys: %v %v", paths(changes), err)
	}
	if bytes.Equal(read(t, st, MemberKey("m1")), keys[MemberKey("m1")]) {
		t.Error("renew with new keys kept m1's key")
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Errorf("the state renewed with new keys does not load: %v", err)
	}

	// the CA's own end is in the window: refused, nothing written
	clock = then.Add(CAValidity - 10*24*time.Hour)
	before := read(t, st, MemberCert("m1"))
	if _, err := st.Renew("c1", members, 30*24*time.Hour, false); !errors.Is(err, ErrCAExpiring) {
		t.Errorf("renew under a CA that ends in 10 days: %v, want ErrCAExpiring", err)
	}
	if !bytes.Equal(read(t, st, MemberCert("m1")), before) {
		t.Error("a refused renew wrote a certificate")
	}
}
