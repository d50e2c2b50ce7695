package spec

import (
	"fmt"
	"net/netip"

	"github.com/rampart-cluster/rampart/generator/report"
	"gopkg.in/yaml.v3"
)

// Kubernetes is the `kubernetes:` section, the settings of profile
// kubernetes: which CNI runs (its ports between nodes), the pod and service
// ranges and who reaches the NodePorts.
type Kubernetes struct {
	CNI       string         // flannel | calico | cilium | none
	Pods      []netip.Prefix // the pod ranges (the source of `from: pods`), IPv4 and IPv6
	Services  []netip.Prefix // the service (ClusterIP) ranges; default 10.96.0.0/12, kubeadm's
	NodePorts string         // world | admins (the default) | none: who reaches 30000-32767 and 10256 on workers
	Pos       Pos            // where kubernetes: was written; zero when it is not
	PodsPos   Pos            // where pods: was written; Pos when it is not
}

// CNIs profile kubernetes knows the ports of.
const (
	CNIFlannel = "flannel"
	CNICalico  = "calico"
	CNICilium  = "cilium"
	CNINone    = "none"
)

// Values of kubernetes.nodeports.
const (
	NodePortsWorld  = "world"
	NodePortsAdmins = "admins"
	NodePortsNone   = "none"
)

// Values of cluster.reach.
const (
	// ReachAll: cluster members reach every port of every node (SPEC.md's
	// semantics 3; the default of every profile but kubernetes).
	ReachAll = "all"
	// ReachListed: members reach only the ports the profile and the rules
	// name, per pair of roles (the default of profile kubernetes).
	ReachListed = "listed"
)

// FromPods is the source of the kubernetes pod ranges in rules.
const FromPods = "pods"

// defaultServices is kubeadm's default service range (--service-cidr).
var defaultServices = netip.MustParsePrefix("10.96.0.0/12")

// rawKubernetes is the kubernetes section as written.
type rawKubernetes struct {
	given     bool
	node      *yaml.Node // the key, for errors about the section
	cni       *string
	pods      []netip.Prefix
	podsNode  *yaml.Node
	services  []netip.Prefix
	servGiven bool
	nodeports *string
	pos       Pos
	podsPos   Pos
}

func (d *decoder) kubernetes(k, v *yaml.Node, r *rawKubernetes) {
	r.given, r.node, r.pos = true, k, d.pos(k)
	path := report.At("kubernetes")
	cidrs := func(v *yaml.Node, key string) []netip.Prefix {
		var out []netip.Prefix
		seen := map[netip.Prefix]int{}
		d.list(v, join(path, key), func(i int, item *yaml.Node) {
			p, ok := d.prefix(item, index(join(path, key), i), false)
			if !ok {
				return
			}
			if line, dup := seen[p]; dup {
				d.errorf(item, index(join(path, key), i), msgListedTwice, p, line)
				return
			}
			seen[p] = item.Line
			out = append(out, p)
		})
		return out
	}
	d.mapping(v, path,
		field{"cni", func(_, v *yaml.Node) {
			if s, ok := d.oneOf(v, join(path, "cni"), CNIFlannel, CNICalico, CNICilium, CNINone); ok {
				r.cni = &s
			}
		}},
		field{"pods", func(k, v *yaml.Node) {
			r.podsNode, r.podsPos = v, d.pos(k)
			r.pods = cidrs(v, "pods")
		}},
		field{"services", func(_, v *yaml.Node) {
			r.servGiven = true
			r.services = cidrs(v, "services")
		}},
		field{"nodeports", func(_, v *yaml.Node) {
			if s, ok := d.oneOf(v, join(path, "nodeports"), NodePortsWorld, NodePortsAdmins, NodePortsNone); ok {
				r.nodeports = &s
			}
		}},
	)
}

