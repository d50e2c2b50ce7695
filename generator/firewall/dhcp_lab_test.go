package firewall_test

// The DHCP lab: a node whose firewall is loaded before its interface has
// any address (as rampart-firewall.service runs before network-pre.target)
// must still get its IPv4 and IPv6 addresses from a real DHCP server and
// renew them. The server is Debian's dnsmasq (dnsmasq-base), serving DHCPv4
// and stateful DHCPv6 and sending router advertisements on the link of a
// "router" namespace; the client is ISC dhclient (isc-dhcp-client), -4 and
// -6, in the node's namespace. Its script is a small one that puts the
// leased address on the interface with ip, with the lease's lifetimes, so
// that an address that is not renewed expires as on a real node.
//
// DHCPv4 replies reach dhclient through its packet socket, ahead of
// netfilter; DHCPv6 replies (the server's link-local address, port 547, to
// the client's link-local address, port 546) go through INPUT like any UDP
// datagram and match no conntrack entry (the request went to the multicast
// address ff02::1:2), so the firewall must accept them by itself.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/internal/netlab"
)

// dhcpTools are the programs of the DHCP lab, besides the packet tests'.
var dhcpTools = append(slices.Clone(packetTools), "dnsmasq", "dhclient")

// The lab's link: the router's addresses and the ranges its dnsmasq leases
// from. None of them is an admin, trusted or member address of the
// dcos-packet fixture: to the node's firewall the router is the world.
var (
	dhcpRouter4 = prefix("192.0.2.1/24")
	dhcpRouter6 = prefix("2001:db8:dc::1/64")
	dhcpFirst4  = netip.MustParseAddr("192.0.2.100")
	dhcpLast4   = netip.MustParseAddr("192.0.2.199")
	dhcpFirst6  = netip.MustParseAddr("2001:db8:dc::100")
	dhcpLast6   = netip.MustParseAddr("2001:db8:dc::1ff")
)

// dhcpNode is the fixture's node whose machine the lab boots.
const dhcpNode = "agent-1"

// Times of the lab. dnsmasq's shortest lease is two minutes; dhclient
// renews at T1, half of it for both families, so the lab runs for a little
// over a minute (both backends at once).
const (
	dhcpLease = 120 * time.Second // dnsmasq's minimum
	dadWait   = 10 * time.Second  // until the link-local addresses leave duplicate address detection
	bindWait  = 25 * time.Second  // from dhclient's start to an address on the interface
	renewWait = dhcpLease/2 + 30*time.Second
)

// dhcpScript is dhclient's script in the lab: it logs the reason and the
// address of every call, one line each, to the log named after itself, and
// puts the address of a new or renewed lease on the interface with the
// lease's lifetimes (IPv6 without duplicate address detection, which
// dhclient-script would run first). %[1]s is the ip program.
const dhcpScript = `#!/bin/sh
echo "$reason ${new_ip_address:-}${new_ip6_address:-}" >>"$0.log"
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
	exec %[1]s -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" \
		valid_lft "$new_dhcp_lease_time" preferred_lft "$new_dhcp_lease_time" ;;
BOUND6|RENEW6|REBIND6|REBOOT6)
	exec %[1]s -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" \
		valid_lft "$new_max_life" preferred_lft "$new_preferred_life" nodad ;;
esac
`

// TestDHCPLab: with the firewall of dcos-packet's agent loaded first (and,
// in a second case, with its ruleset broken so that the failsafe holds the
// node), both backends, dhclient -4 and -6 get an address from dnsmasq's ranges onto
// eth0 and renew it at T1 (the server's answer to the renewal reaches
// dhclient, which extends the address's lifetime); the router's
// advertisement gives the node its IPv6 default route.
func TestDHCPLab(t *testing.T) {
	netlab.Require(t, dhcpTools...)
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	eachBackend(t, func(t *testing.T, backend string) {
		for _, failsafe := range []bool{false, true} {
			t.Run(map[bool]string{false: "loaded", true: "failsafe"}[failsafe], func(t *testing.T) {
				t.Parallel()
				dhcpLab(t, ip, backend, failsafe)
			})
		}
	})
}

