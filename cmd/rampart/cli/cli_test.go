package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const fixture = "../../../fixtures/dcos-packet.yaml"

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(args, &o, &e)
	return code, o.String(), e.String()
}

// TestHelp walks the command tree: every command has a short description,
// and --help works for each.
func TestHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		seen++
		if c.Short == "" {
			t.Errorf("%s has no short description", c.CommandPath())
		}
		args := append(strings.Fields(c.CommandPath())[1:], "--help")
		code, out, errOut := run(args...)
		if code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		for _, sub := range c.Commands() {
			if !sub.Hidden && sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	walk(NewRoot())
	if seen < 4 {
		t.Errorf("walked %d commands, want rampart, gen, validate, version at least", seen)
	}
}

func TestExitCodes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ncluster: x\nroles:\n  web: {zone: public, public: [70000/tcp]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{[]string{"validate", "-f", fixture}, 0, "cluster dcos-packet is valid", ""},
		{[]string{"validate", "-f", bad}, 1, "", bad + `:4:32: error: roles.web.public[0]: port 70000 in "70000/tcp" is out of range (1-65535)`},
		{[]string{"validate", "-f", bad, "-o", "json"}, 1, `"code": "spec.port-in-range-out-of-range"`, ""},
		{[]string{"validate", "-f", fixture, "-o", "json"}, 0, `"entries": []`, ""},
		{[]string{"validate"}, 2, "", "-f is required"},
		{[]string{"validate", "-f", fixture, "--bogus"}, 2, "", "unknown flag: --bogus"},
		{[]string{"validate", "-f", fixture, "extra"}, 2, "", "the cluster spec is given twice"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"validate", "-f", "/nonexistent/cluster.yaml"}, 1, "", "no such file"},
		{[]string{"version"}, 0, "rampart ", ""},
		{[]string{}, 2, "", "Usage:"},
		{[]string{"push"}, 2, "", "push needs a provider"},
		{[]string{"push", "gcp"}, 2, "", `unknown command "gcp"`},
		{[]string{"push", "aws"}, 2, "", "-f is required"},
		{[]string{"push", "aws", "-f", fixture}, 1, "", "the spec has no provider.aws section"},
		{[]string{"push", "aws", "-f", "../../../fixtures/dcos-aws.yaml", "-o", "yaml"}, 2, "", "-o must be text or json"},
		{[]string{"inventory"}, 2, "", "inventory needs a source"},
		{[]string{"inventory", "aws"}, 2, "", "--tag K=V is required"},
		{[]string{"inventory", "aws", "--tag", "rampart:cluster=x", "--role", "agent"}, 2, "", `--role "agent" is not PATTERN=ROLE`},
		{[]string{"inventory", "terraform"}, 2, "", "--file is required"},
		{[]string{"inventory", "terraform", "--file", "/nonexistent/output.json"}, 1, "", "no such file"},
	}
	for _, c := range cases {
		code, out, errOut := run(c.args...)
		if code != c.code || !strings.Contains(out, c.stdout) || !strings.Contains(errOut, c.stderr) {
			t.Errorf("%v: exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", c.args, code, c.code, out, c.stdout, errOut, c.stderr)
		}
	}
}

func TestVersionNamesEmbeddedLibraries(t *testing.T) {
	_, out, _ := run("version")
	// test binaries carry no dependency build info; the command must still print its own line
	if !strings.HasPrefix(out, "rampart ") {
		t.Errorf("version printed %q", out)
	}
}

