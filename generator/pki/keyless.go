package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ErrKeysMissing is the error of a state that holds certificates without
// their private keys, such as a copy of the state without its keys: it
// serves the public output tree (LoadCertificates), not the final userdata.
var ErrKeysMissing = errors.New("the state directory holds certificates without their private keys")

// MissingKeys lists, relative to the state directory, every private key
// whose certificate the state holds without it: in cas the CAs' (the
// current one and, during a rolling rotation, the next and the previous),
// in leaves each leaf's of the cluster (client roles, then members). A copy
// of the state without its keys lists them all; a state whose CA key is
// kept elsewhere lists that one. It only reads.
func (st *State) MissingKeys(cluster string, members []Member) (cas, leaves []string, err error) {
	if err := checkMembers(members); err != nil {
		return nil, nil, err
	}
	without := func(certRel, keyRel string) (bool, error) {
		if _, err := os.Lstat(st.abs(certRel)); errors.Is(err, fs.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		_, err := os.Lstat(st.abs(keyRel))
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return false, err
	}
	for _, ca := range [][2]string{{CACert, CAKey}, {NextCACert, NextCAKey}, {PrevCACert, PrevCAKey}} {
		missing, err := without(ca[0], ca[1])
		if err != nil {
			return nil, nil, err
		}
		if missing {
			cas = append(cas, ca[1])
		}
	}
	for _, ls := range leafSpecs(cluster, members) {
		missing, err := without(ls.certPath, ls.keyPath)
		if err != nil {
			return nil, nil, err
		}
		if missing {
			leaves = append(leaves, ls.keyPath)
		}
	}
	return cas, leaves, nil
}

// NeedKeys returns an ErrKeysMissing error naming every leaf key the final
// userdata needs and the state holds the certificate of without it; nil
// when none is missing.
func (st *State) NeedKeys(cluster string, members []Member) error {
	_, leaves, err := st.MissingKeys(cluster, members)
	if err != nil || len(leaves) == 0 {
		return err
	}
	paths := make([]string, len(leaves))
	for i, l := range leaves {
		paths[i] = st.abs(l)
	}
	return fmt.Errorf("%w: the final userdata needs them; missing: %s (a copy of the state without its keys serves the public tree only: gen --tree-only and gen --check; a key that is lost needs a new pair: rampart certs rotate)", ErrKeysMissing, strings.Join(paths, ", "))
}
