package netlab_test

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/internal/netlab"
)

// TestTwoHosts: two namespaces on a bridge reach each other over IPv4 and
// IPv6, TCP and UDP; a closed port is refused, a dropped one times out; the
// test's own namespace is left as it was; everything is gone after the test.
func TestTwoHosts(t *testing.T) {
	netlab.Require(t, "nft")
	var names []string
	ownLinks := links(t)
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		if !strings.HasPrefix(lab.Prefix(), "rp-") {
			t.Fatalf("prefix %q", lab.Prefix())
		}
		sw := lab.NewBridge("sw")
		a, b := lab.NewNS("a"), lab.NewNS("b")
		names = []string{sw.NS.Name, a.Name, b.Name}
		aAddrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
		bAddrs := []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("2001:db8:1::2")}
		for _, h := range []struct {
			ns    *netlab.NS
			addrs []netip.Addr
		}{{a, aAddrs}, {b, bAddrs}} {
			sw.Attach(h.ns, "eth0")
			h.ns.AddHost("eth0", h.addrs...)
			h.ns.DefaultOnLink("eth0")
		}
		b.Echo("tcp", ":80")
		for _, addr := range bAddrs {
			b.Echo("udp", netip.AddrPortFrom(addr, 53).String())
		}
		b.Run("nft", "add table inet t")
		b.Run("nft", "add chain inet t in { type filter hook input priority 0; tcp dport 81 drop; }")
		for i, to := range bAddrs {
			from := aAddrs[i]
			for _, c := range []struct {
				network string
				port    uint16
				want    netlab.Outcome
			}{
				{"tcp", 80, netlab.Accepted},
				{"udp", 53, netlab.Accepted},
				{"tcp", 79, netlab.Refused},
				{"udp", 54, netlab.Refused},
				{"tcp", 81, netlab.TimedOut},
			} {
				got, err := a.Probe(c.network, from, netip.AddrPortFrom(to, c.port), 500*time.Millisecond)
				if got != c.want {
					t.Errorf("%s %s → %s:%d: %s (%v), want %s", c.network, from, to, c.port, got, err, c.want)
				}
			}
		}
		conn, err := a.Dial("tcp", aAddrs[0], netip.AddrPortFrom(bAddrs[0], 80), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := netip.MustParseAddrPort(conn.LocalAddr().String()).Addr(); got != aAddrs[0] {
			t.Errorf("local address %s, want %s", got, aAddrs[0])
		}
		if err := netlab.Roundtrip(conn, []byte("hello\n"), time.Second); err != nil {
			t.Error(err)
		}
		if got := links(t); got != ownLinks {
			t.Errorf("the test's own namespace changed:\n%s\nwas:\n%s", got, ownLinks)
		}
	})
	for _, n := range names {
		if _, err := os.Stat(netlab.NetnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("namespace %s left behind (%v)", n, err)
		}
	}
}

func links(t *testing.T) string {
	out, err := exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	return strings.Join(names, " ")
}

// TestRequireNames: Check names what is missing.
func TestRequireNames(t *testing.T) {
	if err := netlab.Check("rampart-no-such-tool"); err == nil || !strings.Contains(err.Error(), "rampart-no-such-tool") && os.Geteuid() == 0 {
		t.Errorf("Check of a missing tool: %v", err)
	}
}
