package drift_test

import (
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/netlab"
)

// TestNoDriftProtocolNames: rampart writes IP protocols by number, and
// iptables-save and nft print the numbers the node's /etc/protocols names
// by those names (4 as ipencap, 103 as pim, 137 as mpls-in-ip): after a
// load of rules of such protocols, in both backends, drift finds nothing.
func TestNoDriftProtocolNames(t *testing.T) {
	netlab.Require(t, labTools...)
	lab := netlab.New(t)
	for _, backend := range []string{"iptables", "nftables"} {
		s, err := spec.Parse("protocols.yaml", []byte(`version: 1
cluster: protos
firewall: {backend: `+backend+`}
admins: [203.0.113.5/32]
roles:
  edge: {zone: public}
nodes:
  - {name: a, role: edge, addresses: [10.0.3.1, "2001:db8:3::1"]}
rules:
  - {from: world, to: edge, ports: [ipip, gre, esp, vrrp, proto/2, proto/97, proto/103, proto/137]}
`))
		if err != nil {
			t.Fatal(err)
		}
		p := policy.Compile(s)
		ns := lab.NewNS(backend)
		apply(t, ns, s, p, "edge")
		exp, err := drift.Expect(p, "edge", backend)
		if err != nil {
			t.Fatal(err)
		}
		live := save(t, ns, backend)
		text := ns.Run("nft", "list", "ruleset")
		if backend == "iptables" {
			text = ns.Run("iptables-save") + ns.Run("ip6tables-save")
		}
		named := 0
		for _, name := range []string{"ipencap", "pim", "mpls-in-ip", "igmp", "etherip"} {
			if strings.Contains(text, " "+name+" ") {
				named++
			}
		}
		if named == 0 {
			t.Fatalf("%s: the live ruleset names none of the protocols (the test proves nothing here):\n%s", backend, text)
		}
		if fs := drift.Check(p, "edge", exp, live); len(fs) > 0 {
			for _, f := range fs {
				t.Errorf("%s: %s", backend, f)
			}
		}
	}
}
