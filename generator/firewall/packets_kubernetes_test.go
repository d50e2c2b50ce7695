package firewall_test

// The kubernetes fixture's packet matrix: kubeadm's table and calico's
// ports decided by the kernel in network namespaces, both backends.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/review"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

// kubeRoles is who is who in fixtures/kubernetes.yaml.
var kubeRoles = map[string]string{"cp-1": "control-plane", "cp-2": "control-plane", "cp-3": "control-plane", "w-1": "worker"}

// kubePorts are the ports probed: kubeadm's (22, 2379, 2380, 6443, 10250,
// 10256, 10257, 10259, a NodePort), calico's (179, 5473, 4789/udp,
// 51820/udp), flannel's and cilium's VXLAN port 8472/udp (not calico's), a
// pod-only port (9100) and DNS.
var kubePorts = append(tcp(22, 179, 2379, 2380, 5473, 6443, 9100, 10250, 10256, 10257, 10259, 30080), udp(53, 4789, 8472, 30080, 51820)...)

// kubeTable is kubeadm's "Ports and Protocols" table with calico's ports
// and fixtures/kubernetes.yaml's settings (nodeports: world), by hand:
//
//	control-plane → control-plane: 6443, 2379-2380 (etcd), 10250, calico
//	control-plane → worker: 10250, NodePorts, 10256, calico
//	worker → control-plane: 6443, calico; worker → worker: NodePorts, 10256, calico
//	admins → control-plane: 22, 6443; → worker: 22, NodePorts, 10256
//	world → worker: NodePorts (tcp and udp) and 10256; → control-plane: nothing
//	10257 and 10259 (loopback only) and 9100, 53 (pods only): nobody remote
func kubeTable(src string, _ netip.Addr, dst string, p port) policy.Verdict {
	calico := p.in("tcp", 179, 5473) || p.in("udp", 4789, 51820)
	lb := p.within("tcp", 30000, 32767) || p.within("udp", 30000, 32767) || p.in("tcp", 10256)
	cp := dst == "control-plane"
	switch src {
	case "world":
		return verdict(!cp && lb)
	case "admin":
		if cp {
			return verdict(p.in("tcp", 22, 6443))
		}
		return verdict(p.in("tcp", 22) || lb)
	case "control-plane":
		if cp {
			return verdict(calico || p.in("tcp", 6443, 2379, 2380, 10250))
		}
		return verdict(calico || lb || p.in("tcp", 10250))
	case "worker":
		if cp {
			return verdict(calico || p.in("tcp", 6443))
		}
		return verdict(calico || lb)
	}
	panic("no row for " + src)
}

// kubeSpec is fixtures/kubernetes.yaml with the given backend.
func kubeSpec(t *testing.T, backend string) *cluster {
	t.Helper()
	c := newCluster(t, loadSpec(t, "kubernetes.yaml", edit{"backend: iptables", "backend: " + backend}))
	if c.backend() != backend {
		t.Fatalf("backend %s, want %s", c.backend(), backend)
	}
	checkRoles(t, c, kubeRoles)
	return c
}

// TestPacketsKubernetes: fixtures/kubernetes.yaml, both backends. A
// control-plane node, the worker, an admin and the world probe every other
// node on every address (public and private IPv4, IPv6) and kubePorts; the
// kernel must agree with kubeTable and with explain. Then IP-in-IP
// (protocol 4, calico's encapsulation) between nodes and from outside, and
// a pod behind cp-1 reaching the node's own API server through a service
// address DNATed to the node (as kube-proxy does for the kubernetes
// service), but not etcd through the same kind of DNAT.
func TestPacketsKubernetes(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		c := kubeSpec(t, backend)
		lab := netlab.New(t)
		outside := []*host{
			{name: "admin", addrs: addrs("203.0.113.5", "2001:db8:ad::5")},
			{name: "world", addrs: addrs("198.51.100.99", "2001:db8:ff::99")},
		}
		hosts := switched(t, lab, c, outside, kubePorts)
		cells := matrix(backend, hosts, []string{"cp-1", "w-1", "admin", "world"}, kubePorts, kubeTable)
		cells = append(cells, podCells(t, lab, c, hosts, backend)...)
		start := time.Now()
		probeAll(cells, c.pol)
		report(t, fmt.Sprintf("kubernetes (%s), probed in %v", backend, time.Since(start).Round(time.Millisecond)), cells)
		m := matrixOf(c.pol)
		for _, cl := range cells {
			if v, ok := m.verdict(cl.from, cl.role, spec.Protocol(cl.port.proto), cl.port.num); !ok || v != cl.kernel() {
				t.Errorf("matrix: %s %s → %s %s: %s (found %v), the kernel %s", cl.src, cl.from, cl.dst, cl.port, v, ok, cl.kernel())
			}
		}
		ipipMatrix(t, c, hosts, m)
	})
}

