package firewall_test

// Helpers of the packet tests (packets_test.go): fixtures as specs, the
// generated machines, loading a machine's firewall into a namespace the way
// its boot unit does, and running many probes at once.

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

// packetTools are the programs the packet tests and the generated scripts run.
var packetTools = []string{
	"iptables", "ip6tables", "iptables-restore", "ip6tables-restore",
	"iptables-save", "ip6tables-save", "ipset", "nft", "sysctl", "sh", "env", "sed", "grep", "tr",
}

// Timeouts: a probe that gets no answer in dropWait counts as dropped; a
// cell whose drop disagrees with the table or with explain is probed once
// more with confirmWait, so a slow first packet cannot fake a finding. (Linux
// takes the first ICMPv6 error to a TCP SYN as a soft error: an IPv6 connect
// learns of a REJECT only from the retransmitted SYN, after a second.)
const (
	dropWait    = 300 * time.Millisecond
	confirmWait = 2 * time.Second
	parallel    = 64
)

// systemdPath is the PATH systemd gives a service: the script runs with
// nothing else of the test's environment.
const systemdPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// edit replaces Old, which must occur exactly once, by New; an empty Old
// appends New to the file.
type edit struct{ Old, New string }

// loadSpec reads a fixture, applies edits and parses it under the fixture's
// own name, as `rampart gen -f` would.
func loadSpec(t *testing.T, fixture string, edits ...edit) *spec.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "fixtures", fixture))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, e := range edits {
		if e.Old == "" {
			text += e.New
			continue
		}
		if n := strings.Count(text, e.Old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", fixture, e.Old, n)
		}
		text = strings.Replace(text, e.Old, e.New, 1)
	}
	s, err := spec.Parse(fixture, []byte(text))
	if err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	return s
}

// cluster is a spec with its policy and the machines gen builds from them.
type cluster struct {
	spec     *spec.Spec
	pol      *policy.Policy
	machines []*boot.Machine
}

func newCluster(t testing.TB, s *spec.Spec) *cluster {
	t.Helper()
	p := policy.Compile(s)
	ms, err := gen.Machines(s, p)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{spec: s, pol: p, machines: ms}
}

func (c *cluster) backend() string { return c.spec.Firewall.Backend }

// machineFor returns what the node boots with: its own machine when it has
// one (members of an etcd role), else its role's.
func (c *cluster) machineFor(t testing.TB, node string) *boot.Machine {
	t.Helper()
	n := c.spec.Node(node)
	if n == nil {
		t.Fatalf("no node %s", node)
	}
	for _, m := range c.machines {
		if m.Kind == "node" && m.Name == node {
			return m
		}
	}
	return c.roleMachine(t, n.Role)
}

// roleMachine returns the machine every node of a role boots with.
func (c *cluster) roleMachine(t testing.TB, role string) *boot.Machine {
	t.Helper()
	for _, m := range c.machines {
		if m.Kind == "role" && m.Name == role {
			return m
		}
	}
	t.Fatalf("no machine for role %s", role)
	return nil
}

// installed is a machine's root file system written under a temporary
// directory, with the firewall script pointed at it.
type installed struct {
	ns     *netlab.NS
	script string // the pointed script, under the temporary root
}

var safePath = regexp.MustCompile(`^[A-Za-z0-9/._+-]+$`)

