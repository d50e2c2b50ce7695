package boot

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"

	ign33 "github.com/coreos/ignition/v2/config/v3_3"
	ign34 "github.com/coreos/ignition/v2/config/v3_4"
	ign35 "github.com/coreos/ignition/v2/config/v3_5"
	ign36 "github.com/coreos/ignition/v2/config/v3_6"
	vreport "github.com/coreos/vcontext/report"

	"github.com/rampart-cluster/rampart/generator/report"
)

// Snippet is one of the operator's Butane documents, translated to the
// machine's Ignition spec version, to merge into the machine's config.
type Snippet struct {
	File     string // the snippet's file, for messages
	Ignition []byte // its Ignition config
	// Writes are where the snippet names what it writes, by key ("file
	// /path", "directory /path", "link /path", "unit NAME", "dropin
	// UNIT/NAME", "user NAME").
	Writes map[string]report.Pos
	At     report.Path // where the spec lists it, e.g. snippets.all[0]
}

// MsgSnippetOwned is a snippet writing what rampart writes on the machine.
var MsgSnippetOwned = report.Message{Code: "spec.snippet-owned", Severity: report.Error,
	Format: "the snippet writes %s, which is rampart's on %s %s (%s); a snippet may add to a machine, never replace or change rampart's files, units, drop-ins or users"}

// MergeSnippets merges the machine's snippets, in order, into its
// translated Ignition config ign, as Ignition merges a config it is told
// to merge (ignition.config.merge): lists are keyed by path or name and a
// later config's entry replaces the fields it sets of an earlier one. The
// result is checked by Ignition's parser and written as the butane library
// writes a config (two-space JSON). Without snippets ign is returned as is.
func MergeSnippets(ign []byte, snippets []Snippet, t Target) ([]byte, error) {
	if len(snippets) == 0 {
		return ign, nil
	}
	switch IgnitionVersion[t] {
	case "3.3.0":
		return mergeWith(ign, snippets, ign33.Parse, ign33.Merge)
	case "3.4.0":
		return mergeWith(ign, snippets, ign34.Parse, ign34.Merge)
	case "3.5.0":
		return mergeWith(ign, snippets, ign35.Parse, ign35.Merge)
	case "3.6.0":
		return mergeWith(ign, snippets, ign36.Parse, ign36.Merge)
	}
	return nil, fmt.Errorf("butane %s %s is not supported", t.Variant, t.Version)
}

