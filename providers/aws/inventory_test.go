package aws

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rampart-cluster/rampart/providers/inventory"
)

// TestInventoryAWS: instances tagged with the cluster come back as the
// spec's nodes: name from the Name tag, role from the role tag or a
// PATTERN=ROLE rule, every public and private IPv4 and IPv6 address; others
// (another cluster, terminated) are left out; a node without a role is an
// error and nothing is printed.
func TestInventoryAWS(t *testing.T) {
	e := newEnv(t)
	vpc, err := e.client.EC2.CreateVpc(e.ctx, &ec2.CreateVpcInput{CidrBlock: awssdk.String("10.9.0.0/16"), AmazonProvidedIpv6CidrBlock: awssdk.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := e.client.EC2.CreateSubnet(e.ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: awssdk.String("10.9.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	type launched struct{ id, public, private string }
	run := func(tags map[string]string) launched {
		t.Helper()
		var ts []ec2types.Tag
		for k, v := range tags {
			ts = append(ts, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
		}
		out, err := e.client.EC2.RunInstances(e.ctx, &ec2.RunInstancesInput{
			ImageId: awssdk.String("ami-12c6146b"), MinCount: awssdk.Int32(1), MaxCount: awssdk.Int32(1),
			NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{{DeviceIndex: awssdk.Int32(0), SubnetId: sub.Subnet.SubnetId, AssociatePublicIpAddress: awssdk.Bool(true)}},
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: ts}},
		})
		if err != nil {
			t.Fatal(err)
		}
		in := out.Instances[0]
		return launched{awssdk.ToString(in.InstanceId), awssdk.ToString(in.PublicIpAddress), awssdk.ToString(in.PrivateIpAddress)}
	}
	master := run(map[string]string{"Name": "master-a", TagCluster: "dcos-aws", TagRole: "master"})
	agent := run(map[string]string{"Name": "agent-7", TagCluster: "dcos-aws"})
	run(map[string]string{"Name": "other-1", TagCluster: "another", TagRole: "master"})
	gone := run(map[string]string{"Name": "master-z", TagCluster: "dcos-aws", TagRole: "master"})
	if _, err := e.client.EC2.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{gone.id}}); err != nil {
		t.Fatal(err)
	}
	// moto ignores Ipv6AddressCount and SecondaryPrivateIpAddressCount at
	// launch: the master's IPv6 and second private address are assigned after
	desc, err := e.client.EC2.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{master.id}})
	if err != nil {
		t.Fatal(err)
	}
	eni := desc.Reservations[0].Instances[0].NetworkInterfaces[0].NetworkInterfaceId
	if _, err := e.client.EC2.AssignIpv6Addresses(e.ctx, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: eni, Ipv6Addresses: []string{"2600:1f18:1::10"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.EC2.AssignPrivateIpAddresses(e.ctx, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: eni, PrivateIpAddresses: []string{"10.9.1.200"}}); err != nil {
		t.Fatal(err)
	}

	o := InventoryOptions{TagKey: TagCluster, TagValue: "dcos-aws", Roles: []inventory.RoleRule{{Pattern: "agent-*", Role: "agent"}}}
	nodes, err := e.client.Inventory(e.ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := inventory.Write(&out, nodes); err != nil {
		t.Fatal(err)
	}
	want := "nodes:\n" +
		"  - name: agent-7\n    role: agent\n    addresses: [" + agent.public + ", " + agent.private + "]\n" +
		"  - name: master-a\n    role: master\n    addresses: [" + master.public + ", " + master.private + ", 10.9.1.200, \"2600:1f18:1::10\"]\n"
	if netip.MustParseAddr(master.private).Compare(netip.MustParseAddr("10.9.1.200")) > 0 {
		t.Fatalf("moto gave the master %s; the test orders the private addresses by hand", master.private)
	}
	if out.String() != want {
		t.Errorf("inventory:\n%s\nwant:\n%s", out.String(), want)
	}

	o.Roles = nil
	_, err = e.client.Inventory(e.ctx, o)
	var inv *inventory.Error
	if !errors.As(err, &inv) || len(inv.Problems) != 1 || !strings.Contains(err.Error(), "agent-7 ("+agent.id+"): has no role: tag it rampart:role=ROLE or pass --role PATTERN=ROLE") {
		t.Errorf("without the role rule: %v", err)
	}
}
