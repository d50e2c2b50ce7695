package etcd

import (
	"strings"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// Initial cluster states (ETCD_INITIAL_CLUSTER_STATE).
const (
	New      = "new"      // the members bootstrap the cluster together
	Existing = "existing" // the member joins a running cluster (recover --replace)
)

// EnvVar is one variable of the member's environment.
type EnvVar struct {
	Name, Value string // variable name, e.g. ETCD_NAME, and its raw value (the drop-in quotes the pair)
}

// Env is the environment etcd reads on member n, in the order the drop-in
// writes it: TLS only for clients and peers, each side requiring a
// certificate from the cluster's CA. etcd listens for peers on the member's
// etcd address (Address) only, and for clients on it and on 127.0.0.1
// (LocalClientURL, for clients on the member): another address of the spec
// may be one the machine does not hold (an AWS Elastic IP is NAT), and etcd
// cannot bind that. The certificate names every address all the same, and
// loopback.
func Env(s *spec.Spec, n *spec.Node, state string) []EnvVar {
	var initial []string
	for _, m := range s.Nodes {
		if IsMember(s, m) {
			initial = append(initial, m.Name+"="+PeerURL(s, m))
		}
	}
	return []EnvVar{
		{"ETCD_NAME", n.Name},
		{"ETCD_DATA_DIR", DataDir},
		{"ETCD_INITIAL_CLUSTER", strings.Join(initial, ",")},
		{"ETCD_INITIAL_CLUSTER_STATE", state},
		{"ETCD_INITIAL_CLUSTER_TOKEN", "rampart-" + s.Cluster},
		{"ETCD_INITIAL_ADVERTISE_PEER_URLS", PeerURL(s, n)},
		{"ETCD_LISTEN_PEER_URLS", PeerURL(s, n)},
		{"ETCD_ADVERTISE_CLIENT_URLS", ClientURL(s, n)},
		{"ETCD_LISTEN_CLIENT_URLS", listenClientURLs(s, n)},
		{"ETCD_TRUSTED_CA_FILE", CAFile},
		{"ETCD_CERT_FILE", CertFile},
		{"ETCD_KEY_FILE", KeyFile},
		{"ETCD_CLIENT_CERT_AUTH", "true"},
		{"ETCD_PEER_TRUSTED_CA_FILE", CAFile},
		{"ETCD_PEER_CERT_FILE", CertFile},
		{"ETCD_PEER_KEY_FILE", KeyFile},
		{"ETCD_PEER_CLIENT_CERT_AUTH", "true"},
		// pre-vote (etcd 3.5's default, asked for here for older ones): a
		// member restarted in a rolling rotation does not depose the
		// leader when it comes back
		{"ETCD_PRE_VOTE", "true"},
	}
}

// ClientEnv is the environment of an etcd client of the spec's cluster:
// etcdctl's API version, the members' client URLs, and the CA, certificate
// and key files.
func ClientEnv(s *spec.Spec) []EnvVar {
	var endpoints []string
	for _, n := range s.Nodes {
		if IsMember(s, n) {
			endpoints = append(endpoints, ClientURL(s, n))
		}
	}
	return []EnvVar{
		{"ETCDCTL_API", "3"},
		{"ETCDCTL_ENDPOINTS", strings.Join(endpoints, ",")},
		{"ETCDCTL_CACERT", CAFile},
		{"ETCDCTL_CERT", ClientCert},
		{"ETCDCTL_KEY", ClientKey},
	}
}