// install writes every file of the machine's rootfs (path, mode, contents,
// exactly what Ignition writes) under a temporary root. The firewall script
// is the generated one with a single change: its `dir=/etc/rampart/firewall`
// line names the copy of that directory under the temporary root, because
// the test must not write to the host's /etc (namespaces do not separate
// file systems). Everything else, the files it loads and the commands it
// runs, is what the boot unit runs.
func install(t testing.TB, ns *netlab.NS, c *cluster, m *boot.Machine) *installed {
	t.Helper()
	root := t.TempDir()
	if !safePath.MatchString(root) {
		t.Fatalf("temporary directory %q cannot be written into a sh assignment unquoted", root)
	}
	scriptPath := gen.ScriptPath[c.spec.OS.Variant]
	if scriptPath == "" {
		t.Fatalf("no script path for %s", c.spec.OS.Variant)
	}
	var script, unit string
	for _, f := range boot.Rootfs(m) {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		contents := f.Contents
		switch f.Path {
		case scriptPath:
			script = contents
			from, to := "dir="+gen.FirewallDir, "dir="+filepath.Join(root, gen.FirewallDir)
			lines := strings.Split(contents, "\n")
			n := 0
			for i, l := range lines {
				if l == from {
					lines[i] = to
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%s %s: script has %d lines %q, want 1:\n%s", m.Kind, m.Name, n, from, contents)
			}
			contents = strings.Join(lines, "\n")
		case filepath.ToSlash(filepath.Join(boot.UnitDir, gen.FirewallUnit)):
			unit = contents
		}
		if err := os.WriteFile(p, []byte(contents), f.Mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.Mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	if script == "" {
		t.Fatalf("%s %s: no %s in the rootfs", m.Kind, m.Name, scriptPath)
	}
	if !strings.Contains(unit, "\nExecStart="+scriptPath+"\n") {
		t.Fatalf("%s %s: %s does not run %s:\n%s", m.Kind, m.Name, gen.FirewallUnit, scriptPath, unit)
	}
	return &installed{ns: ns, script: filepath.Join(root, filepath.FromSlash(scriptPath))}
}

// apply runs the firewall script inside the namespace with the environment
// systemd gives the unit, and fails the test when it fails.
func (in *installed) apply(t testing.TB) {
	t.Helper()
	if _, err := in.ns.Exec("env", "-i", "PATH="+systemdPath, in.script); err != nil {
		t.Fatalf("firewall script: %v", err)
	}
}

// port is a protocol and port number to probe.
type port struct {
	proto string // tcp | udp
	num   uint16
}

func (p port) String() string { return fmt.Sprintf("%d/%s", p.num, p.proto) }

func tcp(nums ...uint16) []port { return portsOf("tcp", nums) }
func udp(nums ...uint16) []port { return portsOf("udp", nums) }

func portsOf(proto string, nums []uint16) []port {
	out := make([]port, len(nums))
	for i, n := range nums {
		out[i] = port{proto, n}
	}
	return out
}

// serve starts echo servers for the ports: TCP on every address, UDP on each
// address separately (so a reply leaves from the address it was sent to).
func serve(ns *netlab.NS, addrs []netip.Addr, ports []port) {
	for _, p := range ports {
		if p.proto == "tcp" {
			ns.Echo("tcp", fmt.Sprintf(":%d", p.num))
			continue
		}
		for _, a := range addrs {
			ns.Echo("udp", netip.AddrPortFrom(a, p.num).String())
		}
	}
}

// kernelVerdict reads a probe's outcome as the verdict that caused it.
func kernelVerdict(o netlab.Outcome) policy.Verdict {
	switch o {
	case netlab.Accepted:
		return policy.Accept
	case netlab.TimedOut:
		return policy.Drop
	case netlab.Rejected, netlab.Refused:
		return policy.Reject
	}
	return "ERROR"
}

// cell is one probe: a new connection from a source to a destination port,
// what the test expects, what the kernel did and what explain says.
type cell struct {
	group string // the backend, or the subtest's name
	src   string // source label: a node, a role, admin, world
	ns    *netlab.NS
	from  netip.Addr
	dst   string // destination label
	role  string // destination role, "" when explain does not apply
	to    netip.AddrPort
	port  port
	want  policy.Verdict

	got     netlab.Outcome
	err     error
	explain *policy.Decision
}

func (c *cell) kernel() policy.Verdict { return kernelVerdict(c.got) }

func (c *cell) probe(timeout time.Duration) {
	c.got, c.err = c.ns.Probe(c.port.proto, c.from, c.to, timeout)
}

// probeAll probes every cell, at most `parallel` at once; drops that
// disagree with the table or with explain, and connections whose echo did
// not come back in time, are probed again, slowly.
func probeAll(cells []*cell, pol *policy.Policy) {
	if pol != nil {
		for _, c := range cells {
			if c.role != "" {
				d := pol.Explain(policy.Query{From: c.from, Role: c.role, Proto: spec.Protocol(c.port.proto), Port: c.port.num})
				c.explain = &d
			}
		}
	}
	run := func(cs []*cell, timeout time.Duration) {
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c.probe(timeout)
			}()
		}
		wg.Wait()
	}
	run(cells, dropWait)
	var again []*cell
	for _, c := range cells {
		if c.got == netlab.TimedOut && (c.want != policy.Drop || c.explain != nil && c.explain.Verdict != policy.Drop) {
			again = append(again, c)
		}
		// connected, but the echo did not come back in time: on a loaded
		// machine the first round trip can take longer than dropWait
		if c.got == netlab.Failed {
			again = append(again, c)
		}
	}
	run(again, confirmWait)
}

// report fails the test with a table of every cell where the kernel, the
// hand-written expectation and explain (when asked) do not all agree.
func report(t *testing.T, title string, cells []*cell) {
	t.Helper()
	var bad []*cell
	accepted := 0
	for _, c := range cells {
		if c.got == netlab.Accepted {
			accepted++
		}
		if c.kernel() != c.want || c.explain != nil && c.explain.Verdict != c.kernel() {
			bad = append(bad, c)
		}
	}
	t.Logf("%s: %d probes, %d accepted, %d mismatches", title, len(cells), accepted, len(bad))
	if len(bad) == 0 {
		return
	}
	slices.SortFunc(bad, func(a, b *cell) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.src, b.src), cmp.Compare(a.dst, b.dst),
			a.to.Addr().Compare(b.to.Addr()), cmp.Compare(a.port.proto, b.port.proto), cmp.Compare(a.port.num, b.port.num))
	})
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tFROM\tTO\tPORT\tEXPECTED\tKERNEL\tEXPLAIN\tDETAIL")
	for _, c := range bad {
		ex, why := "-", ""
		if c.explain != nil {
			ex, why = string(c.explain.Verdict), c.explain.String()
		}
		kern := c.kernel()
		detail := why
		if c.err != nil && c.got != netlab.TimedOut {
			detail = strings.TrimSpace(c.err.Error() + "; " + why)
		}
		fmt.Fprintf(w, "%s\t%s %s\t%s %s\t%s\t%s\t%s\t%s\t%s\n", c.group, c.src, c.from, c.dst, c.to.Addr(), c.port, c.want, kern, ex, detail)
	}
	w.Flush()
	t.Errorf("%s: %d of %d cells disagree (kernel = what real packets did; explain = policy.Explain):\n%s", title, len(bad), len(cells), b.String())
}

