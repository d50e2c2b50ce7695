package aws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// InventoryNode is a machine found at AWS (or in terraform's outputs), as a
// node of the spec.
type InventoryNode struct {
	Name      string
	Role      string
	Addresses []netip.Addr // public IPv4, private IPv4, then IPv6, each sorted
	ID        string       // the instance id, or the terraform output it came from
}

// RoleRule gives the role to the machines whose name matches a glob.
type RoleRule struct{ Pattern, Role string }

// The spec's name rules (generator/spec), for what inventory prints.
var (
	nodeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	roleName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
)

// ParseRoleRule reads "PATTERN=ROLE", e.g. "agent-*=agent".
func ParseRoleRule(s string) (RoleRule, error) {
	pat, role, ok := strings.Cut(s, "=")
	if !ok || pat == "" || role == "" {
		return RoleRule{}, fmt.Errorf("%q is not PATTERN=ROLE (e.g. agent-*=agent)", s)
	}
	if _, err := path.Match(pat, ""); err != nil {
		return RoleRule{}, fmt.Errorf("%q: bad pattern %q: %v", s, pat, err)
	}
	if !roleName.MatchString(role) {
		return RoleRule{}, fmt.Errorf("%q: %q is not a spec role name (a-z first, at most 16 characters of a-z, 0-9 and -)", s, role)
	}
	return RoleRule{Pattern: pat, Role: role}, nil
}

// InventoryOptions says which instances to read and how to name their roles.
type InventoryOptions struct {
	TagKey, TagValue string // only instances tagged TagKey=TagValue
	// RoleTag is the key of the tag that names an instance's role (TagRole
	// when ""). Roles are tried first: the first pattern that matches the
	// instance's name gives the role.
	RoleTag string
	Roles   []RoleRule
}

// InventoryError lists the machines that cannot be written as spec nodes.
// Nothing is printed then: a partial whitelist would shut the missing nodes
// out of the cluster.
type InventoryError struct{ Problems []string }

// Error lists every problem, one a line.
func (e *InventoryError) Error() string {
	return fmt.Sprintf("%d machine(s) cannot be spec nodes, nothing printed:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// Inventory reads the instances tagged TagKey=TagValue (pending, running,
// stopping or stopped) as spec nodes, sorted by name: the Name tag as the
// node's name, the role from a RoleRule or the role tag, and every address
// of every network interface, public and private, IPv4 and IPv6.
func (c *Client) Inventory(ctx context.Context, o InventoryOptions) ([]InventoryNode, error) {
	if o.RoleTag == "" {
		o.RoleTag = TagRole
	}
	pages := ec2.NewDescribeInstancesPaginator(c.EC2, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: awssdk.String("tag:" + o.TagKey), Values: []string{o.TagValue}},
		{Name: awssdk.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	var found []candidate
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing instances tagged %s=%s: %w", o.TagKey, o.TagValue, err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				found = append(found, instanceCandidate(in, o.RoleTag))
			}
		}
	}
	return finish(found, o.Roles)
}

// candidate is a machine before its role and name are checked.
type candidate struct {
	id, name, role string
	addrs          []string
}

func instanceCandidate(in types.Instance, roleTag string) candidate {
	c := candidate{id: awssdk.ToString(in.InstanceId)}
	for _, t := range in.Tags {
		switch awssdk.ToString(t.Key) {
		case "Name":
			c.name = awssdk.ToString(t.Value)
		case roleTag:
			c.role = awssdk.ToString(t.Value)
		}
	}
	add := func(s *string) {
		if s != nil && *s != "" {
			c.addrs = append(c.addrs, *s)
		}
	}
	add(in.PublicIpAddress)
	add(in.PrivateIpAddress)
	add(in.Ipv6Address)
	for _, ni := range in.NetworkInterfaces {
		if ni.Association != nil {
			add(ni.Association.PublicIp)
		}
		add(ni.PrivateIpAddress)
		for _, p := range ni.PrivateIpAddresses {
			add(p.PrivateIpAddress)
			if p.Association != nil {
				add(p.Association.PublicIp)
			}
		}
		for _, a := range ni.Ipv6Addresses {
			add(a.Ipv6Address)
		}
	}
	return c
}

