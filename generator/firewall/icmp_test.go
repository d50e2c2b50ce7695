package firewall_test

// ICMP: a forged redirect, even one RELATED to a connection the node made,
// never reaches the node's ICMP stack; router advertisements do only from
// link-local routers; echo requests, where the spec opens them, are
// rate-limited. Each is measured by the kernel's own ICMP counters
// (/proc/net/snmp, /proc/net/snmp6), which count what got past netfilter.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
	"golang.org/x/sys/unix"
)

// forgeIP sends one packet of protocol proto with the caller's source
// address and hop limit through a raw socket of the namespace. For ICMPv6
// the checksum (at offset 2 of the message) is filled in here.
func forgeIP(ns *netlab.NS, src, dst netip.Addr, proto uint8, ttl uint8, msg []byte) error {
	return sendRaw(ns, dst, buildIP(src, dst, proto, ttl, msg))
}

// buildIP makes the packet forgeIP sends.
func buildIP(src, dst netip.Addr, proto uint8, ttl uint8, msg []byte) []byte {
	var pkt []byte
	if src.Is4() {
		pkt = make([]byte, 20, 20+len(msg))
		pkt[0] = 0x45
		binary.BigEndian.PutUint16(pkt[2:], uint16(20+len(msg)))
		pkt[8], pkt[9] = ttl, proto
		s, d := src.As4(), dst.As4()
		copy(pkt[12:], s[:])
		copy(pkt[16:], d[:])
		binary.BigEndian.PutUint16(pkt[10:], checksum(pkt, 0))
	} else {
		pkt = make([]byte, 40, 40+len(msg))
		pkt[0] = 0x60
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(msg)))
		pkt[6], pkt[7] = proto, ttl
		s, d := src.As16(), dst.As16()
		copy(pkt[8:], s[:])
		copy(pkt[24:], d[:])
		if proto == unix.IPPROTO_ICMPV6 {
			var sum uint32
			for i := 8; i < 40; i += 2 {
				sum += uint32(binary.BigEndian.Uint16(pkt[i:]))
			}
			sum += uint32(len(msg)) + unix.IPPROTO_ICMPV6
			binary.BigEndian.PutUint16(msg[2:], 0)
			binary.BigEndian.PutUint16(msg[2:], checksum(msg, sum))
		}
	}
	return append(pkt, msg...)
}

// sendRaw sends the packets to dst from one raw socket of the namespace.
func sendRaw(ns *netlab.NS, dst netip.Addr, pkts ...[]byte) error {
	return ns.Do(func() error {
		fam := unix.AF_INET6
		var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: dst.As16()}
		if dst.Is4() {
			fam, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: dst.As4()}
		}
		fd, err := unix.Socket(fam, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, pkt := range pkts {
			if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
				return err
			}
		}
		return nil
	})
}

// icmpv4 builds an ICMP message with its checksum.
func icmpv4(typ, code uint8, rest []byte) []byte {
	m := append([]byte{typ, code, 0, 0}, rest...)
	binary.BigEndian.PutUint16(m[2:], checksum(m, 0))
	return m
}

