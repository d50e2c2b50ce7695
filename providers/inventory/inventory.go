// Package inventory turns the machines a provider (or terraform) knows into
// the spec's nodes: section: names, roles and every address, so that the
// whitelist is filled from what exists. The provider adapters read their
// APIs; this package checks, orders and prints what they found, the same way
// for all of them.
package inventory

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// Node is one machine as a node of the spec.
type Node struct {
	Name      string       // the machine's name, a valid spec node name
	Role      string       // a valid spec role name: from the first matching RoleRule, else the one the provider found
	Addresses []netip.Addr // public IPv4, private IPv4, then IPv6, each sorted
	ID        string       // the provider's id of the machine, or where it was read
}

// RoleRule gives a role to the machines whose name matches a glob
// (path.Match syntax, e.g. "agent-*").
type RoleRule struct {
	Pattern string // glob matched against the machine's whole name
	Role    string // the spec role given to the machines that match
}

// ParseRoleRule reads "PATTERN=ROLE", e.g. "agent-*=agent".
func ParseRoleRule(s string) (RoleRule, error) {
	pat, role, ok := strings.Cut(s, "=")
	if !ok || pat == "" || role == "" {
		return RoleRule{}, fmt.Errorf("%q is not PATTERN=ROLE (e.g. agent-*=agent)", s)
	}
	if _, err := path.Match(pat, ""); err != nil {
		return RoleRule{}, fmt.Errorf("%q: bad pattern %q: %v", s, pat, err)
	}
	if !spec.ValidRoleName(role) {
		return RoleRule{}, fmt.Errorf("%q: %q is not a spec role name (a-z first, at most 16 characters of a-z, 0-9 and -)", s, role)
	}
	return RoleRule{Pattern: pat, Role: role}, nil
}

// Machine is what a provider found, before it is checked: its addresses as
// the provider gives them. Public and Private hold the IPv4 addresses the
// provider says are public or private; Addrs those it does not say, which
// are sorted by the address itself (RFC 1918, loopback and link-local are
// private). IPv6 addresses may stand in any of the three.
type Machine struct {
	ID, Name, Role         string   // the provider's id, the machine's name and its role ("" when the provider names none)
	Public, Private, Addrs []string // unparsed addresses, as the provider gives them (see above)
	State                  string   // the provider's state, said when it has no address yet
}

// Error lists the machines that cannot be written as spec nodes. Nothing is
// printed then: a partial whitelist would shut the missing nodes out of the
// cluster.
type Error struct {
	Problems []string // one line per machine that cannot be a node, "name (id): why", sorted
}

// Error lists every problem, one a line.
func (e *Error) Error() string {
	return fmt.Sprintf("%d machine(s) cannot be spec nodes, nothing printed:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// Nodes checks the machines and returns them as nodes sorted by name. A
// machine's role is the first rule's whose pattern matches its name, else
// the one the provider found (its tag). noRole says how to give a machine
// a role, for the problem of a machine without one. Any problem with any
// machine is an *Error.
func Nodes(found []Machine, rules []RoleRule, noRole string) ([]Node, error) {
	var nodes []Node
	var problems []string
	byName := map[string]string{}
	for _, m := range found {
		what := m.ID
		if m.Name != "" {
			what = fmt.Sprintf("%s (%s)", m.Name, m.ID)
		}
		for _, r := range rules {
			if ok, _ := path.Match(r.Pattern, m.Name); ok {
				m.Role = r.Role
				break
			}
		}
		var bad []string
		switch {
		case m.Name == "":
			bad = append(bad, "has no name")
		case !spec.ValidNodeName(m.Name):
			bad = append(bad, fmt.Sprintf("name %q is not a spec node name (1 to 63 characters of a-z, 0-9 and -)", m.Name))
		case byName[m.Name] != "":
			bad = append(bad, "has the same name as "+byName[m.Name])
		}
		if m.Name != "" && byName[m.Name] == "" {
			byName[m.Name] = m.ID
		}
		switch {
		case m.Role == "":
			bad = append(bad, "has no role: "+noRole)
		case !spec.ValidRoleName(m.Role):
			bad = append(bad, fmt.Sprintf("role %q is not a spec role name (a-z first, at most 16 characters of a-z, 0-9 and -)", m.Role))
		}
		addrs, err := order(m)
		switch {
		case err != nil:
			bad = append(bad, err.Error())
		case len(addrs) == 0 && m.State != "":
			bad = append(bad, fmt.Sprintf("has no address yet (state %s)", m.State))
		case len(addrs) == 0:
			bad = append(bad, "has no address yet")
		}
		if len(bad) > 0 {
			problems = append(problems, what+": "+strings.Join(bad, "; "))
			continue
		}
		nodes = append(nodes, Node{Name: m.Name, Role: m.Role, Addresses: addrs, ID: m.ID})
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, &Error{Problems: problems}
	}
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return nodes, nil
}

// order parses, deduplicates and orders a machine's addresses: public IPv4,
// private IPv4, then IPv6, each sorted.
func order(m Machine) ([]netip.Addr, error) {
	var pub, priv, v6 []netip.Addr
	for class, list := range [][]string{m.Public, m.Private, m.Addrs} {
		for _, s := range list {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address", s)
			}
			a = a.Unmap()
			switch {
			case a.Is6():
				v6 = append(v6, a)
			case class == 0:
				pub = append(pub, a)
			case class == 1, a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast():
				priv = append(priv, a)
			default:
				pub = append(pub, a)
			}
		}
	}
	var out []netip.Addr
	for _, l := range [][]netip.Addr{pub, priv, v6} {
		slices.SortFunc(l, netip.Addr.Compare)
		out = append(out, slices.Compact(l)...)
	}
	return out, nil
}

// Write prints nodes as the spec's nodes: section, ready to paste.
func Write(w io.Writer, nodes []Node) error {
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