// dhcpLab is one case of TestDHCPLab; with failsafe, the node's ruleset is
// broken and the node boots closed by the failsafe, which must still let
// its DHCP client get its addresses (renewal is checked with the ruleset).
func dhcpLab(t *testing.T, ip, backend string, failsafe bool) {
	c := dcosSpec(t, backend)
	lab := netlab.New(t)
	router, node := lab.NewNS("router"), lab.NewNS("node")
	in := install(t, node, c, c.machineFor(t, dhcpNode))
	if failsafe {
		if backend == "nftables" {
			breakFile(t, in, "rampart.nft", "add rule inet rampart input tcp dport 70000 accept")
		} else {
			breakFile(t, in, "iptables.v6", "-A RAMPART-INPUT -p tcp --dport 70000 -j ACCEPT")
		}
		if out, err := node.Exec("env", "-i", "PATH="+systemdPath, in.script); err == nil || !strings.Contains(string(out), "closed (failsafe)") {
			t.Fatalf("the broken ruleset did not leave the node in its failsafe: %v\n%s", err, out)
		}
	} else {
		in.apply(t)
	}
	lab.Link(router, "eth0", node, "eth0")
	router.AddAddr("eth0", dhcpRouter4)
	router.AddAddr("eth0", dhcpRouter6)
	for _, ns := range []*netlab.NS{router, node} {
		if err := waitLinkLocal(ns, "eth0", dadWait); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	server := startDaemon(t, router, "dnsmasq", "dnsmasq",
		"--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
		"--user=root", "--interface=eth0", "--dhcp-authoritative",
		fmt.Sprintf("--dhcp-range=%s,%s,255.255.255.0,%ds", dhcpFirst4, dhcpLast4, int(dhcpLease.Seconds())),
		fmt.Sprintf("--dhcp-range=%s,%s,64,%ds", dhcpFirst6, dhcpLast6, int(dhcpLease.Seconds())),
		"--enable-ra",
		"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"),
		"--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--log-facility=-")
	if err := server.waitFor("DHCPv6, IP range", 10*time.Second); err != nil {
		t.Fatal(err)
	}

	conf := filepath.Join(dir, "dhclient.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clients := map[string]*dhcpClient{}
	for _, fam := range []string{"4", "6"} {
		script := filepath.Join(dir, "dhclient"+fam+".sh")
		if err := os.WriteFile(script, []byte(fmt.Sprintf(dhcpScript, ip)), 0o755); err != nil {
			t.Fatal(err)
		}
		clients[fam] = &dhcpClient{fam: fam, log: script + ".log", started: time.Now(),
			d: startDaemon(t, node, "dhclient -"+fam,
				"dhclient", "-"+fam, "-d", "-v", "-cf", conf,
				"-lf", filepath.Join(dir, "dhclient"+fam+".leases"),
				"-pf", filepath.Join(dir, "dhclient"+fam+".pid"),
				"-sf", script, "eth0")}
	}

	// get: an address of the range on eth0, the one dhclient bound
	bound := map[string]netip.Addr{}
	deadline := time.Now().Add(bindWait)
	for len(bound) < len(clients) && time.Now().Before(deadline) {
		for fam, cl := range clients {
			if _, ok := bound[fam]; ok {
				continue
			}
			if a, ok := cl.leased(node); ok {
				bound[fam] = a
				t.Logf("IPv%s: %s on eth0 %s after dhclient -%s started", fam, a, time.Since(cl.started).Round(100*time.Millisecond), fam)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, fam := range []string{"4", "6"} {
		if _, ok := bound[fam]; !ok {
			cl := clients[fam]
			t.Errorf("IPv%s (%s): the node has no global IPv%s address of the DHCP range on eth0 %s after dhclient -%s started, "+
				"with the firewall loaded before the interface had an address%s\n%s\n%s\n%s",
				fam, backend, fam, bindWait, fam, cl.hint(), cl.d.tail("dhclient -"+fam+" output"), cl.logText(), server.tail("dnsmasq log"))
		}
	}
	// the router's advertisement (hop limit 255, from its link-local
	// address) passes the firewall: the default route points at it
	if out, err := node.Exec("ip", "-6", "route", "show", "default"); err != nil || !strings.Contains(string(out), "proto ra") {
		t.Errorf("%s: no IPv6 default route learnt from the router's advertisement: %q %v\n%s", backend, out, err, server.tail("dnsmasq log"))
	}
	if len(bound) == 0 || failsafe {
		return
	}

	// renew: dhclient renews at T1 and runs its script with RENEW
	// (RENEW6) only on the server's answer; the address stays, its
	// lifetime extended past what remained at T1
	renewed := map[string]bool{}
	deadline = time.Now().Add(renewWait)
	for len(renewed) < len(bound) && time.Now().Before(deadline) {
		for fam, a := range bound {
			if !renewed[fam] && clients[fam].logged(renewReason[fam], a) {
				renewed[fam] = true
				t.Logf("IPv%s: %s renewed %s after dhclient -%s started", fam, a, time.Since(clients[fam].started).Round(100*time.Millisecond), fam)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, fam := range []string{"4", "6"} {
		a, ok := bound[fam]
		if !ok {
			continue
		}
		cl := clients[fam]
		if !renewed[fam] {
			t.Errorf("IPv%s (%s): dhclient -%s did not renew %s within %s of binding (T1 is half the %s lease)\n%s\n%s\n%s",
				fam, backend, fam, a, renewWait, dhcpLease, cl.d.tail("dhclient -"+fam+" output"), cl.logText(), server.tail("dnsmasq log"))
			continue
		}
		valid, ok := validLifetime(node, "eth0", a)
		switch {
		case !ok:
			t.Errorf("IPv%s (%s): %s is gone from eth0 after its renewal\n%s", fam, backend, a, cl.logText())
		case valid <= dhcpLease/2:
			t.Errorf("IPv%s (%s): %s has %s left after its renewal, want more than the %s left at T1", fam, backend, a, valid, dhcpLease/2)
		}
	}
}

// The reasons dhclient gives its script for a new lease and a renewed one.
var (
	boundReason = map[string]string{"4": "BOUND", "6": "BOUND6"}
	renewReason = map[string]string{"4": "RENEW", "6": "RENEW6"}
)

// dhcpClient is one dhclient of the lab.
type dhcpClient struct {
	fam     string // "4" or "6"
	d       *daemon
	log     string // the script's log: one "REASON address" line per call
	started time.Time
}

// inRange reports whether a is an address of the lab's DHCP range of the
// client's family.
func (c *dhcpClient) inRange(a netip.Addr) bool {
	first, last := dhcpFirst4, dhcpLast4
	if c.fam == "6" {
		first, last = dhcpFirst6, dhcpLast6
	}
	return a.Compare(first) >= 0 && a.Compare(last) <= 0
}

// leased returns the address of the range that is on eth0 and that
// dhclient bound (its script was called with BOUND or BOUND6 for it).
func (c *dhcpClient) leased(ns *netlab.NS) (netip.Addr, bool) {
	for _, a := range ifAddrs(ns, "eth0") {
		if a.Scope == "global" && c.inRange(a.Addr) && c.logged(boundReason[c.fam], a.Addr) {
			return a.Addr, true
		}
	}
	return netip.Addr{}, false
}

// logged reports whether the script was called with the reason for the
// address.
func (c *dhcpClient) logged(reason string, a netip.Addr) bool {
	data, _ := os.ReadFile(c.log)
	return slices.Contains(strings.Split(string(data), "\n"), reason+" "+a.String())
}

func (c *dhcpClient) logText() string {
	data, err := os.ReadFile(c.log)
	if err != nil {
		return "--- dhclient's script was never called: " + err.Error()
	}
	return "--- dhclient's script was called with:\n" + strings.TrimSpace(string(data))
}

// hint says what the client's output tells: for IPv6, server messages
// that never reached dhclient.
func (c *dhcpClient) hint() string {
	if c.fam == "6" && !strings.Contains(c.d.output(), "RCV: Advertise message") && !strings.Contains(c.d.output(), "RCV: Reply message") {
		return ": dhclient received no DHCPv6 message at all (the server's replies go from its link-local address, udp port 547, to the node's, port 546, and match no conntrack entry)"
	}
	return ""
}

// ifAddr is one address of an interface as `ip -j addr` prints it.
type ifAddr struct {
	Family    string     `json:"family"`
	Addr      netip.Addr `json:"local"`
	Scope     string     `json:"scope"`
	Tentative bool       `json:"tentative"`
	Valid     uint32     `json:"valid_life_time"`
}

// ifAddrs lists the addresses of a device; nil when ip fails.
func ifAddrs(ns *netlab.NS, dev string) []ifAddr {
	out, err := ns.Exec("ip", "-j", "addr", "show", "dev", dev)
	if err != nil {
		return nil
	}
	var links []struct {
		AddrInfo []ifAddr `json:"addr_info"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) != 1 {
		return nil
	}
	return links[0].AddrInfo
}

// validLifetime is what remains of an address's valid lifetime.
func validLifetime(ns *netlab.NS, dev string, a netip.Addr) (time.Duration, bool) {
	for _, x := range ifAddrs(ns, dev) {
		if x.Addr == a {
			return time.Duration(x.Valid) * time.Second, true
		}
	}
	return 0, false
}

// waitLinkLocal waits until the device has a link-local IPv6 address that
// duplicate address detection is done with: DHCPv6 is spoken from it.
func waitLinkLocal(ns *netlab.NS, dev string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		for _, a := range ifAddrs(ns, dev) {
			if a.Scope == "link" && a.Family == "inet6" && !a.Tentative {
				return nil
			}
		}
		if time.Now().After(deadline) {
			out, _ := ns.Exec("ip", "addr", "show", "dev", dev)
			return fmt.Errorf("%s: no usable link-local address on %s after %s:\n%s", ns.Short, dev, wait, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// daemon is a long-running program of a test inside a namespace, its
// output kept; it is killed when the test ends.
type daemon struct {
	name string
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
}

// startDaemon starts args in the namespace (ip netns exec, which becomes the
// program) and kills it at the test's end, waiting for it to go.
func startDaemon(t *testing.T, ns *netlab.NS, name string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, done: make(chan struct{})}
	d.cmd = exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("%s in %s: %v", name, ns.Short, err)
	}
	go func() {
		d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not end within 10s of SIGKILL", name, d.cmd.Process.Pid)
		}
	})
	return d
}

func (d *daemon) output() string { return d.out.String() }

// waitFor waits until the output holds text; an exit before is an error.
func (d *daemon) waitFor(text string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for !strings.Contains(d.output(), text) {
		select {
		case <-d.done:
			return fmt.Errorf("%s ended (%v) before printing %q\n%s", d.name, d.cmd.ProcessState, text, d.tail(d.name+" output"))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not print %q within %s\n%s", d.name, text, wait, d.tail(d.name+" output"))
		}
	}
	return nil
}

// tail is the last lines of the output under a title, and whether the
// program has ended.
func (d *daemon) tail(title string) string {
	const n = 40
	lines := strings.Split(strings.TrimSpace(d.output()), "\n")
	cut := ""
	if len(lines) > n {
		cut = fmt.Sprintf(" (last %d of %d lines)", n, len(lines))
		lines = lines[len(lines)-n:]
	}
	select {
	case <-d.done:
		cut += fmt.Sprintf(", ended: %v", d.cmd.ProcessState)
	default:
	}
	return fmt.Sprintf("--- %s%s:\n%s", title, cut, strings.Join(lines, "\n"))
}

// lockedBuffer is a bytes.Buffer that a running program writes while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
