package cli

// TestRealEtcd runs a real etcd cluster (Debian's etcd-server, with
// etcd-client's etcdctl) of three members on 127.0.0.1, 127.0.0.2 and
// 127.0.0.3, each started with exactly the environment of the drop-in that
// the real Ignition writes from its final userdata, and with the
// certificates Ignition writes; only paths are rewritten into the test's
// directory.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/realtool"
)

// etcdStartTimeout bounds how long a member may take to become healthy;
// three members on loopback take about two seconds.
const etcdStartTimeout = 30 * time.Second

// etcdLab is one test's etcd cluster and the rampart state it came from.
type etcdLab struct {
	etcd       string // path of the etcd binary
	etcdctl    string
	ign        string // the real Ignition
	dir        string
	spec       string
	state      string
	out        string
	clientPort int
	peerPort   int
	procs      map[string]*etcdProc
	nodes      []string // the members' names; e1, e2, e3 when nil
}

// members are the names of the lab's members.
func (lab *etcdLab) members() []string {
	if lab.nodes != nil {
		return lab.nodes
	}
	return []string{"e1", "e2", "e3"}
}

// newEtcdLab is the lab of a test: the real tools (it needs root), a
// directory, ports free on the members' addresses, and where its spec,
// state and tree go. nodes are the members' names (nil: e1, e2, e3), each
// at lab.addr of its name.
func newEtcdLab(t *testing.T, nodes []string) *etcdLab {
	t.Helper()
	realtool.NeedRoot(t, "Ignition's files stage sets the owner of every file it writes")
	lab := &etcdLab{
		etcd:    realtool.Tool(t, "etcd", "etcd-server"),
		etcdctl: realtool.Tool(t, "etcdctl", "etcd-client"),
		ign:     realtool.Ignition(t),
		dir:     t.TempDir(),
		procs:   map[string]*etcdProc{},
		nodes:   nodes,
	}
	var addrs []string
	if nodes != nil {
		for _, n := range nodes {
			addrs = append(addrs, lab.addr(n))
		}
	}
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}
	}
	lab.clientPort, lab.peerPort = realtool.FreePorts(t, addrs...)
	lab.spec = filepath.Join(lab.dir, "lab.yaml")
	lab.state = filepath.Join(lab.dir, "state")
	lab.out = filepath.Join(lab.dir, "out")
	return lab
}

