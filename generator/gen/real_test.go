package gen_test

// The TestReal* tests check the generated output with the real programs that
// consume it on a node: Ignition's own binary writes each machine's config
// into a temporary root, cloud-init validates each cloud-config, systemd
// verifies each unit, and iptables, ip6tables, ipset and nft load each
// firewall in a network namespace of its own, where the generated script runs
// twice. See realtools_test.go for what happens when a program is missing.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/realtool"
)

// realFixture is one fixture, generated in process and written to disk.
type realFixture struct {
	name     string
	spec     *spec.Spec
	tree     *gen.Tree
	state    *pki.State // the state the tree was made with
	dir      string     // where tree.Write put it
	machines []*realMachine
}

// realMachine is one roles/<role> or nodes/<node> directory of a tree.
type realMachine struct {
	rel    string // "roles/agent", relative to the tree
	dir    string // absolute
	rootfs map[string]*realNodeFile
}

// realNodeFile is a file of a machine's rootfs/: what the node must hold at
// Path, as the manifest describes it.
type realNodeFile struct {
	path string      // absolute on the node
	mode fs.FileMode // from the manifest
	data []byte      // as tree.Write wrote it (checked against the manifest)
}

func (m *realMachine) rootfsDir() string { return filepath.Join(m.dir, "rootfs") }

// file returns the machine's tree file name (butane.yaml, ...) and whether it exists.
func (m *realMachine) file(t testing.TB, name string) ([]byte, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(m.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return data, true
}

// realLoadFixtures generates every fixture, and every spec of
// testdata/real/ (edge cases the fixtures do not reach: the longest names the
// spec allows, IPv6-only nodes, overlays with iptables, reject with nftables),
// with gen.Generate, writes it with tree.Write into a temporary directory and
// reads back its manifest, checking on the way that every rootfs/ file on disk
// is what the manifest says.
func realLoadFixtures(t *testing.T) []*realFixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(realRepoRoot, "fixtures", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures: %v (%d found)", err, len(files))
	}
	edge, err := filepath.Glob(filepath.Join("testdata", "real", "*.yaml"))
	if err != nil || len(edge) == 0 {
		t.Fatalf("testdata/real: %v (%d found)", err, len(edge))
	}
	files = append(files, edge...)
	base := t.TempDir()
	var out []*realFixture
	seen := map[string]string{}
	for _, file := range files {
		fx := &realFixture{name: strings.TrimSuffix(filepath.Base(file), ".yaml")}
		if prev, dup := seen[fx.name]; dup {
			t.Fatalf("%s and %s have the same name; rename one", prev, file)
		}
		seen[fx.name] = file
		fx.spec, err = spec.LoadFile(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		fx.state = tempState(t, fx.spec)
		fx.tree, err = gen.Generate(fx.spec, gen.WithState(fx.state))
		if err != nil {
			t.Fatalf("%s: generate: %v", file, err)
		}
		fx.dir = filepath.Join(base, fx.name)
		if err := fx.tree.Write(fx.dir); err != nil {
			t.Fatalf("%s: write: %v", file, err)
		}
		fx.machines = realMachines(t, fx)
		out = append(out, fx)
	}
	return out
}

func realMachines(t *testing.T, fx *realFixture) []*realMachine {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fx.dir, gen.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var man gen.Manifest
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatalf("%s: manifest: %v", fx.name, err)
	}
	onNode := map[string]bool{}
	for _, f := range fx.tree.Files {
		onNode[f.Path] = f.OnNode
	}
	byRel := map[string]*realMachine{}
	var out []*realMachine
	for _, e := range man.Files {
		parts := strings.SplitN(e.Path, "/", 4)
		if len(parts) < 3 || (parts[0] != "roles" && parts[0] != "nodes") {
			if onNode[e.Path] {
				t.Errorf("%s: %s is marked OnNode but is in no machine's rootfs/", fx.name, e.Path)
			}
			continue
		}
		rel := parts[0] + "/" + parts[1]
		m := byRel[rel]
		if m == nil {
			m = &realMachine{rel: rel, dir: filepath.Join(fx.dir, filepath.FromSlash(rel)), rootfs: map[string]*realNodeFile{}}
			byRel[rel] = m
			out = append(out, m)
		}
		inRootfs := parts[2] == "rootfs" && len(parts) == 4
		if inRootfs != onNode[e.Path] {
			t.Errorf("%s: %s: OnNode is %v, but the file is %s a rootfs/ tree", fx.name, e.Path, onNode[e.Path], map[bool]string{true: "in", false: "not in"}[inRootfs])
		}
		if !inRootfs {
			continue
		}
		mode, err := strconv.ParseUint(e.Mode, 8, 32)
		if err != nil {
			t.Fatalf("%s: manifest mode %q of %s: %v", fx.name, e.Mode, e.Path, err)
		}
		disk := filepath.Join(fx.dir, filepath.FromSlash(e.Path))
		data, err := os.ReadFile(disk)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != e.SHA256 || len(data) != e.Size {
			t.Errorf("%s: %s on disk does not match the manifest's sha256 and size", fx.name, e.Path)
		}
		if st, err := os.Stat(disk); err != nil || st.Mode().Perm() != fs.FileMode(mode) {
			t.Errorf("%s: %s on disk: mode %v, manifest says %s (%v)", fx.name, e.Path, st.Mode().Perm(), e.Mode, err)
		}
		p := "/" + parts[3]
		m.rootfs[p] = &realNodeFile{path: p, mode: fs.FileMode(mode), data: data}
	}
	if len(out) == 0 {
		t.Fatalf("%s: the tree has no roles/* or nodes/* directory", fx.name)
	}
	for _, m := range out {
		if len(m.rootfs) == 0 {
			t.Errorf("%s: %s has no rootfs/ files", fx.name, m.rel)
		}
	}
	return out
}

