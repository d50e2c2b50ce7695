package etcd

// Where etcd's files land on a member. Flatcar's etcd-wrapper mounts
// ETCD_SSL_DIR (/etc/ssl/certs by default) at the same path in the etcd
// container, so these paths hold inside and outside of it; on Fedora CoreOS
// rampart's own unit mounts CertDir the same way.
const (
	CertDir    = "/etc/ssl/certs/etcd"
	CAFile     = CertDir + "/ca.crt"
	CertFile   = CertDir + "/server.crt" // server and peer certificate of the member
	KeyFile    = CertDir + "/server.key"
	ClientCert = CertDir + "/client.crt" // the client certificate of the machine's role, for etcdctl and agents
	ClientKey  = CertDir + "/client.key"
	DataDir    = "/var/lib/etcd"
)

// Where an etcd client (a machine of an etcd_client role) finds its
// settings: an environment file for systemd units (EnvironmentFile=) and
// any program, and a profile script that exports it to login shells, so
// that a bare etcdctl talks to the cluster over TLS.
const (
	ClientEnvFile = "/etc/rampart/etcdctl.env"
	ClientProfile = "/etc/profile.d/rampart-etcdctl.sh"
)

// Unit is the unit that runs a member: Flatcar ships it (rampart adds a
// drop-in); on Fedora CoreOS rampart writes it.
const Unit = "etcd-member.service"

// Dropin is the drop-in of Unit that holds the member's settings.
const Dropin = "20-rampart-etcd.conf"