func TestRealEtcd(t *testing.T) {
	t.Parallel() // its own ports, directories and processes
	lab := newEtcdLab(t, nil)
	writeLabSpec(t, lab.spec, lab.clientPort, lab.peerPort, "127.0.0.2")
	if code, stdout, stderr := run("gen", "-f", lab.spec, "-o", lab.out, "--state", lab.state); code != 0 {
		t.Fatalf("rampart gen: exit %d\n%s%s", code, stdout, stderr)
	}

	// The cluster, from the final userdata of each member.
	for _, n := range []string{"e1", "e2", "e3"} {
		env := lab.memberEnv(t, n, filepath.Join(lab.state, gen.UserdataPath("node", n, "ignition")), "new")
		lab.start(t, n, env)
	}
	for _, n := range []string{"e1", "e2", "e3"} {
		lab.waitHealthy(t, n, lab.addr(n))
	}

	// The client certificate of the members' role writes and reads a key.
	lab.etcdctl0(t, "put", "rampart/probe", "written-before-recovery")
	if got := lab.etcdctl0(t, "get", "--print-value-only", "rampart/probe"); strings.TrimSpace(got) != "written-before-recovery" {
		t.Fatalf("get rampart/probe: %q", got)
	}

	// A machine of the etcd_client role, as the real Ignition writes it from
	// its final userdata: etcdctl with nothing but the environment file
	// (paths rewritten into its root) reads the key.
	agentRoot, _, _ := realtool.ApplyIgnition(t, lab.ign, filepath.Join(lab.state, gen.UserdataPath("role", "agent", "ignition")))
	if st, err := os.Stat(filepath.Join(agentRoot, etcd.ClientKey)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("agent: %s: %v, want mode 0600", etcd.ClientKey, err)
	}
	// ... with its own role's client pair, not the members' role's.
	for _, f := range []struct{ node, state string }{{etcd.ClientCert, pki.ClientCert("agent")}, {etcd.ClientKey, pki.ClientKey("agent")}} {
		got, err := os.ReadFile(filepath.Join(agentRoot, f.node))
		want, werr := os.ReadFile(filepath.Join(lab.state, f.state))
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Errorf("agent: %s is not the state's %s (%v, %v)", f.node, f.state, err, werr)
		}
	}
	if cn := certCN(t, filepath.Join(agentRoot, etcd.ClientCert)); cn != "etcd-lab-agent-client" {
		t.Errorf("agent: its client certificate is %q's", cn)
	}
	envFile, err := os.ReadFile(filepath.Join(agentRoot, etcd.ClientEnvFile))
	if err != nil {
		t.Fatalf("agent: Ignition did not write %s: %v", etcd.ClientEnvFile, err)
	}
	agentEnv := []string{"PATH=" + os.Getenv("PATH")}
	for _, line := range strings.Split(string(envFile), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			agentEnv = append(agentEnv, strings.ReplaceAll(line, etcd.CertDir, filepath.Join(agentRoot, etcd.CertDir)))
		}
	}
	if got, err := realtool.Run(agentEnv, lab.etcdctl, "--dial-timeout=3s", "get", "--print-value-only", "rampart/probe"); err != nil || strings.TrimSpace(got) != "written-before-recovery" {
		t.Errorf("etcdctl with the agent's %s: %q, %v\nenvironment: %q", etcd.ClientEnvFile, got, err, agentEnv)
	}
	// Its final cloud-config is one cloud-init accepts.
	cc := filepath.Join(lab.state, gen.UserdataPath("role", "agent", "cloud-config"))
	if out, err := realtool.Run(nil, realtool.Tool(t, "cloud-init", "cloud-init"), "schema", "--config-file", cc); err != nil || !strings.Contains(out, "Valid cloud-config") {
		t.Errorf("cloud-init schema rejects %s (%v):\n%s", cc, err, out)
	}

	// Clients without a certificate, or with one from another CA, are refused;
	// the same request with the generated certificate is answered.
	other := pki.Open(filepath.Join(lab.dir, "other-state"))
	if _, err := other.Ensure("etcd-lab", []pki.Member{{Name: "e1", Addresses: nil, Role: "etcd"}}); err == nil {
		t.Fatal("Ensure accepted a member without addresses")
	}
	if _, err := other.Ensure("etcd-lab", []pki.Member{{Name: "e1", Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Role: "etcd"}}); err != nil {
		t.Fatal(err)
	}
	good := lab.clientTLS(t, "etcd")
	agent := lab.clientTLS(t, "agent")
	foreign := lab.tlsConfig(t, filepath.Join(other.Dir, pki.ClientCert("etcd")), filepath.Join(other.Dir, pki.ClientKey("etcd")))
	none := lab.tlsConfig(t, "", "")
	for _, n := range []string{"e1", "e2", "e3"} {
		url := "https://" + net.JoinHostPort(lab.addr(n), strconv.Itoa(lab.clientPort))
		if v, err := rangeKey(good, url, "rampart/probe"); err != nil || v != "written-before-recovery" {
			t.Errorf("%s with the generated client certificate: %q, %v", n, v, err)
		}
		if v, err := rangeKey(agent, url, "rampart/probe"); err != nil || v != "written-before-recovery" {
			t.Errorf("%s with role agent's client certificate: %q, %v", n, v, err)
		}
		if v, err := rangeKey(none, url, "rampart/probe"); err == nil || !isTLSRefusal(err) {
			t.Errorf("%s answered a client without a certificate: %q, %v", n, v, err)
		}
		if v, err := rangeKey(foreign, url, "rampart/probe"); err == nil || !isTLSRefusal(err) {
			t.Errorf("%s answered a client whose certificate is from another CA: %q, %v", n, v, err)
		}
	}
	// What etcdctl on a member does with its default endpoint host: each
	// member's serving certificate is valid for 127.0.0.1 (and each
	// serves it where it listens).
	for _, n := range []string{"e1", "e2", "e3"} {
		cfg := lab.clientTLS(t, "etcd")
		cfg.ServerName = "127.0.0.1"
		conn, err := tls.Dial("tcp", net.JoinHostPort(lab.addr(n), strconv.Itoa(lab.clientPort)), cfg)
		if err != nil {
			t.Errorf("%s's certificate, verified for 127.0.0.1: %v", n, err)
			continue
		}
		conn.Close()
	}
	for _, n := range []string{"e1", "e2", "e3"} {
		if log := lab.procs[n].logText(); !strings.Contains(log, "rejected connection") {
			t.Errorf("%s does not log the connections it rejected:\n%s", n, lastLines(log, 10))
		}
	}

	t.Run("peer-with-other-addresses-cannot-join", lab.badPeer)
	t.Run("snapshot-on-a-member", lab.snapshotOnMember)
	t.Run("recover-replace", lab.recoverReplace)
	t.Run("rotate-one-client-role", lab.rotateClient)
}

