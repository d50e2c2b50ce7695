package aws

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/review"
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
				for _, got := range groups.Findings.Entries {
					if strings.Contains(got.Message, w) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d warnings say %q; warnings:\n%s", n, w, groups.Findings)
				}
			}
			if len(groups.Findings.Entries) != len(c.warnings) {
				t.Errorf("warnings:\n%swant %d", groups.Findings, len(c.warnings))
			}
			// each is a warning about a role's group, at the spec line of
			// the rule the group cannot say
			for _, e := range groups.Findings.Entries {
				role, _ := e.Path.Last().(string)
				if e.Severity != report.Warning || len(e.Path) != 2 || e.Path[0] != "roles" || !strings.Contains(e.Message, "security group "+GroupName(pol.Cluster, role)+":") ||
					e.Pos.File != c.name+".yaml" || e.Pos.Line == 0 {
					t.Errorf("%s (%#v): want a warning about roles.ROLE of that role's group, at the line of the rule in %s.yaml", e, e, c.name)
				}
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

// randomSpec writes a random, valid-looking spec: roles with random public
// and admin ports, nodes and pools (some pools holding nodes of other
// roles), admins, trusted sources with and without ports, overlays, and
// allow and deny rules from every kind of source, with port lists, ranges
// and ICMP. Addresses come from a few small ranges so that sets, literals
// and pools overlap often.
func randomSpec(rnd *rand.Rand) string {
	var b strings.Builder
	pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
	v4 := func() string {
		return pick(
			fmt.Sprintf("10.0.%d.%d", rnd.IntN(4), rnd.IntN(256)),
			fmt.Sprintf("10.0.%d.%d", 16+rnd.IntN(4), rnd.IntN(256)),
			fmt.Sprintf("203.0.113.%d", rnd.IntN(256)),
			fmt.Sprintf("198.51.100.%d", rnd.IntN(256)))
	}
	v6 := func() string {
		return pick(fmt.Sprintf("2001:db8:%x::%x", rnd.IntN(3), 1+rnd.IntN(40)), fmt.Sprintf("fd00::%x", 1+rnd.IntN(40)))
	}
	cidr := func() string {
		a := netip.MustParseAddr(pick(v4(), v4(), v6()))
		bits := a.BitLen() - []int{0, 2, 4, 8, 12, 16}[rnd.IntN(6)]
		if rnd.IntN(12) == 0 {
			bits = []int{0, 8}[rnd.IntN(2)] * a.BitLen() / 32
		}
		return netip.PrefixFrom(a, bits).Masked().String()
	}
	ports := func(withICMP bool) string {
		var ps []string
		seen := map[string]bool{}
		for range 1 + rnd.IntN(3) {
			proto := pick("tcp", "tcp", "udp")
			from := []int{1, 22, 53, 80, 443, 1000, 8080, 8201, 65535}[rnd.IntN(9)] + rnd.IntN(2)
			from = min(from, 65535)
			p := fmt.Sprintf("%d/%s", from, proto)
			if rnd.IntN(3) == 0 {
				to := min(65535, from+rnd.IntN(2000))
				p = fmt.Sprintf("%d-%d/%s", from, to, proto)
			}
			if rnd.IntN(6) == 0 {
				p = strings.Replace(p, "/"+proto, "/sctp", 1)
			}
			if withICMP && rnd.IntN(4) == 0 {
				p = "icmp"
			}
			if rnd.IntN(6) == 0 {
				p = pick("ipip", "gre", "esp", "vrrp", "proto/41")
			}
			if !seen[p] {
				seen[p] = true
				ps = append(ps, p)
			}
		}
		return "[" + strings.Join(ps, ", ") + "]"
	}
	list := func(n int, gen func() string) []string {
		seen := map[string]bool{}
		var out []string
		for range n {
			if x := gen(); !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
		return out
	}
	quote := func(xs []string) string {
		q := make([]string, len(xs))
		for i, x := range xs {
			q[i] = `"` + x + `"`
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	b.WriteString("version: 1\n")
	if rnd.IntN(3) == 0 {
		fmt.Fprintf(&b, "cluster: {name: prop, reach: %s}\n", pick("all", "listed"))
	} else {
		b.WriteString("cluster: prop\n")
	}
	roles := []string{"web", "db", "ops"}[:1+rnd.IntN(3)]
	noPool := map[string]bool{}
	sources := []string{}
	switch rnd.IntN(4) {
	case 0:
		b.WriteString("profile: dcos\n")
		roles = []string{"master", "agent", "public-agent"}
	case 1:
		b.WriteString("profile: kubernetes\n")
		fmt.Fprintf(&b, "kubernetes: {cni: %s, pods: [10.244.0.0/16, \"fd00:244::/56\"], nodeports: %s}\n",
			pick("flannel", "calico", "cilium", "none"), pick("world", "admins", "none"))
		roles = []string{"control-plane", "worker"}
		noPool["control-plane"] = true // an etcd role
		sources = []string{"pods"}
	default:
		b.WriteString("profile: none\n")
	}
	fmt.Fprintf(&b, "admins: %s\n", quote(list(rnd.IntN(4), func() string { return pick(v4(), cidr(), v6()) })))
	b.WriteString("trusted:\n")
	for _, t := range list(rnd.IntN(4), func() string { return pick(v4(), cidr(), v6()) }) {
		if rnd.IntN(2) == 0 {
			fmt.Fprintf(&b, "  - %q\n", t)
		} else {
			fmt.Fprintf(&b, "  - {cidr: %q, ports: %s}\n", t, ports(true))
		}
	}
	b.WriteString("roles:\n")
	for _, r := range roles {
		fmt.Fprintf(&b, "  %s: {zone: %s", r, pick("admin", "private", "public"))
		if rnd.IntN(2) == 0 {
			fmt.Fprintf(&b, ", public: %s", ports(true))
		}
		if rnd.IntN(2) == 0 {
			fmt.Fprintf(&b, ", admin: %s", ports(true))
		}
		b.WriteString("}\n")
	}
	b.WriteString("nodes:\n")
	used := map[string]bool{}
	for i := range rnd.IntN(5) {
		var addrs []string
		for _, a := range list(1+rnd.IntN(2), func() string { return pick(v4(), v4(), v6()) }) {
			if !used[a] {
				used[a] = true
				addrs = append(addrs, a)
			}
		}
		if len(addrs) > 0 {
			fmt.Fprintf(&b, "  - {name: n%d, role: %s, addresses: %s}\n", i, pick(roles...), quote(addrs))
		}
	}
	// pools of different roles never overlap: one block of addresses per role
	b.WriteString("pools:\n")
	for i, r := range roles {
		if rnd.IntN(2) == 0 || noPool[r] {
			continue
		}
		cidrs := []string{fmt.Sprintf("10.0.%d.0/%d", 16+i, 24+rnd.IntN(6))}
		if rnd.IntN(2) == 0 {
			cidrs = append(cidrs, fmt.Sprintf("2001:db8:%x::/%d", i, 120+rnd.IntN(6)))
		}
		fmt.Fprintf(&b, "  - {role: %s, cidrs: %s}\n", r, quote(cidrs))
	}
	overlays := []string{}
	if rnd.IntN(3) == 0 {
		overlays = []string{"red", "blue"}
		fmt.Fprintf(&b, "overlays:\n  networks: {red: 10.250.0.0/24, blue: %q}\n  default: %s\n", pick("10.251.0.0/24", "fd00:b::/64"), pick("reject", "accept"))
		b.WriteString("  allow: [{from: red, to: blue, ports: [80/tcp]}]\n")
	}
	b.WriteString("rules:\n")
	for range rnd.IntN(6) {
		from := pick(append([]string{"world", "admins", "trusted", "cluster", cidr(), cidr(), v4()}, append(append(roles, overlays...), sources...)...)...)
		to := pick(append([]string{"all", "cluster"}, roles...)...)
		fmt.Fprintf(&b, "  - {from: %q, to: %s", from, to)
		if rnd.IntN(4) != 0 {
			fmt.Fprintf(&b, ", ports: %s", ports(true))
		}
		if rnd.IntN(2) == 0 {
			b.WriteString(", action: deny")
		}
		b.WriteString("}\n")
	}
	fmt.Fprintf(&b, "firewall: {action: %s}\n", pick("drop", "reject"))
	return b.String()
}

// agreeProbe is a new connection the property test asks about.
type agreeProbe struct {
	from netip.Addr
	role string // destination
	probe
}

// randomProbes picks sources near everything the policy names (the ends of
// every set member and literal, their neighbours, random addresses inside)
// and far from it, and ports at the ends of every range a rule names.
func randomProbes(rnd *rand.Rand, p *policy.Policy, n int) []agreeProbe {
	var prefixes []netip.Prefix
	var portSet []uint16
	for _, s := range p.Sets {
		for _, f := range policy.Families {
			prefixes = append(prefixes, s.Members[f]...)
		}
	}
	for _, r := range p.Rules {
		if r.From.Kind == policy.CIDRSource {
			prefixes = append(prefixes, r.From.CIDR)
		}
		for _, pr := range r.Ports {
			portSet = append(portSet, pr.From, pr.To, pr.From-1, pr.To+1)
		}
	}
	portSet = append(portSet, 0, 1, 22, 65535)
	addr := func() netip.Addr {
		if len(prefixes) == 0 || rnd.IntN(5) == 0 {
			b := make([]byte, []int{4, 16}[rnd.IntN(2)])
			for i := range b {
				b[i] = byte(rnd.IntN(256))
			}
			a, _ := netip.AddrFromSlice(b)
			return a
		}
		m := prefixes[rnd.IntN(len(prefixes))].Masked()
		switch rnd.IntN(4) {
		case 0:
			return m.Addr()
		case 1:
			return ranges.LastAddr(m)
		case 2:
			if a := m.Addr().Prev(); a.IsValid() {
				return a
			}
			if a := ranges.LastAddr(m).Next(); a.IsValid() {
				return a
			}
			return m.Addr()
		}
		b := m.Addr().AsSlice()
		for bit := m.Bits(); bit < len(b)*8; bit++ {
			if rnd.IntN(2) == 1 {
				b[bit/8] |= 0x80 >> (bit % 8)
			}
		}
		a, _ := netip.AddrFromSlice(b)
		return a
	}
	out := make([]agreeProbe, 0, n)
	for range n {
		q := agreeProbe{from: addr(), role: p.Roles[rnd.IntN(len(p.Roles))]}
		q.proto = policy.Protocols[rnd.IntN(len(policy.Protocols))]
		switch {
		case policy.HasPorts(q.proto):
			q.port = uint16(rnd.IntN(65536))
			if rnd.IntN(4) != 0 {
				q.port = portSet[rnd.IntN(len(portSet))]
			}
		case q.proto == policy.Other:
			// the port is the protocol number: one the rules name, or any
			numbers := []uint16{4, 41, 47, 50, 112}
			q.port = numbers[rnd.IntN(len(numbers))]
			if rnd.IntN(4) == 0 {
				others := policy.OtherNumbers()
				for q.port = uint16(rnd.IntN(256)); !others.Contains(q.port); q.port = uint16(rnd.IntN(256)) {
				}
			}
		}
		out = append(out, q)
	}
	return out
}

// memberRole is the role whose security group an instance with the address
// is in: its node's, or the pool's that holds it; "" for none.
func memberRole(s *spec.Spec, a netip.Addr) string {
	for _, n := range s.Nodes {
		if slices.Contains(n.Addresses, a) {
			return n.Role
		}
	}
	for _, pl := range s.Pools {
		for _, c := range pl.CIDRs {
			if c.Contains(a) {
				return pl.Role
			}
		}
	}
	return ""
}

// checkAgree compiles random specs from a seed and asks random probes of
// explain, the matrix and the security groups (evaluated as AWS does: any
// rule admits). Explain and the matrix agree on the verdict and the rule
// that decides it; the groups admit exactly what explain accepts, except
// where a warning says a group admits less (part of a role denied: the whole
// group loses it; every other IP protocol but some ports): there they may
// admit less, never more.
func checkAgree(t *testing.T, seed uint64, specs, probes int) {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	var asked, accepted, stricter int
	defer func() {
		t.Logf("seed %d: %d specs, %d probes, %d accepted, %d where a warned group admits less", seed, specs, asked, accepted, stricter)
	}()
	for i := range specs {
		var s *spec.Spec
		var text string
		for attempt := 0; s == nil; attempt++ {
			text = randomSpec(rnd)
			var err error
			if s, err = spec.Parse("prop.yaml", []byte(text)); err != nil {
				if attempt == 20 {
					t.Fatalf("seed %d: no valid random spec in 20 attempts; the last:\n%s\n%v", seed, text, err)
				}
				s = nil
			}
		}
		p := policy.Compile(s)
		m := review.Build(p)
		groups, err := CompileGroups(p, 10000)
		if err != nil {
			t.Fatalf("seed %d spec %d: %v\n%s", seed, i, err, text)
		}
		classes := map[policy.Family]*policy.Classifier{}
		for _, f := range policy.Families {
			classes[f] = p.Classify(f)
		}
		fail := func(q agreeProbe, format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d spec %d: %s -> %s %d/%s: %s\n%s", seed, i, q.from, q.role, q.port, q.proto, fmt.Sprintf(format, args...), text)
		}
		for _, q := range randomProbes(rnd, p, probes) {
			f := policy.FamilyOfAddr(q.from)
			d := p.Explain(policy.Query{From: q.from, Role: q.role, Proto: q.proto, Port: q.port})
			asked++
			if d.Verdict == policy.Accept {
				accepted++
			}
			// the matrix: every row that stands for the address (the world's
			// rows only for an address in no set) decides it alike
			col := slices.Index(m.Roles, q.role)
			rows := 0
			for _, row := range m.Rows {
				if !slices.ContainsFunc(row.Leaves[f], func(l netip.Prefix) bool { return l.Contains(q.from) }) ||
					row.Kind == review.World && classes[f].InSomeSet(q.from) {
					continue
				}
				rows++
				seg := row.Cells[col][f].Decides(q.proto, q.port)
				if seg == nil || seg.Verdict != d.Verdict || seg.Prov != d.Prov {
					fail(q, "matrix row %q decides %+v, explain %s", row.Label, seg, d)
				}
			}
			if rows == 0 {
				fail(q, "no row of the matrix stands for the address")
			}
			// the security groups; the group of the source's instance is its
			// node's or pool's, as the policy locates it
			src := memberRole(s, q.from)
			if loc, _ := p.Locate(q.from); loc.Role != src {
				fail(q, "the policy locates the source in role %q, the spec in %q", loc.Role, src)
			}
			sg := admits(compiledRules(groups.Group(q.role)), host{role: src}, q.from, q.probe)
			ex := d.Verdict == policy.Accept
			switch {
			case sg == ex:
			case sg:
				fail(q, "the security group admits what explain says is %s", d)
			case !warned(groups, q, src):
				fail(q, "the security group admits less than explain (%s), and no warning says so; warnings:\n%s", d, groups.Findings)
			default:
				stricter++
			}
		}
	}
}

// warned reports whether a warning about the destination's group says it
// admits less for the probe: a deny of part of the source's role, or every
// other IP protocol.
func warned(g *Groups, q agreeProbe, src string) bool {
	for _, e := range g.Findings.Entries {
		if e.Path.String() != "roles."+q.role {
			continue
		}
		switch {
		case e.Code == msgPartOfRoleDenied.Code && src != "" && strings.Contains(e.Message, "denies part of role "+src+"'s members"):
			return true
		case e.Code == msgProtocolsButPorts.Code && (q.proto == policy.Other || q.proto == policy.SCTP):
			return true
		case e.Code == msgProtocols.Code && q.proto == policy.Other:
			return true
		case e.Code == msgSCTPPorts.Code && q.proto == policy.SCTP:
			return true
		}
	}
	return false
}

// agreeSeeds are the seeds of normal test runs.
const agreeSeeds = 40

// TestAgreeRandomSpecs is the property test with fixed seeds;
// RAMPART_SEED=N runs seed N instead, RAMPART_SEED=random a random seed
// (logged, to reproduce a failure).
func TestAgreeRandomSpecs(t *testing.T) {
	switch env := os.Getenv("RAMPART_SEED"); env {
	case "":
		for seed := range uint64(agreeSeeds) {
			checkAgree(t, seed, 5, 300)
		}
	case "random":
		seed := rand.Uint64()
		t.Logf("RAMPART_SEED=%d", seed)
		checkAgree(t, seed, 200, 500)
	default:
		seed, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("RAMPART_SEED=%q is not a number or random", env)
		}
		checkAgree(t, seed, 200, 500)
	}
}

// FuzzAgree is the same property under go test -fuzz: the fuzzer picks the
// seeds (its corpus holds a few fixed ones).
func FuzzAgree(f *testing.F) {
	for seed := range uint64(4) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkAgree(t, seed, 1, 300) })
}
