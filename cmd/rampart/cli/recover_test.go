package cli

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	ignition "github.com/coreos/ignition/v2/config"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// genCoreOSWeb runs gen on the fixture coreos-web into a new directory dir:
// its state and its tree out.
func genCoreOSWeb(t *testing.T) (dir, file, state, out string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(fixtures, "coreos-web.yaml")
	state, out = filepath.Join(dir, "state"), filepath.Join(dir, "out")
	if code, o, e := run("gen", "-f", file, "-o", out, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
	return dir, file, state, out
}

// TestRecoverIsGen: recover writes exactly the bytes gen wrote for the node
// (coreos-web is fcos: Ignition only), which gen.FinalUserdata returns too;
// --replace changes only the cluster state of the drop-in, and prints member
// commands that run on another member with its own files.
func TestRecoverIsGen(t *testing.T) {
	t.Parallel()
	dir, file, state, _ := genCoreOSWeb(t)
	s, err := spec.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, replace := range []bool{false, true} {
		args := []string{"recover", "web-2", "-f", file, "--state", state, "-o", filepath.Join(dir, "recovered")}
		if replace {
			args = append(args, "--replace")
		}
		code, o, e := run(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, o, e)
		}
		// The member commands run on another member: its loopback client
		// URL and the certificate files every member carries, never a
		// path of the workstation's state directory.
		flags := " --endpoints=https://127.0.0.1:2379 --cacert=" + etcd.CAFile + " --cert=" + etcd.ClientCert + " --key=" + etcd.ClientKey + " "
		if replace && (strings.Count(o, flags) != 4 || strings.Count(o, "etcdctl ") != 4 || strings.Contains(o, "--cacert="+state)) {
			t.Errorf("recover --replace: the member commands do not all use a member's own files and loopback URL (%q):\n%s", flags, o)
		}
		for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
			if !s.Wants(format) {
				continue
			}
			want, err := os.ReadFile(filepath.Join(state, gen.UserdataPath("node", "web-2", format)))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "recovered", gen.UserdataName[format])
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %04o, want 0600", p, st.Mode().Perm())
			}
			if !replace {
				if !bytes.Equal(got, want) {
					t.Errorf("recover web-2 %s differs from what gen wrote", format)
				}
				api, err := gen.FinalUserdata(s, pki.Open(state), "node", "web-2", format)
				if err != nil || !bytes.Equal(api, want) {
					t.Errorf("FinalUserdata(node web-2, %s) differs from what gen wrote (%v)", format, err)
				}
				continue
			}
			if format != spec.OutputIgnition {
				t.Fatalf("coreos-web (fcos) wants %s", format)
			}
			// With the joining comment taken out of etcd-member's drop-in
			// and the cluster state put back, the config is gen's.
			wantCfg, _, err := ignition.Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			gotCfg, _, err := ignition.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			const comment = "# This member joins a running cluster (rampart recover --replace)."
			const existing, fresh = `Environment="ETCD_INITIAL_CLUSTER_STATE=existing"`, `Environment="ETCD_INITIAL_CLUSTER_STATE=new"`
			changed := 0
			for i, u := range gotCfg.Systemd.Units {
				for j, d := range u.Dropins {
					if u.Name != etcd.Unit || d.Name != etcd.Dropin || d.Contents == nil {
						continue
					}
					text := *d.Contents
					if strings.Count(text, comment+"\n") != 1 || strings.Count(text, existing) != 1 {
						t.Errorf("recover --replace: the drop-in does not say once that web-2 joins a running cluster:\n%s", text)
					}
					back := strings.Replace(strings.Replace(text, comment+"\n", "", 1), existing, fresh, 1)
					gotCfg.Systemd.Units[i].Dropins[j].Contents = &back
					changed++
				}
			}
			if changed != 1 {
				t.Errorf("recover --replace: %d etcd drop-ins in the Ignition config, want 1", changed)
			}
			if !reflect.DeepEqual(gotCfg, wantCfg) {
				t.Errorf("recover --replace changes more of the Ignition config than the cluster state of etcd's drop-in")
			}
		}
	}
}

