package gen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/rampart-cluster/rampart/generator/pki"
)

// CheckWritable makes sure, before anything is created, that the run can
// write what it must: the directory that holds the output tree (the tree
// is written beside out and renamed over it) and, when withState, the
// state directory (or, while it does not exist, the directory that will
// hold it). A missing or unwritable one would otherwise be found only
// after the CA and the keys were made.
func CheckWritable(out, state string, withState bool) error {
	if err := writableDir(filepath.Dir(filepath.Clean(out)), "the output tree "+out); err != nil {
		return err
	}
	if !withState {
		return nil
	}
	dir, what := filepath.Clean(state), "the state directory"
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		dir, what = filepath.Dir(dir), "the state directory "+state
	}
	return writableDir(dir, what)
}

// writableDir says what is wrong with dir, which must hold what, when it
// is no directory rampart can create files in.
func writableDir(dir, what string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("gen: %s does not exist: it must hold %s; create it first (nothing was written)", dir, what)
	case err != nil:
		return fmt.Errorf("gen: %w (nothing was written)", err)
	case !info.IsDir():
		return fmt.Errorf("gen: %s is not a directory: it must hold %s (nothing was written)", dir, what)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("gen: cannot write in %s, which must hold %s: %w (nothing was written)", dir, what, err)
	}
	return nil
}

// CheckNesting refuses an output tree and a state directory inside one
// another, before either is touched: a state inside the tree would be
// swept away when the tree is replaced (and be published with it), and a
// tree inside the state directory mixes what is shared with what is
// secret.
func CheckNesting(out, state string) error {
	stateInTree, err := Within(state, out)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if stateInTree {
		return &nestedError{fmt.Sprintf("gen: the state directory %s is inside the output tree %s: the tree is replaced whole on every run and is meant to be shared, and the state holds the private keys; keep them apart (e.g. -o out --state state)", state, out)}
	}
	treeInState, err := Within(out, state)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if treeInState {
		return &nestedError{fmt.Sprintf("gen: the output tree %s is inside the state directory %s: the tree is meant to be reviewed and shared, the state holds the private keys; keep them apart (e.g. -o out --state state)", out, state)}
	}
	return nil
}

// CheckTreeCA refuses to replace an output tree made with another etcd CA
// than the state's, unless the state records that CA as replaced (certs
// rotate --ca): the state is then most likely another directory's (--state
// is relative to the current directory), or missing, and gen would give
// the members certificates the running cluster does not trust. It runs
// before the state is touched, so that a wrong --state gets no new CA.
func CheckTreeCA(out string, st *pki.State) error {
	if !IsTree(out) {
		return nil
	}
	m, err := ReadManifest(out)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if m.EtcdCASHA256 == "" {
		return nil // no etcd, or a tree made before rampart recorded its CA
	}
	have, err := st.CAFingerprint()
	noCA := errors.Is(err, pki.ErrNoCA)
	if err != nil && !noCA {
		return fmt.Errorf("gen: state %s: %w", st.Dir, err)
	}
	if have == m.EtcdCASHA256 {
		return nil
	}
	replaced, err := st.ReplacedCAs()
	if err != nil {
		return fmt.Errorf("gen: state %s: %w", st.Dir, err)
	}
	if slices.Contains(replaced, m.EtcdCASHA256) {
		return nil // rotated on purpose
	}
	abs, _ := filepath.Abs(st.Dir)
	what := "holds no etcd CA, and gen would create a new one"
	if !noCA {
		what = "holds the etcd CA " + have
	}
	return fmt.Errorf("gen: %s was made with the etcd CA %s, but the state directory %s (%s) %s; is --state right? (it is relative to the current directory.) If the CA was replaced on purpose, use rampart certs rotate --ca, or pass --new-ca", out, m.EtcdCASHA256, st.Dir, abs, what)
}
