package rollout

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/realtool"
)

// lab is a real etcd cluster of three members on 127.0.NET.1-3, each a
// local process started from exactly the environment rampart gives the
// member (etcd.Env, paths rewritten into the member's directory) and the
// certificate files the state gives it, and one etcd client machine (role
// agent), a directory. The lab is the rollout's Machines: Deliver writes
// into a node's directory, RestartEtcd stops the member's process (SIGTERM,
// as systemd does) and starts it again.
type lab struct {
	t          *testing.T
	etcdBin    string
	dir        string
	src        string // the spec's text
	s          *spec.Spec
	st         *pki.State
	clientPort int

	mu       sync.Mutex
	procs    map[string]*proc
	env      map[string][]string
	restarts []string        // members restarted, in order
	keepDown map[string]bool // members RestartEtcd stops and does not start

	// pairRereads counts the agent's client pair read between the two
	// renames of a delivery (clientTLS).
	pairRereads atomic.Int64
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// newLab writes the spec, creates the state and starts the members.
func newLab(t *testing.T, net3 string) *lab { return newLabAt(t, net3, time.Time{}) }

// newLabAt is newLab with a state made at the given time (zero: now).
func newLabAt(t *testing.T, net3 string, made time.Time) *lab {
	t.Helper()
	l := &lab{t: t, etcdBin: realtool.Tool(t, "etcd", "etcd-server"), dir: t.TempDir(), procs: map[string]*proc{}, env: map[string][]string{}, keepDown: map[string]bool{}}
	var peerPort int
	l.clientPort, peerPort = realtool.FreePorts(t, net3+".1", net3+".2", net3+".3")
	src := fmt.Sprintf(`version: 1
cluster: roll-lab
os: {variant: flatcar, version: 1.1.0}
outputs: [ignition]
profile: none
roles:
  etcd: {zone: private, etcd: true}
  agent: {zone: private, etcd_client: true}
nodes:
  - {name: e1, role: etcd, addresses: [%[1]s.1]}
  - {name: e2, role: etcd, addresses: [%[1]s.2]}
  - {name: e3, role: etcd, addresses: [%[1]s.3]}
  - {name: a1, role: agent, addresses: [10.200.0.1]}
etcd: {client_port: %[2]d, peer_port: %[3]d}
`, net3, l.clientPort, peerPort)
	s, err := spec.Parse(filepath.Join(l.dir, "lab.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	l.s, l.src = s, src
	l.st = pki.Open(filepath.Join(l.dir, "state"))
	if !made.IsZero() {
		l.st.Now = func() time.Time { return made }
	}
	if _, err := l.st.Ensure(s.Cluster, etcd.Members(s)); err != nil {
		t.Fatal(err)
	}
	l.st.Now = nil
	mat, err := l.st.Load(s.Cluster, etcd.Members(s))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.st.Trusting(mat); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Nodes {
		var pub, sec []boot.File
		if etcd.IsMember(s, n) {
			pub, sec, err = etcd.MemberFiles(mat, n)
		} else {
			pub, sec, err = etcd.ClientFiles(mat, n.Role)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Deliver(context.Background(), n, append(pub, sec...)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range l.members() {
		l.env[n.Name] = l.memberEnv(n)
		l.start(n.Name)
	}
	l.waitHealthy(t)
	return l
}

// waitHealthy waits until every member is healthy.
func (l *lab) waitHealthy(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range l.members() {
		for l.healthy(ctx, n) != nil {
			if ctx.Err() != nil {
				t.Fatalf("%s not healthy:\n%s", n.Name, l.logTail(n.Name))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (l *lab) members() []*spec.Node {
	var out []*spec.Node
	for _, n := range l.s.Nodes {
		if etcd.IsMember(l.s, n) {
			out = append(out, n)
		}
	}
	return out
}

func (l *lab) root(node string) string { return filepath.Join(l.dir, "nodes", node) }

// memberEnv is etcd.Env with the paths in the member's directory; the
// loopback client URL every member also listens on is left out (the
// three share one machine).
func (l *lab) memberEnv(n *spec.Node) []string {
	var env []string
	for _, v := range etcd.Env(l.s, n, etcd.New) {
		val := strings.ReplaceAll(v.Value, etcd.CertDir, filepath.Join(l.root(n.Name), etcd.CertDir))
		val = strings.ReplaceAll(val, etcd.DataDir, filepath.Join(l.root(n.Name), etcd.DataDir))
		if v.Name == "ETCD_LISTEN_CLIENT_URLS" {
			val = etcd.ClientURL(l.s, n)
		}
		env = append(env, v.Name+"="+val)
	}
	// the drop-in's environment asks for a pre-vote (etcd 3.5's default),
	// which Debian's etcd 3.4, run here, needs asked for
	return env
}

func (l *lab) start(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := &proc{done: make(chan struct{}), log: filepath.Join(l.dir, name+"-"+strconv.Itoa(len(l.restarts))+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".log")}
	logf, err := os.Create(p.log)
	if err != nil {
		l.t.Error(err)
		return
	}
	p.cmd = exec.Command(l.etcdBin)
	p.cmd.Env = l.env[name]
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		l.t.Errorf("starting etcd %s: %v", name, err)
		return
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.done) }()
	l.procs[name] = p
	l.t.Cleanup(func() { p.stop() })
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (l *lab) logTail(name string) string {
	l.mu.Lock()
	p := l.procs[name]
	l.mu.Unlock()
	if p == nil {
		return ""
	}
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// Deliver writes the files into the node's directory, as the SSH delivery
// does on a node: unchanged files left alone, the previous version kept.
func (l *lab) Deliver(_ context.Context, n *spec.Node, files []boot.File) (bool, error) {
	changed := false
	for _, f := range files {
		p := filepath.Join(l.root(n.Name), f.Path)
		old, err := os.ReadFile(p)
		if err == nil {
			if info, _ := os.Stat(p); bytes.Equal(old, []byte(f.Contents)) && info.Mode().Perm() == f.Mode.Perm() {
				continue
			}
			if err := pki.WriteAtomic(p+PrevSuffix, old, f.Mode.Perm()); err != nil {
				return false, err
			}
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return false, err
		}
		if err := pki.WriteAtomic(p, []byte(f.Contents), f.Mode.Perm()); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

// RestartEtcd stops the member's process and starts it again (unless the
// test keeps it down).
func (l *lab) RestartEtcd(_ context.Context, n *spec.Node) error {
	l.mu.Lock()
	l.restarts = append(l.restarts, n.Name)
	p, down := l.procs[n.Name], l.keepDown[n.Name]
	l.mu.Unlock()
	p.stop()
	if !down {
		l.start(n.Name)
	}
	return nil
}

func (l *lab) restarted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.restarts...)
}

func (l *lab) url(n *spec.Node) string { return etcd.ClientURL(l.s, n) }

// clientTLS is what the agent's machine trusts and presents now: its CA
// file and client pair, read afresh (as etcdctl does at each run). A
// delivery replaces the certificate and the key by two renames, each
// atomic: a read between them pairs the new certificate with the old key,
// which an etcdctl run at that instant reports and the next run does not.
// That says nothing of the members' health, which is what the callers
// judge: such a read is made again (every 20 ms, for at most a second) and
// counted in pairRereads.
func (l *lab) clientTLS() (*tls.Config, error) {
	root := l.root("a1")
	caPEM, err := os.ReadFile(filepath.Join(root, etcd.CAFile))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the agent's CA file holds no certificate")
	}
	for tries := 0; ; tries++ {
		pair, err := tls.LoadX509KeyPair(filepath.Join(root, etcd.ClientCert), filepath.Join(root, etcd.ClientKey))
		if err == nil {
			return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}, nil
		}
		if !strings.Contains(err.Error(), "private key does not match public key") || tries == 50 {
			return nil, err
		}
		l.pairRereads.Add(1)
		time.Sleep(20 * time.Millisecond)
	}
}

// healthy asks one member's /health as the agent.
func (l *lab) healthy(ctx context.Context, n *spec.Node) error {
	cfg, err := l.clientTLS()
	if err != nil {
		return err
	}
	_, err = call(ctx, cfg, l.url(n)+"/health", "", 3*time.Second)
	return err
}

// call GETs (body "") or POSTs to url with cfg, and returns the body of a
// 200 answer.
func call(ctx context.Context, cfg *tls.Config, url, body string, timeout time.Duration) ([]byte, error) {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: timeout}
	method, rd := http.MethodGet, io.Reader(nil)
	if body != "" {
		method, rd = http.MethodPost, strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	if strings.HasSuffix(url, "/health") && !strings.Contains(string(data), `"health":"true"`) {
		return nil, fmt.Errorf("unhealthy: %s", data)
	}
	return data, nil
}

// load is the client the issue asks for: every 50 ms a logical request
// (each on its own goroutine, so that the pace holds on a loaded machine)
// writes a key and reads it back through etcd's JSON gateway as the
// agent's machine; each request is retried, on the next member, as etcd's
// client does, for up to 10 s, and must then have succeeded. Beside it a
// health watcher asks every member's /health every 100 ms.
type load struct {
	l        *lab
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	requests int
	retries  int
	failed   []string
	minUp    int
	lowSeen  []string
	// falseAnswers counts the probes in which a member said false before
	// true, longestFalse the longest such wait
	falseAnswers int
	longestFalse time.Duration
}

func (l *lab) startLoad() *load {
	ld := &load{l: l, stop: make(chan struct{}), minUp: 3}
	ld.wg.Add(2)
	go ld.writer()
	go ld.watcher()
	return ld
}

func (ld *load) end() {
	close(ld.stop)
	ld.wg.Wait()
}

func (ld *load) writer() {
	defer ld.wg.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var reqs sync.WaitGroup
	defer reqs.Wait()
	for i := 0; ; i++ {
		select {
		case <-ld.stop:
			return
		case <-tick.C:
		}
		// each request on its own: a slow one does not hold up the next
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			ld.request(i)
		}()
	}
}

// request is logical request i: key rollout/probe/i written, then read
// back, on one member after the other until both succeed, for 10 s.
func (ld *load) request(i int) {
	members := ld.l.members()
	val := "v" + strconv.Itoa(i)
	key := base64.StdEncoding.EncodeToString([]byte("rollout/probe/" + strconv.Itoa(i)))
	put := fmt.Sprintf(`{"key":%q,"value":%q}`, key, base64.StdEncoding.EncodeToString([]byte(val)))
	get := fmt.Sprintf(`{"key":%q}`, key)
	var last error
	ok := false
	deadline := time.Now().Add(10 * time.Second)
	for try := 0; time.Now().Before(deadline); try++ {
		n := members[(i+try)%len(members)]
		cfg, err := ld.l.clientTLS()
		if err == nil {
			_, err = call(context.Background(), cfg, ld.l.url(n)+"/v3/kv/put", put, 2*time.Second)
		}
		var data []byte
		if err == nil {
			data, err = call(context.Background(), cfg, ld.l.url(n)+"/v3/kv/range", get, 2*time.Second)
		}
		if err == nil {
			var r struct {
				KVs []struct {
					Value string `json:"value"`
				} `json:"kvs"`
			}
			if err = json.Unmarshal(data, &r); err == nil && (len(r.KVs) != 1 || r.KVs[0].Value != base64.StdEncoding.EncodeToString([]byte(val))) {
				err = fmt.Errorf("read back %s", data)
			}
		}
		if err == nil {
			ok = true
			break
		}
		last = fmt.Errorf("%s: %w", n.Name, err)
		ld.mu.Lock()
		ld.retries++
		ld.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	ld.mu.Lock()
	ld.requests++
	if !ok {
		ld.failed = append(ld.failed, fmt.Sprintf("request %d: %v", i, last))
	}
	ld.mu.Unlock()
}

func (ld *load) watcher() {
	defer ld.wg.Done()
	for {
		select {
		case <-ld.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		up := 0
		var down []string
		for _, n := range ld.l.members() {
			if waited, err := ld.l.probe(n); err == nil {
				up++
				if waited > 0 {
					ld.mu.Lock()
					ld.falseAnswers++
					ld.longestFalse = max(ld.longestFalse, waited)
					ld.mu.Unlock()
				}
			} else {
				down = append(down, n.Name+": "+err.Error())
			}
		}
		ld.mu.Lock()
		if up < ld.minUp {
			ld.minUp = up
		}
		if up < 2 {
			ld.lowSeen = append(ld.lowSeen, time.Now().Format("15:04:05.000")+" "+strings.Join(down, "; "))
		}
		ld.mu.Unlock()
	}
}

// probe is etcdctl endpoint health's verdict on one member: a member that
// refuses the connection or the certificate, or does not answer within 3 s,
// is unhealthy at once; one that answers that it cannot serve a quorum read
// now (health false: no leader during a hand-off or an election, or the
// read it commits through raft took over a second on a loaded machine) is
// asked again until 5 s have passed, etcdctl's command timeout, within
// which etcdctl's client retries its read.
// It also says how long the member said false before it said true.
func (l *lab) probe(n *spec.Node) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(5 * time.Second)
	for {
		err := l.healthy(context.Background(), n)
		if err == nil || !strings.Contains(err.Error(), `"health":"false"`) || time.Now().After(deadline) {
			if err != nil {
				return 0, err
			}
			return time.Since(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check fails the test for a failed request or a moment with fewer than
// two healthy members.
func (ld *load) check(t *testing.T) {
	t.Helper()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	t.Logf("client: %d logical requests, %d retried attempts; fewest healthy members seen: %d; %d probes answered false before true (longest %v); the client pair read mid-delivery %d times", ld.requests, ld.retries, ld.minUp, ld.falseAnswers, ld.longestFalse.Round(time.Millisecond), ld.l.pairRereads.Load())
	if ld.requests < 20 {
		t.Errorf("the client made only %d requests", ld.requests)
	}
	if len(ld.failed) > 0 {
		t.Errorf("%d requests failed for good: %s", len(ld.failed), strings.Join(ld.failed[:min(5, len(ld.failed))], "\n"))
	}
	if ld.minUp < 2 {
		t.Errorf("the health check saw fewer than two healthy members: %s", strings.Join(ld.lowSeen[:min(5, len(ld.lowSeen))], "\n"))
	}
}

func (l *lab) options(stopAfter pki.Phase, wait time.Duration) Options {
	return Options{Spec: l.s, State: l.st, Machines: l, StopAfter: stopAfter, Wait: wait, Progress: testWriter{l.t}, Again: "rampart certs rollout"}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func parsePEM(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificate(b.Bytes)
}
