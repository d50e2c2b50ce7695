package firewall_test

// Packet-matrix tests: the generated firewall, loaded by the generated
// script into real network namespaces, decides real TCP and UDP connections,
// IPv4 and IPv6, with both backends. What each connection should do is
// written here by hand from SPEC.md (the DC/OS table, semantics 1-7) and the
// fixtures' port lists, never computed by rampart; where it applies, the
// kernel's verdict is also compared with policy.Explain.
//
// They need root, ip, iptables, ip6tables, ipset and nft; without them they
// skip, unless RAMPART_REAL=1 (CI), where they fail.

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

var backends = []string{"iptables", "nftables"}

// dcosSpec is fixtures/dcos-packet.yaml with the given backend (the fixture
// says iptables; nftables is valid for flatcar too).
func dcosSpec(t *testing.T, backend string) *cluster {
	t.Helper()
	c := newCluster(t, loadSpec(t, "dcos-packet.yaml", edit{"backend: iptables", "backend: " + backend}))
	if c.backend() != backend {
		t.Fatalf("backend %s, want %s", c.backend(), backend)
	}
	return c
}

// dcosRoles is who is who in fixtures/dcos-packet.yaml, as the table below
// reads it.
var dcosRoles = map[string]string{
	"master-1": "master", "agent-1": "agent", "agent-2": "agent", "agent-3": "agent",
	"public-agent-1": "public-agent", "bootstrap": "bootstrap",
}

func checkRoles(t *testing.T, c *cluster, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, n := range c.spec.Nodes {
		got[n.Name] = n.Role
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the fixture's nodes changed: %v, the test's table is written for %v", got, want)
	}
}

var dcosPorts = append(tcp(22, 80, 443, 2181, 5050, 8080, 8201, 9090, 26257, 10000, 10100, 10101), udp(53, 5050)...)

func (p port) in(proto string, nums ...uint16) bool {
	return p.proto == proto && slices.Contains(nums, p.num)
}

func (p port) within(proto string, from, to uint16) bool {
	return p.proto == proto && p.num >= from && p.num <= to
}

func verdict(ok bool) policy.Verdict {
	if ok {
		return policy.Accept
	}
	return policy.Drop // the fixtures' firewall.action is drop
}

// dcosTable is SPEC.md's DC/OS connectivity table with the port lists of
// fixtures/dcos-packet.yaml, by hand:
//
//	master → everything: all ports
//	agent, public-agent, bootstrap → master: all but TCP 8201 and 26257
//	cluster members → agents, public agents, bootstrap: all ports
//	admins → master: 22, 8080, 9090 (its admin list) and 80, 443 (its public list)
//	admins → agent, bootstrap: 22; public-agent: 22 and 80, 443, 10000-10100
//	world → master: 80, 443; public-agent: 80, 443, 10000-10100; others nothing
//	trusted (8.8.8.8, 8.8.4.4, 198.51.100.1-3, all IPv4) → everything: all
//	ports; an IPv6 address of a trusted host is not trusted: the world
func dcosTable(src string, from netip.Addr, dst string, p port) policy.Verdict {
	publicAgent := p.in("tcp", 80, 443) || p.within("tcp", 10000, 10100)
	switch src {
	case "master":
		return verdict(true)
	case "trusted":
		if from.Is4() {
			return verdict(true)
		}
		return dcosTable("world", from, dst, p)
	case "agent", "public-agent":
		return verdict(dst != "master" || !p.in("tcp", 8201, 26257))
	case "bootstrap":
		// not a row of SPEC.md's table: a cluster member the dcos profile
		// does not deny, so it reaches every port
		return verdict(true)
	case "admin":
		switch dst {
		case "master":
			return verdict(p.in("tcp", 22, 8080, 9090, 80, 443))
		case "public-agent":
			return verdict(p.in("tcp", 22) || publicAgent)
		}
		return verdict(p.in("tcp", 22))
	case "world":
		switch dst {
		case "master":
			return verdict(p.in("tcp", 80, 443))
		case "public-agent":
			return verdict(publicAgent)
		}
		return verdict(false)
	}
	panic("no row for " + src)
}

