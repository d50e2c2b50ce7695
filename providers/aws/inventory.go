package aws

import (
	"context"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rampart-cluster/rampart/providers/inventory"
)

// InventoryOptions says which instances to read and how to name their roles.
type InventoryOptions struct {
	TagKey, TagValue string // only instances tagged TagKey=TagValue
	// RoleTag is the key of the tag that names an instance's role (TagRole
	// when ""). Roles are tried first: the first pattern that matches the
	// instance's name gives the role.
	RoleTag string
	Roles   []inventory.RoleRule // name patterns tried before RoleTag, in order (--role PATTERN=ROLE)
}

// Inventory reads the instances tagged TagKey=TagValue (pending, running,
// stopping or stopped) as spec nodes, sorted by name: the Name tag as the
// node's name, the role from a RoleRule or the role tag, and every address
// of every network interface, public and private, IPv4 and IPv6.
func (c *Client) Inventory(ctx context.Context, o InventoryOptions) ([]inventory.Node, error) {
	if o.RoleTag == "" {
		o.RoleTag = TagRole
	}
	pages := ec2.NewDescribeInstancesPaginator(c.EC2, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: awssdk.String("tag:" + o.TagKey), Values: []string{o.TagValue}},
		{Name: awssdk.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}},
	}})
	var found []inventory.Machine
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing instances tagged %s=%s: %w", o.TagKey, o.TagValue, err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				found = append(found, instanceMachine(in, o.RoleTag))
			}
		}
	}
	return inventory.Nodes(found, o.Roles, "tag it "+o.RoleTag+"=ROLE or pass --role PATTERN=ROLE")
}

// instanceMachine is what an instance says of itself: its Name tag, its role
// tag and every address of every network interface.
func instanceMachine(in types.Instance, roleTag string) inventory.Machine {
	c := inventory.Machine{ID: awssdk.ToString(in.InstanceId)}
	for _, t := range in.Tags {
		switch awssdk.ToString(t.Key) {
		case "Name":
			c.Name = awssdk.ToString(t.Value)
		case roleTag:
			c.Role = awssdk.ToString(t.Value)
		}
	}
	add := func(s *string) {
		if s != nil && *s != "" {
			c.Addrs = append(c.Addrs, *s)
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
