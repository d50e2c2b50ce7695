package reviewed

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/delivery"
	"github.com/rampart-cluster/rampart/providers/delivery/deliverytest"
)

// packetSpec is fixtures/dcos-packet.yaml (Ignition and cloud-config, one
// etcd member) with the bootstrap role an etcd client (its userdata
// carries the client key), edited by edits.
func packetSpec(t *testing.T, dir string, edits ...string) *spec.Spec {
	t.Helper()
	data, err := os.ReadFile("../../../fixtures/dcos-packet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edits = append([]string{"  bootstrap:\n    zone: private\n", "  bootstrap:\n    zone: private\n    etcd_client: true\n"}, edits...)
	return deliverytest.Spec(t, dir, string(data), edits...)
}

// TestMachinesAreTheFiles: a fresh tree delivers, byte for byte, the tree's
// userdata for the machines without keys and the state's final userdata
// for those with them, in every format, with the manifest's etcd CA.
func TestMachinesAreTheFiles(t *testing.T) {
	dir := t.TempDir()
	s := packetSpec(t, dir)
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	deliverytest.Gen(t, s, tree, state)
	ms, err := Machines(s, tree, pki.Open(state))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := gen.ReadManifest(tree)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Kind+" "+m.Name+" ("+m.Role+")")
		keys := m.Kind == delivery.KindNode || m.Name == "bootstrap"
		for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
			p := filepath.Join(tree, m.Kind+"s", m.Name, gen.UserdataName[format])
			if keys {
				p = filepath.Join(state, filepath.FromSlash(gen.UserdataPath(m.Kind, m.Name, format)))
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Userdata[format], want) {
				t.Errorf("%s %s: %s is not %s", m.Kind, m.Name, format, p)
			}
		}
		if keys && (m.EtcdCA == "" || m.EtcdCA != manifest.EtcdCASHA256) || !keys && m.EtcdCA != "" {
			t.Errorf("%s %s: etcd CA %q (manifest %q)", m.Kind, m.Name, m.EtcdCA, manifest.EtcdCASHA256)
		}
		if format, data := m.Boot(); format != delivery.FormatIgnition || !bytes.Equal(data, m.Userdata[spec.OutputIgnition]) {
			t.Errorf("%s %s boots with %s", m.Kind, m.Name, format)
		}
	}
	if got, want := strings.Join(names, ", "), "role agent (agent), role public-agent (public-agent), role bootstrap (bootstrap), node master-1 (master)"; got != want {
		t.Errorf("machines %s\nwant     %s", got, want)
	}
	// the delivery constants are the spec's names
	if delivery.FormatIgnition != spec.OutputIgnition || delivery.FormatCloudConfig != spec.OutputCloudConfig {
		t.Error("delivery's formats are not the spec's outputs")
	}
	if m, ok := delivery.For(ms, "agent-2", "agent"); !ok || m.Name != "agent" {
		t.Errorf("agent-2 boots as %+v", m)
	}
	if m, ok := delivery.For(ms, "master-1", "master"); !ok || m.Kind != delivery.KindNode {
		t.Errorf("master-1 boots as %+v", m)
	}
}