// rotateClient: `certs rotate --client agent` and gen give role agent a
// new client pair and change nothing of the members (their final userdata
// is byte for byte what it was, so they need nothing delivered); the
// running members accept the new pair at once. They accept the old one too:
// a rotated certificate is not revoked, etcd accepts any unexpired
// certificate of its CA (the README says so).
func (lab *etcdLab) rotateClient(t *testing.T) {
	oldAgent := lab.clientTLS(t, "agent")
	members := map[string][]byte{}
	for _, n := range []string{"e1", "e2", "e3"} {
		members[n] = readOrFatal(t, filepath.Join(lab.state, gen.UserdataPath("node", n, "ignition")))
	}
	etcdCert, agentCert := readOrFatal(t, filepath.Join(lab.state, pki.ClientCert("etcd"))), readOrFatal(t, filepath.Join(lab.state, pki.ClientCert("agent")))
	agentUserdata := readOrFatal(t, filepath.Join(lab.state, gen.UserdataPath("role", "agent", "ignition")))
	code, out, stderr := run("certs", "rotate", "-f", lab.spec, "--state", lab.state, "--client", "agent")
	if code != 0 || !strings.Contains(out, "rotated: new key and certificate for the client of role agent") || rotatedMember(out) {
		t.Fatalf("certs rotate --client agent: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := run("gen", "-f", lab.spec, "-o", lab.out, "--state", lab.state); code != 0 {
		t.Fatalf("gen: exit %d\n%s%s", code, out, stderr)
	}
	for n, before := range members {
		if !bytes.Equal(readOrFatal(t, filepath.Join(lab.state, gen.UserdataPath("node", n, "ignition"))), before) {
			t.Errorf("%s's final userdata changed with role agent's client pair", n)
		}
	}
	if !bytes.Equal(readOrFatal(t, filepath.Join(lab.state, pki.ClientCert("etcd"))), etcdCert) {
		t.Error("role etcd's client certificate changed")
	}
	if bytes.Equal(readOrFatal(t, filepath.Join(lab.state, pki.ClientCert("agent"))), agentCert) ||
		bytes.Equal(readOrFatal(t, filepath.Join(lab.state, gen.UserdataPath("role", "agent", "ignition"))), agentUserdata) {
		t.Error("role agent's client certificate or final userdata did not change")
	}
	newAgent := lab.clientTLS(t, "agent")
	for _, n := range []string{"e1", "e2", "e3"} {
		if p := lab.procs[n]; p == nil || p.exited() {
			continue // e2 of recover-replace ended with that test
		}
		url := "https://" + net.JoinHostPort(lab.addr(n), strconv.Itoa(lab.clientPort))
		if v, err := rangeKey(newAgent, url, "rampart/probe"); err != nil || v != "written-before-recovery" {
			t.Errorf("%s with role agent's new client certificate: %q, %v", n, v, err)
		}
		if _, err := rangeKey(oldAgent, url, "rampart/probe"); err != nil {
			t.Errorf("%s refuses role agent's rotated client certificate (%v): the README says etcd accepts it until it expires", n, err)
		}
	}
}

// rotatedMember says whether a line of certs rotate's output that says
// what it rotated names a member.
func rotatedMember(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "rotated:") && strings.Contains(line, "member") {
			return true
		}
	}
	return false
}