// TestGenCheck: gen writes the tree and says where; --check is 0 on a fresh
// tree and 1, listing the file, after an edit.
func TestGenCheck(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	state := filepath.Join(t.TempDir(), "state")
	code, stdout, stderr := run("gen", "-f", fixture, "-o", out, "--state", state)
	if code != 0 || !strings.Contains(stdout, "wrote ") || !strings.Contains(stdout, out) {
		t.Fatalf("gen: exit %d, %q %q", code, stdout, stderr)
	}
	if code, stdout, stderr = run("gen", "-f", fixture, "-o", out, "--check", "--state", state); code != 0 || !strings.Contains(stdout, "up to date") {
		t.Fatalf("check on a fresh tree: exit %d, %q %q", code, stdout, stderr)
	}
	edited := filepath.Join(out, "roles", "agent", "rootfs", "etc", "rampart", "firewall", "iptables.v4")
	if err := os.WriteFile(edited, []byte("*filter\nCOMMIT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run("gen", "-f", fixture, "-o", out, "--check", "--state", state)
	if code != 1 || !strings.Contains(stdout, edited+": error: differs") || !strings.Contains(stderr, "is stale: 1 file(s)") {
		t.Fatalf("check after an edit: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, _ = run("gen", "-f", fixture, "-o", filepath.Join(t.TempDir(), "never-written"), "--check", "--state", state); code != 1 {
		t.Errorf("check against a missing tree: exit %d, want 1", code)
	}
}

// TestGenBadSpecWritesNothing: a spec with errors leaves no tree and does not
// touch an existing one.
func TestGenBadSpecWritesNothing(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ncluster: Bad_Name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if code, _, stderr := run("gen", "-f", bad, "-o", out, "--state", state); code != 1 || !strings.Contains(stderr, bad+":2:10: error: cluster:") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a failed gen created %s", out)
	}
	if code, _, _ := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatal("gen of the fixture failed")
	}
	before, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if code, _, _ := run("gen", "-f", bad, "-o", out, "--state", state); code != 1 {
		t.Fatal("bad spec accepted")
	}
	after, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if !bytes.Equal(before, after) {
		t.Error("a failed gen changed the existing tree")
	}
}

func TestExplain(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--from", "209.220.51.50", "--to", "master-1", "--port", "8080/tcp"}, 0,
			"ACCEPT  209.220.51.50 -> master-1 (role master) 8080/tcp\n  rule:  admins reach master on its admin ports\n  from:  roles.master.admin at " + fixture + ":27:5\n"},
		{[]string{"--from", "10.88.1.3", "--to", "master-1", "--port", "26257/tcp"}, 0,
			"DROP  10.88.1.3 -> master-1 (role master) 26257/tcp\n  rule:  agent to master on 8201/tcp,26257/tcp: denied\n  from:  profile dcos at " + fixture + ":12:10\n"},
		{[]string{"--from", "2001:db8:ad::7", "--to", "agent", "--port", "22/tcp"}, 0,
			"ACCEPT  2001:db8:ad::7 -> agent (role agent) 22/tcp\n"},
		{[]string{"--from", "203.0.113.9", "--to", "agent-2", "--port", "53/udp"}, 0,
			"DROP  203.0.113.9 -> agent-2 (role agent) 53/udp\n  no rule accepts it: what no rule accepts is logged and dropped\n"},
		{[]string{"--from", "nope", "--to", "agent-2", "--port", "53/udp"}, 2, ""},
		{[]string{"--from", "10.0.0.1", "--to", "agent-2", "--port", "53/dccp"}, 2, ""},
		{[]string{"--from", "10.0.0.1", "--to", "nobody", "--port", "53/udp"}, 2, ""},
		{[]string{"--from", "10.0.0.1", "--to", "agent-2"}, 2, ""},
		{[]string{"--from", "209.220.51.50", "--to", "10.88.1.2", "--port", "8080/tcp"}, 0,
			"ACCEPT  209.220.51.50 -> 10.88.1.2 (role master) 8080/tcp\n"},
		{[]string{"--from", "209.220.51.50", "--to", "10.99.0.1", "--port", "22/tcp"}, 2, ""},
	}
	for _, c := range cases {
		code, out, errOut := run(append([]string{"explain", "-f", fixture}, c.args...)...)
		if code != c.code || !strings.HasPrefix(out, c.out) {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant prefix:\n%s", c.args, code, c.code, out, errOut, c.out)
		}
	}
	code, out, _ := run("explain", "-f", fixture, "--from", "198.51.100.2", "--to", "bootstrap", "--port", "9999/udp", "-o", "json")
	if code != 0 || !strings.Contains(out, `"verdict": "ACCEPT"`) || !strings.Contains(out, `"origin": "trusted"`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	if code, _, errOut := run("explain", "-f", fixture, "--from", "10.0.0.1", "--to", "agent-2"); code != 2 || !strings.Contains(errOut, "--port is required") {
		t.Errorf("explain without --port: exit %d, %s", code, errOut)
	}
	v4only := filepath.Join(t.TempDir(), "v4.yaml")
	if err := os.WriteFile(v4only, []byte("version: 1\ncluster: x\nadmins: [\"2001:db8::/32\"]\nroles:\n  web: {zone: public}\nnodes:\n  - {name: w1, role: web, addresses: [10.0.0.5]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run("explain", "-f", v4only, "--from", "2001:db8::1", "--to", "w1", "--port", "22/tcp")
	if code != 0 || !strings.Contains(out, "note:  node w1 has no IPv6 address: no such connection can reach it") {
		t.Errorf("IPv6 to an IPv4-only node: exit %d\n%s", code, out)
	}
}

func TestAuditExitCodes(t *testing.T) {
	dir := t.TempDir()
	exposed := filepath.Join(dir, "exposed.yaml")
	if err := os.WriteFile(exposed, []byte("version: 1\ncluster: x\nadmins: [192.0.2.1]\nroles:\n  m: {zone: admin, public: [8080/tcp]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	warned := filepath.Join(dir, "warned.yaml")
	if err := os.WriteFile(warned, []byte("version: 1\ncluster: x\nadmins: [192.0.2.1]\ntrusted: [8.8.0.0/16]\nroles:\n  m: {zone: admin}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"audit", "-f", "../../../fixtures/dcos-aws.yaml"}, 0, "0 error(s), 0 warning(s)"},
		{[]string{"audit", "-f", fixture}, 0, "0 error(s), 0 warning(s)"},
		{[]string{"audit", "-f", warned}, 0, "0 error(s), 1 warning(s)"},
		{[]string{"audit", "-f", warned, "--strict"}, 1, "0 error(s), 1 warning(s)"},
		{[]string{"audit", "-f", exposed}, 1, exposed + ":5:29: error: roles.m: the world reaches m on 8080/tcp (Marathon, unauthenticated control plane)"},
		{[]string{"audit", "-f", exposed, "-o", "json"}, 1, `"code": "audit.control-plane-exposed"`},
		{[]string{"audit", "-f", exposed, "-o", "yaml"}, 2, ""},
	}
	for _, c := range cases {
		code, out, errOut := run(c.args...)
		if code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant: %s", c.args, code, c.code, out, errOut, c.out)
		}
	}
}

func TestMatrix(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"matrix", "-f", fixture}, 0, "agent                all but tcp/8201,26257   all            all                               all\n"},
		{[]string{"matrix", "-f", fixture, "--format", "markdown"}, 0, "| **world** | tcp/80,443 | — | tcp/80,443,10000-10100 | — |\n"},
		{[]string{"matrix", "-f", fixture, "--format", "json"}, 0, `"text": "all but tcp/8201,26257"`},
		{[]string{"matrix", "-f", fixture, "--format", "yaml"}, 2, ""},
		{[]string{"matrix"}, 2, ""},
		{[]string{"matrix", "-f", "/nonexistent/cluster.yaml"}, 1, ""},
	}
	for _, c := range cases {
		code, out, errOut := run(c.args...)
		if code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant: %s", c.args, code, c.code, out, errOut, c.out)
		}
	}
}

