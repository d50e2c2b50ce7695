package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/packet"
	"github.com/rampart-cluster/rampart/providers/packet/packetfake"
)

const packetProject = "1f0c2a4e-3b5d-4c6e-8f70-123456789abc" // fixtures/dcos-packet.yaml

// runCommand runs one command built by its constructor the way Run runs
// the tree: it returns the exit code, stdout and stderr.
func runCommand(c *cobra.Command, args ...string) (int, string, string) {
	var o, e bytes.Buffer
	c.SetArgs(args)
	c.SetOut(&o)
	c.SetErr(&e)
	c.SilenceUsage, c.SilenceErrors = true, true
	c.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &exitError{code: ExitUsage, err: err} })
	err := c.Execute()
	if err == nil {
		return ExitOK, o.String(), e.String()
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(&e, ee.err)
		return ee.code, o.String(), e.String()
	}
	fmt.Fprintln(&e, err)
	return ExitUsage, o.String(), e.String()
}

// packetFake starts the OpenAPI-checked Metal API fake, points the
// environment at it and fails the test on any spec violation.
func packetFake(t *testing.T) *packetfake.Server {
	t.Helper()
	s := packetfake.Start(t, "cli-token", packetProject)
	t.Setenv("PACKET_AUTH_TOKEN", "")
	t.Setenv("METAL_AUTH_TOKEN", "cli-token")
	t.Setenv("PACKET_API_URL", s.URL)
	return s
}

// genState runs `rampart gen` for the fixture into a temporary directory
// and returns the state directory; the tree is beside it (treeOf).
func genState(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if code, _, errOut := run("gen", "-f", fixture, "-o", filepath.Join(dir, "out"), "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errOut)
	}
	return state
}

// treeOf is the output tree genState and twoMemberSpec write beside the
// state directory.
func treeOf(state string) string { return filepath.Join(filepath.Dir(state), "out") }

func mutatingCalls(s *packetfake.Server) int {
	return s.Count(func(c packetfake.Call) bool { return c.Mutating() })
}

// pushAgain pushes the fixture once more with --create and checks that it
// succeeds with the summary want in exactly mutating mutating calls.
func pushAgain(t *testing.T, s *packetfake.Server, state, want string, mutating int) {
	t.Helper()
	s.ResetCalls()
	code, out, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state, "--create")
	if code != 0 || !strings.Contains(out, want) || mutatingCalls(s) != mutating {
		t.Errorf("push again: exit %d, %d mutating calls (want %d)\n%s\n%s", code, mutatingCalls(s), mutating, out, errOut)
	}
}

// The seed scenario end to end: gen, push --create, push again (no change),
// a dry run, and the userdata on each device is what gen made for it.
func TestPushPacketSeedScenario(t *testing.T) {
	s := packetFake(t)
	state := genState(t)
	code, out, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state, "--dry-run", "--create")
	if code != 0 || !strings.Contains(out, "plan: 6 to create, 0 to update, 0 unchanged, 0 missing") || !strings.Contains(out, "dry run: nothing was changed") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := mutatingCalls(s); n != 0 {
		t.Errorf("--dry-run made %d mutating calls", n)
	}
	code, out, errOut = run("push", "packet", "-f", fixture, "--tree", treeOf(state), "--state", state, "--create")
	if code != 0 || !strings.Contains(out, "push done: 6 created, 0 updated, 0 unchanged") {
		t.Fatalf("push --create: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := strings.Count(out, "] created "); n != 6 {
		t.Errorf("%d progress lines, want one per device:\n%s", n, out)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("progress to a non-terminal has a bar:\n%q", out)
	}
	sp, err := spec.LoadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	// every device boots with the bytes gen wrote: its role's from the
	// tree, the etcd member's final userdata from the state
	for _, n := range sp.Nodes {
		d := s.Device(n.Name)
		if d == nil {
			t.Fatalf("%s was not created", n.Name)
		}
		file := filepath.Join(treeOf(state), "roles", n.Role, "ignition.json")
		if etcd.IsMember(sp, n) {
			file = filepath.Join(state, filepath.FromSlash(gen.UserdataPath("node", n.Name, spec.OutputIgnition)))
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if d.Userdata != string(want) {
			t.Errorf("%s: userdata is not %s", n.Name, file)
		}
	}
	s.Settle()
	pushAgain(t, s, state, "push done: 0 created, 0 updated, 6 unchanged", 0)
}