// TestPacketsDCOS: every source (a master, an agent, a public agent, the
// bootstrap node, an admin, a trusted host, the world) × every node × every
// address of the node (public IPv4, private IPv4, IPv6) × 12 TCP and 2 UDP
// ports, for both backends; the kernel must agree with the DC/OS table and
// with explain.
func TestPacketsDCOS(t *testing.T) {
	netlab.Require(t, packetTools...)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			c := dcosSpec(t, backend)
			checkRoles(t, c, dcosRoles)
			lab := netlab.New(t)
			outside := []*host{
				{name: "admin", addrs: addrs("209.220.51.50", "2001:db8:ad::50")}, // in the fixture's admins
				{name: "world", addrs: addrs("203.0.113.99", "2001:db8:ff::99")},
				{name: "trusted", addrs: addrs("198.51.100.1", "2001:db8:77::1")}, // a DNS dispatcher of the fixture
			}
			hosts := switched(t, lab, c, outside, dcosPorts)
			cells := matrix(backend, hosts, []string{"master-1", "agent-1", "public-agent-1", "bootstrap", "admin", "world", "trusted"}, dcosPorts, dcosTable)
			start := time.Now()
			probeAll(cells, c.pol)
			report(t, fmt.Sprintf("dcos-packet (%s), probed in %v", backend, time.Since(start).Round(time.Millisecond)), cells)
		})
	}
}

// TestPacketsCoreOSWeb: fixtures/coreos-web.yaml (nftables) and the same
// forced to flatcar and iptables, each also with firewall.action reject,
// where what no rule accepts must be rejected, not dropped. The world reaches a web node on 80, 443,
// 3000, 3001 only; SSH only from the admin range 203.0.113.0/24 (an admin
// host's IPv6 address is outside every admin range, so it is the world);
// 8080 and etcd's 2379/2380 are closed from outside; web nodes reach each
// other on everything. The world host is 198.51.100.99 here: 203.0.113.99
// lies in this fixture's admin range.
func TestPacketsCoreOSWeb(t *testing.T) {
	netlab.Require(t, packetTools...)
	flatcar := []edit{{"variant: fcos", "variant: flatcar"}, {"version: 1.5.0", "version: 1.1.0"}}
	variants := []struct {
		name, backend string
		reject        bool
		edits         []edit
	}{
		{"nftables", "nftables", false, nil},
		{"iptables", "iptables", false, append(flatcar, edit{"", "\nfirewall:\n  backend: iptables\n"})},
		{"nftables-reject", "nftables", true, []edit{{"", "\nfirewall:\n  action: reject\n"}}},
		{"iptables-reject", "iptables", true, append(flatcar, edit{"", "\nfirewall:\n  backend: iptables\n  action: reject\n"})},
	}
	ports := append(tcp(22, 80, 443, 3000, 3001, 3002, 8080, 2379, 2380), udp(53)...)
	adminRange := prefix("203.0.113.0/24")
	table := func(src string, from netip.Addr, _ string, p port) policy.Verdict {
		web := p.in("tcp", 80, 443, 3000, 3001)
		switch src {
		case "web":
			return verdict(true)
		case "admin", "world":
			return verdict(web || adminRange.Contains(from) && p.in("tcp", 22))
		}
		panic("no row for " + src)
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, loadSpec(t, "coreos-web.yaml", v.edits...))
			if c.backend() != v.backend {
				t.Fatalf("backend %s, want %s", c.backend(), v.backend)
			}
			checkRoles(t, c, map[string]string{"web-1": "web", "web-2": "web", "web-3": "web"})
			want := table
			if v.reject {
				want = func(src string, from netip.Addr, role string, p port) policy.Verdict {
					if v := table(src, from, role, p); v != policy.Accept {
						return policy.Reject
					}
					return policy.Accept
				}
			}
			lab := netlab.New(t)
			outside := []*host{
				{name: "admin", addrs: addrs("203.0.113.7", "2001:db8:ad::7")},
				{name: "world", addrs: addrs("198.51.100.99", "2001:db8:ff::99")},
			}
			hosts := switched(t, lab, c, outside, ports)
			cells := matrix(v.name, hosts, []string{"web-1", "admin", "world"}, ports, want)
			probeAll(cells, c.pol)
			report(t, "coreos-web ("+v.name+")", cells)
		})
	}
}

