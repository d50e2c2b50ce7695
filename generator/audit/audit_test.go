package audit

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

const head = `version: 1
cluster: t
admins: [203.0.113.7]
`

// run audits the spec and lists its entries as "position: severity:
// message", and apart their "code path".
func run(t *testing.T, yaml string) (found, keys []string) {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Check(policy.Compile(s)).Entries {
		found = append(found, fmt.Sprintf("%s: %s: %s", e.Pos, e.Severity, e.Message))
		keys = append(keys, e.Code+" "+e.Path.String())
	}
	return found, keys
}

func TestFindings(t *testing.T) {
	var many strings.Builder
	for i := 1; i <= LargeWhitelist; i++ {
		fmt.Fprintf(&many, "  - 10.1.2.%d\n", i)
	}
	cases := []struct {
		name string
		spec string
		want []string // position: severity: message
		keys []string // code path, of the same entries
	}{
		{"clean", head + "roles:\n  web: {zone: public}\n", nil, nil},
		{"no admin port 22", head + "roles:\n  web: {zone: public, admin: [8080/tcp]}\n", []string{
			"t.yaml:5:23: error: no admin can reach role web on SSH (22/tcp): what no rule accepts is logged and dropped (firewall.action)",
		}, []string{"audit.lockout roles.web"}},
		{"the world as trusted", head + "trusted: [0.0.0.0/0]\nroles:\n  master: {zone: admin}\n", []string{
			"t.yaml:4:11: error: trusted lists 0.0.0.0/0, which stands for the world: it reaches every port of every node",
		}, []string{"audit.world-source trusted[0]"}},
		{"the world as admins", head[:len(head)-len("admins: [203.0.113.7]\n")] + "admins: [\"::/0\"]\nroles:\n  master: {zone: admin, admin: [22/tcp, 8080/tcp]}\n", []string{
			"t.yaml:3:10: warning: admins lists ::/0, which stands for the world: it reaches every role's admin ports (SSH among them)",
			"t.yaml:5:41: error: the world reaches master on 8080/tcp (Marathon, unauthenticated control plane): admins reach master on its admin ports (roles.master.admin)",
		}, []string{"audit.world-source admins[0]", "audit.control-plane-exposed roles.master"}},
		{"a pool of the world, a private /8 is fine", head + "roles:\n  agent: {zone: private}\npools:\n  - {role: agent, cidrs: [10.0.0.0/8, 64.0.0.0/2]}\n", []string{
			"t.yaml:7:5: error: a pool of role agent lists 64.0.0.0/2, which stands for the world: as cluster members it reaches every port of every node",
		}, []string{"audit.world-source pools[0].cidrs[1]"}},
		{"resolvers inside a trusted range", head + "trusted: [8.8.0.0/16]\nroles:\n  web: {zone: public}\n", []string{
			"t.yaml:4:11: warning: trusted 8.8.0.0/16 holds public resolvers 8.8.4.4 (Google Public DNS), 8.8.8.8 (Google Public DNS): their replies are accepted as established without trust, and trust lets spoofed UDP from them reach every port; narrow it",
		}, []string{"audit.public-resolver trusted[0]"}},
		{"ssh denied to admins", head + "roles:\n  web: {zone: public}\nrules:\n  - {from: admins, to: web, ports: [22/tcp], action: deny}\n", []string{
			"t.yaml:7:5: error: no admin can reach role web on SSH (22/tcp): admins to web on 22/tcp: denied (rules[0])",
		}, []string{"audit.lockout roles.web"}},
		{"no admins at all", "version: 1\ncluster: t\nroles:\n  web: {zone: public}\n", []string{
			"t.yaml:1:1: error: admins is empty: no operator can reach any node on SSH (22/tcp) from outside the cluster",
		}, []string{"audit.no-admins admins"}},
		{"two etcd members", head + "roles:\n  db: {zone: private, etcd: true}\nnodes:\n  - {name: db-1, role: db, addresses: [10.0.0.1]}\n  - {name: db-2, role: db, addresses: [10.0.0.2]}\n", []string{
			"t.yaml:5:3: warning: role db has 2 etcd members (quorum 2): an even number tolerates no more failures than one member fewer; use an odd number",
		}, []string{"audit.etcd-even roles.db"}},
		{"etcd peers blocked", head + "roles:\n  db: {zone: private, etcd: true}\nnodes:\n  - {name: db-1, role: db, addresses: [10.0.0.1]}\n  - {name: db-2, role: db, addresses: [10.0.0.2]}\nrules:\n  - {from: db, to: db, ports: [2380/tcp], action: deny}\n", []string{
			"t.yaml:5:3: warning: role db has 2 etcd members (quorum 2): an even number tolerates no more failures than one member fewer; use an odd number",
			"t.yaml:10:5: error: etcd member db-1 (10.0.0.1) cannot reach the other members of role db on 2380/tcp: db to db on 2380/tcp: denied (rules[0])",
		}, []string{"audit.etcd-even roles.db", "audit.etcd-blocked roles.db"}},
		{"marathon to the world", head + "roles:\n  master: {zone: admin, public: [80/tcp, 8080/tcp]}\n", []string{
			"t.yaml:5:42: error: the world reaches master on 8080/tcp (Marathon, unauthenticated control plane): the world reaches master on its public ports (roles.master.public)",
		}, []string{"audit.control-plane-exposed roles.master"}},
		{"zookeeper by rule from 0.0.0.0/0", head + "roles:\n  master: {zone: admin}\nrules:\n  - {from: 0.0.0.0/0, to: all, ports: [2181/tcp, 3306/tcp]}\n", []string{
			"t.yaml:7:5: error: the world reaches master on 2181/tcp (ZooKeeper, unauthenticated control plane): 0.0.0.0/0 to every role on 2181/tcp,3306/tcp: allowed (rules[0])",
			"t.yaml:7:5: warning: the world reaches master on 3306/tcp (MySQL): 0.0.0.0/0 to every role on 2181/tcp,3306/tcp: allowed (rules[0])",
		}, []string{"audit.control-plane-exposed roles.master", "audit.exposed roles.master"}},
		{"a world deny before the allow closes it", head + "roles:\n  master: {zone: admin, public: [8080/tcp]}\nrules:\n  - {from: world, to: master, ports: [8080/tcp], action: deny}\n", nil, nil},
		{"haproxy stats is a warning", head + "roles:\n  lb: {zone: public, public: [9090/tcp]}\n", []string{
			"t.yaml:5:31: warning: the world reaches lb on 9090/tcp (HAProxy stats): the world reaches lb on its public ports (roles.lb.public)",
		}, []string{"audit.exposed roles.lb"}},
		{"public resolvers", head + "trusted: [1.1.1.1, 198.51.100.1, \"2001:4860:4860::8888\"]\nroles:\n  web: {zone: public}\n", []string{
			"t.yaml:4:11: error: trusted 1.1.1.1 is a public resolver (Cloudflare DNS): its replies are accepted anyway (ESTABLISHED), so trust gains nothing, and trust by address lets spoofed UDP from it reach every port of every node; remove it from trusted, or write it as {cidr: 1.1.1.1/32, ports: [...]} with the ports it really needs",
			"t.yaml:4:34: error: trusted 2001:4860:4860::8888 is a public resolver (Google Public DNS): its replies are accepted anyway (ESTABLISHED), so trust gains nothing, and trust by address lets spoofed UDP from it reach every port of every node; remove it from trusted, or write it as {cidr: 2001:4860:4860::8888/128, ports: [...]} with the ports it really needs",
		}, []string{"audit.public-resolver trusted[0]", "audit.public-resolver trusted[2]"}},
		{"public resolvers with ports", head + "trusted:\n  - {cidr: 8.8.8.8/32, ports: [53/udp, 53/tcp]}\n  - {cidr: 8.8.0.0/16, ports: [53/udp]}\nroles:\n  web: {zone: public}\n", nil, nil},
		{"a public resolver as a mapping without ports", head + "trusted:\n  - {cidr: 9.9.9.9}\nroles:\n  web: {zone: public}\n", []string{
			"t.yaml:5:5: error: trusted 9.9.9.9 is a public resolver (Quad9): its replies are accepted anyway (ESTABLISHED), so trust gains nothing, and trust by address lets spoofed UDP from it reach every port of every node; remove it from trusted, or write it as {cidr: 9.9.9.9/32, ports: [...]} with the ports it really needs",
		}, []string{"audit.public-resolver trusted[0]"}},
		{"the world as trusted with ports", head + "trusted: [{cidr: 0.0.0.0/0, ports: [53/udp, 2181/tcp]}]\nroles:\n  master: {zone: admin}\n", []string{
			"t.yaml:4:11: error: the world reaches master on 2181/tcp (ZooKeeper, unauthenticated control plane): trusted 0.0.0.0/0 reaches every role on 53/udp,2181/tcp (trusted[0])",
			"t.yaml:4:11: error: trusted lists 0.0.0.0/0, which stands for the world: it reaches every node on 53/udp, 2181/tcp",
		}, []string{"audit.control-plane-exposed roles.master", "audit.world-source trusted[0]"}},
		{"metadata open to containers on etcd nodes", head + "roles:\n  db: {zone: private, etcd: true}\n  app: {zone: private, etcd_client: true}\n  web: {zone: public}\nfirewall: {metadata: allow}\n", []string{
			"t.yaml:8:12: warning: firewall.metadata is allow: containers can read their node's userdata from the cloud metadata service, and the userdata of roles db, app holds etcd keys; allow it only where every container is trusted",
		}, []string{"audit.metadata-open firewall.metadata"}},
		{"metadata open without etcd keys", head + "roles:\n  web: {zone: public}\nfirewall: {metadata: allow}\n", nil, nil},
		{"large whitelist", "version: 1\ncluster: t\nadmins:\n" + many.String() + "roles:\n  web: {zone: public}\n", []string{
			"t.yaml:4:5: warning: admins lists 16 single addresses of 10.1.2.0/24 one by one; the CIDR (or a narrower one) would serve and keep the list reviewable",
		}, []string{"audit.large-whitelist admins"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, k := run(t, c.spec)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if strings.Join(k, "\n") != strings.Join(c.keys, "\n") {
				t.Errorf("codes and paths:\n%s\nwant:\n%s", strings.Join(k, "\n"), strings.Join(c.keys, "\n"))
			}
		})
	}
}

// TestFixturesHaveNoErrors: the bundled examples are meant to be clean;
// dcos-packet keeps the recipe's public resolvers, on the DNS ports only,
// and is clean of warnings too.
func TestFixturesHaveNoErrors(t *testing.T) {
	files, _ := filepath.Glob("../../fixtures/*.yaml")
	if len(files) < 4 {
		t.Fatal("fixtures missing")
	}
	for _, file := range files {
		s, err := spec.LoadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		fs := Check(policy.Compile(s))
		if fs.IsFatal() {
			t.Errorf("%s: %v", file, fs)
		}
		if filepath.Base(file) == "dcos-packet.yaml" && !fs.Empty() {
			t.Errorf("dcos-packet: want no findings, got %v", fs)
		}
	}
}
