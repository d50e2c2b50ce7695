package firewall_test

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

// protocolsSpec opens the protocols without ports, and SCTP with ports,
// each to some sources: ESP and VRRP between members, GRE from the world to
// the edge, an experimental protocol (253) from the admins, 3868/sctp
// (Diameter) from the admins to the core. Members reach only what is listed.
const protocolsSpec = `version: 1
cluster: {name: protos, reach: listed}
firewall: {backend: iptables}
admins: [203.0.113.5/32, "2001:db8:ad::5/128"]
roles:
  edge: {zone: public, public: [], admin: [22/tcp]}
  core: {zone: private, admin: [22/tcp]}
nodes:
  - {name: a, role: edge, addresses: [10.0.3.1, "2001:db8:3::1"]}
  - {name: b, role: core, addresses: [10.0.3.2, "2001:db8:3::2"]}
rules:
  - {from: cluster, to: all, ports: [esp, vrrp]}
  - {from: world, to: edge, ports: [gre]}
  - {from: admins, to: all, ports: [proto/253]}
  - {from: admins, to: core, ports: [3868/sctp]}
`

// protoProbe is one kind of packet of TestPacketsProtocols: an IP protocol
// and, for SCTP, a destination port.
type protoProbe struct {
	name  string
	proto spec.Protocol
	num   int    // IP protocol number
	port  uint16 // SCTP destination port; 0 for the others
	// member is the only node that sends this protocol to the other, ""
	// for both: conntrack tracks a protocol without ports by addresses
	// alone, so once b has sent protocol 253 to a, a's packets of it are
	// b's replies (ESTABLISHED), as they would be on a real node.
	member string
	table  func(src, dstRole string) bool
}

var protoProbes = []protoProbe{
	{"esp", spec.ProtocolNumber(50), 50, 0, "a", func(src, _ string) bool { return src == "a" || src == "b" }},
	{"vrrp", spec.ProtocolNumber(112), 112, 0, "b", func(src, _ string) bool { return src == "a" || src == "b" }},
	{"gre", spec.ProtocolNumber(47), 47, 0, "b", func(_, dst string) bool { return dst == "edge" }},
	{"proto/253", spec.ProtocolNumber(253), 253, 0, "a", func(src, _ string) bool { return src == "admin" }},
	{"3868/sctp", spec.SCTP, 132, 3868, "", func(src, dst string) bool { return src == "admin" && dst == "core" }},
	{"3869/sctp", spec.SCTP, 132, 3869, "", func(string, string) bool { return false }},
}

// TestPacketsProtocols: real ESP, VRRP, GRE, protocol 253 and SCTP packets
// (raw sockets; GRE with a version 0 header and SCTP as an INIT chunk with
// its CRC32c, as conntrack checks them) from each node, an admin and the world to each other node, IPv4 and
// IPv6, both backends: each arrives exactly when the table above and
// explain say so.
func TestPacketsProtocols(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		s, err := spec.Parse("protocols.yaml", []byte(protocolsSpecFor(backend)))
		if err != nil {
			t.Fatal(err)
		}
		c := newCluster(t, s)
		lab := netlab.New(t)
		hosts := switched(t, lab, c, []*host{
			{name: "admin", addrs: addrs("203.0.113.5", "2001:db8:ad::5")},
			{name: "world", addrs: addrs("198.51.100.99", "2001:db8:ff::99")},
		}, nil)
		type result struct {
			src, dst string
			pp       protoProbe
			from, to netip.Addr
			want     bool
			explain  policy.Decision
			got      bool
			err      error
		}
		var results []*result
		for _, src := range []string{"a", "b", "admin", "world"} {
			for _, dst := range []string{"a", "b"} {
				if src == dst {
					continue
				}
				for _, to := range hosts[dst].addrs {
					from, ok := sourceFor(hosts[src].addrs, to)
					if !ok {
						continue
					}
					for _, pp := range protoProbes {
						if hosts[src].role != "" && pp.member != "" && pp.member != src {
							continue
						}
						role := hosts[dst].role
						results = append(results, &result{src: src, dst: dst, pp: pp, from: from, to: to, want: pp.table(src, role),
							explain: c.pol.Explain(policy.Query{From: from, Role: role, Proto: pp.proto, Port: pp.port})})
					}
				}
			}
		}
		var wg sync.WaitGroup
		for i, r := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := []byte(fmt.Sprintf("rampart %s probe %d", r.pp.name, i))
				switch r.pp.num {
				case 132:
					payload = sctpInit(r.pp.port, uint32(0x5a000000+i))
				case 47:
					// a GRE header (version 0, IPv4 inside): conntrack
					// reads other versions as PPTP's and finds them invalid
					payload = append([]byte{0, 0, 0x08, 0}, payload...)
				}
				r.got, r.err = rawProbe(hosts[r.src].ns, hosts[r.dst].ns, r.pp.num, r.from, r.to, payload)
			}()
		}
		wg.Wait()
		arrived := 0
		for _, r := range results {
			if r.got {
				arrived++
			}
			if r.err != nil || r.got != r.want || (r.explain.Verdict == policy.Accept) != r.got {
				t.Errorf("%s %s %s → %s %s: arrived %v, want %v; explain: %s (err %v)", r.pp.name, r.src, r.from, r.dst, r.to, r.got, r.want, r.explain, r.err)
			}
		}
		t.Logf("%s: %d probes, %d arrived", backend, len(results), arrived)
	})
}

// protocolsSpecFor is protocolsSpec with the given backend.
func protocolsSpecFor(backend string) string {
	return strings.Replace(protocolsSpec, "backend: iptables", "backend: "+backend, 1)
}

// sctpInit is an SCTP packet from port 40000 to port, holding one INIT
// chunk with the initiate tag tag, and its CRC32c: conntrack drops an SCTP
// packet with a bad checksum, or a first packet that is no INIT, as
// invalid before any rule sees it.
func sctpInit(port uint16, tag uint32) []byte {
	b := make([]byte, 12+20)
	binary.BigEndian.PutUint16(b[0:], 40000)
	binary.BigEndian.PutUint16(b[2:], port)
	// verification tag 0 (an INIT's), checksum filled in below
	b[12] = 1                                 // chunk type INIT
	binary.BigEndian.PutUint16(b[14:], 20)    // chunk length
	binary.BigEndian.PutUint32(b[16:], tag)   // initiate tag
	binary.BigEndian.PutUint32(b[20:], 65536) // a_rwnd
	binary.BigEndian.PutUint16(b[24:], 1)     // outbound streams
	binary.BigEndian.PutUint16(b[26:], 1)     // inbound streams
	binary.BigEndian.PutUint32(b[28:], tag)   // initial TSN
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	return b
}