func mergeWith[C any](ign []byte, snippets []Snippet, parse func([]byte) (C, vreport.Report, error), merge func(C, C) C) ([]byte, error) {
	cfg, rep, err := parse(ign)
	if err != nil {
		return nil, fmt.Errorf("ignition rejected the config: %w\n%s", err, rep.String())
	}
	for _, sn := range snippets {
		child, rep, err := parse(sn.Ignition)
		if err != nil {
			return nil, fmt.Errorf("snippet %s: ignition rejected it: %w\n%s", sn.File, err, rep.String())
		}
		cfg = merge(cfg, child)
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, rep, err := parse(out); err != nil || len(rep.Entries) > 0 {
		return nil, fmt.Errorf("ignition rejected the config merged with the snippets: %v\n%s", err, rep.String())
	}
	return append(out, '\n'), nil
}

// ignContent is what rampart reads of a snippet's Ignition config, the same
// in every Ignition 3 spec version.
type ignContent struct {
	Storage struct {
		Files []struct {
			Path     string
			Mode     *int
			Contents struct {
				Source      *string
				Compression *string
			}
		}
		Directories []struct{ Path string }
		Links       []struct{ Path string }
	}
	Systemd struct {
		Units []struct {
			Name     string
			Enabled  *bool
			Contents *string
			Dropins  []struct {
				Name     string
				Contents *string
			}
		}
	}
	Passwd struct {
		Users []struct{ Name string }
	}
}

func (sn Snippet) content() (*ignContent, error) {
	var c ignContent
	if err := json.Unmarshal(sn.Ignition, &c); err != nil {
		return nil, fmt.Errorf("snippet %s: %w", sn.File, err)
	}
	return &c, nil
}

// CheckSnippets reports every thing a snippet of the machine writes that
// rampart writes too: a file, directory or link at a path of the machine's
// files, units, drop-ins, withheld keys or preset (or a file or link where
// one of them needs a directory), a unit rampart writes or enables, a
// drop-in it writes, a user it creates. Each problem is at the snippet's
// own line and column.
func CheckSnippets(m *Machine) error {
	if len(m.Snippets) == 0 {
		return nil
	}
	owned := map[string]string{}
	for _, f := range rootfs(m) {
		owned[f.Path] = "one of its files"
	}
	for _, f := range m.Withheld {
		owned[f.Path] = "a secret file"
	}
	for _, u := range m.Units {
		if u.Contents != "" {
			owned[path.Join(UnitDir, u.Name)] = "a unit"
		}
		for _, d := range u.Dropins {
			owned[DropinPath(u.Name, d.Name)] = "a drop-in of " + u.Name
		}
	}
	owned[PresetPath] = "the preset of the units it enables"
	paths := slices.Sorted(maps.Keys(owned))
	units := map[string]bool{}
	for _, u := range m.Units {
		if u.Contents != "" || u.Enabled {
			units[u.Name] = true
		}
	}
	users := map[string]bool{}
	for _, u := range m.Users {
		users[u.Name] = true
	}
	var rep report.Report
	for _, sn := range m.Snippets {
		c, err := sn.content()
		if err != nil {
			return err
		}
		at := func(key string) report.Pos {
			if p, ok := sn.Writes[key]; ok {
				return p
			}
			return report.Pos{File: sn.File, Line: 1, Col: 1}
		}
		fail := func(key, what, why string) {
			rep.Append(MsgSnippetOwned.At(sn.At, at(key), what, m.Kind, m.Name, why))
		}
		check := func(kind, p string, ancestors bool) {
			p = path.Clean(p)
			if why, ok := owned[p]; ok {
				fail(kind+" "+p, kind+" "+p, why)
				return
			}
			if dir := path.Dir(p); path.Dir(dir) == UnitDir && units[strings.TrimSuffix(path.Base(dir), ".d")] && strings.HasSuffix(dir, ".d") {
				fail(kind+" "+p, kind+" "+p, "a drop-in directory of a unit it writes or enables")
				return
			}
			if !ancestors {
				return
			}
			for _, o := range paths {
				if strings.HasPrefix(o, p+"/") {
					fail(kind+" "+p, kind+" "+p, "the directory of its "+o)
					return
				}
			}
		}
		for _, f := range c.Storage.Files {
			check("file", f.Path, true)
		}
		for _, d := range c.Storage.Directories {
			// a directory entry of rampart's own directories (their mode,
			// their owner) changes rampart's files too
			check("directory", d.Path, true)
		}
		for _, l := range c.Storage.Links {
			check("link", l.Path, true)
		}
		for _, u := range c.Systemd.Units {
			if units[u.Name] {
				fail("unit "+u.Name, "unit "+u.Name, "a unit it writes or enables")
				continue
			}
			for _, d := range u.Dropins {
				if why, ok := owned[DropinPath(u.Name, d.Name)]; ok {
					fail("dropin "+u.Name+"/"+d.Name, "drop-in "+d.Name+" of "+u.Name, why)
				}
			}
		}
		for _, u := range c.Passwd.Users {
			if users[u.Name] {
				fail("user "+u.Name, "user "+u.Name, "a user of the spec")
			}
		}
	}
	if _, _, err := snippetRootfs(m); err != nil {
		return err
	}
	if rep.Empty() {
		return nil
	}
	rep.Sort()
	return rep.Err()
}

// snippetRootfs lists the files the machine's snippets write that can be
// shown as they land: files whose contents are inline (data: URLs), units
// with contents and drop-ins; and the units they enable. A later snippet's
// file replaces an earlier one's, as Ignition's merge does.
func snippetRootfs(m *Machine) ([]File, []string, error) {
	byPath := map[string]int{}
	var out []File
	var enabled []string
	put := func(f File) {
		if i, ok := byPath[f.Path]; ok {
			out[i] = f
			return
		}
		byPath[f.Path] = len(out)
		out = append(out, f)
	}
	for _, sn := range m.Snippets {
		c, err := sn.content()
		if err != nil {
			return nil, nil, err
		}
		for _, f := range c.Storage.Files {
			if f.Contents.Source == nil || !strings.HasPrefix(*f.Contents.Source, "data:") {
				continue
			}
			compression := ""
			if f.Contents.Compression != nil {
				compression = *f.Contents.Compression
			}
			data, err := DecodeDataURL(*f.Contents.Source, compression)
			if err != nil {
				return nil, nil, fmt.Errorf("snippet %s: %s: %w", sn.File, f.Path, err)
			}
			mode := fs.FileMode(0o644)
			if f.Mode != nil {
				mode = fs.FileMode(*f.Mode)
			}
			put(File{Path: f.Path, Mode: mode, Contents: string(data)})
		}
		for _, u := range c.Systemd.Units {
			if u.Contents != nil {
				put(File{Path: path.Join(UnitDir, u.Name), Mode: 0o644, Contents: *u.Contents})
			}
			for _, d := range u.Dropins {
				if d.Contents != nil {
					put(File{Path: DropinPath(u.Name, d.Name), Mode: 0o644, Contents: *d.Contents})
				}
			}
			if u.Enabled != nil && *u.Enabled {
				enabled = append(enabled, u.Name)
			}
		}
	}
	return out, enabled, nil
}

// DecodeDataURL returns the payload of an Ignition data: URL (base64 or
// percent-encoded), gunzipped when compression is "gzip" (at most 64 MiB).
func DecodeDataURL(source, compression string) ([]byte, error) {
	src, ok := strings.CutPrefix(source, "data:")
	if !ok {
		return nil, fmt.Errorf("source %.40q is not a data URL", source)
	}
	meta, payload, _ := strings.Cut(src, ",")
	var b []byte
	if strings.HasSuffix(meta, ";base64") {
		var err error
		if b, err = base64.StdEncoding.DecodeString(payload); err != nil {
			return nil, err
		}
	} else {
		s, err := url.PathUnescape(payload)
		if err != nil {
			return nil, err
		}
		b = []byte(s)
	}
	switch compression {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if b, err = io.ReadAll(io.LimitReader(zr, 64<<20)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("compression %q", compression)
	}
	return b, nil
}
