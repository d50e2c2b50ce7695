package etcd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/spec"
)

const threeMembers = `version: 1
cluster: three
profile: none
roles:
  master: {zone: admin, etcd: true}
  agent: {zone: private, etcd_client: true}
nodes:
  - {name: m1, role: master, addresses: [10.0.0.1]}
  - {name: m2, role: master, addresses: [203.0.113.2, 10.0.0.2]}
  - {name: m3, role: master, addresses: [10.0.0.3]}
  - {name: a1, role: agent, addresses: [10.0.1.1]}
etcd: {client_port: 2379, peer_port: 2380}
`

func parse(t *testing.T, text string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse("cluster.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTopology: the members in spec order with the client roles, each
// member's etcd address its first private one.
func TestTopology(t *testing.T) {
	s := parse(t, threeMembers)
	var names []string
	for _, m := range etcd.Members(s) {
		names = append(names, m.Name+":"+m.Role+":"+strings.Join(m.Clients, ","))
	}
	if got := strings.Join(names, " "); got != "m1:master:agent m2:master:agent m3:master:agent" {
		t.Errorf("members %s", got)
	}
	if got := etcd.PeerURL(s, s.Node("m2")); got != "https://10.0.0.2:2380" {
		t.Errorf("m2's peer URL %s, want its private address's", got)
	}
	if etcd.IsMember(s, s.Node("a1")) || !etcd.IsMember(s, s.Node("m1")) {
		t.Error("IsMember")
	}
}

// TestReplaceCommands: the commands run as printed on a member: etcdctl
// talks to its loopback client URL with the CA and client pair at their
// paths on the member (no path of a state directory), and ends by adding
// m2 with its peer URL.
func TestReplaceCommands(t *testing.T) {
	s := parse(t, threeMembers)
	cmds := etcd.ReplaceCommands(s, s.Node("m2"))
	if len(cmds) != 3 {
		t.Fatalf("%d commands, want 3", len(cmds))
	}
	flags := "ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/ssl/certs/etcd/ca.crt --cert=/etc/ssl/certs/etcd/client.crt --key=/etc/ssl/certs/etcd/client.key "
	for _, c := range cmds {
		if strings.Count(c, "etcdctl ") != strings.Count(c, flags) || !strings.Contains(c, flags) {
			t.Errorf("%s\ndoes not use %s on every etcdctl", c, flags)
		}
	}
	if !strings.HasSuffix(cmds[2], " member add m2 --peer-urls=https://10.0.0.2:2380") {
		t.Errorf("the last command does not add m2: %s", cmds[2])
	}
	if q := etcd.ShellQuote("it's"); q != `'it'\''s'` {
		t.Errorf("ShellQuote(it's) = %s", q)
	}
	if q := etcd.ShellQuote("/a/b-c.d"); q != "/a/b-c.d" {
		t.Errorf("ShellQuote quotes a plain path: %s", q)
	}
}

// TestRefusals compares the refusals by value: the sentinel each matches
// and the node it names.
func TestRefusals(t *testing.T) {
	three := parse(t, threeMembers)
	one := parse(t, strings.Replace(strings.Replace(threeMembers, "  - {name: m2, role: master, addresses: [203.0.113.2, 10.0.0.2]}\n", "", 1), "  - {name: m3, role: master, addresses: [10.0.0.3]}\n", "", 1))
	cases := []struct {
		name string
		err  error
		want error
		says string
	}{
		{"replace a non-member", etcd.CheckReplace(three, three.Node("a1")), etcd.ErrNotMember, "--replace is for etcd members, and a1 (role agent) is not one"},
		{"replace the only member", etcd.CheckReplace(one, one.Node("m1")), etcd.ErrOnlyMember, "m1 is the only etcd member"},
		{"replace one of three", etcd.CheckReplace(three, three.Node("m2")), nil, ""},
		{"reinstall one of three", etcd.CheckReinstall(three, three.Node("m2"), false), etcd.ErrWouldBootstrap, "m2 is one of 3 etcd members"},
		{"reinstall one of three, replacing it", etcd.CheckReinstall(three, three.Node("m2"), true), nil, ""},
		{"reinstall the only member", etcd.CheckReinstall(one, one.Node("m1"), false), nil, ""},
		{"reinstall a non-member", etcd.CheckReinstall(three, three.Node("a1"), false), nil, ""},
		{"reinstall a replacement first", etcd.CheckMembershipReplaced(three.Node("m2"), "c.yaml", false), etcd.ErrMembershipNotReplaced, "  3. rampart recover m2 -f c.yaml --replace --reinstall --membership-done --yes"},
		{"reinstall a replacement after", etcd.CheckMembershipReplaced(three.Node("m2"), "c.yaml", true), nil, ""},
	}
	for _, c := range cases {
		if c.want == nil {
			if c.err != nil {
				t.Errorf("%s: %v", c.name, c.err)
			}
			continue
		}
		if !errors.Is(c.err, c.want) || !strings.Contains(c.err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", c.name, c.err, c.want, c.says)
		}
	}
}
