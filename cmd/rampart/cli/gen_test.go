package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// fixtures is the directory of the example specs.
const fixtures = "../../../fixtures"

// stateFile is what snapshot reads of every file of a directory (a state
// directory, an output tree): contents, mode, modification time and
// inode; of a directory its mode and inode.
type stateFile struct {
	data  []byte
	mode  fs.FileMode
	mtime time.Time
	ino   uint64
}

func snapshot(t *testing.T, dir string) map[string]stateFile {
	t.Helper()
	out := map[string]stateFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		ino := info.Sys().(*syscall.Stat_t).Ino
		if d.IsDir() {
			out[rel+"/"] = stateFile{mode: info.Mode().Perm(), ino: ino}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = stateFile{data: data, mode: info.Mode().Perm(), mtime: info.ModTime(), ino: ino}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStateKeptAcrossRuns: gen twice leaves every file of the state
// directory as it was (bytes, mode and modification time); with one
// member's address changed, only that member's certificate changes among
// the certificates and keys, and gen says so.
func TestStateKeptAcrossRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	specFile, state, out := filepath.Join(dir, "lab.yaml"), filepath.Join(dir, "state"), filepath.Join(dir, "out")
	writeLabSpec(t, specFile, 23790, 23800, "127.0.0.2")
	if code, o, e := run("gen", "-f", specFile, "-o", out, "--state", state); code != 0 || !strings.Contains(o, "final userdata of 4 machine(s) with secrets (3 etcd member(s), and the etcd_client roles)") {
		t.Fatalf("gen: exit %d, want 0 and the final userdata of the members and of role agent\n%s%s", code, o, e)
	}
	first := snapshot(t, state)
	for p, f := range first {
		want := map[bool]fs.FileMode{true: 0o700, false: 0o600}[strings.HasSuffix(p, "/")]
		if strings.HasSuffix(p, ".crt") {
			want = 0o644
		}
		if f.mode != want {
			t.Errorf("state %s: mode %04o, want %04o", p, f.mode, want)
		}
	}
	for _, p := range []string{"etcd/ca.key", "etcd/clients/etcd.key", "etcd/clients/agent.key", "etcd/members/e2.key", "userdata/nodes/e2/ignition.json", "userdata/nodes/e2/cloud-config.yaml"} {
		if _, ok := first[filepath.FromSlash(p)]; !ok {
			t.Errorf("state %s is missing", p)
		}
	}
	time.Sleep(10 * time.Millisecond) // a rewrite would show in the modification time
	code, o, e := run("gen", "-f", specFile, "-o", out, "--state", state)
	if code != 0 {
		t.Fatalf("second gen: exit %d\n%s%s", code, o, e)
	}
	if strings.Contains(o, "state "+state) {
		t.Errorf("the second gen reports changes to the state:\n%s", o)
	}
	second := snapshot(t, state)
	if len(second) != len(first) {
		t.Errorf("the state has %d entries after the second run, %d before", len(second), len(first))
	}
	for p, f := range first {
		g, ok := second[p]
		if !ok || !bytes.Equal(g.data, f.data) || g.mode != f.mode || !g.mtime.Equal(f.mtime) {
			t.Errorf("state %s changed in a run that had nothing to change", p)
		}
	}

	// e2 moves to another address.
	writeLabSpec(t, specFile, 23790, 23800, "127.0.0.5")
	code, o, e = run("gen", "-f", specFile, "-o", out, "--state", state)
	if code != 0 {
		t.Fatalf("gen after the address change: exit %d\n%s%s", code, o, e)
	}
	if !strings.Contains(o, "etcd/members/e2.crt: issued a new certificate of member e2 from the same CA for its key: the addresses it must name changed (was 127.0.0.1, 127.0.0.2, ::1, e2, localhost, now 127.0.0.1, 127.0.0.5, ::1, e2, localhost)") {
		t.Errorf("gen does not say that e2's certificate was renewed:\n%s", o)
	}
	third := snapshot(t, state)
	for p, f := range second {
		if !strings.HasPrefix(p, "etcd") {
			continue
		}
		changed := !bytes.Equal(third[p].data, f.data)
		if want := p == filepath.FromSlash("etcd/members/e2.crt"); changed != want {
			t.Errorf("state %s: changed %v, want %v", p, changed, want)
		}
	}
	// The new certificate is the old key's, from the same CA, for the new address.
	st := pki.Open(state)
	mat, err := st.Load("etcd-lab", []pki.Member{{Name: "e2", Addresses: mustAddrs(t, "127.0.0.5"), Role: "etcd"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := mat.Members["e2"].Certificate(); fmt.Sprint(c.IPAddresses) != "[127.0.0.1 127.0.0.5 ::1]" {
		t.Errorf("e2's certificate names %v", c.IPAddresses)
	}
}

// TestKeysNeverInTree scans every file of the output tree, the data URLs
// of every Ignition config decoded, for every private key of the state
// directory and for any PEM private key at all; and checks that the
// manifest lists each withheld key with its certificate's sha256, while the
// final userdata carries the keys.
func TestKeysNeverInTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
	for _, name := range []string{"dcos-aws", "coreos-web"} {
		file := filepath.Join(fixtures, name+".yaml")
		if code, o, e := run("gen", "-f", file, "-o", out+"-"+name, "--state", state+"-"+name); code != 0 {
			t.Fatalf("gen %s: exit %d\n%s%s", name, code, o, e)
		}
		var keys [][]byte
		err := filepath.WalkDir(state+"-"+name, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".key") {
				return err
			}
			info, _ := d.Info()
			if info.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %04o, want 0600", p, info.Mode().Perm())
			}
			data, err := os.ReadFile(p)
			keys = append(keys, pemBody(data))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) < 3 {
			t.Fatalf("%s: %d keys in the state", name, len(keys))
		}
		tree := out + "-" + name
		scanned := 0
		err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasSuffix(p, ".key") {
				t.Errorf("%s: a key file in the tree", p)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			texts := [][]byte{data}
			if strings.HasSuffix(p, "ignition.json") {
				texts = append(texts, ignitionContents(t, data)...)
			}
			for _, text := range texts {
				scanned++
				if bytes.Contains(text, []byte("PRIVATE KEY")) {
					t.Errorf("%s holds a PEM private key", p)
				}
				for _, k := range keys {
					if bytes.Contains(text, k) || bytes.Contains(text, []byte(url.PathEscape(string(k)))) {
						t.Errorf("%s holds a key of the state directory", p)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The scan is live: the final userdata, decoded the same way, has them.
		s, err := spec.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		members := etcd.Members(s)
		final, err := os.ReadFile(filepath.Join(state+"-"+name, gen.UserdataPath("node", members[0].Name, spec.OutputIgnition)))
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, text := range ignitionContents(t, final) {
			if bytes.Contains(text, []byte("PRIVATE KEY")) {
				found++
			}
		}
		if found != 2 {
			t.Errorf("%s: the final userdata of %s holds %d private keys, want 2 (its own and the client's)", name, members[0].Name, found)
		}

		var man gen.Manifest
		data, err := os.ReadFile(filepath.Join(tree, gen.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &man); err != nil {
			t.Fatal(err)
		}
		if len(man.Secrets) != 2*len(members) {
			t.Errorf("%s: the manifest lists %d secrets, want 2 per member (%d members)", name, len(man.Secrets), len(members))
		}
		sums := map[string]string{}
		for _, e := range man.Files {
			sums[e.Path] = e.SHA256
		}
		for _, sec := range man.Secrets {
			if sec.Mode != "0600" || sums[sec.Certificate] == "" || sums[sec.Certificate] != sec.CertificateSHA256 || sums[sec.Path] != "" {
				t.Errorf("%s: secret %+v: want mode 0600, the sha256 of a certificate of the tree, and no such file in the tree", name, sec)
			}
		}
	}
}

// pemBody is the base64 body of a PEM file, without the armour lines: what
// would be left of a key copied anywhere.
func pemBody(data []byte) []byte {
	var body []byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("-----")) {
			body = append(body, line...)
		}
	}
	return body[:min(len(body), 64)]
}

// ignitionContents decodes the contents of every file of an Ignition
// config (data URLs, plain or base64, gzip-compressed or not) and the
// contents of every unit and drop-in.
func ignitionContents(t *testing.T, data []byte) [][]byte {
	t.Helper()
	out, err := gen.IgnitionContents(data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustAddrs(t *testing.T, addrs ...string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// TestGenUnchanged: gen on a tree that already is what the spec makes says
// unchanged and leaves every file and directory of it alone (the same
// inodes, the same modification times); one changed file makes it write
// the tree again.
func TestGenUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 || !strings.Contains(o, "wrote ") {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	// files dated in the past: a rewrite would date them now
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := filepath.WalkDir(out, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, out)
	code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state)
	if code != 0 || !strings.Contains(o, "unchanged: the ") || strings.Contains(o, "wrote ") {
		t.Fatalf("second gen: exit %d, want unchanged and no wrote\n%s%s", code, o, e)
	}
	after := snapshot(t, out)
	if len(after) != len(before) {
		t.Errorf("the tree has %d entries after the second run, %d before", len(after), len(before))
	}
	for p, f := range before {
		g, ok := after[p]
		if !ok || g.ino != f.ino || !g.mtime.Equal(f.mtime) || !strings.HasSuffix(p, "/") && !f.mtime.Equal(old) {
			t.Errorf("%s: inode %d, modified %s after the run that changed nothing; before: inode %d, modified %s", p, g.ino, g.mtime, f.ino, f.mtime)
		}
	}
	// a file edited by hand: the tree is written again
	edited := filepath.Join(out, "roles", "agent", "rootfs", "etc", "rampart", "firewall", "iptables.v4")
	if err := os.WriteFile(edited, []byte("*filter\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, o, e := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 || !strings.Contains(o, "wrote ") || strings.Contains(o, "unchanged") {
		t.Fatalf("gen after an edit: exit %d, want wrote\n%s%s", code, o, e)
	}
	if rel := "roles/agent/rootfs/etc/rampart/firewall/iptables.v4"; snapshot(t, out)[rel].ino == before[rel].ino {
		t.Errorf("the edited file was not replaced")
	}
}

// TestGenKeylessState: with a copy of the state without its keys (the
// fixture's certificates), gen --check checks the reviewed tree and says
// that the final userdata was not; gen --tree-only writes the tree; gen
// alone is refused naming the missing key files, and writes nothing.
func TestGenKeylessState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
	if err := os.CopyFS(state, os.DirFS(filepath.Join(fixtures, "state", "dcos-packet"))); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join(fixtures, "golden", "dcos-packet")
	code, o, e := run("gen", fixture, "-o", golden, "--state", state, "--check")
	if code != 0 || !strings.Contains(o, golden+" is up to date") || !strings.Contains(o, "note: the final userdata in "+state+" was not checked: the state holds certificates without their keys ("+filepath.Join(state, "etcd/clients/master.key")+", "+filepath.Join(state, "etcd/members/master-1.key")+" missing)") {
		t.Errorf("gen --check with a key-less state: exit %d\n%s%s", code, o, e)
	}
	code, o, e = run("gen", fixture, "-o", out, "--state", state)
	if code != 1 || !strings.Contains(e, "holds certificates without their private keys") || !strings.Contains(e, filepath.Join(state, "etcd/members/master-1.key")) || strings.Contains(e, "inconsistent") {
		t.Errorf("gen with a key-less state: exit %d, want 1 naming the keys\n%s%s", code, o, e)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("the refused gen wrote the tree")
	}
	code, o, e = run("gen", fixture, "-o", out, "--state", state, "--tree-only")
	if code != 0 || !strings.Contains(o, "wrote ") || !strings.Contains(o, "final userdata not made (--tree-only)") {
		t.Errorf("gen --tree-only: exit %d\n%s%s", code, o, e)
	}
	if code, o, e = run("gen", fixture, "-o", out, "--state", state, "--check", "--tree-only"); code != 0 || strings.Contains(o, "note:") {
		t.Errorf("gen --check --tree-only of the tree written: exit %d\n%s%s", code, o, e)
	}
}
