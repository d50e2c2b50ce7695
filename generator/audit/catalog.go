package audit

import (
	"slices"

	"github.com/rampart-cluster/rampart/generator/policy"
)

// Services only one profile's clusters run: the audit of another profile
// does not look for them (a Kubernetes worker's 8080 is not Marathon).
var (
	dcosServices       = []string{"ZooKeeper", "Mesos master", "Mesos agent", "Marathon", "Mesos-DNS", "Exhibitor", "HAProxy stats"}
	kubernetesServices = []string{"Kubernetes API server", "kubelet", "read-only kubelet", "kube-controller-manager", "kube-scheduler"}
)

// kubernetesControlPlane are the services of a Kubernetes cluster that
// hand it over when the world reaches them: the kubelet's API (anonymous
// requests are allowed unless turned off) and the read-only kubelet.
var kubernetesControlPlane = []string{"kubelet", "read-only kubelet"}

// catalogue is policy.Catalog as the profile's audit reads it: dcos looks
// for DC/OS's services and the common ones, kubernetes for Kubernetes's
// (the kubelet as a control plane) and the common ones, other profiles for
// all of them.
func catalogue(profile string) []policy.Service {
	var out []policy.Service
	for _, svc := range policy.Catalog {
		switch profile {
		case "dcos":
			if slices.Contains(kubernetesServices, svc.Name) {
				continue
			}
		case "kubernetes":
			if slices.Contains(dcosServices, svc.Name) {
				continue
			}
			if slices.Contains(kubernetesControlPlane, svc.Name) {
				svc.ControlPlane = true
			}
		}
		out = append(out, svc)
	}
	return out
}
