package gen_test

// Network namespaces for the TestReal* tests that load a firewall; the
// rule for a missing tool or privilege is realtool's.

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rampart-cluster/rampart/internal/realtool"
)

// realRepoRoot is the module's root, seen from this package's directory.
const realRepoRoot = "../.."

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
	realtool.NeedRoot(t, "it makes network namespaces and loads firewall rules in them")
	ip := realtool.Tool(t, "ip", "iproute2")
	realNetnsProbe.once.Do(func() {
		n := fmt.Sprintf("rampart-test-%d-probe", os.Getpid())
		out, err := realtool.Run(nil, ip, "netns", "add", n)
		if err != nil {
			realNetnsProbe.err = fmt.Errorf("ip netns add: %v: %s", err, strings.TrimSpace(out))
			return
		}
		if out, err := realtool.Run(nil, ip, "netns", "delete", n); err != nil {
			realNetnsProbe.err = fmt.Errorf("ip netns delete: %v: %s", err, strings.TrimSpace(out))
		}
	})
	if realNetnsProbe.err != nil {
		realtool.Unavailable(t, "network namespaces cannot be made here: %v", realNetnsProbe.err)
	}
	ns := &realNetns{name: fmt.Sprintf("rampart-test-%d-%d", os.Getpid(), realNetnsSeq.Add(1)), ip: ip}
	realtool.Must(t, ip, "netns", "add", ns.name)
	t.Cleanup(func() {
		if out, err := realtool.Run(nil, ip, "netns", "delete", ns.name); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", ns.name, err, out)
		}
	})
	return ns
}

// run runs a command inside the namespace.
func (ns *realNetns) run(name string, args ...string) (string, error) {
	return realtool.Run(nil, ns.ip, append([]string{"netns", "exec", ns.name, name}, args...)...)
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
