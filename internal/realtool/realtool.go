// Package realtool helps the tests that check rampart's output with the
// real programs that consume it (Ignition, etcd, cloud-init, systemd):
// finding them, the rule for when one is missing, and running them with a
// time limit. With RAMPART_REAL=1 (what `make test` and CI set) a missing
// program or privilege is a failure; without it the test is skipped and
// says why.
package realtool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/internal/netlab"
)

// Required reports whether the real components must be present
// (RAMPART_REAL=1).
func Required() bool { return os.Getenv(netlab.RealEnv) == "1" }

// Unavailable stops the test because something it needs is missing:
// fatally under RAMPART_REAL=1, as a skip otherwise.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("RAMPART_REAL=1 but %s", msg)
	}
	t.Skipf("skipped: %s (set RAMPART_REAL=1 to make this a failure)", msg)
}

// NeedRoot stops the test unless it runs as root; why says what for.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "this test must run as root: %s", why)
	}
}

// Tool returns the absolute path of the program name on PATH; pkg is the
// Debian package that has it.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s is not installed (Debian package %s; `make deps` installs it)", name, pkg)
	}
	return p
}

// Ignition returns the real Ignition binary: $RAMPART_IGNITION as the
// Makefile passes it, else the one `make deps` builds for the version
// go.mod pins, .bin/ignition-<version> under the module's root.
func Ignition(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RAMPART_IGNITION"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			Unavailable(t, "RAMPART_IGNITION=%s is not an executable file", p)
		}
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		Unavailable(t, "cannot find the module's root: %v", err)
	}
	version, err := goModVersion(filepath.Join(root, "go.mod"), "github.com/coreos/ignition/v2")
	if err != nil {
		Unavailable(t, "cannot tell which Ignition go.mod pins: %v", err)
	}
	p := filepath.Join(root, ".bin", "ignition-"+version)
	if _, err := os.Stat(p); err != nil {
		Unavailable(t, "the real Ignition %s is not built at %s and RAMPART_IGNITION is not set (`make deps` builds it)", version, p)
	}
	return p
}

// RepoRoot is the module's root: the nearest directory above the test's
// own that holds a go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no go.mod above the current directory")
		}
		dir = filepath.Dir(dir)
	}
}

// goModVersion reads the version go.mod requires of a module.
func goModVersion(gomod, module string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}

// CmdTimeout bounds every command Run runs: none of them should take more
// than a few seconds, and a hung one must not eat the whole test timeout.
const CmdTimeout = 60 * time.Second

// Run runs a command and returns its combined output and error; env, if
// not nil, replaces the environment.
func Run(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v (timed out after %v)", err, CmdTimeout)
	}
	return out.String(), err
}

// Must runs a command that must succeed and returns its output.
func Must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Run(nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}
