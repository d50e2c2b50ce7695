package aws

import (
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// compiledRules turns a compiled group into the rules admits evaluates.
func compiledRules(g *Group) []rule {
	var out []rule
	for _, p := range g.Ingress {
		out = append(out, rule{proto: p.Proto, from: p.From, to: p.To, cidr: p.Peer.CIDR, role: p.Peer.Role, desc: p.Description})
	}
	return out
}

// agreeCase is a spec, hosts to probe every role from, and the cells where
// the security groups may admit less than the host firewall (the warned
// ones); everywhere else they must admit exactly what Explain accepts.
type agreeCase struct {
	name     string
	yaml     string
	hosts    []host
	stricter func(h host, p probe) bool
	warnings []string // substrings, one warning each
	// probed says a stricter cell is among the probes (echo is the only
	// ICMP probed, and other IP protocols are not)
	probed bool
}

var agreeProbes = []probe{{spec.TCP, 22}, {spec.TCP, 80}, {spec.TCP, 443}, {spec.TCP, 5050}, {spec.TCP, 8080}, {spec.UDP, 53}, {proto: spec.ICMP}}

var agreeCases = []agreeCase{
	{
		name: "carved ranges",
		// a deny inside the world splits 0.0.0.0/0 around it; a deny inside
		// the admins' range splits it; an IPv6 deny of every protocol splits
		// ::/0; a deny of part of a pool cannot split a group reference, so
		// the whole role loses the port, with a warning
		yaml: `version: 1
cluster: carve
profile: none
admins: [198.51.100.0/24]
trusted: [10.0.16.9]
roles:
  web: {zone: public, public: [80/tcp, 443/tcp], admin: [22/tcp]}
nodes:
  - {name: web-1, role: web, addresses: [192.0.2.11, "2001:db8:10::11"]}
pools:
  - {role: web, cidrs: [10.0.16.0/20]}
rules:
  - {from: 203.0.113.0/24, to: web, ports: [80/tcp], action: deny}
  - {from: 10.0.16.0/24, to: web, ports: [5050/tcp], action: deny}
  - {from: 198.51.100.128/25, to: web, ports: [22/tcp], action: deny}
  - {from: "2001:db8:bad::/48", to: all, action: deny}
`,
		hosts: []host{
			{name: "web-1", role: "web", addrs: addrs("192.0.2.11", "2001:db8:10::11")},
			{name: "pool", role: "web", addrs: addrs("10.0.17.1", "10.0.16.5")},
			{name: "trusted", addrs: addrs("10.0.16.9")},
			{name: "admin", addrs: addrs("198.51.100.7", "198.51.100.200")},
			{name: "world", addrs: addrs("203.0.113.5", "203.0.112.255", "203.0.114.0", "0.0.0.1", "255.255.255.254", "2001:db8:bad::1", "2001:db8:bae::1", "2001:db8:bac:ffff::1", "::1")},
		},
		stricter: func(h host, p probe) bool { return h.role == "web" && p == probe{spec.TCP, 5050} },
		probed:   true,
		warnings: []string{
			"denies part of role web's members; security group carve-web denies it for every member of web",
			`security group carve-web: "trusted sources reach every port" from 10.0.16.9/32 admits every IP protocol but some ports`,
			`security group carve-web: "cluster members reach every port" from role web admits every IP protocol but some ports`,
		},
	},
	{
		name: "icmp denied to a role",
		// every protocol but echo cannot be said in a group: agents lose
		// every ICMP type and every protocol but TCP and UDP to the masters
		yaml: `version: 1
cluster: ping
profile: dcos
admins: [198.51.100.0/24]
nodes:
  - {name: master-1, role: master, addresses: [10.0.0.10, "fd00::10"]}
  - {name: agent-1, role: agent, addresses: [10.0.0.21, "fd00::21"]}
rules:
  - {from: agent, to: master, ports: [icmp], action: deny}
`,
		hosts: []host{
			{name: "master", role: "master", addrs: addrs("10.0.0.10", "fd00::10")},
			{name: "agent", role: "agent", addrs: addrs("10.0.0.21", "fd00::21")},
			{name: "admin", addrs: addrs("198.51.100.9")},
			{name: "world", addrs: addrs("203.0.113.9", "2001:db8::9")},
		},
		stricter: func(h host, p probe) bool { return h.role == "agent" && p.proto == spec.ICMP },
		warnings: []string{
			"from role agent admits 255 ICMP types (all but echo, or those a rule denies); security group ping-master admits none of them",
			"from role agent admits 255 ICMPv6 types",
			"every IP protocol",
		},
	},
}

// TestGroupsAgreeCarved compiles specs with deny rules that cut ranges and
// checks every cell against Explain: exactly equal, or, where a warning says
// so, never wider.
func TestGroupsAgreeCarved(t *testing.T) {
	for _, c := range agreeCases {
		t.Run(c.name, func(t *testing.T) {
			s, err := spec.Parse(c.name+".yaml", []byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			pol := policy.Compile(s)
			groups, err := CompileGroups(pol, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.warnings {
				n := 0
				for _, got := range groups.Warnings {
					if strings.Contains(got, w) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d warnings say %q; warnings: %q", n, w, groups.Warnings)
				}
			}
			if len(groups.Warnings) != len(c.warnings) {
				t.Errorf("warnings %q, want %d", groups.Warnings, len(c.warnings))
			}
			stricter := 0
			for _, role := range pol.Roles {
				rules := compiledRules(groups.Group(role))
				for _, h := range c.hosts {
					for _, a := range h.addrs {
						for _, p := range agreeProbes {
							sg := admits(rules, h, a, p)
							ex := pol.Explain(policy.Query{From: a, Role: role, Proto: p.proto, Port: p.port}).Verdict == policy.Accept
							switch {
							case sg == ex:
							case !sg && c.stricter(h, p):
								stricter++
							default:
								t.Errorf("%s %s -> %s %d/%s: security group %v, explain %v", h.name, a, role, p.port, p.proto, sg, ex)
							}
						}
					}
				}
			}
			if c.probed && stricter == 0 {
				t.Error("no cell where the group is stricter: the case does not test what it says")
			}
		})
	}
}

// TestDescribe: descriptions carry the ownership prefix, only characters AWS
// accepts, and at most 255 of them.
func TestDescribe(t *testing.T) {
	if got := describe(`agent → master "x" <y>`); got != "rampart: agent _ master _x_ _y_" {
		t.Errorf("got %q", got)
	}
	long := describe(strings.Repeat("a", 300))
	if len(long) != 255 || !strings.HasPrefix(long, Owned) {
		t.Errorf("long description: %d characters", len(long))
	}
	p := Permission{Description: describe("x")}
	if !p.Owned() || (Permission{Description: "ops: rdp"}).Owned() {
		t.Error("ownership by prefix")
	}
}
