package gen_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

const etcdClientSpec = `version: 1
cluster: clients
outputs: [ignition, cloud-config]
profile: none
roles:
  master: {zone: admin, etcd: true}
  agent: {zone: private, etcd_client: true}
  web: {zone: public}
nodes:
  - {name: m1, role: master, addresses: [10.0.0.1]}
  - {name: m2, role: master, addresses: [10.0.0.2]}
pools:
  - {role: agent, cidrs: [10.0.16.0/20]}
`

// TestEtcdClientRole: a role with etcd_client gets the CA's and its own
// client certificate (not the members') and the etcdctl environment in the
// tree, the client key only in its final userdata (STATE/userdata/roles/agent/, 0600), which
// FinalUserdata returns and gen.Run writes; the tree lists the key as a secret and holds no
// key; a role without etcd_client gets none of it.
func TestEtcdClientRole(t *testing.T) {
	s, err := spec.Parse("clients.yaml", []byte(etcdClientSpec))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Role("agent").EtcdClient || s.Role("web").EtcdClient || s.Role("master").EtcdClient {
		t.Fatal("etcd_client: true is not decoded, or is the default")
	}
	st := tempState(t, s)
	res, err := gen.Build(s, st)
	if err != nil {
		t.Fatal(err)
	}
	tree := res.Tree
	root := "roles/agent/rootfs"
	mat, err := st.Load(s.Cluster, etcd.Members(s))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		root + etcd.CAFile:     string(mat.CA),
		root + etcd.ClientCert: string(mat.Clients["agent"].Cert),
		root + etcd.ClientEnvFile: "ETCDCTL_API=3\nETCDCTL_ENDPOINTS=https://10.0.0.1:2379,https://10.0.0.2:2379\n" +
			"ETCDCTL_CACERT=/etc/ssl/certs/etcd/ca.crt\nETCDCTL_CERT=/etc/ssl/certs/etcd/client.crt\nETCDCTL_KEY=/etc/ssl/certs/etcd/client.key\n",
		root + etcd.ClientProfile: "export ETCDCTL_ENDPOINTS='https://10.0.0.1:2379,https://10.0.0.2:2379'\n",
	} {
		f := tree.File(p)
		if f == nil || !strings.Contains(string(f.Data), want) {
			t.Errorf("%s: want it with %q, have %v", p, want, f)
		}
	}
	for _, f := range tree.Files {
		if gen.ContainsSecret(f.Data) {
			t.Errorf("%s holds a private key", f.Path)
		}
		if strings.HasPrefix(f.Path, "roles/web/") && (strings.Contains(f.Path, "etcd") || strings.Contains(string(f.Data), "ETCDCTL")) {
			t.Errorf("role web, without etcd_client, has %s", f.Path)
		}
	}
	if tree.File(root+etcd.ClientKey) != nil {
		t.Error("the tree holds the client key")
	}
	// Each machine gets its own role's client certificate: the agents
	// agent's, the members (role master) master's, which is another.
	if c := mat.Clients["agent"].Certificate(); c.Subject.CommonName != "clients-agent-client" {
		t.Errorf("agent's client certificate is %s's", c.Subject.CommonName)
	}
	for _, m := range []string{"m1", "m2"} {
		f := tree.File("nodes/" + m + "/rootfs" + etcd.ClientCert)
		if f == nil || string(f.Data) != string(mat.Clients["master"].Cert) || string(f.Data) == string(mat.Clients["agent"].Cert) {
			t.Errorf("%s: its client certificate is not role master's", m)
		}
	}
	if len(mat.Clients) != 2 {
		t.Errorf("client pairs of roles %v, want agent's and master's (web is no etcd client)", mat.Clients)
	}
	var listed bool
	for _, sec := range tree.Secrets {
		if sec.Path == root+etcd.ClientKey && sec.Mode == "0600" && sec.Certificate == root+etcd.ClientCert {
			listed = true
		}
	}
	if !listed {
		t.Errorf("the manifest does not list agent's client key as a secret: %+v", tree.Secrets)
	}

	// The final userdata: the agent role's, with the key, 0600.
	paths := map[string][]byte{}
	for _, f := range res.Userdata {
		paths[f.Path] = f.Data
		if f.Mode != pki.KeyMode {
			t.Errorf("%s: mode %04o", f.Path, f.Mode)
		}
	}
	for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
		p := gen.UserdataPath("role", "agent", format)
		data, ok := paths[p]
		text := data
		if format == spec.OutputIgnition {
			texts, _ := gen.IgnitionContents(data)
			text = bytes.Join(texts, nil)
		}
		if !ok || !gen.ContainsSecret(data) || !bytes.Contains(text, []byte("ETCDCTL_ENDPOINTS")) {
			t.Errorf("%s: missing or without the client key and environment", p)
		}
		if _, ok := paths[gen.UserdataPath("role", "web", format)]; ok {
			t.Errorf("role web has final userdata in the state")
		}
		api, err := gen.FinalUserdata(s, st, "role", "agent", format)
		if err != nil || !bytes.Equal(api, data) {
			t.Errorf("FinalUserdata(role agent, %s) is not gen's final userdata (%v)", format, err)
		}
		web, err := gen.FinalUserdata(s, nil, "role", "web", format)
		if err != nil || gen.ContainsSecret(web) {
			t.Errorf("FinalUserdata(role web, %s): %v", format, err)
		}
	}
	if _, err := gen.FinalUserdata(s, nil, "role", "agent", spec.OutputIgnition); !errors.Is(err, gen.ErrNeedState) {
		t.Errorf("FinalUserdata(role agent) without a state: %v, want ErrNeedState", err)
	}

	// Through gen.Run: written under the state, 0600.
	state := filepath.Join(t.TempDir(), "state")
	r, err := gen.Run(gen.Options{Spec: s, Out: filepath.Join(filepath.Dir(state), "out"), State: state})
	if err != nil || r.SecretMachines() != 3 {
		t.Fatalf("gen.Run: %v, final userdata of %d machines, want 3 (m1, m2 and role agent)", err, r.SecretMachines())
	}
	info, err := os.Stat(filepath.Join(state, gen.UserdataPath("role", "agent", spec.OutputIgnition)))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("STATE/userdata/roles/agent/ignition.json: %v %v, want mode 0600", info, err)
	}
}