// TestPacketsOverlays: fixtures/isolation.yaml (fcos, nftables) and the same
// on flatcar with iptables. A router namespace runs the agent role's
// firewall and forwards between five hosts on their own interfaces: two in
// overlay it, two in overlay hr and one outside every overlay. Within an
// overlay everything passes, hr reaches it on 80/tcp only, the rest between
// overlays is rejected, and traffic with a host outside the overlays is not
// isolation's business. Replies flow (every accepted probe exchanges data).
//
// Only the router's FORWARD path is exercised: its INPUT rules (and so
// policy.Explain, which answers for a node's own ports) are not involved, and
// the cells are compared with the table alone.
func TestPacketsOverlays(t *testing.T) {
	netlab.Require(t, packetTools...)
	variants := map[string][]edit{
		"nftables": nil,
		"iptables": {{"variant: fcos", "variant: flatcar"}, {"version: 1.6.0", "version: 1.1.0"}, {"", "\nfirewall:\n  backend: iptables\n"}},
	}
	type site struct {
		name, overlay string
		addr, gw      netip.Prefix
	}
	sites := []site{
		{"it-a", "it", prefix("10.150.1.10/24"), prefix("10.150.1.1/24")},
		{"it-b", "it", prefix("10.150.2.10/24"), prefix("10.150.2.1/24")},
		{"hr-a", "hr", prefix("192.168.1.10/24"), prefix("192.168.1.1/24")},
		{"hr-b", "hr", prefix("192.168.2.10/24"), prefix("192.168.2.1/24")},
		{"ext", "", prefix("203.0.113.10/24"), prefix("203.0.113.1/24")},
	}
	ports := append(tcp(22, 80), udp(53)...)
	table := func(from, to site, p port) policy.Verdict {
		switch {
		case from.overlay == "" || to.overlay == "":
			return policy.Accept
		case from.overlay == to.overlay:
			return policy.Accept
		case from.overlay == "hr" && to.overlay == "it" && p.in("tcp", 80):
			return policy.Accept
		}
		return policy.Reject // overlays.default: reject
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, loadSpec(t, "isolation.yaml", variants[backend]...))
			if c.backend() != backend {
				t.Fatalf("backend %s, want %s", c.backend(), backend)
			}
			lab := netlab.New(t)
			router := lab.NewNS("router")
			nss := map[string]*netlab.NS{}
			for i, s := range sites {
				ns := lab.NewNS(s.name)
				dev := fmt.Sprintf("r%d", i)
				lab.Link(router, dev, ns, "eth0")
				router.AddAddr(dev, s.gw)
				ns.AddAddr("eth0", s.addr)
				ns.DefaultVia(s.gw.Addr())
				serve(ns, []netip.Addr{s.addr.Addr()}, ports)
				nss[s.name] = ns
			}
			router.Sysctl("net.ipv4.ip_forward", "1")
			install(t, router, c, c.roleMachine(t, "agent")).apply(t)
			var cells []*cell
			for _, from := range sites {
				for _, to := range sites {
					if from.name == to.name {
						continue
					}
					for _, p := range ports {
						cells = append(cells, &cell{group: backend, src: from.name, ns: nss[from.name], from: from.addr.Addr(),
							dst: to.name, to: netip.AddrPortFrom(to.addr.Addr(), p.num), port: p, want: table(from, to, p)})
					}
				}
			}
			probeAll(cells, nil)
			report(t, "isolation ("+backend+")", cells)
		})
	}
}

// snapshot is a namespace's whole firewall state, without what changes by
// itself (packet counters, dates, a re-created set's hash seed).
func snapshot(t *testing.T, ns *netlab.NS, backend string) string {
	t.Helper()
	if backend == "nftables" {
		return ns.Run("nft", "list", "ruleset")
	}
	var lines []string
	for _, l := range strings.Split(ns.Run("iptables-save")+ns.Run("ip6tables-save"), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(l, "[-]"))
		}
	}
	// a set's members are listed in hash order, which a re-created set
	// (restore, swap) changes: sort them
	sets := strings.Split(regexp.MustCompile(` initval 0x[0-9a-f]+`).ReplaceAllString(ns.Run("ipset", "save"), ""), "\n")
	slices.Sort(sets)
	return strings.Join(append(lines, sets...), "\n")
}

func countLines(text, line string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			n++
		}
	}
	return n
}

