// Package applytest builds, for the tests of `rampart apply`, nodes that
// apply can really reach: a real OpenSSH server (Debian's /usr/sbin/sshd)
// per node, each in its own network namespace (internal/netlab) and its
// own mount namespace in which /etc, /opt, /usr/local, /var/lib and /root
// are overlays private to the node (their upper directories in the test's
// temporary directory) and /run is its own tmpfs. What apply writes on a
// node lands in that node's /etc/rampart/firewall, /opt/bin or
// /usr/local/bin and /var/lib/rampart, and the firewall script that runs
// there (real iptables, ipset and nft, in the node's network namespace)
// loads exactly those files; no file of the host changes.
//
// A node "boots" as Ignition would boot it: its machine's files are
// written into its overlays before its sshd starts, then its firewall
// script runs inside the node.
//
// The operator is a namespace of its own with an admin address; apply
// dials from inside it (Operator.Dial). Keys (the operator's, the nodes'
// host keys) are made at run time.
package applytest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/rampart-cluster/rampart/internal/netlab"
	"github.com/rampart-cluster/rampart/internal/realtool"
	"github.com/rampart-cluster/rampart/providers/apply"
)

// SSHD is the OpenSSH server the nodes run.
const SSHD = "/usr/sbin/sshd"

// Tools are the programs the lab needs besides ip.
var Tools = []string{"iptables", "ip6tables", "ipset", "nft", "unshare", "nsenter", "setsid", "flock"}

// Require stops the test unless it can build the lab: root, network
// namespaces, the firewall tools and Debian's sshd (openssh-server).
func Require(t testing.TB) {
	t.Helper()
	netlab.Require(t, Tools...)
	if _, err := os.Stat(SSHD); err != nil {
		realtool.Unavailable(t, "%s is not installed (Debian package openssh-server; `make deps` installs it)", SSHD)
	}
}

// Lab is one test's operator and nodes on one switch.
type Lab struct {
	t   testing.TB
	Net *netlab.Lab
	sw  *netlab.Bridge
	dir string

	Operator *Operator
	KeyFile  string // the operator's private key, 0600
	pub      ssh.PublicKey

	mu    sync.Mutex
	Nodes map[string]*Node
}

// Operator is the namespace apply runs from.
type Operator struct {
	NS   *netlab.NS
	Addr netip.Addr
}

// Dial opens a TCP connection from inside the operator's namespace: the
// apply.Dialer of the tests.
func (o *Operator) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := o.NS.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// New builds the switch, the operator at admin, and the operator's key.
func New(t testing.TB, admin netip.Addr) *Lab {
	t.Helper()
	Require(t)
	l := &Lab{t: t, Net: netlab.New(t), dir: t.TempDir(), Nodes: map[string]*Node{}}
	l.sw = l.Net.NewBridge("sw")
	op := l.Net.NewNS("op")
	l.sw.Attach(op, "eth0")
	op.AddHost("eth0", admin)
	op.DefaultOnLink("eth0")
	l.Operator = &Operator{NS: op, Addr: admin}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "rampart apply test operator")
	if err != nil {
		t.Fatal(err)
	}
	l.KeyFile = filepath.Join(l.dir, "operator-key")
	if err := os.WriteFile(l.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if l.pub, err = ssh.NewPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	return l
}

// Node is one machine of the lab: a network namespace with the node's
// addresses, a root of its own, and an sshd.
type Node struct {
	lab   *Lab
	Name  string
	NS    *netlab.NS
	Addrs []netip.Addr
	root  string // upper directories of the overlays, and sshd's files
	Host  ssh.PublicKey

	mu   sync.Mutex
	sshd *exec.Cmd
	log  *lockedBuffer
}

// lockedBuffer is sshd's output, written by the command's copier and
// read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// overlays are the directories each node has its own copy of.
var overlays = []string{"/etc", "/opt", "/usr/local", "/var/lib", "/root"}

// AddNode plugs a new namespace with the addresses into the switch and
// makes its root and host key; Boot starts it.
func (l *Lab) AddNode(name string, addrs ...netip.Addr) *Node {
	l.t.Helper()
	n := &Node{lab: l, Name: name, NS: l.Net.NewNS(name), Addrs: addrs, root: filepath.Join(l.dir, "nodes", name)}
	l.sw.Attach(n.NS, "eth0")
	n.NS.AddHost("eth0", addrs...)
	n.NS.DefaultOnLink("eth0")
	for _, d := range overlays {
		for _, part := range []string{"upper", "work"} {
			if err := os.MkdirAll(filepath.Join(n.root, part, d), 0o755); err != nil {
				l.t.Fatal(err)
			}
		}
	}
	// the node's root has a shell profile of its own, not the host's
	for _, f := range []string{".bashrc", ".profile"} {
		if err := os.WriteFile(filepath.Join(n.root, "upper", "root", f), nil, 0o644); err != nil {
			l.t.Fatal(err)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		l.t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.root, "host-key"), pem.EncodeToMemory(block), 0o600); err != nil {
		l.t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		l.t.Fatal(err)
	}
	n.Host = signer.PublicKey()
	if err := os.WriteFile(filepath.Join(n.root, "authorized_keys"), ssh.MarshalAuthorizedKey(l.pub), 0o600); err != nil {
		l.t.Fatal(err)
	}
	cfg := fmt.Sprintf(`HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
LogLevel ERROR
MaxStartups 200
MaxSessions 50
`, filepath.Join(n.root, "host-key"), filepath.Join(n.root, "authorized_keys"))
	if err := os.WriteFile(filepath.Join(n.root, "sshd_config"), []byte(cfg), 0o600); err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	l.Nodes[name] = n
	l.mu.Unlock()
	l.t.Cleanup(n.kill) // before netlab deletes the namespace
	return n
}

