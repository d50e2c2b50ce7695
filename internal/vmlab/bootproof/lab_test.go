package bootproof

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
	"github.com/rampart-cluster/rampart/internal/realtool"
	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// host is a probe host of the lab: a namespace on the bridge with one
// address of each family.
type host struct {
	name string
	ns   *netlab.NS
	v4   netip.Addr
	v6   netip.Addr
}

// addrs are the host's addresses, IPv4 first.
func (h *host) addrs() []netip.Addr { return []netip.Addr{h.v4, h.v6} }

// lab is one test's network: a bridge the VMs' tap devices plug into, and
// the hosts that probe them. Its addresses are the test specs': the node
// 10.77.0.10 and fd77::10, an admin .20, a cluster member .11, and the
// world .99 (in no list of the spec).
type lab struct {
	br                   *netlab.Bridge
	admin, member, world *host
}

// Lab subnets: every host and VM is a neighbour on the bridge.
var (
	labNet4 = netip.MustParsePrefix("10.77.0.0/24")
	labNet6 = netip.MustParsePrefix("fd77::/64")
)

// vmAddrs are a VM's addresses at host number n of the lab's subnets.
func vmAddrs(n byte) []netip.Prefix {
	return []netip.Prefix{
		netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, 0, n}), labNet4.Bits()),
		// fd77:: with the same digits: 10.77.0.10 and fd77::10.
		netip.PrefixFrom(netip.MustParseAddr(fmt.Sprintf("fd77::%d", n)), labNet6.Bits()),
	}
}

// newLab builds the bridge and the admin, member and world hosts.
func newLab(t *testing.T) *lab {
	t.Helper()
	netlab.Require(t)
	nl := netlab.New(t)
	l := &lab{br: nl.NewBridge("br")}
	mk := func(name string, n byte) *host {
		a := vmAddrs(n)
		h := &host{name: name, ns: nl.NewNS(name), v4: a[0].Addr(), v6: a[1].Addr()}
		l.br.Attach(h.ns, "eth0")
		h.ns.AddAddr("eth0", a[0])
		h.ns.AddAddr("eth0", a[1])
		return h
	}
	l.admin, l.member, l.world = mk("admin", 20), mk("member", 11), mk("world", 99)
	return l
}

// generated is a spec's output, made by gen.Run into a temporary tree and
// state.
type generated struct {
	spec       *spec.Spec
	policy     *policy.Policy
	out, state string
}

// generate runs gen.Run on testdata/<name>.yaml.
func generate(t *testing.T, name string) *generated {
	t.Helper()
	s, err := spec.LoadFile(filepath.Join("testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := &generated{spec: s, policy: policy.Compile(s), out: filepath.Join(dir, "out"), state: filepath.Join(dir, "state")}
	if _, err := gen.Run(gen.Options{Spec: s, Out: g.out, State: g.state}); err != nil {
		t.Fatalf("gen %s: %v", name, err)
	}
	return g
}

// userdata is the path of a node's userdata of one kind (ignition.json,
// cloud-config.yaml): the state's final userdata when the node has secrets
// (etcd keys), else the tree's.
func (g *generated) userdata(t *testing.T, node, kind string) string {
	t.Helper()
	final := filepath.Join(g.state, "userdata", "nodes", node, kind)
	if _, err := os.Stat(final); err == nil {
		return final
	}
	return filepath.Join(g.machine(t, node), kind)
}

// machine is the tree's directory of a node: its own (nodes/<node>) when it
// has an identity, else its role's (roles/<role>).
func (g *generated) machine(t *testing.T, node string) string {
	t.Helper()
	for _, p := range []string{filepath.Join(g.out, "nodes", node), filepath.Join(g.out, "roles", g.role(t, node))} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("neither nodes/%s nor roles/%s in the tree", node, g.role(t, node))
	return ""
}

// role is the role of a node of the spec.
func (g *generated) role(t *testing.T, node string) string {
	t.Helper()
	for _, n := range g.spec.Nodes {
		if n.Name == node {
			return n.Role
		}
	}
	t.Fatalf("no node %s in the spec", node)
	return ""
}

// image opens the VM image once per test.
func image(t *testing.T) *vmlab.Image {
	t.Helper()
	return vmlab.OpenImage(t)
}

// ignition is the real Ignition binary.
func ignition(t *testing.T) string {
	t.Helper()
	return realtool.Ignition(t)
}
