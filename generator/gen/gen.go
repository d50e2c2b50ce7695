// Package gen is the pipeline behind `rampart gen`: spec → policy → firewall
// files and units per role and node → Butane, Ignition, cloud-config → the
// output tree with its manifest.
package gen

import (
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sync"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// FirewallDir is where a node's firewall files land.
const FirewallDir = "/etc/rampart/firewall"

// FirewallUnit is the unit that loads the firewall at boot.
const FirewallUnit = "rampart-firewall.service"

// ScriptPath is where the firewall script lands on each OS: Flatcar's /usr is
// read-only and /opt/bin is on its PATH; Fedora CoreOS keeps local programs in
// /usr/local/bin, where SELinux lets systemd run them.
var ScriptPath = map[string]string{
	"flatcar": "/opt/bin/rampart-firewall",
	"fcos":    "/usr/local/bin/rampart-firewall",
}

// packages the firewall needs, by backend, for cloud-init images that lack them.
var packages = map[string][]string{
	"iptables": {"ipset", "iptables"},
	"nftables": {"nftables"},
}

// Machines assembles the files and units of every role, then of every node
// with its own identity (members of an etcd role), in spec order. A role
// whose members are etcd members gets no role-wide configuration: each of its
// members boots with its own.
func Machines(s *spec.Spec, p *policy.Policy) ([]*boot.Machine, error) {
	var out []*boot.Machine
	for _, r := range s.Roles {
		if r.Etcd {
			continue
		}
		m, err := machine(s, p, "role", r.Name, r.Name, "")
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, n := range s.Nodes {
		if !s.Role(n.Role).Etcd {
			continue
		}
		m, err := machine(s, p, "node", n.Name, n.Role, n.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func machine(s *spec.Spec, p *policy.Policy, kind, name, role, hostname string) (*boot.Machine, error) {
	m := &boot.Machine{Kind: kind, Name: name, Cluster: s.Cluster, Hostname: hostname,
		Packages: packages[s.Firewall.Backend]}
	var fw []firewall.File
	var script string
	var err error
	scriptPath := ScriptPath[s.OS.Variant]
	switch s.Firewall.Backend {
	case "nftables":
		fw = firewall.RenderNFTables(p, role)
		script, err = boot.RenderTemplate("firewall-nftables.sh.tmpl", map[string]any{"Dir": FirewallDir, "Table": firewall.NFTTable})
	default:
		fw = firewall.RenderIPTables(p, role)
		script, err = boot.RenderTemplate("firewall-iptables.sh.tmpl", map[string]any{"Dir": FirewallDir, "Jumps": firewall.Jumps(p)})
	}
	if err != nil {
		return nil, err
	}
	if hostname != "" {
		m.Files = append(m.Files, boot.File{Path: "/etc/hostname", Mode: 0o644, Contents: hostname + "\n"})
	}
	for _, f := range fw {
		m.Files = append(m.Files, boot.File{Path: path.Join(FirewallDir, f.Name), Mode: 0o644, Contents: string(f.Contents)})
	}
	m.Files = append(m.Files, boot.File{Path: scriptPath, Mode: 0o755, Contents: script})
	unit, err := boot.RenderUnit("rampart-firewall.service.tmpl", map[string]any{"Backend": backendName(s.Firewall.Backend), "Script": scriptPath})
	if err != nil {
		return nil, err
	}
	m.Units = append(m.Units, boot.Unit{Name: FirewallUnit, Enabled: true, Contents: unit})
	return m, nil
}

func backendName(b string) string {
	if b == "nftables" {
		return "nftables"
	}
	return "ipset and iptables"
}

// Generate runs the whole pipeline for a validated spec and returns the
// output tree in memory. Machines are translated in parallel; the result does
// not depend on the order they finish in.
func Generate(s *spec.Spec) (*Tree, error) {
	p := policy.Compile(s)
	machines, err := Machines(s, p)
	if err != nil {
		return nil, err
	}
	target := boot.Target{Variant: s.OS.Variant, Version: s.OS.Version}
	parts := make([][]File, len(machines))
	errs := make([]error, len(machines))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(machines)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				parts[i], errs[i] = machineFiles(s, machines[i], target)
			}
		}()
	}
	for i := range machines {
		work <- i
	}
	close(work)
	wg.Wait()
	t := &Tree{}
	for i, m := range machines {
		if errs[i] != nil {
			return nil, fmt.Errorf("%s %s: %w", m.Kind, m.Name, errs[i])
		}
		t.Files = append(t.Files, parts[i]...)
	}
	t.seal()
	return t, nil
}

// machineDir is where a machine's files go in the output tree.
func machineDir(m *boot.Machine) string {
	return path.Join(m.Kind+"s", m.Name)
}

func machineFiles(s *spec.Spec, m *boot.Machine, target boot.Target) ([]File, error) {
	dir := machineDir(m)
	var out []File
	bu, err := boot.Butane(m, target)
	if err != nil {
		return nil, err
	}
	out = append(out, File{Path: path.Join(dir, "butane.yaml"), Mode: 0o644, Data: []byte(bu)})
	if s.Wants(spec.OutputIgnition) {
		ign, err := boot.Ignition(bu, target)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: path.Join(dir, "ignition.json"), Mode: 0o644, Data: ign})
	}
	if s.Wants(spec.OutputCloudConfig) {
		cc, err := boot.CloudConfig(m)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: path.Join(dir, "cloud-config.yaml"), Mode: 0o644, Data: []byte(cc)})
	}
	for _, f := range boot.Rootfs(m) {
		out = append(out, File{Path: path.Join(dir, "rootfs", f.Path), Mode: f.Mode, Data: []byte(f.Contents), OnNode: true})
	}
	return out, nil
}

// File is one file of the output tree.
type File struct {
	Path   string // slash-separated, relative to the tree's root
	Mode   fs.FileMode
	Data   []byte
	OnNode bool // a file of a rootfs/ tree: Mode is its mode on the node
}
