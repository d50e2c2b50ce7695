package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestDriftNeverLoaded: a node where the firewall was never loaded prints
// nothing from iptables-save, ip6tables-save, ipset save and nft list
// ruleset (generator/drift checks that in a fresh namespace). The command
// reads empty inputs as an empty ruleset: exit 1 (drift) with every finding
// drift.Check makes of it, never 2 (an input it cannot read).
func TestDriftNeverLoaded(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"iptables", "nftables"} {
		t.Run(backend, func(t *testing.T) {
			if strings.Count(string(text), "backend: iptables") != 1 {
				t.Fatalf("%s does not name its backend once", fixture)
			}
			specText := strings.Replace(string(text), "backend: iptables", "backend: "+backend, 1)
			specPath := filepath.Join(t.TempDir(), "cluster.yaml")
			if err := os.WriteFile(specPath, []byte(specText), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := spec.LoadFile(specPath)
			if err != nil {
				t.Fatalf("%v\n%s", err, specText)
			}
			p := policy.Compile(s)
			exp, err := drift.Expect(p, "agent", backend)
			if err != nil {
				t.Fatal(err)
			}
			live := &drift.Live{IPTables: map[policy.Family]*drift.IPTables{}}
			args := []string{"drift", "-f", specPath, "--node", "agent-1", "--nft", empty}
			if backend == "iptables" {
				args = []string{"drift", "-f", specPath, "--node", "agent-1", "--iptables-save", empty, "--ip6tables-save", empty, "--ipset-save", empty}
				for _, f := range policy.Families {
					live.IPTables[f] = &drift.IPTables{}
				}
				live.IPSets = &drift.IPSets{}
			} else {
				live.NFT = &drift.NFT{}
			}
			n := len(drift.Check(p, "agent", exp, live))
			code, stdout, stderr := run(args...)
			if n == 0 || code != 1 || !strings.Contains(stdout, fmt.Sprintf("%d finding(s)", n)) {
				t.Errorf("rampart %s: exit %d, want 1 with %d findings\n%s%s", strings.Join(args, " "), code, n, stdout, stderr)
			}
		})
	}
}

// TestDriftNodeByAddress: --node resolves as explain's --to does, through
// the policy: a node's name, a role's name, or an address of a node (or of a
// pool) all name the role whose rules are compared; anything else is refused.
func TestDriftNodeByAddress(t *testing.T) {
	s, err := spec.LoadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	n := policy.Compile(s).Node("agent-1")
	if n == nil || len(n.Addresses) == 0 {
		t.Fatalf("%s has no node agent-1 with an address", fixture)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	drift := func(node string) (int, string) {
		code, stdout, stderr := run("drift", "-f", fixture, "--node", node, "--iptables-save", empty, "--ipset-save", empty)
		return code, stdout + stderr
	}
	byName, want := drift("agent-1")
	if byName != 1 || !strings.Contains(want, "(role agent,") {
		t.Fatalf("--node agent-1: exit %d\n%s", byName, want)
	}
	for _, node := range []string{n.Addresses[0].String(), "agent"} {
		code, out := drift(node)
		if code != 1 || strings.Replace(out, node, "agent-1", 1) != want {
			t.Errorf("--node %s: exit %d\n%s\nwant what --node agent-1 gives:\n%s", node, code, out, want)
		}
	}
	code, out := drift("192.0.2.123")
	if code != ExitInvalid || !strings.Contains(out, "neither a node nor a role") || strings.Contains(out, "finding") {
		t.Errorf("--node 192.0.2.123 (no node's, no pool's): exit %d\n%s", code, out)
	}
}
