package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/rampart-cluster/rampart/generator/report"
)

// Stale is a difference between the tree on disk and the one the spec makes.
type Stale struct {
	Path   string // slash-separated; relative to the tree's root, or to the state directory for userdata
	Code   string // the message's code: tree.differs, tree.missing, tree.not-generated, tree.mode, tree.secret, tree.changed
	Reason string // the sentence: "differs", "missing", "mode 0644, want 0755", ...
}

// stale makes the difference at path of one of the messages in errors.go.
func stale(path string, m report.Message, args ...any) Stale {
	return Stale{Path: path, Code: m.Code, Reason: fmt.Sprintf(m.Format, args...)}
}

// Secret reports whether the difference is a file holding key material:
// worse than stale, since the tree is meant to be reviewed, committed and
// shared.
func (s Stale) Secret() bool { return s.Code == MsgSecret.Code }

// Entry is the difference as a report entry; root is the directory Path is
// relative to, and the file (root joined with Path) is the entry's
// position.
func (s Stale) Entry(root string) report.Entry {
	return report.Entry{Severity: report.Error, Code: s.Code, Pos: report.Pos{File: filepath.Join(root, filepath.FromSlash(s.Path))}, Message: s.Reason}
}

// StaleReport is the differences as a report, each file under its root.
func StaleReport(root string, ss []Stale) report.Report {
	var r report.Report
	for _, s := range ss {
		r.Append(s.Entry(root))
	}
	return r
}

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
			out = append(out, stale(rel, MsgSecret))
			return nil
		case !ok:
			out = append(out, stale(rel, msgNotGenerated))
			return nil
		default:
			out = append(out, stale(rel, MsgDiffers))
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != f.Mode.Perm() {
			out = append(out, stale(rel, msgMode, info.Mode().Perm(), f.Mode.Perm()))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range t.Files {
		if !seen[f.Path] {
			out = append(out, stale(f.Path, MsgMissing))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// String renders a stale entry as "path: reason".
func (s Stale) String() string { return s.Path + ": " + s.Reason }
