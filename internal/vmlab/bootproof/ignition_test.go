package bootproof

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/internal/netlab"
	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// ignitionCase is one backend's proof on the Ignition path.
type ignitionCase struct {
	spec, node string
	// listen are the canary's ports on the node, beside sshd's 22.
	listen []uint16
	// closed are ports the world must never connect to, from the first
	// packet on; public is one it reaches once the firewall is up (the
	// prober must see it open, or its silence on the closed ones proves
	// nothing).
	closed []uint16
	public uint16
}

// TestIgnitionIPTables boots a DC/OS master from its Ignition config
// (iptables and ipset, Flatcar paths) and proves the boot claims.
func TestIgnitionIPTables(t *testing.T) {
	t.Parallel()
	proveIgnition(t, ignitionCase{spec: "dcos-iptables", node: "master-1",
		listen: []uint16{80, 443, 5050, 8080, 8201}, closed: []uint16{22, 8080}, public: 80})
}

// TestIgnitionNFTables boots a CoreOS web node from its Ignition config
// (nftables, Fedora CoreOS paths) and proves the boot claims.
func TestIgnitionNFTables(t *testing.T) {
	t.Parallel()
	proveIgnition(t, ignitionCase{spec: "web-nftables", node: "web-1",
		listen: []uint16{80, 3000, 2379, 8080}, closed: []uint16{22, 8080}, public: 80})
}

// proveIgnition: the real Ignition writes the node's root; while the VM
// boots, the world keeps trying the closed ports and never connects; after
// the boot the firewall unit is active and finished before the network
// began, the live ruleset is what rampart renders (no drift), and probes
// from the admin, a member and the world get the policy's verdicts; after a
// reboot, the same again, with the world trying all through it.
func proveIgnition(t *testing.T, c ignitionCase) {
	img, ign := image(t), ignition(t)
	g := generate(t, c.spec)
	l := newLab(t)
	addrs := vmAddrs(10)
	vmIPs := []netip.Addr{addrs[0].Addr(), addrs[1].Addr()}
	checkSpecAddrs(t, g, c.node, vmIPs)

	world := startProber(vmIPs, []*host{l.world}, append(slices.Clone(c.closed), c.public))
	began := time.Now()
	vm := vmlab.Start(t, img, l.br, vmlab.Config{Name: c.node, Ignition: g.userdata(t, c.node, "ignition.json"),
		IgnitionBinary: ign, Addrs: addrs, SSHFrom: l.admin.ns, Listen: c.listen})
	vm.WaitReady()
	t.Logf("first boot: up %v after the start", time.Since(began).Round(time.Second))
	ports := append([]uint16{22}, c.listen...)
	// The prober stops before the verdicts are probed: the kernel limits
	// the ICMP errors a REJECT sends to one host, and the prober's world
	// host would have used them up.
	checkBoot := func(when string) {
		t.Logf("-- %s", when)
		checkLoadedBeforeNetwork(t, vm)
		checkNoDrift(t, vm, g, c.node)
		checkFirstPacket(t, when, world.finish(), c.closed, time.Since(began))
		checkVerdicts(t, vm, []*host{l.admin, l.member, l.world}, ports, byPolicy(g, g.role(t, c.node)))
	}
	checkBoot("first boot")

	world = startProber(vmIPs, []*host{l.world}, append(slices.Clone(c.closed), c.public))
	began = time.Now()
	vm.Reboot()
	t.Logf("reboot: up again %v after systemctl reboot", time.Since(began).Round(time.Second))
	checkBoot("after a reboot")

	began = time.Now()
	vm.Stop()
	t.Logf("powered off in %v", time.Since(began).Round(time.Second))
}

// checkSpecAddrs makes sure the VM gets the addresses the spec gives the
// node: the firewall is rendered for them.
func checkSpecAddrs(t *testing.T, g *generated, node string, ips []netip.Addr) {
	t.Helper()
	for _, n := range g.spec.Nodes {
		if n.Name == node && !slices.Equal(n.Addresses, ips) {
			t.Fatalf("the spec gives %s %v, the lab %v", node, n.Addresses, ips)
		}
	}
}

// checkFirstPacket judges the world's prober that ran through a boot: it
// never connected to a closed port, and it did connect to the public port
// (so its packets reached the node once it was up: silence alone proves
// nothing).
func checkFirstPacket(t *testing.T, when string, world []*target, closed []uint16, ran time.Duration) {
	t.Helper()
	for _, g := range world {
		t.Logf("%s: %s: %d tries in %v (%.0f/s): %v; first connection %s", when, g, g.tries, ran.Round(time.Second),
			float64(g.tries)/ran.Seconds(), g.outcomes, firstAt(g))
		switch {
		case slices.Contains(closed, g.to.Port()):
			if n := g.outcomes[netlab.Accepted]; n > 0 {
				t.Errorf("%s: the world connected %d times to %s, a port the firewall closes to it", when, n, g.to)
			}
		case g.first.IsZero():
			t.Errorf("%s: %s never connected: the prober did not reach the node once it was up, so its silence proves nothing", when, g)
		}
		if g.tries < int(ran.Seconds()) {
			t.Errorf("%s: %s tried only %d times in %v: not many times a second", when, g, g.tries, ran)
		}
	}
}

func firstAt(g *target) string {
	if g.first.IsZero() {
		return "never"
	}
	return g.first.Format("15:04:05.000")
}
