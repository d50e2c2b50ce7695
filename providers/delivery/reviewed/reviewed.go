// Package reviewed reads the machines to deliver from what `rampart gen`
// wrote and a person reviewed: the output tree, and the final userdata in
// the state directory for the machines whose userdata carries keys. It
// first checks, as `rampart gen --check` does, that both are what the spec
// and the state make, and refuses them when they are not (*StaleError). It
// never builds what it delivers: the bytes come from the files.
package reviewed

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/delivery"
)

// Machines returns the machines to deliver for the spec, in the order gen
// makes them (the roles without etcd, then the etcd members, in spec
// order), with their userdata in every format the spec outputs: read from
// the output tree at tree for a machine without secrets, from st's final
// userdata for one with them, and EtcdCA from the manifest's
// etcd_ca_sha256 for those.
//
// Before anything is read it checks tree and st against the spec with
// `rampart gen --check` itself (gen.Run with Check): a missing tree is a
// *NoTreeError, a stale one (or stale final userdata, or a tree holding a
// private key) a *StaleError listing every file; a state behind the spec
// fails as gen --check does (pki.ErrStale, pki.ErrNoCA). Nothing is
// delivered from a tree that is not the one the spec makes.
func Machines(s *spec.Spec, tree string, st *pki.State) ([]delivery.Machine, error) {
	if !gen.IsTree(tree) {
		return nil, &NoTreeError{Spec: s.File, Tree: tree, State: st.Dir}
	}
	// the check of `rampart gen --check`, run by the same code
	check, err := gen.Run(gen.Options{Spec: s, Out: tree, State: st.Dir, Check: true})
	if err != nil {
		return nil, err
	}
	stale := gen.StaleReport(tree, check.Stale)
	stale.Merge(gen.StaleReport(st.Dir, check.StaleUserdata))
	if !stale.Empty() {
		return nil, &StaleError{Spec: s.File, Tree: tree, State: st.Dir, Stale: stale}
	}
	built := check.Output
	manifest, err := gen.ReadManifest(tree)
	if err != nil {
		return nil, err
	}
	secret := map[string][]byte{} // final userdata by its path in the state
	for _, f := range built.Userdata {
		secret[f.Path] = f.Data
	}
	var out []delivery.Machine
	add := func(kind, name, role string) error {
		m := delivery.Machine{Kind: kind, Name: name, Role: role, Userdata: map[string][]byte{}}
		for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
			if !s.Wants(format) {
				continue
			}
			var p string
			var want []byte
			if data, ok := secret[gen.UserdataPath(kind, name, format)]; ok {
				p, want = filepath.Join(st.Dir, filepath.FromSlash(gen.UserdataPath(kind, name, format))), data
				if manifest.EtcdCASHA256 == "" {
					return fmt.Errorf("%s: %s %s carries keys, and the manifest names no etcd CA (etcd_ca_sha256)", filepath.Join(tree, gen.ManifestName), kind, name)
				}
				m.EtcdCA = manifest.EtcdCASHA256
			} else {
				rel := path.Join(kind+"s", name, gen.UserdataName[format])
				f := built.Tree.File(rel)
				if f == nil {
					return fmt.Errorf("%s: the output tree has no %s for %s %s", tree, rel, kind, name)
				}
				p, want = filepath.Join(tree, filepath.FromSlash(rel)), f.Data
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			// a gen that ran between the check and the read: what is
			// delivered must still be what the spec makes
			if !bytes.Equal(data, want) {
				return &StaleError{Spec: s.File, Tree: tree, State: st.Dir, Stale: gen.StaleReport("", []gen.Stale{gen.StaleAt(p, gen.MsgChanged)})}
			}
			m.Userdata[format] = data
		}
		out = append(out, m)
		return nil
	}
	for _, r := range s.Roles {
		if !r.Etcd {
			if err := add(delivery.KindRole, r.Name, r.Name); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range s.Nodes {
		if etcd.IsMember(s, n) {
			if err := add(delivery.KindNode, n.Name, n.Role); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
