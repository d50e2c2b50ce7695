// Package gen is the pipeline behind `rampart gen`: spec → policy → firewall
// files and units per role and node → Butane, Ignition, cloud-config → the
// output tree with its manifest, and the final userdata, keys included, in
// the state directory. Run is the whole command: the checks that the tree
// and the state belong together, the state's certificates, the tree and
// the final userdata, and a report of what it did.
package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sync"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/pki"
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
		Packages: packages[s.Firewall.Backend]}
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

func backendName(b string) string {
	if b == "nftables" {
		return "nftables"
	}
	return "ipset and iptables"
}

// Option changes what Generate reads.
type Option func(*options)

type options struct {
	state *pki.State
}

// WithState names the state directory the etcd members' certificates are
// read from. Generate only reads it; pki.State.Ensure fills it.
func WithState(st *pki.State) Option { return func(o *options) { o.state = st } }

// ErrNeedState is returned for a spec with etcd members when no state
// directory was given: their certificates live there.
var ErrNeedState = errors.New("the spec has etcd members, whose certificates come from the state directory, and none was given")

// Generate runs the whole pipeline for a validated spec and returns the
// output tree in memory (Build without the final userdata). A spec with
// etcd members needs WithState; of the state it reads the certificates
// only, never a key.
func Generate(s *spec.Spec, opts ...Option) (*Tree, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	out, err := build(s, o.state, false)
	if err != nil {
		return nil, err
	}
	return out.Tree, nil
}

// Output is what one run of the pipeline makes: the public output tree and
// the final userdata of every machine whose userdata carries secrets.
type Output struct {
	Tree *Tree // the public output tree: no secrets, manifest included
	// Userdata holds, for each machine with secrets, its final userdata in
	// every format the spec asks for; Path is relative to the state
	// directory (UserdataPath), Mode is 0600.
	Userdata []File
}

// UserdataDir is the directory of the state that holds final userdata.
const UserdataDir = "userdata"

// UserdataName is the file name of the userdata of each format.
var UserdataName = map[string]string{
	spec.OutputIgnition:    "ignition.json",
	spec.OutputCloudConfig: "cloud-config.yaml",
}

// UserdataPath is where the final userdata of a machine ("role" or "node")
// in a format lands, relative to the state directory.
func UserdataPath(kind, name, format string) string {
	return path.Join(UserdataDir, kind+"s", name, UserdataName[format])
}

// Build runs the whole pipeline: the certificates of the etcd members are
// read from st (which must be up to date: pki.State.Ensure), the machines
// are translated in parallel, and the result does not depend on the order
// they finish in. st may be nil for a spec without etcd members.
func Build(s *spec.Spec, st *pki.State) (*Output, error) {
	return build(s, st, true)
}

func build(s *spec.Spec, st *pki.State, withUserdata bool) (*Output, error) {
	p := policy.Compile(s)
	jobs := machineJobs(s, p, "")
	ms := make([]*boot.Machine, len(jobs))
	mat, err := loadMaterial(s, st, etcd.Members(s), withUserdata)
	if err != nil {
		return nil, err
	}
	target := boot.Target{Variant: s.OS.Variant, Version: s.OS.Version}
	type part struct {
		tree     []File
		secrets  []SecretEntry
		userdata []File
	}
	parts := make([]part, len(ms))
	errs := make([]error, len(ms))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				m, err := jobs[i]()
				if err != nil {
					errs[i] = err
					continue
				}
				ms[i] = m
				pub, final, err := withCertificates(s, m, mat)
				if err == nil {
					parts[i].tree, parts[i].secrets, err = machineFiles(s, pub, target)
				}
				if err == nil && final != nil && withUserdata {
					parts[i].userdata, err = userdataFiles(s, final, target)
				}
				errs[i] = err
			}
		}()
	}
	for i := range ms {
		work <- i
	}
	close(work)
	wg.Wait()
	out := &Output{Tree: &Tree{}}
	for i, m := range ms {
		switch {
		case errs[i] != nil && m == nil: // assembling the machine failed
			return nil, errs[i]
		case errs[i] != nil:
			return nil, fmt.Errorf("%s %s: %w", m.Kind, m.Name, errs[i])
		}
		out.Tree.Files = append(out.Tree.Files, parts[i].tree...)
		out.Tree.Secrets = append(out.Tree.Secrets, parts[i].secrets...)
		out.Userdata = append(out.Userdata, parts[i].userdata...)
	}
	if mat != nil {
		out.Tree.EtcdCA = pki.Fingerprint(mat.CA)
	}
	out.Tree.seal()
	return out, nil
}

// loadMaterial reads the certificates of members from the state, and
// their keys when the final userdata is wanted: the public tree needs none.
func loadMaterial(s *spec.Spec, st *pki.State, members []pki.Member, withKeys bool) (*pki.Material, error) {
	if len(members) == 0 {
		return nil, nil
	}
	if st == nil {
		return nil, ErrNeedState
	}
	load := st.LoadCertificates
	if withKeys {
		load = st.Load
	}
	mat, err := load(s.Cluster, members)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", st.Dir, err)
	}
	return mat, nil
}

