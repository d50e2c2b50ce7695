package gen_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

var update = flag.Bool("update", false, "rewrite the golden output trees under fixtures/golden")

const fixtures = "../../fixtures"

func fixtureFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtures, "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("fixtures: %v (%d found)", err, len(files))
	}
	return files
}

func generate(t testing.TB, file string) *gen.Tree {
	t.Helper()
	s, err := spec.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := gen.Generate(s, gen.WithState(fixtureState(t, file, s)))
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// fixtureState is the state directory of a fixture, fixtures/state/<name>:
// the certificates of the golden trees, kept in the repository so that the
// goldens are stable. It holds no key (the public tree needs none, and a key
// never belongs in the repository). With -update, a state that is missing
// or no longer fits the spec is made anew, and its keys are thrown away.
func fixtureState(t testing.TB, file string, s *spec.Spec) *pki.State {
	t.Helper()
	st := pki.Open(filepath.Join(fixtures, "state", name(file)))
	members := etcd.Members(s)
	if !*update || len(members) == 0 {
		return st
	}
	if _, err := st.LoadCertificates(s.Cluster, members); err == nil {
		return st
	}
	if err := os.RemoveAll(st.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ensure(s.Cluster, members); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(st.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".key") || d.Name() == ".lock") {
			err = os.Remove(p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tempState is a new state directory filled for s.
func tempState(t testing.TB, s *spec.Spec) *pki.State {
	t.Helper()
	st := pki.Open(filepath.Join(t.TempDir(), "state"))
	if _, err := st.Ensure(s.Cluster, etcd.Members(s)); err != nil {
		t.Fatal(err)
	}
	return st
}

func name(file string) string { return strings.TrimSuffix(filepath.Base(file), ".yaml") }

// TestGolden compares every fixture's output tree with its golden copy;
// `go test ./generator/gen -update` rewrites them.
func TestGolden(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		t.Run(name(file), func(t *testing.T) {
			tree := generate(t, file)
			dir := filepath.Join(fixtures, "golden", name(file))
			if *update {
				if err := tree.Write(dir); err != nil {
					t.Fatal(err)
				}
				return
			}
			stale, err := tree.Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stale {
				t.Errorf("golden %s: %s (run go test ./generator/gen -update and review the diff)", dir, s)
			}
		})
	}
}

// TestDeterministic writes each fixture twice into different directories and
// requires byte-identical trees.
func TestDeterministic(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		t.Run(name(file), func(t *testing.T) {
			a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "nested", "b")
			if err := generate(t, file).Write(a); err != nil {
				t.Fatal(err)
			}
			if err := generate(t, file).Write(b); err != nil {
				t.Fatal(err)
			}
			ta, tb := readTree(t, a), readTree(t, b)
			if len(ta) != len(tb) {
				t.Fatalf("%d files vs %d", len(ta), len(tb))
			}
			for p, data := range ta {
				if !bytes.Equal(data, tb[p]) {
					t.Errorf("%s differs between two runs", p)
				}
			}
		})
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		out[rel+" "+info.Mode().String()] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestManifest checks that the manifest lists every other file with its
// true size and hash, and the modes the files have on disk.
func TestManifest(t *testing.T) {
	tree := generate(t, filepath.Join(fixtures, "dcos-packet.yaml"))
	dir := t.TempDir() + "/out"
	if err := tree.Write(dir); err != nil {
		t.Fatal(err)
	}
	var m gen.Manifest
	data, err := os.ReadFile(filepath.Join(dir, gen.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != len(tree.Files)-1 {
		t.Fatalf("manifest lists %d files, tree has %d besides it", len(m.Files), len(tree.Files)-1)
	}
	sawScript := false
	for _, e := range m.Files {
		st, err := os.Stat(filepath.Join(dir, e.Path))
		if err != nil {
			t.Fatal(err)
		}
		if int(st.Size()) != e.Size {
			t.Errorf("%s: size %d, manifest says %d", e.Path, st.Size(), e.Size)
		}
		if modeString(st.Mode().Perm()) != e.Mode {
			t.Errorf("%s: mode %s on disk, manifest says %s", e.Path, modeString(st.Mode().Perm()), e.Mode)
		}
		if strings.HasSuffix(e.Path, "rootfs/opt/bin/rampart-firewall") {
			sawScript = true
			if e.Mode != "0755" {
				t.Errorf("%s: mode %s, want 0755", e.Path, e.Mode)
			}
		}
	}
	if !sawScript {
		t.Error("no firewall script in the manifest")
	}
}

func modeString(m os.FileMode) string {
	const digits = "01234567"
	return "0" + string(digits[(m>>6)&7]) + string(digits[(m>>3)&7]) + string(digits[m&7])
}

// TestCheck: a fresh tree is up to date; an edited, a removed, an added file
// and a changed mode are each reported.
func TestCheck(t *testing.T) {
	tree := generate(t, filepath.Join(fixtures, "isolation.yaml"))
	dir := filepath.Join(t.TempDir(), "out")
	if err := tree.Write(dir); err != nil {
		t.Fatal(err)
	}
	if stale, err := tree.Check(dir); err != nil || len(stale) != 0 {
		t.Fatalf("fresh tree: %v %v", stale, err)
	}
	edit := filepath.Join(dir, "roles/agent/butane.yaml")
	if err := os.WriteFile(edit, []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "roles/master/ignition.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "roles/extra.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "roles/agent/rootfs/usr/local/bin/rampart-firewall"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale, err := tree.Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"roles/agent/butane.yaml: differs",
		"roles/agent/rootfs/usr/local/bin/rampart-firewall: mode 0644, want 0755",
		"roles/extra.txt: not generated by this spec",
		"roles/master/ignition.json: missing",
	}
	var got []string
	for _, s := range stale {
		got = append(got, s.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("check reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWriteReplacesWhole: a second write replaces the previous tree entirely
// (no file of the old tree is left) and leaves no temporary directory.
func TestWriteReplacesWhole(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if err := generate(t, filepath.Join(fixtures, "dcos-packet.yaml")).Write(dir); err != nil {
		t.Fatal(err)
	}
	iso := generate(t, filepath.Join(fixtures, "isolation.yaml"))
	if err := iso.Write(dir); err != nil {
		t.Fatal(err)
	}
	if stale, err := iso.Check(dir); err != nil || len(stale) != 0 {
		t.Fatalf("after replacing: %v %v", stale, err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("the parent holds %d entries, want only out/: %v", len(entries), entries)
	}
}

// TestWriteFailureKeepsPrevious: a write that fails half-way leaves the
// previous tree untouched.
func TestWriteFailureKeepsPrevious(t *testing.T) {
	// The failure must not depend on permissions (CI runs as root, which
	// ignores them): a file whose parent is a file cannot be created.
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	good := generate(t, filepath.Join(fixtures, "isolation.yaml"))
	if err := good.Write(dir); err != nil {
		t.Fatal(err)
	}
	bad := &gen.Tree{Files: []gen.File{
		{Path: "roles/a/butane.yaml", Mode: 0o644, Data: []byte("a")},
		{Path: "roles/a/butane.yaml/child", Mode: 0o644, Data: []byte("b")}, // cannot exist: parent is a file
		{Path: gen.ManifestName, Mode: 0o644, Data: []byte("{}")},
	}}
	if err := bad.Write(dir); err == nil {
		t.Fatal("writing an impossible tree succeeded")
	}
	if stale, err := good.Check(dir); err != nil || len(stale) != 0 {
		t.Fatalf("the previous tree was changed by a failed write: %v %v", stale, err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("a failed write left %d entries beside out/: %v", len(entries)-1, entries)
	}
}

// TestWriteRefusesForeignDirectory: rampart does not replace a directory it
// did not write.
func TestWriteRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := generate(t, filepath.Join(fixtures, "isolation.yaml")).Write(dir)
	if err == nil || !strings.Contains(err.Error(), "not a rampart output tree") {
		t.Fatalf("got %v, want a refusal", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(data) != "mine" {
		t.Error("the foreign file was touched")
	}
}

// TestMachines: etcd members get their own directory with their host name;
// roles whose members are etcd members get none; other roles get one each.
func TestMachines(t *testing.T) {
	tree := generate(t, filepath.Join(fixtures, "dcos-aws.yaml"))
	for _, p := range []string{
		"nodes/master-a/rootfs/etc/hostname", "nodes/master-b/ignition.json", "nodes/master-c/butane.yaml",
		"roles/agent/ignition.json", "roles/public-agent/ignition.json",
	} {
		if tree.File(p) == nil {
			t.Errorf("%s is missing", p)
		}
	}
	if f := tree.File("nodes/master-a/rootfs/etc/hostname"); f != nil && string(f.Data) != "master-a\n" {
		t.Errorf("hostname %q", f.Data)
	}
	for _, p := range []string{"roles/master/butane.yaml", "roles/agent/cloud-config.yaml", "nodes/master-a/cloud-config.yaml"} {
		if tree.File(p) != nil {
			t.Errorf("%s should not exist (etcd role, or cloud-config not asked for)", p)
		}
	}
}

// TestNoKeyInFixtures: nothing under fixtures/ (specs, golden trees, the
// fixtures' certificates) holds private key material: keys live in state
// directories, never in the repository.
func TestNoKeyInFixtures(t *testing.T) {
	n := 0
	err := filepath.WalkDir(fixtures, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		if strings.HasSuffix(p, ".key") {
			t.Errorf("%s: a key file in the repository", p)
		}
		data, err := os.ReadFile(p)
		if err == nil && gen.ContainsSecret(data) {
			t.Errorf("%s holds private key material", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("only %d files under %s", n, fixtures)
	}
}

// snippetSpec writes a spec with an etcd member and a role without etcd,
// the users and snippets given, into a new directory, and returns its
// path.
func snippetSpec(t *testing.T, extra string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "cluster.yaml")
	data := "version: 1\ncluster: sn\nos: {variant: flatcar, version: 1.1.0}\nroles:\n  web: {zone: public}\n  db: {zone: private, etcd: true}\nnodes:\n  - {name: db-1, role: db, addresses: [10.0.0.1]}\npools:\n  - {role: web, cidrs: [10.1.0.0/24]}\n" + extra
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

const motdSnippet = "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/motd.d/sn.conf\n      mode: 0640\n      contents:\n        inline: |\n          %s\n"

// TestSnippetChangeIsStale: a snippet's files are in the Ignition config
// (merged), in rootfs/ and the manifest, a node's snippet on that node only; changing only the snippet makes
// gen --check report the tree and the member's final userdata stale.
func TestSnippetChangeIsStale(t *testing.T) {
	t.Parallel()
	node := "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/db-1.conf\n      contents:\n        inline: only db-1\n"
	file := snippetSpec(t, "snippets:\n  all: [motd.bu]\n  nodes: {db-1: [node.bu]}\n", map[string]string{"motd.bu": fmt.Sprintf(motdSnippet, "first"), "node.bu": node})
	dir := filepath.Dir(file)
	run := func(check bool) *gen.Report {
		t.Helper()
		s, err := spec.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		r, err := gen.Run(gen.Options{Spec: s, Out: filepath.Join(dir, "out"), State: filepath.Join(dir, "state"), Check: check})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	run(false)
	for _, m := range []string{"roles/web", "nodes/db-1"} {
		data, err := os.ReadFile(filepath.Join(dir, "out", m, "rootfs/etc/motd.d/sn.conf"))
		if err != nil || string(data) != "first\n" {
			t.Errorf("%s: the snippet's file in rootfs/: %q %v", m, data, err)
		}
		if info, err := os.Stat(filepath.Join(dir, "out", m, "rootfs/etc/motd.d/sn.conf")); err != nil || info.Mode().Perm() != 0o640 {
			t.Errorf("%s: the snippet's file mode: %v %v", m, info, err)
		}
		ign, _ := os.ReadFile(filepath.Join(dir, "out", m, "ignition.json"))
		if !bytes.Contains(ign, []byte(`"path": "/etc/motd.d/sn.conf"`)) || !bytes.Contains(ign, []byte(`"path": "/etc/hostname"`)) != (m == "roles/web") {
			t.Errorf("%s: the Ignition config lacks the snippet's file or rampart's:\n%s", m, ign)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "nodes/db-1/rootfs/etc/db-1.conf")); err != nil {
		t.Errorf("the node's snippet: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "roles/web/rootfs/etc/db-1.conf")); err == nil {
		t.Error("the node's snippet reached role web")
	}
	final, _ := os.ReadFile(filepath.Join(dir, "state", gen.UserdataPath("node", "db-1", spec.OutputIgnition)))
	if !bytes.Contains(final, []byte(`"path": "/etc/motd.d/sn.conf"`)) {
		t.Error("the member's final userdata lacks the snippet's file")
	}
	if r := run(true); len(r.Stale)+len(r.StaleUserdata) != 0 {
		t.Fatalf("fresh tree stale: %v %v", r.Stale, r.StaleUserdata)
	}
	if err := os.WriteFile(filepath.Join(dir, "motd.bu"), []byte(fmt.Sprintf(motdSnippet, "second")), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(true)
	var got []string
	for _, s := range r.Stale {
		got = append(got, s.String())
	}
	for _, s := range r.StaleUserdata {
		got = append(got, s.String())
	}
	want := []string{
		"manifest.json: differs",
		"nodes/db-1/ignition.json: differs",
		"nodes/db-1/rootfs/etc/motd.d/sn.conf: differs",
		"roles/web/ignition.json: differs",
		"roles/web/rootfs/etc/motd.d/sn.conf: differs",
		"userdata/nodes/db-1/ignition.json: differs",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after the snippet changed, check reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSnippetOwnership: a snippet that writes what rampart writes (a file,
// a unit, a drop-in, a user, a file where rampart needs a directory) is
// refused, at the snippet's line and column, naming rampart's machine.
func TestSnippetOwnership(t *testing.T) {
	t.Parallel()
	own := `variant: flatcar
version: 1.1.0
passwd:
  users:
    - name: core
storage:
  files:
    - path: /etc/hostname
      contents:
        inline: evil
    - path: /etc/rampart
      contents:
        inline: x
    - path: /etc/systemd/system/rampart-firewall.service.d/override.conf
      contents:
        inline: "[Service]\nExecStart=\n"
systemd:
  units:
    - name: rampart-firewall.service
      mask: true
    - name: docker.service
      dropins:
        - name: 20-rampart-firewall.conf
          contents: "[Service]\n"
        - name: 30-own.conf
          contents: "[Service]\n"
`
	file := snippetSpec(t, "users: [{name: core}]\nsnippets:\n  nodes: {db-1: [own.bu]}\n", map[string]string{"own.bu": own})
	s, err := spec.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gen.Generate(s, gen.WithState(tempState(t, s)))
	bu := filepath.Join(filepath.Dir(file), "own.bu")
	want := strings.Join([]string{
		"node db-1: " + bu + ":5:13: error: snippets.nodes.db-1[0]: the snippet writes user core, which is rampart's on node db-1 (a user of the spec); a snippet may add to a machine, never replace or change rampart's files, units, drop-ins or users",
		bu + ":8:13: error: snippets.nodes.db-1[0]: the snippet writes file /etc/hostname, which is rampart's on node db-1 (one of its files); a snippet may add to a machine, never replace or change rampart's files, units, drop-ins or users",
		bu + ":11:13: error: snippets.nodes.db-1[0]: the snippet writes file /etc/rampart, which is rampart's on node db-1 (the directory of its /etc/rampart/firewall/failsafe.v4); a snippet may add to a machine, never replace or change rampart's files, units, drop-ins or users",
		bu + ":14:13: error: snippets.nodes.db-1[0]: the snippet writes file /etc/systemd/system/rampart-firewall.service.d/override.conf, which is rampart's on node db-1 (a drop-in directory of a unit it writes or enables); a snippet may add to a machine, never replace or change rampart's files, units, drop-ins or users",
		bu + ":19:13: error: snippets.nodes.db-1[0]: the snippet writes unit rampart-firewall.service, which is rampart's on node db-1 (a unit it writes or enables); a snippet may add to a machine, never replace or change rampart's files, units, drop-ins or users",
		bu + ":23:17: error: snippets.nodes.db-1[0]: the snippet writes drop-in 20-rampart-firewall.conf of docker.service, which is rampart's on node db-1 (a drop-in of docker.service); a snippet may add to a machine, never replace or change rampart's files, units, drop-ins or users",
	}, "\n")
	if err == nil || strings.TrimSpace(err.Error()) != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	// validate's check, without a state, finds the same
	err = gen.CheckSnippets(s, policy.Compile(s))
	if want := strings.TrimPrefix(want, "node db-1: "); err == nil || strings.TrimSpace(err.Error()) != want {
		t.Errorf("CheckSnippets:\n%v\nwant:\n%s", err, want)
	}
	// and the etcd key, which gen takes from the state, from its layout
	key := "variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/ssl/certs/etcd/server.key\n      contents:\n        inline: stolen\n"
	file = snippetSpec(t, "snippets:\n  nodes: {db-1: [key.bu]}\n", map[string]string{"key.bu": key})
	if s, err = spec.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	err = gen.CheckSnippets(s, policy.Compile(s))
	if err == nil || !strings.Contains(err.Error(), "key.bu:5:13: error: snippets.nodes.db-1[0]: the snippet writes file /etc/ssl/certs/etcd/server.key, which is rampart's on node db-1 (a secret file)") {
		t.Errorf("CheckSnippets, a snippet writing the member's key: %v", err)
	}
	// a directory entry of the directory that holds the keys (its mode)
	dir := "variant: flatcar\nversion: 1.1.0\nstorage:\n  directories:\n    - path: /etc/ssl/certs/etcd\n      mode: 0777\n"
	file = snippetSpec(t, "snippets:\n  nodes: {db-1: [dir.bu]}\n", map[string]string{"dir.bu": dir})
	if s, err = spec.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	err = gen.CheckSnippets(s, policy.Compile(s))
	if err == nil || !strings.Contains(err.Error(), "the snippet writes directory /etc/ssl/certs/etcd, which is rampart's on node db-1 (the directory of its /etc/ssl/certs/etcd/") {
		t.Errorf("CheckSnippets, a snippet making the key directory world-writable: %v", err)
	}
}

// coreosCloudConfig is every key coreos-cloudinit documents for a
// cloud-config (its Documentation/cloud-config.md): decoded with
// KnownFields, any other key fails the test, since coreos-cloudinit would
// ignore it.
type coreosCloudConfig struct {
	Hostname          string   `yaml:"hostname"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
	ManageEtcHosts    string   `yaml:"manage_etc_hosts"`
	Users             []struct {
		Name                string   `yaml:"name"`
		Gecos               string   `yaml:"gecos"`
		Passwd              string   `yaml:"passwd"`
		Homedir             string   `yaml:"homedir"`
		NoCreateHome        bool     `yaml:"no-create-home"`
		PrimaryGroup        string   `yaml:"primary-group"`
		Groups              []string `yaml:"groups"`
		NoUserGroup         bool     `yaml:"no-user-group"`
		SSHAuthorizedKeys   []string `yaml:"ssh-authorized-keys"`
		SSHImportGithub     string   `yaml:"coreos-ssh-import-github"`
		SSHImportGithubUser []string `yaml:"coreos-ssh-import-github-users"`
		SSHImportURL        string   `yaml:"coreos-ssh-import-url"`
		System              bool     `yaml:"system"`
		NoLogInit           bool     `yaml:"no-log-init"`
		Shell               string   `yaml:"shell"`
	} `yaml:"users"`
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Content     string `yaml:"content"`
		Permissions string `yaml:"permissions"`
		Owner       string `yaml:"owner"`
		Encoding    string `yaml:"encoding"`
	} `yaml:"write_files"`
	CoreOS struct {
		Etcd      map[string]string `yaml:"etcd"`
		Etcd2     map[string]string `yaml:"etcd2"`
		Fleet     map[string]string `yaml:"fleet"`
		Flannel   map[string]string `yaml:"flannel"`
		Locksmith map[string]string `yaml:"locksmith"`
		Update    map[string]string `yaml:"update"`
		Units     []struct {
			Name    string `yaml:"name"`
			Runtime bool   `yaml:"runtime"`
			Enable  bool   `yaml:"enable"`
			Content string `yaml:"content"`
			Command string `yaml:"command"`
			Mask    bool   `yaml:"mask"`
			DropIns []struct {
				Name    string `yaml:"name"`
				Content string `yaml:"content"`
			} `yaml:"drop-ins"`
		} `yaml:"units"`
	} `yaml:"coreos"`
}

// TestCoreOSCloudConfig checks every cloud-config of the coreos flavour
// (Flatcar's default: the fixtures' and, made coreos, the edge case with
// users and an etcd member) against the keys coreos-cloudinit documents:
// no other key (no runcmd, no packages); every file of rootfs/ but the
// preset in write_files or coreos.units, byte for byte; the firewall unit
// and every unit Ignition enables with enable: true and command: start;
// the etcd member's drop-in on etcd-member.service; the machine's users
// with their keys and groups.
func TestCoreOSCloudConfig(t *testing.T) {
	t.Parallel()
	type spectree struct {
		s    *spec.Spec
		tree *gen.Tree
	}
	var all []spectree
	files := append(fixtureFiles(t), filepath.Join("testdata", "real", "edge-iptables.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(string(data), "cloud-config: {flavor: cloud-init}", "cloud-config: {flavor: coreos}", 1)
		s, err := spec.Parse(file, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if !s.Wants(spec.OutputCloudConfig) || s.CloudConfig.Flavor != spec.FlavorCoreOS {
			continue
		}
		tree, err := gen.Generate(s, gen.WithState(tempState(t, s)))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, spectree{s, tree})
	}
	checked, members, withUsers := 0, 0, 0
	for _, st := range all {
		byPath := map[string]gen.File{}
		for _, f := range st.tree.Files {
			byPath[f.Path] = f
		}
		for _, f := range st.tree.Files {
			if path.Base(f.Path) != "cloud-config.yaml" {
				continue
			}
			dir := path.Dir(f.Path)
			checked++
			dec := yaml.NewDecoder(bytes.NewReader(f.Data))
			dec.KnownFields(true)
			var cc coreosCloudConfig
			if err := dec.Decode(&cc); err != nil {
				t.Errorf("%s: %s: not coreos-cloudinit's cloud-config: %v", st.s.Cluster, f.Path, err)
				continue
			}
			if !bytes.HasPrefix(f.Data, []byte("#cloud-config\n")) {
				t.Errorf("%s: the first line is not #cloud-config", f.Path)
			}
			// What lands: write_files and the units' contents and drop-ins.
			landed := map[string]string{}
			for _, wf := range cc.WriteFiles {
				want, ok := byPath[path.Join(dir, "rootfs", wf.Path)]
				switch {
				case !ok:
					t.Errorf("%s: write_files %s is not in rootfs/", f.Path, wf.Path)
				case wf.Content != string(want.Data) || wf.Encoding != "" || wf.Owner != "root:root" || wf.Permissions != fmt.Sprintf("0%o", want.Mode.Perm()):
					t.Errorf("%s: write_files %s: %s %q %q, differs from rootfs/ (%04o)", f.Path, wf.Path, wf.Owner, wf.Permissions, wf.Encoding, want.Mode.Perm())
				}
				landed[wf.Path] = wf.Content
			}
			enabled := map[string]bool{}
			for _, u := range cc.CoreOS.Units {
				if u.Content != "" {
					landed[path.Join("/etc/systemd/system", u.Name)] = u.Content
				}
				for _, d := range u.DropIns {
					landed[path.Join("/etc/systemd/system", u.Name+".d", d.Name)] = d.Content
				}
				if u.Mask || u.Runtime {
					t.Errorf("%s: unit %s masked or runtime", f.Path, u.Name)
				}
				switch {
				case u.Enable && u.Command == "start":
					enabled[u.Name] = true
				case u.Enable || u.Command != "":
					t.Errorf("%s: unit %s: enable %v, command %q: want both or neither", f.Path, u.Name, u.Enable, u.Command)
				}
			}
			var preset string
			for _, rf := range st.tree.Files {
				rel, ok := strings.CutPrefix(rf.Path, dir+"/rootfs")
				if !ok {
					continue
				}
				if rel == "/etc/systemd/system-preset/20-ignition.preset" {
					preset = string(rf.Data)
					continue
				}
				if got, ok := landed[rel]; !ok || got != string(rf.Data) {
					t.Errorf("%s: rootfs%s does not land with coreos-cloudinit (or differs)", f.Path, rel)
				}
			}
			var want []string
			for _, line := range strings.Split(strings.TrimSpace(preset), "\n") {
				if name, ok := strings.CutPrefix(line, "enable "); ok {
					want = append(want, name)
				}
			}
			if got := slices.Sorted(maps.Keys(enabled)); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: enables and starts %q, Ignition enables %q", f.Path, got, want)
			}
			if !enabled[gen.FirewallUnit] {
				t.Errorf("%s: %s is not enabled and started", f.Path, gen.FirewallUnit)
			}
			if n := st.s.Node(path.Base(dir)); path.Dir(dir) == "nodes" && n != nil {
				members++
				found := false
				for _, u := range cc.CoreOS.Units {
					for _, d := range u.DropIns {
						found = found || u.Name == "etcd-member.service" && d.Name == "20-rampart-etcd.conf" && strings.Contains(d.Content, "ETCD_NAME="+n.Name) && enabled[u.Name]
					}
				}
				if !found {
					t.Errorf("%s: etcd-member.service is not enabled and started with rampart's drop-in", f.Path)
				}
			}
			role := path.Base(dir)
			if path.Dir(dir) == "nodes" {
				role = st.s.Node(role).Role
			}
			var got, wantUsers []string
			for _, u := range cc.Users {
				got = append(got, fmt.Sprintf("%s %q %q", u.Name, u.SSHAuthorizedKeys, u.Groups))
			}
			for _, u := range st.s.UsersOf(role) {
				wantUsers = append(wantUsers, fmt.Sprintf("%s %q %q", u.Name, u.SSHAuthorizedKeys, u.Groups))
			}
			if strings.Join(got, "\n") != strings.Join(wantUsers, "\n") {
				t.Errorf("%s: users\n%s\nwant\n%s", f.Path, strings.Join(got, "\n"), strings.Join(wantUsers, "\n"))
			}
			if len(got) > 0 {
				withUsers++
			}
		}
	}
	if checked == 0 || members == 0 || withUsers == 0 {
		t.Errorf("checked %d coreos cloud-configs, %d of etcd members, %d with users: the fixtures no longer cover the flavour", checked, members, withUsers)
	}
	t.Logf("%d coreos-cloudinit cloud-configs checked, %d of etcd members, %d with users", checked, members, withUsers)
}
