package pki

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// State is a state directory. Its methods that write take an exclusive lock
// on STATE/.lock, so two runs on one state do not interleave.
type State struct {
	Dir string // path of the state directory on disk
	// Now is the clock that dates what Ensure and Rotate issue; nil is
	// time.Now. Tests set it. Reading the state does not depend on the
	// date: an expired certificate is still read (certs list reports it).
	Now func() time.Time
}

// now is the time of an issue, to the second.
func (st *State) now() time.Time {
	clock := st.Now
	if clock == nil {
		clock = time.Now
	}
	return clock().UTC().Truncate(time.Second)
}

// Open returns the state directory at dir; nothing is read or created yet.
func Open(dir string) *State { return &State{Dir: dir} }

func (st *State) abs(rel string) string { return filepath.Join(st.Dir, filepath.FromSlash(rel)) }

// lock takes the state directory's lock, creating the directory if needed.
func (st *State) lock() (func(), error) {
	if err := st.mkdir("."); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(st.abs(lockName), os.O_RDWR|os.O_CREATE, KeyMode)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state %s is in use by another rampart run (%s is locked)", st.Dir, st.abs(lockName))
		}
		return nil, fmt.Errorf("locking %s: %w", st.abs(lockName), err)
	}
	return func() { f.Close() }, nil
}

// Lock takes the state directory's lock for a caller that writes other files
// there (the final userdata); the returned function releases it.
func (st *State) Lock() (func(), error) { return st.lock() }

// mkdir makes a directory of the state (and its parents inside it) 0700.
func (st *State) mkdir(rel string) error {
	p := st.abs(rel)
	if err := os.MkdirAll(p, DirMode); err != nil {
		return err
	}
	// MkdirAll honours the umask and leaves existing directories alone: an
	// existing state directory with a looser mode is tightened.
	for q := p; ; q = filepath.Dir(q) {
		if err := os.Chmod(q, DirMode); err != nil {
			return err
		}
		if filepath.Clean(q) == filepath.Clean(st.Dir) || filepath.Dir(q) == q {
			break
		}
	}
	return nil
}

// WriteFile writes data to rel in the state directory atomically (a
// temporary file renamed over it) with mode, unless the file already holds
// exactly data with that mode: an unchanged file is not touched. It reports
// whether it wrote.
func (st *State) WriteFile(rel string, data []byte, mode fs.FileMode) (bool, error) {
	p := st.abs(rel)
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
		if info, err := os.Stat(p); err == nil && info.Mode().Perm() == mode {
			return false, nil
		}
	}
	if err := st.mkdir(path.Dir(rel)); err != nil {
		return false, err
	}
	return true, WriteAtomic(p, data, mode)
}

// WriteAtomic writes data to the file p with mode through a temporary file
// in the same directory renamed over p, so that p is never seen half
// written and never, even for a moment, with a looser mode.
func WriteAtomic(p string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// writePair writes the key first: a run that stops between the two leaves a
// key without certificate, which the next run certifies, never a
// certificate without its key.
func (st *State) writePair(keyRel string, keyPEM []byte, certRel string, certPEM []byte) error {
	if _, err := st.WriteFile(keyRel, keyPEM, KeyMode); err != nil {
		return err
	}
	_, err := st.WriteFile(certRel, certPEM, CertMode)
	return err
}
