package firewall_test

// The tracer (generator/trace) against the kernel: for a sample of the
// DC/OS fixture's cells, with both backends, what real packets do in the
// lab must be what the tracer says the node's files do, and what it says
// of the ruleset the kernel lists after loading them (iptables-save and
// ipset save, or nft list ruleset). Needs root and the packet tools, like
// the packet tests.

import (
	"bytes"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/generator/trace"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

// machineFiles are the firewall files of a machine's rootfs, by base name,
// as the script loads them.
func machineFiles(m *boot.Machine) []firewall.File {
	var out []firewall.File
	for _, f := range boot.Rootfs(m) {
		if path.Dir(f.Path) == gen.FirewallDir {
			out = append(out, firewall.File{Name: path.Base(f.Path), Contents: []byte(f.Contents)})
		}
	}
	return out
}

// liveTracer reads what the kernel lists in a namespace after the script
// loaded the firewall.
func liveTracer(t *testing.T, ns *netlab.NS, backend string) *trace.Tracer {
	t.Helper()
	if backend == "nftables" {
		n, err := drift.ParseNFT(strings.NewReader(ns.Run("nft", "list", "ruleset")), "nft list ruleset")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := trace.NewNFT("nft list ruleset", n)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	fams := map[policy.Family]trace.IPTablesFamily{}
	for f, prog := range map[policy.Family]string{policy.V4: "iptables-save", policy.V6: "ip6tables-save"} {
		rules, err := drift.ParseIPTables(strings.NewReader(ns.Run(prog)), prog)
		if err != nil {
			t.Fatal(err)
		}
		fams[f] = trace.IPTablesFamily{Name: prog, Rules: rules}
	}
	sets, err := drift.ParseIPSet(bytes.NewReader([]byte(ns.Run("ipset", "save"))), "ipset save")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trace.NewIPTables(fams, sets)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTraceAgreesWithKernel: the tracer's verdict over a node's files, and
// over what the kernel lists once they are loaded, is what real packets get.
func TestTraceAgreesWithKernel(t *testing.T) {
	netlab.Require(t, packetTools...)
	ports := append(tcp(22, 80, 8201, 10000, 26257), udp(53, 68)...)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			c := dcosSpec(t, backend)
			checkRoles(t, c, dcosRoles)
			lab := netlab.New(t)
			outside := []*host{
				{name: "admin", addrs: addrs("209.220.51.50", "2001:db8:ad::50")},
				{name: "world", addrs: addrs("203.0.113.99", "2001:db8:ff::99")},
				{name: "trusted", addrs: addrs("8.8.8.8", "2001:db8:77::1")},
			}
			hosts := switched(t, lab, c, outside, ports)
			files, live := map[string]*trace.Tracer{}, map[string]*trace.Tracer{}
			for name, h := range hosts {
				if h.role == "" {
					continue
				}
				tr, err := trace.Load(machineFiles(c.machineFor(t, name)))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if tr.Backend() != backend {
					t.Fatalf("%s: the files are %s, want %s", name, tr.Backend(), backend)
				}
				files[name], live[name] = tr, liveTracer(t, h.ns, backend)
			}
			cells := matrix(backend, hosts, []string{"agent-1", "admin", "world", "trusted"}, ports,
				func(string, netip.Addr, string, port) policy.Verdict { return "" })
			traced := func(tr *trace.Tracer, c *cell) policy.Verdict {
				res, err := tr.Trace(trace.Packet{Src: c.from, Dst: c.to.Addr(), Proto: spec.Protocol(c.port.proto), DstPort: c.port.num,
					SrcPort: 40000, In: "eth0"})
				if err != nil {
					t.Fatalf("%s → %s %s: %v", c.from, c.to, c.port, err)
				}
				return res.Verdict
			}
			for _, cl := range cells {
				cl.want = traced(files[cl.dst], cl)
			}
			probeAll(cells, c.pol)
			report(t, fmt.Sprintf("dcos-packet (%s): kernel, tracer over the files (EXPECTED), explain", backend), cells)
			for _, cl := range cells {
				if got := traced(live[cl.dst], cl); got != cl.kernel() {
					t.Errorf("%s → %s %s: the kernel %s, the tracer over the kernel's listing %s", cl.from, cl.to, cl.port, cl.kernel(), got)
				}
			}
		})
	}
}
