package pki

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// looseKeys are the keys a run found readable by others, with their modes.
type looseKeys struct {
	rels  []string
	modes []fs.FileMode
}

// readKey reads the key file rel and checks its mode: group and others
// must have no access. A looser key is noted in loose, to be tightened by
// the run (tighten); without loose (a run that only reads) it is refused.
func (st *State) readKey(rel string, loose *looseKeys) ([]byte, error) {
	p := st.abs(rel)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBroken, p)
	}
	if mode := info.Mode().Perm(); mode&0o077 != 0 {
		if loose == nil {
			return nil, fmt.Errorf("%w: %s is mode %04o; a key must be %04o: rampart gen tightens it (or chmod %o it)", ErrKeyMode, p, mode, KeyMode, KeyMode)
		}
		loose.rels = append(loose.rels, rel)
		loose.modes = append(loose.modes, mode)
	}
	return io.ReadAll(f)
}

// tighten makes every loose key 0600 and reports each; a key whose mode
// cannot be changed (owned by another user, a read-only file system) stops
// the run.
func (st *State) tighten(loose *looseKeys) ([]Change, error) {
	var changes []Change
	for i, rel := range loose.rels {
		if err := os.Chmod(st.abs(rel), KeyMode); err != nil {
			return nil, fmt.Errorf("%w: %s is mode %04o and cannot be made %04o (%v); fix its mode or owner by hand", ErrKeyMode, st.abs(rel), loose.modes[i], KeyMode, err)
		}
		changes = append(changes, Change{rel, fmt.Sprintf("tightened the mode of the key from %04o to %04o: it was readable by others", loose.modes[i], KeyMode)})
	}
	return changes, nil
}
