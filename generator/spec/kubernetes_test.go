package spec_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// kubeSpec is a minimal spec of profile kubernetes with the given settings.
func kubeSpec(settings string) string {
	return "version: 1\ncluster: k\nprofile: kubernetes\nkubernetes: " + settings + "\n"
}

// TestKubernetesProfile: the roles, ports and rules profile kubernetes
// brings, per CNI and nodeports setting, written out by hand from kubeadm's
// table and the CNIs' documentation.
func TestKubernetesProfile(t *testing.T) {
	base := []string{
		"allow cluster->control-plane 6443/tcp",
		"allow control-plane->control-plane 2379/tcp,2380/tcp",
		"allow control-plane->all 10250/tcp",
		"allow cluster->worker 30000-32767/tcp,30000-32767/udp",
		"allow pods->control-plane 6443/tcp",
		"allow pods->all 10250/tcp",
		"allow pods->all 53/udp,53/tcp",
	}
	for _, c := range []struct {
		settings            string
		cni                 string
		workerPub, workerAd string
		workerZone          string
	}{
		{"{cni: calico, pods: [10.244.0.0/16]}", "allow cluster->all 179/tcp,ipip,4789/udp,5473/tcp,51820-51821/udp",
			"", "22/tcp,30000-32767/tcp,30000-32767/udp,10256/tcp", "private"},
		{"{cni: flannel, pods: [10.244.0.0/16], nodeports: world}", "allow cluster->all 8472/udp",
			"30000-32767/tcp,30000-32767/udp,10256/tcp", "22/tcp", "public"},
		{"{cni: cilium, pods: [10.244.0.0/16], nodeports: none}", "allow cluster->all 4240/tcp,8472/udp,6081/udp,51871/udp,icmp",
			"", "22/tcp", "private"},
		{"{cni: none, pods: [10.244.0.0/16]}", "",
			"", "22/tcp,30000-32767/tcp,30000-32767/udp,10256/tcp", "private"},
	} {
		s := mustParse(t, kubeSpec(c.settings))
		if s.Reach != spec.ReachListed {
			t.Errorf("%s: reach %q, want listed (the kubernetes default)", c.settings, s.Reach)
		}
		var got []string
		for _, r := range s.Rules {
			got = append(got, fmt.Sprintf("%s %s->%s %s", r.Action, r.From, r.To, ports(r.Ports)))
		}
		want := slices.Clone(base)
		if c.cni != "" {
			want = append(want, c.cni)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: rules\n%s\nwant\n%s", c.settings, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		cp, w := s.Role("control-plane"), s.Role("worker")
		if cp == nil || w == nil || !cp.Etcd || w.Etcd {
			t.Fatalf("%s: roles %v, want control-plane (etcd) and worker", c.settings, s.Roles)
		}
		if g := fmt.Sprint(ports(cp.Public), "|", ports(cp.Admin)); g != "|22/tcp,6443/tcp" {
			t.Errorf("%s: control-plane public|admin %q", c.settings, g)
		}
		if g, want := fmt.Sprint(ports(w.Public), "|", ports(w.Admin), "|", w.Zone), fmt.Sprint(c.workerPub, "|", c.workerAd, "|", c.workerZone); g != want {
			t.Errorf("%s: worker public|admin|zone %q, want %q", c.settings, g, want)
		}
	}
}

// TestReachAndDestinations: cluster: {name, reach}; reach defaults to all
// but for kubernetes; to: cluster means every role; from: pods needs pods.
func TestReachAndDestinations(t *testing.T) {
	s := mustParse(t, "version: 1\ncluster: {name: c, reach: listed}\nprofile: dcos\nrules:\n  - {from: agent, to: cluster, ports: [9000/tcp]}\n")
	if s.Cluster != "c" || s.Reach != spec.ReachListed || s.ReachPos.Line != 2 {
		t.Errorf("cluster %q reach %q at %v, want c, listed, line 2", s.Cluster, s.Reach, s.ReachPos)
	}
	if r := s.Rules[len(s.Rules)-1]; r.To != spec.ToAll {
		t.Errorf("to: cluster read as %q, want all", r.To)
	}
	if s := mustParse(t, "version: 1\ncluster: c\nprofile: dcos\n"); s.Reach != spec.ReachAll {
		t.Errorf("dcos reach %q, want all", s.Reach)
	}
	all := strings.Replace(kubeSpec("{cni: calico, pods: [10.244.0.0/16]}"), "cluster: k", "cluster: {name: k, reach: all}", 1)
	if s := mustParse(t, all); s.Reach != spec.ReachAll {
		t.Errorf("kubernetes with reach all: reach %q", s.Reach)
	}
}

// TestProtocols: the port entries of protocols other than tcp and udp.
func TestProtocols(t *testing.T) {
	s := mustParse(t, "version: 1\ncluster: c\nroles:\n  r: {zone: private, admin: [3868/sctp, 100-200/sctp, ipip, esp, gre, vrrp, proto/41, icmp]}\n")
	got := ports(s.Role("r").Admin)
	if want := "3868/sctp,100-200/sctp,ipip,esp,gre,vrrp,proto/41,icmp"; got != want {
		t.Errorf("ports %q, want %q", got, want)
	}
	nums := map[string]uint8{"ipip": 4, "esp": 50, "gre": 47, "vrrp": 112, "proto/41": 41}
	for _, p := range s.Role("r").Admin {
		n, ok := p.Proto.Number()
		if want, numbered := nums[p.String()]; numbered != ok || n != want {
			t.Errorf("%s: number %d %v, want %d %v", p, n, ok, want, numbered)
		}
	}
}

// TestKubernetesErrors: what is wrong with the kubernetes settings, by
// code, path and position.
func TestKubernetesErrors(t *testing.T) {
	for _, c := range []struct {
		name, spec string
		want       []string
	}{
		{"settings missing", "version: 1\ncluster: k\nprofile: kubernetes\n",
			[]string{"spec.kubernetes-missing kubernetes 3:10"}},
		{"cni and pods missing", kubeSpec("{nodeports: world}"),
			[]string{"spec.cni-missing kubernetes 4:1", "spec.pods-missing kubernetes.pods 4:1"}},
		{"settings without the profile", "version: 1\ncluster: k\nprofile: dcos\nkubernetes: {cni: calico}\n",
			[]string{"spec.kubernetes-without-profile kubernetes 4:1"}},
		{"pods without kubernetes", "version: 1\ncluster: k\nprofile: dcos\nrules: [{from: pods, to: all}]\n",
			[]string{"spec.pods-without-kubernetes rules[0].from 4:16"}},
		{"services over pods", kubeSpec("{cni: calico, pods: [10.96.0.0/16]}"),
			[]string{"spec.pods-services-overlap kubernetes.services 4:1"}},
		{"a protocol with a port", "version: 1\ncluster: c\nroles:\n  r: {zone: private, admin: [4/ipip]}\n",
			[]string{"spec.protocol-with-port roles.r.admin[0] 4:30"}},
		{"a protocol number written by word", "version: 1\ncluster: c\nroles:\n  r: {zone: private, admin: [proto/6]}\n",
			[]string{"spec.not-protocol-number roles.r.admin[0] 4:30"}},
		{"no protocol number", "version: 1\ncluster: c\nroles:\n  r: {zone: private, admin: [proto/300]}\n",
			[]string{"spec.not-protocol-number roles.r.admin[0] 4:30"}},
		{"bad reach", "version: 1\ncluster: {name: c, reach: some}\nprofile: dcos\n",
			[]string{"spec.not-one-of cluster.reach 2:27"}},
		{"cluster without a name", "version: 1\ncluster: {reach: listed}\nprofile: dcos\n",
			[]string{"spec.cluster-name-missing cluster 2:10"}},
	} {
		var got []string
		for _, e := range entries(t, c.spec) {
			got = append(got, fmt.Sprintf("%s %s %d:%d", e.Code, e.Path, e.Pos.Line, e.Pos.Col))
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}
