package apply

import (
	"fmt"
	"slices"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/delivery"
)

// Target is one node and what apply brings to it.
type Target struct {
	Node    *spec.Node
	Address string           // where SSH connects (Address)
	Machine delivery.Machine // the machine the node boots as
	Files   []File           // what lands on it (NodeFiles)
}

// Address is where apply connects to a node: its ssh field (a host name
// or address, with an optional :port) when the spec gives one, else its
// first address.
func Address(n *spec.Node) string {
	if n.SSH != "" {
		return n.SSH
	}
	return n.Addresses[0].String()
}

// Targets lists the nodes to apply to, in spec order: every node, or the
// ones named (ErrUnknownNode for a name the spec lacks), each with its
// machine and files from the reviewed tree.
func Targets(s *spec.Spec, tree string, machines []delivery.Machine, names []string) ([]Target, error) {
	for _, name := range names {
		if s.Node(name) == nil {
			return nil, fmt.Errorf("--node %s: %w %s", name, ErrUnknownNode, s.File)
		}
	}
	manifest, err := gen.ReadManifest(tree)
	if err != nil {
		return nil, err
	}
	var out []Target
	for _, n := range s.Nodes {
		if len(names) > 0 && !slices.Contains(names, n.Name) {
			continue
		}
		m, ok := delivery.For(machines, n.Name, n.Role)
		if !ok {
			return nil, fmt.Errorf("node %s (role %s): %w", n.Name, n.Role, ErrNoMachine)
		}
		files, err := NodeFiles(tree, manifest, m)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		out = append(out, Target{Node: n, Address: Address(n), Machine: m, Files: files})
	}
	return out, nil
}
