package packet

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/inventory"
	"github.com/rampart-cluster/rampart/providers/packet/packetfake"
)

func ips(addrs ...string) []packetfake.IP {
	var out []packetfake.IP
	for _, a := range addrs {
		pub := !strings.HasPrefix(a, "10.")
		out = append(out, packetfake.IP{Addr: netip.MustParseAddr(a), Public: pub})
	}
	return out
}

func TestInventoryWritesTheNodesSection(t *testing.T) {
	s, c := startFake(t)
	c.PerPage = 2
	s.AddDevice(packetfake.Device{Project: project, Hostname: "master-1", Tags: []string{"rampart:role=master", "dc"},
		IPs: ips("2604:1380:1::10", "10.88.1.2", "147.75.1.10", "147.75.9.1")})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-1", Tags: []string{"dc"}, IPs: ips("147.75.1.11", "10.88.1.3", "2604:1380:1::11")})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-2", Tags: []string{"dc", "rampart:role=master"}, IPs: ips("10.88.1.4")})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "old", Tags: []string{"dc"}, State: "deprovisioning"})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "elsewhere", Tags: []string{"rampart:role=agent"}})
	nodes, err := c.Inventory(context.Background(), InventoryOptions{Project: project, Tag: "dc", Roles: []inventory.RoleRule{{Pattern: "agent-*", Role: "agent"}}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := inventory.Write(&out, nodes); err != nil {
		t.Fatal(err)
	}
	want := `nodes:
  - name: agent-1
    role: agent
    addresses: [147.75.1.11, 10.88.1.3, "2604:1380:1::11"]
  - name: agent-2
    role: agent
    addresses: [10.88.1.4]
  - name: master-1
    role: master
    addresses: [147.75.1.10, 147.75.9.1, 10.88.1.2, "2604:1380:1::10"]
`
	if out.String() != want {
		t.Errorf("inventory:\n%s\nwant:\n%s", out.String(), want)
	}
	if n := s.Count(func(c packetfake.Call) bool {
		return c.Op == packetfake.OpListDevices && strings.Contains(c.Path, "tag=dc")
	}); n != 2 {
		t.Errorf("%d list calls with tag=dc, want 2 pages", n)
	}
	// the section is a valid part of a spec, and says what the devices have
	doc := "version: 1\ncluster: inv\nos: {variant: flatcar, version: 1.1.0}\nprofile: dcos\n" + out.String()
	sp, err := spec.Parse("inventory.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("the inventory does not parse as a spec: %v\n%s", err, doc)
	}
	if len(sp.Nodes) != 3 || sp.Nodes[2].Name != "master-1" || len(sp.Nodes[2].Addresses) != 4 || !sp.Nodes[2].Addresses[3].Is6() {
		t.Errorf("parsed nodes = %+v", sp.Nodes)
	}
}

func TestInventoryRefusesAnIncompleteWhitelist(t *testing.T) {
	s, c := startFake(t)
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-1", Tags: []string{"rampart:role=agent"}})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "mystery"})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "Web.example.com", Tags: []string{"rampart:role=agent"}})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "odd", Tags: []string{"rampart:role=Big Role"}})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "fresh", Tags: []string{"rampart:role=agent"}, IPs: []packetfake.IP{}})
	_, err := c.Inventory(context.Background(), InventoryOptions{Project: project})
	var ie *inventory.Error
	if !errors.As(err, &ie) || len(ie.Problems) != 4 {
		t.Fatalf("inventory: %v, want four problems", err)
	}
	for i, w := range []string{
		`name "Web.example.com" is not a spec node name`,
		"fresh (00000001-0000-4000-8000-000000000005): has no address yet (state active)",
		"mystery (00000001-0000-4000-8000-000000000002): has no role: tag it rampart:role=ROLE or pass --role PATTERN=ROLE",
		`role "Big Role" is not a spec role name`,
	} {
		if !strings.Contains(ie.Problems[i], w) {
			t.Errorf("problem %d = %q, want %q", i, ie.Problems[i], w)
		}
	}
	// a custom role tag and a mapping settle it
	nodes, err := c.Inventory(context.Background(), InventoryOptions{Project: project, RoleTag: "kind=", Tag: "rampart:role=agent",
		Roles: []inventory.RoleRule{{Pattern: "agent-?", Role: "worker"}}})
	if err == nil || !strings.Contains(err.Error(), "tag it kind=ROLE") {
		t.Errorf("inventory with role tag kind=: %v, %v", nodes, err)
	}
}