func TestPushPacketPartialFailureExits1(t *testing.T) {
	s := packetFake(t)
	state := genState(t)
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Status: http.StatusInternalServerError, Times: -1,
		Match: func(r *packetfake.Request) bool { return r.Hostname() == "agent-3" }})
	code, out, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state, "--create", "--concurrency", "3")
	if code != 1 || !strings.Contains(errOut, "push incomplete: 5 of 6 changes made") ||
		!strings.Contains(errOut, "done: master-1, agent-1, agent-2, public-agent-1, bootstrap") ||
		!strings.Contains(errOut, "not done:\n  agent-3: create agent-3: ") || !strings.Contains(out, "FAILED create agent-3") {
		t.Fatalf("push over a failing create: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "retry create agent-3: 500 Internal Server Error") {
		t.Errorf("retries are not shown:\n%s", out)
	}
	s.ClearFaults()
	pushAgain(t, s, state, "push done: 1 created, 0 updated, 5 unchanged", 1)
}

func TestPushPacketUpdatesOneNode(t *testing.T) {
	s := packetFake(t)
	state := genState(t)
	s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "agent-1", Userdata: "#cloud-config\n", Tags: []string{"rampart:cluster=dcos-packet", "rampart:role=agent"}})
	s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "agent-2", Userdata: "stale", Tags: []string{"rampart:cluster=dcos-packet"}})
	s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "agent-7", Tags: []string{"rampart:cluster=dcos-packet"}})
	code, out, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state, "--node", "agent-1")
	if strings.Count(out, "warning:") != 1 || !strings.Contains(out, "warning: agent-7 (") {
		t.Errorf("push --node agent-1 warns of other devices than agent-7 (agent-2 is a node of the spec):\n%s", out)
	}
	if code != 0 || !strings.Contains(out, "plan: 0 to create, 1 to update, 0 unchanged, 0 missing") ||
		!strings.Contains(out, "push done: 0 created, 1 updated, 0 unchanged") || s.Device("agent-2").Userdata != "stale" {
		t.Errorf("push --node agent-1: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state)
	if code != 0 || !strings.Contains(out, "4 missing (no device; --create makes them)") {
		t.Errorf("push without --create: exit %d\n%s", code, out)
	}
}

// The spec changed after gen: the tree is stale, and push refuses it before
// any call to the Metal API, naming the stale files and saying to run gen;
// after gen, the push delivers the new tree's bytes.
func TestPushPacketStaleTree(t *testing.T) {
	s := packetFake(t)
	state := genState(t)
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "209.220.51.50/32", "209.220.51.51/32", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := treeOf(state)
	code, out, errOut := runCommand(newPushPacket(), "-f", file, "--tree", tree, "--state", state, "--create")
	for _, want := range []string{
		"push packet: " + tree + " is stale: ",
		filepath.Join(tree, "roles", "agent", "ignition.json") + ": error: differs",
		filepath.Join(state, "userdata", "nodes", "master-1", "ignition.json") + ": error: differs",
		"nothing was delivered; run rampart gen -f " + file + " -o " + tree + " --state " + state + ", review what changed",
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("push of a stale tree: exit %d, stderr lacks %q\n%s\n%s", code, want, out, errOut)
		}
	}
	if n := s.Count(func(packetfake.Call) bool { return true }); n != 0 || strings.Contains(out, "plan:") {
		t.Errorf("the push of a stale tree made %d calls\n%s", n, out)
	}
	old, err := os.ReadFile(filepath.Join(tree, "roles", "agent", "ignition.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("gen", "-f", file, "-o", tree, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCommand(newPushPacket(), "-f", file, "--tree", tree, "--state", state, "--create", "--node", "agent-1"); code != 0 || !strings.Contains(out, "push done: 1 created") {
		t.Fatalf("push after gen: exit %d\n%s\n%s", code, out, errOut)
	}
	want, err := os.ReadFile(filepath.Join(tree, "roles", "agent", "ignition.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Device("agent-1"); d == nil || d.Userdata != string(want) || bytes.Equal(want, old) {
		t.Errorf("agent-1 does not boot with the new tree's userdata")
	}
}

func TestPushPacketUsage(t *testing.T) {
	packetFake(t)
	state := genState(t)
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"-f", fixture, "--tree", treeOf(state), "--state", state, "--node", "nope"}, 2, "--node nope: the spec has no such node"},
		{[]string{"-f", "../../../fixtures/dcos-aws.yaml"}, 1, "the spec has no provider.packet section (provider: aws)"},
		{[]string{}, 2, "-f is required"},
		{[]string{"-f", fixture, "--concurrency", "0"}, 2, "--concurrency must be at least 1"},
		{[]string{"-f", fixture, "--tree", treeOf(state), "--state", t.TempDir()}, 1, "the state directory holds no etcd CA"},
		{[]string{"-f", fixture, "--tree", t.TempDir(), "--state", state}, 1, "is no output tree (it holds no rampart manifest.json)"},
		{[]string{"-f", fixture, "--tree", treeOf(state), "--state", "nostate"}, 1, "if this cluster was generated before, point --state at its state directory (now nostate; it is relative to the current directory); rampart gen creates a new CA only for a new cluster"},
	} {
		code, out, errOut := runCommand(newPushPacket(), c.args...)
		if code != c.code || !strings.Contains(errOut, c.stderr) {
			t.Errorf("push packet %v: exit %d (want %d)\n%s\nstderr %q (want %q)", c.args, code, c.code, out, errOut, c.stderr)
		}
	}
	t.Setenv("METAL_AUTH_TOKEN", "")
	code, _, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state)
	if code != 2 || !strings.Contains(errOut, "no Packet API token: set PACKET_AUTH_TOKEN or METAL_AUTH_TOKEN") {
		t.Errorf("push without a token: exit %d, %q", code, errOut)
	}
}