// TestPacketsReapply: with another owner's chain and rule in place (Docker's
// DOCKER chain jumped from FORWARD; a table inet other for nftables), running
// the script again keeps an open connection alive, leaves the other owner's
// rules alone, adds no second jump and changes nothing at all.
func TestPacketsReapply(t *testing.T) {
	netlab.Require(t, packetTools...)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			c := dcosSpec(t, backend)
			lab := netlab.New(t)
			sw := lab.NewBridge("sw")
			master := c.spec.Node("master-1")
			node := lab.NewNS("master-1")
			admin := lab.NewNS("admin")
			world := lab.NewNS("world")
			adminAddrs, worldAddrs := addrs("209.220.51.50", "2001:db8:ad::50"), addrs("203.0.113.99", "2001:db8:ff::99")
			plug(sw, node, master.Addresses...)
			plug(sw, admin, adminAddrs...)
			plug(sw, world, worldAddrs...)
			serve(node, master.Addresses, tcp(22))

			var foreign []string // lines of the other owner that must survive
			if backend == "iptables" {
				node.Shell(`for ipt in iptables ip6tables; do "$ipt" -N DOCKER; "$ipt" -A FORWARD -j DOCKER; done
iptables -A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT
ip6tables -A DOCKER -d fd00:17::2/128 -p tcp -m tcp --dport 80 -j ACCEPT`)
				foreign = []string{":DOCKER - [-]", "-A FORWARD -j DOCKER",
					"-A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT",
					"-A DOCKER -d fd00:17::2/128 -p tcp -m tcp --dport 80 -j ACCEPT"}
			} else {
				node.Shell(`nft -f - <<'EOF'
table inet other {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 9999 accept
	}
}
EOF`)
				foreign = []string{"table inet other {", "type filter hook input priority filter + 10; policy accept;", "tcp dport 9999 accept"}
			}
			pre := snapshot(t, node, backend)
			fw := install(t, node, c, c.machineFor(t, "master-1"))
			fw.apply(t)

			var conns []net.Conn
			for _, to := range []netip.Addr{master.Addresses[0], master.Addresses[2]} {
				from, _ := sourceFor(adminAddrs, to)
				conn, err := admin.Dial("tcp", from, netip.AddrPortFrom(to, 22), confirmWait)
				if err != nil {
					t.Fatalf("admin %s → %s:22 after the first run: %v", from, to, err)
				}
				defer conn.Close()
				if err := netlab.Roundtrip(conn, []byte("before\n"), confirmWait); err != nil {
					t.Fatalf("admin %s → %s:22: %v", from, to, err)
				}
				conns = append(conns, conn)
			}
			first := snapshot(t, node, backend)
			fw.apply(t)
			second := snapshot(t, node, backend)
			for _, conn := range conns {
				if err := netlab.Roundtrip(conn, []byte("after the second run\n"), confirmWait); err != nil {
					t.Errorf("connection %s → %s broke when the script ran again: %v", conn.LocalAddr(), conn.RemoteAddr(), err)
				}
			}
			if first != second {
				t.Errorf("running the script again changed the firewall:\n--- after the first run\n%s\n--- after the second run\n%s", first, second)
			}
			for _, l := range foreign {
				if n, want := countLines(second, l), countLines(pre, l); want == 0 || n != want {
					t.Errorf("the other owner's %q: %d times before rampart, %d after its second run:\n%s", l, want, n, second)
				}
			}
			var once []string
			if backend == "iptables" {
				once = []string{"-A INPUT -j RAMPART-INPUT", "-A FORWARD -j RAMPART-FORWARD", "-A DOCKER-USER -j RAMPART-FORWARD", "-A FORWARD -j DOCKER", "-A PREROUTING -j RAMPART-PREROUTING", "-A PREROUTING -j RAMPART-RPFILTER"}
				for _, l := range once {
					for _, save := range []string{"iptables-save", "ip6tables-save"} {
						if n := countLines(node.Run(save), l); n != 1 {
							t.Errorf("%s: %q %d times, want once", save, l, n)
						}
					}
				}
			} else {
				for _, l := range []string{"table inet rampart {", "table inet other {"} {
					if n := countLines(second, l); n != 1 {
						t.Errorf("nft list ruleset: %q %d times, want once:\n%s", l, n, second)
					}
				}
			}
			// and the firewall still decides new connections
			var cells []*cell
			for _, to := range master.Addresses {
				for _, src := range []struct {
					name  string
					ns    *netlab.NS
					addrs []netip.Addr
					want  policy.Verdict
				}{{"admin", admin, adminAddrs, policy.Accept}, {"world", world, worldAddrs, policy.Drop}} {
					from, _ := sourceFor(src.addrs, to)
					cells = append(cells, &cell{group: backend, src: src.name, ns: src.ns, from: from, dst: "master-1", role: "master",
						to: netip.AddrPortFrom(to, 22), port: port{"tcp", 22}, want: src.want})
				}
			}
			probeAll(cells, c.pol)
			report(t, "after the second run ("+backend+")", cells)
		})
	}
}

// grownSpec is a DC/OS cluster of one master (10.255.0.1) and n agents,
// 10.0.0.1 upwards, each one address: a cluster set of n+1 members.
func grownSpec(t *testing.T, backend string, n int) *cluster {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ncluster: grown\nprofile: dcos\nadmins: [209.220.51.50/32]\nfirewall: {backend: %s}\nnodes:\n", backend)
	b.WriteString("  - {name: m0, role: master, addresses: [10.255.0.1]}\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {name: a%d, role: agent, addresses: [%s]}\n", i, agentAddr(i))
	}
	s, err := spec.Parse("grown.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return newCluster(t, s)
}

func agentAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// TestPacketsReapplyGrown: the node's firewall files change under it (the
// cluster grows from 10 to 33,000 members, past the 32,768 at which a set's
// size parameters change, then shrinks back) and the script re-applies each
// version in place: the run must succeed, and the newest member is let in
// after the growth and shut out again after the shrink.
func TestPacketsReapplyGrown(t *testing.T) {
	netlab.Require(t, packetTools...)
	const small, big = 10, 33000
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			versions := map[int]*cluster{small: grownSpec(t, backend, small), big: grownSpec(t, backend, big)}
			lab := netlab.New(t)
			sw := lab.NewBridge("sw")
			master, late := lab.NewNS("m0"), lab.NewNS("late")
			masterAddr, lateAddr := netip.MustParseAddr("10.255.0.1"), agentAddr(big)
			plug(sw, master, masterAddr)
			plug(sw, late, lateAddr)
			serve(master, nil, tcp(2181))
			for step, n := range []int{small, big, small} {
				c := versions[n]
				install(t, master, c, c.machineFor(t, "m0")).apply(t)
				want := verdict(n == big) // a member reaches every port; the world not 2181
				cells := []*cell{{group: backend, src: "newest member", ns: late, from: lateAddr, dst: "m0", role: "master",
					to: netip.AddrPortFrom(masterAddr, 2181), port: port{"tcp", 2181}, want: want}}
				probeAll(cells, c.pol)
				report(t, fmt.Sprintf("run %d, %d members", step+1, n+1), cells)
			}
		})
	}
}

// The container publishes, as Docker would with -p 8080:80 -p 443:443
// -p 10050:10050 -p 22:22 -p 10050:10050/udp (and ip6tables enabled), these
// host ports, on IPv4 and IPv6, with the container's own port behind each.
var publishedPorts = []struct{ host, ctr port }{
	{port{"tcp", 8080}, port{"tcp", 80}},
	{port{"tcp", 443}, port{"tcp", 443}},
	{port{"tcp", 10050}, port{"tcp", 10050}},
	{port{"tcp", 22}, port{"tcp", 22}},
	{port{"udp", 10050}, port{"udp", 10050}},
}

// The container's addresses behind docker0, and the node's there.
var (
	ctrAddrs   = addrs("172.17.0.2", "fd00:17::2")
	docker0Net = []netip.Prefix{prefix("172.17.0.1/16"), prefix("fd00:17::1/64")}
)

// dockerIPTables stands in for Docker publishing the container's ports in
// one family (ipt is iptables or ip6tables): its DOCKER-USER chain jumped
// first from FORWARD (created only when missing, then with Docker's
// RETURN), a FORWARD policy of DROP with Docker's ACCEPT rules for the
// published ports, replies and container egress, the DNATs and the
// MASQUERADE.
func dockerIPTables(ipt string, ctr netip.Addr, subnet netip.Prefix) string {
	var b strings.Builder
	fmt.Fprintf(&b, `%[1]s -N DOCKER-USER 2>/dev/null && %[1]s -A DOCKER-USER -j RETURN || true
%[1]s -D FORWARD -j DOCKER-USER 2>/dev/null || true
%[1]s -I FORWARD -j DOCKER-USER
%[1]s -N DOCKER
%[1]s -P FORWARD DROP
%[1]s -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
%[1]s -A FORWARD -o docker0 -j DOCKER
%[1]s -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
%[1]s -A FORWARD -i docker0 -o docker0 -j ACCEPT
%[1]s -t nat -A POSTROUTING -s %[2]s ! -o docker0 -j MASQUERADE
`, ipt, subnet.Masked())
	for _, p := range publishedPorts {
		fmt.Fprintf(&b, "%s -A DOCKER -d %s ! -i docker0 -o docker0 -p %s -m %[3]s --dport %d -j ACCEPT\n", ipt, ctr, p.ctr.proto, p.ctr.num)
		fmt.Fprintf(&b, "%s -t nat -A PREROUTING -p %s --dport %d -j DNAT --to-destination %s\n", ipt, p.host.proto, p.host.num, netip.AddrPortFrom(ctr, p.ctr.num))
	}
	return b.String()
}