// buildKubernetes checks the kubernetes section against the profile and
// fills its defaults.
func (d *decoder) buildKubernetes(s *Spec, root *yaml.Node, r *raw) {
	k := r.kubernetes
	if s.Profile != "kubernetes" {
		if k.given {
			d.errorf(k.node, report.At("kubernetes"), msgKubernetesWithoutProfile, s.Profile)
		}
		return
	}
	if !k.given {
		d.add(msgKubernetesMissing.At(report.At("kubernetes"), s.ProfilePos))
		return
	}
	s.Kubernetes = Kubernetes{CNI: CNINone, NodePorts: NodePortsAdmins, Pos: k.pos, PodsPos: k.pos,
		Pods: k.pods, Services: k.services}
	if k.cni == nil {
		d.errorf(k.node, report.At("kubernetes"), msgCNIMissing)
	} else {
		s.Kubernetes.CNI = *k.cni
	}
	if k.nodeports != nil {
		s.Kubernetes.NodePorts = *k.nodeports
	}
	if k.podsNode != nil {
		s.Kubernetes.PodsPos = k.podsPos
	}
	if len(k.pods) == 0 && (k.podsNode == nil || isNull(k.podsNode) || k.podsNode.Kind == yaml.SequenceNode && len(k.podsNode.Content) == 0) {
		at := k.node
		if k.podsNode != nil {
			at = k.podsNode
		}
		d.errorf(at, report.At("kubernetes", "pods"), msgPodsMissing)
	}
	if !k.servGiven {
		s.Kubernetes.Services = []netip.Prefix{defaultServices}
	}
	for _, p := range s.Kubernetes.Pods {
		for _, sv := range s.Kubernetes.Services {
			if p.Overlaps(sv) {
				d.add(msgPodsServicesOverlap.At(report.At("kubernetes", "services"), k.pos, sv, p))
			}
		}
	}
}

// kubernetesProfile is what profile kubernetes brings, from its settings:
// the roles control-plane (etcd) and worker, kubeadm's ports and the CNI's
// (see the README's table for the source of each number).
func kubernetesProfile(k Kubernetes, e Etcd) profile {
	nodePorts := []string{"30000-32767/tcp", "30000-32767/udp", "10256/tcp"}
	worker := profileRole{name: "worker", zone: ZonePrivate, public: []string{}}
	switch k.NodePorts {
	case NodePortsWorld:
		worker.zone, worker.public = ZonePublic, nodePorts
	case NodePortsAdmins:
		worker.admin = append([]string{"22/tcp"}, nodePorts...)
	}
	etcd := fmt.Sprintf("%d/tcp", e.ClientPort)
	peer := fmt.Sprintf("%d/tcp", e.PeerPort)
	p := profile{
		roles: []profileRole{
			{name: "control-plane", zone: ZoneAdmin, etcd: true, public: []string{}, admin: []string{"22/tcp", "6443/tcp"}},
			worker,
		},
		rules: []profileRule{
			{from: FromCluster, to: "control-plane", ports: []string{"6443/tcp"}, why: "kube-apiserver, kubeadm"},
			{from: "control-plane", to: "control-plane", ports: []string{etcd, peer}, why: "etcd, kubeadm"},
			{from: "control-plane", to: ToAll, ports: []string{"10250/tcp"}, why: "kubelet API, kubeadm"},
			{from: FromCluster, to: "worker", ports: []string{"30000-32767/tcp", "30000-32767/udp"}, why: "NodePort services, kubeadm"},
			{from: FromPods, to: "control-plane", ports: []string{"6443/tcp"}, why: "the API server's ClusterIP, DNAT to the node"},
			{from: FromPods, to: ToAll, ports: []string{"10250/tcp"}, why: "kubelet API for metrics-server"},
			{from: FromPods, to: ToAll, ports: []string{"53/udp", "53/tcp"}, why: "DNS on the node (NodeLocal DNSCache)"},
		},
	}
	cni := map[string][]string{
		CNIFlannel: {"8472/udp"},
		CNICalico:  {"179/tcp", "ipip", "4789/udp", "5473/tcp", "51820-51821/udp"},
		CNICilium:  {"4240/tcp", "8472/udp", "6081/udp", "51871/udp", "icmp"},
	}[k.CNI]
	if len(cni) > 0 {
		p.rules = append(p.rules, profileRule{from: FromCluster, to: ToAll, ports: cni, why: k.CNI + " between nodes"})
	}
	return p
}
