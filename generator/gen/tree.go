package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// ManifestName is the manifest's name at the root of the output tree.
const ManifestName = "manifest.json"

// Tree is a complete output tree in memory, manifest included.
type Tree struct {
	Files   []File        // sorted by path; the manifest is the last one
	Secrets []SecretEntry // secret files the tree leaves out, sorted by path
	// EtcdCA is the sha256 of the etcd CA certificate (the state's
	// etcd/ca.crt) the tree was made with; "" without etcd members.
	EtcdCA string
}

// Manifest lists every file of the tree with its size and sha256, the
// secret files the tree leaves out, and the fingerprint of the etcd CA the
// tree was made with.
type Manifest struct {
	Files   []ManifestEntry `json:"files"`             // every file of the tree but the manifest, sorted by path
	Secrets []SecretEntry   `json:"secrets,omitempty"` // as Tree.Secrets; omitted when there are none
	// EtcdCASHA256 is the sha256 (hex) of the etcd CA certificate, as
	// pki.State.CAFingerprint gives it; empty for a cluster without etcd.
	// gen refuses to replace a tree made with another CA (the state of
	// another directory) unless the CA was replaced on purpose.
	EtcdCASHA256 string `json:"etcd_ca_sha256,omitempty"`
}

// ReadManifest reads the manifest of the output tree at dir.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	return &m, nil
}

// SecretEntry is a file a machine boots with that the tree leaves out
// because it is secret (a private key): where it would be in the tree, its
// mode on the node, and its certificate, which is in the tree, with the
// certificate's sha256. The final userdata in the state directory carries it.
type SecretEntry struct {
	Path              string `json:"path"`               // where the key would be in the tree: <machine dir>/rootfs/<path on the node>
	Mode              string `json:"mode"`               // its mode on the node, 4-digit octal, e.g. "0600"
	Certificate       string `json:"certificate"`        // tree path of the key's certificate, which the tree holds
	CertificateSHA256 string `json:"certificate_sha256"` // sha256 (hex) of that certificate's contents
}

// ManifestEntry describes one file of the tree. Mode is the file's mode on the
// node for files under a rootfs/ directory, and 0644 otherwise.
type ManifestEntry struct {
	Path   string `json:"path"`   // slash-separated, relative to the tree's root
	Size   int    `json:"size"`   // in bytes
	SHA256 string `json:"sha256"` // sha256 (hex) of the contents
	Mode   string `json:"mode"`   // 4-digit octal permission bits, e.g. "0644"
}

// seal sorts the files and appends the manifest.
func (t *Tree) seal() {
	sort.Slice(t.Files, func(i, j int) bool { return t.Files[i].Path < t.Files[j].Path })
	sort.Slice(t.Secrets, func(i, j int) bool { return t.Secrets[i].Path < t.Secrets[j].Path })
	m := Manifest{Files: make([]ManifestEntry, len(t.Files)), Secrets: t.Secrets, EtcdCASHA256: t.EtcdCA}
	// the digests of large trees are worth spreading over the CPUs
	workers := min(runtime.GOMAXPROCS(0), len(t.Files))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(t.Files); i += workers {
				f := t.Files[i]
				sum := sha256.Sum256(f.Data)
				m.Files[i] = ManifestEntry{Path: f.Path, Size: len(f.Data), SHA256: hex.EncodeToString(sum[:]), Mode: fmt.Sprintf("%04o", f.Mode.Perm())}
			}
		}()
	}
	wg.Wait()
	data, _ := json.MarshalIndent(m, "", "  ") // plain structs of strings and ints cannot fail
	t.Files = append(t.Files, File{Path: ManifestName, Mode: 0o644, Data: append(data, '\n')})
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

// ErrNotATree is returned when the output directory exists, is not empty and
// holds no rampart manifest: rampart will not replace what it did not write.
var ErrNotATree = errors.New("exists, is not empty and is not a rampart output tree (no manifest.json); refusing to replace it")

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

// Stale is a difference between the tree on disk and the one the spec makes.
type Stale struct {
	Path   string // slash-separated; relative to the tree's root, or to the state directory for userdata
	Reason string // "differs", "missing", "not generated", "mode 0644, want 0755", ReasonSecret
}

// ReasonSecret is the Reason of a file of the tree that holds key material
// (ContainsSecret): worse than stale, since the tree is meant to be
// reviewed, committed and shared.
const ReasonSecret = "contains secrets (a private key): the output tree must never hold one; delete the file and regenerate"

// Secret reports whether the difference is a file holding key material.
func (s Stale) Secret() bool { return s.Reason == ReasonSecret }

// Check compares the tree on disk at dir with t and lists every difference,
// sorted by path. An empty list means the tree is up to date.
func (t *Tree) Check(dir string) ([]Stale, error) {
	var out []Stale
	want := map[string]*File{}
	for i := range t.Files {
		want[t.Files[i].Path] = &t.Files[i]
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		f, ok := want[rel]
		if ok {
			seen[rel] = true
		}
		var data []byte
		if d.Type().IsRegular() {
			if data, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		switch {
		case ok && bytes.Equal(data, f.Data):
		case ContainsSecret(data):
			out = append(out, Stale{Path: rel, Reason: ReasonSecret})
			return nil
		case !ok:
			out = append(out, Stale{Path: rel, Reason: "not generated by this spec"})
			return nil
		default:
			out = append(out, Stale{Path: rel, Reason: "differs"})
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != f.Mode.Perm() {
			out = append(out, Stale{Path: rel, Reason: fmt.Sprintf("mode %04o, want %04o", info.Mode().Perm(), f.Mode.Perm())})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range t.Files {
		if !seen[f.Path] {
			out = append(out, Stale{Path: f.Path, Reason: "missing"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// String renders a stale entry as "path: reason".
func (s Stale) String() string { return s.Path + ": " + s.Reason }
