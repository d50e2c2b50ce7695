package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"runtime"
	"sync"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Option changes what Generate reads.
type Option func(*options)

type options struct {
	state *pki.State
}

// WithState names the state directory the etcd members' certificates are
// read from. Generate only reads it; pki.State.Ensure fills it.
func WithState(st *pki.State) Option { return func(o *options) { o.state = st } }

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
