package gen_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
)

// keylessCopy copies a state directory without its keys: its certificates
// only, as a repository of trees keeps it.
func keylessCopy(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(dst, 0o700)
		case strings.HasSuffix(p, ".key"):
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunKeyless: a copy of the state without its keys (the fixture's
// certificates) checks the reviewed tree (Check) and writes it again
// (TreeOnly), byte for byte the golden tree; a run that would make the
// final userdata from it is refused naming every missing key, not as an
// inconsistent state; and no run, whatever the spec asks, creates or
// changes anything in such a state: no new key, no new certificate, not
// even a lock file.
func TestRunKeyless(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := loadFixture(t, "dcos-packet")
	state := filepath.Join(dir, "state")
	keylessCopy(t, filepath.Join(fixtures, "state", "dcos-packet"), state)
	before := strings.Join(listing(t, state), "\n")
	unchanged := func(what string) {
		t.Helper()
		if after := strings.Join(listing(t, state), "\n"); after != before {
			t.Errorf("%s changed the key-less state:\n%s\nbefore:\n%s", what, after, before)
		}
	}
	golden := filepath.Join(fixtures, "golden", "dcos-packet")
	wantMissing := []string{"etcd/clients/master.key", "etcd/members/master-1.key"}

	// CI of a repository of trees: the reviewed tree is checked from the
	// certificates alone
	r, err := gen.Run(gen.Options{Spec: s, Out: golden, State: state, Check: true, KeylessCheck: true})
	if err != nil || len(r.Stale) != 0 || len(r.StaleUserdata) != 0 || strings.Join(r.KeysMissing, " ") != strings.Join(wantMissing, " ") {
		t.Fatalf("check of the golden tree with a key-less state: %v, stale %v %v, keys missing %v", err, r.Stale, r.StaleUserdata, r.KeysMissing)
	}
	unchanged("Check")
	// what delivers the final userdata checks without KeylessCheck: the
	// members' userdata would be the public one, without their keys
	if _, err := gen.Run(gen.Options{Spec: s, Out: golden, State: state, Check: true}); !errors.Is(err, pki.ErrKeysMissing) {
		t.Errorf("Check without KeylessCheck of a key-less state: %v, want ErrKeysMissing", err)
	}

	// the tree written again from the certificates is the golden tree
	out := filepath.Join(dir, "out")
	if r, err = gen.Run(gen.Options{Spec: s, Out: out, State: state, TreeOnly: true}); err != nil || !r.TreeWritten || len(r.UserdataWritten) != 0 || len(r.StateChanges) != 0 {
		t.Fatalf("TreeOnly: %v, tree written %v, userdata %v, state changes %v", err, r.TreeWritten, r.UserdataWritten, r.StateChanges)
	}
	unchanged("TreeOnly")
	if stale, err := r.Output.Tree.Check(golden); err != nil || len(stale) != 0 {
		t.Errorf("the tree TreeOnly wrote is not the golden tree: %v %v", stale, err)
	}

	// the final userdata needs the keys: refused, naming each
	out2 := filepath.Join(dir, "out2")
	_, err = gen.Run(gen.Options{Spec: s, Out: out2, State: state})
	if !errors.Is(err, pki.ErrKeysMissing) || errors.Is(err, pki.ErrBroken) || strings.Contains(err.Error(), "inconsistent") || !strings.Contains(err.Error(), "--tree-only") {
		t.Errorf("gen with a key-less state: %v, want ErrKeysMissing and the advice", err)
	}
	for _, k := range wantMissing {
		if err == nil || !strings.Contains(err.Error(), filepath.Join(state, k)) {
			t.Errorf("the refusal does not name %s: %v", k, err)
		}
	}
	if _, err := os.Lstat(out2); err == nil {
		t.Error("the refused run wrote a tree")
	}
	unchanged("the refused run")
	if _, err := pki.Open(state).Load(s.Cluster, r.Members); !errors.Is(err, pki.ErrKeysMissing) || !strings.Contains(err.Error(), filepath.Join(state, wantMissing[1])) {
		t.Errorf("Load of a key-less state: %v, want ErrKeysMissing naming the keys", err)
	}

	// a spec that needs a new certificate: nothing is issued, with or
	// without TreeOnly
	moved := loadFixture(t, "dcos-packet")
	moved.Nodes[0].Addresses[1] = netip.MustParseAddr("10.88.1.99")
	if _, err := gen.Run(gen.Options{Spec: moved, Out: out2, State: state}); !errors.Is(err, pki.ErrKeysMissing) {
		t.Errorf("gen of a moved member with a key-less state: %v, want ErrKeysMissing", err)
	}
	if _, err := gen.Run(gen.Options{Spec: moved, Out: out2, State: state, TreeOnly: true}); !errors.Is(err, pki.ErrStale) {
		t.Errorf("TreeOnly of a moved member with a key-less state: %v, want ErrStale", err)
	}
	unchanged("runs of a spec that needs a new certificate")

	// only the CA's certificate: gen must not issue new pairs for members
	// whose keys are elsewhere
	for _, c := range []string{"etcd/members/master-1.crt", "etcd/clients/master.crt"} {
		if err := os.Remove(filepath.Join(state, filepath.FromSlash(c))); err != nil {
			t.Fatal(err)
		}
	}
	before = strings.Join(listing(t, state), "\n")
	if _, err := gen.Run(gen.Options{Spec: s, Out: out2, State: state}); err == nil || !strings.Contains(err.Error(), "holds the CA certificate without its key ("+filepath.Join(state, "etcd/ca.key")+" missing), so gen can issue nothing") {
		t.Errorf("gen with the CA certificate alone: %v", err)
	}
	unchanged("gen with the CA certificate alone")
}
