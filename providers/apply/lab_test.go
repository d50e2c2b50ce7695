package apply_test

// Tests against real OpenSSH servers: each node a network namespace with
// its own root (applytest), real iptables and ipset loaded by the node's
// own firewall script, apply dialing from an operator's namespace. They
// need root; without it they skip, unless RAMPART_REAL=1, where they fail.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
	"github.com/rampart-cluster/rampart/providers/apply"
	"github.com/rampart-cluster/rampart/providers/apply/applytest"
	"github.com/rampart-cluster/rampart/providers/delivery/deliverytest"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

// labSpec is a cluster of an etcd master and two workers, the operator at
// 10.77.0.100 its only admin. Workers reach each other and the master on
// every port only as cluster members.
const labSpec = `version: 1
cluster: applylab
os: {variant: flatcar, version: 1.1.0}
firewall: {backend: iptables}
admins: [10.77.0.100/32]
roles:
  master: {zone: admin, etcd: true}
  worker: {zone: private}
nodes:
  - {name: m1, role: master, addresses: [10.77.0.1]}
  - {name: w1, role: worker, addresses: [10.77.0.11]}
  - {name: w2, role: worker, addresses: [10.77.0.12]}
`

// addW3 is the edit that adds a third worker.
var addW3 = []string{"  - {name: w2, role: worker, addresses: [10.77.0.12]}\n", "  - {name: w2, role: worker, addresses: [10.77.0.12]}\n  - {name: w3, role: worker, addresses: [10.77.0.13]}\n"}

var operator = netip.MustParseAddr("10.77.0.100")

// memberPort is a port only cluster members reach (workers: private zone,
// the master: admin zone without it).
const memberPort = 2181

// cluster is a lab, its spec's directory, the tree and the state.
type cluster struct {
	t     *testing.T
	lab   *applytest.Lab
	dir   string
	tree  string
	state string
	spec  *spec.Spec
	known string // known_hosts with every node
}

func newCluster(t *testing.T, text string, edits ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, lab: applytest.New(t, operator), dir: t.TempDir()}
	c.tree, c.state = filepath.Join(c.dir, "out"), filepath.Join(c.dir, "state")
	c.gen(text, edits...)
	return c
}

// gen writes the spec (text with edits) and runs gen: the reviewed tree.
func (c *cluster) gen(text string, edits ...string) {
	c.t.Helper()
	c.spec = deliverytest.Spec(c.t, c.dir, text, edits...)
	deliverytest.Gen(c.t, c.spec, c.tree, c.state)
}

// targets are the nodes with their files, from the reviewed tree.
func (c *cluster) targets() map[string]apply.Target {
	c.t.Helper()
	ms, err := reviewed.Machines(c.spec, c.tree, pki.Open(c.state))
	if err != nil {
		c.t.Fatal(err)
	}
	ts, err := apply.Targets(c.spec, c.tree, ms, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]apply.Target{}
	for _, t := range ts {
		out[t.Node.Name] = t
	}
	return out
}

// boot brings up the spec's nodes that are not up yet, each booted with
// its files of the current tree, serving echo on memberPort.
func (c *cluster) boot(names ...string) {
	c.t.Helper()
	ts := c.targets()
	for _, name := range names {
		t := ts[name]
		n := c.lab.AddNode(name, t.Node.Addresses...)
		n.Boot(t.Files, gen.ScriptPath[c.spec.OS.Variant])
		n.NS.Echo("tcp", ":2181")
	}
	var all []string
	for name := range c.lab.Nodes {
		all = append(all, name)
	}
	c.known = c.lab.KnownHosts(all...)
}

func (c *cluster) options(o apply.Options) apply.Options {
	o.Spec, o.Tree, o.State = c.spec, c.tree, pki.Open(c.state)
	if o.Transport == nil {
		o.Transport = c.lab.Transport(c.known)
	}
	if o.ConfirmTimeout == 0 {
		o.ConfirmTimeout = 20 * time.Second
	}
	return o
}

