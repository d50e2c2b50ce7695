package bootproof

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// TestFailClosedAtBoot boots the DC/OS master from its Ignition config on a
// kernel that refuses the IPv6 reverse-path match (module_blacklist on the
// command line, as a kernel built without it): its IPv6 rules cannot load.
// The node must come up closed: the world and the members reach nothing,
// the admins reach their admin ports (SSH works, IPv4 and IPv6), the unit
// is failed and says so on the console, and drift names the failsafe.
func TestFailClosedAtBoot(t *testing.T) {
	t.Parallel()
	img, ign := image(t), ignition(t)
	g := generate(t, "dcos-iptables")
	l := newLab(t)
	const node, module = "master-1", "ip6t_rpfilter"
	rules, err := os.ReadFile(filepath.Join(g.machine(t, node), "rootfs", "etc", "rampart", "firewall", "iptables.v6"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rules), "-m rpfilter") {
		t.Fatalf("the IPv6 rules do not use the rpfilter match: blacklisting %s would not break them", module)
	}
	ports := []uint16{22, 80, 443, 8080, 5050}
	vm := vmlab.Start(t, img, l.br, vmlab.Config{Name: node, Ignition: g.userdata(t, node, "ignition.json"),
		IgnitionBinary: ign, Addrs: vmAddrs(10), SSHFrom: l.admin.ns, Listen: ports[1:],
		KernelArgs: []string{"module_blacklist=" + module}})
	vm.WaitReady()

	u := showUnits(t, vm, "rampart-firewall.service")["rampart-firewall.service"]
	if u["ActiveState"] != "failed" {
		t.Errorf("rampart-firewall.service is %s (result %s), want failed", u["ActiveState"], u["Result"])
	}
	console := vm.Console()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`rampart: FAILED: .*`),
		regexp.MustCompile(`FAILED.*Failed to start.*rampart.*`),
	} {
		if m := want.FindString(console); m == "" {
			t.Errorf("the console does not show %q; its last lines:\n%s", want, vm.ConsoleTail(60))
		} else {
			t.Logf("on the console: %s", strings.TrimSpace(m))
		}
	}

	// Closed: only the admins, on their role's admin ports.
	role := g.spec.Role(g.role(t, node))
	admins := func(from netip.Addr) bool { return from == l.admin.v4 || from == l.admin.v6 }
	checkVerdicts(t, vm, []*host{l.admin, l.member, l.world}, ports, func(from netip.Addr, port uint16) policy.Verdict {
		if admins(from) && slices.ContainsFunc(role.Admin, func(p spec.Port) bool { return p.Proto == spec.TCP && p.From <= port && port <= p.To }) {
			return policy.Accept
		}
		return policy.Drop
	})
	if out, err := vm.SSHFrom(l.admin.ns, vm.Addrs[1], "echo over IPv6"); err != nil || strings.TrimSpace(out) != "over IPv6" {
		t.Errorf("admin SSH over IPv6 to the closed node: %q, %v", out, err)
	}
	findings := liveDrift(t, vm, g, node)
	if !slices.ContainsFunc(findings, func(f drift.Finding) bool { return f.Kind == drift.Failsafe }) {
		t.Errorf("drift does not name the failsafe; it finds: %v", findings)
	}
	vm.Stop()
}