func TestReinstallPacketNode(t *testing.T) {
	s := packetFake(t)
	file, state := twoMemberSpec(t)
	for _, h := range []string{"master-1", "master-2"} {
		s.AddDevice(packetfake.Device{Project: packetProject, Hostname: h, Userdata: "old", OS: "flatcar_stable", Tags: []string{"rampart:cluster=dcos-packet"}})
	}
	sp, err := spec.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := reinstallPacketNode(context.Background(), &out, sp, treeOf(state), state, "master-1", true, packet.ReinstallOptions{}); err != nil {
		t.Fatal(err)
	}
	want, err := gen.ReplacementUserdata(sp, pki.Open(state), "master-1", spec.OutputIgnition)
	if err != nil {
		t.Fatal(err)
	}
	d := s.Device("master-1")
	if d.Userdata != string(want) || d.Reinstalls != 1 || d.State != "reinstalling" {
		t.Errorf("master-1 after reinstall: reinstalls %d, state %s, replacement userdata %v", d.Reinstalls, d.State, d.Userdata == string(want))
	}
	for _, w := range []string{"master-1 (" + d.ID + "): userdata updated", "master-1 (" + d.ID + "): tags updated", "reinstalling with flatcar_stable"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	// A member of two reinstalled as a new cluster would never rejoin.
	s.ResetCalls()
	err = reinstallPacketNode(context.Background(), &out, sp, treeOf(state), state, "master-2", false, packet.ReinstallOptions{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "master-2 is one of 2 etcd members") || mutatingCalls(s) != 0 {
		t.Errorf("reinstall of master-2 as a new cluster: %v, %d mutating calls", err, mutatingCalls(s))
	}
	err = reinstallPacketNode(context.Background(), &out, sp, treeOf(state), state, "agent-1", false, packet.ReinstallOptions{})
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "agent-1: no device with this hostname") {
		t.Errorf("reinstall of a node without a device: %v", err)
	}
}

func TestInventoryPacket(t *testing.T) {
	s := packetFake(t)
	s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "master-1", Tags: []string{"rampart:role=master"}})
	s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "agent-1"})
	code, out, errOut := runCommand(newInventoryPacket(), "--project", packetProject, "--role", "agent-*=agent")
	want := "nodes:\n  - name: agent-1\n    role: agent\n    addresses: [147.75.0.2, 10.88.0.2, \"2604:1380:0:1::2\"]\n" +
		"  - name: master-1\n    role: master\n    addresses: [147.75.0.1, 10.88.0.1, \"2604:1380:0:1::1\"]\n"
	if code != 0 || out != want {
		t.Errorf("inventory: exit %d\n%s\nwant\n%s\n%s", code, out, want, errOut)
	}
	// the same through the command tree
	if code, treeOut, errOut := run("inventory", "packet", "--project", packetProject, "--role", "agent-*=agent"); code != 0 || treeOut != want {
		t.Errorf("rampart inventory packet: exit %d\n%s\n%s", code, treeOut, errOut)
	}
	code, out, errOut = runCommand(newInventoryPacket(), "--project", packetProject)
	if code != 1 || out != "" || !strings.Contains(errOut, "agent-1 (") || !strings.Contains(errOut, "no role") {
		t.Errorf("inventory without a role for agent-1: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{nil, "--project is required"},
		{[]string{"--project", "x"}, `--project "x" is not a project UUID`},
		{[]string{"--project", packetProject, "--role", "agent"}, `"agent" is not PATTERN=ROLE`},
	} {
		code, _, errOut := runCommand(newInventoryPacket(), c.args...)
		if code != 2 || !strings.Contains(errOut, c.stderr) {
			t.Errorf("inventory packet %v: exit %d, %q (want %q)", c.args, code, errOut, c.stderr)
		}
	}
}

