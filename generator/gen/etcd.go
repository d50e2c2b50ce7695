package gen

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Where etcd's files land on a member. Flatcar's etcd-wrapper mounts
// ETCD_SSL_DIR (/etc/ssl/certs by default) at the same path in the etcd
// container, so these paths hold inside and outside of it; on Fedora CoreOS
// rampart's own unit mounts EtcdCertDir the same way.
const (
	EtcdCertDir    = "/etc/ssl/certs/etcd"
	EtcdCAFile     = EtcdCertDir + "/ca.crt"
	EtcdCertFile   = EtcdCertDir + "/server.crt" // server and peer certificate of the member
	EtcdKeyFile    = EtcdCertDir + "/server.key"
	EtcdClientCert = EtcdCertDir + "/client.crt" // the client certificate of the machine's role, for etcdctl and agents
	EtcdClientKey  = EtcdCertDir + "/client.key"
	EtcdDataDir    = "/var/lib/etcd"
)

// Where an etcd client (a machine of an etcd_client role) finds its
// settings: an environment file for systemd units (EnvironmentFile=) and
// any program, and a profile script that exports it to login shells, so
// that a bare etcdctl talks to the cluster over TLS.
const (
	EtcdClientEnvFile = "/etc/rampart/etcdctl.env"
	EtcdClientProfile = "/etc/profile.d/rampart-etcdctl.sh"
)

// EtcdClientEnv is the environment of an etcd client of the spec's
// cluster: etcdctl's API version, the members' client URLs, and the CA,
// certificate and key files.
func EtcdClientEnv(s *spec.Spec) []EnvVar {
	var endpoints []string
	for _, n := range s.Nodes {
		if IsEtcdMember(s, n) {
			endpoints = append(endpoints, EtcdClientURL(s, n))
		}
	}
	return []EnvVar{
		{"ETCDCTL_API", "3"},
		{"ETCDCTL_ENDPOINTS", strings.Join(endpoints, ",")},
		{"ETCDCTL_CACERT", EtcdCAFile},
		{"ETCDCTL_CERT", EtcdClientCert},
		{"ETCDCTL_KEY", EtcdClientKey},
	}
}

// EtcdClientRoles are the roles of the spec whose machines are etcd
// clients without being members (etcd_client: true), in spec order. Each
// has its own client certificate in the state, as has each etcd role.
func EtcdClientRoles(s *spec.Spec) []string {
	var out []string
	for _, r := range s.Roles {
		if r.EtcdClient && !r.Etcd {
			out = append(out, r.Name)
		}
	}
	return out
}

// etcdClientFiles are the public files of a role with etcd_client: the
// environment file and the profile script.
func etcdClientFiles(s *spec.Spec, role string) []boot.File {
	env := fmt.Sprintf("# rampart: etcd client settings of role %s of cluster %s: the cluster's etcd\n"+
		"# members over TLS, with the client certificate. For a systemd unit:\n"+
		"# EnvironmentFile=%s\n", role, s.Cluster, EtcdClientEnvFile)
	profile := fmt.Sprintf("# rampart: etcdctl in login shells talks to the etcd of cluster %s (%s).\n", s.Cluster, EtcdClientEnvFile)
	for _, v := range EtcdClientEnv(s) {
		env += v.Name + "=" + v.Value + "\n"
		profile += "export " + v.Name + "='" + v.Value + "'\n"
	}
	return []boot.File{
		{Path: EtcdClientEnvFile, Mode: 0o644, Contents: env},
		{Path: EtcdClientProfile, Mode: 0o644, Contents: profile},
	}
}

// clientFiles are the certificate files of an etcd client of role from
// the state: the CA's certificate and the role's client certificate, and
// its key, which only the final userdata carries.
func clientFiles(mat *pki.Material, role string) (public, secret []boot.File, err error) {
	client, ok := mat.Clients[role]
	if !ok {
		return nil, nil, fmt.Errorf("the state has no client certificate for role %s", role)
	}
	public = []boot.File{
		{Path: EtcdCAFile, Mode: pki.CertMode, Contents: string(mat.CA)},
		{Path: EtcdClientCert, Mode: pki.CertMode, Contents: string(client.Cert)},
	}
	secret = []boot.File{{Path: EtcdClientKey, Mode: pki.KeyMode, Contents: string(client.Key)}}
	return public, secret, nil
}

