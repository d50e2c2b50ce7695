package gen_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

func loadFixture(t *testing.T, name string) *spec.Spec {
	t.Helper()
	s, err := spec.LoadFile(filepath.Join(fixtures, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRun: the first run fills the state, writes the tree and the final
// userdata and says so; a second run changes nothing; with Check it
// writes nothing and finds what differs, in the tree and in the state's
// final userdata.
func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := loadFixture(t, "dcos-packet")
	o := gen.Options{Spec: s, Out: filepath.Join(dir, "out"), State: filepath.Join(dir, "state")}
	r, err := gen.Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Members) == 0 || len(r.StateChanges) == 0 || len(r.Certificates) == 0 || !r.TreeWritten || len(r.UserdataWritten) == 0 || r.SecretMachines() == 0 {
		t.Fatalf("first run: %d members, %d state changes, %d certificates, tree written %v, %d userdata files for %d machines",
			len(r.Members), len(r.StateChanges), len(r.Certificates), r.TreeWritten, len(r.UserdataWritten), r.SecretMachines())
	}
	if stale, err := r.Output.Tree.Check(o.Out); err != nil || len(stale) != 0 {
		t.Errorf("the tree written is not the tree made: %v %v", stale, err)
	}
	r, err = gen.Run(o)
	if err != nil || len(r.StateChanges) != 0 || len(r.UserdataWritten) != 0 || len(r.UserdataRemoved) != 0 || r.TreeWritten || !r.TreeUnchanged {
		t.Fatalf("second run: %v, state changes %v, userdata written %v, removed %v, tree written %v, unchanged %v", err, r.StateChanges, r.UserdataWritten, r.UserdataRemoved, r.TreeWritten, r.TreeUnchanged)
	}

	o.Check = true
	if r, err = gen.Run(o); err != nil || len(r.Stale)+len(r.StaleUserdata) != 0 || r.TreeWritten {
		t.Fatalf("check of an up to date tree: %v, stale %v %v, tree written %v", err, r.Stale, r.StaleUserdata, r.TreeWritten)
	}
	edited := "roles/agent/rootfs/etc/rampart/firewall/iptables.v4"
	if err := os.WriteFile(filepath.Join(o.Out, filepath.FromSlash(edited)), []byte("*filter\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	userdata := r.Output.Userdata[0].Path
	if err := os.Remove(filepath.Join(o.State, filepath.FromSlash(userdata))); err != nil {
		t.Fatal(err)
	}
	r, err = gen.Run(o)
	if err != nil {
		t.Fatal(err)
	}
	want := []gen.Stale{gen.StaleAt(edited, gen.MsgDiffers)}
	if len(r.Stale) != 1 || r.Stale[0] != want[0] {
		t.Errorf("check after an edit: stale %v, want %v", r.Stale, want)
	}
	if len(r.StaleUserdata) != 1 || r.StaleUserdata[0] != (gen.Stale{Path: userdata, Code: "tree.missing", Reason: "missing"}) {
		t.Errorf("check after a userdata file was removed: %v, want %s missing", r.StaleUserdata, userdata)
	}
	if _, err := os.Stat(filepath.Join(o.State, filepath.FromSlash(userdata))); err == nil {
		t.Error("a check wrote the final userdata")
	}
}

// TestRunWithoutEtcd: a spec without etcd members needs no state: the run
// neither reads nor creates one, and makes no final userdata.
func TestRunWithoutEtcd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := gen.Options{Spec: loadFixture(t, "isolation"), Out: filepath.Join(dir, "out"), State: filepath.Join(dir, "state")}
	r, err := gen.Run(o)
	if err != nil || len(r.Members) != 0 || !r.TreeWritten || r.SecretMachines() != 0 || r.Certificates != nil {
		t.Fatalf("run: %v, %d members, tree written %v, %d machines with secrets", err, len(r.Members), r.TreeWritten, r.SecretMachines())
	}
	if _, err := os.Stat(o.State); err == nil {
		t.Error("a run without etcd created the state directory")
	}
}

// TestRunRefuses: a tree and a state inside one another (ErrNested), and
// a tree made with another CA than the state's, are refused before
// anything is written; NewCA accepts the other CA.
func TestRunRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := loadFixture(t, "dcos-packet")
	nested := gen.Options{Spec: s, Out: filepath.Join(dir, "d"), State: filepath.Join(dir, "d", "state")}
	if _, err := gen.Run(nested); !errors.Is(err, gen.ErrNested) || !strings.Contains(err.Error(), "is inside the output tree") {
		t.Errorf("state inside the tree: %v, want ErrNested", err)
	}
	if _, err := os.Lstat(nested.Out); err == nil {
		t.Error("the refused run wrote the tree or the state")
	}

	out := filepath.Join(dir, "out")
	if _, err := gen.Run(gen.Options{Spec: s, Out: out, State: filepath.Join(dir, "a")}); err != nil {
		t.Fatal(err)
	}
	other := gen.Options{Spec: s, Out: out, State: filepath.Join(dir, "b")}
	r, err := gen.Run(other)
	if err == nil || errors.Is(err, gen.ErrNested) || !strings.Contains(err.Error(), "holds no etcd CA, and gen would create a new one") || r.TreeWritten {
		t.Errorf("a tree of another CA: %v, want a refusal", err)
	}
	if _, err := os.Stat(other.State); err == nil {
		t.Error("the refused run created the state")
	}
	other.NewCA = true
	if r, err = gen.Run(other); err != nil || !r.TreeWritten {
		t.Fatalf("NewCA: %v", err)
	}
	fp, err := pki.Open(other.State).CAFingerprint()
	if err != nil {
		t.Fatal(err)
	}
	if m, err := gen.ReadManifest(out); err != nil || m.EtcdCASHA256 != fp {
		t.Errorf("the tree written with NewCA records %v (%v), want the new state's CA %s", m, err, fp)
	}
}