// clientTLS is tlsConfig with the state's client pair of role.
func (lab *etcdLab) clientTLS(t testing.TB, role string) *tls.Config {
	t.Helper()
	return lab.tlsConfig(t, filepath.Join(lab.state, pki.ClientCert(role)), filepath.Join(lab.state, pki.ClientKey(role)))
}

// certCN is the common name of the PEM certificate in file.
func certCN(t testing.TB, file string) string {
	t.Helper()
	b, _ := pem.Decode(readOrFatal(t, file))
	if b == nil {
		t.Fatalf("%s holds no PEM certificate", file)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c.Subject.CommonName
}

func readOrFatal(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// badPeer: a peer whose certificate is from the cluster's CA but names other
// IP addresses than its own is added as a member and started; the members
// refuse to speak to it, so it never joins.
func (lab *etcdLab) badPeer(t *testing.T) {
	const bad, badAddr, otherAddr = "e4", "127.0.0.4", "127.0.0.9"
	certDir := filepath.Join(lab.dir, "bad-peer")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Same CA, same usages as a member's certificate, other IP SANs. The
	// certificate has no DNS SANs: on loopback every connection comes from
	// 127.0.0.1, which a "localhost" SAN names truthfully, so only without
	// it is the address what decides, as it is between real hosts.
	cert, key := signWithStateCA(t, lab.state, bad, []net.IP{net.ParseIP(otherAddr)})
	certFile, keyFile := filepath.Join(certDir, "server.crt"), filepath.Join(certDir, "server.key")
	writeTestFile(t, certFile, cert, 0o644)
	writeTestFile(t, keyFile, key, 0o600)

	peerURL := "https://" + net.JoinHostPort(badAddr, strconv.Itoa(lab.peerPort))
	lab.etcdctl0(t, "member", "add", bad, "--peer-urls="+peerURL)
	// Its environment: a generated member's, for this name and address, with
	// the certificate above.
	env := lab.memberEnv(t, "e3", filepath.Join(lab.state, gen.UserdataPath("node", "e3", "ignition")), "new")
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "ETCD_NAME":
			v = bad
		case "ETCD_INITIAL_CLUSTER":
			v += "," + bad + "=" + peerURL
		case "ETCD_INITIAL_CLUSTER_STATE":
			v = "existing"
		case "ETCD_CERT_FILE", "ETCD_PEER_CERT_FILE":
			v = certFile
		case "ETCD_KEY_FILE", "ETCD_PEER_KEY_FILE":
			v = keyFile
		case "ETCD_DATA_DIR":
			v = filepath.Join(certDir, "data")
		default:
			v = strings.ReplaceAll(v, lab.addr("e3")+":", badAddr+":")
		}
		env[i] = k + "=" + v
	}
	p := lab.start(t, bad, env)
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) && !p.exited() {
		if lab.healthy(t, badAddr, true) {
			t.Fatalf("%s, whose certificate names %s, became a healthy member", bad, otherAddr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lab.healthy(t, badAddr, true) {
		t.Fatalf("%s became a healthy member", bad)
	}
	refused := false
	for _, n := range []string{"e1", "e2", "e3"} {
		log := lab.procs[n].logText()
		if strings.Contains(log, "certificate is valid for "+otherAddr+", not "+badAddr) || strings.Contains(log, `IPAddresses ["`+otherAddr+`"]`) {
			refused = true
		}
	}
	if !refused {
		t.Errorf("no member logged refusing %s's certificate; %s:\n%s", bad, bad, lastLines(p.logText(), 15))
	}
	list := lab.etcdctl0(t, "member", "list")
	var id string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Split(line, ", ")
		if len(f) >= 4 && f[3] == peerURL {
			id = f[0]
			if f[1] != "unstarted" {
				t.Errorf("%s is %s in the member list, want unstarted:\n%s", bad, f[1], list)
			}
		}
	}
	if id == "" {
		t.Fatalf("the member list has no %s:\n%s", peerURL, list)
	}
	p.stop(t)
	lab.etcdctl0(t, "member", "remove", id)
}

// snapshotOnMember: the snapshot command recover --all names
// (etcd.SnapshotCommand) runs as printed on e1, with e1's files as the real
// Ignition writes them (under a root) and its loopback URL, and takes a
// snapshot that etcd.CheckSnapshot accepts.
func (lab *etcdLab) snapshotOnMember(t *testing.T) {
	s, err := spec.LoadFile(lab.spec)
	if err != nil {
		t.Fatal(err)
	}
	_, e1root := lab.memberEnvRoot(t, "e1", filepath.Join(lab.state, gen.UserdataPath("node", "e1", "ignition")), "new")
	file := filepath.Join(lab.dir, "on-e1.db")
	cmd := strings.ReplaceAll(etcd.SnapshotCommand(s, file), etcd.CertDir+"/", filepath.Join(e1root, etcd.CertDir)+"/")
	sh := exec.Command("sh", "-e", "-c", cmd)
	sh.Env = append(os.Environ(), "PATH="+filepath.Dir(lab.etcdctl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	if err := etcd.CheckSnapshot(readOrFatal(t, file)); err != nil {
		t.Errorf("the snapshot taken on e1: %v", err)
	}
}

// recoverReplace: e2 loses its data directory; `rampart recover e2
// --replace` writes its userdata and prints the member commands, which are
// run as printed on e1 (with e1's own files and loopback URL); e2 boots
// from the new userdata and the cluster is healthy with three members and
// the key written before.
func (lab *etcdLab) recoverReplace(t *testing.T) {
	old := lab.procs["e2"]
	old.stop(t)
	if err := os.RemoveAll(old.dataDir); err != nil {
		t.Fatal(err)
	}
	recovered := filepath.Join(lab.dir, "recovered")
	code, script, stderr := run("recover", "e2", "-f", lab.spec, "--state", lab.state, "-o", recovered, "--replace")
	if code != 0 {
		t.Fatalf("rampart recover --replace: exit %d\n%s%s", code, script, stderr)
	}
	if !strings.Contains(script, "member remove") || !strings.Contains(script, "member add e2 --peer-urls=https://127.0.0.2:"+strconv.Itoa(lab.peerPort)) {
		t.Fatalf("recover printed no member commands:\n%s", script)
	}
	// The commands run as printed on e1 (at 127.0.0.1, its loopback):
	// e1's files, as the real Ignition writes them from its userdata, are
	// under a root, so the member's certificate directory is rewritten into
	// it and nothing else. No path of the state directory is left to use.
	if strings.Contains(script, lab.state) {
		t.Errorf("the member commands name the workstation's state directory %s:\n%s", lab.state, script)
	}
	_, e1root := lab.memberEnvRoot(t, "e1", filepath.Join(lab.state, gen.UserdataPath("node", "e1", "ignition")), "new")
	onE1 := strings.ReplaceAll(script, etcd.CertDir+"/", filepath.Join(e1root, etcd.CertDir)+"/")
	// The script is run twice, as an operator does whose first run was cut
	// short or who is not sure it ran: the second run must change nothing
	// and succeed.
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sh := exec.CommandContext(ctx, "sh", "-e", "-c", onE1)
		sh.Env = append(os.Environ(), "PATH="+filepath.Dir(lab.etcdctl)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := sh.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("running the printed commands on e1 (run %d): %v\n%s\nscript:\n%s", run, err, out, onE1)
		}
		peerURL := "https://" + net.JoinHostPort("127.0.0.2", strconv.Itoa(lab.peerPort))
		list := lab.etcdctl0(t, "member", "list")
		var e2 []string
		for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
			if f := strings.Split(line, ", "); len(f) >= 4 && (f[2] == "e2" || f[3] == peerURL) {
				e2 = append(e2, line)
			}
		}
		if len(e2) != 1 || !strings.Contains(e2[0], ", unstarted, ") || strings.Count(strings.TrimSpace(list), "\n") != 2 {
			t.Fatalf("after run %d of the printed commands, want e2 once, unstarted, among three members:\n%s", run, list)
		}
	}
	env := lab.memberEnv(t, "e2", filepath.Join(recovered, "ignition.json"), "existing")
	lab.start(t, "e2", env)
	for _, n := range []string{"e1", "e2", "e3"} {
		lab.waitHealthy(t, n, lab.addr(n))
	}
	list := lab.etcdctl0(t, "member", "list")
	started := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if f := strings.Split(line, ", "); len(f) >= 3 && f[1] == "started" {
			started++
		}
	}
	if started != 3 || strings.Count(strings.TrimSpace(list), "\n") != 2 {
		t.Fatalf("after recovery the member list is\n%s\nwant three started members", list)
	}
	e2 := "--endpoints=https://" + net.JoinHostPort("127.0.0.2", strconv.Itoa(lab.clientPort))
	if got := lab.etcdctl0(t, e2, "get", "--print-value-only", "rampart/probe"); strings.TrimSpace(got) != "written-before-recovery" {
		t.Fatalf("the recovered e2 answers %q for the key written before", got)
	}
}