// dockerNFT is the same publish in nftables: the DNATs and the MASQUERADE in
// their own tables ip nat and ip6 nat, and Docker's forward policy (drop,
// but accept the published ports, replies and container egress) in another.
func dockerNFT() string {
	var b strings.Builder
	b.WriteString("nft -f - <<'EOF'\n")
	var accept []string
	for i, fam := range []string{"ip", "ip6"} {
		ctr, subnet := ctrAddrs[i], docker0Net[i].Masked()
		fmt.Fprintf(&b, "table %s nat {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n", fam)
		for _, p := range publishedPorts {
			fmt.Fprintf(&b, "\t\t%s dport %d dnat to %s\n", p.host.proto, p.host.num, netip.AddrPortFrom(ctr, p.ctr.num))
			accept = append(accept, fmt.Sprintf("\t\toifname \"docker0\" %s daddr %s %s dport %d accept\n", fam, ctr, p.ctr.proto, p.ctr.num))
		}
		fmt.Fprintf(&b, "\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
		fmt.Fprintf(&b, "\t\t%s saddr %s oifname != \"docker0\" masquerade\n\t}\n}\n", fam, subnet)
	}
	b.WriteString("table inet dockerish {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n")
	b.WriteString("\t\toifname \"docker0\" ct state established,related accept\n")
	b.WriteString(strings.Join(accept, ""))
	b.WriteString("\t\tiifname \"docker0\" accept\n\t}\n}\nEOF\n")
	return b.String()
}

// A service address (a kube-proxy ClusterIP) in each family that is not the
// node's: the node DNATs it, in nat PREROUTING, to a cluster member
// (master-1, which is not running a firewall here), as kube-proxy does for a
// service whose endpoint runs on another node. Neither port is open to the
// container's address on any role, so only the service's own address (not
// this node's) keeps the published-port rules away from it.
var (
	serviceAddrs = addrs("10.96.0.10", "fd00:96::10")
	servicePorts = []struct{ svc, backend port }{
		{port{"tcp", 7000}, port{"tcp", 9000}},
		{port{"udp", 53}, port{"udp", 53}},
	}
)

// foreignMark is a bit of the conntrack mark another owner sets on every
// new connection: rampart's bit must be set beside it, never instead.
const foreignMark = 0x1

// serviceIPTables is the ClusterIP's DNAT in one family (kube-proxy's
// KUBE-SERVICES, reduced to a rule per port), and another owner's rule
// that sets foreignMark, first in mangle PREROUTING.
func serviceIPTables(ipt string, svc, backend netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s -t mangle -I PREROUTING 1 -m conntrack --ctstate NEW -j CONNMARK --set-xmark %#x/%#[2]x\n", ipt, foreignMark)
	for _, p := range servicePorts {
		fmt.Fprintf(&b, "%s -t nat -A PREROUTING -d %s -p %s -m %[3]s --dport %d -j DNAT --to-destination %s\n",
			ipt, svc, p.svc.proto, p.svc.num, netip.AddrPortFrom(backend, p.backend.num))
	}
	return b.String()
}

// serviceNFT is the same in nftables, in a table of its own.
func serviceNFT(backends []netip.Addr) string {
	var b strings.Builder
	b.WriteString("nft -f - <<'EOF'\n")
	for i, fam := range []string{"ip", "ip6"} {
		fmt.Fprintf(&b, "table %s kubeish {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n", fam)
		for _, p := range servicePorts {
			fmt.Fprintf(&b, "\t\t%s daddr %s %s dport %d dnat to %s\n", fam, serviceAddrs[i], p.svc.proto, p.svc.num, netip.AddrPortFrom(backends[i], p.backend.num))
		}
		b.WriteString("\t}\n}\n")
	}
	fmt.Fprintf(&b, "table inet marker {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle - 10; policy accept;\n\t\tct state new ct mark set ct mark | %#x\n\t}\n}\n", foreignMark)
	b.WriteString("EOF\n")
	return b.String()
}

// ctMark is a connection the node's conntrack table holds: its original
// destination and its mark.
type ctMark struct {
	dst  netip.Addr
	mark uint64
}

// ctMarks reads the node's conntrack table (/proc/net/nf_conntrack, read
// inside the namespace).
func ctMarks(t *testing.T, ns *netlab.NS) []ctMark {
	t.Helper()
	var out []ctMark
	for _, l := range strings.Split(ns.Run("cat", "/proc/net/nf_conntrack"), "\n") {
		var c ctMark
		found := false
		for _, f := range strings.Fields(l) {
			k, v, _ := strings.Cut(f, "=")
			switch {
			case k == "dst" && !c.dst.IsValid():
				a, err := netip.ParseAddr(v)
				if err != nil {
					t.Fatalf("conntrack line %q: %v", l, err)
				}
				c.dst = a
			case k == "mark":
				m, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					t.Fatalf("conntrack line %q: %v", l, err)
				}
				c.mark, found = m, true
			}
		}
		if found && c.dst.IsValid() {
			out = append(out, c)
		}
	}
	return out
}

