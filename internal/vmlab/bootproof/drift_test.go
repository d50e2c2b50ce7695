package bootproof

import (
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// liveDrift reads the VM's live ruleset (iptables-save, ip6tables-save and
// ipset save, or nft list ruleset) over SSH and returns what rampart drift
// finds against what rampart renders for the node's role.
func liveDrift(t *testing.T, vm *vmlab.VM, g *generated, node string) []drift.Finding {
	t.Helper()
	role := g.role(t, node)
	backend := g.spec.Firewall.Backend
	live := &drift.Live{IPTables: map[policy.Family]*drift.IPTables{}}
	var err error
	if backend == "nftables" {
		if live.NFT, err = drift.ParseNFT(strings.NewReader(vm.MustSSH("nft list ruleset")), node+": nft list ruleset"); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, c := range []struct {
			cmd string
			f   policy.Family
		}{{"iptables-save", policy.V4}, {"ip6tables-save", policy.V6}} {
			if live.IPTables[c.f], err = drift.ParseIPTables(strings.NewReader(vm.MustSSH(c.cmd)), node+": "+c.cmd); err != nil {
				t.Fatal(err)
			}
		}
		if live.IPSets, err = drift.ParseIPSet(strings.NewReader(vm.MustSSH("ipset save")), node+": ipset save"); err != nil {
			t.Fatal(err)
		}
	}
	want, err := drift.Expect(g.policy, role, backend)
	if err != nil {
		t.Fatal(err)
	}
	return drift.Check(g.policy, role, want, live)
}

// checkNoDrift fails the test when the VM's live ruleset is not what
// rampart renders for it.
func checkNoDrift(t *testing.T, vm *vmlab.VM, g *generated, node string) {
	t.Helper()
	findings := liveDrift(t, vm, g, node)
	for _, f := range findings {
		t.Errorf("drift on %s: %s", node, f)
	}
	if len(findings) == 0 {
		t.Logf("no drift: %s runs what rampart renders for role %s (%s)", node, g.role(t, node), g.spec.Firewall.Backend)
	}
}
