package cli

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/policy/ranges"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestExplainPort: --port is read by the spec's own port parser, so
// explain takes what a port list takes (ranges, sctp, the protocols
// without ports by name, proto/NUMBER) and refuses what it refuses, with
// its message: port 0, a reserved protocol number, a range backwards.
func TestExplainPort(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		port string
		code int
		want string // substring of stdout, or of stderr when code is not 0
	}{
		{"8080/tcp", 0, "8080/tcp"},
		{"65535/udp", 0, "65535/udp"},
		{"80/sctp", 0, "80/sctp"},
		{"icmp", 0, " icmp\n"},
		{"proto/4", 0, " ipip\n"},
		{"proto/41", 0, " proto/41\n"},
		{"8000-8100/tcp", 0, "8000-8100/tcp"},
		{"0/tcp", 2, `--port: port 0 in "0/tcp" is out of range (1-65535)`},
		{"65536/tcp", 2, `port 65536 in "65536/tcp" is out of range`},
		{"proto/0", 2, "protocol 0 is IPv6 hop-by-hop options"},
		{"proto/6", 2, "protocol 6 is TCP: write PORT/tcp"},
		{"proto/256", 2, `"256" is not an IP protocol number (0-255)`},
		{"8100-8000/tcp", 2, "8100-8000/tcp"},
		{"80", 2, `"80" is not a port`},
		{"80/dccp", 2, `protocol "dccp" in "80/dccp" is not tcp, udp or sctp`},
		{"icmp/tcp", 2, "icmp/tcp"},
		{"53/icmp", 2, "ICMP has no ports"},
	} {
		code, out, errOut := run("explain", fixture, "--from", "192.0.2.7", "--to", "master-1", "--port", c.port)
		got := out
		if c.code != 0 {
			got = errOut
		}
		if code != c.code || !strings.Contains(got, c.want) {
			t.Errorf("--port %s: exit %d (want %d)\n%s%s\nwant %q", c.port, code, c.code, out, errOut, c.want)
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

const explainSpec = `version: 1
cluster: ex
profile: dcos
admins: [192.0.2.1]
nodes:
  - {name: m1, role: master, addresses: [10.0.0.1, "fd00::1"]}
  - {name: pa1, role: public-agent, addresses: [10.0.16.9]}
  - {name: a1, role: agent, addresses: [10.0.32.1]}
pools:
  - {role: agent, cidrs: [10.0.16.0/20]}
rules:
  - {from: 10.0.16.0/24, to: master, ports: [8100-8150/tcp], action: deny}
overlays:
  networks: {it: 10.150.0.0/16}
`

// TestExplainAnswers: for every source and port range, each answer agrees
// with the policy's evaluation of single connections (policy.Explain) at
// the first and the last address of each of its sources, on each end of
// each of its port ranges; the answers cover the question exactly once
// (every part of the source on every port); and a role's sources are its
// members only (a node of another role inside its pool is not one).
func TestExplainAnswers(t *testing.T) {
	t.Parallel()
	s, err := spec.Parse("ex.yaml", []byte(explainSpec))
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Compile(s)
	for _, c := range []struct{ from, to, port string }{
		{"agent", "m1", "8000-8300/tcp"},
		{"agent", "master", "26250-26260/tcp"},
		{"m1", "a1", "22/tcp"},
		{"10.0.0.0/8", "m1", "8190-8210/tcp"},
		{"::/0", "m1", "1-65535/tcp"},
		{"it", "m1", "icmp"},
		{"public-agent", "agent", "ipip"},
	} {
		src, err := sourceOf(p, c.from)
		if err != nil {
			t.Fatalf("--from %s: %v", c.from, err)
		}
		role, node, err := destination(p, c.to)
		if err != nil {
			t.Fatal(err)
		}
		q, err := spec.ParsePort(c.port)
		if err != nil {
			t.Fatal(err)
		}
		as := answers(p, src, role, node, q)
		covered := map[originPart]ranges.Ports{}
		for _, a := range as {
			for _, part := range a.parts {
				if c.from == "agent" && part.prefix.Contains(netip.MustParseAddr("10.0.16.9")) {
					t.Errorf("--from %s: %s holds pa1's address, of another role", c.from, part.prefix)
				}
				ports := a.ports
				if !q.Proto.HasPorts() {
					ports = ranges.Span(0, 0)
				}
				if covered[part].Overlaps(ports) {
					t.Errorf("--from %s: %s answered twice on %s", c.from, part.prefix, covered[part].Intersect(ports))
				}
				covered[part] = covered[part].Union(ports)
				for _, addr := range []netip.Addr{part.prefix.Masked().Addr(), ranges.LastAddr(part.prefix)} {
					for _, r := range ports {
						for _, port := range []uint16{r.From, r.To} {
							d := p.Explain(policy.Query{From: addr, Role: role, Proto: q.Proto, Port: port})
							if d.Verdict != a.seg.Verdict || d.Prov != a.seg.Prov {
								t.Errorf("--from %s --port %s: %s on %d is %s by %s, the answer says %s by %s", c.from, c.port, addr, port, d.Verdict, d.Prov, a.seg.Verdict, a.seg.Prov)
							}
						}
					}
				}
			}
		}
		want := ranges.Span(q.From, q.To)
		for _, part := range src.parts {
			var got ranges.Ports
			for piece, ports := range covered {
				if part.prefix.Overlaps(piece.prefix) {
					got = got.Union(ports)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("--from %s --port %s: %s %s answered on %s only", c.from, c.port, part.owner, part.prefix, got)
			}
		}
	}
}

// TestExplainSources: --from takes a role, a node, an overlay or a range,
// and the answers name the sources that share a verdict, per sub-range of
// --port.
func TestExplainSources(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "ex.yaml")
	if err := os.WriteFile(file, []byte(explainSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		out  string
	}{
		{[]string{"--from", "agent", "--to", "m1", "--port", "8000-8300/tcp"},
			"ACCEPT  node a1, pool of agent (10.0.17.0-10.0.31.255) -> m1 (role master) 8000-8200/tcp, 8202-8300/tcp\n" +
				"  rule:  cluster members reach every port\n" +
				"  from:  nodes and pools at " + file + ":6:5\n" +
				"ACCEPT  pool of agent (10.0.16.0-10.0.16.8, 10.0.16.10-10.0.16.255) -> m1 (role master) 8000-8099/tcp, 8151-8200/tcp, 8202-8300/tcp\n" +
				"  rule:  cluster members reach every port\n" +
				"  from:  nodes and pools at " + file + ":6:5\n" +
				"DROP  pool of agent (10.0.16.0-10.0.16.8, 10.0.16.10-10.0.16.255) -> m1 (role master) 8100-8150/tcp\n" +
				"  rule:  10.0.16.0/24 to master on 8100-8150/tcp: denied\n" +
				"  from:  rules[0] at " + file + ":12:5\n" +
				"DROP  role agent -> m1 (role master) 8201/tcp\n" +
				"  rule:  agent to master on 8201/tcp,26257/tcp: denied\n" +
				"  from:  profile dcos at " + file + ":3:10\n"},
		{[]string{"--from", "m1", "--to", "a1", "--port", "22/tcp"},
			"ACCEPT  node m1 (10.0.0.1) -> a1 (role agent) 22/tcp\n" +
				"  rule:  cluster members reach every port\n" +
				"  from:  nodes and pools at " + file + ":6:5\n" +
				"ACCEPT  node m1 (fd00::1) -> a1 (role agent) 22/tcp\n" +
				"  rule:  cluster members reach every port\n" +
				"  from:  nodes and pools at " + file + ":6:5\n" +
				"  note:  node a1 has no IPv6 address: no such connection can reach it\n"},
		{[]string{"--from", "it", "--to", "m1", "--port", "22/tcp"},
			"DROP  overlay it -> m1 (role master) 22/tcp\n"},
		{[]string{"--from", "10.0.0.0/30", "--to", "m1", "--port", "22/tcp"},
			"DROP  10.0.0.0, 10.0.0.2/31 -> m1 (role master) 22/tcp\n" +
				"  no rule accepts it: what no rule accepts is logged and dropped\n" +
				"  from:  firewall.action at " + file + ":1:1\n" +
				"ACCEPT  10.0.0.1 -> m1 (role master) 22/tcp\n"},
	} {
		code, out, errOut := run(append([]string{"explain", file}, c.args...)...)
		if code != 0 || !strings.HasPrefix(out, c.out) {
			t.Errorf("%v: exit %d\n%s%s\nwant (prefix):\n%s", c.args, code, out, errOut, c.out)
		}
	}
	code, out, _ := run("explain", file, "--from", "agent", "--to", "m1", "--port", "8000-8300/tcp", "-o", "json")
	var e explanation
	if err := json.Unmarshal([]byte(out), &e); code != 0 || err != nil || e.Verdict != "MIXED" || len(e.Answers) != 4 || e.Rule != nil ||
		strings.Join(e.Answers[3].Sources, ",") != "role agent" || strings.Join(e.Answers[0].Ports, ",") != "8000-8200/tcp,8202-8300/tcp" {
		t.Errorf("json: exit %d, %v\n%s", code, err, out)
	}
	for _, c := range []struct{ from, want string }{
		{"nobody", `"nobody" is neither a node, a role, an overlay, an address nor a range (CIDR)`},
		{"10.0.0.1/24", "10.0.0.1/24 has host bits set: write 10.0.0.0/24"},
	} {
		if code, _, errOut := run("explain", file, "--from", c.from, "--to", "m1", "--port", "22/tcp"); code != ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("--from %s: exit %d, %s", c.from, code, errOut)
		}
	}
}
