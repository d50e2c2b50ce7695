package gen

import (
	"path"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// FirewallDir is where a node's firewall files land.
const FirewallDir = "/etc/rampart/firewall"

// FirewallUnit is the unit that loads the firewall at boot.
const FirewallUnit = "rampart-firewall.service"

// DockerUnit gets the drop-in DockerDropin with the iptables backend: when
// Docker has started (and put its rules ahead of everything in FORWARD),
// the firewall script puts rampart's jumps first again.
const (
	DockerUnit   = "docker.service"
	DockerDropin = "20-rampart-firewall.conf"
)

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
// members boots with its own. The etcd members' certificates are not part of
// it: they come from the state directory (Generate).
func Machines(s *spec.Spec, p *policy.Policy) ([]*boot.Machine, error) {
	return machines(s, p, "")
}

// machines is Machines where the etcd member named joining joins a running
// cluster instead of bootstrapping it.
func machines(s *spec.Spec, p *policy.Policy, joining string) ([]*boot.Machine, error) {
	jobs := machineJobs(s, p, joining)
	out := make([]*boot.Machine, len(jobs))
	for i, job := range jobs {
		m, err := job()
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// machineJobs lists, in the order of Machines, the functions that assemble
// each machine, so that Build can run them in parallel.
func machineJobs(s *spec.Spec, p *policy.Policy, joining string) []func() (*boot.Machine, error) {
	var jobs []func() (*boot.Machine, error)
	for _, r := range s.Roles {
		if r.Etcd {
			continue
		}
		jobs = append(jobs, func() (*boot.Machine, error) { return roleMachine(s, p, r.Name) })
	}
	for _, n := range s.Nodes {
		if !etcd.IsMember(s, n) {
			continue
		}
		jobs = append(jobs, func() (*boot.Machine, error) { return nodeMachine(s, p, n, n.Name == joining) })
	}
	return jobs
}

func roleMachine(s *spec.Spec, p *policy.Policy, role string) (*boot.Machine, error) {
	m, err := machine(s, p, "role", role, role, "")
	if err != nil {
		return nil, err
	}
	if r := s.Role(role); r != nil && r.EtcdClient {
		m.Files = append(m.Files, etcd.ClientSettings(s, role)...)
	}
	return m, nil
}

// nodeMachine is the machine of an etcd member; joining makes it join a
// running cluster.
func nodeMachine(s *spec.Spec, p *policy.Policy, n *spec.Node, joining bool) (*boot.Machine, error) {
	m, err := machine(s, p, "node", n.Name, n.Role, n.Name)
	if err != nil {
		return nil, err
	}
	state := etcd.New
	if joining {
		state = etcd.Existing
	}
	units, err := etcd.Units(s, n, state)
	if err != nil {
		return nil, err
	}
	m.Units = append(m.Units, units...)
	return m, nil
}

func machine(s *spec.Spec, p *policy.Policy, kind, name, role, hostname string) (*boot.Machine, error) {
	m := &boot.Machine{Kind: kind, Name: name, Cluster: s.Cluster, Hostname: hostname,
		Packages: packages[s.Firewall.Backend], Flavor: s.CloudConfig.Flavor,
		Users: bootUsers(s.UsersOf(role)), Snippets: bootSnippets(s.SnippetsOf(role, hostname))}
	var fw []firewall.File
	var script string
	var err error
	scriptPath := ScriptPath[s.OS.Variant]
	switch s.Firewall.Backend {
	case "nftables":
		fw = firewall.RenderNFTables(p, role)
		script, err = boot.RenderTemplate("firewall-nftables.sh.tmpl", map[string]any{"Dir": FirewallDir, "Table": firewall.NFTTable, "Failsafe": firewall.NFTFailsafeTable})
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
	if s.Firewall.Backend != "nftables" {
		dropin, err := boot.RenderUnit("docker-rampart-firewall.conf.tmpl", map[string]any{"Script": scriptPath})
		if err != nil {
			return nil, err
		}
		m.Units = append(m.Units, boot.Unit{Name: DockerUnit, Dropins: []boot.Dropin{{Name: DockerDropin, Contents: dropin}}})
	}
	return m, nil
}

// bootUsers are the spec's users of a machine, for the boot documents.
func bootUsers(us []spec.User) []boot.User {
	var out []boot.User
	for _, u := range us {
		out = append(out, boot.User{Name: u.Name, SSHAuthorizedKeys: u.SSHAuthorizedKeys, Groups: u.Groups})
	}
	return out
}

// bootSnippets are the spec's snippets of a machine, for the boot
// documents, in the order they are merged.
func bootSnippets(ss []*spec.Snippet) []boot.Snippet {
	var out []boot.Snippet
	for _, sn := range ss {
		out = append(out, boot.Snippet{File: sn.File, Ignition: sn.Ignition, Writes: sn.Writes, At: sn.At})
	}
	return out
}

// ignition translates a machine's Butane document and merges its snippets
// into the result: the machine's Ignition config as it boots.
func ignition(m *boot.Machine, butane string, target boot.Target) ([]byte, error) {
	out, err := boot.Ignition(butane, target)
	if err != nil {
		return nil, err
	}
	return boot.MergeSnippets(out, m.Snippets, target)
}

func backendName(b string) string {
	if b == "nftables" {
		return "nftables"
	}
	return "ipset and iptables"
}
