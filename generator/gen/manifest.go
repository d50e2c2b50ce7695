package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/rampart-cluster/rampart/internal/workers"
)

// ManifestName is the manifest's name at the root of the output tree.
const ManifestName = "manifest.json"

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
	workers.Each(len(t.Files), func(i int) {
		f := t.Files[i]
		sum := sha256.Sum256(f.Data)
		m.Files[i] = ManifestEntry{Path: f.Path, Size: len(f.Data), SHA256: hex.EncodeToString(sum[:]), Mode: fmt.Sprintf("%04o", f.Mode.Perm())}
	})
	data, _ := json.MarshalIndent(m, "", "  ") // plain structs of strings and ints cannot fail
	t.Files = append(t.Files, File{Path: ManifestName, Mode: 0o644, Data: append(data, '\n')})
}
