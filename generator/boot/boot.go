// Package boot turns the files and units of a machine (a role, or a node with
// its own identity) into boot configuration: a Butane document translated by
// the butane library into Ignition and checked with Ignition's own parser, a
// cloud-init #cloud-config, and the root file system tree as it will land.
package boot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	ign33 "github.com/coreos/ignition/v2/config/v3_3"
	ign34 "github.com/coreos/ignition/v2/config/v3_4"
	ign35 "github.com/coreos/ignition/v2/config/v3_5"
	ign36 "github.com/coreos/ignition/v2/config/v3_6"
	"github.com/coreos/vcontext/report"

	"github.com/rampart-cluster/rampart/templates"
	"github.com/rampart-cluster/rampart/units"
)

// File is a file as it lands on the node.
type File struct {
	Path     string      // absolute path on the node
	Mode     fs.FileMode // permission bits, e.g. 0o644; rendered in octal
	Contents string      // the whole file, written verbatim
}

// Unit is a systemd unit as it lands in /etc/systemd/system. A unit
// without Contents is one the OS image ships (Flatcar's etcd-member.service):
// only its drop-ins are written, and it is enabled when Enabled says so.
type Unit struct {
	Name     string   // unit file name, e.g. rampart-firewall.service
	Enabled  bool     // enabled at boot: a preset under Ignition, systemctl enable --now under cloud-init; false leaves the image's own choice alone
	Contents string   // the unit file; empty for a unit the OS image ships
	Dropins  []Dropin // written whether or not Contents is empty
}

// Dropin is a drop-in of a unit, landing in /etc/systemd/system/<unit>.d/.
type Dropin struct {
	Name     string // file name in the unit's .d directory, e.g. 20-rampart-etcd.conf
	Contents string // the drop-in file, written verbatim
}

// DropinPath is where a unit's drop-in lands on the node.
func DropinPath(unit, dropin string) string { return path.Join(UnitDir, unit+".d", dropin) }

// Machine is everything one role or one node boots with.
type Machine struct {
	Kind     string   // "role" or "node"
	Name     string   // the role's name, or the node's
	Cluster  string   // the spec's cluster name
	Hostname string   // set for nodes
	Files    []File   // files other than units, in the order given; secret ones may be in Withheld instead
	Units    []Unit   // systemd units with their drop-ins
	Packages []string // what cloud-init installs where the image may lack it
	// Withheld are files of the machine that carry secrets and are left out
	// of this rendering; the documents name them (path and mode) in a
	// comment. The final userdata has them in Files instead.
	Withheld []File
	Users    []User // login accounts, in the order given
	// Flavor is the cloud-config's: FlavorCloudInit or FlavorCoreOS.
	Flavor string
	// Snippets are the operator's Ignition configs merged, in order, into
	// the machine's (MergeSnippets); they never write what the machine
	// writes (CheckSnippets).
	Snippets []Snippet
}

// User is a login account of the machine.
type User struct {
	Name              string   // login name
	SSHAuthorizedKeys []string // authorized_keys lines
	Groups            []string // supplementary groups; they must exist on the image
}

// Flavours of cloud-config.
const (
	FlavorCloudInit = "cloud-init" // cloud-init: write_files, packages, runcmd
	FlavorCoreOS    = "coreos"     // Flatcar's coreos-cloudinit: write_files, coreos.units
)

// UnitDir is where Ignition and cloud-init write units.
const UnitDir = "/etc/systemd/system"

// PresetPath is the preset file Ignition writes for enabled units.
const PresetPath = "/etc/systemd/system-preset/20-ignition.preset"

// Target is the OS a machine's Butane document is written for.
type Target struct {
	Variant string // flatcar | fcos
	Version string // Butane version
}

