package bootproof

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/internal/vmlab"
)

// TestEtcdCluster boots the three members of an etcd cluster, each from its
// final userdata (the state's Ignition config, with the member's key):
// rampart's preset enables etcd-member.service (in the image, Debian's
// etcd-server stands in for Flatcar's etcd-member) and its drop-in
// configures it; the members must form a healthy cluster over TLS, with
// the certificates Ignition wrote, refusing clients without a certificate.
func TestEtcdCluster(t *testing.T) {
	t.Parallel()
	img, ign := image(t), ignition(t)
	g := generate(t, "etcd-members")
	l := newLab(t)
	began := time.Now()
	var vms []*vmlab.VM
	var endpoints []string
	for _, n := range g.spec.Nodes {
		var addrs []netip.Prefix
		for _, a := range n.Addresses {
			p := labNet4
			if a.Is6() {
				p = labNet6
			}
			if !p.Contains(a) {
				t.Fatalf("node %s: %s is outside the lab's %s", n.Name, a, p)
			}
			addrs = append(addrs, netip.PrefixFrom(a, p.Bits()))
		}
		vms = append(vms, vmlab.Start(t, img, l.br, vmlab.Config{Name: n.Name, Ignition: g.userdata(t, n.Name, "ignition.json"),
			IgnitionBinary: ign, Addrs: addrs, SSHFrom: l.admin.ns, MemoryMiB: 768,
			// Three VMs boot at once, beside the other tests' VMs: measured
			// at over 5 minutes on the loaded 2-core machine.
			BootTimeout: 10 * time.Minute}))
		endpoints = append(endpoints, fmt.Sprintf("https://%s", netip.AddrPortFrom(n.Addresses[0], uint16(g.spec.Etcd.ClientPort))))
	}
	for _, vm := range vms {
		vm.WaitReady()
	}
	t.Logf("%d members up %v after the start", len(vms), time.Since(began).Round(time.Second))

	const certs = "--cacert=/etc/ssl/certs/etcd/ca.crt --cert=/etc/ssl/certs/etcd/client.crt --key=/etc/ssl/certs/etcd/client.key"
	etcdctl := func(vm *vmlab.VM, endpoints []string, args string) (string, error) {
		// etcdctl prints its health reports on standard error.
		return vm.SSH(fmt.Sprintf("ETCDCTL_API=3 etcdctl --command-timeout=10s --endpoints=%s %s 2>&1", strings.Join(endpoints, ","), args))
	}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		out, err := etcdctl(vms[0], endpoints, certs+" endpoint health")
		if err == nil && strings.Count(out, "is healthy") == len(endpoints) {
			t.Logf("healthy %v after the start:\n%s", time.Since(began).Round(time.Second), strings.TrimSpace(out))
			break
		}
		if time.Now().After(deadline) {
			for _, vm := range vms {
				st, _ := vm.SSH("systemctl status --no-pager etcd-member.service; journalctl -b --no-pager -n 30 -u etcd-member.service")
				t.Logf("%s:\n%s", vm.Name, st)
			}
			t.Fatalf("the cluster is not healthy within 4m: %v\n%s", err, out)
		}
		time.Sleep(5 * time.Second)
	}
	out, err := etcdctl(vms[0], endpoints, certs+" member list")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.spec.Nodes {
		if !strings.Contains(out, ", started, "+n.Name+", ") {
			t.Errorf("member list does not show %s started:\n%s", n.Name, out)
		}
	}
	// A value written through the first member is read through the last.
	key, value := "/rampart/bootproof", "written-through-"+vms[0].Name
	if _, err := etcdctl(vms[0], endpoints[:1], certs+" put "+key+" "+value); err != nil {
		t.Fatal(err)
	}
	last := vms[len(vms)-1]
	if got, err := etcdctl(last, endpoints[len(endpoints)-1:], certs+" get --print-value-only "+key); err != nil || strings.TrimSpace(got) != value {
		t.Errorf("get through %s: %q, %v; want %q", last.Name, got, err, value)
	}
	// TLS only: no plain HTTP, and no client without a certificate of the CA.
	plain := strings.Replace(endpoints[0], "https://", "http://", 1)
	if out, err := etcdctl(vms[0], []string{plain}, "endpoint health"); err == nil {
		t.Errorf("plain HTTP to %s answered: %s", plain, out)
	}
	if out, err := etcdctl(vms[0], endpoints[:1], "--cacert=/etc/ssl/certs/etcd/ca.crt endpoint health"); err == nil {
		t.Errorf("a client without a certificate was served by %s: %s", endpoints[0], out)
	}
	for _, vm := range vms {
		if st := strings.TrimSpace(vm.MustSSH("systemctl is-enabled etcd-member.service; stat -c '%U %a' /etc/ssl/certs/etcd/server.key")); st != "enabled\netcd 600" {
			t.Errorf("%s: etcd-member enabled and the key's owner and mode: %q, want %q", vm.Name, st, "enabled\netcd 600")
		}
	}
}
