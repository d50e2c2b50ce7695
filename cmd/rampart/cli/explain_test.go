package cli

import (
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestExplainPort: --port reads PORT/tcp, PORT/udp, PORT/sctp over the
// whole port field (0-65535, what "all ports" means everywhere), icmp, the
// protocols without ports by name and proto/NUMBER.
func TestExplainPort(t *testing.T) {
	for _, c := range []struct {
		in    string
		proto policy.Protocol
		port  uint16
		ok    bool
	}{
		{"8080/tcp", policy.TCP, 8080, true},
		{"53/udp", policy.UDP, 53, true},
		{"0/tcp", policy.TCP, 0, true},
		{"65535/udp", policy.UDP, 65535, true},
		{"icmp", policy.ICMP, 0, true},
		{"65536/tcp", "", 0, false},
		{"+80/tcp", "", 0, false},
		{"80", "", 0, false},
		{"80/sctp", policy.SCTP, 80, true},
		{"ipip", spec.ProtocolNumber(4), 0, true},
		{"proto/41", spec.ProtocolNumber(41), 0, true},
		{"proto/6", "", 0, false},
		{"proto/256", "", 0, false},
		{"80/dccp", "", 0, false},
		{"icmp/tcp", "", 0, false},
	} {
		proto, port, err := parsePort(c.in)
		if (err == nil) != c.ok || proto != c.proto || port != c.port {
			t.Errorf("%q: %s %d %v", c.in, proto, port, err)
		}
	}
}

// TestExplainDestination: --to is a node, a role, or an address the policy
// locates: a node's (that node, even inside another role's pool), or a
// pool's (its role).
func TestExplainDestination(t *testing.T) {
	s, err := spec.Parse("to.yaml", []byte(`version: 1
cluster: to
profile: dcos
admins: [192.0.2.1]
nodes:
  - {name: m1, role: master, addresses: [10.0.0.1, "fd00::1"]}
  - {name: pa1, role: public-agent, addresses: [10.0.16.9]}
pools:
  - {role: agent, cidrs: [10.0.16.0/20]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Compile(s)
	for _, c := range []struct {
		to, role, node string
		ok             bool
	}{
		{"m1", "master", "m1", true},
		{"agent", "agent", "", true},
		{"fd00::1", "master", "m1", true},
		{"::ffff:10.0.0.1", "master", "m1", true},
		{"10.0.16.9", "public-agent", "pa1", true},
		{"10.0.17.1", "agent", "", true},
		{"10.0.32.1", "", "", false},
		{"nobody", "", "", false},
	} {
		role, node, err := destination(p, c.to)
		name := ""
		if node != nil {
			name = node.Name
		}
		if (err == nil) != c.ok || role != c.role || name != c.node {
			t.Errorf("--to %s: role %q node %q %v", c.to, role, name, err)
		}
	}
}