// memberEnv applies a final userdata with the real Ignition into a new
// root and returns the environment of the etcd drop-in it wrote, with the
// node's paths rewritten into that root. It checks the member's files on
// the way: the key is 0600, and the drop-in is the one of the output tree.
func (lab *etcdLab) memberEnv(t testing.TB, node, config, wantState string) []string {
	t.Helper()
	env, _ := lab.memberEnvRoot(t, node, config, wantState)
	return env
}

// memberEnvRoot is memberEnv, and the root the member's files are in.
func (lab *etcdLab) memberEnvRoot(t testing.TB, node, config, wantState string) (env []string, root string) {
	t.Helper()
	root, _, _ = realtool.ApplyIgnition(t, lab.ign, config)
	return lab.memberEnvIn(t, node, root, config, wantState), root
}

// memberEnvIn is memberEnv for a member whose userdata config the real
// Ignition has applied into root.
func (lab *etcdLab) memberEnvIn(t testing.TB, node, root, config, wantState string) (env []string) {
	t.Helper()
	dropin := filepath.Join(root, "etc/systemd/system", etcd.Unit+".d", etcd.Dropin)
	data, err := os.ReadFile(dropin)
	if err != nil {
		t.Fatalf("%s: Ignition did not write the etcd drop-in: %v", config, err)
	}
	tree, err := os.ReadFile(filepath.Join(lab.out, "nodes", node, "rootfs/etc/systemd/system", etcd.Unit+".d", etcd.Dropin))
	if err != nil {
		t.Fatal(err)
	}
	if wantState == "new" && !bytes.Equal(data, tree) {
		t.Errorf("%s: the drop-in of the final userdata differs from the output tree's", node)
	}
	for _, f := range []string{etcd.KeyFile, etcd.ClientKey} {
		st, err := os.Stat(filepath.Join(root, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s: %v, want mode 0600 (%v)", node, f, st.Mode(), err)
		}
	}
	// The member's client pair (for etcdctl on it) is its role's.
	if got, want := readOrFatal(t, filepath.Join(root, etcd.ClientKey)), readOrFatal(t, filepath.Join(lab.state, pki.ClientKey("etcd"))); !bytes.Equal(got, want) {
		t.Errorf("%s: %s is not role etcd's client key", node, etcd.ClientKey)
	}
	if cn := certCN(t, filepath.Join(root, etcd.ClientCert)); cn != "etcd-lab-etcd-client" {
		t.Errorf("%s: its client certificate is %q's", node, cn)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Environment=")
		if !ok {
			continue
		}
		kv, err := strconv.Unquote(rest)
		if err != nil {
			t.Fatalf("%s: %q: %v", dropin, sc.Text(), err)
		}
		k, v, _ := strings.Cut(kv, "=")
		seen[k] = true
		v = strings.ReplaceAll(v, etcd.CertDir, filepath.Join(root, etcd.CertDir))
		v = strings.ReplaceAll(v, etcd.DataDir, filepath.Join(root, etcd.DataDir))
		if k == "ETCD_INITIAL_CLUSTER_STATE" && v != wantState {
			t.Errorf("%s: ETCD_INITIAL_CLUSTER_STATE=%s, want %s", node, v, wantState)
		}
		if k == "ETCD_LISTEN_CLIENT_URLS" {
			// Every member also listens on 127.0.0.1 for clients on its
			// own machine. Here the three members share one machine, and
			// 127.0.0.1 is e1's own address: the others leave it to e1.
			// (TestRealEtcd checks that each member's certificate is valid
			// for 127.0.0.1.)
			local := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(lab.clientPort))
			urls := strings.Split(v, ",")
			if !slices.Contains(urls, local) {
				t.Errorf("%s: ETCD_LISTEN_CLIENT_URLS=%s does not listen on %s", node, v, local)
			}
			if lab.addr(node) != "127.0.0.1" {
				v = strings.Join(slices.DeleteFunc(urls, func(u string) bool { return u == local }), ",")
			}
		}
		env = append(env, k+"="+v)
	}
	for _, k := range []string{"ETCD_NAME", "ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_CLUSTER_STATE", "ETCD_INITIAL_ADVERTISE_PEER_URLS",
		"ETCD_ADVERTISE_CLIENT_URLS", "ETCD_LISTEN_CLIENT_URLS", "ETCD_LISTEN_PEER_URLS", "ETCD_TRUSTED_CA_FILE", "ETCD_CERT_FILE",
		"ETCD_KEY_FILE", "ETCD_CLIENT_CERT_AUTH", "ETCD_PEER_TRUSTED_CA_FILE", "ETCD_PEER_CERT_FILE", "ETCD_PEER_KEY_FILE", "ETCD_PEER_CLIENT_CERT_AUTH"} {
		if !seen[k] {
			t.Errorf("%s: the drop-in does not set %s", node, k)
		}
	}
	return env
}

