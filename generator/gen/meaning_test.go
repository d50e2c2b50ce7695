package gen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// recomment adds what changes no meaning to a spec: comment lines and blank
// lines at the top and before every top-level key, and a comment at the end
// of every line that has none.
func recomment(text string) string {
	var b strings.Builder
	b.WriteString("# a reviewer's note\n#\n\n")
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if regexp.MustCompile(`^[a-z_]+:`).MatchString(l) {
			b.WriteString("\n# section\n")
		}
		b.WriteString(l)
		if t := strings.TrimSpace(l); t != "" && !strings.Contains(l, "#") && !strings.HasSuffix(t, "|") && !strings.HasSuffix(t, ">") {
			b.WriteString("   # noted")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestMeaningOnly: comments and blank lines added to every fixture spec (so
// every line moves) leave the whole output tree and the final userdata,
// keys included, byte-identical: node files change only when their meaning
// does, and rule comments name the spec path, never a line.
func TestMeaningOnly(t *testing.T) {
	for _, file := range fixtureFiles(t) {
		t.Run(name(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			moved := recomment(string(data))
			if moved == string(data) {
				t.Fatal("recomment changed nothing")
			}
			a, err := spec.Parse(filepath.Base(file), data)
			if err != nil {
				t.Fatal(err)
			}
			b, err := spec.Parse(filepath.Base(file), []byte(moved))
			if err != nil {
				t.Fatalf("the recommented spec: %v\n%s", err, moved)
			}
			// one state with keys for both: the final userdata carries them
			st := pki.Open(filepath.Join(t.TempDir(), "state"))
			if len(etcd.Members(a)) > 0 {
				if _, err := st.Ensure(a.Cluster, etcd.Members(a)); err != nil {
					t.Fatal(err)
				}
			}
			outA, err := gen.Build(a, st)
			if err != nil {
				t.Fatal(err)
			}
			outB, err := gen.Build(b, st)
			if err != nil {
				t.Fatal(err)
			}
			files := func(o *gen.Output) map[string][]byte {
				m := map[string][]byte{}
				for _, f := range append(o.Tree.Files, o.Userdata...) {
					m[f.Path] = f.Data
				}
				return m
			}
			fa, fb := files(outA), files(outB)
			if len(fa) != len(fb) {
				t.Fatalf("%d files, %d after the comments", len(fa), len(fb))
			}
			for p, d := range fa {
				if !bytes.Equal(d, fb[p]) {
					t.Errorf("%s changed when only comments and blank lines were added to the spec", p)
				}
			}
		})
	}
}