// realEachMachine runs fn for every machine of every fixture, as parallel
// subtests: each machine gets its own temporary directories (and namespaces),
// so none share state.
func realEachMachine(t *testing.T, fixtures []*realFixture, fn func(t *testing.T, fx *realFixture, m *realMachine)) {
	t.Helper()
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			for _, m := range fx.machines {
				t.Run(m.rel, func(t *testing.T) {
					t.Parallel()
					fn(t, fx, m)
				})
			}
		})
	}
}

// realButaneUnits reads the units of a machine's Butane document: name →
// enabled (false when the document says false or nothing).
func realButaneUnits(t testing.TB, m *realMachine) map[string]bool {
	t.Helper()
	data, ok := m.file(t, "butane.yaml")
	if !ok {
		t.Fatalf("%s has no butane.yaml", m.rel)
	}
	var doc struct {
		Systemd struct {
			Units []struct {
				Name    string `yaml:"name"`
				Enabled *bool  `yaml:"enabled"`
			} `yaml:"units"`
		} `yaml:"systemd"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s/butane.yaml: %v", m.rel, err)
	}
	units := map[string]bool{}
	for _, u := range doc.Systemd.Units {
		if _, dup := units[u.Name]; dup {
			t.Errorf("%s/butane.yaml: unit %s twice", m.rel, u.Name)
		}
		units[u.Name] = u.Enabled != nil && *u.Enabled
	}
	return units
}

// realSnippetUnits reads the units of the machine's snippets (their
// Ignition configs): name → enabled.
func realSnippetUnits(t testing.TB, fx *realFixture, m *realMachine) map[string]bool {
	t.Helper()
	node := ""
	if path.Dir(m.rel) == "nodes" {
		node = path.Base(m.rel)
	}
	units := map[string]bool{}
	for _, sn := range fx.spec.SnippetsOf(realRole(fx, m), node) {
		var cfg struct {
			Systemd struct {
				Units []struct {
					Name    string `json:"name"`
					Enabled *bool  `json:"enabled"`
				} `json:"units"`
			} `json:"systemd"`
		}
		if err := json.Unmarshal(sn.Ignition, &cfg); err != nil {
			t.Fatalf("snippet %s: %v", sn.File, err)
		}
		for _, u := range cfg.Systemd.Units {
			units[u.Name] = units[u.Name] || u.Enabled != nil && *u.Enabled
		}
	}
	return units
}

func realEnabled(units map[string]bool) []string {
	var out []string
	for name, on := range units {
		if on {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func realSorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// realIgnitionBookkeeping lists, with the reason, every file Ignition's files
// stage writes into the root that is Ignition's own record rather than part of
// the machine's config. Only these exact paths are exempt from the comparison
// with rootfs/; each must be present, so the list cannot go stale unnoticed.
var realIgnitionBookkeeping = map[string]string{
	// createResultFile: the provisioning boot ID and date and whether a user
	// config was given, written on every first boot for `ignition-validate`,
	// Afterburn and support tooling; no config can say anything about it.
	"/etc/.ignition-result.json": "Ignition's result file",
}

// TestRealIgnition runs the real Ignition binary, the version go.mod pins, on
// every machine's ignition.json: its fetch-offline stage parses the config
// and resolves every data: URL, its files stage writes files, units and the
// preset into an empty temporary root, exactly as in a node's initramfs. What
// it writes must be rootfs/ file for file, byte for byte and mode for mode as
// the manifest says, and it must enable exactly the units Butane enables.
func TestRealIgnition(t *testing.T) {
	realtool.NeedRoot(t, "Ignition's files stage sets the owner of every file it writes")
	ign := realtool.Ignition(t)
	fixtures := realLoadFixtures(t)
	realEachMachine(t, fixtures, func(t *testing.T, fx *realFixture, m *realMachine) {
		config := filepath.Join(m.dir, "ignition.json")
		if !fx.spec.Wants(spec.OutputIgnition) {
			if _, err := os.Stat(config); err == nil {
				t.Errorf("%s: outputs do not include ignition, yet %s/ignition.json exists", fx.name, m.rel)
			}
			return
		}
		if _, err := os.Stat(config); err != nil {
			t.Fatalf("outputs include ignition, but: %v", err)
		}
		realRunIgnition(t, ign, fx, m, config)
	})
}

func realRunIgnition(t *testing.T, ign string, fx *realFixture, m *realMachine, config string) {
	root, argsFile, pathsFile := realtool.ApplyIgnition(t, ign, config)

	// What Ignition wrote.
	got := map[string]fs.FileInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		got["/"+filepath.ToSlash(rel)] = info
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(got, realtool.SelinuxConfig)
	delete(got, realtool.AccountLock)
	for p := range realtool.ImageAccounts {
		delete(got, p)
		delete(got, p+"-") // the tools' backup of the file they change
	}
	for p := range got {
		if strings.HasPrefix(p, "/home/") {
			delete(got, p) // the users' keys: realCheckUsers
		}
	}
	realCheckUsers(t, root, fx, m)
	for p, reason := range realIgnitionBookkeeping {
		if _, ok := got[p]; !ok {
			t.Errorf("Ignition did not write %s (%s): update realIgnitionBookkeeping", p, reason)
		}
		if _, ok := m.rootfs[p]; ok {
			t.Errorf("%s is both in rootfs/ and Ignition's own bookkeeping", p)
		}
	}
	var written []string
	for p, info := range got {
		if _, own := realIgnitionBookkeeping[p]; own {
			continue
		}
		written = append(written, p)
		want, ok := m.rootfs[p]
		if !ok {
			t.Errorf("Ignition wrote %s, which is not in %s/rootfs/", p, m.rel)
			continue
		}
		if !info.Mode().IsRegular() {
			t.Errorf("Ignition made %s a %v, rootfs/ has a regular file", p, info.Mode().Type())
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != string(want.data) {
			t.Errorf("%s: Ignition wrote %d bytes that differ from %s/rootfs%s (%d bytes):\n%s", p, len(data), m.rel, p, len(want.data), realtool.FirstDiff(string(want.data), string(data)))
		}
		if info.Mode().Perm() != want.mode {
			t.Errorf("%s: Ignition wrote mode %04o, the manifest says %04o", p, info.Mode().Perm(), want.mode)
		}
	}
	for p := range m.rootfs {
		if _, ok := got[p]; !ok {
			t.Errorf("%s/rootfs%s: Ignition did not write it", m.rel, p)
		}
	}

	// The units it enabled: the preset file's `enable` lines; rampart's
	// (the Butane document's) and the snippets'.
	units := realButaneUnits(t, m)
	for name, on := range realSnippetUnits(t, fx, m) {
		units[name] = units[name] || on
	}
	enabled := map[string]bool{}
	if data, err := os.ReadFile(filepath.Join(root, "etc/systemd/system-preset/20-ignition.preset")); err == nil {
		for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "enable":
				if enabled[f[1]] {
					t.Errorf("the preset enables %s twice", f[1])
				}
				enabled[f[1]] = true
			case len(f) == 2 && f[0] == "disable":
				if on, ok := units[f[1]]; !ok || on {
					t.Errorf("the preset disables %s, which Butane does not declare disabled", f[1])
				}
			default:
				t.Errorf("preset line %q is neither enable nor disable of one unit", line)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if g, w := realSorted(enabled), realEnabled(units); strings.Join(g, " ") != strings.Join(w, " ") {
		t.Errorf("Ignition enabled %q, the Butane document enables %q", g, w)
	}
	if !units[gen.FirewallUnit] {
		t.Errorf("the Butane document does not enable %s", gen.FirewallUnit)
	}

	// The relabelling it asked for must cover every file it wrote, so a node
	// with SELinux gets them all labelled.
	argv, err := os.ReadFile(argsFile)
	if errors.Is(err, fs.ErrNotExist) {
		return // this Ignition was built without relabelling
	}
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := strings.Join([]string{"-vF0", "-r", root, filepath.Join(root, "etc/selinux/targeted/contexts/files/file_contexts"), "-f", "-"}, "\n") + "\n"
	if string(argv) != wantArgs {
		t.Errorf("setfiles called with %q, want %q", argv, wantArgs)
	}
	paths, err := os.ReadFile(pathsFile)
	if err != nil {
		t.Fatal(err)
	}
	var relabelled []string
	for _, p := range strings.Split(strings.TrimSuffix(string(paths), "\x00"), "\x00") {
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Errorf("Ignition asked to relabel %s, outside the root %s", p, root)
			continue
		}
		relabelled = append(relabelled, "/"+filepath.ToSlash(rel))
	}
	for _, p := range written {
		covered := false
		for _, r := range relabelled {
			if p == r || strings.HasPrefix(p, r+"/") {
				covered = true
				break
			}
		}
		if !covered {
			t.Errorf("Ignition wrote %s but did not ask to relabel it (relabelled: %q)", p, relabelled)
		}
	}
}

// realRole is the role of a machine of the tree.
func realRole(fx *realFixture, m *realMachine) string {
	role := path.Base(m.rel)
	if path.Dir(m.rel) == "nodes" {
		role = fx.spec.Node(role).Role
	}
	return role
}

// realCheckUsers: every user of the machine is in the root's /etc/passwd
// and in its groups, with exactly its keys in
// ~/.ssh/authorized_keys.d/ignition (0600, owned by the user), where
// Ignition writes them and the images' sshd reads them; no other user has
// keys there.
func realCheckUsers(t *testing.T, root string, fx *realFixture, m *realMachine) {
	t.Helper()
	role := realRole(fx, m)
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string][]string{} // name: passwd fields
	for _, line := range strings.Split(strings.TrimSpace(string(passwd)), "\n") {
		f := strings.Split(line, ":")
		accounts[f[0]] = f
	}
	members := map[string]map[string]bool{} // group: its members
	for _, line := range strings.Split(strings.TrimSpace(string(group)), "\n") {
		f := strings.Split(line, ":")
		members[f[0]] = map[string]bool{}
		for _, u := range strings.Split(f[3], ",") {
			members[f[0]][u] = true
		}
	}
	users := fx.spec.UsersOf(role)
	withKeys := map[string]bool{}
	for _, u := range users {
		acc, ok := accounts[u.Name]
		if !ok {
			t.Errorf("user %s: not in /etc/passwd after Ignition", u.Name)
			continue
		}
		for _, g := range u.Groups {
			if !members[g][u.Name] {
				t.Errorf("user %s: not in group %s after Ignition", u.Name, g)
			}
		}
		if len(u.SSHAuthorizedKeys) == 0 {
			continue
		}
		withKeys[acc[5]] = true
		file := filepath.Join(root, acc[5], ".ssh", "authorized_keys.d", "ignition")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("user %s: %v", u.Name, err)
			continue
		}
		if want := strings.Join(u.SSHAuthorizedKeys, "\n") + "\n"; string(data) != want {
			t.Errorf("user %s: %s holds\n%s\nwant\n%s", u.Name, file, data, want)
		}
		info, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := info.Sys().(*syscall.Stat_t); info.Mode().Perm() != 0o600 || !ok || strconv.Itoa(int(st.Uid)) != acc[2] {
			t.Errorf("user %s: %s has mode %04o, owner %v; want 0600 owned by uid %s", u.Name, file, info.Mode().Perm(), info.Sys(), acc[2])
		}
	}
	// No other home got keys.
	homes, _ := filepath.Glob(filepath.Join(root, "home", "*", ".ssh", "authorized_keys.d", "ignition"))
	for _, h := range homes {
		rel, _ := filepath.Rel(root, h)
		home := "/" + filepath.ToSlash(filepath.Dir(filepath.Dir(filepath.Dir(rel))))
		if !withKeys[home] {
			t.Errorf("Ignition wrote keys to %s, the spec gives that user none", rel)
		}
	}
	if len(users) > 0 {
		t.Logf("%s: %d user(s) in /etc/passwd, their groups and their keys in ~/.ssh/authorized_keys.d/ignition", m.rel, len(users))
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// realCloudConfig is the part of a #cloud-config the tests read.
type realCloudConfig struct {
	Hostname   string   `yaml:"hostname"`
	Packages   []string `yaml:"packages"`
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Owner       string `yaml:"owner"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
		Encoding    string `yaml:"encoding"`
		Append      bool   `yaml:"append"`
		Defer       bool   `yaml:"defer"`
	} `yaml:"write_files"`
	Runcmd []any `yaml:"runcmd"`
	Users  []struct {
		Name              string   `yaml:"name"`
		SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
		Groups            []string `yaml:"groups"`
	} `yaml:"users"`
}