// counter reads one of the namespace's ICMP counters: Icmp InRedirects
// from /proc/net/snmp, or an Icmp6… name from /proc/net/snmp6.
func counter(t *testing.T, ns *netlab.NS, name string) int {
	t.Helper()
	if strings.HasPrefix(name, "Icmp6") {
		for _, l := range strings.Split(ns.Run("cat", "/proc/net/snmp6"), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == name {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
		t.Fatalf("no %s in /proc/net/snmp6", name)
	}
	var head []string
	for _, l := range strings.Split(ns.Run("cat", "/proc/net/snmp"), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Icmp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == name && i < len(f) {
				n, _ := strconv.Atoi(f[i])
				return n
			}
		}
	}
	t.Fatalf("no Icmp %s in /proc/net/snmp", name)
	return 0
}

// TestICMPForged: n1 and a router on one link. Before rampart's ruleset is
// loaded every forged message reaches n1's ICMP stack (the control); after,
// redirects (IPv4, RELATED to n1's own UDP flow; IPv6) and a router
// advertisement from a global address do not, one from a link-local
// router does, and of 200 echo requests sent at once (the spec opens echo to
// the world) the rate limit lets about its burst through.
func TestICMPForged(t *testing.T) {
	netlab.Require(t, packetTools...)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s, err := spec.Parse("icmp.yaml", []byte(fmt.Sprintf(`version: 1
cluster: icmp
os: {variant: flatcar, version: 1.1.0}
profile: none
admins: [192.0.2.10/32]
roles:
  web: {zone: public, public: [80/tcp, icmp], admin: [22/tcp]}
nodes:
  - {name: n1, role: web, addresses: [203.0.113.1, "2001:db8:f::1"]}
firewall: {backend: %s}
`, backend)))
			if err != nil {
				t.Fatal(err)
			}
			c := newCluster(t, s)
			lab := netlab.New(t)
			n1, router := lab.NewNS("n1"), lab.NewNS("router")
			lab.Link(n1, "eth0", router, "eth0")
			n1.AddAddr("eth0", netip.MustParsePrefix("203.0.113.1/24"))
			n1.AddAddr("eth0", netip.MustParsePrefix("2001:db8:f::1/64"))
			router.AddAddr("eth0", netip.MustParsePrefix("203.0.113.254/24"))
			router.AddAddr("eth0", netip.MustParsePrefix("2001:db8:f::fe/64"))
			n1Addr, rtAddr := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.254")
			n1Addr6, rtAddr6 := netip.MustParseAddr("2001:db8:f::1"), netip.MustParseAddr("2001:db8:f::fe")
			// link-local addresses are tentative (duplicate address
			// detection) for a moment: neighbour discovery waits for them
			for _, ns := range []*netlab.NS{n1, router} {
				ns.Run("sh", "-c", "i=0; while ip -6 addr show dev eth0 tentative | grep -q inet6 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done")
			}
			mac := strings.TrimSpace(n1.Run("cat", "/sys/class/net/eth0/address"))
			for _, a := range []string{"203.0.113.1", "2001:db8:f::1"} {
				router.IP("neigh", "replace", a, "lladdr", mac, "dev", "eth0", "nud", "permanent")
			}
			rtLL := netip.MustParseAddr(strings.Fields(router.Run("sh", "-c", "ip -6 -o addr show dev eth0 scope link | sed 's/.*inet6 \\([^/]*\\).*/\\1/'"))[0])

			// n1's own UDP flow to the router: what a forged redirect is RELATED to
			flow := func() {
				if err := n1.Do(func() error {
					c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(n1Addr, 5555)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(rtAddr, 9999)))
					if err != nil {
						return err
					}
					defer c.Close()
					_, err = c.Write([]byte("x"))
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			redirect := func() error {
				inner := make([]byte, 28)
				inner[0], inner[8], inner[9] = 0x45, 64, unix.IPPROTO_UDP
				binary.BigEndian.PutUint16(inner[2:], 29)
				s, d := n1Addr.As4(), rtAddr.As4()
				copy(inner[12:], s[:])
				copy(inner[16:], d[:])
				binary.BigEndian.PutUint16(inner[10:], checksum(inner[:20], 0))
				binary.BigEndian.PutUint16(inner[20:], 5555)
				binary.BigEndian.PutUint16(inner[22:], 9999)
				binary.BigEndian.PutUint16(inner[24:], 9)
				gw := netip.MustParseAddr("203.0.113.66").As4()
				return forgeIP(router, rtAddr, n1Addr, unix.IPPROTO_ICMP, 64, icmpv4(5, 1, append(gw[:], inner...)))
			}
			redirect6 := func() error {
				m := make([]byte, 40)
				m[0] = 137
				t6, d6 := netip.MustParseAddr("fe80::66").As16(), netip.MustParseAddr("2001:db8:77::1").As16()
				copy(m[8:], t6[:])
				copy(m[24:], d6[:])
				return forgeIP(router, rtLL, n1Addr6, unix.IPPROTO_ICMPV6, 255, m)
			}
			ra := func(src netip.Addr) func() error {
				return func() error {
					m := make([]byte, 16)
					m[0], m[4] = 134, 64
					return forgeIP(router, src, netip.MustParseAddr("ff02::1"), unix.IPPROTO_ICMPV6, 255, m)
				}
			}
			sends := []struct {
				what, counter string
				send          func() error
				passesLoaded  bool
			}{
				{"IPv4 redirect RELATED to n1's flow", "InRedirects", redirect, false},
				{"IPv6 redirect", "Icmp6InRedirects", redirect6, false},
				{"router advertisement from a global address", "Icmp6InRouterAdvertisements", ra(rtAddr6), false},
				{"router advertisement from a link-local router", "Icmp6InRouterAdvertisements", ra(rtLL), true},
			}
			try := func(loaded bool) {
				for _, snd := range sends {
					flow()
					before := counter(t, n1, snd.counter)
					if err := snd.send(); err != nil {
						t.Fatalf("%s: %v", snd.what, err)
					}
					got := counter(t, n1, snd.counter) - before
					want := 1
					if loaded && !snd.passesLoaded {
						want = 0
					}
					if got != want {
						t.Errorf("%s (ruleset loaded: %v): %s grew by %d, want %d", snd.what, loaded, snd.counter, got, want)
					}
				}
			}
			try(false)
			install(t, n1, c, c.machineFor(t, "n1")).apply(t)
			try(true)

			// echo: 200 requests at once, IPv4 and IPv6
			for _, fam := range []struct {
				counter  string
				src, dst netip.Addr
				proto    uint8
				typ      uint8
			}{{"InEchos", rtAddr, n1Addr, unix.IPPROTO_ICMP, 8}, {"Icmp6InEchos", rtAddr6, n1Addr6, unix.IPPROTO_ICMPV6, 128}} {
				var pkts [][]byte
				for i := 0; i < 200; i++ {
					// a new identifier each: one conntrack entry per request,
					// none of them a reply's ESTABLISHED
					m := []byte{fam.typ, 0, 0, 0, byte(i >> 8), byte(i), 0, 1}
					if fam.proto == unix.IPPROTO_ICMP {
						m = icmpv4(fam.typ, 0, m[4:])
					}
					pkts = append(pkts, buildIP(fam.src, fam.dst, fam.proto, 64, m))
				}
				before := counter(t, n1, fam.counter)
				if err := sendRaw(router, fam.dst, pkts...); err != nil {
					t.Fatal(err)
				}
				if got := counter(t, n1, fam.counter) - before; got < 1 || got > 40 {
					t.Errorf("%s: %d of 200 echo requests reached n1, want about the burst of 20", fam.counter, got)
				}
			}
		})
	}
}
