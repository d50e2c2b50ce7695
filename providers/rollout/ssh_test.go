package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/apply/applytest"
)

// TestSSHDeliverRestart: the SSH Machines against a real OpenSSH server
// (a node of apply's namespace lab): the files land with their modes, an
// unchanged delivery changes nothing, a changed one keeps the previous
// files beside the new ones, and the restart runs `systemctl restart
// etcd-member.service` on the node after the files are in place. The node
// has no systemd: a systemctl first on its PATH records its arguments and
// the CA file it sees.
func TestSSHDeliverRestart(t *testing.T) {
	t.Parallel()
	lab := applytest.New(t, netip.MustParseAddr("10.77.0.100"))
	addr := netip.MustParseAddr("10.77.0.1")
	n := lab.AddNode("e1", addr)
	recorder := "#!/bin/sh\necho \"$* $(sha256sum </etc/ssl/certs/etcd/ca.crt | cut -d' ' -f1)\" >>/var/lib/systemctl.log\n"
	p := n.Path("/usr/local/bin/systemctl")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(recorder), 0o755); err != nil {
		t.Fatal(err)
	}
	n.Start()
	m := &SSH{Transport: lab.Transport(lab.KnownHosts("e1"))}
	node := &spec.Node{Name: "e1", Role: "etcd", Addresses: []netip.Addr{addr}}
	ctx := context.Background()

	first := []boot.File{{Path: etcd.CAFile, Mode: 0o644, Contents: "ca one\n"}, {Path: etcd.KeyFile, Mode: 0o600, Contents: "key one\n"}}
	if changed, err := m.Deliver(ctx, node, first); err != nil || !changed {
		t.Fatalf("first delivery: %v, %v", changed, err)
	}
	for _, f := range first {
		got, err := os.ReadFile(n.Path(f.Path))
		info, serr := os.Stat(n.Path(f.Path))
		if err != nil || serr != nil || string(got) != f.Contents || info.Mode().Perm() != f.Mode {
			t.Errorf("%s on the node: %q %v (%v %v)", f.Path, got, info.Mode(), err, serr)
		}
	}
	if changed, err := m.Deliver(ctx, node, first); err != nil || changed {
		t.Errorf("the same files again: changed %v, %v", changed, err)
	}
	second := []boot.File{{Path: etcd.CAFile, Mode: 0o644, Contents: "ca two\n"}, {Path: etcd.KeyFile, Mode: 0o600, Contents: "key two\n"}}
	if changed, err := m.Deliver(ctx, node, second); err != nil || !changed {
		t.Fatalf("second delivery: %v, %v", changed, err)
	}
	for i, f := range second {
		got, _ := os.ReadFile(n.Path(f.Path))
		prev, err := os.ReadFile(n.Path(f.Path + PrevSuffix))
		info, serr := os.Stat(n.Path(f.Path + PrevSuffix))
		if string(got) != f.Contents || err != nil || serr != nil || string(prev) != first[i].Contents || info.Mode().Perm() != f.Mode {
			t.Errorf("%s: now %q, kept %q %v (%v %v)", f.Path, got, prev, info.Mode(), err, serr)
		}
	}
	if err := m.RestartEtcd(ctx, node); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("ca two\n"))
	log, err := os.ReadFile(n.Path("/var/lib/systemctl.log"))
	if want := "restart " + etcd.Unit + " " + hex.EncodeToString(sum[:]) + "\n"; err != nil || string(log) != want {
		t.Errorf("systemctl calls on the node: %q (%v), want %q", log, err, want)
	}
	// a path that cannot stand in the script is refused before anything runs
	if _, err := m.Deliver(ctx, node, []boot.File{{Path: "/etc/x'y", Mode: 0o644}}); err == nil || !strings.Contains(err.Error(), "not a path") {
		t.Errorf("unsafe path: %v", err)
	}
}
