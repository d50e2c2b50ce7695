package etcd_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/spec"
)

const fixtures = "../../fixtures"

// TestListensOnLoopback: every member takes client connections on its
// etcd address and on 127.0.0.1 (so etcdctl on the node reaches it at its
// default endpoint), advertises only its etcd address, and a member whose
// etcd address is 127.0.0.1 lists it once.
func TestListensOnLoopback(t *testing.T) {
	s, err := spec.LoadFile(filepath.Join(fixtures, "dcos-aws.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, n := range s.Nodes {
		if !etcd.IsMember(s, n) {
			continue
		}
		checked++
		env := map[string]string{}
		for _, v := range etcd.Env(s, n, etcd.New) {
			env[v.Name] = v.Value
		}
		own := etcd.ClientURL(s, n)
		if want := own + ",https://127.0.0.1:2379"; env["ETCD_LISTEN_CLIENT_URLS"] != want {
			t.Errorf("%s: ETCD_LISTEN_CLIENT_URLS=%s, want %s", n.Name, env["ETCD_LISTEN_CLIENT_URLS"], want)
		}
		if env["ETCD_ADVERTISE_CLIENT_URLS"] != own || strings.Contains(env["ETCD_LISTEN_PEER_URLS"], "127.0.0.1") {
			t.Errorf("%s: advertises %s, peers on %s: loopback is for local clients only", n.Name, env["ETCD_ADVERTISE_CLIENT_URLS"], env["ETCD_LISTEN_PEER_URLS"])
		}
	}
	if checked == 0 {
		t.Fatal("dcos-aws has no etcd member")
	}

	local, err := spec.Parse("local.yaml", []byte(`version: 1
cluster: local
profile: none
roles:
  etcd: {zone: private, etcd: true}
nodes:
  - {name: e1, role: etcd, addresses: [127.0.0.1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range etcd.Env(local, local.Node("e1"), etcd.New) {
		if v.Name == "ETCD_LISTEN_CLIENT_URLS" && v.Value != "https://127.0.0.1:2379" {
			t.Errorf("a member at 127.0.0.1: ETCD_LISTEN_CLIENT_URLS=%s, want it once", v.Value)
		}
	}
}
