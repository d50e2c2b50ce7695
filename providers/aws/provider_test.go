package aws

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/providers/delivery"
	"github.com/rampart-cluster/rampart/providers/delivery/deliverytest"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

// TestProviderDeliversTheTree: through the common shape of providers, a
// push of a fresh tree gives every launch template (behind its pointer,
// where it has one) the userdata gen wrote, byte for byte: the tree's for
// the roles, the state's final userdata for the etcd members; a second
// plan changes nothing.
func TestProviderDeliversTheTree(t *testing.T) {
	e := newEnv(t)
	s := e.spec()
	dir := t.TempDir()
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	deliverytest.Gen(t, s, tree, state)
	ms, err := reviewed.Machines(s, tree, pki.Open(state))
	if err != nil {
		t.Fatal(err)
	}
	var p delivery.Provider = &Provider{Client: e.client, Policy: policy.Compile(s), Settings: settingsOf(s), Pointer: pointerFor(s)}
	plan, err := p.Plan(e.ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Apply(e.ctx, plan)
	if err != nil || len(rep.Changes) != len(plan.Report().Changes) || len(rep.Changes) == 0 {
		t.Fatalf("apply: %v; %d of %d changes made", err, len(rep.Changes), len(plan.Report().Changes))
	}
	files := map[string]string{
		"dcos-aws-agent":        filepath.Join(tree, "roles", "agent", "ignition.json"),
		"dcos-aws-public-agent": filepath.Join(tree, "roles", "public-agent", "ignition.json"),
	}
	for _, m := range []string{"master-a", "master-b", "master-c"} {
		files["dcos-aws-"+m] = filepath.Join(state, "userdata", "nodes", m, "ignition.json")
	}
	for name, file := range files {
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, boots, _ := e.defaultUserdata(name); !bytes.Equal(boots, want) {
			t.Errorf("%s boots with %d bytes that are not %s (%d bytes)", name, len(boots), file, len(want))
		}
	}
	e.calls.Reset()
	again, err := p.Plan(e.ctx, ms)
	if err != nil || len(again.Report().Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("second plan: %v, changes %v, mutating calls %v", err, again.Report().Changes, e.calls.Mutating())
	}
}