// EtcdUnit is the unit that runs a member: Flatcar ships it (rampart adds a
// drop-in); on Fedora CoreOS rampart writes it.
const EtcdUnit = "etcd-member.service"

// EtcdDropin is the drop-in of EtcdUnit that holds the member's settings.
const EtcdDropin = "20-rampart-etcd.conf"

// EtcdImage is the etcd container image rampart's Fedora CoreOS unit runs.
const EtcdImage = "quay.io/coreos/etcd:v3.5.17"

// Initial cluster states (ETCD_INITIAL_CLUSTER_STATE).
const (
	EtcdNew      = "new"      // the members bootstrap the cluster together
	EtcdExisting = "existing" // the member joins a running cluster (recover --replace)
)

// EtcdMembers lists the etcd members of the spec (the nodes of its etcd
// roles) in spec order, as the certificates see them: each with its role
// and the spec's other client roles (EtcdClientRoles), so that the list
// alone names every client certificate the state holds
// (pki.ClientRoles).
func EtcdMembers(s *spec.Spec) []pki.Member {
	var out []pki.Member
	clients := EtcdClientRoles(s)
	for _, n := range s.Nodes {
		if r := s.Role(n.Role); r != nil && r.Etcd {
			out = append(out, pki.Member{Name: n.Name, Addresses: n.Addresses, Role: n.Role, Clients: clients})
		}
	}
	return out
}

// IsEtcdMember reports whether the node belongs to an etcd role.
func IsEtcdMember(s *spec.Spec, n *spec.Node) bool {
	r := s.Role(n.Role)
	return r != nil && r.Etcd
}

// EtcdAddress is the address a member speaks to its peers on and
// advertises to clients: its first private address (RFC 1918, or an IPv6
// unique local address), else its first address.
func EtcdAddress(n *spec.Node) netip.Addr {
	for _, a := range n.Addresses {
		if a.IsPrivate() {
			return a
		}
	}
	return n.Addresses[0]
}

func etcdURL(a netip.Addr, port uint16) string {
	return "https://" + netip.AddrPortFrom(a, port).String()
}

// EtcdPeerURL is the member's peer URL, as `etcdctl member add` takes it.
func EtcdPeerURL(s *spec.Spec, n *spec.Node) string { return etcdURL(EtcdAddress(n), s.Etcd.PeerPort) }

// EtcdClientURL is the client URL a member advertises.
func EtcdClientURL(s *spec.Spec, n *spec.Node) string {
	return etcdURL(EtcdAddress(n), s.Etcd.ClientPort)
}

// EtcdLocalClientURL is the client URL every member also listens on, so that
// etcdctl and agents on the member itself reach it at etcdctl's default
// endpoint host (127.0.0.1); the member's certificate names 127.0.0.1 and
// ::1 for it. It is never advertised: other machines cannot use it.
func EtcdLocalClientURL(s *spec.Spec) string {
	return etcdURL(netip.AddrFrom4([4]byte{127, 0, 0, 1}), s.Etcd.ClientPort)
}

// etcdListenClientURLs are the URLs member n takes client connections on:
// its etcd address, and loopback unless that is its etcd address.
func etcdListenClientURLs(s *spec.Spec, n *spec.Node) string {
	urls := EtcdClientURL(s, n)
	if local := EtcdLocalClientURL(s); local != urls {
		urls += "," + local
	}
	return urls
}

// EnvVar is one variable of the member's environment.
type EnvVar struct {
	Name, Value string // variable name, e.g. ETCD_NAME, and its raw value (the drop-in quotes the pair)
}

