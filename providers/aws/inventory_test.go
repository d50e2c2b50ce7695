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

	o := InventoryOptions{TagKey: TagCluster, TagValue: "dcos-aws", Roles: []RoleRule{{Pattern: "agent-*", Role: "agent"}}}
	nodes, err := e.client.Inventory(e.ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteNodes(&out, nodes); err != nil {
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
	var inv *InventoryError
	if !errors.As(err, &inv) || len(inv.Problems) != 1 || !strings.Contains(err.Error(), "agent-7 ("+agent.id+"): has no role: tag it or give --role PATTERN=ROLE") {
		t.Errorf("without the role rule: %v", err)
	}
}

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
	nodes, err := TerraformInventory([]byte(doc), []string{"rampart_nodes", "edge"}, []RoleRule{{Pattern: "agent-*", Role: "agent"}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteNodes(&out, nodes); err != nil {
		t.Fatal(err)
	}
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
		_, err := TerraformInventory([]byte(c.doc), outputs, nil)
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
