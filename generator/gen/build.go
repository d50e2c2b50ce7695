package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/workers"
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
	mat, err := loadMaterial(s, st, etcd.Members(s), withUserdata)
	if err != nil {
		return nil, err
	}
	target := boot.Target{Variant: s.OS.Variant, Version: s.OS.Version}

	// 1. every machine assembled and its documents rendered, in parallel
	ms := make([]*boot.Machine, len(jobs))
	docs := make([]*documents, len(jobs))
	errs := make([]error, len(jobs))
	workers.Each(len(jobs), func(i int) {
		if ms[i], errs[i] = jobs[i](); errs[i] == nil {
			docs[i], errs[i] = prepare(s, ms[i], mat, target, withUserdata)
		}
	})
	if err := machineError(ms, errs); err != nil {
		return nil, err
	}

	// 2. the butane library translates every Butane document, the largest
	// first: the translations are most of the work, and a large one
	// started last would leave the other workers idle at the end
	var ts []*translation
	for i, d := range docs {
		for _, t := range d.translations() {
			t.machine = i
			ts = append(ts, t)
		}
	}
	sort.SliceStable(ts, func(a, b int) bool { return len(ts[a].butane) > len(ts[b].butane) })
	workers.Each(len(ts), func(k int) {
		*ts[k].ignition, ts[k].err = ignition(ms[ts[k].machine], ts[k].butane, target)
	})
	for _, t := range ts {
		if t.err != nil && errs[t.machine] == nil {
			errs[t.machine] = t.err
		}
	}
	if err := machineError(ms, errs); err != nil {
		return nil, err
	}

	// 3. the files, in the machines' order
	out := &Output{Tree: &Tree{}}
	for i, d := range docs {
		out.Tree.Files = append(out.Tree.Files, d.treeFiles(s, ms[i])...)
		out.Tree.Secrets = append(out.Tree.Secrets, d.secrets...)
		out.Userdata = append(out.Userdata, d.userdataFiles(s, ms[i])...)
	}
	if mat != nil {
		out.Tree.EtcdCA = pki.Fingerprint(pki.SigningCA(mat.CA))
	}
	out.Tree.seal()
	return out, nil
}

// machineError is the first machine's error, named by the machine when it
// was assembled.
func machineError(ms []*boot.Machine, errs []error) error {
	for i, err := range errs {
		switch {
		case err != nil && ms[i] == nil: // assembling the machine failed
			return err
		case err != nil:
			return fmt.Errorf("%s %s: %w", ms[i].Kind, ms[i].Name, err)
		}
	}
	return nil
}

// machineDir is where a machine's files go in the output tree.
func machineDir(m *boot.Machine) string {
	return path.Join(m.Kind+"s", m.Name)
}

// documents are what one machine becomes: its Butane document and, once
// translated, its Ignition; its cloud-config; its files on the node; its
// withheld secrets; and, for a machine with secrets, the same documents
// with them (its final userdata).
type documents struct {
	butane, cloudConfig           string
	wantsIgnition                 bool // the spec outputs Ignition: butane is translated
	ignition                      []byte
	rootfs                        []boot.File
	secrets                       []SecretEntry
	final                         bool // the machine has final userdata
	finalButane, finalCloudConfig string
	finalIgnition                 []byte
}

// translation is one Butane document for the butane library, and where its
// Ignition goes.
type translation struct {
	butane   string
	ignition *[]byte
	machine  int
	err      error
}

// prepare renders a machine's documents, all but the Ignition translations.
func prepare(s *spec.Spec, m *boot.Machine, mat *pki.Material, target boot.Target, withUserdata bool) (*documents, error) {
	pub, final, err := withCertificates(s, m, mat)
	if err != nil {
		return nil, err
	}
	if err := boot.CheckSnippets(pub); err != nil {
		return nil, err
	}
	d := &documents{wantsIgnition: s.Wants(spec.OutputIgnition)}
	if d.butane, err = boot.Butane(pub, target); err != nil {
		return nil, err
	}
	if s.Wants(spec.OutputCloudConfig) {
		if d.cloudConfig, err = boot.CloudConfig(pub); err != nil {
			return nil, err
		}
	}
	d.rootfs = boot.Rootfs(pub)
	if d.secrets, err = secretEntries(pub, d.rootfs); err != nil {
		return nil, err
	}
	if final != nil && withUserdata {
		d.final = true
		if s.Wants(spec.OutputIgnition) {
			if d.finalButane, err = boot.Butane(final, target); err != nil {
				return nil, err
			}
		}
		if s.Wants(spec.OutputCloudConfig) {
			if d.finalCloudConfig, err = boot.CloudConfig(final); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// translations are the machine's Butane documents to translate.
func (d *documents) translations() []*translation {
	var out []*translation
	if d.wantsIgnition {
		out = append(out, &translation{butane: d.butane, ignition: &d.ignition})
	}
	if d.finalButane != "" {
		out = append(out, &translation{butane: d.finalButane, ignition: &d.finalIgnition})
	}
	return out
}

// treeFiles are the machine's files of the output tree, in their order:
// butane.yaml, ignition.json, cloud-config.yaml, then the files on the node.
func (d *documents) treeFiles(s *spec.Spec, m *boot.Machine) []File {
	dir := machineDir(m)
	out := []File{{Path: path.Join(dir, "butane.yaml"), Mode: 0o644, Data: []byte(d.butane)}}
	if s.Wants(spec.OutputIgnition) {
		out = append(out, File{Path: path.Join(dir, "ignition.json"), Mode: 0o644, Data: d.ignition})
	}
	if s.Wants(spec.OutputCloudConfig) {
		out = append(out, File{Path: path.Join(dir, "cloud-config.yaml"), Mode: 0o644, Data: []byte(d.cloudConfig)})
	}
	for _, f := range d.rootfs {
		out = append(out, File{Path: path.Join(dir, "rootfs", f.Path), Mode: f.Mode, Data: []byte(f.Contents), OnNode: true})
	}
	return out
}

// userdataFiles are the machine's final userdata in every format the spec
// asks for, under the state directory; none for a machine without secrets.
func (d *documents) userdataFiles(s *spec.Spec, m *boot.Machine) []File {
	if !d.final {
		return nil
	}
	var out []File
	if s.Wants(spec.OutputIgnition) {
		out = append(out, File{Path: UserdataPath(m.Kind, m.Name, spec.OutputIgnition), Mode: pki.KeyMode, Data: d.finalIgnition})
	}
	if s.Wants(spec.OutputCloudConfig) {
		out = append(out, File{Path: UserdataPath(m.Kind, m.Name, spec.OutputCloudConfig), Mode: pki.KeyMode, Data: []byte(d.finalCloudConfig)})
	}
	return out
}

// secretEntries lists the machine's withheld keys for the manifest, each
// with the sha256 of its certificate on the node.
func secretEntries(m *boot.Machine, rootfs []boot.File) ([]SecretEntry, error) {
	dir := machineDir(m)
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
			return nil, fmt.Errorf("secret %s has no certificate %s on the machine", w.Path, cert)
		}
		secrets = append(secrets, e)
	}
	return secrets, nil
}