// EtcdEnv is the environment etcd reads on member n, in the order the
// drop-in writes it: TLS only for clients and peers, each side requiring a
// certificate from the cluster's CA. etcd listens for peers on the member's
// etcd address (EtcdAddress) only, and for clients on it and on 127.0.0.1
// (EtcdLocalClientURL, for clients on the member): another address of the
// spec may be one the machine does not hold (an AWS Elastic IP is NAT), and
// etcd cannot bind that. The certificate names every address all the same,
// and loopback.
func EtcdEnv(s *spec.Spec, n *spec.Node, state string) []EnvVar {
	var initial []string
	for _, m := range s.Nodes {
		if IsEtcdMember(s, m) {
			initial = append(initial, m.Name+"="+EtcdPeerURL(s, m))
		}
	}
	return []EnvVar{
		{"ETCD_NAME", n.Name},
		{"ETCD_DATA_DIR", EtcdDataDir},
		{"ETCD_INITIAL_CLUSTER", strings.Join(initial, ",")},
		{"ETCD_INITIAL_CLUSTER_STATE", state},
		{"ETCD_INITIAL_CLUSTER_TOKEN", "rampart-" + s.Cluster},
		{"ETCD_INITIAL_ADVERTISE_PEER_URLS", EtcdPeerURL(s, n)},
		{"ETCD_LISTEN_PEER_URLS", EtcdPeerURL(s, n)},
		{"ETCD_ADVERTISE_CLIENT_URLS", EtcdClientURL(s, n)},
		{"ETCD_LISTEN_CLIENT_URLS", etcdListenClientURLs(s, n)},
		{"ETCD_TRUSTED_CA_FILE", EtcdCAFile},
		{"ETCD_CERT_FILE", EtcdCertFile},
		{"ETCD_KEY_FILE", EtcdKeyFile},
		{"ETCD_CLIENT_CERT_AUTH", "true"},
		{"ETCD_PEER_TRUSTED_CA_FILE", EtcdCAFile},
		{"ETCD_PEER_CERT_FILE", EtcdCertFile},
		{"ETCD_PEER_KEY_FILE", EtcdKeyFile},
		{"ETCD_PEER_CLIENT_CERT_AUTH", "true"},
	}
}

// etcdUnits are the units of member n: the drop-in with its environment
// and, on Fedora CoreOS, the unit that runs the etcd container.
func etcdUnits(s *spec.Spec, n *spec.Node, state string) ([]boot.Unit, error) {
	var env []string
	for _, v := range EtcdEnv(s, n, state) {
		env = append(env, strconv.Quote(v.Name+"="+v.Value))
	}
	vars := map[string]any{
		"Name": n.Name, "Cluster": s.Cluster, "Variant": s.OS.Variant, "Env": env,
		"CertDir": EtcdCertDir, "KeyFile": EtcdKeyFile, "DataDir": EtcdDataDir,
		"Image": EtcdImage, "State": state,
	}
	dropin, err := boot.RenderUnit("etcd-member-dropin.conf.tmpl", vars)
	if err != nil {
		return nil, err
	}
	u := boot.Unit{Name: EtcdUnit, Enabled: true, Dropins: []boot.Dropin{{Name: EtcdDropin, Contents: dropin}}}
	if s.OS.Variant == "fcos" {
		if u.Contents, err = boot.RenderUnit("etcd-member.service.tmpl", vars); err != nil {
			return nil, err
		}
	}
	return []boot.Unit{u}, nil
}

// etcdFiles are the certificate files of member n from the state (its
// server and peer pair, and its role's client pair): the public ones, and
// the keys, which only the final userdata carries.
func etcdFiles(mat *pki.Material, n *spec.Node) (public, secret []boot.File, err error) {
	member, ok := mat.Members[n.Name]
	if !ok {
		return nil, nil, fmt.Errorf("the state has no certificate for etcd member %s", n.Name)
	}
	if public, secret, err = clientFiles(mat, n.Role); err != nil {
		return nil, nil, err
	}
	public = append(public, boot.File{Path: EtcdCertFile, Mode: pki.CertMode, Contents: string(member.Cert)})
	secret = append(secret, boot.File{Path: EtcdKeyFile, Mode: pki.KeyMode, Contents: string(member.Key)})
	return public, secret, nil
}

// secretCert names the certificate of each secret file on the node.
var secretCert = map[string]string{
	EtcdClientKey: EtcdClientCert,
	EtcdKeyFile:   EtcdCertFile,
}

// certOf returns the certificate file of a secret file.
func certOf(secret string) string {
	if c, ok := secretCert[secret]; ok {
		return c
	}
	return strings.TrimSuffix(secret, path.Ext(secret)) + ".crt"
}
