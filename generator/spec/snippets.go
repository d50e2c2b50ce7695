package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	vreport "github.com/coreos/vcontext/report"

	"github.com/rampart-cluster/rampart/generator/report"
	"gopkg.in/yaml.v3"
)

// Snippet is one of the operator's own Butane documents (snippets.all,
// snippets.roles.ROLE, snippets.nodes.NODE), read relative to the spec's
// directory and translated by the butane library when the spec is parsed.
// The generator merges its Ignition config into each machine's.
type Snippet struct {
	Path string // as written in the spec, relative to the spec's directory
	File string // the file that was read: Path joined to the spec's directory
	// Ignition is the snippet translated by the butane library (strict:
	// no warning either) into the Ignition spec version of the spec's os.
	Ignition []byte
	// Writes are where the snippet names each thing it writes, by key:
	// "file /path", "directory /path", "link /path", "unit NAME",
	// "dropin UNIT/NAME", "user NAME"; positions in File.
	Writes map[string]Pos
	Pos    Pos         // where the path was written in the spec
	At     report.Path // its path in the spec, e.g. snippets.all[0]
}

// Snippets are the spec's snippets: for every machine, for a role's
// machines, for one etcd member's. Each list is in spec order.
type Snippets struct {
	All   []*Snippet
	Roles map[string][]*Snippet
	Nodes map[string][]*Snippet
}

// SnippetsOf returns the snippets of one machine in the order they are
// merged: snippets.all, then the role's, then the node's ("" for a role's
// machine).
func (s *Spec) SnippetsOf(role, node string) []*Snippet {
	out := append([]*Snippet(nil), s.Snippets.All...)
	out = append(out, s.Snippets.Roles[role]...)
	if node != "" {
		out = append(out, s.Snippets.Nodes[node]...)
	}
	return out
}

// maxSnippetSize bounds a snippet file: boot configuration, not data.
const maxSnippetSize = 1 << 20

// rawSnippets is snippets as written: paths, and the names they are for.
type rawSnippets struct {
	all   []rawSnippet
	roles []rawSnippetGroup
	nodes []rawSnippetGroup
}

type rawSnippetGroup struct {
	name  string
	node  *yaml.Node // the name, for errors
	items []rawSnippet
}

type rawSnippet struct {
	path string
	node *yaml.Node
	at   report.Path
}

func (d *decoder) snippets(v *yaml.Node, r *raw) {
	list := func(n *yaml.Node, path report.Path) []rawSnippet {
		var out []rawSnippet
		seen := map[string]int{}
		d.list(n, path, func(i int, item *yaml.Node) {
			ipath := index(path, i)
			s, ok := d.str(item, ipath)
			if !ok {
				return
			}
			if s == "" || !filepath.IsLocal(filepath.FromSlash(s)) {
				d.errorf(item, ipath, msgSnippetPath, s)
				return
			}
			if line, dup := seen[s]; dup {
				d.errorf(item, ipath, msgListedTwice, s, line)
				return
			}
			seen[s] = item.Line
			out = append(out, rawSnippet{path: s, node: item, at: ipath})
		})
		return out
	}
	group := func(n *yaml.Node, path report.Path) []rawSnippetGroup {
		var out []rawSnippetGroup
		d.pairs(n, path, func(k, v *yaml.Node) {
			out = append(out, rawSnippetGroup{name: k.Value, node: k, items: list(v, join(path, k.Value))})
		})
		return out
	}
	r.snippetsGiven = true
	d.mapping(v, report.At("snippets"),
		field{"all", func(_, v *yaml.Node) { r.snippets.all = list(v, report.At("snippets", "all")) }},
		field{"roles", func(_, v *yaml.Node) { r.snippets.roles = group(v, report.At("snippets", "roles")) }},
		field{"nodes", func(_, v *yaml.Node) { r.snippets.nodes = group(v, report.At("snippets", "nodes")) }},
	)
}

// buildSnippets checks what the snippets are for and reads and translates
// each file once, for the spec's os.
func (d *decoder) buildSnippets(s *Spec, r *raw) {
	s.Snippets = Snippets{Roles: map[string][]*Snippet{}, Nodes: map[string][]*Snippet{}}
	if !r.snippetsGiven {
		return
	}
	if s.Wants(OutputCloudConfig) { // only when outputs is written: the default is ignition
		d.errorf(r.outNode, report.At("outputs"), msgSnippetsCloudConfig)
	}
	read := map[string]*Snippet{}
	load := func(rs []rawSnippet) []*Snippet {
		var out []*Snippet
		for _, x := range rs {
			file := filepath.Join(filepath.Dir(d.file), filepath.FromSlash(x.path))
			sn := read[file]
			if sn == nil {
				sn = d.snippet(file, x, s.OS)
				if sn == nil {
					continue
				}
				read[file] = sn
			}
			c := *sn
			c.Path, c.Pos, c.At = x.path, d.pos(x.node), x.at
			out = append(out, &c)
		}
		return out
	}
	s.Snippets.All = load(r.snippets.all)
	for _, g := range r.snippets.roles {
		if s.Role(g.name) == nil {
			if !r.roleNames[g.name] {
				d.errorf(g.node, report.At("snippets", "roles", g.name), msgUnknownRole, g.name, roleList(s))
			}
			continue
		}
		s.Snippets.Roles[g.name] = load(g.items)
	}
	for _, g := range r.snippets.nodes {
		n := s.Node(g.name)
		switch {
		case n == nil:
			d.errorf(g.node, report.At("snippets", "nodes", g.name), msgSnippetUnknownNode, g.name)
			continue
		case s.Role(n.Role) == nil || !s.Role(n.Role).Etcd:
			d.errorf(g.node, report.At("snippets", "nodes", g.name), msgSnippetNotMember, g.name, n.Role)
			continue
		}
		s.Snippets.Nodes[g.name] = load(g.items)
	}
}