// IgnitionVersion is the Ignition spec version each supported Butane
// variant version translates to.
var IgnitionVersion = map[Target]string{
	{"flatcar", "1.0.0"}: "3.3.0",
	{"flatcar", "1.1.0"}: "3.4.0",
	{"fcos", "1.4.0"}:    "3.3.0",
	{"fcos", "1.5.0"}:    "3.4.0",
	{"fcos", "1.6.0"}:    "3.5.0",
	{"fcos", "1.7.0"}:    "3.6.0",
}

var tmpl = template.Must(template.New("").Option("missingkey=error").Funcs(template.FuncMap{
	"block_scalar": blockScalar,
	"yaml_string":  yamlString,
}).ParseFS(templates.FS, "*.tmpl"))

var unitTmpl = template.Must(template.New("").Option("missingkey=error").ParseFS(units.FS, "*.tmpl"))

// RenderTemplate renders one of templates/ with an explicit variable map;
// a missing key is an error.
func RenderTemplate(name string, vars map[string]any) (string, error) {
	return render(tmpl, name, vars)
}

// RenderUnit renders one of units/ with an explicit variable map.
func RenderUnit(name string, vars map[string]any) (string, error) {
	return render(unitTmpl, name, vars)
}

func render(t *template.Template, name string, vars map[string]any) (string, error) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, vars); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

// blockScalar renders contents as a YAML literal block scalar indented by
// indent spaces, falling back to a double-quoted string where a literal block
// cannot say it exactly (leading spaces, control characters).
func blockScalar(indent int, contents string) string {
	if contents == "" || strings.HasPrefix(contents, " ") || strings.HasPrefix(contents, "\n") || !plainText(contents) {
		q, _ := json.Marshal(contents) // JSON strings are YAML double-quoted scalars
		return string(q)
	}
	body := strings.TrimRight(contents, "\n")
	trailing := len(contents) - len(body)
	head := "|"
	switch {
	case trailing == 0:
		head = "|-"
	case trailing > 1:
		head = "|+"
	}
	pad := strings.Repeat(" ", indent)
	rest := contents[:len(contents)-min(trailing, 1)]
	var b strings.Builder
	b.Grow(len(head) + len(rest) + (strings.Count(rest, "\n")+1)*(indent+1))
	b.WriteString(head)
	for {
		line, more, found := strings.Cut(rest, "\n")
		b.WriteByte('\n')
		if line != "" {
			b.WriteString(pad)
			b.WriteString(line)
		}
		if !found {
			break
		}
		rest = more
	}
	return b.String()
}

// yamlString renders s as a YAML double-quoted scalar (a JSON string).
func yamlString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func plainText(s string) bool {
	for _, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || r == 0xfeff || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	// a line of only spaces, or trailing spaces, survive a literal block, but
	// a line with leading tab after the first would too; nothing else to fear
	return true
}

// Butane renders the machine's Butane document.
func Butane(m *Machine, t Target) (string, error) {
	return RenderTemplate("butane.yaml.tmpl", map[string]any{
		"Kind": m.Kind, "Name": m.Name, "Cluster": m.Cluster,
		"Variant": t.Variant, "Version": t.Version,
		"Files": m.Files, "Units": m.Units, "Withheld": m.Withheld, "Users": m.Users,
	})
}

// Ignition translates a Butane document with the butane library and checks
// the result with Ignition's parser for the spec version it must have. Any
// warning is an error: rampart wrote the document, so a warning is its bug.
func Ignition(butaneDoc string, t Target) ([]byte, error) {
	want, ok := IgnitionVersion[t]
	if !ok {
		return nil, fmt.Errorf("butane %s %s is not supported", t.Variant, t.Version)
	}
	out, rep, err := butane.TranslateBytes([]byte(butaneDoc), common.TranslateBytesOptions{Pretty: true})
	if err != nil {
		return nil, fmt.Errorf("butane: %w\n%s", err, rep.String())
	}
	if len(rep.Entries) > 0 {
		return nil, fmt.Errorf("butane reported:\n%s", rep.String())
	}
	var prep report.Report
	switch want {
	case "3.3.0":
		_, prep, err = ign33.Parse(out)
	case "3.4.0":
		_, prep, err = ign34.Parse(out)
	case "3.5.0":
		_, prep, err = ign35.Parse(out)
	case "3.6.0":
		_, prep, err = ign36.Parse(out)
	}
	if err != nil {
		return nil, fmt.Errorf("ignition %s rejected the translated config: %w\n%s", want, err, prep.String())
	}
	if len(prep.Entries) > 0 {
		return nil, fmt.Errorf("ignition %s reported:\n%s", want, prep.String())
	}
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	return out, nil
}

