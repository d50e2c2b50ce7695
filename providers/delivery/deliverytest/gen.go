// Package deliverytest helps the tests of delivery: it writes what
// `rampart gen` writes, so that a test delivers from a real output tree and
// state directory.
package deliverytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Gen is `rampart gen -f SPEC -o tree --state state` (gen.Run): the
// state's CA and certificates (kept when they exist), the output tree, and
// the final userdata of the machines with keys. Failures are fatal.
func Gen(t testing.TB, s *spec.Spec, tree, state string) {
	t.Helper()
	if _, err := gen.Run(gen.Options{Spec: s, Out: tree, State: state}); err != nil {
		t.Fatal(err)
	}
}

// Spec writes text, edited by the pairs (old, new) in edits (each must
// apply), to a file in dir and loads it. Failures are fatal.
func Spec(t testing.TB, dir, text string, edits ...string) *spec.Spec {
	t.Helper()
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("the spec has no %q to edit", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	p := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
