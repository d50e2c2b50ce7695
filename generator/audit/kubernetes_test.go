package audit

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

const kubeHead = `version: 1
cluster: k
profile: kubernetes
kubernetes: {cni: calico, pods: [10.244.0.0/16]}
admins: [203.0.113.7]
nodes:
  - {name: cp-1, role: control-plane, addresses: [10.0.0.1]}
  - {name: cp-2, role: control-plane, addresses: [10.0.0.2]}
  - {name: cp-3, role: control-plane, addresses: [10.0.0.3]}
`

// TestKubernetesFindings: the audit of profile kubernetes, by code, path,
// severity and line: Kubernetes's dangerous ports, not DC/OS's; etcd that
// rampart runs with client certificates is exposed, not unauthenticated.
func TestKubernetesFindings(t *testing.T) {
	for _, c := range []struct {
		name, spec string
		want       []string // code path severity line
	}{
		{"clean", kubeHead, nil},
		{"a worker's 8080 is no Marathon", kubeHead + "roles:\n  worker: {public: [8080/tcp]}\n", nil},
		{"dcos still calls 8080 Marathon", "version: 1\ncluster: d\nprofile: dcos\nadmins: [203.0.113.7]\nroles:\n  agent: {public: [8080/tcp]}\n",
			[]string{"audit.control-plane-exposed roles.agent error 6"}},
		{"NodePorts to the world", strings.Replace(kubeHead, "calico,", "calico, nodeports: world,", 1),
			[]string{"audit.nodeports-world roles.worker warning 3"}},
		{"kubelet and read-only kubelet to the world", kubeHead + "rules:\n  - {from: world, to: worker, ports: [10250/tcp, 10255/tcp]}\n",
			[]string{"audit.control-plane-exposed roles.worker error 11", "audit.control-plane-exposed roles.worker error 11"}},
		{"the kubelet to the IPv6 world only", kubeHead + "rules:\n  - {from: \"2000::/3\", to: worker, ports: [10250/tcp]}\n",
			[]string{"audit.control-plane-exposed roles.worker error 11"}},
		{"NodePorts to the IPv6 world only", kubeHead + "rules:\n  - {from: \"::/0\", to: worker, ports: [30000-32767/udp]}\n",
			[]string{"audit.nodeports-world roles.worker warning 11"}},
		{"the API server to the world", kubeHead + "roles:\n  control-plane: {public: [6443/tcp]}\n",
			[]string{"audit.exposed roles.control-plane warning 11"}},
		{"rampart's etcd to the world", kubeHead + "rules:\n  - {from: world, to: control-plane, ports: [2379/tcp]}\n",
			[]string{"audit.etcd-exposed roles.control-plane warning 11"}},
		{"an etcd rampart does not run", kubeHead + "rules:\n  - {from: world, to: worker, ports: [2379/tcp]}\n",
			[]string{"audit.control-plane-exposed roles.worker error 11"}},
		{"etcd members cut from each other", kubeHead + "rules:\n  - {from: control-plane, to: control-plane, ports: [2380/tcp], action: deny}\n",
			[]string{"audit.etcd-blocked roles.control-plane error 11"}},
	} {
		var got []string
		for _, e := range audited(t, c.spec).Entries {
			got = append(got, strings.Join([]string{e.Code, e.Path.String(), e.Severity.String(), strconv.Itoa(e.Pos.Line)}, " "))
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

// TestAcceptances: an accepted finding is listed, as information with its
// reason, and fails nothing; an acceptance that matches no finding is an
// error at its line.
func TestAcceptances(t *testing.T) {
	open := strings.Replace(kubeHead, "calico,", "calico, nodeports: world,", 1)
	accepted := audited(t, open+"audit:\n  accept:\n    - {code: audit.nodeports-world, where: roles.worker, reason: \"behind the cloud's load balancer\"}\n")
	if accepted.Count(report.Error)+accepted.Count(report.Warning) != 0 || len(accepted.Entries) != 1 {
		t.Fatalf("accepted: %v, want one entry of information", accepted.Entries)
	}
	e := accepted.Entries[0]
	if e.Code != "audit.nodeports-world" || e.Severity != report.Info || e.Path.String() != "roles.worker" ||
		!strings.HasPrefix(e.Message, "accepted (behind the cloud's load balancer, line 12): the world reaches the NodePorts of worker") {
		t.Errorf("accepted entry %+v", e)
	}
	stale := audited(t, kubeHead+"audit:\n  accept:\n    - {code: audit.nodeports-world, where: roles.worker, reason: \"behind the cloud's load balancer\"}\n")
	if len(stale.Entries) != 1 || stale.Entries[0].Code != "audit.stale-acceptance" || stale.Entries[0].Severity != report.Error ||
		stale.Entries[0].Path.String() != "audit.accept[0]" || stale.Entries[0].Pos.Line != 12 {
		t.Errorf("stale acceptance: %v, want one audit.stale-acceptance error at audit.accept[0], line 12", stale.Entries)
	}
	// the acceptance names one finding: another role's stays a warning
	other := audited(t, open+"roles:\n  control-plane: {public: [30080/tcp]}\naudit:\n  accept:\n    - {code: audit.nodeports-world, where: roles.worker, reason: LB}\n")
	var codes []string
	for _, e := range other.Entries {
		codes = append(codes, e.Code+" "+e.Path.String()+" "+e.Severity.String())
	}
	if want := "audit.nodeports-world roles.worker info\naudit.nodeports-world roles.control-plane warning"; strings.Join(codes, "\n") != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(codes, "\n"), want)
	}
}

func audited(t *testing.T, yaml string) report.Report {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return Check(policy.Compile(s))
}