// apply runs apply and returns each node's result by name.
func (c *cluster) apply(o apply.Options) map[string]apply.NodeResult {
	c.t.Helper()
	var log strings.Builder
	o = c.options(o)
	o.Progress = &log
	res, err := apply.Run(context.Background(), o)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("apply:\n%s", log.String())
	out := map[string]apply.NodeResult{}
	for _, n := range res.Nodes {
		out[n.Node] = n
	}
	return out
}

func wantStatus(t *testing.T, got map[string]apply.NodeResult, want map[string]apply.Status) {
	t.Helper()
	for name, s := range want {
		if got[name].Status != s {
			t.Errorf("%s: %s, want %s (%s)", name, got[name].Status, s, got[name])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d nodes reported, want %d: %v", len(got), len(want), got)
	}
}

func all(s apply.Status, names ...string) map[string]apply.Status {
	out := map[string]apply.Status{}
	for _, n := range names {
		out[n] = s
	}
	return out
}

// reach probes memberPort of every node named from the node from.
func (c *cluster) reach(from string, to ...string) map[string]netlab.Outcome {
	out := map[string]netlab.Outcome{}
	src := c.lab.Nodes[from]
	for _, name := range to {
		dst := c.lab.Nodes[name]
		o, _ := src.NS.Probe("tcp", src.Addrs[0], netip.AddrPortFrom(dst.Addrs[0], memberPort), 900*time.Millisecond)
		out[name] = o
	}
	return out
}

// onNode is the sha256 of a file on the node, "" when it has none.
func onNode(n *applytest.Node, p string) string {
	data, err := os.ReadFile(n.Path(p))
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// checkFiles fails unless every file of the node's target is on the node
// with its contents and mode.
func (c *cluster) checkFiles(name string) {
	c.t.Helper()
	n := c.lab.Nodes[name]
	for _, f := range c.targets()[name].Files {
		st, err := os.Stat(n.Path(f.Path))
		if err != nil {
			c.t.Errorf("%s: %v", name, err)
			continue
		}
		sum := sha256.Sum256(f.Data)
		if got := onNode(n, f.Path); got != hex.EncodeToString(sum[:]) {
			c.t.Errorf("%s: %s is not the tree's", name, f.Path)
		}
		if st.Mode().Perm() != f.Mode.Perm() {
			c.t.Errorf("%s: %s has mode %04o, want %04o", name, f.Path, st.Mode().Perm(), f.Mode.Perm())
		}
	}
}

// ruleset is what runs in a node's kernel: iptables-save of both
// families without counters and ipset save.
func ruleset(t *testing.T, n *applytest.Node) string {
	t.Helper()
	var b strings.Builder
	for _, argv := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"ipset", "save"}} {
		out := n.Must(argv...)
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, ":") {
				continue // comments with dates, counters
			}
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestApplyAddsNode, with each backend: a spec that adds w3; w3 boots with its own userdata,
// and the cluster drops its connections until apply has run. apply plans
// "members: +10.77.0.13" on the others, applies them first and w3 last
// (it runs its tree already: unchanged), confirms each through a new
// connection, and then w3's real TCP connections reach every existing
// node. The confirmed generation stays after the confirmation timeout,
// the previous one is kept on the node, the master's etcd key is there
// with mode 0600, and a second apply changes nothing.
func TestApplyAddsNode(t *testing.T) {
	eachBackend(t, testAddsNode)
}

// eachBackend runs a test for the spec with each firewall backend.
func eachBackend(t *testing.T, test func(t *testing.T, spec string)) {
	for _, backend := range []string{"iptables", "nftables"} {
		t.Run(backend, func(t *testing.T) {
			test(t, strings.Replace(labSpec, "backend: iptables", "backend: "+backend, 1))
		})
	}
}

func testAddsNode(t *testing.T, labSpec string) {
	c := newCluster(t, labSpec)
	c.boot("m1", "w1", "w2")
	old := c.targets()
	c.gen(labSpec, addW3...)
	c.boot("w3")
	for name, o := range c.reach("w3", "m1", "w1", "w2") {
		if o != netlab.TimedOut {
			t.Fatalf("before apply: w3 → %s:%d %s, want dropped: the test cannot show that apply admits it", name, memberPort, o)
		}
	}

	timeout := 10 * time.Second
	got := c.apply(apply.Options{ConfirmTimeout: timeout})
	wantStatus(t, got, map[string]apply.Status{"m1": apply.Applied, "w1": apply.Applied, "w2": apply.Applied, "w3": apply.Unchanged})
	for _, name := range []string{"m1", "w1", "w2"} {
		if !strings.Contains(strings.Join(got[name].Plan, "; "), "members: +10.77.0.13") {
			t.Errorf("%s: plan %q does not say that 10.77.0.13 joins", name, got[name].Plan)
		}
	}
	if !got["w3"].Joining {
		t.Errorf("w3 is not marked joining: %v", got["w3"])
	}
	for name, o := range c.reach("w3", "m1", "w1", "w2") {
		if o != netlab.Accepted {
			t.Errorf("after apply: w3 → %s:%d %s, want accepted", name, memberPort, o)
		}
	}

	// confirmed: the new generation stays after the node's timer
	time.Sleep(timeout + time.Second)
	for _, name := range []string{"m1", "w1", "w2"} {
		c.checkFiles(name)
		n := c.lab.Nodes[name]
		if _, err := os.Stat(n.Path(apply.RemoteDir + "/rollback.log")); err == nil {
			t.Errorf("%s: a rollback ran after a confirmed apply:\n%s", name, n.Must("cat", apply.RemoteDir+"/rollback.log"))
		}
		// the previous generation is kept
		for _, f := range old[name].Files {
			if !strings.HasPrefix(f.Path, "/etc/rampart/firewall/ipset.v4") {
				continue
			}
			sum := sha256.Sum256(f.Data)
			if onNode(n, apply.RemoteDir+"/prev"+f.Path) != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: the previous %s is not kept under %s/prev", name, f.Path, apply.RemoteDir)
			}
		}
	}
	for name, o := range c.reach("w3", "m1", "w1", "w2") {
		if o != netlab.Accepted {
			t.Errorf("after the confirmation timeout: w3 → %s:%d %s, want accepted", name, memberPort, o)
		}
	}
	key := "/etc/ssl/certs/etcd/server.key"
	st, err := os.Stat(c.lab.Nodes["m1"].Path(key))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("m1: %s: %v, mode %v, want 0600", key, err, st)
	}

	again := c.apply(apply.Options{ConfirmTimeout: timeout})
	wantStatus(t, again, all(apply.Unchanged, "m1", "w1", "w2", "w3"))
}