// addrKind tells a node's public IPv4, private IPv4 and IPv6 addresses apart.
func addrKind(a netip.Addr) string {
	switch {
	case a.Is6():
		return "v6"
	case a.IsPrivate():
		return "private"
	}
	return "public"
}

// sourceFor picks, among a source's addresses, the one of the same kind as
// the destination (the private address to a private one, and so on), else
// one of the same family; ok is false when the source has none.
func sourceFor(addrs []netip.Addr, dst netip.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		if addrKind(a) == addrKind(dst) {
			return a, true
		}
	}
	for _, a := range addrs {
		if a.Is4() == dst.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// host is a namespace on a lab network: a cluster node (role set) or an
// outside host (admin, world).
type host struct {
	name  string
	role  string
	addrs []netip.Addr
	ns    *netlab.NS
	fw    *installed
}

// plug attaches a namespace to a bridge as eth0 with its addresses and
// on-link default routes for both families.
func plug(sw *netlab.Bridge, ns *netlab.NS, as ...netip.Addr) {
	sw.Attach(ns, "eth0")
	ns.AddHost("eth0", as...)
	ns.DefaultOnLink("eth0")
}

// switched builds one L2 network: a bridge in its own namespace and, plugged
// into it, a namespace per node of the cluster with all its addresses and
// one per outside host, each with on-link default routes for both families.
// Nodes serve echo on the ports and load their machine's firewall.
func switched(t *testing.T, lab *netlab.Lab, c *cluster, outside []*host, ports []port) map[string]*host {
	t.Helper()
	sw := lab.NewBridge("sw")
	hosts := map[string]*host{}
	var all []*host
	for _, n := range c.spec.Nodes {
		all = append(all, &host{name: n.Name, role: n.Role, addrs: n.Addresses})
	}
	all = append(all, outside...)
	for _, h := range all {
		h.ns = lab.NewNS(h.name)
		plug(sw, h.ns, h.addrs...)
		hosts[h.name] = h
	}
	for _, h := range all {
		if h.role == "" {
			continue
		}
		serve(h.ns, h.addrs, ports)
		h.fw = install(t, h.ns, c, c.machineFor(t, h.name))
		h.fw.apply(t)
	}
	return hosts
}

// matrix makes a cell for every source × destination node × destination
// address × port, skipping a node probing itself; want gives the expected
// verdict from the source's role (or name, for outside hosts), its address
// and the destination's role.
func matrix(group string, hosts map[string]*host, sources []string, ports []port, want func(src string, from netip.Addr, dstRole string, p port) policy.Verdict) []*cell {
	var nodes []*host
	for _, h := range hosts {
		if h.role != "" {
			nodes = append(nodes, h)
		}
	}
	slices.SortFunc(nodes, func(a, b *host) int { return cmp.Compare(a.name, b.name) })
	var cells []*cell
	for _, s := range sources {
		src := hosts[s]
		label := cmp.Or(src.role, src.name)
		for _, dst := range nodes {
			if dst == src {
				continue
			}
			for _, to := range dst.addrs {
				from, ok := sourceFor(src.addrs, to)
				if !ok {
					continue
				}
				for _, p := range ports {
					cells = append(cells, &cell{
						group: group, src: s, ns: src.ns, from: from,
						dst: dst.name, role: dst.role, to: netip.AddrPortFrom(to, p.num), port: p,
						want: want(label, from, dst.role, p),
					})
				}
			}
		}
	}
	return cells
}