// Service addresses of the pod test, one per family and target: the port
// is the same before and after the DNAT, so explain is asked about the
// port the node sees.
var (
	apiService  = addrs("10.96.0.1", "fd00:10:96::1")
	etcdService = addrs("10.96.0.2", "fd00:10:96::2")
	podAddrs    = addrs("192.168.1.10", "fd00:10:244::10")
	podGateways = []netip.Prefix{prefix("192.168.1.1/24"), prefix("fd00:10:244::1/64")}
)

// podCells plugs a pod into the node (a veth cali0, as calico does, with
// the node as the pod's gateway), DNATs the service addresses to the
// node's private IPv4 and its IPv6 address, on 6443 and 2379, and returns
// the probes: the pod reaches 6443 (pods → control-plane 6443/tcp) and not
// 2379; straight to the node's address, 53/udp (DNS) but not 9100 (a
// worker's port for pods).
//
// Then the pod reaches other nodes, as calico routes it without
// encapsulation: cp-1 forwards its packets (through rampart's FORWARD
// chain), and the other nodes route the pod range back through cp-1, so
// their INPUT sees the pod's own address: the pod reaches cp-2's API
// server (pods → control-plane 6443/tcp) and w-1's 9100 and 10250, and
// neither etcd on cp-2 nor 22 on w-1.
func podCells(t *testing.T, lab *netlab.Lab, c *cluster, hosts map[string]*host, backend string) []*cell {
	t.Helper()
	node := hosts["cp-1"]
	pod := lab.NewNS("pod")
	lab.Link(node.ns, "cali0", pod, "eth0")
	for i, a := range podAddrs {
		node.ns.AddAddr("cali0", podGateways[i])
		pod.AddAddr("eth0", netip.PrefixFrom(a, podGateways[i].Bits()))
		pod.DefaultVia(podGateways[i].Addr())
	}
	nodeAddrs := []netip.Addr{node.addrs[1], node.addrs[2]} // private IPv4, IPv6
	var script bytes.Buffer
	if backend == "iptables" {
		for i, ipt := range []string{"iptables", "ip6tables"} {
			for _, svc := range []struct {
				addr netip.Addr
				port uint16
			}{{apiService[i], 6443}, {etcdService[i], 2379}} {
				fmt.Fprintf(&script, "%s -t nat -A PREROUTING -d %s -p tcp -m tcp --dport %d -j DNAT --to-destination %s\n",
					ipt, svc.addr, svc.port, netip.AddrPortFrom(nodeAddrs[i], svc.port))
			}
		}
	} else {
		script.WriteString("nft -f - <<'EOF'\n")
		for i, fam := range []string{"ip", "ip6"} {
			fmt.Fprintf(&script, "table %s kubeproxy {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n", fam)
			fmt.Fprintf(&script, "\t\t%s daddr %s tcp dport 6443 dnat to %s\n", fam, apiService[i], netip.AddrPortFrom(nodeAddrs[i], 6443))
			fmt.Fprintf(&script, "\t\t%s daddr %s tcp dport 2379 dnat to %s\n", fam, etcdService[i], netip.AddrPortFrom(nodeAddrs[i], 2379))
			script.WriteString("\t}\n}\n")
		}
		script.WriteString("EOF\n")
	}
	node.ns.Shell(script.String())
	var cells []*cell
	for i, from := range podAddrs {
		add := func(dst string, to netip.Addr, p port, want policy.Verdict) {
			cells = append(cells, &cell{group: "pod", src: "pod", ns: pod, from: from, dst: dst, role: "control-plane",
				to: netip.AddrPortFrom(to, p.num), port: p, want: want})
		}
		add("cp-1 via kubernetes service", apiService[i], port{"tcp", 6443}, policy.Accept)
		add("cp-1 via etcd service", etcdService[i], port{"tcp", 2379}, policy.Drop)
		add("cp-1", nodeAddrs[i], port{"udp", 53}, policy.Accept)
		add("cp-1", nodeAddrs[i], port{"tcp", 9100}, policy.Drop)
	}
	node.ns.Sysctl("net.ipv4.ip_forward", "1")
	node.ns.Sysctl("net.ipv6.conf.all.forwarding", "1")
	for _, name := range []string{"cp-2", "w-1"} {
		other := hosts[name]
		for i, a := range podAddrs {
			other.ns.Route(podGateways[i].Masked(), nodeAddrs[i])
			add := func(to netip.Addr, p port, want policy.Verdict) {
				cells = append(cells, &cell{group: "pod", src: "pod", ns: pod, from: a, dst: name + " forwarded by cp-1", role: other.role,
					to: netip.AddrPortFrom(to, p.num), port: p, want: want})
			}
			to := other.addrs[1+i] // private IPv4, IPv6
			if other.role == "control-plane" {
				add(to, port{"tcp", 6443}, policy.Accept)
				add(to, port{"tcp", 2379}, policy.Drop)
			} else {
				add(to, port{"tcp", 9100}, policy.Accept)
				add(to, port{"tcp", 10250}, policy.Accept)
				add(to, port{"tcp", 22}, policy.Drop)
			}
		}
	}
	if c.pol.Set(policy.PodsSet) == nil {
		t.Fatal("the fixture has no pod ranges")
	}
	return cells
}

