package gen

import (
	"fmt"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

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
	if err == nil {
		err = st.Trusting(mat) // the CA file holds a rolling rotation's bundle
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", st.Dir, err)
	}
	return mat, nil
}

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