func (lab *etcdLab) addr(node string) string { return "127.0.0." + strings.TrimPrefix(node, "e") }

// etcdProc is a running etcd.
type etcdProc struct {
	name    string
	cmd     *exec.Cmd
	log     string
	dataDir string
	done    chan struct{}
}

// start runs etcd with exactly env (nothing inherited) and stops it when
// the test ends.
func (lab *etcdLab) start(t testing.TB, name string, env []string) *etcdProc {
	t.Helper()
	p := &etcdProc{name: name, log: filepath.Join(lab.dir, name+"-"+strconv.Itoa(len(lab.procs))+".log"), done: make(chan struct{})}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "ETCD_DATA_DIR="); ok {
			p.dataDir = v
		}
	}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(lab.etcd)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting etcd %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	lab.procs[name] = p
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *etcdProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM, then SIGKILL after five seconds.
func (p *etcdProc) stop(t testing.TB) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *etcdProc) logText() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// healthy asks a member's /health with the client certificate of the
// members' role.
func (lab *etcdLab) healthy(t testing.TB, addr string, skipVerify bool) bool {
	cfg := lab.clientTLS(t, "etcd")
	cfg.InsecureSkipVerify = skipVerify
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + net.JoinHostPort(addr, strconv.Itoa(lab.clientPort)) + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
}

