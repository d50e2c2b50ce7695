package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAuditAcceptances: rampart audit on the kubernetes fixture warns about
// the NodePorts open to the world; accepted in the spec, the finding is
// listed with its reason and the audit exits 0 even with --strict; an
// acceptance that matches nothing exits 1 and names its line.
func TestAuditAcceptances(t *testing.T) {
	fixture, err := os.ReadFile("../../../fixtures/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	accept := "\naudit:\n  accept:\n    - {code: audit.nodeports-world, where: roles.worker, reason: \"the load balancers' health checks and traffic\"}\n"
	accepted := filepath.Join(dir, "accepted.yaml")
	if err := os.WriteFile(accepted, append(fixture, accept...), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(fixture), "\n")
	stale := filepath.Join(dir, "stale.yaml")
	closed := strings.Replace(string(fixture), "nodeports: world", "nodeports: admins", 1)
	if err := os.WriteFile(stale, []byte(closed+accept), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"audit", "-f", "../../../fixtures/kubernetes.yaml", "--strict"}, 1,
			[]string{"warning: roles.worker: the world reaches the NodePorts of worker", "0 error(s), 1 warning(s)"}},
		{[]string{"audit", "-f", accepted, "--strict"}, 0,
			[]string{"info: roles.worker: accepted (the load balancers' health checks and traffic, line " + strconv.Itoa(lines+4) + "): the world reaches the NodePorts of worker",
				"0 error(s), 0 warning(s), 1 accepted"}},
		{[]string{"audit", "-f", accepted, "-o", "json"}, 0, []string{`"severity": "info"`, `"code": "audit.nodeports-world"`}},
		{[]string{"audit", "-f", stale}, 1,
			[]string{stale + ":" + strconv.Itoa(lines+4) + ":7: error: audit.accept[0]: audit.accept names audit.nodeports-world at roles.worker, and the audit finds no such finding"}},
	} {
		code, out, errOut := run(c.args...)
		ok := code == c.code
		for _, want := range c.out {
			ok = ok && strings.Contains(out, want)
		}
		if !ok {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant: %q", c.args, code, c.code, out, errOut, c.out)
		}
	}
}
