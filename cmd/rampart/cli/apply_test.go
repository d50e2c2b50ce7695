package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/apply"
	"github.com/rampart-cluster/rampart/providers/apply/applytest"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

// applySpec: an etcd master and a worker; the operator (10.78.0.100) is
// the only admin.
const applySpec = `version: 1
cluster: applycli
os: {variant: flatcar, version: 1.1.0}
admins: [10.78.0.100/32]
roles:
  master: {zone: admin, etcd: true}
  worker: {zone: private}
nodes:
  - {name: m1, role: master, addresses: [10.78.0.1]}
  - {name: w1, role: worker, addresses: [10.78.0.11]}
`

const applyW2 = "  - {name: w2, role: worker, addresses: [10.78.0.12]}\n"

// TestApplyCommand: rampart apply against real sshd in namespaces (the
// command dials from the operator's namespace): --dry-run plans w2 joining
// and changes nothing; apply applies m1 and w1, reports w2 not up and
// exits 0; once w2 has booted, a second apply finds every node unchanged
// (-o json), and so does one with the key in an agent; a spec
// changed after gen is refused with exit 1 before any connection.
func TestApplyCommand(t *testing.T) {
	lab := applytest.New(t, netip.MustParseAddr("10.78.0.100"))
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	file, tree, state := filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "out"), filepath.Join(dir, "state")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(applySpec)
	if code, _, errOut := run("gen", "-f", file, "-o", tree, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errOut)
	}
	s, err := spec.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := reviewed.Machines(s, tree, pki.Open(state))
	if err != nil {
		t.Fatal(err)
	}
	targets, err := apply.Targets(s, tree, ms, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		lab.AddNode(tg.Node.Name, tg.Node.Addresses...).Boot(tg.Files, gen.ScriptPath[s.OS.Variant])
	}
	known := lab.KnownHosts("m1", "w1")
	var dials atomic.Int32
	applyDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return lab.Operator.Dial(ctx, network, addr)
	}
	t.Cleanup(func() { applyDial = nil })
	args := []string{"apply", "-f", file, "--tree", tree, "--state", state, "-l", "root", "-i", lab.KeyFile, "--known-hosts", known, "--confirm-timeout", "20s"}

	write(applySpec + applyW2)
	if code, _, errOut := run("gen", "-f", file, "-o", tree, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errOut)
	}
	code, out, errOut := run(append(args, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "m1 10.78.0.1: planned: members: +10.78.0.12") || !strings.Contains(out, "w2 10.78.0.12: not up (joining)") || !strings.Contains(out, "dry run: nothing was changed") {
		t.Errorf("--dry-run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, err := os.Stat(lab.Nodes["m1"].Path(apply.RemoteDir)); err == nil {
		t.Errorf("--dry-run made %s on m1", apply.RemoteDir)
	}

	code, out, errOut = run(args...)
	if code != 0 || !strings.Contains(out, "m1 10.78.0.1: applied") || !strings.Contains(out, "w1 10.78.0.11: applied") || !strings.Contains(out, "order: the nodes already in the cluster first") {
		t.Errorf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "[3/3]") {
		t.Errorf("apply: no progress line per node on stderr:\n%s", errOut)
	}

	// w2 boots with its own userdata (push, then a boot), and the
	// cluster has admitted it: a second apply changes nothing anywhere
	if s, err = spec.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if ms, err = reviewed.Machines(s, tree, pki.Open(state)); err != nil {
		t.Fatal(err)
	}
	if targets, err = apply.Targets(s, tree, ms, []string{"w2"}); err != nil {
		t.Fatal(err)
	}
	lab.AddNode("w2", targets[0].Node.Addresses...).Boot(targets[0].Files, gen.ScriptPath[s.OS.Variant])
	args[len(args)-3] = lab.KnownHosts("m1", "w1", "w2")
	code, out, errOut = run(append(args, "-o", "json")...)
	var res apply.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("apply -o json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	for _, n := range res.Nodes {
		if n.Status != apply.Unchanged {
			t.Errorf("second apply: %s %s, want unchanged", n.Node, n.Status)
		}
	}
	if len(res.Nodes) != 3 {
		t.Errorf("second apply: %d nodes, want 3", len(res.Nodes))
	}

	// the key from an agent (SSH_AUTH_SOCK), no -i
	agent := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", agent)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agentCmd.Process.Kill(); agentCmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(agent); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("ssh-agent made no socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	add := exec.Command("ssh-add", lab.KeyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+agent)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	t.Setenv("SSH_AUTH_SOCK", agent)
	noKey := slices.Clone(args)
	i := slices.Index(noKey, "-i")
	noKey = slices.Delete(noKey, i, i+2)
	if code, out, errOut := run(noKey...); code != 0 || strings.Count(out, ": unchanged") != 3 {
		t.Errorf("apply with the agent's key: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("SSH_AUTH_SOCK", "")

	write(applySpec + applyW2 + "  - {name: w3, role: worker, addresses: [10.78.0.13]}\n")
	before := dials.Load()
	code, _, errOut = run(args...)
	if code != ExitInvalid || !strings.Contains(errOut, "stale") {
		t.Errorf("a spec changed after gen: exit %d, want 1 and the stale files:\n%s", code, errOut)
	}
	if dials.Load() != before {
		t.Errorf("a stale tree was refused after %d connection(s)", dials.Load()-before)
	}
}

// TestApplyUsage: mistakes in how apply is called exit 2 before anything
// is read or dialed.
func TestApplyUsage(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"apply", "-f", fixture, "-o", "yaml"},
		{"apply", "-f", fixture, "--concurrency", "0"},
		{"apply", "-f", fixture, "--confirm-timeout", "100ms"},
		{"apply", "-f", fixture, "--port", "70000"},
		{"apply", "-f", fixture, "--known-hosts", known}, // no -i, no agent
	} {
		code, _, errOut := run(args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, ExitUsage, errOut)
		}
		if strings.Join(args, " ") == "apply -f "+fixture+" --known-hosts "+known && !strings.Contains(errOut, apply.ErrNoAuth.Error()) {
			t.Errorf("%v: %q does not say that there are no credentials", args, errOut)
		}
	}
}