// TestApplyDryRun: with w3 added to the spec (and not booted), --dry-run
// plans the members it would add on every node, and changes nothing: the
// files, the kernel's ruleset and apply's directory on the nodes are as
// they were. w3 is reported joining and not up, which is no failure.
func TestApplyDryRun(t *testing.T) {
	c := newCluster(t, labSpec)
	c.boot("m1", "w1", "w2")
	before := map[string]string{}
	for _, name := range []string{"m1", "w1", "w2"} {
		before[name] = ruleset(t, c.lab.Nodes[name])
	}
	c.gen(labSpec, addW3...)
	got := c.apply(apply.Options{DryRun: true})
	wantStatus(t, got, map[string]apply.Status{"m1": apply.Planned, "w1": apply.Planned, "w2": apply.Planned, "w3": apply.NotUp})
	for _, name := range []string{"m1", "w1", "w2"} {
		n := c.lab.Nodes[name]
		if !strings.Contains(strings.Join(got[name].Plan, "; "), "members: +10.77.0.13") {
			t.Errorf("%s: plan %q does not say that 10.77.0.13 joins", name, got[name].Plan)
		}
		if after := ruleset(t, n); after != before[name] {
			t.Errorf("%s: --dry-run changed the ruleset:\nbefore:\n%s\nafter:\n%s", name, before[name], after)
		}
		if _, err := os.Stat(n.Path(apply.RemoteDir)); err == nil {
			t.Errorf("%s: --dry-run made %s", name, apply.RemoteDir)
		}
		for _, f := range c.targets()[name].Files {
			sum := sha256.Sum256(f.Data)
			if onNode(n, f.Path) == hex.EncodeToString(sum[:]) && strings.HasSuffix(f.Path, "ipset.v4") {
				t.Errorf("%s: --dry-run wrote the new %s", name, f.Path)
			}
		}
	}
	if !got["w3"].Joining {
		t.Errorf("w3 is not marked joining: %v", got["w3"])
	}
}

