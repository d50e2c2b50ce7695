package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockoutStopsValidateAndGen: a spec whose etcd members are cut from
// each other (or whose role no admin reaches on SSH) fails validate and gen
// (which writes nothing), unless --allow-lockout; nested pools are noted.
func TestLockoutStopsValidateAndGen(t *testing.T) {
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.yaml")
	spec := `version: 1
cluster: cut
profile: coreos-web
admins: [203.0.113.0/24]
nodes:
  - {name: web-1, role: web, addresses: [192.0.2.11]}
  - {name: web-2, role: web, addresses: [192.0.2.12]}
  - {name: web-3, role: web, addresses: [192.0.2.13]}
rules:
  - {from: web, to: web, ports: [2380/tcp], action: deny}
`
	if err := os.WriteFile(cut, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "nested.yaml")
	if err := os.WriteFile(nested, []byte("version: 1\ncluster: n\nprofile: dcos\nadmins: [203.0.113.7]\nroles:\n  edge: {zone: public}\npools:\n  - {role: agent, cidrs: [10.0.0.0/16]}\n  - {role: edge, cidrs: [10.0.5.0/24]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noSSH := filepath.Join(dir, "nossh.yaml")
	if err := os.WriteFile(noSSH, []byte("version: 1\ncluster: s\nadmins: [203.0.113.7]\nroles:\n  web: {zone: public, admin: [8080/tcp]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	state := filepath.Join(dir, "state")
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"validate", "-f", cut}, 1, cut + ":10:5: error: roles.web: etcd member web-1 (192.0.2.11) cannot reach the other members of role web on 2380/tcp"},
		{[]string{"validate", "-f", cut, "--allow-lockout"}, 0, "1 lockout error(s), allowed by --allow-lockout"},
		{[]string{"validate", "-f", cut, "-o", "json"}, 1, `"code": "audit.etcd-blocked"`},
		{[]string{"gen", "-f", cut, "-o", out, "--state", state}, 1, "etcd member web-1 (192.0.2.11) cannot reach"},
		{[]string{"validate", "-f", noSSH}, 1, noSSH + ":5:23: error: roles.web: no admin can reach role web on SSH (22/tcp)"},
		{[]string{"validate", "-f", nested}, 0, nested + ":9:5: info: pools[1]: 10.0.5.0/24 (role edge) lies inside 10.0.0.0/16 of pools[0] (role agent, line 8): it is carved out"},
	} {
		code, stdout, stderr := run(c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.out) {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant: %s", c.args, code, c.code, stdout, stderr, c.out)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("gen of a spec with a lockout wrote %s (%v)", out, err)
	}
	if code, stdout, stderr := run("gen", "-f", cut, "-o", out, "--state", state, "--allow-lockout"); code != 0 {
		t.Errorf("gen --allow-lockout: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestValidateSnippetOwnership: a snippet that writes one of rampart's
// files fails validate, at the snippet's own line and column, as it fails
// gen; text and JSON.
func TestValidateSnippetOwnership(t *testing.T) {
	dir := t.TempDir()
	bu := filepath.Join(dir, "own.bu")
	if err := os.WriteFile(bu, []byte("variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /etc/rampart/firewall/iptables.v4\n      contents:\n        inline: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(file, []byte("version: 1\ncluster: s\nadmins: [203.0.113.7]\nroles:\n  web: {zone: public}\nsnippets:\n  all: [own.bu]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run("validate", file)
	if want := bu + ":5:13: error: snippets.all[0]: the snippet writes file /etc/rampart/firewall/iptables.v4, which is rampart's on role web"; code != 1 || !strings.Contains(stdout+stderr, want) {
		t.Errorf("validate: exit %d\n%s%s\nwant: %s", code, stdout, stderr, want)
	}
	if code, stdout, _ := run("validate", file, "-o", "json"); code != 1 || !strings.Contains(stdout, `"code": "spec.snippet-owned"`) {
		t.Errorf("validate -o json: exit %d\n%s", code, stdout)
	}
}
