package gen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// File is one file of the output tree.
type File struct {
	Path   string      // slash-separated, relative to the tree's root
	Mode   fs.FileMode // permission bits it is written with
	Data   []byte      // the file's contents, byte for byte
	OnNode bool        // a file of a rootfs/ tree: Mode is its mode on the node
}

// Tree is a complete output tree in memory, manifest included.
type Tree struct {
	Files   []File        // sorted by path; the manifest is the last one
	Secrets []SecretEntry // secret files the tree leaves out, sorted by path
	// EtcdCA is the sha256 of the etcd CA certificate (the state's
	// etcd/ca.crt) the tree was made with; "" without etcd members.
	EtcdCA string
}

// File returns the tree's file at path, or nil.
func (t *Tree) File(path string) *File {
	for i := range t.Files {
		if t.Files[i].Path == path {
			return &t.Files[i]
		}
	}
	return nil
}

// Write puts the tree at dir atomically: it is written whole beside dir and
// then exchanged with it in one rename, so a failed run leaves the previous
// tree as it was and no reader ever sees half of one.
func (t *Tree) Write(dir string) error {
	dir = filepath.Clean(dir)
	if err := checkReplaceable(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".rampart-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, f := range t.Files {
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeFile(p, f.Data, f.Mode.Perm()); err != nil {
			return err
		}
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(tmp, dir)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("replacing %s: %w", dir, err)
		}
		// file systems without RENAME_EXCHANGE: move the old tree aside first
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
		if err := os.Rename(tmp, dir); err != nil {
			_ = os.Rename(old, dir)
			return err
		}
		return os.RemoveAll(old)
	}
	return nil // the deferred RemoveAll deletes the previous tree, now at tmp
}

func writeFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil { // the umask must not change what the manifest says
		f.Close()
		return err
	}
	return f.Close()
}

func checkReplaceable(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		return fmt.Errorf("%s %w", dir, ErrNotATree)
	}
	return nil
}
