package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
)

// TestFilePlan: a file is written when its contents or its mode differ, or
// the node lacks it; a file of the firewall directory the tree no longer
// has is removed; the plan names the unit, the certificates, the firewall
// files, the script and other files, in that order after the ruleset.
func TestFilePlan(t *testing.T) {
	n := node{Script: "/opt/bin/rampart-firewall", Unit: "rampart-firewall.service", FWDir: "/etc/rampart/firewall"}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	files := []File{
		{Path: "/etc/rampart/firewall/ipset.v4", Mode: 0o644, Data: []byte("same")},
		{Path: "/etc/rampart/firewall/iptables.v4", Mode: 0o644, Data: []byte("new")},
		{Path: "/etc/ssl/certs/etcd/server.key", Mode: 0o600, Data: []byte("k")},
		{Path: "/etc/ssl/certs/etcd/server.crt", Mode: 0o644, Data: []byte("c")},
		{Path: "/etc/systemd/system/rampart-firewall.service", Mode: 0o644, Data: []byte("u2")},
		{Path: "/opt/bin/rampart-firewall", Mode: 0o755, Data: []byte("s")},
		{Path: "/etc/hostname", Mode: 0o644, Data: []byte("h")},
	}
	live := &liveState{
		Files: map[string]liveFile{
			"/etc/rampart/firewall/ipset.v4":               {SHA256: sum("same"), Mode: "644"},
			"/etc/rampart/firewall/iptables.v4":            {SHA256: sum("old"), Mode: "644"},
			"/etc/ssl/certs/etcd/server.key":               {SHA256: sum("k"), Mode: "644"}, // mode differs
			"/etc/ssl/certs/etcd/server.crt":               {SHA256: sum("c"), Mode: "644"},
			"/etc/systemd/system/rampart-firewall.service": {SHA256: sum("u1"), Mode: "644"},
			"/opt/bin/rampart-firewall":                    {SHA256: sum("s"), Mode: "755"},
			// /etc/hostname missing
		},
		Present: []string{"/etc/rampart/firewall/ipset.v4", "/etc/rampart/firewall/iptables.v4", "/etc/rampart/firewall/old.v4"},
	}
	p := filePlan(files, live)
	var written []string
	for _, f := range p.Write {
		written = append(written, f.Path)
	}
	want := []string{"/etc/rampart/firewall/iptables.v4", "/etc/ssl/certs/etcd/server.key", "/etc/systemd/system/rampart-firewall.service", "/etc/hostname"}
	if !slices.Equal(written, want) {
		t.Errorf("written %v, want %v", written, want)
	}
	if !slices.Equal(p.Remove, []string{"/etc/rampart/firewall/old.v4"}) {
		t.Errorf("removed %v", p.Remove)
	}
	p.Ruleset = []string{"members: +10.0.0.7"}
	lines := p.Lines(n)
	wantLines := []string{"members: +10.0.0.7", "unit", "certificates: server.key", "firewall files: iptables.v4", "/etc/hostname", "remove /etc/rampart/firewall/old.v4"}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("lines %q, want %q", lines, wantLines)
	}
	if p.Empty() || !filePlan(files[:1], &liveState{Files: live.Files}).Empty() {
		t.Error("Empty is wrong")
	}
}
