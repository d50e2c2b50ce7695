package etcd

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	ignition "github.com/coreos/ignition/v2/config"
	"gopkg.in/yaml.v3"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// AddToUserdata returns a member's final userdata (Ignition JSON, or a
// #cloud-config document) with files and units added, for what only
// recover writes (Restore): everything gen put there stays as it is. A
// unit the userdata already has (etcd-member's, with its drop-ins) gets
// the new drop-ins beside its own. In Ignition every file's contents are a
// data URL, gzip-compressed when that makes them smaller, and the result
// must pass Ignition's own parser. In cloud-config the files are
// write_files entries (binary contents base64, gzip-compressed when that
// makes them smaller: gz+b64, which cloud-init and coreos-cloudinit both
// read); the units are too in cloud-init's flavour, where runcmd starts
// etcd after writing them, and in coreos-cloudinit's they join
// coreos.units (a unit's drop-ins in its entry's drop-ins).
func AddToUserdata(format string, userdata []byte, files []boot.File, units []boot.Unit) ([]byte, error) {
	switch format {
	case spec.OutputIgnition:
		return addToIgnition(userdata, files, units)
	case spec.OutputCloudConfig:
		return addToCloudConfig(userdata, files, units)
	}
	return nil, fmt.Errorf("userdata format %q: want %s or %s", format, spec.OutputIgnition, spec.OutputCloudConfig)
}

// ignitionFile is a storage.files entry of an Ignition config (spec 3.x).
type ignitionFile struct {
	Path      string `json:"path"`
	Mode      int    `json:"mode"`
	Overwrite bool   `json:"overwrite"`
	Contents  struct {
		Source      string `json:"source"`
		Compression string `json:"compression,omitempty"`
	} `json:"contents"`
}

// ignitionDropin is a drop-in of a systemd.units entry.
type ignitionDropin struct {
	Name     string `json:"name"`
	Contents string `json:"contents"`
}

func addToIgnition(data []byte, files []boot.File, units []boot.Unit) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("the member's Ignition config: %w", err)
	}
	var storage map[string]json.RawMessage
	var list []json.RawMessage
	if err := unmarshalIf(cfg["storage"], &storage); err != nil {
		return nil, err
	}
	if err := unmarshalIf(storage["files"], &list); err != nil {
		return nil, err
	}
	for _, f := range files {
		e := ignitionFile{Path: f.Path, Mode: int(f.Mode.Perm()), Overwrite: true}
		body, compressed := compress([]byte(f.Contents))
		e.Contents.Source = "data:;base64," + base64.StdEncoding.EncodeToString(body)
		if compressed {
			e.Contents.Compression = "gzip"
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		list = append(list, raw)
	}
	if storage == nil {
		storage = map[string]json.RawMessage{}
	}
	if err := setJSON(storage, "files", list); err != nil {
		return nil, err
	}
	if err := setJSON(cfg, "storage", storage); err != nil {
		return nil, err
	}

	var systemd map[string]json.RawMessage
	var have []map[string]json.RawMessage
	if err := unmarshalIf(cfg["systemd"], &systemd); err != nil {
		return nil, err
	}
	if err := unmarshalIf(systemd["units"], &have); err != nil {
		return nil, err
	}
	for _, u := range units {
		var dropins []ignitionDropin
		for _, d := range u.Dropins {
			dropins = append(dropins, ignitionDropin{d.Name, d.Contents})
		}
		var entry map[string]json.RawMessage
		for _, e := range have {
			var name string
			if json.Unmarshal(e["name"], &name) == nil && name == u.Name {
				entry = e
			}
		}
		if entry == nil {
			entry = map[string]json.RawMessage{}
			if err := setJSON(entry, "name", u.Name); err != nil {
				return nil, err
			}
			have = append(have, entry)
		} else if u.Contents != "" {
			return nil, fmt.Errorf("the member's Ignition config has unit %s already", u.Name)
		}
		if u.Contents != "" {
			if err := setJSON(entry, "contents", u.Contents); err != nil {
				return nil, err
			}
		}
		if u.Enabled {
			if err := setJSON(entry, "enabled", true); err != nil {
				return nil, err
			}
		}
		if len(dropins) > 0 {
			var all []json.RawMessage // the unit's drop-ins as they are
			if err := unmarshalIf(entry["dropins"], &all); err != nil {
				return nil, err
			}
			for _, d := range dropins {
				raw, err := json.Marshal(d)
				if err != nil {
					return nil, err
				}
				all = append(all, raw)
			}
			if err := setJSON(entry, "dropins", all); err != nil {
				return nil, err
			}
		}
	}
	if systemd == nil {
		systemd = map[string]json.RawMessage{}
	}
	if err := setJSON(systemd, "units", have); err != nil {
		return nil, err
	}
	if err := setJSON(cfg, "systemd", systemd); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	out = append(out, '\n')
	if _, rep, err := ignition.Parse(out); err != nil || len(rep.Entries) > 0 {
		return nil, fmt.Errorf("ignition rejects the member's config with the restore added: %v\n%s", err, rep.String())
	}
	return out, nil
}

