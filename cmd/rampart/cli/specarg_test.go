package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecArgument: every command that reads a spec takes it as its
// argument as well as with -f, with the same result; -f and an argument
// naming another file, or two arguments, are usage errors.
func TestSpecArgument(t *testing.T) {
	t.Parallel()
	other := "../../../fixtures/dcos-aws.yaml"
	for _, c := range [][]string{
		{"validate"},
		{"audit"},
		{"matrix"},
		{"explain", "--from", "209.220.51.50", "--to", "master-1", "--port", "8080/tcp"},
	} {
		fCode, fOut, fErr := run(append(c, "-f", fixture)...)
		aCode, aOut, aErr := run(append(c, fixture)...)
		if fCode != 0 || aCode != fCode || aOut != fOut || aErr != fErr {
			t.Errorf("%s: -f exit %d, argument exit %d\n-f:\n%s%s\nargument:\n%s%s", c[0], fCode, aCode, fOut, fErr, aOut, aErr)
		}
		if code, out, errOut := run(append(c, "-f", fixture, fixture)...); code != 0 || out != fOut {
			t.Errorf("%s: -f and the argument naming the same file: exit %d\n%s%s", c[0], code, out, errOut)
		}
		if code, _, errOut := run(append(c, "-f", fixture, other)...); code != ExitUsage || !strings.Contains(errOut, "the cluster spec is given twice: -f "+fixture+" and the argument "+other) {
			t.Errorf("%s: -f and another argument: exit %d, %s", c[0], code, errOut)
		}
		if code, _, errOut := run(append(c, fixture, other)...); code != ExitUsage || !strings.Contains(errOut, "takes one cluster spec, not 2 arguments") {
			t.Errorf("%s: two arguments: exit %d, %s", c[0], code, errOut)
		}
	}
	// gen writes the same tree whichever way the spec is given
	dir := t.TempDir()
	byFlag, byArg := filepath.Join(dir, "f"), filepath.Join(dir, "a")
	if code, out, errOut := run("gen", "-f", fixture, "-o", byFlag, "--state", filepath.Join(dir, "state")); code != 0 {
		t.Fatalf("gen -f: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("gen", fixture, "-o", byArg, "--state", filepath.Join(dir, "state")); code != 0 {
		t.Fatalf("gen with the argument: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("gen", fixture, "-o", byFlag, "--state", filepath.Join(dir, "state"), "--check"); code != 0 {
		t.Errorf("the tree gen wrote with -f is not the one the argument makes: exit %d\n%s%s", code, out, errOut)
	}
}
