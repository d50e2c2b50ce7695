package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/providers/delivery"
)

// File is one file apply writes on a node.
type File struct {
	Path   string      // absolute path on the node
	Mode   fs.FileMode // permission bits
	Data   []byte
	Secret bool // a private key, from the state's final userdata
}

// safePath is what a node path may hold to be written into a remote sh
// script unquoted: the paths rampart's trees have.
var safePath = regexp.MustCompile(`^(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)+$`)

// NodeFiles returns the files a machine's nodes get, sorted by path: every
// file of the tree under the machine's rootfs/ (the tree's bytes, checked
// against the manifest's sha256, with the manifest's mode), and every key
// the manifest lists under secrets for the machine, read from the
// machine's final userdata (its Ignition, else its cloud-config) with the
// manifest's mode. A key the userdata lacks is an error: a node never gets
// a certificate without its key.
func NodeFiles(tree string, manifest *gen.Manifest, m delivery.Machine) ([]File, error) {
	root := path.Join(m.Kind+"s", m.Name, "rootfs") + "/"
	var out []File
	for _, e := range manifest.Files {
		rel, ok := strings.CutPrefix(e.Path, root)
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(tree, filepath.FromSlash(e.Path)))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != e.SHA256 {
			return nil, fmt.Errorf("%s changed after the staleness check (its sha256 is not the manifest's): run apply again", filepath.Join(tree, filepath.FromSlash(e.Path)))
		}
		f, err := nodeFile("/"+rel, e.Mode, data)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	var keys map[string][]byte
	for _, s := range manifest.Secrets {
		rel, ok := strings.CutPrefix(s.Path, root)
		if !ok {
			continue
		}
		if keys == nil {
			var err error
			if keys, err = userdataFiles(m); err != nil {
				return nil, fmt.Errorf("%s %s: %w", m.Kind, m.Name, err)
			}
		}
		data, ok := keys["/"+rel]
		if !ok {
			return nil, fmt.Errorf("%s %s: the final userdata has no /%s, which the manifest lists among its keys", m.Kind, m.Name, rel)
		}
		f, err := nodeFile("/"+rel, s.Mode, data)
		if err != nil {
			return nil, err
		}
		f.Secret = true
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s lists no file under %s", ErrNoMachine, gen.ManifestName, root)
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func nodeFile(p, mode string, data []byte) (File, error) {
	if !safePath.MatchString(p) {
		return File{}, fmt.Errorf("%s: %w", p, ErrUnsafePath)
	}
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || m > 0o7777 {
		return File{}, fmt.Errorf("%s: mode %q is no octal permission", p, mode)
	}
	return File{Path: p, Mode: fs.FileMode(m), Data: data}, nil
}