// TestStaleIsRefused: whatever makes the tree or the final userdata differ
// from what the spec and the state make is refused, naming every file, and
// with the command that brings them up to date; a spec whose meaning did
// not change (a comment) is not stale.
func TestStaleIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := packetSpec(t, dir)
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	st := pki.Open(state)
	deliverytest.Gen(t, s, tree, state)

	// a comment: nothing lands differently on a node
	commented := packetSpec(t, dir, "version: 1\n", "# reviewed on Monday\nversion: 1\n")
	if _, err := Machines(commented, tree, st); err != nil {
		t.Errorf("a comment made the tree stale: %v", err)
	}

	// a new admin: every machine's firewall changes, the members' final
	// userdata too
	changed := packetSpec(t, dir, "  - 209.220.51.50/32", "  - 209.220.51.51/32")
	_, err := Machines(changed, tree, st)
	var se *StaleError
	if !errors.As(err, &se) {
		t.Fatalf("a changed spec: %v", err)
	}
	for _, want := range []string{
		filepath.Join(tree, "roles", "agent", "ignition.json"),
		filepath.Join(state, "userdata", "nodes", "master-1", "ignition.json"),
		filepath.Join(state, "userdata", "roles", "bootstrap", "cloud-config.yaml"),
	} {
		if !hasEntry(se.Stale, gen.MsgDiffers.At(nil, report.Pos{File: want})) {
			t.Errorf("the refusal does not say %s differs: %v", want, se.Stale)
		}
	}
	msg := err.Error()
	for _, want := range []string{
		tree + " is stale: ",
		"run rampart gen -f " + changed.File + " -o " + tree + " --state " + state + ", review what changed",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, msg)
		}
	}

	// final userdata edited by hand, or with another mode
	final := filepath.Join(state, filepath.FromSlash(gen.UserdataPath("node", "master-1", spec.OutputIgnition)))
	if err := os.Chmod(final, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Machines(s, tree, st); !errors.As(err, &se) || len(se.Stale.Entries) != 1 ||
		!hasEntry(se.Stale, report.Entry{Severity: report.Error, Code: "tree.mode", Pos: report.Pos{File: final}, Message: "mode 0644, want 0600"}) {
		t.Errorf("final userdata of mode 0644: %v", err)
	}
	if err := os.Chmod(final, 0o600); err != nil {
		t.Fatal(err)
	}

	// a key in the tree
	leak := filepath.Join(tree, "roles", "agent", "rootfs", "etc", "leak.key")
	if err := os.WriteFile(leak, []byte("-----BEGIN EC PRIVATE KEY-----\nxx\n-----END EC PRIVATE KEY-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Machines(s, tree, st); !errors.As(err, &se) || !strings.Contains(err.Error(), tree+" contains secrets: 1 file(s) hold a private key") || !strings.Contains(err.Error(), "delete them, then run rampart gen") {
		t.Errorf("a key in the tree: %v", err)
	}
	if err := os.Remove(leak); err != nil {
		t.Fatal(err)
	}

	// no tree at all
	var nt *NoTreeError
	if _, err := Machines(s, filepath.Join(dir, "nowhere"), st); !errors.As(err, &nt) || !strings.Contains(err.Error(), "run rampart gen -f "+s.File+" -o "+filepath.Join(dir, "nowhere")) {
		t.Errorf("no tree: %v", err)
	}
	// another state directory (another CA): the tree's certificates are
	// not the state's
	other := pki.Open(filepath.Join(dir, "other"))
	if _, err := other.Ensure(s.Cluster, etcd.Members(s)); err != nil {
		t.Fatal(err)
	}
	if _, err := Machines(s, tree, other); !errors.As(err, &se) || !hasEntry(se.Stale, gen.MsgDiffers.At(nil, report.Pos{File: filepath.Join(tree, "manifest.json")})) {
		t.Errorf("another state: %v", err)
	}
	// and a state without a CA fails as gen --check does
	if _, err := Machines(s, tree, pki.Open(filepath.Join(dir, "empty"))); !errors.Is(err, pki.ErrNoCA) {
		t.Errorf("an empty state: %v", err)
	}
	// at last, the fresh tree delivers
	if _, err := Machines(s, tree, st); err != nil {
		t.Errorf("the fresh tree: %v", err)
	}
}

// TestCloudConfigOnly: a spec that outputs cloud-config only delivers it.
func TestCloudConfigOnly(t *testing.T) {
	dir := t.TempDir()
	s := packetSpec(t, dir, "outputs: [ignition, cloud-config]", "outputs: [cloud-config]")
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	deliverytest.Gen(t, s, tree, state)
	ms, err := Machines(s, tree, pki.Open(state))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if format, data := m.Boot(); format != delivery.FormatCloudConfig || !bytes.HasPrefix(data, []byte("#cloud-config\n")) || len(m.Userdata) != 1 {
			t.Errorf("%s %s: boots with %s, %d formats", m.Kind, m.Name, format, len(m.Userdata))
		}
	}
}

// hasEntry reports whether the report holds the entry, compared by value.
func hasEntry(r report.Report, e report.Entry) bool {
	return slices.ContainsFunc(r.Entries, func(x report.Entry) bool { return reflect.DeepEqual(x, e) })
}
