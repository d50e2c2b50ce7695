// Package netlab builds small networks of Linux network namespaces for tests
// that prove a firewall with real packets: namespaces with unique names, veth
// pairs, bridges, IPv4 and IPv6 addresses and routes, commands run inside a
// namespace, and sockets opened in-process inside one.
//
// Everything a Lab makes is tied to a test and removed by t.Cleanup, even
// when the test fails. Names carry a random prefix (rp-<hex>), so tests of
// several packages can build their networks at the same time. Traffic never
// leaves the namespaces: no address or route is added outside them.
//
// A socket keeps the namespace it was created in, so listeners and dialers
// are made on a thread that has joined the namespace (setns) and used
// afterwards from any goroutine.
package netlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// RealEnv is the environment variable that makes a missing prerequisite a
// test failure instead of a skip: CI sets RAMPART_REAL=1 and must run every
// namespace test.
const RealEnv = "RAMPART_REAL"

// NetnsDir is where `ip netns` keeps the handles of named namespaces.
const NetnsDir = "/var/run/netns"

// Check reports why network namespaces cannot be built here: not root, a
// missing program (ip is always needed, tools are the caller's), or a kernel
// that refuses a new namespace. It returns nil when everything is there.
func Check(tools ...string) error {
	if os.Geteuid() != 0 {
		return errors.New("netlab: needs root to create network namespaces")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("netlab: %s is not installed (%v)", tool, err)
		}
	}
	name := "rp-" + randomHex(4) + "-probe"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: cannot create a network namespace: %v: %s", err, bytes.TrimSpace(out))
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: cannot delete network namespace %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Require runs Check and, when something is missing, skips the test with the
// reason, or fails it when RAMPART_REAL is "1".
func Require(t testing.TB, tools ...string) {
	t.Helper()
	err := Check(tools...)
	if err == nil {
		return
	}
	if os.Getenv(RealEnv) == "1" {
		t.Fatalf("%v (%s=1: these tests must run)", err, RealEnv)
	}
	t.Skipf("%v (set %s=1 to make this a failure)", err, RealEnv)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Lab is one test's network: the namespaces it creates share a random
// prefix and are deleted when the test ends.
type Lab struct {
	t      testing.TB
	prefix string

	mu    sync.Mutex
	names map[string]bool
}

// New starts a lab for the test. Namespaces are named <prefix>-<short name>,
// the prefix being rp- and eight random hex digits.
func New(t testing.TB) *Lab {
	t.Helper()
	return &Lab{t: t, prefix: "rp-" + randomHex(4), names: map[string]bool{}}
}

// Prefix is the lab's unique name prefix, rp-<hex>.
func (l *Lab) Prefix() string { return l.prefix }

// NS is a named network namespace of a lab, with its loopback up.
type NS struct {
	lab *Lab
	// Name is the full name under /var/run/netns, unique to the lab.
	Name string
	// Short is the name the test gave it.
	Short string
}

// NewNS creates a namespace named <prefix>-short, brings its loopback up and
// deletes it when the test ends (after every listener of the test is closed:
// cleanups run last-registered first).
func (l *Lab) NewNS(short string) *NS {
	l.t.Helper()
	l.mu.Lock()
	if l.names[short] {
		l.mu.Unlock()
		l.t.Fatalf("netlab: namespace %q made twice", short)
	}
	l.names[short] = true
	l.mu.Unlock()
	n := &NS{lab: l, Name: l.prefix + "-" + short, Short: short}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		l.t.Fatalf("netlab: ip netns add %s: %v: %s", n.Name, err, bytes.TrimSpace(out))
	}
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			l.t.Errorf("netlab: ip netns del %s: %v: %s", n.Name, err, bytes.TrimSpace(out))
		}
	})
	n.IP("link", "set", "lo", "up")
	return n
}

// String is the namespace's full name.
func (n *NS) String() string { return n.Name }

// Path is the namespace's handle, the file setns opens.
func (n *NS) Path() string { return NetnsDir + "/" + n.Name }

