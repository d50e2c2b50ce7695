package packet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/providers/delivery"
	"github.com/rampart-cluster/rampart/providers/delivery/deliverytest"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

// TestProviderDeliversTheTree: through the common shape of providers, a
// push of a fresh tree gives every device the userdata gen wrote for it,
// byte for byte: its role's from the tree, or, for the etcd member, its
// final userdata from the state, and the device of the member the tag of
// the manifest's etcd CA; a second plan changes nothing.
func TestProviderDeliversTheTree(t *testing.T) {
	srv, client := startFake(t)
	data, err := os.ReadFile("../../fixtures/dcos-packet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := deliverytest.Spec(t, dir, string(data))
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	deliverytest.Gen(t, s, tree, state)
	ms, err := reviewed.Machines(s, tree, pki.Open(state))
	if err != nil {
		t.Fatal(err)
	}
	var nodes []Node
	for _, n := range s.Nodes {
		nodes = append(nodes, Node{Name: n.Name, Role: n.Role})
	}
	var p delivery.Provider = &Provider{Client: client, Target: target, Nodes: nodes, Options: PlanOptions{Create: true}}
	ctx := context.Background()
	plan, err := p.Plan(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(plan.Report().Changes); got != len(nodes) {
		t.Fatalf("plan: %d changes, want a create per node: %v", got, plan.Report().Changes)
	}
	rep, err := p.Apply(ctx, plan)
	if err != nil || len(rep.Changes) != len(nodes) {
		t.Fatalf("apply: %v, %d changes made", err, len(rep.Changes))
	}
	for _, n := range s.Nodes {
		file := filepath.Join(tree, "roles", n.Role, "ignition.json")
		if n.Role == "master" {
			file = filepath.Join(state, "userdata", "nodes", n.Name, "ignition.json")
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		d := srv.Device(n.Name)
		if d == nil || d.Userdata != string(want) {
			t.Errorf("%s: its device's userdata is not %s", n.Name, file)
		}
	}
	m, _ := delivery.For(ms, "master-1", "master")
	if tags := strings.Join(srv.Device("master-1").Tags, " "); m.EtcdCA == "" || !strings.Contains(tags, TagEtcdCA+m.EtcdCA[:CAPrefix]) {
		t.Errorf("master-1 tags %q, etcd CA %q", tags, m.EtcdCA)
	}
	srv.Settle()
	again, err := p.Plan(ctx, ms)
	if err != nil || len(again.Report().Changes) != 0 {
		t.Errorf("second plan: %v, %v", err, again.Report().Changes)
	}
	if _, err := Machines([]Node{{Name: "gpu-1", Role: "gpu"}}, ms); err == nil || !strings.Contains(err.Error(), "node gpu-1: no machine of its own or of its role gpu was delivered") {
		t.Errorf("a node without a machine: %v", err)
	}
}