// unmarshalIf decodes raw into v unless it is empty.
func unmarshalIf(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// setJSON sets m[key] to v, encoded.
func setJSON(m map[string]json.RawMessage, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m[key] = raw
	return nil
}

// compress gzips data when that makes it smaller (at gzip's default
// level, with an empty header: the same bytes every time).
func compress(data []byte) ([]byte, bool) {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
	_, _ = w.Write(data)
	_ = w.Close()
	if b.Len() >= len(data) {
		return data, false
	}
	return b.Bytes(), true
}

func addToCloudConfig(data []byte, files []boot.File, units []boot.Unit) ([]byte, error) {
	const header = "#cloud-config\n"
	if !bytes.HasPrefix(data, []byte(header)) {
		return nil, fmt.Errorf("the member's cloud-config does not start with %q", strings.TrimSpace(header))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("the member's cloud-config: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the member's cloud-config is not a mapping")
	}
	root := doc.Content[0]
	list := mappingValue(root, "write_files")
	if list == nil {
		list = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		root.Content = append(root.Content, scalar("write_files"), list)
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("the member's cloud-config: write_files is not a list")
	}
	all := append([]boot.File(nil), files...)
	if coreosUnits := mappingValue(mappingValue(root, "coreos"), "units"); coreosUnits != nil {
		// coreos-cloudinit's flavour: units in coreos.units, placed before
		// the daemon reload that precedes its start commands.
		if err := addCoreOSUnits(coreosUnits, units); err != nil {
			return nil, err
		}
		units = nil
	}
	for _, u := range units {
		if u.Contents != "" {
			all = append(all, boot.File{Path: boot.UnitDir + "/" + u.Name, Mode: 0o644, Contents: u.Contents})
		}
		for _, d := range u.Dropins {
			all = append(all, boot.File{Path: boot.DropinPath(u.Name, d.Name), Mode: 0o644, Contents: d.Contents})
		}
	}
	for _, f := range all {
		entry := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		entry.Content = append(entry.Content,
			scalar("path"), scalar(f.Path),
			scalar("owner"), scalar("root:root"),
			scalar("permissions"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprintf("0%o", f.Mode.Perm()), Style: yaml.SingleQuotedStyle})
		if !textual(f.Contents) {
			body, compressed := compress([]byte(f.Contents))
			enc := "b64"
			if compressed {
				enc = "gz+b64"
			}
			entry.Content = append(entry.Content, scalar("encoding"), scalar(enc), scalar("content"), scalar(base64.StdEncoding.EncodeToString(body)))
		} else {
			entry.Content = append(entry.Content, scalar("content"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Contents, Style: yaml.LiteralStyle})
		}
		list.Content = append(list.Content, entry)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	out := b.Bytes()
	if !bytes.HasPrefix(out, []byte(header)) {
		out = append([]byte(header), out...)
	}
	return out, nil
}

// mappingValue is the value of key in mapping m, nil when m is no mapping
// or lacks it.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// addCoreOSUnits adds units to coreos.units: a unit with contents as a new
// entry (content, neither enabled nor started: a dependency starts it),
// drop-ins to the entry of their unit, which must be there.
func addCoreOSUnits(list *yaml.Node, units []boot.Unit) error {
	if list.Kind != yaml.SequenceNode {
		return fmt.Errorf("the member's cloud-config: coreos.units is not a list")
	}
	literal := func(v string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: yaml.LiteralStyle}
	}
	for _, u := range units {
		var entry *yaml.Node
		for _, e := range list.Content {
			if name := mappingValue(e, "name"); name != nil && name.Value == u.Name {
				entry = e
			}
		}
		switch {
		case entry == nil && u.Contents == "":
			return fmt.Errorf("the member's cloud-config has no unit %s for the drop-ins %v", u.Name, u.Dropins)
		case entry != nil && u.Contents != "":
			return fmt.Errorf("the member's cloud-config has unit %s already", u.Name)
		case entry == nil:
			entry = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{scalar("name"), scalar(u.Name), scalar("content"), literal(u.Contents)}}
			list.Content = append(list.Content, entry)
		}
		if len(u.Dropins) == 0 {
			continue
		}
		dropins := mappingValue(entry, "drop-ins")
		if dropins == nil {
			dropins = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			entry.Content = append(entry.Content, scalar("drop-ins"), dropins)
		}
		for _, d := range u.Dropins {
			dropins.Content = append(dropins.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{scalar("name"), scalar(d.Name), scalar("content"), literal(d.Contents)}})
		}
	}
	return nil
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// textual says whether s can be a YAML literal block as it is: valid
// UTF-8 text with no control characters but newlines and tabs.
func textual(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}
