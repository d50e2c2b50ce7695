package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

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

// render renders a machine's userdata in one format.
func render(m *boot.Machine, target boot.Target, format string) ([]byte, error) {
	switch format {
	case spec.OutputIgnition:
		if err := boot.CheckSnippets(m); err != nil {
			return nil, err
		}
		bu, err := boot.Butane(m, target)
		if err != nil {
			return nil, err
		}
		return ignition(m, bu, target)
	case spec.OutputCloudConfig:
		cc, err := boot.CloudConfig(m)
		return []byte(cc), err
	}
	return nil, fmt.Errorf("userdata format %q: want %s or %s", format, spec.OutputIgnition, spec.OutputCloudConfig)
}

// FinalUserdata returns the userdata to boot one machine with, exactly as
// a provider must hand it over: for kind "node", an etcd member by name;
// for kind "role", every other member of the role (nodes and pools alike).
// format is spec.OutputIgnition ("ignition": Ignition JSON) or
// spec.OutputCloudConfig ("cloud-config": a #cloud-config document of the
// spec's flavour); either may be asked for, whatever the spec's outputs
// say, but cloud-config for Fedora CoreOS, which reads none.
//
// The bytes are those `rampart gen` writes: for an etcd member, and for a
// role with etcd_client (the role's etcd client key), the userdata it
// writes under the state directory (UserdataPath), private keys included;
// for any other role, the tree's file. They depend only on the spec and
// the state, so two calls give the same bytes.
//
// It only reads: st must hold what gen made for the spec (pki.State.Ensure),
// else the error says what is missing or stale. st may be nil for a role
// without etcd_client. The result for a member or an etcd_client role is
// secret: keep it out of logs and out of files others can read.
func FinalUserdata(s *spec.Spec, st *pki.State, kind, name, format string) ([]byte, error) {
	return userdata(s, st, kind, name, format, false)
}

// ReplacementUserdata is FinalUserdata for an etcd member that replaces a
// lost one and joins the running cluster (ETCD_INITIAL_CLUSTER_STATE
// existing) instead of bootstrapping it; the rest is identical.
func ReplacementUserdata(s *spec.Spec, st *pki.State, node, format string) ([]byte, error) {
	return userdata(s, st, "node", node, format, true)
}

func userdata(s *spec.Spec, st *pki.State, kind, name, format string, joining bool) ([]byte, error) {
	if _, ok := UserdataName[format]; !ok {
		return nil, fmt.Errorf("userdata format %q: want %s or %s", format, spec.OutputIgnition, spec.OutputCloudConfig)
	}
	if format == spec.OutputCloudConfig && s.OS.Variant == "fcos" {
		return nil, fmt.Errorf("userdata format %s: Fedora CoreOS reads no cloud-config (it runs neither cloud-init nor coreos-cloudinit); use %s", format, spec.OutputIgnition)
	}
	p := policy.Compile(s)
	target := boot.Target{Variant: s.OS.Variant, Version: s.OS.Version}
	var m *boot.Machine
	var err error
	switch kind {
	case "role":
		r := s.Role(name)
		if r == nil || r.Etcd {
			return nil, fmt.Errorf("%w: role %q (%s)", ErrNoMachine, name, roleHint(s))
		}
		if m, err = roleMachine(s, p, name); err != nil || !r.EtcdClient {
			break
		}
		if len(etcd.Members(s)) == 0 {
			return nil, ErrNoEtcdMember
		}
		var mat *pki.Material
		if mat, err = loadMaterial(s, st, etcd.Members(s), true); err != nil {
			return nil, err
		}
		_, m, err = withCertificates(s, m, mat)
	case "node":
		n := s.Node(name)
		if n == nil || !etcd.IsMember(s, n) {
			return nil, fmt.Errorf("%w: node %q is not an etcd member; etcd members: %s", ErrNoMachine, name, strings.Join(memberNames(s), ", "))
		}
		m, err = nodeMachine(s, p, n, joining)
		if err != nil {
			return nil, err
		}
		var mat *pki.Material
		mat, err = loadMaterial(s, st, []pki.Member{{Name: n.Name, Addresses: n.Addresses, Role: n.Role}}, true)
		if err != nil {
			return nil, err
		}
		_, m, err = withCertificates(s, m, mat)
	default:
		return nil, fmt.Errorf("%w: kind %q, want role or node", ErrNoMachine, kind)
	}
	if err != nil {
		return nil, err
	}
	return render(m, target, format)
}

func roleHint(s *spec.Spec) string {
	var names []string
	for _, r := range s.Roles {
		if !r.Etcd {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return "the spec has no role without etcd"
	}
	return "roles: " + strings.Join(names, ", ")
}

func memberNames(s *spec.Spec) []string {
	var out []string
	for _, m := range etcd.Members(s) {
		out = append(out, m.Name)
	}
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// WriteUserdata puts the final userdata into the state directory, 0600 in
// directories 0700: a file that already holds the same bytes is left
// untouched, and userdata of machines the spec no longer makes (or of
// formats it no longer asks for) is removed. It returns the paths it wrote
// or removed, relative to the state directory.
func (o *Output) WriteUserdata(st *pki.State) (written, removed []string, err error) {
	unlock, err := st.Lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	keep := map[string]bool{}
	for _, f := range o.Userdata {
		keep[f.Path] = true
		w, err := st.WriteFile(f.Path, f.Data, f.Mode)
		if err != nil {
			return nil, nil, err
		}
		if w {
			written = append(written, f.Path)
		}
	}
	root := filepath.Join(st.Dir, UserdataDir)
	var dirs []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return fs.SkipDir
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(st.Dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		if keep[rel] || !isUserdataName(path.Base(rel)) {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		removed = append(removed, rel)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		_ = os.Remove(d) // only empty directories go
	}
	return written, removed, nil
}

// CheckUserdata compares the final userdata in the state directory with
// what this run makes, without writing: each file that differs, is missing
// or has another mode than 0600 (Path relative to the state directory).
// A run without secrets checks nothing.
func (o *Output) CheckUserdata(st *pki.State) ([]Stale, error) {
	var out []Stale
	for _, f := range o.Userdata {
		p := filepath.Join(st.Dir, filepath.FromSlash(f.Path))
		data, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, stale(f.Path, MsgMissing))
			continue
		case err != nil:
			return nil, err
		case !bytes.Equal(data, f.Data):
			out = append(out, stale(f.Path, MsgDiffers))
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if info.Mode().Perm() != f.Mode.Perm() {
			out = append(out, stale(f.Path, msgMode, info.Mode().Perm(), f.Mode.Perm()))
		}
	}
	return out, nil
}

func isUserdataName(base string) bool {
	for _, n := range UserdataName {
		if n == base {
			return true
		}
	}
	return false
}