// KnownHosts writes a known_hosts file with the host key of each node
// named, under its first address, and returns its path.
func (l *Lab) KnownHosts(names ...string) string {
	l.t.Helper()
	var b strings.Builder
	for _, name := range names {
		n := l.Nodes[name]
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(n.Addrs[0].String())}, n.Host) + "\n")
	}
	f, err := os.CreateTemp(l.dir, "known_hosts-*")
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		l.t.Fatal(err)
	}
	return f.Name()
}

// Transport is apply's transport from the operator's namespace, as root,
// with the operator's key and the known_hosts file given.
func (l *Lab) Transport(knownHosts string) *apply.Transport {
	l.t.Helper()
	tr, err := apply.NewTransport(apply.TransportOptions{User: "root", KeyFile: l.KeyFile, KnownHosts: knownHosts, Dial: l.Operator.Dial, ConnectTimeout: 5 * time.Second})
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { tr.Close() })
	return tr
}

// Path is where a file of the node's own root lies on the host (in its
// overlay's upper directory); only for files the node has written or was
// booted with.
func (n *Node) Path(p string) string {
	for _, d := range overlays {
		if rest, ok := strings.CutPrefix(p, d+"/"); ok {
			return filepath.Join(n.root, "upper", d, rest)
		}
	}
	n.lab.t.Fatalf("%s is in no directory of the node's own (%v)", p, overlays)
	return ""
}

// Boot writes the files into the node's root, as Ignition writes them
// before anything starts, starts its sshd, and runs script (the
// firewall script's path on the node) inside the node.
func (n *Node) Boot(files []apply.File, script string) {
	n.lab.t.Helper()
	for _, f := range files {
		p := n.Path(f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			n.lab.t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			n.lab.t.Fatal(err)
		}
		if err := os.Chmod(p, f.Mode); err != nil {
			n.lab.t.Fatal(err)
		}
	}
	n.Start()
	if out, err := n.Exec(script); err != nil {
		n.lab.t.Fatalf("%s: booting its firewall: %v\n%s", n.Name, err, out)
	}
}

// Start starts the node's sshd in its namespaces and waits until it
// accepts connections from the operator.
func (n *Node) Start() {
	n.lab.t.Helper()
	n.lab.StartAll(n)
}

// StartAll starts the sshd of every node given, then waits until each
// accepts connections from the operator: the servers start side by side.
func (l *Lab) StartAll(nodes ...*Node) {
	l.t.Helper()
	exited := make([]chan error, len(nodes))
	for i, n := range nodes {
		exited[i] = n.launch()
	}
	for i, n := range nodes {
		if err := n.wait(exited[i]); err != nil {
			l.t.Fatal(err)
		}
	}
}

// launch starts the node's sshd: a new mount namespace inside its network
// namespace, the overlays and /run mounted, then sshd. The channel gets
// its end.
func (n *Node) launch() chan error {
	n.lab.t.Helper()
	var mounts strings.Builder
	for _, d := range overlays {
		fmt.Fprintf(&mounts, "mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s && ", d, filepath.Join(n.root, "upper", d), filepath.Join(n.root, "work", d), d)
	}
	mounts.WriteString("mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && ")
	cmd := exec.Command("ip", "netns", "exec", n.NS.Name, "unshare", "--mount", "--propagation", "private",
		"sh", "-ec", mounts.String()+"exec "+SSHD+" -D -e -f "+filepath.Join(n.root, "sshd_config"))
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		n.lab.t.Fatal(err)
	}
	n.mu.Lock()
	n.sshd, n.log = cmd, log
	n.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited
}

// wait waits until the node's sshd accepts a connection from the operator
// (60 seconds at most: a loaded machine starts many slowly).
func (n *Node) wait(exited chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := n.lab.Operator.Dial(ctx, "tcp", net.JoinHostPort(n.Addrs[0].String(), "22"))
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%s: sshd exited: %v\n%s", n.Name, err, n.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: sshd does not accept connections after 60s: %v\n%s", n.Name, err, n.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the node's sshd and every process left in its namespace (the
// rollback timers apply left): the node is down.
func (n *Node) Stop() { n.kill() }

func (n *Node) kill() {
	n.mu.Lock()
	cmd := n.sshd
	n.sshd = nil
	n.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Kill()
	}
	out, _ := exec.Command("ip", "netns", "pids", n.NS.Name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
	// the processes die asynchronously; wait until none is left
	for range 100 {
		out, _ := exec.Command("ip", "netns", "pids", n.NS.Name).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exec runs a program inside the node: its network and mount namespaces
// (those of its sshd, which must run).
func (n *Node) Exec(args ...string) ([]byte, error) {
	n.mu.Lock()
	cmd := n.sshd
	n.mu.Unlock()
	if cmd == nil {
		return nil, fmt.Errorf("%s is not running", n.Name)
	}
	full := append([]string{"-t", strconv.Itoa(cmd.Process.Pid), "-m", "-n", "--"}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %s: %w: %s", n.Name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Must runs a program inside the node and fails the test when it fails.
func (n *Node) Must(args ...string) string {
	n.lab.t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		n.lab.t.Fatal(err)
	}
	return string(out)
}

// Log is what the node's sshd printed.
func (n *Node) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.log == nil {
		return ""
	}
	return n.log.String()
}
