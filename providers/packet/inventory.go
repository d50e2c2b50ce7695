package packet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
)

// RoleRule maps hostnames matching a glob pattern (path.Match syntax, e.g.
// "agent-*") to a role.
type RoleRule struct {
	Pattern string
	Role    string
}

// ParseRoleRule reads "PATTERN=ROLE".
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

// InventoryOptions says which devices to read and how to name their roles.
type InventoryOptions struct {
	Project string
	Tag     string // only devices with this tag; "" for all
	// RoleTag is the prefix of the tag that carries a device's role
	// (TagRole when ""): a device tagged rampart:role=agent has role agent.
	RoleTag string
	// Roles are tried first, in order; the first pattern that matches the
	// hostname gives the role.
	Roles []RoleRule
}

// InventoryNode is one device as a spec node.
type InventoryNode struct {
	Name      string
	Role      string
	Addresses []netip.Addr // public IPv4, private IPv4, then IPv6, each sorted
	DeviceID  string
}

// InventoryError lists the devices that cannot be written as spec nodes.
// Nothing is printed then: a partial whitelist would shut the missing nodes
// out of the cluster.
type InventoryError struct {
	Problems []string
}

// Error lists the problems, one a line.
func (e *InventoryError) Error() string {
	return "cannot write the nodes section:\n  " + strings.Join(e.Problems, "\n  ")
}

// What the spec accepts as node and role names.
var (
	nodeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	roleName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
)

// Inventory reads the project's live devices (with the tag, when given) as
// spec nodes sorted by name: the hostname, the role from a rule or the role
// tag, and every address the device has, public and private, IPv4 and IPv6.
func (c *Client) Inventory(ctx context.Context, o InventoryOptions) ([]InventoryNode, error) {
	devices, err := c.listDevices(ctx, o.Project, listFilter{Tag: o.Tag})
	if err != nil {
		return nil, err
	}
	roleTag := o.RoleTag
	if roleTag == "" {
		roleTag = TagRole
	}
	var nodes []InventoryNode
	var problems []string
	seen := map[string]string{}
	for _, d := range devices {
		if gone[d.State] || (o.Tag != "" && !slices.Contains(d.Tags, o.Tag)) {
			continue
		}
		n := InventoryNode{Name: d.Hostname, DeviceID: d.ID}
		if !nodeName.MatchString(d.Hostname) {
			problems = append(problems, fmt.Sprintf("device %s: hostname %q is not a spec node name (1 to 63 characters of a-z, 0-9 and -)", d.ID, d.Hostname))
			continue
		}
		if first, dup := seen[d.Hostname]; dup {
			problems = append(problems, fmt.Sprintf("devices %s and %s both have hostname %s", first, d.ID, d.Hostname))
			continue
		}
		seen[d.Hostname] = d.ID
		for _, r := range o.Roles {
			if ok, _ := path.Match(r.Pattern, d.Hostname); ok {
				n.Role = r.Role
				break
			}
		}
		if n.Role == "" {
			n.Role = tagValue(d.Tags, roleTag)
		}
		if n.Role == "" {
			problems = append(problems, fmt.Sprintf("%s (%s): no role: tag it %sROLE or pass --role PATTERN=ROLE", d.Hostname, d.ID, roleTag))
			continue
		}
		if !roleName.MatchString(n.Role) {
			problems = append(problems, fmt.Sprintf("%s (%s): %q is not a spec role name (a-z first, at most 16 characters of a-z, 0-9 and -)", d.Hostname, d.ID, n.Role))
			continue
		}
		var pub4, priv4, v6 []netip.Addr
		for _, ip := range d.Network {
			if ip == nil {
				continue
			}
			a, err := netip.ParseAddr(ip.Address)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s (%s): address %q: %v", d.Hostname, d.ID, ip.Address, err))
				continue
			}
			a = a.Unmap()
			switch {
			case a.Is6():
				v6 = append(v6, a)
			case ip.Public:
				pub4 = append(pub4, a)
			default:
				priv4 = append(priv4, a)
			}
		}
		for _, l := range [][]netip.Addr{pub4, priv4, v6} {
			slices.SortFunc(l, func(a, b netip.Addr) int { return a.Compare(b) })
			n.Addresses = append(n.Addresses, slices.Compact(l)...)
		}
		if len(n.Addresses) == 0 {
			problems = append(problems, fmt.Sprintf("%s (%s): no addresses yet (state %s); inventory it once it is provisioned", d.Hostname, d.ID, d.State))
			continue
		}
		nodes = append(nodes, n)
	}
	if len(problems) > 0 {
		return nil, &InventoryError{Problems: problems}
	}
	slices.SortFunc(nodes, func(a, b InventoryNode) int { return strings.Compare(a.Name, b.Name) })
	return nodes, nil
}

// WriteNodes prints nodes as the spec's nodes: section, ready to paste.
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
