package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestSnippetErrors: a snippet's own problems are reported at their line
// and column in the snippet (butane's errors, its warnings refused, a
// variant other than the spec's); what a snippet is for, in the spec.
func TestSnippetErrors(t *testing.T) {
	_, err := spec.LoadFile(filepath.Join("testdata", "snippets", "spec.yaml"))
	if err == nil {
		t.Fatal("a spec with broken snippets parsed")
	}
	got := strings.TrimSpace(err.Error())
	want := strings.Join([]string{
		`testdata/snippets/bad.bu:5:13: error: snippets.all[1]: snippet: path not absolute (at $.storage.files.0.path)`,
		`testdata/snippets/bad.bu:12:17: error: snippets.all[1]: snippet: warning, refused in a snippet: unit "x.service" is enabled, but has no install section so enable does nothing (at $.systemd.units.0.contents)`,
		`testdata/snippets/fcos.bu:1:10: error: snippets.nodes.db-1[0]: snippet: it is written for fcos; a snippet is written for the spec's os, variant flatcar version 1.1.0`,
		`testdata/snippets/spec.yaml:12:27: error: snippets.roles.nope: role "nope" does not exist (roles: web, db)`,
		`testdata/snippets/spec.yaml:13:28: error: snippets.nodes.web-1: node "web-1" is not an etcd member and boots with its role's config: give the snippet to role web`,
		`testdata/snippets/spec.yaml:13:46: error: snippets.nodes.ghost: node "ghost" does not exist`,
	}, "\n")
	if !strings.HasPrefix(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestSnippetsRead: snippets are read relative to the spec's own
// directory, each list in order, and translated to the spec's Ignition
// version; a path outside that directory, a missing file, a directory and
// cloud-config output are refused at the spec's line.
func TestSnippetsRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("motd.bu", "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/motd\n      contents:\n        inline: hello\n")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("sub/db.bu", "variant: flatcar\nversion: 1.1.0\nsystemd:\n  units:\n    - name: db-backup.service\n      contents: \"[Service]\\nExecStart=/bin/true\\n\"\n")
	base := "version: 1\ncluster: c\nroles:\n  web: {zone: public}\n  db: {zone: private, etcd: true}\nnodes:\n  - {name: db-1, role: db, addresses: [10.0.0.1]}\n"
	write("ok.yaml", base+"snippets:\n  all: [motd.bu]\n  roles: {db: [sub/db.bu]}\n  nodes: {db-1: [motd.bu]}\n")
	s, err := spec.LoadFile(filepath.Join(dir, "ok.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sn := range s.SnippetsOf("db", "db-1") {
		names = append(names, sn.Path+"@"+sn.Pos.String())
		if !strings.Contains(string(sn.Ignition), `"version": "3.4.0"`) {
			t.Errorf("%s is not Ignition 3.4.0:\n%s", sn.Path, sn.Ignition)
		}
	}
	okFile := filepath.Join(dir, "ok.yaml")
	if got, want := strings.Join(names, " "), "motd.bu@"+okFile+":9:9 sub/db.bu@"+okFile+":10:16 motd.bu@"+okFile+":11:18"; got != want {
		t.Errorf("db-1's snippets: %s, want %s", got, want)
	}
	if got := s.SnippetsOf("web", ""); len(got) != 1 || got[0].Writes["file /etc/motd"].Line != 5 {
		t.Errorf("web's snippets: %+v", got)
	}

	write("bad.yaml", base+"outputs: [ignition, cloud-config]\nsnippets:\n  all: [../motd.bu, /etc/passwd, missing.bu, sub]\n")
	_, err = spec.LoadFile(filepath.Join(dir, "bad.yaml"))
	bad := filepath.Join(dir, "bad.yaml")
	want := strings.Join([]string{
		bad + `:8:10: error: outputs: snippets are Butane documents merged into the Ignition configs; a cloud-config cannot carry them: drop cloud-config from outputs, or the snippets`,
		bad + `:10:9: error: snippets.all[0]: "../motd.bu" is not a path relative to the spec's directory and inside it`,
		bad + `:10:21: error: snippets.all[1]: "/etc/passwd" is not a path relative to the spec's directory and inside it`,
		bad + `:10:34: error: snippets.all[2]: snippet missing.bu cannot be read: open ` + filepath.Join(dir, "missing.bu") + `: no such file or directory`,
		bad + `:10:46: error: snippets.all[3]: snippet sub cannot be read: not a regular file`,
	}, "\n")
	if err == nil || !strings.HasPrefix(strings.TrimSpace(err.Error()), want) {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}

	// Without snippets, a spec without a file parses (tests, fuzzing).
	if _, err := spec.Parse("", []byte(base)); err != nil {
		t.Errorf("no file, no snippets: %v", err)
	}
}

// TestCloudConfigFlavor: coreos for flatcar, cloud-init when asked; fcos
// reads no cloud-config, and asking for it is an error that says so.
func TestCloudConfigFlavor(t *testing.T) {
	if s := mustParse(t, dcosZones+"outputs: [cloud-config]\n"); s.CloudConfig.Flavor != spec.FlavorCoreOS {
		t.Errorf("flatcar: flavor %q", s.CloudConfig.Flavor)
	}
	if s := mustParse(t, dcosZones+"cloud-config: {flavor: cloud-init}\n"); s.CloudConfig.Flavor != spec.FlavorCloudInit || s.CloudConfig.Pos.Line != 4 {
		t.Errorf("cloud-init asked: %+v", s.CloudConfig)
	}
	got := problems(t, dcosZones+"os: {variant: fcos}\noutputs: [ignition, cloud-config]\ncloud-config: {flavor: coreos}\n")
	want := []string{
		`t.yaml:5:21: outputs[1]: Fedora CoreOS runs neither cloud-init nor coreos-cloudinit and boots from Ignition only: drop cloud-config`,
		`t.yaml:6:24: cloud-config.flavor: Fedora CoreOS runs neither cloud-init nor coreos-cloudinit and boots from Ignition only: drop cloud-config`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = problems(t, dcosZones+"cloud-config: {flavor: cloudinit}\n")
	if len(got) != 1 || got[0] != `t.yaml:4:24: cloud-config.flavor: "cloudinit" is not one of: cloud-init, coreos` {
		t.Errorf("bad flavor: %q", got)
	}
}

// TestSnippetReader: a spec that is no file of the file system (one at a
// git revision) reads its snippets through the reader, by the path the
// spec writes; their problems are at REV:path positions.
func TestSnippetReader(t *testing.T) {
	files := map[string]string{
		"snippets/motd.bu": "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/motd\n      contents:\n        inline: hi\n",
		"snippets/bad.bu":  "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: motd\n",
	}
	read := func(p string) ([]byte, error) {
		if data, ok := files[p]; ok {
			return []byte(data), nil
		}
		return nil, os.ErrNotExist
	}
	base := "version: 1\ncluster: c\nroles:\n  web: {zone: public}\nsnippets:\n  all: [%s]\n"
	s, err := spec.ParseWith("HEAD~1:ops/cluster.yaml", []byte(strings.Replace(base, "%s", "snippets/motd.bu", 1)), read)
	if err != nil || len(s.Snippets.All) != 1 || !strings.Contains(string(s.Snippets.All[0].Ignition), "/etc/motd") {
		t.Fatalf("snippet through the reader: %v", err)
	}
	_, err = spec.ParseWith("HEAD~1:ops/cluster.yaml", []byte(strings.Replace(base, "%s", "snippets/bad.bu", 1)), read)
	if want := "HEAD~1:ops/snippets/bad.bu:5:13: error: snippets.all[0]: snippet: path not absolute (at $.storage.files.0.path)"; err == nil || strings.TrimSpace(err.Error()) != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestSnippetFetches: a snippet that would fetch another config at boot
// (ignition.config.merge or replace) is refused at that key: rampart could
// not check what it writes, and a replace drops the firewall.
func TestSnippetFetches(t *testing.T) {
	files := map[string]string{
		"replace.bu": "variant: flatcar\nversion: 1.1.0\nignition:\n  config:\n    replace:\n      source: https://example.com/other.ign\n",
		"merge.bu":   "variant: flatcar\nversion: 1.1.0\nignition:\n  config:\n    merge:\n      - inline: '{\"ignition\": {\"version\": \"3.4.0\"}}'\n",
	}
	read := func(p string) ([]byte, error) { return []byte(files[p]), nil }
	_, err := spec.ParseWith("c.yaml", []byte("version: 1\ncluster: c\nroles:\n  web: {zone: public}\nsnippets: {all: [replace.bu, merge.bu]}\n"), read)
	want := strings.Join([]string{
		`merge.bu:5:5: error: snippets.all[1]: snippet: ignition.config.merge fetches another config at boot, which rampart cannot check against what it writes (a replace drops the firewall): write what it holds into the snippet`,
		`replace.bu:5:5: error: snippets.all[0]: snippet: ignition.config.replace fetches another config at boot, which rampart cannot check against what it writes (a replace drops the firewall): write what it holds into the snippet`,
	}, "\n")
	if err == nil || strings.TrimSpace(err.Error()) != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}