// CloudConfig renders the machine's #cloud-config in its flavour: for
// cloud-init, every file and unit in write_files, the packages, and runcmd
// enabling and starting the enabled units; for coreos-cloudinit, the files
// in write_files and the units, drop-ins included, in coreos.units, each
// enabled unit with enable: true and command: start.
func CloudConfig(m *Machine) (string, error) {
	if len(m.Snippets) > 0 {
		return "", fmt.Errorf("snippets are Ignition configs; a cloud-config cannot carry them")
	}
	switch m.Flavor {
	case FlavorCoreOS:
		return RenderTemplate("coreos-cloud-config.yaml.tmpl", map[string]any{
			"Kind": m.Kind, "Name": m.Name, "Cluster": m.Cluster, "Hostname": m.Hostname,
			"Files": m.Files, "Units": m.Units, "Withheld": m.Withheld, "Users": m.Users,
		})
	case FlavorCloudInit, "":
		files := append([]File(nil), m.Files...)
		files = append(files, unitFiles(m)...)
		return RenderTemplate("cloud-config.yaml.tmpl", map[string]any{
			"Kind": m.Kind, "Name": m.Name, "Cluster": m.Cluster, "Hostname": m.Hostname,
			"Packages": m.Packages, "Files": files, "Units": m.Units, "Withheld": m.Withheld, "Users": m.Users,
		})
	}
	return "", fmt.Errorf("cloud-config flavor %q: want %s or %s", m.Flavor, FlavorCloudInit, FlavorCoreOS)
}

// unitFiles are the files of the machine's units as they land: each unit
// with contents, and every drop-in.
func unitFiles(m *Machine) []File {
	var out []File
	for _, u := range m.Units {
		if u.Contents != "" {
			out = append(out, File{Path: path.Join(UnitDir, u.Name), Mode: 0o644, Contents: u.Contents})
		}
		for _, d := range u.Dropins {
			out = append(out, File{Path: DropinPath(u.Name, d.Name), Mode: 0o644, Contents: d.Contents})
		}
	}
	return out
}

// Rootfs lists every file the machine's Ignition config writes, as it lands:
// the files, the units and the preset file that enables them, and what the
// snippets write that can be shown (snippetRootfs), sorted by path. It
// expects CheckSnippets to have passed: a snippet's file that cannot be
// decoded is left out here, and CheckSnippets reports it.
func Rootfs(m *Machine) []File {
	own := rootfsWith(m, nil, nil)
	if len(m.Snippets) == 0 {
		return own
	}
	extra, enabled, err := snippetRootfs(m)
	if err != nil {
		return own
	}
	return rootfsWith(m, extra, enabled)
}

// rootfs is Rootfs of the machine's own files and units, without snippets.
func rootfs(m *Machine) []File { return rootfsWith(m, nil, nil) }

func rootfsWith(m *Machine, extra []File, extraEnabled []string) []File {
	out := append([]File(nil), m.Files...)
	out = append(out, unitFiles(m)...)
	out = append(out, extra...)
	enabled := append([]string(nil), extraEnabled...)
	for _, u := range m.Units {
		if u.Enabled {
			enabled = append(enabled, u.Name)
		}
	}
	if len(enabled) > 0 {
		sort.Strings(enabled)
		enabled = slices.Compact(enabled)
		var b strings.Builder
		for _, name := range enabled {
			b.WriteString("enable " + name + "\n")
		}
		out = append(out, File{Path: PresetPath, Mode: 0o644, Contents: b.String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
