package gen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestFinalUserdata: FinalUserdata returns the bytes gen.Run wrote for
// every member in every format (fcos: Ignition; its cloud-config is refused); a role's userdata is its file of the tree;
// a role that runs etcd has none, an empty state and an unknown format are
// refused.
func TestFinalUserdata(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := spec.LoadFile(filepath.Join(fixtures, "coreos-web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if _, err := gen.Run(gen.Options{Spec: s, Out: filepath.Join(dir, "out"), State: state}); err != nil {
		t.Fatal(err)
	}
	for _, m := range etcd.Members(s) {
		if _, err := gen.FinalUserdata(s, pki.Open(state), "node", m.Name, spec.OutputCloudConfig); err == nil || !strings.Contains(err.Error(), "Fedora CoreOS reads no cloud-config") {
			t.Errorf("FinalUserdata(node %s, cloud-config) of an fcos spec: %v, want a refusal", m.Name, err)
		}
		for _, format := range []string{spec.OutputIgnition} {
			want, err := os.ReadFile(filepath.Join(state, gen.UserdataPath("node", m.Name, format)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := gen.FinalUserdata(s, pki.Open(state), "node", m.Name, format)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("FinalUserdata(node %s, %s) differs from what gen wrote (%v)", m.Name, format, err)
			}
		}
	}
	role, err := gen.FinalUserdata(s, nil, "role", "web", spec.OutputIgnition)
	if err == nil {
		t.Errorf("coreos-web's role web runs etcd and has no role-wide userdata, yet FinalUserdata returned %d bytes", len(role))
	}
	iso, err := spec.LoadFile(filepath.Join(fixtures, "isolation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := gen.FinalUserdata(iso, nil, "role", "agent", spec.OutputIgnition)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join(fixtures, "golden", "isolation", "roles", "agent", "ignition.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(agent, golden) {
		t.Error("FinalUserdata(role agent) differs from the tree's roles/agent/ignition.json")
	}
	if _, err := gen.FinalUserdata(s, pki.Open(filepath.Join(dir, "empty")), "node", "web-1", spec.OutputIgnition); err == nil || !strings.Contains(err.Error(), "no etcd CA") {
		t.Errorf("FinalUserdata with an empty state: %v, want a missing-CA error", err)
	}
	if _, err := gen.FinalUserdata(s, pki.Open(state), "node", "web-1", "yaml"); err == nil {
		t.Error("FinalUserdata accepted format yaml")
	}
}