// TestApplyPartial: w2's host key is not in known_hosts and w1 is down:
// w2 is refused before anything is sent, w1 is reported unreachable, m1
// is done. A known_hosts line with another key for w2 is refused as a
// changed key. The re-run, with w1 back and w2's key known, finishes
// w1 and w2 and leaves m1 unchanged.
func TestApplyPartial(t *testing.T) {
	c := newCluster(t, labSpec)
	c.boot("m1", "w1", "w2")
	c.gen(labSpec, addW3...)
	c.lab.Nodes["w1"].Stop()

	o := apply.Options{Transport: c.lab.Transport(c.lab.KnownHosts("m1", "w1"))}
	got := c.apply(o)
	wantStatus(t, got, map[string]apply.Status{"m1": apply.Applied, "w1": apply.Unreachable, "w2": apply.Refused, "w3": apply.NotUp})
	if !strings.Contains(got["w2"].Error, "unknown") {
		t.Errorf("w2: %q does not say that its host key is unknown", got["w2"].Error)
	}
	if _, err := os.Stat(c.lab.Nodes["w2"].Path(apply.RemoteDir)); err == nil {
		t.Errorf("w2: its host key was refused, and apply made %s on it", apply.RemoteDir)
	}
	c.checkFiles("m1")

	// another key for w2's address: changed
	changed := c.lab.KnownHosts("m1")
	line := strings.Replace(strings.TrimSpace(readFile(t, c.lab.KnownHosts("m1"))), "10.77.0.1 ", "10.77.0.12 ", 1)
	if err := os.WriteFile(changed, []byte(readFile(t, changed)+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got = c.apply(apply.Options{Nodes: []string{"w2"}, Transport: c.lab.Transport(changed)})
	wantStatus(t, got, map[string]apply.Status{"w2": apply.Refused})
	if !strings.Contains(got["w2"].Error, "CHANGED") {
		t.Errorf("w2: %q does not say that its host key changed", got["w2"].Error)
	}

	c.lab.Nodes["w1"].Start()
	got = c.apply(apply.Options{})
	wantStatus(t, got, map[string]apply.Status{"m1": apply.Unchanged, "w1": apply.Applied, "w2": apply.Applied, "w3": apply.NotUp})
	c.checkFiles("w1")
	c.checkFiles("w2")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestApplyRollback: the spec's only admin becomes 10.77.0.200, which the
// audit cannot call a lockout (there is an admin), but the operator is at
// 10.77.0.100. Every node takes the new rules, no new SSH connection gets
// through them, and each node restores the previous generation by itself
// when --confirm-timeout runs out; apply says so, and a new SSH connection
// works again. The files are the previous tree's again.
func TestApplyRollback(t *testing.T) {
	c := newCluster(t, labSpec)
	c.boot("m1", "w1", "w2")
	old := c.targets()
	c.gen(labSpec, "admins: [10.77.0.100/32]", "admins: [10.77.0.200/32]")
	timeout := 8 * time.Second
	start := time.Now()
	got := c.apply(apply.Options{ConfirmTimeout: timeout})
	wantStatus(t, got, all(apply.RolledBack, "m1", "w1", "w2"))
	t.Logf("apply took %v with --confirm-timeout %v", time.Since(start).Round(time.Millisecond), timeout)
	tr := c.lab.Transport(c.known)
	for _, name := range []string{"m1", "w1", "w2"} {
		if !strings.Contains(got[name].Error, "SSH works again") {
			t.Errorf("%s: %q does not say that SSH works again", name, got[name].Error)
		}
		conn, err := tr.Connect(context.Background(), c.lab.Nodes[name].Addrs[0].String())
		if err != nil {
			t.Errorf("%s: after the rollback, a new SSH connection fails: %v", name, err)
			continue
		}
		conn.Close()
		n := c.lab.Nodes[name]
		for _, f := range old[name].Files {
			sum := sha256.Sum256(f.Data)
			if onNode(n, f.Path) != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: %s is not the previous generation's after the rollback", name, f.Path)
			}
		}
		t.Logf("%s rollback.log:\n%s", name, n.Must("cat", apply.RemoteDir+"/rollback.log"))
	}
}

// TestApplyMembershipNoGap, with each backend: while apply adds w3 (a change of the member
// sets only), w1 keeps opening new connections to a port only members
// reach on m1 and w2, and not one fails: the sets are swapped, never
// emptied. As a control, the same loop while the member sets are flushed
// for a moment must see failures.
func TestApplyMembershipNoGap(t *testing.T) {
	eachBackend(t, testMembershipNoGap)
}

func testMembershipNoGap(t *testing.T, labSpec string) {
	c := newCluster(t, labSpec)
	c.boot("m1", "w1", "w2")
	c.gen(labSpec, addW3...)
	w1 := c.lab.Nodes["w1"]
	targets := []*applytest.Node{c.lab.Nodes["m1"], c.lab.Nodes["w2"]}

	tries, failed := gapLoop(w1, targets, func() {
		got := c.apply(apply.Options{})
		wantStatus(t, got, map[string]apply.Status{"m1": apply.Applied, "w1": apply.Applied, "w2": apply.Applied, "w3": apply.NotUp})
	})
	t.Logf("%d new connections during the apply, %d failed", tries, len(failed))
	if tries < 10 {
		t.Errorf("only %d connections were tried during the apply", tries)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d new connections from a member failed during the apply:\n%s", len(failed), tries, strings.Join(failed, "\n"))
	}

	flush := []string{"ipset", "flush", "rampart-cluster-4"}
	if c.spec.Firewall.Backend == "nftables" {
		flush = []string{"nft", "flush", "set", "inet", "rampart", "cluster_v4"}
	}
	tries, failed = gapLoop(w1, targets, func() {
		for _, n := range targets {
			n.Must(flush...)
		}
		time.Sleep(1500 * time.Millisecond)
		for _, n := range targets {
			n.Must(gen.ScriptPath[c.spec.OS.Variant])
		}
	})
	if len(failed) == 0 {
		t.Errorf("control: %d connections while the member sets were flushed, and none failed: the loop cannot see a gap", tries)
	}
}

// gapWait is how long a new connection may take: a dropped SYN is sent
// again only after a second, so a connection that met a gap misses it.
const gapWait = 900 * time.Millisecond

// gapLoop opens new connections from a member to memberPort of the nodes
// while during runs, and returns how many it tried and those that failed.
func gapLoop(from *applytest.Node, to []*applytest.Node, during func()) (int, []string) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	tries := 0
	var failed []string
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				dst := to[i%len(to)]
				start := time.Now()
				o, err := from.NS.Probe("tcp", from.Addrs[0], netip.AddrPortFrom(dst.Addrs[0], memberPort), gapWait)
				mu.Lock()
				tries++
				if o != netlab.Accepted {
					failed = append(failed, fmt.Sprintf("%s → %s:%d after %v: %s (%v)", from.Name, dst.Name, memberPort, time.Since(start).Round(time.Millisecond), o, err))
				}
				mu.Unlock()
			}
		}()
	}
	during()
	close(stop)
	wg.Wait()
	return tries, failed
}