// ErrNoEtcdMember is returned for a role with etcd_client in a spec
// without etcd members: there is no etcd to be a client of.
var ErrNoEtcdMember = errors.New("the role has etcd_client: true, and the spec has no etcd member (a node of an etcd role)")

// withCertificates completes the machine of an etcd member, or of a role
// with etcd_client, with its certificate files: the public machine lists
// the keys as withheld, the final one (nil for a machine without secrets)
// carries them.
func withCertificates(s *spec.Spec, m *boot.Machine, mat *pki.Material) (public, final *boot.Machine, err error) {
	var certs, keys []boot.File
	switch m.Kind {
	case "node":
		n := s.Node(m.Name)
		if n == nil || !etcd.IsMember(s, n) {
			return m, nil, nil
		}
		if mat == nil {
			return nil, nil, ErrNeedState
		}
		if certs, keys, err = etcd.MemberFiles(mat, n); err != nil {
			return nil, nil, err
		}
	case "role":
		if r := s.Role(m.Name); r == nil || !r.EtcdClient {
			return m, nil, nil
		}
		if len(etcd.Members(s)) == 0 {
			return nil, nil, ErrNoEtcdMember
		}
		if mat == nil {
			return nil, nil, ErrNeedState
		}
		if certs, keys, err = etcd.ClientFiles(mat, m.Name); err != nil {
			return nil, nil, err
		}
	default:
		return m, nil, nil
	}
	pub := *m
	pub.Files = append(append([]boot.File(nil), m.Files...), certs...)
	pub.Withheld = keys
	fin := pub
	fin.Withheld = nil
	fin.Files = append(append([]boot.File(nil), pub.Files...), keys...)
	return &pub, &fin, nil
}

// machineDir is where a machine's files go in the output tree.
func machineDir(m *boot.Machine) string {
	return path.Join(m.Kind+"s", m.Name)
}

func machineFiles(s *spec.Spec, m *boot.Machine, target boot.Target) ([]File, []SecretEntry, error) {
	dir := machineDir(m)
	var out []File
	bu, err := boot.Butane(m, target)
	if err != nil {
		return nil, nil, err
	}
	out = append(out, File{Path: path.Join(dir, "butane.yaml"), Mode: 0o644, Data: []byte(bu)})
	if s.Wants(spec.OutputIgnition) {
		ign, err := boot.Ignition(bu, target)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, File{Path: path.Join(dir, "ignition.json"), Mode: 0o644, Data: ign})
	}
	if s.Wants(spec.OutputCloudConfig) {
		cc, err := boot.CloudConfig(m)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, File{Path: path.Join(dir, "cloud-config.yaml"), Mode: 0o644, Data: []byte(cc)})
	}
	rootfs := boot.Rootfs(m)
	for _, f := range rootfs {
		out = append(out, File{Path: path.Join(dir, "rootfs", f.Path), Mode: f.Mode, Data: []byte(f.Contents), OnNode: true})
	}
	var secrets []SecretEntry
	for _, w := range m.Withheld {
		cert := etcd.CertOf(w.Path)
		e := SecretEntry{Path: path.Join(dir, "rootfs", w.Path), Mode: fmt.Sprintf("%04o", w.Mode.Perm()), Certificate: path.Join(dir, "rootfs", cert)}
		for _, f := range rootfs {
			if f.Path == cert {
				sum := sha256.Sum256([]byte(f.Contents))
				e.CertificateSHA256 = hex.EncodeToString(sum[:])
			}
		}
		if e.CertificateSHA256 == "" {
			return nil, nil, fmt.Errorf("secret %s has no certificate %s on the machine", w.Path, cert)
		}
		secrets = append(secrets, e)
	}
	return out, secrets, nil
}

// userdataFiles renders the final userdata of a machine with secrets in
// every format the spec asks for.
func userdataFiles(s *spec.Spec, m *boot.Machine, target boot.Target) ([]File, error) {
	var out []File
	for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
		if !s.Wants(format) {
			continue
		}
		data, err := render(m, target, format)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: UserdataPath(m.Kind, m.Name, format), Mode: pki.KeyMode, Data: data})
	}
	return out, nil
}

// render renders a machine's userdata in one format.
func render(m *boot.Machine, target boot.Target, format string) ([]byte, error) {
	switch format {
	case spec.OutputIgnition:
		bu, err := boot.Butane(m, target)
		if err != nil {
			return nil, err
		}
		return boot.Ignition(bu, target)
	case spec.OutputCloudConfig:
		cc, err := boot.CloudConfig(m)
		return []byte(cc), err
	}
	return nil, fmt.Errorf("userdata format %q: want %s or %s", format, spec.OutputIgnition, spec.OutputCloudConfig)
}

// File is one file of the output tree.
type File struct {
	Path   string      // slash-separated, relative to the tree's root
	Mode   fs.FileMode // permission bits it is written with
	Data   []byte      // the file's contents, byte for byte
	OnNode bool        // a file of a rootfs/ tree: Mode is its mode on the node
}