// TestPacketsContainers: a node (public agent, then private agent) runs a
// container behind docker0 whose ports are published through DNAT, IPv4 and
// IPv6, with Docker's rules (and a ClusterIP's DNAT) loaded before rampart's
// and after. A published port is reached from outside only when the role
// opens that host port to that source: the world reaches the public agent's
// 443 and 10050/tcp (in 10000-10100), never 8080 or 10050/udp, and nothing on
// a private agent; admins reach 22 (their port on every role) and what the
// world reaches; cluster members reach everything. The container's own
// connections out to the world work, and so do its connections to the
// service address, DNATed on the node to a cluster member: that DNAT is not
// a port published on the node.
func TestPacketsContainers(t *testing.T) {
	netlab.Require(t, packetTools...)
	table := func(src, role string, p port) policy.Verdict {
		world := role == "public-agent" && (p.in("tcp", 80, 443) || p.within("tcp", 10000, 10100))
		switch src {
		case "master":
			return verdict(true)
		case "admin":
			return verdict(world || p.in("tcp", 22))
		case "world":
			return verdict(world)
		}
		panic("no row for " + src)
	}
	for _, backend := range backends {
		for _, node := range []string{"public-agent-1", "agent-1"} {
			for _, order := range []string{"docker-first", "rampart-first"} {
				t.Run(backend+"/"+dcosRoles[node]+"/"+order, func(t *testing.T) {
					t.Parallel()
					c := dcosSpec(t, backend)
					role := dcosRoles[node]
					lab := netlab.New(t)
					sw := lab.NewBridge("sw")
					n := lab.NewNS("node")
					member := c.spec.Node(node)
					srcs := map[string][]netip.Addr{
						"world":  addrs("203.0.113.99", "2001:db8:ff::99"),
						"admin":  addrs("209.220.51.50", "2001:db8:ad::50"),
						"master": addrs("147.75.1.10", "2604:1380:1::10"), // master-1: a cluster member
					}
					nss := map[string]*netlab.NS{"node": n}
					for _, name := range []string{"node", "world", "admin", "master"} {
						ns, as := n, member.Addresses
						if name != "node" {
							ns, as = lab.NewNS(name), srcs[name]
							nss[name] = ns
						}
						plug(sw, ns, as...)
					}
					docker0 := n.AddBridge("docker0")
					ctr := lab.NewNS("ctr")
					docker0.Attach(ctr, "eth0")
					for i, a := range ctrAddrs {
						n.AddAddr("docker0", docker0Net[i])
						ctr.AddAddr("eth0", netip.PrefixFrom(a, docker0Net[i].Bits()))
						ctr.DefaultVia(docker0Net[i].Addr())
					}
					n.Sysctl("net.ipv4.ip_forward", "1")
					n.Sysctl("net.ipv6.conf.all.forwarding", "1")
					for _, p := range publishedPorts {
						serve(ctr, ctrAddrs, []port{p.ctr})
					}
					serve(nss["world"], nil, tcp(9999))
					// the cloud's metadata service, beside the world host
					nss["world"].AddHost("eth0", metadataAddrs...)
					for _, p := range servicePorts {
						serve(nss["master"], srcs["master"], []port{p.backend})
					}

					fw := install(t, n, c, c.machineFor(t, node))
					docker := func() {
						if backend == "iptables" {
							n.Shell(dockerIPTables("iptables", ctrAddrs[0], docker0Net[0]) + dockerIPTables("ip6tables", ctrAddrs[1], docker0Net[1]) +
								serviceIPTables("iptables", serviceAddrs[0], srcs["master"][0]) + serviceIPTables("ip6tables", serviceAddrs[1], srcs["master"][1]))
						} else {
							n.Shell(dockerNFT() + serviceNFT(srcs["master"]))
						}
					}
					if order == "docker-first" {
						docker()
						fw.apply(t)
					} else {
						fw.apply(t)
						docker()
					}

					var cells []*cell
					for _, host := range []netip.Addr{member.Addresses[0], member.Addresses[2]} { // public IPv4, IPv6
						for _, src := range []string{"world", "admin", "master"} {
							from, _ := sourceFor(srcs[src], host)
							for _, p := range publishedPorts {
								cells = append(cells, &cell{group: t.Name(), src: src, ns: nss[src], from: from,
									dst: node, role: role, to: netip.AddrPortFrom(host, p.host.num), port: p.host,
									want: table(src, role, p.host)})
							}
						}
					}
					for i, ctrAddr := range ctrAddrs {
						cells = append(cells, &cell{group: t.Name(), src: "container", ns: ctr, from: ctrAddr,
							dst: "world", to: netip.AddrPortFrom(srcs["world"][i], 9999), port: port{"tcp", 9999}, want: policy.Accept})
						for _, p := range servicePorts {
							cells = append(cells, &cell{group: t.Name(), src: "container", ns: ctr, from: ctrAddr,
								dst: "service", to: netip.AddrPortFrom(serviceAddrs[i], p.svc.num), port: p.svc, want: policy.Accept})
						}
						// the metadata service holds the node's userdata:
						// no container reads it (firewall.metadata deny)
						cells = append(cells, &cell{group: t.Name(), src: "container", ns: ctr, from: ctrAddr,
							dst: "metadata", to: netip.AddrPortFrom(metadataAddrs[i], 9999), port: port{"tcp", 9999}, want: policy.Drop})
					}
					probeAll(cells, c.pol)
					report(t, "published ports", cells)

					// rampart's bit on connections to the node's own
					// addresses, beside the other owner's; the other
					// owner's alone on those to the service address
					seen := map[string]int{}
					for _, ct := range ctMarks(t, n) {
						want, what := uint64(foreignMark), ""
						switch {
						case slices.Contains(member.Addresses, ct.dst):
							want, what = firewall.LocalMark|foreignMark, "to the node"
						case slices.Contains(serviceAddrs, ct.dst):
							what = "to the service"
						default:
							continue
						}
						seen[what]++
						if ct.mark != want {
							t.Errorf("a connection %s (%s) has ctmark %#x, want %#x", what, ct.dst, ct.mark, want)
						}
					}
					if seen["to the node"] == 0 || seen["to the service"] == 0 {
						t.Errorf("conntrack holds %v: want connections to the node and to the service", seen)
					}
				})
			}
		}
	}
}

