package inventory

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestInventoryTerraform reads the documented shape of terraform output
// -json: roles from the objects or from rules, addresses under every
// accepted key, IPv6 quoted, sorted by name; a wrong key is an error.
func TestInventoryTerraform(t *testing.T) {
	doc := `{
  "vpc_id": {"sensitive": false, "type": "string", "value": "vpc-1"},
  "rampart_nodes": {"sensitive": false, "type": ["object", {}], "value": {
    "master-1": {"role": "master", "public_ip": "147.75.1.10", "private_ip": "10.88.1.2", "ipv6_addresses": ["2604:1380:1::10"]},
    "agent-2": {"addresses": ["10.88.1.4", "10.88.1.4", "2604:1380:1::4"]},
    "agent-1": {"private_ips": ["10.88.1.3"], "public_ips": [], "ipv6": null}
  }},
  "edge": {"value": {"edge-1": {"role": "edge", "public_ip": "198.51.100.7", "private_ip": ""}}}
}`
	out := written(t)(Terraform([]byte(doc), []string{"rampart_nodes", "edge"}, []RoleRule{{Pattern: "agent-*", Role: "agent"}}))
	want := `nodes:
  - name: agent-1
    role: agent
    addresses: [10.88.1.3]
  - name: agent-2
    role: agent
    addresses: [10.88.1.4, "2604:1380:1::4"]
  - name: edge-1
    role: edge
    addresses: [198.51.100.7]
  - name: master-1
    role: master
    addresses: [147.75.1.10, 10.88.1.2, "2604:1380:1::10"]
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	for _, c := range []struct {
		doc, outputs, err string
	}{
		{doc, "", "agent-2 (output rampart_nodes): has no role"},
		{doc, "nodes", `terraform output "nodes" is missing; the outputs are: edge, rampart_nodes, vpc_id`},
		{doc, "vpc_id", `terraform output "vpc_id": its value must be an object`},
		{`{"rampart_nodes": {"value": {"web-1": {"role": "web", "ip": "1.2.3.4"}}}}`, "", `web-1 (output rampart_nodes): unknown key "ip"`},
		{`{"rampart_nodes": {"value": {"web-1": {"role": "web", "addresses": ["1.2.3.400"]}}}}`, "", `"1.2.3.400" is not an IP address`},
		{`{"rampart_nodes": {"value": {"Web_1": {"role": "web", "addresses": ["1.2.3.4"]}}}}`, "", `name "Web_1" is not a spec node name`},
		{`[1]`, "", "not the output of terraform output -json"},
	} {
		var outputs []string
		if c.outputs != "" {
			outputs = []string{c.outputs}
		}
		_, err := Terraform([]byte(c.doc), outputs, nil)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s %q: %v, want %q", c.doc[:min(40, len(c.doc))], c.outputs, err, c.err)
		}
	}
}

// TestParseRoleRule: PATTERN=ROLE with a valid glob and a spec role name.
func TestParseRoleRule(t *testing.T) {
	if r, err := ParseRoleRule("agent-*=agent"); err != nil || r != (RoleRule{"agent-*", "agent"}) {
		t.Errorf("agent-*=agent: %v %v", r, err)
	}
	for _, bad := range []string{"agent", "=agent", "agent-*=", "[=agent", "a*=Agent_X"} {
		if _, err := ParseRoleRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestNodes: addresses ordered public IPv4 (said or by address), private
// IPv4, IPv6, deduplicated; roles from the first matching rule, else the
// machine's own; every problem of every machine reported at once, sorted,
// and then no nodes at all.
func TestNodes(t *testing.T) {
	out := written(t)(Nodes([]Machine{
		{ID: "i-2", Name: "web-2", Role: "web", Addrs: []string{"2001:db8::2", "10.0.0.2", "198.51.100.2", "10.0.0.2"}},
		{ID: "i-1", Name: "web-1", Role: "db", Public: []string{"100.64.0.1"}, Private: []string{"203.0.113.9"}, Addrs: []string{"::ffff:10.0.0.1"}},
	}, []RoleRule{{Pattern: "web-1", Role: "web"}, {Pattern: "web-*", Role: "never"}}, "tag it"))
	want := `nodes:
  - name: web-1
    role: web
    addresses: [100.64.0.1, 10.0.0.1, 203.0.113.9]
  - name: web-2
    role: never
    addresses: [198.51.100.2, 10.0.0.2, "2001:db8::2"]
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	doc := "version: 1\ncluster: inv\nroles: {web: {zone: public}, never: {zone: private}}\n" + out.String()
	if _, err := spec.Parse("inventory.yaml", []byte(doc)); err != nil {
		t.Errorf("the section does not parse as part of a spec: %v", err)
	}

	_, err := Nodes([]Machine{
		{ID: "d-1", Name: "ok", Role: "web", Addrs: []string{"10.0.0.1"}},
		{ID: "d-2", Name: "ok", Role: "web", Addrs: []string{"10.0.0.2"}},
		{ID: "d-3", Name: "Bad_Name", Role: "Web Role", Addrs: []string{"10.0.0.300"}},
		{ID: "d-4", Name: "fresh", Role: "web", State: "provisioning"},
		{ID: "d-5", Name: "", Role: "all", Addrs: []string{"10.0.0.5"}},
		{ID: "d-6", Name: "lost", Addrs: []string{"10.0.0.6"}},
	}, nil, "tag it rampart:role=ROLE")
	var ie *Error
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want an *Error", err)
	}
	wantProblems := []string{
		`Bad_Name (d-3): name "Bad_Name" is not a spec node name (1 to 63 characters of a-z, 0-9 and -); role "Web Role" is not a spec role name (a-z first, at most 16 characters of a-z, 0-9 and -); "10.0.0.300" is not an IP address`,
		`d-5: has no name; role "all" is not a spec role name (a-z first, at most 16 characters of a-z, 0-9 and -)`,
		`fresh (d-4): has no address yet (state provisioning)`,
		`lost (d-6): has no role: tag it rampart:role=ROLE`,
		`ok (d-2): has the same name as d-1`,
	}
	if strings.Join(ie.Problems, "\n") != strings.Join(wantProblems, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ie.Problems, "\n"), strings.Join(wantProblems, "\n"))
	}
}

// written returns a function that fails the test on err and otherwise
// returns the nodes as Write prints them.
func written(t *testing.T) func([]Node, error) *bytes.Buffer {
	return func(nodes []Node, err error) *bytes.Buffer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Write(&out, nodes); err != nil {
			t.Fatal(err)
		}
		return &out
	}
}