// recover --reinstall, through the command tree: the agent's device gets
// its role's userdata and is reinstalled, an etcd member its final userdata
// with its keys (--replace is TestRecoverReinstallTwoMembers's); the disk
// wipe needs --yes, or the node's name typed on a terminal; a device without
// rampart's cluster tag needs --adopt; a spec without a packet provider is a
// usage error.
func TestRecoverReinstall(t *testing.T) {
	s := packetFake(t)
	state := genState(t)
	agent := s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "agent-2", Userdata: "old", OS: "flatcar_stable"}) // untagged
	s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "master-1", Userdata: "old", OS: "flatcar_stable", Tags: []string{"rampart:cluster=dcos-packet"}})
	sp, err := spec.LoadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}

	// No --yes and no terminal to ask on: refused before anything is written.
	o := filepath.Join(t.TempDir(), "agent-2")
	code, out, errOut := runIn("agent-2\n", "recover", "agent-2", "-f", fixture, "--state", state, "--tree", treeOf(state), "-o", o, "--reinstall")
	if code != 2 || !strings.Contains(errOut, "--reinstall wipes the disks of agent-2's device: confirm with --yes") {
		t.Errorf("recover --reinstall without --yes, stdin no terminal: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(o); err == nil || mutatingCalls(s) != 0 {
		t.Errorf("a refused reinstall wrote %s or made %d mutating calls", o, mutatingCalls(s))
	}

	// An untagged device may be someone else's: only with --adopt.
	code, out, errOut = runIn("", "recover", "agent-2", "-f", fixture, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--reinstall", "--yes")
	if code != 1 || !strings.Contains(errOut, "agent-2: device "+agent.ID+": it has the node's hostname but no rampart:cluster tag") || mutatingCalls(s) != 0 {
		t.Errorf("recover --reinstall of an untagged device: exit %d, %d mutating calls\n%s\n%s", code, mutatingCalls(s), out, errOut)
	}
	code, out, errOut = runIn("", "recover", "agent-2", "-f", fixture, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--reinstall", "--yes", "--adopt")
	want, err := gen.FinalUserdata(sp, nil, "role", "agent", spec.OutputIgnition)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Device("agent-2"); code != 0 || d.Userdata != string(want) || d.Reinstalls != 1 {
		t.Fatalf("recover agent-2 --reinstall --yes --adopt: exit %d, reinstalls %d, role userdata %v\n%s\n%s", code, d.Reinstalls, d.Userdata == string(want), out, errOut)
	}
	if !strings.Contains(out, "# agent-2 (") || !strings.Contains(out, "reinstalling with flatcar_stable") {
		t.Errorf("recover --reinstall does not say what it did:\n%s", out)
	}

	// A stale tree is not what was reviewed: refused before any call.
	stale := filepath.Join(treeOf(state), "roles", "agent", "ignition.json")
	good, err := os.ReadFile(stale)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Settle()
	s.ResetCalls()
	code, out, errOut = runIn("", "recover", "agent-2", "-f", fixture, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--reinstall", "--yes", "--adopt")
	if code != 1 || !strings.Contains(errOut, stale+": error: differs") || s.Count(func(packetfake.Call) bool { return true }) != 0 {
		t.Errorf("recover --reinstall from a stale tree: exit %d, %d calls\n%s\n%s", code, s.Count(func(packetfake.Call) bool { return true }), out, errOut)
	}
	if err := os.WriteFile(stale, good, 0o644); err != nil {
		t.Fatal(err)
	}

	// On a terminal, the node's name typed at the prompt confirms; anything
	// else does not. (Once the first reinstall is done.)
	s.Settle()
	stdinIsTerminal = func(io.Reader) bool { return true }
	t.Cleanup(func() { stdinIsTerminal = func(r io.Reader) bool { return isTerminal(r) } })
	code, out, errOut = runIn("agent\n", "recover", "agent-2", "-f", fixture, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--reinstall")
	if d := s.Device("agent-2"); code != 1 || d.Reinstalls != 1 || !strings.Contains(errOut, "Type the node's name (agent-2) to go on") ||
		!strings.Contains(errOut, "not confirmed; agent-2 was not reinstalled") {
		t.Errorf("recover --reinstall answered with another name: exit %d, reinstalls %d\n%s\n%s", code, d.Reinstalls, out, errOut)
	}
	code, out, errOut = runIn("agent-2\n", "recover", "agent-2", "-f", fixture, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--reinstall")
	if d := s.Device("agent-2"); code != 0 || d.Reinstalls != 2 || !strings.Contains(errOut, "its disks are wiped") {
		t.Errorf("recover --reinstall confirmed on the terminal: exit %d, reinstalls %d\n%s\n%s", code, d.Reinstalls, out, errOut)
	}

	// The only etcd member bootstraps the cluster again: allowed, its
	// final userdata.
	code, out, errOut = runIn("", "recover", "master-1", "-f", fixture, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--reinstall", "--yes")
	want, err = gen.FinalUserdata(sp, pki.Open(state), "node", "master-1", spec.OutputIgnition)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Device("master-1"); code != 0 || d.Userdata != string(want) || d.Reinstalls != 1 {
		t.Fatalf("recover master-1 --reinstall: exit %d, reinstalls %d, final userdata %v\n%s\n%s", code, d.Reinstalls, d.Userdata == string(want), out, errOut)
	}

	if code, _, errOut := runIn("", "recover", "agent-2", "-f", fixture, "--state", state, "--membership-done"); code != 2 || !strings.Contains(errOut, "--membership-done goes with --replace --reinstall") {
		t.Errorf("--membership-done alone: exit %d, %s", code, errOut)
	}
	web := filepath.Join("..", "..", "..", "fixtures", "coreos-web.yaml")
	if code, _, errOut := run("recover", "web-1", "-f", web, "--state", t.TempDir(), "--reinstall", "--yes"); code != 2 || !strings.Contains(errOut, "names no packet provider") {
		t.Errorf("--reinstall without a packet provider: exit %d, %s", code, errOut)
	}
}

// twoMemberSpec writes the fixture with a second etcd member, master-2,
// runs gen for it and returns the spec's path and the state directory.
func twoMemberSpec(t *testing.T) (file, state string) {
	t.Helper()
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	node1 := "  - name: agent-1\n"
	text := strings.Replace(string(data), node1, "  - name: master-2\n    role: master\n    addresses: [147.75.1.16, 10.88.1.8, \"2604:1380:1::16\"]\n"+node1, 1)
	dir := t.TempDir()
	file = filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	state = filepath.Join(dir, "state")
	if code, _, errOut := run("gen", "-f", file, "-o", filepath.Join(dir, "out"), "--state", state); code != 0 {
		t.Fatalf("gen: exit %d: %s", code, errOut)
	}
	return file, state
}

// In a cluster of two etcd members, a member is reinstalled only as a
// replacement, and only once its membership has been replaced: a reinstall
// without --replace would wipe it and boot it as a new cluster that never
// rejoins the other member.
func TestRecoverReinstallTwoMembers(t *testing.T) {
	s := packetFake(t)
	file, state := twoMemberSpec(t)
	for _, h := range []string{"master-1", "master-2"} {
		s.AddDevice(packetfake.Device{Project: packetProject, Hostname: h, Userdata: "old", OS: "flatcar_stable", Tags: []string{"rampart:cluster=dcos-packet"}})
	}
	for _, c := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--reinstall", "--yes"}, "master-1 is one of 2 etcd members: reinstalled without --replace it would boot on an empty data directory as a new cluster (ETCD_INITIAL_CLUSTER_STATE=new)"},
		{[]string{"--replace", "--reinstall", "--yes"}, "1. rampart recover master-1 -f " + file + " --replace"},
		{[]string{"--membership-done", "--replace"}, "--membership-done goes with --replace --reinstall"},
	} {
		args := append([]string{"recover", "master-1", "-f", file, "--state", state, "--tree", treeOf(state), "-o", t.TempDir()}, c.args...)
		if code, out, errOut := runIn("", args...); code != 2 || !strings.Contains(errOut, c.stderr) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s\n%s", c.args, code, c.stderr, out, errOut)
		}
	}
	if n := mutatingCalls(s); n != 0 {
		t.Fatalf("refused reinstalls made %d mutating calls", n)
	}

	// Step 1: the member commands, and what comes after them.
	code, out, errOut := runIn("", "recover", "master-1", "-f", file, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--replace")
	if code != 0 || !strings.Contains(out, "\nid=$(ETCDCTL_API=3 etcdctl") || !strings.Contains(out, " member add master-1 ") ||
		!strings.Contains(out, "#    rampart recover master-1 -f "+file+" --state "+state+" --replace --reinstall --membership-done --yes") {
		t.Errorf("recover --replace: exit %d\n%s\n%s", code, out, errOut)
	}
	// Step 3: the reinstall, with the replacement userdata; the commands
	// are shown as comments only.
	code, out, errOut = runIn("", "recover", "master-1", "-f", file, "--state", state, "--tree", treeOf(state), "-o", t.TempDir(), "--replace", "--reinstall", "--membership-done", "--yes")
	sp, err := spec.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want, err := gen.ReplacementUserdata(sp, pki.Open(state), "master-1", spec.OutputIgnition)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Device("master-1"); code != 0 || d.Userdata != string(want) || d.Reinstalls != 1 || !strings.Contains(out, "#   id=$(") || strings.Contains(out, "\nid=$(") {
		t.Errorf("recover --replace --reinstall --membership-done: exit %d, reinstalls %d, replacement userdata %v\n%s\n%s", code, d.Reinstalls, d.Userdata == string(want), out, errOut)
	}
	if d := s.Device("master-2"); d.Reinstalls != 0 || d.Userdata != "old" {
		t.Errorf("master-2 was touched: %+v", d)
	}
}

// An untagged device with a node's hostname is listed and left alone (exit
// 0, as for a missing device); --adopt takes it over.
func TestPushPacketAdopt(t *testing.T) {
	s := packetFake(t)
	state := genState(t)
	d := s.AddDevice(packetfake.Device{Project: packetProject, Hostname: "agent-3", Userdata: "terraform's", Tags: []string{"owner=ops"}})
	code, out, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state, "--node", "agent-3")
	if code != 0 || !strings.Contains(out, "warning: agent-3 ("+d.ID+") has the hostname of a node but no rampart:cluster=dcos-packet tag: not touched") ||
		!strings.Contains(out, "push done: 0 created, 0 updated, 0 unchanged, 1 untagged (left alone; --adopt takes them over)") || mutatingCalls(s) != 0 {
		t.Errorf("push over an untagged device: exit %d, %d mutating calls\n%s\n%s", code, mutatingCalls(s), out, errOut)
	}
	code, out, errOut = runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state, "--node", "agent-3", "--adopt")
	if got := s.Device("agent-3"); code != 0 || !strings.Contains(out, "push done: 0 created, 0 updated, 0 unchanged, 1 adopted") ||
		!strings.Contains(out, "] adopted agent-3 (") || got.Userdata == "terraform's" || strings.Join(got.Tags, " ") != "owner=ops rampart:cluster=dcos-packet rampart:role=agent" {
		t.Errorf("push --adopt: exit %d, tags %q\n%s\n%s", code, got.Tags, out, errOut)
	}
}

// The devices of nodes whose userdata carries keys are tagged with the
// manifest's etcd CA; userdata of another CA (gen run on another --state)
// is refused by push and by recover --reinstall, naming the device and both
// fingerprints, unless --new-ca.
func TestPushPacketEtcdCA(t *testing.T) {
	s := packetFake(t)
	state := genState(t)
	if code, out, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(state), "--state", state, "--create"); code != 0 {
		t.Fatalf("push --create: exit %d\n%s\n%s", code, out, errOut)
	}
	m, err := gen.ReadManifest(filepath.Join(filepath.Dir(state), "out"))
	if err != nil {
		t.Fatal(err)
	}
	caTag := "rampart:etcd-ca=" + m.EtcdCASHA256[:16]
	master := s.Device("master-1")
	if !slices.Contains(master.Tags, caTag) || slices.ContainsFunc(s.Device("agent-1").Tags, func(t string) bool { return strings.HasPrefix(t, "rampart:etcd-ca=") }) {
		t.Errorf("master-1 tags %q (want %s), agent-1 tags %q (want none)", master.Tags, caTag, s.Device("agent-1").Tags)
	}
	s.Settle()
	s.ResetCalls()

	other := genState(t) // another state: another CA
	otherCA, err := pki.Open(other).CAFingerprint()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCommand(newPushPacket(), "-f", fixture, "--tree", treeOf(other), "--state", other)
	want := "master-1: device " + master.ID + " is tagged " + caTag + ", but this userdata carries keys of the etcd CA " + otherCA[:16]
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "--new-ca") || mutatingCalls(s) != 0 {
		t.Errorf("push with another CA: exit %d, %d mutating calls\n%s\n%s\nwant %q", code, mutatingCalls(s), out, errOut, want)
	}
	code, out, errOut = runIn("", "recover", "master-1", "-f", fixture, "--state", other, "--tree", treeOf(other), "-o", t.TempDir(), "--reinstall", "--yes")
	if code != 1 || !strings.Contains(errOut, want) || mutatingCalls(s) != 0 {
		t.Errorf("recover --reinstall with another CA: exit %d, %d mutating calls\n%s\n%s", code, mutatingCalls(s), out, errOut)
	}
	code, out, errOut = runIn("", "recover", "master-1", "-f", fixture, "--state", other, "--tree", treeOf(other), "-o", t.TempDir(), "--reinstall", "--yes", "--new-ca")
	if d := s.Device("master-1"); code != 0 || d.Reinstalls != 1 || !slices.Contains(d.Tags, "rampart:etcd-ca="+otherCA[:16]) {
		t.Errorf("recover --reinstall --new-ca: exit %d, tags %q\n%s\n%s", code, d.Tags, out, errOut)
	}
}