// metadataAddrs are the AWS metadata service's addresses, IPv4 and IPv6.
var metadataAddrs = addrs("169.254.169.254", "fd00:ec2::254")

// gapWait is how long a new connection in the re-apply loop may take: a
// dropped SYN is sent again only after a second (the initial RTO), so any
// packet the firewall dropped while it was being replaced makes a connection
// miss it, while one that was never dropped takes milliseconds.
const gapWait = 900 * time.Millisecond

// reapplyLoop opens new TCP connections from a cluster member to a port of
// the node that only members reach (2181, ZooKeeper: not public, not an
// admin port), from reapplyProbers goroutines cycling through IPv4 and
// IPv6, while reapply runs the firewall script n times; it returns how many
// connections were tried and those that did not complete within gapWait.
func reapplyLoop(member *netlab.NS, from, to []netip.Addr, n int, reapply func()) (int, []string) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	tries := 0
	var failed []string
	for w := range reapplyProbers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % len(to)
				start := time.Now()
				out, err := member.Probe("tcp", from[k], netip.AddrPortFrom(to[k], 2181), gapWait)
				mu.Lock()
				tries++
				if out != netlab.Accepted {
					failed = append(failed, fmt.Sprintf("%s → %s:2181 after %v: %s (%v)", from[k], to[k], time.Since(start).Round(time.Millisecond), out, err))
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		reapply()
	}
	close(stop)
	wg.Wait()
	return tries, failed
}

// reapplyProbers is how many connections the re-apply loop keeps in flight.
const reapplyProbers = 4

// reapplies is how many times the loop runs each backend's script: an nft
// transaction takes milliseconds, so nftables gets more runs (more chances
// to meet a gap) in less time than iptables' 20.
var reapplies = map[string]int{"iptables": 20, "nftables": 60}

// TestPacketsReapplyNoGap: while the firewall script runs again and again
// (iptables 20 times, nftables 60), a cluster member keeps opening new
// connections to a port only
// members reach, and not one of them is dropped: the sets are never seen
// empty and the rules never missing (ipset swap, iptables-restore of whole
// chains, one nft transaction). As a control, the same loop around a
// re-apply that empties the cluster sets for a moment first must see
// failures: the loop does notice a gap.
func TestPacketsReapplyNoGap(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		c := dcosSpec(t, backend)
		lab := netlab.New(t)
		sw := lab.NewBridge("sw")
		master, agent := c.spec.Node("master-1"), c.spec.Node("agent-1")
		node, member := lab.NewNS("master-1"), lab.NewNS("agent-1")
		plug(sw, node, master.Addresses...)
		plug(sw, member, agent.Addresses...)
		serve(node, master.Addresses, tcp(2181))
		fw := install(t, node, c, c.machineFor(t, "master-1"))
		fw.apply(t)
		var from, to []netip.Addr
		for _, a := range master.Addresses {
			if a.IsPrivate() {
				continue // the public IPv4 and the IPv6 address
			}
			src, _ := sourceFor(agent.Addresses, a)
			from, to = append(from, src), append(to, a)
		}

		n := reapplies[backend]
		tries, failed := reapplyLoop(member, from, to, n, func() { fw.apply(t) })
		t.Logf("%d new connections during %d re-applies, %d failed", tries, n, len(failed))
		if tries < n {
			t.Errorf("only %d connections were tried during %d re-applies", tries, n)
		}
		if len(failed) > 0 {
			t.Errorf("%d of %d new connections from a cluster member failed while the script ran again:\n%s", len(failed), tries, strings.Join(failed, "\n"))
		}

		// the control: the cluster sets empty for 300ms before each run
		empty := `ipset flush rampart-cluster-4; ipset flush rampart-cluster-6; sleep 0.3`
		if backend == "nftables" {
			empty = `nft flush set inet rampart cluster_v4; nft flush set inet rampart cluster_v6; sleep 0.3`
		}
		tries, failed = reapplyLoop(member, from, to, 3, func() { node.Shell(empty); fw.apply(t) })
		if len(failed) == 0 {
			t.Errorf("control: %d connections while the cluster sets were emptied 3 times, and none failed: the loop cannot see a gap", tries)
		}
	})
}

// eachBackend runs fn as a parallel subtest per backend, in namespaces.
func eachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	netlab.Require(t, packetTools...)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			fn(t, backend)
		})
	}
}