// TestRealCloudInitSchema validates every generated cloud-config with
// Debian's cloud-init (`cloud-init schema`), and checks that what it writes is
// rootfs/ and that it enables the units Butane enables.
func TestRealCloudInitSchema(t *testing.T) {
	cloudInit := realtool.Tool(t, "cloud-init", "cloud-init")
	fixtures := realLoadFixtures(t)
	realEachMachine(t, fixtures, func(t *testing.T, fx *realFixture, m *realMachine) {
		data, ok := m.file(t, "cloud-config.yaml")
		if !fx.spec.Wants(spec.OutputCloudConfig) {
			if ok {
				t.Errorf("%s: outputs do not include cloud-config, yet %s/cloud-config.yaml exists", fx.name, m.rel)
			}
			return
		}
		if !ok {
			t.Fatalf("outputs include cloud-config, but %s/cloud-config.yaml is missing", m.rel)
		}
		if fx.spec.CloudConfig.Flavor != spec.FlavorCloudInit {
			return // coreos-cloudinit's: TestCoreOSCloudConfig
		}
		file := filepath.Join(m.dir, "cloud-config.yaml")
		out, err := realtool.Run(nil, cloudInit, "schema", "--config-file", file)
		if err != nil || !strings.Contains(out, "Valid cloud-config") {
			t.Errorf("cloud-init schema rejects %s/cloud-config.yaml (%v):\n%s", m.rel, err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			// cloud-init prints the heading even when it has nothing to say
			if rest, found := strings.CutPrefix(line, "Cloud config schema deprecations:"); found && strings.TrimSpace(rest) != "" {
				t.Errorf("cloud-init schema: %s/cloud-config.yaml uses deprecated keys:\n%s", m.rel, out)
			}
		}
		if first, _, _ := strings.Cut(string(data), "\n"); first != "#cloud-config" {
			t.Errorf("first line is %q, cloud-init needs #cloud-config", first)
		}

		var cc realCloudConfig
		if err := yaml.Unmarshal(data, &cc); err != nil {
			t.Fatalf("%s/cloud-config.yaml: %v", m.rel, err)
		}
		seen := map[string]bool{}
		for _, wf := range cc.WriteFiles {
			if seen[wf.Path] {
				t.Errorf("write_files: %s twice", wf.Path)
			}
			seen[wf.Path] = true
			want, ok := m.rootfs[wf.Path]
			if !ok || wf.Path == realPresetPath {
				t.Errorf("write_files: %s is not in %s/rootfs/ (or is Ignition's preset)", wf.Path, m.rel)
				continue
			}
			if wf.Encoding != "" || wf.Append || wf.Defer {
				t.Errorf("write_files %s: encoding %q, append %v, defer %v: want plain text, replaced, written early", wf.Path, wf.Encoding, wf.Append, wf.Defer)
			}
			if wf.Owner != "root:root" {
				t.Errorf("write_files %s: owner %q, want root:root", wf.Path, wf.Owner)
			}
			perm, err := strconv.ParseUint(wf.Permissions, 8, 32)
			if err != nil || fs.FileMode(perm) != want.mode {
				t.Errorf("write_files %s: permissions %q, the manifest says %04o", wf.Path, wf.Permissions, want.mode)
			}
			if wf.Content != string(want.data) {
				t.Errorf("write_files %s: content differs from %s/rootfs%s:\n%s", wf.Path, m.rel, wf.Path, realtool.FirstDiff(string(want.data), wf.Content))
			}
		}
		for p := range m.rootfs {
			// Exempt, by name: the preset is how Ignition enables units;
			// cloud-init enables them with `systemctl enable` in runcmd,
			// checked below, and writes no preset.
			if !seen[p] && p != realPresetPath {
				t.Errorf("%s/rootfs%s is not in write_files", m.rel, p)
			}
		}

		// runcmd: a daemon-reload, then `systemctl enable --now` of exactly
		// the units Butane enables.
		enabled := map[string]bool{}
		reloaded := false
		for _, c := range cc.Runcmd {
			argv, ok := c.([]any)
			if !ok {
				continue
			}
			var words []string
			for _, a := range argv {
				words = append(words, fmt.Sprint(a))
			}
			switch {
			case strings.Join(words, " ") == "systemctl daemon-reload":
				reloaded = true
			case len(words) >= 3 && words[0] == "systemctl" && words[1] == "enable":
				if !reloaded {
					t.Errorf("runcmd %q comes before systemctl daemon-reload", words)
				}
				for _, w := range words[2:] {
					if !strings.HasPrefix(w, "-") {
						enabled[w] = true
					}
				}
			}
		}
		if g, w := realSorted(enabled), realEnabled(realButaneUnits(t, m)); strings.Join(g, " ") != strings.Join(w, " ") {
			t.Errorf("runcmd enables %q, the Butane document enables %q", g, w)
		}
		if hn, ok := m.rootfs["/etc/hostname"]; ok {
			if cc.Hostname != strings.TrimSpace(string(hn.data)) {
				t.Errorf("hostname: %q, /etc/hostname says %q", cc.Hostname, hn.data)
			}
		} else if cc.Hostname != "" {
			t.Errorf("hostname %q on a machine without /etc/hostname", cc.Hostname)
		}
		if len(cc.Packages) == 0 {
			t.Errorf("packages: none listed; the firewall needs its tools")
		}
		// users: the machine's, with their keys and groups, in order.
		var got, want []string
		for _, u := range cc.Users {
			got = append(got, fmt.Sprintf("%s %q %q", u.Name, u.SSHAuthorizedKeys, u.Groups))
		}
		for _, u := range fx.spec.UsersOf(realRole(fx, m)) {
			want = append(want, fmt.Sprintf("%s %q %q", u.Name, u.SSHAuthorizedKeys, u.Groups))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("users:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// realPresetPath is the preset Ignition writes for enabled units.
const realPresetPath = "/etc/systemd/system-preset/20-ignition.preset"

var realUnitName = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]+\.(service|socket|timer|target|path|mount|automount|swap|slice)$`)

// TestRealSystemdVerify runs `systemd-analyze verify` on every unit of every
// machine, with --root at the machine's rootfs/ so that ExecStart resolves to
// the generated script (it must exist there and be executable).
func TestRealSystemdVerify(t *testing.T) {
	sa := realtool.Tool(t, "systemd-analyze", "systemd")
	fixtures := realLoadFixtures(t)
	realEachMachine(t, fixtures, func(t *testing.T, fx *realFixture, m *realMachine) {
		var units []string
		for p := range m.rootfs {
			if path.Dir(p) == "/etc/systemd/system" && realUnitName.MatchString(path.Base(p)) {
				units = append(units, p)
			}
		}
		sort.Strings(units)
		if len(units) == 0 {
			t.Fatalf("%s/rootfs/etc/systemd/system has no units", m.rel)
		}
		script := gen.ScriptPath[fx.spec.OS.Variant]
		root := realImageRoot(t, m)
		for _, u := range units {
			out, err := realVerify(sa, root, u)
			if err != nil {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
			}
			// With --root, systemd-analyze reads only the machine's tree, so
			// every line it prints is about our unit or what it points at;
			// lines naming neither (from systemd itself, about the host) are
			// logged, not failed on.
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				if strings.Contains(line, path.Base(u)) || strings.Contains(line, script) || strings.Contains(line, root) {
					t.Errorf("systemd-analyze verify %s: %s", u, line)
				} else {
					t.Logf("systemd-analyze verify %s (not about our unit): %s", u, line)
				}
			}
		}
		// The check is live: the same tree with the script not executable
		// must be refused, so a pass above means ExecStart resolved to the
		// generated script and not to nothing.
		if _, ok := m.rootfs[script]; !ok {
			t.Fatalf("%s/rootfs%s: the firewall script is missing", m.rel, script)
		}
		broken := realImageRoot(t, m)
		if err := os.Chmod(filepath.Join(broken, filepath.FromSlash(script)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := realVerify(sa, broken, path.Join("/etc/systemd/system", gen.FirewallUnit))
		if err == nil || !strings.Contains(out, script) {
			t.Errorf("systemd-analyze verify accepted %s with %s not executable (%v):\n%s", gen.FirewallUnit, script, err, out)
		}
	})
}

// realImageProvides are the programs the generated units run that the OS
// image ships rather than rampart, with why; the host of the tests may lack
// them, so realImageRoot puts an executable stand-in at each path that the
// host does not have. systemd-analyze only checks that they are executable.
var realImageProvides = map[string]string{
	"/usr/bin/podman": "Fedora CoreOS ships podman; rampart's etcd-member.service runs etcd with it",
	"/usr/bin/echo":   "both images ship coreutils; the unit of testdata/real's edge snippet runs echo",
}

// realImageRoot is a copy of the machine's rootfs/ made to look like the OS
// image it lands on, for systemd-analyze --root: the host's own systemd
// units (sysinit.target, network-online.target, ... which every unit with
// default dependencies needs) and the programs of realImageProvides.
func realImageRoot(t *testing.T, m *realMachine) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(m.rootfsDir())); err != nil {
		t.Fatal(err)
	}
	hostUnits := "/usr/lib/systemd/system"
	dst := filepath.Join(root, hostUnits)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(hostUnits)); err != nil {
		t.Fatalf("copying the host's systemd units: %v", err)
	}
	for prog := range realImageProvides {
		p := filepath.Join(root, filepath.FromSlash(prog))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n# stand-in of the OS image's program (TestRealSystemdVerify)\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func realVerify(sa, root, unit string) (string, error) {
	return realtool.Run(nil, sa, "verify", "--root="+root, filepath.Join(root, filepath.FromSlash(unit)))
}

// TestRealFirewallLoad loads every machine's firewall into network
// namespaces of its own with the real tools: the files alone, checked by the
// tools' test modes, then the generated script, twice over foreign rules it
// must leave alone; the second run must change nothing.
func TestRealFirewallLoad(t *testing.T) {
	realtool.NeedRoot(t, "it makes network namespaces and loads firewall rules in them")
	realtool.Tool(t, "ip", "iproute2")
	realtool.Tool(t, "sh", "dash")
	fixtures := realLoadFixtures(t)
	tools := map[string]bool{}
	for _, fx := range fixtures {
		switch fx.spec.Firewall.Backend {
		case "iptables":
			for _, tool := range []string{"ipset", "iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save"} {
				tools[tool] = true
			}
		case "nftables":
			tools["nft"] = true
		default:
			t.Fatalf("%s: unknown backend %q", fx.name, fx.spec.Firewall.Backend)
		}
	}
	for _, tool := range realSorted(tools) {
		pkg := map[string]string{"ipset": "ipset", "nft": "nftables"}[tool]
		if pkg == "" {
			pkg = "iptables"
		}
		realtool.Tool(t, tool, pkg)
	}
	realEachMachine(t, fixtures, func(t *testing.T, fx *realFixture, m *realMachine) {
		fwDir := filepath.Join(m.rootfsDir(), filepath.FromSlash(gen.FirewallDir))
		want := map[string][]string{
			"iptables": {"failsafe.v4", "failsafe.v6", "ipset.v4", "ipset.v6", "iptables.v4", "iptables.v6"},
			"nftables": {"failsafe.nft", "rampart.nft"},
		}[fx.spec.Firewall.Backend]
		var have []string
		for p := range m.rootfs {
			if path.Dir(p) == gen.FirewallDir {
				have = append(have, path.Base(p))
			}
		}
		sort.Strings(have)
		if strings.Join(have, " ") != strings.Join(want, " ") {
			t.Fatalf("%s holds %q, the %s backend needs %q", gen.FirewallDir, have, fx.spec.Firewall.Backend, want)
		}
		script := realFirewallScript(t, fx, m, fwDir)
		if fx.spec.Firewall.Backend == "nftables" {
			realLoadNFTables(t, fwDir, script)
		} else {
			realLoadIPTables(t, fwDir, script)
		}
	})
}

// realFirewallScript copies the machine's generated firewall script with its
// files directory moved to the machine's rootfs/: on the node the script
// reads /etc/rampart/firewall, which on this host is not the machine's (and
// must not be written). Only the one `dir=` line changes; every other byte is
// the generated script's.
func realFirewallScript(t *testing.T, fx *realFixture, m *realMachine, fwDir string) string {
	t.Helper()
	p := gen.ScriptPath[fx.spec.OS.Variant]
	f, ok := m.rootfs[p]
	if !ok {
		t.Fatalf("%s/rootfs%s: the firewall script for %s is missing", m.rel, p, fx.spec.OS.Variant)
	}
	if f.mode != 0o755 {
		t.Errorf("%s: mode %04o, want 0755", p, f.mode)
	}
	lines := strings.Split(string(f.data), "\n")
	n := 0
	for i, l := range lines {
		if l == "dir="+gen.FirewallDir {
			lines[i] = "dir=" + shellQuote(fwDir)
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%s has %d lines `dir=%s`, want exactly one", p, n, gen.FirewallDir)
	}
	out := filepath.Join(t.TempDir(), path.Base(p))
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

func realLoadIPTables(t *testing.T, fwDir, script string) {
	// The files alone, in a namespace of their own: the sets, which the rules
	// reference, then the rules in the restore tools' test mode.
	check := realNewNetns(t)
	for _, fam := range []string{"v4", "v6"} {
		check.must(t, "ipset", "restore", "-exist", "-file", filepath.Join(fwDir, "ipset."+fam))
	}
	check.must(t, "iptables-restore", "--test", filepath.Join(fwDir, "iptables.v4"))
	check.must(t, "ip6tables-restore", "--test", filepath.Join(fwDir, "iptables.v6"))

	// The script, in a fresh namespace, as at boot: empty but for what other
	// software made first. Docker's chain with a rule and INPUT's jump to it,
	// a set of someone else's, and a rampart set no longer in the spec.
	ns := realNewNetns(t)
	for _, ipt := range []string{"iptables", "ip6tables"} {
		src := map[string]string{"iptables": "192.0.2.99/32", "ip6tables": "2001:db8::99/128"}[ipt]
		ns.must(t, ipt, "-N", "DOCKER")
		ns.must(t, ipt, "-A", "DOCKER", "-s", src, "-p", "tcp", "--dport", "2375", "-j", "RETURN")
		ns.must(t, ipt, "-A", "INPUT", "-j", "DOCKER")
	}
	ns.must(t, "ipset", "create", "other-4", "hash:ip", "family", "inet")
	ns.must(t, "ipset", "add", "other-4", "192.0.2.7")
	ns.must(t, "ipset", "create", "rampart-stale-4", "hash:net", "family", "inet")
	before := map[string]string{
		"iptables":  realIPTablesSave(t, ns, "iptables-save"),
		"ip6tables": realIPTablesSave(t, ns, "ip6tables-save"),
	}
	foreignSet := ns.must(t, "ipset", "list", "other-4")

	var prev map[string]string
	for run := 1; run <= 2; run++ {
		if out, err := ns.run(script); err != nil {
			t.Fatalf("run %d of the firewall script: %v\n%s", run, err, out)
		}
		now := map[string]string{
			"iptables":  realIPTablesSave(t, ns, "iptables-save"),
			"ip6tables": realIPTablesSave(t, ns, "ip6tables-save"),
			"ipset":     realIPSetList(ns.must(t, "ipset", "list")),
		}
		for _, ipt := range []string{"iptables", "ip6tables"} {
			lines := strings.Split(now[ipt], "\n")
			count := map[string]int{}
			for _, l := range lines {
				count[l]++
			}
			if c := count["-A INPUT -j RAMPART-INPUT"]; c != 1 {
				t.Errorf("run %d: %s has %d jumps -A INPUT -j RAMPART-INPUT, want 1", run, ipt, c)
			}
			// every jump into rampart's chains from a chain not its own is there once
			for l, c := range count {
				if strings.HasPrefix(l, "-A ") && !strings.HasPrefix(l, "-A RAMPART-") && strings.Contains(l, "-j RAMPART-") && c != 1 {
					t.Errorf("run %d: %s has %q %d times, want once", run, ipt, l, c)
				}
			}
			// Docker's chain, its rule and INPUT's jump to it are intact
			for _, l := range strings.Split(before[ipt], "\n") {
				if count[l] == 0 {
					t.Errorf("run %d: %s lost %q", run, ipt, l)
				}
			}
			if realChainRules(before[ipt], "DOCKER") != realChainRules(now[ipt], "DOCKER") {
				t.Errorf("run %d: %s changed chain DOCKER:\n%s\nwant:\n%s", run, ipt, realChainRules(now[ipt], "DOCKER"), realChainRules(before[ipt], "DOCKER"))
			}
			if count["-A INPUT -j DOCKER"] != 1 {
				t.Errorf("run %d: %s has %d jumps -A INPUT -j DOCKER, want 1", run, ipt, count["-A INPUT -j DOCKER"])
			}
		}
		if got := ns.must(t, "ipset", "list", "other-4"); got != foreignSet {
			t.Errorf("run %d changed the foreign set other-4:\n%s\nwas:\n%s", run, got, foreignSet)
		}
		if out, err := ns.run("ipset", "list", "-n", "rampart-stale-4"); err == nil {
			t.Errorf("run %d kept rampart-stale-4, a rampart set the files do not create: %s", run, out)
		}
		if prev != nil {
			for _, k := range []string{"iptables", "ip6tables", "ipset"} {
				if prev[k] != now[k] {
					t.Errorf("the second run changed %s:\n%s", k, realtool.FirstDiff(prev[k], now[k]))
				}
			}
		}
		prev = now
	}
}

var realCounters = regexp.MustCompile(` \[\d+:\d+\]$`)

// realIPTablesSave is the filter rules of a namespace, without the comment
// lines (version, date) and chain counters, which change between two saves of
// the same rules.
func realIPTablesSave(t *testing.T, ns *realNetns, save string) string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(ns.must(t, save), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, realCounters.ReplaceAllString(l, ""))
	}
	return strings.Join(out, "\n")
}

func realChainRules(save, chain string) string {
	var out []string
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "-A "+chain+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var realInitval = regexp.MustCompile(` initval 0x[0-9a-f]+`)

// realIPSetList normalises `ipset list`: the kernel seeds each hash set with a
// random initval when it is created, and the script swaps in newly created
// sets on every run, so the initval, the order the members are listed in
// (hash order) and the bytes the hash takes (bucket layout) differ between
// two loads of the same sets. Names, types, headers otherwise, reference
// counts, entry counts and the members themselves are kept.
func realIPSetList(list string) string {
	var out, members []string
	flush := func() {
		sort.Strings(members)
		out = append(out, members...)
		members = nil
	}
	inMembers := false
	for _, l := range strings.Split(list, "\n") {
		switch {
		case l == "":
			flush()
			inMembers = false
			out = append(out, "")
		case inMembers:
			members = append(members, l)
		case l == "Members:":
			inMembers = true
			out = append(out, l)
		case strings.HasPrefix(l, "Size in memory:"):
		default:
			out = append(out, realInitval.ReplaceAllString(l, ""))
		}
	}
	flush()
	return strings.Join(out, "\n")
}

// realForeignNFT is another program's table, which the script must not touch.
const realForeignNFT = `table inet other {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 2375 ip saddr 192.0.2.99 accept comment "someone else's"
	}
}
`

func realLoadNFTables(t *testing.T, fwDir, script string) {
	ruleset := filepath.Join(fwDir, "rampart.nft")
	check := realNewNetns(t)
	check.must(t, "nft", "-c", "-f", ruleset)
	if out := check.must(t, "nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
		t.Errorf("nft -c loaded rules:\n%s", out)
	}

	ns := realNewNetns(t)
	foreign := filepath.Join(t.TempDir(), "other.nft")
	if err := os.WriteFile(foreign, []byte(realForeignNFT), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.must(t, "nft", "-f", foreign)
	other := ns.must(t, "nft", "list", "table", "inet", "other")
	var prev string
	for run := 1; run <= 2; run++ {
		if out, err := ns.run(script); err != nil {
			t.Fatalf("run %d of the firewall script: %v\n%s", run, err, out)
		}
		now := ns.must(t, "nft", "list", "ruleset")
		if got := ns.must(t, "nft", "list", "table", "inet", "other"); got != other {
			t.Errorf("run %d changed table inet other:\n%s\nwas:\n%s", run, got, other)
		}
		if n := strings.Count(now, "\ntable inet rampart {") + map[bool]int{true: 1}[strings.HasPrefix(now, "table inet rampart {")]; n != 1 {
			t.Errorf("run %d: %d tables inet rampart, want 1:\n%s", run, n, now)
		}
		if prev != "" && prev != now {
			t.Errorf("the second run changed the ruleset:\n%s", realtool.FirstDiff(prev, now))
		}
		prev = now
	}
}

// TestRealFinalUserdata runs the real Ignition on the final userdata of every
// etcd member (the one with its keys, from the state directory) and
// validates its final cloud-config with cloud-init: Ignition must write the
// member's rootfs/ of the tree plus exactly the withheld keys, 0600, as the
// state holds them.
func TestRealFinalUserdata(t *testing.T) {
	realtool.NeedRoot(t, "Ignition's files stage sets the owner of every file it writes")
	ign := realtool.Ignition(t)
	cloudInit := realtool.Tool(t, "cloud-init", "cloud-init")
	members := 0
	for _, fx := range realLoadFixtures(t) {
		out, err := gen.Build(fx.spec, fx.state)
		if err != nil {
			t.Fatal(err)
		}
		byPath := map[string][]byte{}
		for _, f := range out.Userdata {
			byPath[f.Path] = f.Data
		}
		for _, m := range fx.machines {
			kind, name, _ := strings.Cut(m.rel, "/")
			kind = strings.TrimSuffix(kind, "s")
			ignPath, ccPath := gen.UserdataPath(kind, name, spec.OutputIgnition), gen.UserdataPath(kind, name, spec.OutputCloudConfig)
			n := fx.spec.Node(name)
			if kind != "node" || n == nil || !etcd.IsMember(fx.spec, n) {
				if byPath[ignPath] != nil || byPath[ccPath] != nil {
					t.Errorf("%s: %s has final userdata, yet no secrets", fx.name, m.rel)
				}
				continue
			}
			members++
			keys := map[string]string{etcd.KeyFile: pki.MemberKey(name), etcd.ClientKey: pki.ClientKey(n.Role)}
			t.Run(fx.name+"/"+m.rel, func(t *testing.T) {
				if fx.spec.Wants(spec.OutputIgnition) {
					config := filepath.Join(t.TempDir(), "ignition.json")
					if err := os.WriteFile(config, byPath[ignPath], 0o600); err != nil {
						t.Fatal(err)
					}
					root, _, _ := realtool.ApplyIgnition(t, ign, config)
					for p, want := range m.rootfs {
						data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
						if err != nil || !bytes.Equal(data, want.data) {
							t.Errorf("%s: Ignition wrote %d bytes (%v), rootfs/ has %d", p, len(data), err, len(want.data))
						}
					}
					for p, rel := range keys {
						want, err := os.ReadFile(filepath.Join(fx.state.Dir, filepath.FromSlash(rel)))
						if err != nil {
							t.Fatal(err)
						}
						disk := filepath.Join(root, filepath.FromSlash(p))
						data, err := os.ReadFile(disk)
						if err != nil || !bytes.Equal(data, want) {
							t.Errorf("%s: Ignition did not write the state's %s (%v)", p, rel, err)
							continue
						}
						if st, _ := os.Stat(disk); st.Mode().Perm() != 0o600 {
							t.Errorf("%s: mode %04o, want 0600", p, st.Mode().Perm())
						}
					}
				}
				if fx.spec.Wants(spec.OutputCloudConfig) {
					file := filepath.Join(t.TempDir(), "cloud-config.yaml")
					if err := os.WriteFile(file, byPath[ccPath], 0o600); err != nil {
						t.Fatal(err)
					}
					out, err := realtool.Run(nil, cloudInit, "schema", "--config-file", file)
					if err != nil || !strings.Contains(out, "Valid cloud-config") {
						t.Errorf("cloud-init schema rejects the final cloud-config of %s (%v):\n%s", m.rel, err, out)
					}
					var cc realCloudConfig
					if err := yaml.Unmarshal(byPath[ccPath], &cc); err != nil {
						t.Fatal(err)
					}
					seen := 0
					for _, wf := range cc.WriteFiles {
						if rel, ok := keys[wf.Path]; ok {
							seen++
							want, _ := os.ReadFile(filepath.Join(fx.state.Dir, filepath.FromSlash(rel)))
							if wf.Content != string(want) || wf.Permissions != "0600" {
								t.Errorf("cloud-config %s: permissions %s, content %d bytes; want 0600 and the state's %s", wf.Path, wf.Permissions, len(wf.Content), rel)
							}
						}
					}
					if seen != len(keys) {
						t.Errorf("the final cloud-config writes %d of the %d keys", seen, len(keys))
					}
				}
			})
		}
	}
	if members == 0 {
		t.Fatal("no fixture has etcd members")
	}
}