// finish checks names and roles and orders the addresses; any problem with
// any machine is an InventoryError.
func finish(found []candidate, rules []RoleRule) ([]InventoryNode, error) {
	var nodes []InventoryNode
	var problems []string
	byName := map[string]string{}
	for _, c := range found {
		what := c.id
		if c.name != "" {
			what = fmt.Sprintf("%s (%s)", c.name, c.id)
		}
		for _, r := range rules {
			if ok, _ := path.Match(r.Pattern, c.name); ok {
				c.role = r.Role
				break
			}
		}
		var bad []string
		switch {
		case c.name == "":
			bad = append(bad, "has no name")
		case !nodeName.MatchString(c.name):
			bad = append(bad, fmt.Sprintf("name %q is not a spec node name (a-z, 0-9 and -, at most 63 characters)", c.name))
		case byName[c.name] != "":
			bad = append(bad, "has the same name as "+byName[c.name])
		}
		if c.name != "" {
			byName[c.name] = c.id
		}
		switch {
		case c.role == "":
			bad = append(bad, "has no role: tag it or give --role PATTERN=ROLE")
		case !roleName.MatchString(c.role):
			bad = append(bad, fmt.Sprintf("role %q is not a spec role name", c.role))
		}
		addrs, err := orderAddresses(c.addrs)
		if err != nil {
			bad = append(bad, err.Error())
		} else if len(addrs) == 0 {
			bad = append(bad, "has no address yet")
		}
		if len(bad) > 0 {
			problems = append(problems, what+": "+strings.Join(bad, "; "))
			continue
		}
		nodes = append(nodes, InventoryNode{Name: c.name, Role: c.role, Addresses: addrs, ID: c.id})
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &InventoryError{Problems: problems}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes, nil
}

// orderAddresses parses, deduplicates and orders addresses: public IPv4,
// private IPv4, then IPv6, each sorted.
func orderAddresses(in []string) ([]netip.Addr, error) {
	var pub, priv, v6 []netip.Addr
	for _, s := range in {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", s)
		}
		a = a.Unmap()
		switch {
		case a.Is6():
			v6 = append(v6, a)
		case a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast():
			priv = append(priv, a)
		default:
			pub = append(pub, a)
		}
	}
	var out []netip.Addr
	for _, l := range [][]netip.Addr{pub, priv, v6} {
		slices.SortFunc(l, netip.Addr.Compare)
		out = append(out, slices.Compact(l)...)
	}
	return out, nil
}

// WriteNodes prints the spec's nodes: section.
func WriteNodes(w io.Writer, nodes []InventoryNode) error {
	var b bytes.Buffer
	b.WriteString("nodes:\n")
	for _, n := range nodes {
		addrs := make([]string, len(n.Addresses))
		for i, a := range n.Addresses {
			addrs[i] = a.String()
			if a.Is6() {
				addrs[i] = `"` + addrs[i] + `"`
			}
		}
		fmt.Fprintf(&b, "  - name: %s\n    role: %s\n    addresses: [%s]\n", n.Name, n.Role, strings.Join(addrs, ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// DefaultTerraformOutput is the terraform output inventory reads by default.
const DefaultTerraformOutput = "rampart_nodes"

// terraformFields are the keys a node object of a terraform output may have:
// its role, and its addresses under any of these names, each a string or a
// list of strings.
var terraformFields = []string{"role", "addresses", "public_ip", "public_ips", "private_ip", "private_ips", "ipv6", "ipv6_addresses"}

// TerraformInventory reads `terraform output -json` and takes the nodes from
// the named outputs (DefaultTerraformOutput when none). Each output's value
// is an object of node name → node object:
//
//	{"rampart_nodes": {"value": {
//	  "master-1": {"role": "master", "public_ip": "147.75.1.10",
//	               "private_ip": "10.88.1.2", "ipv6_addresses": ["2604:1380:1::10"]},
//	  "agent-1":  {"role": "agent", "addresses": ["10.88.1.3"]}}}}
//
// A node object holds "role" (optional where a RoleRule names it) and its
// addresses under "addresses", "public_ip(s)", "private_ip(s)", "ipv6" or
// "ipv6_addresses"; any other key is an error, so that a renamed field never
// drops addresses silently.
func TerraformInventory(data []byte, outputs []string, rules []RoleRule) ([]InventoryNode, error) {
	var doc map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not the output of terraform output -json: %w", err)
	}
	if len(outputs) == 0 {
		outputs = []string{DefaultTerraformOutput}
	}
	var found []candidate
	var problems []string
	for _, name := range outputs {
		out, ok := doc[name]
		if !ok {
			var have []string
			for k := range doc {
				have = append(have, k)
			}
			sort.Strings(have)
			return nil, fmt.Errorf("terraform output %q is missing; the outputs are: %s", name, strings.Join(have, ", "))
		}
		var nodes map[string]map[string]json.RawMessage
		if err := json.Unmarshal(out.Value, &nodes); err != nil {
			return nil, fmt.Errorf("terraform output %q: its value must be an object of node name -> {role, addresses, ...}: %w", name, err)
		}
		names := make([]string, 0, len(nodes))
		for n := range nodes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c := candidate{id: "output " + name, name: n}
			keys := make([]string, 0, len(nodes[n]))
			for k := range nodes[n] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				v := nodes[n][k]
				if !slices.Contains(terraformFields, k) {
					problems = append(problems, fmt.Sprintf("%s (output %s): unknown key %q; a node has %s", n, name, k, strings.Join(terraformFields, ", ")))
					continue
				}
				list, err := stringOrList(v)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s (output %s): %s: %v", n, name, k, err))
					continue
				}
				if k == "role" {
					if len(list) == 1 {
						c.role = list[0]
					} else if len(list) > 1 {
						problems = append(problems, fmt.Sprintf("%s (output %s): role must be one string", n, name))
					}
					continue
				}
				c.addrs = append(c.addrs, list...)
			}
			found = append(found, c)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &InventoryError{Problems: problems}
	}
	return finish(found, rules)
}

// stringOrList reads a JSON string, a list of strings, or null.
func stringOrList(v json.RawMessage) ([]string, error) {
	if string(v) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(v, &one); err == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, fmt.Errorf("want a string or a list of strings, got %s", v)
	}
	return slices.DeleteFunc(list, func(s string) bool { return s == "" }), nil
}