// TestRecoverAll: recover --all --snapshot writes every member's Ignition
// config (coreos-web: web-1 to web-3), 0600, with the snapshot and the
// restore unit, and says what to run first; the flags it does not go with,
// a node name, --snapshot alone, no snapshot, a corrupt one and an -o in
// the output tree are refused before anything is written.
func TestRecoverAll(t *testing.T) {
	t.Parallel()
	dir, file, state, out := genCoreOSWeb(t)
	db := bytes.Repeat([]byte{0x42}, 4*512)
	sum := sha256.Sum256(db)
	snapshot := filepath.Join(dir, "etcd.db")
	writeTestFile(t, snapshot, append(db, sum[:]...), 0o600)
	corrupt := filepath.Join(dir, "corrupt.db")
	writeTestFile(t, corrupt, append(append([]byte{0x43}, db[1:]...), sum[:]...), 0o600)
	recovered := filepath.Join(dir, "recovered")
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--all", "--snapshot", snapshot, "web-1"}, ExitUsage, "takes no node name"},
		{[]string{"web-1", "--snapshot", snapshot}, ExitUsage, "--snapshot goes with --all"},
		{[]string{"--all", "--snapshot", snapshot, "--replace"}, ExitUsage, "--replace, --reinstall and --membership-done are for one member"},
		{[]string{"--all"}, ExitUsage, "snapshot save etcd.db"},
		{[]string{"--all", "--snapshot", corrupt}, ExitInvalid, "the snapshot is corrupt; nothing was written"},
		{[]string{"--all", "--snapshot", snapshot, "-o", filepath.Join(out, "recovered")}, ExitUsage, "is inside the output tree"},
	} {
		args := append([]string{"recover", "-f", file, "--state", state}, c.args...)
		if !slices.Contains(args, "-o") {
			args = append(args, "-o", recovered)
		}
		code, o, e := run(args...)
		if code != c.code || !strings.Contains(e, c.says) {
			t.Errorf("%v: exit %d, want %d saying %q\n%s%s", args, code, c.code, c.says, o, e)
		}
		if _, err := os.Stat(recovered); !os.IsNotExist(err) {
			t.Fatalf("%v wrote %s", args, recovered)
		}
	}
	code, o, e := run("recover", "--all", "--snapshot", snapshot, "-f", file, "--state", state, "-o", recovered)
	if code != 0 || !strings.Contains(o, "1. Stop etcd on every member") || !strings.Contains(o, "2 of 3") {
		t.Fatalf("recover --all: exit %d\n%s%s", code, o, e)
	}
	for _, n := range []string{"web-1", "web-2", "web-3"} {
		p := filepath.Join(recovered, n, "ignition.json")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", p, st.Mode().Perm())
		}
		cfg, _, err := ignition.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		var snap, unit bool
		for _, f := range cfg.Storage.Files {
			snap = snap || f.Path == etcd.SnapshotFile
		}
		for _, u := range cfg.Systemd.Units {
			unit = unit || (u.Name == etcd.RestoreUnit && u.Contents != nil && strings.Contains(*u.Contents, " --name="+n+" "))
		}
		if !snap || !unit {
			t.Errorf("%s: snapshot %v, restore unit for %s %v", p, snap, n, unit)
		}
	}
	// a second run replaces the whole set: nothing of the first stays
	stray := filepath.Join(recovered, "web-9", "ignition.json")
	if err := os.MkdirAll(filepath.Dir(stray), 0o700); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, stray, []byte("{}"), 0o600)
	if code, o, e := run("recover", "--all", "--snapshot", snapshot, "-f", file, "--state", state, "-o", recovered); code != 0 {
		t.Fatalf("recover --all again: exit %d\n%s%s", code, o, e)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("a file of an earlier set is still there: %v", err)
	}
	// the default directory is not recover's own (STATE/recover)
	if code, o, e := run("recover", "--all", "--snapshot", snapshot, "-f", file, "--state", state); code != 0 || !strings.Contains(o, filepath.Join("recover-all", "web-1", "ignition.json")) {
		t.Errorf("recover --all to its default directory: exit %d\n%s%s", code, o, e)
	}
	if _, err := os.Stat(filepath.Join(state, "recover")); !os.IsNotExist(err) {
		t.Errorf("recover --all wrote into STATE/recover: %v", err)
	}
}
