package policy

// Service is a well-known port and what listens there.
type Service struct {
	Proto Protocol // transport protocol the service listens on (tcp or udp)
	Port  uint16   // port number the service listens on
	Name  string   // human-readable service name used in messages, e.g. "etcd client API"
	// ControlPlane services take orders without authentication by default:
	// open to the world, they hand the cluster over.
	ControlPlane bool
}

// Catalog lists the well-known ports that the audit looks for and that
// push aws's foreign-exposure check guards (its ControlPlane services).
var Catalog = []Service{
	{TCP, 2181, "ZooKeeper", true},
	{TCP, 2379, "etcd client API", true},
	{TCP, 2380, "etcd peer API", true},
	{TCP, 3306, "MySQL", false},
	{TCP, 5050, "Mesos master", true},
	{TCP, 5051, "Mesos agent", true},
	{TCP, 5432, "PostgreSQL", false},
	{TCP, 6379, "Redis", false},
	{TCP, 6443, "Kubernetes API server", false},
	{TCP, 8080, "Marathon", true},
	{TCP, 8123, "Mesos-DNS", false},
	{TCP, 8181, "Exhibitor", true},
	{TCP, 9090, "HAProxy stats", false},
	{TCP, 10250, "kubelet", false},
	{TCP, 10255, "read-only kubelet", true},
	{TCP, 10257, "kube-controller-manager", false},
	{TCP, 10259, "kube-scheduler", false},
	{TCP, 27017, "MongoDB", false},
	{UDP, 8123, "Mesos-DNS", false},
}