// Exec runs a program inside the namespace (ip netns exec) and returns its
// combined output. It may be called from any goroutine.
func (n *NS) Exec(args ...string) ([]byte, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("in %s: %s: %w: %s", n.Short, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Run runs a program inside the namespace and fails the test when it fails.
// Call it from the test's goroutine.
func (n *NS) Run(args ...string) string {
	n.lab.t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		n.lab.t.Fatal(err)
	}
	return string(out)
}

// Shell runs a sh script inside the namespace and fails the test when it
// fails. Call it from the test's goroutine.
func (n *NS) Shell(script string) string {
	n.lab.t.Helper()
	return n.Run("sh", "-ec", script)
}

// IP runs `ip -n NAME args...` and fails the test when it fails. Call it from
// the test's goroutine.
func (n *NS) IP(args ...string) {
	n.lab.t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		n.lab.t.Fatalf("netlab: in %s: ip %s: %v: %s", n.Short, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// Up brings a device of the namespace up.
func (n *NS) Up(dev string) {
	n.lab.t.Helper()
	n.IP("link", "set", dev, "up")
}

// AddAddr adds an address with its prefix length to a device; IPv6
// addresses skip duplicate address detection (nodad), so they work at once.
func (n *NS) AddAddr(dev string, p netip.Prefix) {
	n.lab.t.Helper()
	if p.Addr().Is4() {
		n.IP("addr", "add", p.String(), "dev", dev)
		return
	}
	n.IP("-6", "addr", "add", p.String(), "dev", dev, "nodad")
}

// AddHost adds each address as a host address (/32, /128) to a device.
func (n *NS) AddHost(dev string, addrs ...netip.Addr) {
	n.lab.t.Helper()
	for _, a := range addrs {
		n.AddAddr(dev, netip.PrefixFrom(a, a.BitLen()))
	}
}

// DefaultOnLink routes everything, IPv4 and IPv6, out of dev without a
// gateway: every destination is a neighbour on that link.
func (n *NS) DefaultOnLink(dev string) {
	n.lab.t.Helper()
	n.IP("route", "add", "default", "dev", dev)
	n.IP("-6", "route", "add", "default", "dev", dev)
}

// Route adds a route to dst through the gateway via.
func (n *NS) Route(dst netip.Prefix, via netip.Addr) {
	n.lab.t.Helper()
	fam := "-4"
	if dst.Addr().Is6() {
		fam = "-6"
	}
	n.IP(fam, "route", "add", dst.String(), "via", via.String())
}

// DefaultVia routes everything of the gateway's family through it.
func (n *NS) DefaultVia(via netip.Addr) {
	n.lab.t.Helper()
	fam := "-4"
	if via.Is6() {
		fam = "-6"
	}
	n.IP(fam, "route", "add", "default", "via", via.String())
}

// Sysctl sets a kernel parameter of the namespace, e.g.
// Sysctl("net.ipv4.ip_forward", "1").
func (n *NS) Sysctl(key, value string) {
	n.lab.t.Helper()
	n.Run("sysctl", "-q", "-w", key+"="+value)
}

// Link connects two namespaces with a veth pair, aDev in a and bDev in b,
// and brings both ends up. Device names are per namespace, so the same name
// may be used in every namespace (at most 15 characters).
func (l *Lab) Link(a *NS, aDev string, b *NS, bDev string) {
	l.t.Helper()
	a.IP("link", "add", aDev, "type", "veth", "peer", "name", bDev, "netns", b.Name)
	a.Up(aDev)
	b.Up(bDev)
}

// Bridge is a Linux bridge in a namespace.
type Bridge struct {
	// NS is the namespace the bridge lives in.
	NS *NS
	// Dev is the bridge's device name.
	Dev   string
	mu    sync.Mutex
	ports int
}

// NewBridge creates a namespace that holds nothing but a bridge br0, the
// switch a test's hosts are plugged into.
func (l *Lab) NewBridge(short string) *Bridge {
	l.t.Helper()
	return l.NewNS(short).AddBridge("br0")
}

// AddBridge creates a bridge device in the namespace and brings it up.
// Spanning tree is off and multicast snooping too, so neighbour discovery
// floods like on a plain switch.
func (n *NS) AddBridge(dev string) *Bridge {
	n.lab.t.Helper()
	n.IP("link", "add", dev, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
	n.Up(dev)
	return &Bridge{NS: n, Dev: dev}
}

// Attach plugs a namespace into the bridge: a veth pair with dev in n and a
// port p<N> in the bridge's namespace, enslaved to the bridge; both ends up.
func (b *Bridge) Attach(n *NS, dev string) {
	b.NS.lab.t.Helper()
	b.mu.Lock()
	port := fmt.Sprintf("%s-p%d", b.Dev, b.ports)
	b.ports++
	b.mu.Unlock()
	b.NS.lab.Link(n, dev, b.NS, port)
	b.NS.IP("link", "set", port, "master", b.Dev)
}

// Do runs fn on an OS thread that has joined the namespace, then returns
// the thread to the namespace it came from. Sockets fn creates stay in the
// namespace and may be used from any goroutine afterwards. If the thread
// cannot return, it is left locked so that it ends with fn's goroutine and
// never runs other code in the wrong namespace.
func (n *NS) Do(fn func() error) error {
	target, err := os.Open(n.Path())
	if err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: setns %s: %w", n.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// stay locked: the thread dies with this goroutine
			errc <- errors.Join(ferr, fmt.Errorf("netlab: leaving %s: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
