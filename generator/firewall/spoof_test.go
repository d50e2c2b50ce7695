package firewall_test

// Spoofing: a source trusted by address is only as good as the address.
// A packet forged with a raw socket, carrying a cluster member's address
// but arriving on the node's public interface, reaches every port a member
// reaches unless reverse-path filtering drops it.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
	"golang.org/x/sys/unix"
)

// spoofPort is a port only cluster members reach.
const spoofPort = 7777

// spoofSpec: n1 is multi-homed (public 203.0.113.1 on eth0, private
// 10.0.0.1 on eth1), n2 is a member on the private link only; a trusted
// source lies where no route of n1 leads.
func spoofSpec(t *testing.T, backend, rpfilter string) *cluster {
	t.Helper()
	text := fmt.Sprintf(`version: 1
cluster: spoof
os: {variant: flatcar, version: 1.1.0}
profile: none
admins: [192.0.2.10/32]
trusted: [198.18.0.7, "2001:db8:99::7"]
roles:
  web: {zone: public, public: [80/tcp], admin: [22/tcp]}
nodes:
  - {name: n1, role: web, addresses: [203.0.113.1, "2001:db8:f::1", 10.0.0.1, "fd00::1"]}
  - {name: n2, role: web, addresses: [10.0.0.2, "fd00::2"]}
firewall: {backend: %s, rpfilter: %s}
`, backend, rpfilter)
	s, err := spec.Parse("spoof.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return newCluster(t, s)
}

// forgeUDP sends one UDP datagram with a source address of the caller's
// choice through a raw socket of the namespace (the IP header is the
// caller's: IP_HDRINCL, implied by IPPROTO_RAW for both families).
func forgeUDP(ns *netlab.NS, src, dst netip.AddrPort, payload []byte) error {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	var pkt []byte
	if src.Addr().Is4() {
		pkt = make([]byte, 20, 20+len(udp))
		pkt[0] = 0x45
		binary.BigEndian.PutUint16(pkt[2:], uint16(20+len(udp)))
		pkt[8] = 64
		pkt[9] = unix.IPPROTO_UDP
		s, d := src.Addr().As4(), dst.Addr().As4()
		copy(pkt[12:], s[:])
		copy(pkt[16:], d[:])
		binary.BigEndian.PutUint16(pkt[10:], checksum(pkt, 0))
		pkt = append(pkt, udp...) // UDP checksum 0: none, allowed over IPv4
	} else {
		pkt = make([]byte, 40, 40+len(udp))
		pkt[0] = 0x60
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(udp)))
		pkt[6] = unix.IPPROTO_UDP
		pkt[7] = 64
		s, d := src.Addr().As16(), dst.Addr().As16()
		copy(pkt[8:], s[:])
		copy(pkt[24:], d[:])
		// the pseudo-header: addresses, length, next header
		var sum uint32
		for i := 8; i < 40; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(pkt[i:]))
		}
		sum += uint32(len(udp)) + unix.IPPROTO_UDP
		c := checksum(udp, sum)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], c)
		pkt = append(pkt, udp...)
	}
	return ns.Do(func() error {
		fam := unix.AF_INET6
		var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: dst.Addr().As16()}
		if dst.Addr().Is4() {
			fam, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: dst.Addr().As4()}
		}
		fd, err := unix.Socket(fam, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, sa)
	})
}

// checksum is the Internet checksum of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// receiver counts the datagrams n1 gets on spoofPort, by payload.
type receiver struct{ got chan string }

func listen(t *testing.T, ns *netlab.NS) *receiver {
	t.Helper()
	r := &receiver{got: make(chan string, 64)}
	for _, network := range []string{"udp4", "udp6"} {
		var c net.PacketConn
		if err := ns.Do(func() (err error) {
			c, err = net.ListenPacket(network, fmt.Sprintf(":%d", spoofPort))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				r.got <- string(buf[:n])
			}
		}()
	}
	return r
}

