package inventory

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// DefaultTerraformOutput is the terraform output inventory reads by default.
const DefaultTerraformOutput = "rampart_nodes"

// terraformFields are the keys a node object of a terraform output may have:
// its role, and its addresses under any of these names, each a string or a
// list of strings.
var terraformFields = []string{"role", "addresses", "public_ip", "public_ips", "private_ip", "private_ips", "ipv6", "ipv6_addresses"}

// Terraform reads `terraform output -json` and takes the nodes from
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
func Terraform(data []byte, outputs []string, rules []RoleRule) ([]Node, error) {
	var doc map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not the output of terraform output -json: %w", err)
	}
	if len(outputs) == 0 {
		outputs = []string{DefaultTerraformOutput}
	}
	var found []Machine
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
			c := Machine{ID: "output " + name, Name: n}
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
						c.Role = list[0]
					} else if len(list) > 1 {
						problems = append(problems, fmt.Sprintf("%s (output %s): role must be one string", n, name))
					}
					continue
				}
				c.Addrs = append(c.Addrs, list...)
			}
			found = append(found, c)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, &Error{Problems: problems}
	}
	return Nodes(found, rules, `give it a "role" or pass --role PATTERN=ROLE`)
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