// TestDiffGit: diff reads the old spec from a git revision with git itself,
// and --exit-code exits 1 only when something opened.
func TestDiffGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("RAMPART_REAL") == "1" {
			t.Fatalf("git is not installed: %v", err)
		}
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	gitRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "clusters")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "cluster.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun("init", "-q")
	gitRun("add", ".")
	gitRun("commit", "-q", "-m", "first")
	// a comment only: nothing changes
	if err := os.WriteFile(path, append([]byte("# reviewed\n"), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("diff", "-f", path, "--git", "HEAD", "--exit-code")
	if code != 0 || !strings.Contains(out, "no change") {
		t.Fatalf("comment only: exit %d\n%s%s", code, out, errOut)
	}
	opened := strings.Replace(string(data), "  bootstrap:\n    zone: private\n", "  bootstrap:\n    zone: private\n    public: [8443/tcp]\n", 1)
	if opened == string(data) {
		t.Fatal("the fixture changed: no bootstrap role to open")
	}
	if err := os.WriteFile(path, []byte(opened), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run("diff", "-f", path, "--git", "HEAD", "--exit-code", "--format", "markdown")
	if code != 1 || !strings.Contains(out, "| world → bootstrap | tcp/8443 | IPv4, IPv6 |") || !strings.Contains(out, "HEAD:"+path) {
		t.Errorf("opened: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ = run("diff", "-f", path, "--git", "HEAD"); code != 0 {
		t.Errorf("without --exit-code: exit %d", code)
	}
	// the other way: closing only
	code, out, _ = run("diff", "-f", fixture, "--base", path, "--exit-code")
	if code != 0 || !strings.Contains(out, "closed (accepted before, not now):\n  world → bootstrap  tcp/8443  (IPv4, IPv6)") {
		t.Errorf("closed: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"diff", "-f", path}, 2, "--base FILE or --git REV"},
		{[]string{"diff", "-f", path, "--base", fixture, "--git", "HEAD"}, 2, "one of them"},
		{[]string{"diff", "-f", path, "--git", "no-such-rev"}, 1, "git show no-such-rev:./cluster.yaml"},
		{[]string{"diff", "-f", path, "--git", "--output=x"}, 2, "not a revision"},
		{[]string{"diff", "-f", path, "--base", fixture, "--format", "yaml"}, 2, "--format"},
	} {
		code, out, errOut := run(c.args...)
		if code != c.code || !strings.Contains(errOut, c.err) {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant: %s", c.args, code, c.code, out, errOut, c.err)
		}
	}
}

// runIn runs rampart with standard input.
func runIn(stdin string, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	root := NewRoot()
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	root.SetOut(&o)
	root.SetErr(&e)
	err := root.Execute()
	code = ExitOK
	if err != nil {
		code = ExitUsage
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
			e.WriteString(ee.Error())
		}
	}
	return code, o.String(), e.String()
}

// TestDrift: the files gen writes for a role, with the jumps the script
// adds, read as if saved from a node, show no drift; a rule taken out is
// named and exits 1. (The kernel's own save output is tested in
// generator/drift, against rules loaded into a network namespace.)
func TestDrift(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	state := filepath.Join(t.TempDir(), "state")
	if code, _, errOut := run("gen", "-f", fixture, "-o", out, "--state", state); code != 0 {
		t.Fatalf("gen: %s", errOut)
	}
	dir := filepath.Join(out, "roles", "agent", "rootfs", "etc", "rampart", "firewall")
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	jumps := "-A INPUT -j RAMPART-INPUT\n-A FORWARD -j RAMPART-FORWARD\n-A DOCKER-USER -j RAMPART-FORWARD\nCOMMIT\n"
	saved := func(name string) string { // the raw table first, then filter, then mangle
		s := read(name)
		i := strings.Index(s, "*filter\n")
		s = s[:i] + strings.Replace(s[i:], "COMMIT\n", jumps, 1)
		s = strings.Replace(s, "*raw\n", "*raw\n-A PREROUTING -j RAMPART-RPFILTER\n", 1)
		return strings.Replace(s, "*mangle\n", "*mangle\n-A PREROUTING -j RAMPART-PREROUTING\n", 1)
	}
	v4 := saved("iptables.v4")
	v6 := filepath.Join(t.TempDir(), "v6")
	sets := filepath.Join(t.TempDir(), "sets")
	if err := os.WriteFile(v6, []byte(saved("iptables.v6")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sets, []byte(read("ipset.v4")+read("ipset.v6")), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"drift", "-f", fixture, "--node", "agent-1", "--iptables-save", "-", "--ip6tables-save", v6, "--ipset-save", sets}
	code, stdout, stderr := runIn(v4, args...)
	if code != 0 || !strings.Contains(stdout, "no drift: agent-1 (role agent) runs what "+fixture+" wants (checked: IPv4 rules, IPv6 rules, sets)") {
		t.Fatalf("fresh: exit %d\n%s%s", code, stdout, stderr)
	}
	var kept []string
	for _, l := range strings.Split(v4, "\n") {
		if !strings.Contains(l, "-A RAMPART-INPUT -m set --match-set rampart-trusted-4 src") {
			kept = append(kept, l)
		}
	}
	code, stdout, _ = runIn(strings.Join(kept, "\n"), args...)
	if code != 1 || !strings.Contains(stdout, "error: IPv4.RAMPART-INPUT[9]: missing rule at position 10") || !strings.Contains(stdout, "rampart-trusted-4") {
		t.Errorf("a rule taken out: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runIn(strings.Join(kept, "\n"), append(args, "--format", "json")...)
	if code != 1 || !strings.Contains(stdout, `"code": "drift.missing-rule"`) {
		t.Errorf("json: exit %d\n%s", code, stdout)
	}
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"drift", "-f", fixture, "--node", "agent-1", "--nft", sets}, 2, "iptables backend"},
		{[]string{"drift", "-f", fixture, "--node", "agent-1", "--iptables-save", v6}, 2, "--ipset-save is required"},
		{[]string{"drift", "-f", fixture, "--node", "agent-1", "--iptables-save", "-", "--ipset-save", "-"}, 2, "only one input"},
		{[]string{"drift", "-f", fixture, "--node", "agent-1", "--iptables-save", sets, "--ipset-save", sets}, 2, "outside a table"},
		{[]string{"drift", "-f", fixture, "--node", "nobody", "--iptables-save", v6, "--ipset-save", sets}, 1, "neither a node nor a role"},
		{[]string{"drift", "-f", fixture, "--iptables-save", v6, "--ipset-save", sets}, 2, "--node is required"},
		{[]string{"drift", "-f", "../../../fixtures/isolation.yaml", "--node", "agent-1", "--iptables-save", v6, "--ipset-save", sets}, 2, "nftables backend"},
	} {
		code, out, errOut := runIn("", c.args...)
		if code != c.code || !strings.Contains(errOut, c.err) {
			t.Errorf("%v: exit %d (want %d)\n%s%s\nwant: %s", c.args, code, c.code, out, errOut, c.err)
		}
	}
}
