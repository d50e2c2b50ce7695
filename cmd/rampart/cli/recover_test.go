package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/realtool"
)

// TestRecoverIsGen: recover writes exactly the bytes gen wrote for the node
// (ignition and cloud-config), which gen.FinalUserdata returns too;
// --replace changes only the cluster state of the drop-in, and prints member
// commands that use the client pair of the node's role.
func TestRecoverIsGen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(fixtures, "coreos-web.yaml")
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out")
	if code, o, e := run("gen", "-f", file, "-o", out, "--state", state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, o, e)
	}
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
		// The member commands talk to the other members with the client
		// pair of web-2's role, web.
		abs, err := filepath.Abs(state)
		if err != nil {
			t.Fatal(err)
		}
		flags := " --cert=" + filepath.Join(abs, "etcd", "clients", "web.crt") + " --key=" + filepath.Join(abs, "etcd", "clients", "web.key") + " "
		if replace && strings.Count(o, flags) != 4 {
			t.Errorf("recover --replace: the member commands do not all use role web's client pair (%q):\n%s", flags, o)
		}
		for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
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
			if format != spec.OutputCloudConfig {
				continue
			}
			// cloud-config is plain text: with the joining comment taken out
			// and the cluster state put back, it is gen's.
			const comment = "# This member joins a running cluster (rampart recover --replace)."
			const existing, fresh = `Environment="ETCD_INITIAL_CLUSTER_STATE=existing"`, `Environment="ETCD_INITIAL_CLUSTER_STATE=new"`
			var kept []string
			comments := 0
			for _, line := range strings.SplitAfter(string(got), "\n") {
				if strings.TrimSpace(line) == comment {
					comments++
					continue
				}
				kept = append(kept, line)
			}
			if comments != 1 || strings.Count(string(got), existing) != 1 {
				t.Errorf("recover --replace: the cloud-config does not say once that web-2 joins a running cluster:\n%s", got)
			}
			back := strings.Replace(strings.Join(kept, ""), existing, fresh, 1)
			if back != string(want) {
				t.Errorf("recover --replace changes more of the cloud-config than the cluster state:\n%s", realtool.FirstDiff(string(want), back))
			}
		}
	}
}
