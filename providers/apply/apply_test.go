package apply_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/apply"
	"github.com/rampart-cluster/rampart/providers/delivery/deliverytest"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

// countingTransport is a transport whose dialer only counts: any
// connection attempt shows.
func countingTransport(t *testing.T) (*apply.Transport, *atomic.Int32) {
	t.Helper()
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key, known := filepath.Join(dir, "key"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(known, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	tr, err := apply.NewTransport(apply.TransportOptions{KeyFile: key, KnownHosts: known, Dial: func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("no network in this test")
	}})
	if err != nil {
		t.Fatal(err)
	}
	return tr, &dials
}

// TestRefusedBeforeAnyConnection: a stale tree, a spec that locks the
// operators out and an unknown --node stop the apply before any
// connection is tried.
func TestRefusedBeforeAnyConnection(t *testing.T) {
	dir := t.TempDir()
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	s := deliverytest.Spec(t, dir, labSpec)
	deliverytest.Gen(t, s, tree, state)
	tr, dials := countingTransport(t)
	run := func(s *spec.Spec, nodes ...string) error {
		_, err := apply.Run(context.Background(), apply.Options{Spec: s, Tree: tree, State: pki.Open(state), Transport: tr, Nodes: nodes})
		return err
	}

	var stale *reviewed.StaleError
	if err := run(deliverytest.Spec(t, dir, labSpec, addW3...)); !errors.As(err, &stale) {
		t.Errorf("a spec changed after gen: %v, want a *reviewed.StaleError", err)
	}
	locked := deliverytest.Spec(t, dir, labSpec, "  worker: {zone: private}", "  worker: {zone: private, admin: [80/tcp]}")
	deliverytest.Gen(t, locked, tree, state)
	if err := run(locked); !errors.Is(err, apply.ErrLockout) || !strings.Contains(err.Error(), "no admin can reach role worker") {
		t.Errorf("a spec whose admins no longer reach the workers on SSH: %v, want ErrLockout", err)
	}
	s = deliverytest.Spec(t, dir, labSpec)
	deliverytest.Gen(t, s, tree, state)
	if err := run(s, "w9"); !errors.Is(err, apply.ErrUnknownNode) {
		t.Errorf("--node w9: %v, want ErrUnknownNode", err)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d connection(s) tried by applies that were refused", n)
	}
	// the control: the same transport is used when nothing refuses
	res, err := apply.Run(context.Background(), apply.Options{Spec: s, Tree: tree, State: pki.Open(state), Transport: tr})
	if err != nil || dials.Load() != 3 || len(res.Nodes) != 3 || res.Nodes[0].Status != apply.Unreachable {
		t.Errorf("control: %v, %d dials, %v; want 3 dials, every node unreachable", err, dials.Load(), res)
	}
}

// TestNodeFiles: a node gets its machine's rootfs as the tree holds it and,
// on an etcd member, the keys the manifest lists, from the state's final
// userdata (Ignition, or cloud-config when that is the only output),
// mode 0600, byte for byte the state's key; a node without etcd gets no
// key.
func TestNodeFiles(t *testing.T) {
	for _, outputs := range []string{"[ignition]", "[cloud-config]"} {
		t.Run(outputs, func(t *testing.T) {
			dir := t.TempDir()
			tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
			s := deliverytest.Spec(t, dir, labSpec, "firewall:", "outputs: "+outputs+"\nfirewall:")
			deliverytest.Gen(t, s, tree, state)
			ms, err := reviewed.Machines(s, tree, pki.Open(state))
			if err != nil {
				t.Fatal(err)
			}
			ts, err := apply.Targets(s, tree, ms, nil)
			if err != nil {
				t.Fatal(err)
			}
			key, err := os.ReadFile(filepath.Join(state, pki.MemberKey("m1")))
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range ts {
				var keys int
				paths := map[string]bool{}
				for _, f := range tg.Files {
					paths[f.Path] = true
					if !f.Secret {
						want, err := os.ReadFile(filepath.Join(tree, tg.Machine.Kind+"s", tg.Machine.Name, "rootfs", f.Path))
						if err != nil || !bytes.Equal(want, f.Data) {
							t.Errorf("%s: %s is not the tree's (%v)", tg.Node.Name, f.Path, err)
						}
						continue
					}
					keys++
					if f.Mode != 0o600 {
						t.Errorf("%s: key %s mode %04o, want 0600", tg.Node.Name, f.Path, f.Mode)
					}
					if f.Path == "/etc/ssl/certs/etcd/server.key" && !bytes.Equal(f.Data, key) {
						t.Errorf("%s: %s is not the state's %s", tg.Node.Name, f.Path, pki.MemberKey("m1"))
					}
				}
				for _, p := range []string{"/etc/rampart/firewall/ipset.v4", "/etc/rampart/firewall/iptables.v4", "/opt/bin/rampart-firewall", "/etc/systemd/system/rampart-firewall.service"} {
					if !paths[p] {
						t.Errorf("%s: no %s", tg.Node.Name, p)
					}
				}
				switch {
				case tg.Node.Name == "m1" && (keys == 0 || !paths["/etc/ssl/certs/etcd/server.key"]):
					t.Errorf("m1: %d keys, no server.key", keys)
				case tg.Node.Name != "m1" && keys > 0:
					t.Errorf("%s (no etcd): %d keys", tg.Node.Name, keys)
				}
			}
		})
	}
}

// TestAddress: the node's ssh field when the spec gives one, else its
// first address.
func TestAddress(t *testing.T) {
	n := &spec.Node{Name: "a", Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}}
	if got := apply.Address(n); got != "10.0.0.1" {
		t.Errorf("without ssh: %s, want the first address", got)
	}
	n.SSH = "bastion.example:2222"
	if got := apply.Address(n); got != "bastion.example:2222" {
		t.Errorf("with ssh: %s, want the ssh field", got)
	}
}

// TestNoCredentials: without -i and an agent there is nothing to log in
// with; a missing known_hosts is an error, never an invitation to trust.
func TestNoCredentials(t *testing.T) {
	if _, err := apply.NewTransport(apply.TransportOptions{KnownHosts: os.DevNull}); !errors.Is(err, apply.ErrNoAuth) {
		t.Errorf("no key, no agent: %v, want ErrNoAuth", err)
	}
	tr, _ := countingTransport(t)
	tr.Close()
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	key := filepath.Join(dir, "key")
	os.WriteFile(key, pem.EncodeToMemory(block), 0o600)
	if _, err := apply.NewTransport(apply.TransportOptions{KeyFile: key, KnownHosts: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a known_hosts file that does not exist was accepted")
	}
}

// TestScriptsParse: every script apply sends is valid sh (sh -n).
func TestScriptsParse(t *testing.T) {
	for name, script := range apply.Scripts() {
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = bytes.NewReader([]byte(script))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s\n%s", name, err, out, script)
		}
	}
}