// arrived reports whether the datagram with the payload arrived within a
// second.
func (r *receiver) arrived(payload string) bool {
	deadline := time.After(time.Second)
	for {
		select {
		case p := <-r.got:
			if p == payload {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// TestSpoofedSources: from the public side, a forged datagram with the
// member n2's private address (wrong interface) and one with an address no
// route leads back to. Strict drops both, loose the unroutable one, off
// neither; n2's own datagrams on the private link always arrive. Both
// backends, IPv4 and IPv6.
func TestSpoofedSources(t *testing.T) {
	netlab.Require(t, packetTools...)
	for _, backend := range backends {
		for _, mode := range []string{spec.RPFilterStrict, spec.RPFilterLoose, spec.RPFilterOff} {
			t.Run(backend+"/"+mode, func(t *testing.T) {
				t.Parallel()
				c := spoofSpec(t, backend, mode)
				lab := netlab.New(t)
				n1, n2, attacker := lab.NewNS("n1"), lab.NewNS("n2"), lab.NewNS("attacker")
				lab.Link(n1, "eth0", attacker, "eth0")
				lab.Link(n1, "eth1", n2, "eth0")
				for _, a := range []struct {
					ns   *netlab.NS
					dev  string
					pref string
				}{
					{n1, "eth0", "203.0.113.1/24"}, {n1, "eth0", "2001:db8:f::1/64"},
					{n1, "eth1", "10.0.0.1/24"}, {n1, "eth1", "fd00::1/64"},
					{attacker, "eth0", "203.0.113.66/24"}, {attacker, "eth0", "2001:db8:f::66/64"},
					{n2, "eth0", "10.0.0.2/24"}, {n2, "eth0", "fd00::2/64"},
				} {
					a.ns.AddAddr(a.dev, netip.MustParsePrefix(a.pref))
				}
				// neighbours known in advance: a forged packet does not
				// wait for neighbour discovery (or get lost behind it)
				for _, nb := range []struct {
					ns, peer     *netlab.NS
					dev, peerDev string
					addrs        []string
				}{
					{attacker, n1, "eth0", "eth0", []string{"203.0.113.1", "2001:db8:f::1"}},
					{n2, n1, "eth0", "eth1", []string{"10.0.0.1", "fd00::1"}},
				} {
					mac := strings.TrimSpace(nb.peer.Run("cat", "/sys/class/net/"+nb.peerDev+"/address"))
					for _, a := range nb.addrs {
						nb.ns.IP("neigh", "replace", a, "lladdr", mac, "dev", nb.dev, "nud", "permanent")
					}
				}
				rx := listen(t, n1)
				install(t, n1, c, c.machineFor(t, "n1")).apply(t)

				type send struct {
					what     string
					ns       *netlab.NS
					src, dst string
					dropped  map[string]bool // by mode
				}
				sends := []send{
					{"member on its own link", n2, "10.0.0.2", "10.0.0.1", nil},
					{"member on its own link", n2, "fd00::2", "fd00::1", nil},
					{"member address forged on the public link", attacker, "10.0.0.2", "203.0.113.1", map[string]bool{spec.RPFilterStrict: true}},
					{"member address forged on the public link", attacker, "fd00::2", "2001:db8:f::1", map[string]bool{spec.RPFilterStrict: true}},
					{"trusted, unroutable address forged on the public link", attacker, "198.18.0.7", "203.0.113.1", map[string]bool{spec.RPFilterStrict: true, spec.RPFilterLoose: true}},
					{"trusted, unroutable address forged on the public link", attacker, "2001:db8:99::7", "2001:db8:f::1", map[string]bool{spec.RPFilterStrict: true, spec.RPFilterLoose: true}},
				}
				var bad []string
				for i, s := range sends {
					payload := fmt.Sprintf("probe %d", i)
					src := netip.AddrPortFrom(netip.MustParseAddr(s.src), 40000+uint16(i))
					dst := netip.AddrPortFrom(netip.MustParseAddr(s.dst), spoofPort)
					if err := forgeUDP(s.ns, src, dst, []byte(payload)); err != nil {
						t.Fatalf("%s: %v", s.what, err)
					}
					if got, want := rx.arrived(payload), !s.dropped[mode]; got != want {
						bad = append(bad, fmt.Sprintf("%s (%s → %s): arrived %v, want %v", s.what, src, dst, got, want))
					}
				}
				if len(bad) > 0 {
					t.Errorf("rpfilter %s:\n%s", mode, strings.Join(bad, "\n"))
				}
			})
		}
	}
}
