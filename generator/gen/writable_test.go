package gen_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rampart-cluster/rampart/generator/gen"
)

// readOnly mounts an empty read-only file system at dir: a directory no
// one, root included, can create anything in.
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("rampart-ro", dir, "tmpfs", unix.MS_RDONLY, "size=64k"); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("mounting a read-only file system needs root: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
}

// listing names every file and directory under dir.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestRunUnwritable: gen checks that it can write the output tree's parent
// and the state directory (or its parent) before it creates a CA or a key:
// a missing, non-directory or read-only one is an error that names it, and
// nothing is created, in the state or anywhere else.
func TestRunUnwritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := loadFixture(t, "dcos-packet")
	ro := filepath.Join(dir, "ro")
	readOnly(t, ro)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, out, state, want string
	}{
		{"missing parent of the tree", "missing/out", "state", "missing does not exist: it must hold the output tree"},
		{"tree's parent a file", "file/out", "state", "file is not a directory: it must hold the output tree"},
		{"read-only parent of the tree", "ro/out", "state", "cannot write in " + ro + ", which must hold the output tree " + filepath.Join(ro, "out") + ": read-only file system"},
		{"missing parent of the state", "out", "missing/state", "missing does not exist: it must hold the state directory"},
		{"read-only parent of the state", "out", "ro/state", "cannot write in " + ro + ", which must hold the state directory " + filepath.Join(ro, "state") + ": read-only file system"},
		{"read-only state", "out", "ro", "cannot write in " + ro + ", which must hold the state directory: read-only file system"},
	} {
		before := listing(t, dir)
		_, err := gen.Run(gen.Options{Spec: s, Out: filepath.Join(dir, c.out), State: filepath.Join(dir, c.state)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
		if after := listing(t, dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Errorf("%s: the refused run created files:\n%s\nbefore:\n%s", c.name, strings.Join(after, "\n"), strings.Join(before, "\n"))
		}
	}
}
