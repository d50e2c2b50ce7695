package gen_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
)

// TestEtcdDropinListensOnLoopback: the drop-in of a member in the tree
// holds etcd.Env, loopback among the client URLs (etcd's TestListensOnLoopback
// checks the environment itself).
func TestEtcdDropinListensOnLoopback(t *testing.T) {
	tree := generate(t, filepath.Join(fixtures, "dcos-aws.yaml"))
	dropin := tree.File("nodes/master-a/rootfs/etc/systemd/system/" + etcd.Unit + ".d/" + etcd.Dropin)
	if dropin == nil {
		t.Fatal("master-a has no etcd drop-in")
	}
	if !strings.Contains(string(dropin.Data), `Environment="ETCD_LISTEN_CLIENT_URLS=https://10.0.1.10:2379,https://127.0.0.1:2379"`) {
		t.Errorf("the drop-in of master-a does not listen on loopback:\n%s", dropin.Data)
	}
}
