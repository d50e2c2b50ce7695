package gen_test

// Helpers of the TestReal* tests: finding the real tools they run, and the
// rule for when one is missing. With RAMPART_REAL=1 (what `make test` and CI
// set) a missing tool, a missing privilege or a broken network namespace is a
// failure; without it the test is skipped and says why.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// realRequired reports whether the real components must be present.
func realRequired() bool { return os.Getenv("RAMPART_REAL") == "1" }

// realUnavailable stops the test because something it needs is missing:
// fatally under RAMPART_REAL=1, as a skip otherwise.
func realUnavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if realRequired() {
		t.Fatalf("RAMPART_REAL=1 but %s", msg)
	}
	t.Skipf("skipped: %s (set RAMPART_REAL=1 to make this a failure)", msg)
}

// realNeedRoot stops the test unless it runs as root.
func realNeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		realUnavailable(t, "this test must run as root: %s", why)
	}
}

// realTool returns the absolute path of a program on PATH.
func realTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		realUnavailable(t, "%s is not installed (Debian package %s; `make deps` installs it)", name, pkg)
	}
	return p
}

// realIgnition returns the real Ignition binary: $RAMPART_IGNITION as the
// Makefile passes it, else the one `make deps` builds for the version go.mod
// pins, .bin/ignition-<version>.
func realIgnition(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RAMPART_IGNITION"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			realUnavailable(t, "RAMPART_IGNITION=%s is not an executable file", p)
		}
		return p
	}
	version, err := realGoModVersion(filepath.Join(realRepoRoot, "go.mod"), "github.com/coreos/ignition/v2")
	if err != nil {
		realUnavailable(t, "cannot tell which Ignition go.mod pins: %v", err)
	}
	p, err := filepath.Abs(filepath.Join(realRepoRoot, ".bin", "ignition-"+version))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		realUnavailable(t, "the real Ignition %s is not built at %s and RAMPART_IGNITION is not set (`make deps` builds it)", version, p)
	}
	return p
}

// realRepoRoot is the module's root, seen from this package's directory.
const realRepoRoot = "../.."

// realGoModVersion reads the version go.mod requires of a module.
func realGoModVersion(gomod, module string) (string, error) {
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

// realCmdTimeout bounds every command the tests run: none of them should take
// more than a few seconds, and a hung one must not eat the whole test timeout.
const realCmdTimeout = 60 * time.Second

// realRun runs a command and returns its combined output and error; env, if
// not nil, replaces the environment.
func realRun(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), realCmdTimeout)
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
		err = fmt.Errorf("%v (timed out after %v)", err, realCmdTimeout)
	}
	return out.String(), err
}

// realMust runs a command that must succeed and returns its output.
func realMust(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := realRun(nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// realNetns is a network namespace made by a test, with its own (empty)
// iptables, ip6tables, ipset and nftables state.
type realNetns struct {
	name string
	ip   string // path of ip(8)
}

var realNetnsSeq atomic.Int64

// realNetnsProbe checks once that this machine can make network namespaces
// at all, so that a sandbox without them is one clear message rather than a
// failure per machine.
var realNetnsProbe struct {
	once sync.Once
	err  error
}

// realNewNetns makes a fresh network namespace, deleted when the test ends.
func realNewNetns(t testing.TB) *realNetns {
	t.Helper()
	realNeedRoot(t, "it makes network namespaces and loads firewall rules in them")
	ip := realTool(t, "ip", "iproute2")
	realNetnsProbe.once.Do(func() {
		n := fmt.Sprintf("rampart-test-%d-probe", os.Getpid())
		out, err := realRun(nil, ip, "netns", "add", n)
		if err != nil {
			realNetnsProbe.err = fmt.Errorf("ip netns add: %v: %s", err, strings.TrimSpace(out))
			return
		}
		if out, err := realRun(nil, ip, "netns", "delete", n); err != nil {
			realNetnsProbe.err = fmt.Errorf("ip netns delete: %v: %s", err, strings.TrimSpace(out))
		}
	})
	if realNetnsProbe.err != nil {
		realUnavailable(t, "network namespaces cannot be made here: %v", realNetnsProbe.err)
	}
	ns := &realNetns{name: fmt.Sprintf("rampart-test-%d-%d", os.Getpid(), realNetnsSeq.Add(1)), ip: ip}
	realMust(t, ip, "netns", "add", ns.name)
	t.Cleanup(func() {
		if out, err := realRun(nil, ip, "netns", "delete", ns.name); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", ns.name, err, out)
		}
	})
	return ns
}

// run runs a command inside the namespace.
func (ns *realNetns) run(name string, args ...string) (string, error) {
	return realRun(nil, ns.ip, append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// must runs a command inside the namespace that must succeed.
func (ns *realNetns) must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := ns.run(name, args...)
	if err != nil {
		t.Fatalf("in netns %s: %s %s: %v\n%s", ns.name, name, strings.Join(args, " "), err, out)
	}
	return out
}