func (lab *etcdLab) waitHealthy(t testing.TB, name, addr string) {
	t.Helper()
	deadline := time.Now().Add(etcdStartTimeout)
	for !lab.healthy(t, addr, false) {
		if p := lab.procs[name]; p != nil && p.exited() {
			t.Fatalf("etcd %s exited:\n%s", name, lastLines(p.logText(), 20))
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd %s is not healthy after %v:\n%s", name, etcdStartTimeout, lastLines(lab.procs[name].logText(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcdctl0 runs etcdctl against the running members with the state's CA
// and the client certificate of the members' role (etcd); an argument
// --endpoints=... replaces the default.
func (lab *etcdLab) etcdctl0(t testing.TB, args ...string) string {
	t.Helper()
	var eps []string
	for _, n := range lab.members() {
		if p := lab.procs[n]; p != nil && !p.exited() {
			eps = append(eps, "https://"+net.JoinHostPort(lab.addr(n), strconv.Itoa(lab.clientPort)))
		}
	}
	flags := []string{"--endpoints=" + strings.Join(eps, ","), "--dial-timeout=3s", "--command-timeout=10s",
		"--cacert=" + filepath.Join(lab.state, pki.CACert), "--cert=" + filepath.Join(lab.state, pki.ClientCert("etcd")), "--key=" + filepath.Join(lab.state, pki.ClientKey("etcd"))}
	if len(args) > 0 && strings.HasPrefix(args[0], "--endpoints=") {
		flags[0], args = args[0], args[1:]
	}
	// etcd refuses to change membership until every member has been
	// connected for five seconds (its strict reconfiguration check): retry.
	deadline := time.Now().Add(15 * time.Second)
	out, err := realtool.Run(append(os.Environ(), "ETCDCTL_API=3"), lab.etcdctl, append(flags, args...)...)
	for err != nil && strings.Contains(out, "unhealthy cluster") && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		out, err = realtool.Run(append(os.Environ(), "ETCDCTL_API=3"), lab.etcdctl, append(flags, args...)...)
	}
	if err != nil {
		t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tlsConfig trusts the state's CA and presents the given client
// certificate (none when cert is "").
func (lab *etcdLab) tlsConfig(t testing.TB, cert, key string) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(lab.state, pki.CACert))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the state's CA certificate does not parse")
	}
	cfg := &tls.Config{RootCAs: pool}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// rangeKey reads a key through etcd's gRPC gateway (POST /v3/kv/range).
func rangeKey(cfg *tls.Config, url, key string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	body := fmt.Sprintf(`{"key": %q}`, base64.StdEncoding.EncodeToString([]byte(key)))
	resp, err := c.Post(url+"/v3/kv/range", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	var r struct {
		KVs []struct {
			Value string `json:"value"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", err
	}
	if len(r.KVs) != 1 {
		return "", fmt.Errorf("%d values for %s", len(r.KVs), key)
	}
	v, err := base64.StdEncoding.DecodeString(r.KVs[0].Value)
	return string(v), err
}

// isTLSRefusal reports whether err is the server refusing the client's
// certificate during or right after the handshake.
func isTLSRefusal(err error) bool {
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"certificate required", "bad certificate", "unknown certificate authority", "handshake failure", "connection reset", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// signWithStateCA issues a member-like certificate for name with the given
// IP SANs from the state's CA.
func signWithStateCA(t *testing.T, state, name string, ips []net.IP) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, _ = signByStateCA(t, state, &x509.Certificate{
		Subject:     pkix.Name{Organization: []string{"rampart"}, OrganizationalUnit: []string{"etcd-lab"}, CommonName: name},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: ips,
	})
	return certPEM, keyPEM
}

// writeLabSpec writes the spec of the test cluster: three etcd members on
// 127.0.0.1-3 (e2 at e2addr) with the given ports.
func writeLabSpec(t *testing.T, file string, clientPort, peerPort int, e2addr string) {
	t.Helper()
	spec := fmt.Sprintf(`version: 1
cluster: etcd-lab
os: {variant: flatcar, version: 1.1.0}
outputs: [ignition, cloud-config]
profile: none
roles:
  etcd: {zone: private, etcd: true}
  agent: {zone: private, etcd_client: true}
nodes:
  - {name: e1, role: etcd, addresses: [127.0.0.1]}
  - {name: e2, role: etcd, addresses: [%s]}
  - {name: e3, role: etcd, addresses: [127.0.0.3]}
etcd: {client_port: %d, peer_port: %d}
`, e2addr, clientPort, peerPort)
	writeTestFile(t, file, []byte(spec), 0o644)
}