// snippet reads and translates one snippet file, reporting its problems at
// their place in it.
func (d *decoder) snippet(file string, x rawSnippet, target OS) *Snippet {
	var data []byte
	var err error
	if d.readSnippet != nil {
		data, err = d.readSnippet(x.path)
		if err == nil && len(data) > maxSnippetSize {
			err = fmt.Errorf("larger than %d bytes", maxSnippetSize)
		}
	} else {
		data, err = readSnippet(file)
	}
	if err != nil {
		d.errorf(x.node, x.at, msgSnippetRead, x.path, err)
		return nil
	}
	at := func(line, col int) Pos { return Pos{File: file, Line: line, Col: col} }
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		d.add(msgSnippet.At(x.at, at(line, 1), err.Error()))
		return nil
	}
	root := &doc
	if len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		d.add(msgSnippet.At(x.at, at(root.Line, root.Column), "a Butane document is a mapping (variant, version, storage, systemd, ...)"))
		return nil
	}
	// The variant and version must be the spec's: the merged config is one
	// Ignition spec version.
	variant, version := child(root, "variant"), child(root, "version")
	switch {
	case variant == nil || version == nil:
		d.add(msgSnippetTarget.At(x.at, at(root.Line, root.Column), "it names no variant and version", target.Variant, target.Version))
		return nil
	case variant.Value != target.Variant:
		d.add(msgSnippetTarget.At(x.at, at(variant.Line, variant.Column), "it is written for "+variant.Value, target.Variant, target.Version))
		return nil
	case version.Value != target.Version:
		d.add(msgSnippetTarget.At(x.at, at(version.Line, version.Column), "it is written for version "+version.Value, target.Variant, target.Version))
		return nil
	}
	// A config fetched at boot is one rampart cannot check: it could write
	// rampart's files, or replace the whole config, firewall and all.
	for _, key := range []string{"merge", "replace"} {
		if n := childKey(child(child(root, "ignition"), "config"), key); n != nil {
			d.add(msgSnippetFetches.At(x.at, at(n.Line, n.Column), key))
			return nil
		}
	}
	out, rep, err := butane.TranslateBytes(data, common.TranslateBytesOptions{Pretty: true})
	if len(rep.Entries) > 0 {
		for _, e := range rep.Entries {
			p := at(1, 1)
			if e.Marker.StartP != nil {
				p = at(int(e.Marker.StartP.Line), int(e.Marker.StartP.Column))
			}
			msg := e.Message
			if e.Kind == vreport.Warn {
				msg = "warning, refused in a snippet: " + msg
			}
			d.add(msgSnippet.At(x.at, p, fmt.Sprintf("%s (at %s)", msg, e.Context)))
		}
		return nil
	}
	if err != nil {
		d.add(msgSnippet.At(x.at, at(1, 1), err.Error()))
		return nil
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return &Snippet{File: file, Ignition: out, Writes: snippetWrites(root, file)}
}

// readSnippet reads a regular file of at most maxSnippetSize bytes.
func readSnippet(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSnippetSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSnippetSize {
		return nil, fmt.Errorf("larger than %d bytes", maxSnippetSize)
	}
	return data, nil
}

// child is the value of key in a mapping node, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if i := keyAt(n, key); i >= 0 {
		return n.Content[i+1]
	}
	return nil
}

// childKey is the key node of key in a mapping node, or nil.
func childKey(n *yaml.Node, key string) *yaml.Node {
	if i := keyAt(n, key); i >= 0 {
		return n.Content[i]
	}
	return nil
}

// keyAt is the index of key's node in a mapping node's Content, or -1.
func keyAt(n *yaml.Node, key string) int {
	if n == nil || n.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// snippetWrites finds where a snippet names each thing it writes.
func snippetWrites(root *yaml.Node, file string) map[string]Pos {
	out := map[string]Pos{}
	put := func(key string, n *yaml.Node) {
		if _, ok := out[key]; !ok && n != nil {
			out[key] = Pos{File: file, Line: n.Line, Col: n.Column}
		}
	}
	items := func(n *yaml.Node) []*yaml.Node {
		if n == nil || n.Kind != yaml.SequenceNode {
			return nil
		}
		return n.Content
	}
	storage := child(root, "storage")
	for _, kind := range []string{"files", "directories", "links"} {
		for _, it := range items(child(storage, kind)) {
			if p := child(it, "path"); p != nil {
				put(writeKinds[kind]+" "+filepath.Clean(p.Value), p)
			}
		}
	}
	for _, it := range items(child(child(root, "systemd"), "units")) {
		name := child(it, "name")
		if name == nil {
			continue
		}
		put("unit "+name.Value, name)
		for _, dr := range items(child(it, "dropins")) {
			if dn := child(dr, "name"); dn != nil {
				put("dropin "+name.Value+"/"+dn.Value, dn)
			}
		}
	}
	for _, it := range items(child(child(root, "passwd"), "users")) {
		if name := child(it, "name"); name != nil {
			put("user "+name.Value, name)
		}
	}
	return out
}

var writeKinds = map[string]string{"files": "file", "directories": "directory", "links": "link"}
