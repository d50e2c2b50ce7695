package gen_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestEtcdListensOnLoopback: every member takes client connections on its
// etcd address and on 127.0.0.1 (so etcdctl on the node reaches it at its
// default endpoint), advertises only its etcd address, and a member whose
// etcd address is 127.0.0.1 lists it once; the drop-in of the tree says so.
func TestEtcdListensOnLoopback(t *testing.T) {
	s, err := spec.LoadFile(filepath.Join(fixtures, "dcos-aws.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, n := range s.Nodes {
		if !gen.IsEtcdMember(s, n) {
			continue
		}
		checked++
		env := map[string]string{}
		for _, v := range gen.EtcdEnv(s, n, gen.EtcdNew) {
			env[v.Name] = v.Value
		}
		own := gen.EtcdClientURL(s, n)
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
	tree := generate(t, filepath.Join(fixtures, "dcos-aws.yaml"))
	dropin := tree.File("nodes/master-a/rootfs/etc/systemd/system/" + gen.EtcdUnit + ".d/" + gen.EtcdDropin)
	if dropin == nil || !strings.Contains(string(dropin.Data), `Environment="ETCD_LISTEN_CLIENT_URLS=https://10.0.1.10:2379,https://127.0.0.1:2379"`) {
		t.Errorf("the drop-in of master-a does not listen on loopback:\n%s", dropin.Data)
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
	for _, v := range gen.EtcdEnv(local, local.Node("e1"), gen.EtcdNew) {
		if v.Name == "ETCD_LISTEN_CLIENT_URLS" && v.Value != "https://127.0.0.1:2379" {
			t.Errorf("a member at 127.0.0.1: ETCD_LISTEN_CLIENT_URLS=%s, want it once", v.Value)
		}
	}
}