// ipipMatrix sends IP-in-IP packets (protocol 4, raw sockets) from a
// control-plane node, the worker, an admin and the world to every other
// node's addresses, and checks that each arrives exactly when kubeTable's
// reading of calico (members only) and explain say so.
func ipipMatrix(t *testing.T, c *cluster, hosts map[string]*host, m *matrixView) {
	t.Helper()
	type probe struct {
		src, dst string
		from, to netip.Addr
		want     bool
		explain  policy.Decision
		got      bool
		err      error
	}
	var probes []*probe
	for _, s := range []string{"cp-1", "w-1", "admin", "world"} {
		src := hosts[s]
		for _, d := range []string{"cp-1", "cp-2", "w-1"} {
			dst := hosts[d]
			if s == d {
				continue
			}
			for _, to := range dst.addrs {
				from, ok := sourceFor(src.addrs, to)
				if !ok {
					continue
				}
				probes = append(probes, &probe{src: s, dst: d, from: from, to: to, want: src.role != "",
					explain: c.pol.Explain(policy.Query{From: from, Role: dst.role, Proto: spec.ProtocolNumber(4)})})
			}
		}
	}
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.got, p.err = rawProbe(hosts[p.src].ns, hosts[p.dst].ns, 4, p.from, p.to, []byte(fmt.Sprintf("rampart ipip probe %d", i)))
		}()
	}
	wg.Wait()
	bad := 0
	for _, p := range probes {
		mv, found := m.verdict(p.from, hosts[p.dst].role, spec.ProtocolNumber(4), 0)
		if p.err != nil || p.got != p.want || (p.explain.Verdict == policy.Accept) != p.got || !found || (mv == policy.Accept) != p.got {
			bad++
			t.Errorf("ipip %s %s → %s %s: arrived %v, want %v; explain: %s; matrix %s (found %v) (err %v)", p.src, p.from, p.dst, p.to, p.got, p.want, p.explain, mv, found, p.err)
		}
	}
	t.Logf("ipip: %d probes, %d mismatches", len(probes), bad)
}

// rawProbe sends one packet of an IP protocol (no ports) from one namespace
// and reports whether a raw socket of that protocol in the other received
// it: raw sockets get their copy after the INPUT hook, so what rampart drops
// never reaches them.
func rawProbe(srcNS, dstNS *netlab.NS, proto int, from, to netip.Addr, payload []byte) (bool, error) {
	network := fmt.Sprintf("ip4:%d", proto)
	if to.Is6() {
		network = fmt.Sprintf("ip6:%d", proto)
	}
	var in net.PacketConn
	if err := dstNS.Do(func() (err error) {
		in, err = net.ListenPacket(network, to.String())
		return err
	}); err != nil {
		return false, err
	}
	defer in.Close()
	var out net.PacketConn
	if err := srcNS.Do(func() (err error) {
		out, err = net.ListenPacket(network, from.String())
		return err
	}); err != nil {
		return false, err
	}
	defer out.Close()
	// three tries, 300ms apart: a drop is a silence of a second
	buf := make([]byte, 2048)
	for range 3 {
		if _, err := out.WriteTo(payload, &net.IPAddr{IP: net.IP(to.AsSlice())}); err != nil {
			return false, err
		}
		_ = in.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, addr, err := in.ReadFrom(buf)
			if os.IsTimeout(err) {
				break
			}
			if err != nil {
				return false, err
			}
			// IPv4 raw sockets read the IP header too; IPv6 ones do not
			if ip, ok := addr.(*net.IPAddr); ok && ip.IP.Equal(net.IP(from.AsSlice())) && bytes.Contains(buf[:n], payload) {
				return true, nil
			}
		}
	}
	return false, nil
}

// matrixView answers for a cell from rampart's matrix (review.Build): the
// row that stands for the source address, the column of the role.
type matrixView struct {
	m       *review.Matrix
	classes map[policy.Family]*policy.Classifier
}

func matrixOf(p *policy.Policy) *matrixView {
	v := &matrixView{m: review.Build(p), classes: map[policy.Family]*policy.Classifier{}}
	for _, f := range policy.Families {
		v.classes[f] = p.Classify(f)
	}
	return v
}

// verdict is what the matrix's row for the address decides in the role's
// column; ok is false when no row stands for the address, or rows disagree.
func (v *matrixView) verdict(from netip.Addr, role string, proto policy.Protocol, port uint16) (policy.Verdict, bool) {
	f := policy.FamilyOfAddr(from)
	col := slices.Index(v.m.Roles, role)
	var got policy.Verdict
	for _, row := range v.m.Rows {
		if !slices.ContainsFunc(row.Leaves[f], func(l netip.Prefix) bool { return l.Contains(from) }) ||
			row.Kind == review.World && v.classes[f].InSomeSet(from) {
			continue
		}
		acc := row.Cells[col][f]
		if acc == nil {
			return "", false
		}
		seg := acc.Decides(proto, port)
		if seg == nil || got != "" && seg.Verdict != got {
			return got, false
		}
		got = seg.Verdict
	}
	return got, got != ""
}
