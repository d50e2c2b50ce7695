package aws

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// host is a source of connections: its addresses and, for cluster members,
// its role (the security group its instance is in).
type host struct {
	name  string
	role  string
	addrs []netip.Addr
}

type probe struct {
	proto spec.Protocol
	port  uint16
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// admits evaluates security group rules as AWS does: a connection is let in
// when any rule's peer holds the source (a CIDR holding its address, or a
// group its instance is in) and the rule's protocol and port range (ICMP
// type, for ICMP) hold the connection; a rule of a protocol number (SCTP
// 132, ipip 4, ...) admits all of that protocol. The probe's port is the
// protocol number for policy.Other.
func admits(rules []rule, from host, addr netip.Addr, p probe) bool {
	for _, r := range rules {
		if r.role != "" && r.role != from.role || r.cidr.IsValid() && !r.cidr.Contains(addr) {
			continue
		}
		switch {
		case r.proto == "-1":
			return true
		case r.proto == string(p.proto) && (p.proto == spec.TCP || p.proto == spec.UDP):
			if int32(p.port) >= r.from && int32(p.port) <= r.to {
				return true
			}
		case p.proto == spec.SCTP && r.proto == "132", p.proto == policy.Other && r.proto == strconv.Itoa(int(p.port)):
			// any protocol but tcp, udp and icmp: all of it, whatever the ports
			return true
		case p.proto == spec.ICMP && addr.Is4() && r.proto == "icmp", p.proto == spec.ICMP && addr.Is6() && r.proto == "icmpv6":
			echo := int32(8)
			if addr.Is6() {
				echo = 128
			}
			if r.from == -1 || r.from == echo {
				return true
			}
		}
	}
	return false
}

// dcosAWSTable is SPEC.md's DC/OS table with fixtures/dcos-aws.yaml's port
// lists, by hand:
//
//	master → everything: all
//	agent, public-agent → master: all but TCP 8201, 26257; → the others: all
//	the VPC resolver 10.0.0.2 (trusted) → everything: all
//	admin (209.220.51.50, IPv4 only) → master: 22, 80, 8080, 9090 (admin
//	  list) and 443 (public); agent: 22; public-agent: 22, 80, 443, 10000-10100
//	world (and the admin's IPv6 address, outside every admin range) →
//	  master: 443; public-agent: 80, 443, 10000-10100; agent: nothing
func dcosAWSTable(src string, addr netip.Addr, dst string, p probe) bool {
	tcp := func(ports ...uint16) bool { return p.proto == spec.TCP && slices.Contains(ports, p.port) }
	publicAgent := tcp(80, 443) || p.proto == spec.TCP && p.port >= 10000 && p.port <= 10100
	switch src {
	case "master", "trusted":
		return true
	case "agent", "public-agent":
		return dst != "master" || !tcp(8201, 26257)
	case "admin":
		if addr.Is6() {
			return dcosAWSTable("world", addr, dst, p)
		}
		switch dst {
		case "master":
			return tcp(22, 80, 8080, 9090, 443)
		case "public-agent":
			return tcp(22) || publicAgent
		}
		return tcp(22)
	case "world":
		switch dst {
		case "master":
			return tcp(443)
		case "public-agent":
			return publicAgent
		}
		return false
	}
	panic("no row for " + src)
}

// TestGroupsAgreeWithExplain: for every cell of the DC/OS table (seven
// sources, each address of each, IPv4 and IPv6 × three roles × twelve TCP
// ports, two UDP ports and ICMP echo), the security group rules pushed to
// moto and read back admit exactly what policy.Explain accepts, and both say
// what the table says.
func TestGroupsAgreeWithExplain(t *testing.T) {
	e := newEnv(t)
	s := e.spec()
	e.push(s, e.machinesOf(s))
	rules := readBack(t, e.describedGroups(), "dcos-aws")
	pol := policy.Compile(s)
	if pol.Default != policy.Reject {
		t.Fatalf("the fixture's firewall.action changed: default %s", pol.Default)
	}
	hosts := []host{
		{name: "master", role: "master", addrs: addrs("10.0.2.10", "2600:1f18:2::10")},
		{name: "agent", role: "agent", addrs: addrs("10.0.17.5", "2600:1f18:16:0:1::5")},
		{name: "public-agent", role: "public-agent", addrs: addrs("10.0.33.7", "2600:1f18:32:ff::7")},
		{name: "trusted", addrs: addrs("10.0.0.2")},
		{name: "admin", addrs: addrs("209.220.51.50", "2001:db8:ad::50")},
		{name: "world", addrs: addrs("203.0.113.99", "2001:db8:ff::99", "10.0.0.3")},
	}
	var probes []probe
	for _, p := range []uint16{22, 80, 443, 2181, 5050, 8080, 8201, 9090, 26257, 10000, 10100, 10101} {
		probes = append(probes, probe{spec.TCP, p})
	}
	probes = append(probes, probe{spec.UDP, 53}, probe{spec.UDP, 5050}, probe{proto: spec.ICMP})
	cells, wrong := 0, 0
	for _, dst := range []string{"master", "agent", "public-agent"} {
		group := rules[GroupName("dcos-aws", dst)]
		if len(group) == 0 {
			t.Fatalf("no rules read back for %s", dst)
		}
		for _, h := range hosts {
			for _, a := range h.addrs {
				for _, p := range probes {
					cells++
					want := dcosAWSTable(h.name, a, dst, p)
					sg := admits(group, h, a, p)
					d := pol.Explain(policy.Query{From: a, Role: dst, Proto: p.proto, Port: p.port})
					if sg != want || (d.Verdict == policy.Accept) != want {
						wrong++
						t.Errorf("%s %s -> %s %d/%s: table %v, security group %v, explain %s", h.name, a, dst, p.port, p.proto, want, sg, d)
					}
				}
			}
		}
	}
	if cells != 3*12*15 {
		t.Errorf("probed %d cells, want %d", cells, 3*12*15)
	}
	t.Logf("%d cells, %d disagree", cells, wrong)
}

// TestGroupsAgreeKubernetes: the security groups compiled from
// fixtures/kubernetes.yaml (listed reach, calico, NodePorts to the world,
// pods) admit exactly what explain accepts, IP-in-IP (protocol 4) and
// SCTP included, with no warning: every rule of the profile is one a group
// can say.
func TestGroupsAgreeKubernetes(t *testing.T) {
	s, err := spec.LoadFile("../../fixtures/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Compile(s)
	groups, err := CompileGroups(pol, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !groups.Findings.Empty() {
		t.Errorf("findings:\n%s", groups.Findings)
	}
	hosts := []host{
		{name: "cp-1", role: "control-plane", addrs: addrs("147.75.10.11", "10.0.1.11", "2001:db8:1::11")},
		{name: "w-1", role: "worker", addrs: addrs("147.75.10.21", "10.0.1.21", "2001:db8:1::21")},
		{name: "pooled worker", role: "worker", addrs: addrs("10.0.40.5", "2001:db8:32::5")},
		{name: "pod", addrs: addrs("192.168.1.10", "fd00:10:244::10")},
		{name: "admin", addrs: addrs("203.0.113.5", "2001:db8:ad::5")},
		{name: "world", addrs: addrs("198.51.100.99", "2001:db8:ff::99")},
	}
	var probes []probe
	for _, p := range []uint16{22, 53, 179, 2379, 2380, 5473, 6443, 9100, 10250, 10256, 10257, 10259, 30080} {
		probes = append(probes, probe{spec.TCP, p})
	}
	for _, p := range []uint16{53, 4789, 8472, 30080, 51820} {
		probes = append(probes, probe{spec.UDP, p})
	}
	probes = append(probes, probe{proto: spec.ICMP}, probe{policy.Other, 4}, probe{policy.Other, 47}, probe{spec.SCTP, 30080})
	cells, accepted := 0, 0
	for _, dst := range pol.Roles {
		group := compiledRules(groups.Group(dst))
		for _, h := range hosts {
			for _, a := range h.addrs {
				for _, p := range probes {
					cells++
					sg := admits(group, h, a, p)
					d := pol.Explain(policy.Query{From: a, Role: dst, Proto: p.proto, Port: p.port})
					if d.Verdict == policy.Accept {
						accepted++
					}
					if sg != (d.Verdict == policy.Accept) {
						t.Errorf("%s %s -> %s %d/%s: security group %v, explain %s", h.name, a, dst, p.port, p.proto, sg, d)
					}
				}
			}
		}
	}
	t.Logf("%d cells, %d accepted", cells, accepted)
	if accepted == 0 || accepted == cells {
		t.Errorf("%d of %d cells accepted: the probes do not tell open from closed", accepted, cells)
	}
}
