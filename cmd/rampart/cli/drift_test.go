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
