package vmproof

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/internal/netlab"
	"github.com/rampart-cluster/rampart/internal/realtool"
	"github.com/rampart-cluster/rampart/internal/vmlab"
	"github.com/rampart-cluster/rampart/providers/apply"
	"github.com/rampart-cluster/rampart/providers/apply/applytest"
	"github.com/rampart-cluster/rampart/providers/delivery/deliverytest"
)

// vmSpec: one worker, booted in a VM (systemd, Debian's sshd) from its
// Ignition config; the operator at 10.76.0.100 is the only admin.
const vmSpec = `version: 1
cluster: applyvm
os: {variant: flatcar, version: 1.1.0}
admins: [10.76.0.100/32]
roles:
  worker: {zone: private}
nodes:
  - {name: w1, role: worker, addresses: [10.76.0.10]}
`

// TestApplyVM: on a real VM (systemd is PID 1, so apply arms its rollback
// with systemd-run and loads with systemctl restart rampart-firewall),
// logged in as core, whose commands run through the image's real sudo:
// an apply that keeps the operator's access (a member joins) is confirmed
// and stays after --confirm-timeout; an apply whose rules cut the
// operator's address is rolled back by the node within the timeout, and a
// new SSH connection works again, with the previous files back.
func TestApplyVM(t *testing.T) {
	img := vmlab.OpenImage(t)
	ignition := realtool.Ignition(t)
	netlab.Require(t, "iptables", "ipset")
	nl := netlab.New(t)
	br := nl.NewBridge("br")
	op := nl.NewNS("op")
	br.Attach(op, "eth0")
	op.AddAddr("eth0", netip.MustParsePrefix("10.76.0.100/24"))

	dir := t.TempDir()
	tree, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	s := deliverytest.Spec(t, dir, vmSpec)
	deliverytest.Gen(t, s, tree, state)
	vm := vmlab.Start(t, img, br, vmlab.Config{Name: "apply-w1", Ignition: filepath.Join(tree, "roles", "worker", "ignition.json"), IgnitionBinary: ignition,
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.76.0.10/24")}, SSHFrom: op})
	vm.WaitReady()
	if out := vm.MustSSH("test -d /run/systemd/system && echo systemd"); strings.TrimSpace(out) != "systemd" {
		t.Fatalf("the VM does not run systemd: %q", out)
	}
	// as Flatcar's core user: every remote command goes through the
	// image's real sudo (sudo -n, passwordless for group sudo)
	if out := vm.MustSSH("sudo -l -U " + vmlab.CoreUser + " | tail -1"); !strings.Contains(out, "NOPASSWD") {
		t.Fatalf("the image's %s user has no passwordless sudo: %q", vmlab.CoreUser, out)
	}
	tr, err := apply.NewTransport(apply.TransportOptions{User: vmlab.CoreUser, KeyFile: vm.ClientKey(), KnownHosts: vm.KnownHosts(), Dial: (&applytest.Operator{NS: op}).Dial, ConnectTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	run := func(timeout time.Duration) apply.NodeResult {
		t.Helper()
		var log strings.Builder
		res, err := apply.Run(context.Background(), apply.Options{Spec: s, Tree: tree, State: pki.Open(state), Transport: tr, ConfirmTimeout: timeout, Progress: &log})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("apply:\n%s", log.String())
		return res.Nodes[0]
	}

	// keeps access: w2 joins; confirmed, and it stays
	s = deliverytest.Spec(t, dir, vmSpec+"  - {name: w2, role: worker, addresses: [10.76.0.11]}\n")
	deliverytest.Gen(t, s, tree, state)
	timeout := 60 * time.Second
	if got := run(timeout); got.Status != apply.Applied {
		t.Fatalf("a change that keeps access: %s", got)
	}
	if out := vm.MustSSH("journalctl --no-pager -o cat _COMM=sudo | grep -c 'USER=root' || true"); strings.TrimSpace(out) == "0" {
		t.Errorf("apply as %s ran nothing through sudo (no sudo entry in the journal)", vmlab.CoreUser)
	}
	journal := vm.MustSSH("journalctl --no-pager -o cat | grep -c 'rampart-rollback-' || true")
	if strings.TrimSpace(journal) == "0" {
		t.Errorf("the rollback was not armed with systemd-run (no rampart-rollback-* unit in the journal)")
	}
	time.Sleep(timeout + 5*time.Second)
	if out := vm.MustSSH("ipset list rampart-cluster-4"); !strings.Contains(out, "10.76.0.11") {
		t.Errorf("after the confirmation timeout the joined member is gone from the set:\n%s", out)
	}
	if out, _ := vm.SSH("cat " + apply.RemoteDir + "/rollback.log"); out != "" {
		t.Errorf("a rollback ran after a confirmed apply:\n%s", out)
	}

	// cuts the operator: rolled back by the node
	s = deliverytest.Spec(t, dir, vmSpec, "admins: [10.76.0.100/32]", "admins: [10.76.0.200/32]")
	deliverytest.Gen(t, s, tree, state)
	got := run(45 * time.Second)
	if got.Status != apply.RolledBack || !strings.Contains(got.Error, "SSH works again") {
		t.Fatalf("a change that cuts the operator: %s", got)
	}
	if out := vm.MustSSH("ipset list rampart-admins-4"); !strings.Contains(out, "10.76.0.100") {
		t.Errorf("after the rollback the operator is not an admin again:\n%s", out)
	}
	t.Logf("rollback.log:\n%s", vm.MustSSH("cat "+apply.RemoteDir+"/rollback.log"))
}
