package gen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// IsTree reports whether dir is the root of a rampart output tree: it holds
// a manifest.json that reads as rampart's manifest.
func IsTree(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return false
	}
	var m struct {
		Files *[]ManifestEntry `json:"files"`
	}
	return json.Unmarshal(data, &m) == nil && m.Files != nil
}

// Resolve returns p made absolute, with the symbolic links of its longest
// existing prefix resolved, a link to a directory not made yet included:
// the same directory, however it is named. p need not exist.
func Resolve(p string) (string, error) {
	return resolve(p, 0)
}

func resolve(p string, depth int) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	for q := abs; ; q = filepath.Dir(q) {
		rest, _ := filepath.Rel(q, abs)
		real, err := filepath.EvalSymlinks(q)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if info, lerr := os.Lstat(q); lerr == nil && info.Mode()&fs.ModeSymlink != 0 {
			// A link whose target does not exist yet.
			target, err := os.Readlink(q)
			if err != nil {
				return "", err
			}
			if depth > 40 {
				return "", fmt.Errorf("%s: too many levels of symbolic links", p)
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(q), target)
			}
			return resolve(filepath.Join(target, rest), depth+1)
		}
		if filepath.Dir(q) == q {
			return abs, nil
		}
	}
}

// Within reports whether the directory inner is dir itself or lies under
// it, both resolved (Resolve).
func Within(inner, dir string) (bool, error) {
	a, err := Resolve(inner)
	if err != nil {
		return false, err
	}
	b, err := Resolve(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(b, a)
	if err != nil {
		return false, nil
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), nil
}

// EnclosingTree returns the output tree that dir is, or lies in: dir itself
// or its nearest parent that IsTree, symbolic links resolved as far as dir
// exists. It returns "" when dir is in no output tree. dir need not exist.
func EnclosingTree(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	resolved, err := Resolve(abs)
	if err != nil {
		return "", err
	}
	for _, c := range []string{abs, resolved} {
		for p := c; ; p = filepath.Dir(p) {
			if IsTree(p) {
				return p, nil
			}
			if filepath.Dir(p) == p {
				break
			}
		}
	}
	return "", nil
}
