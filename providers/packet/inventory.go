package packet

import (
	"context"
	"slices"

	"github.com/rampart-cluster/rampart/providers/inventory"
)

// InventoryOptions says which devices to read and how to name their roles.
type InventoryOptions struct {
	Project string // the id of the project whose devices are read
	Tag     string // only devices with this tag; "" for all
	// RoleTag is the prefix of the tag that carries a device's role
	// (TagRole when ""): a device tagged rampart:role=agent has role agent.
	RoleTag string
	// Roles are tried first, in order; the first pattern that matches the
	// hostname gives the role.
	Roles []inventory.RoleRule
}

// Inventory reads the project's live devices (with the tag, when given) as
// spec nodes sorted by name: the hostname, the role from a rule or the role
// tag, and every address the device has, public and private (as Metal says
// it is), IPv4 and IPv6.
func (c *Client) Inventory(ctx context.Context, o InventoryOptions) ([]inventory.Node, error) {
	devices, err := c.listDevices(ctx, o.Project, listFilter{Tag: o.Tag})
	if err != nil {
		return nil, err
	}
	roleTag := o.RoleTag
	if roleTag == "" {
		roleTag = TagRole
	}
	var found []inventory.Machine
	for _, d := range devices {
		if gone[d.State] || (o.Tag != "" && !slices.Contains(d.Tags, o.Tag)) {
			continue
		}
		m := inventory.Machine{ID: d.ID, Name: d.Hostname, Role: tagValue(d.Tags, roleTag), State: d.State}
		for _, ip := range d.Network {
			switch {
			case ip == nil:
			case ip.Public:
				m.Public = append(m.Public, ip.Address)
			default:
				m.Private = append(m.Private, ip.Address)
			}
		}
		found = append(found, m)
	}
	return inventory.Nodes(found, o.Roles, "tag it "+roleTag+"ROLE or pass --role PATTERN=ROLE")
}
