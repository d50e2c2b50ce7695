package spec_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// mustParse parses a spec that must be valid.
func mustParse(t *testing.T, data string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse("t.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s == nil {
		t.Fatal("Parse returned neither a spec nor an error")
	}
	return s
}

// roleView is what a role brings, in the spec's own notation.
type roleView struct {
	Name, Zone    string
	Etcd          bool
	Public, Admin string
	Origin        string
	PublicOrigin  string
	AdminOrigin   string
}

func view(r *spec.Role) roleView {
	return roleView{r.Name, r.Zone, r.Etcd, ports(r.Public), ports(r.Admin), r.Origin, r.PublicOrigin, r.AdminOrigin}
}

func ports(ps []spec.Port) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

func roles(s *spec.Spec) []roleView {
	out := make([]roleView, len(s.Roles))
	for i, r := range s.Roles {
		out[i] = view(r)
	}
	return out
}

func rules(s *spec.Spec) []string {
	out := make([]string, len(s.Rules))
	for i, r := range s.Rules {
		out[i] = fmt.Sprintf("%s %s->%s %s (%s, %s)", r.Action, r.From, r.To, ports(r.Ports), r.Origin, r.Pos)
	}
	return out
}

func checkRoles(t *testing.T, s *spec.Spec, want []roleView) {
	t.Helper()
	if got := roles(s); !reflect.DeepEqual(got, want) {
		t.Errorf("roles:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

func dump[T any](xs []T) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, "  %+v\n", x)
	}
	return b.String()
}

const dcosZones = `version: 1
cluster: c
profile: dcos
`

func TestProfileDCOS(t *testing.T) {
	s := mustParse(t, dcosZones)
	if s.Profile != "dcos" || s.ProfilePos != (spec.Pos{File: "t.yaml", Line: 3, Col: 10}) {
		t.Errorf("profile %q at %v, want dcos at t.yaml:3:10", s.Profile, s.ProfilePos)
	}
	checkRoles(t, s, []roleView{
		{"master", "admin", false, "80/tcp,443/tcp", "22/tcp", "profile dcos", "zone admin default", "zone admin default"},
		{"agent", "private", false, "", "22/tcp", "profile dcos", "zone private default", "zone private default"},
		{"public-agent", "public", false, "80/tcp,443/tcp", "22/tcp", "profile dcos", "zone public default", "zone public default"},
	})
	want := []string{
		"deny agent->master 8201/tcp,26257/tcp (profile dcos, t.yaml:3:10)",
		"deny public-agent->master 8201/tcp,26257/tcp (profile dcos, t.yaml:3:10)",
	}
	if got := rules(s); !reflect.DeepEqual(got, want) {
		t.Errorf("rules:\n%s\nwant:\n%s", dump(got), dump(want))
	}
	for _, r := range s.Roles {
		if r.Pos != s.ProfilePos || r.PublicPos != s.ProfilePos || r.AdminPos != s.ProfilePos {
			t.Errorf("role %s: positions %v %v %v, want the profile's %v", r.Name, r.Pos, r.PublicPos, r.AdminPos, s.ProfilePos)
		}
	}
}

// TestProfileSpecWins: what the spec says about a profile role replaces the
// profile's value, key by key; the spec's own roles come after the profile's.
func TestProfileSpecWins(t *testing.T) {
	s := mustParse(t, `version: 1
cluster: c
profile: dcos
roles:
  master:
    etcd: true
    admin: [22/tcp, 8080/tcp]
  agent:
    zone: public
  bootstrap:
    zone: private
rules:
  - {from: admins, to: all, ports: [9090/tcp]}
`)
	checkRoles(t, s, []roleView{
		{"master", "admin", true, "80/tcp,443/tcp", "22/tcp,8080/tcp", "profile dcos", "zone admin default", "roles.master.admin"},
		// a new zone brings that zone's defaults
		{"agent", "public", false, "80/tcp,443/tcp", "22/tcp", "profile dcos", "zone public default", "zone public default"},
		{"public-agent", "public", false, "80/tcp,443/tcp", "22/tcp", "profile dcos", "zone public default", "zone public default"},
		{"bootstrap", "private", false, "", "22/tcp", "spec", "zone private default", "zone private default"},
	})
	master := s.Role("master")
	if want := (spec.Pos{File: "t.yaml", Line: 7, Col: 5}); master.AdminPos != want {
		t.Errorf("master admin list at %v, want %v (the spec's key)", master.AdminPos, want)
	}
	if master.Admin[1].Pos != (spec.Pos{File: "t.yaml", Line: 7, Col: 21}) {
		t.Errorf("8080/tcp at %v, want t.yaml:7:21", master.Admin[1].Pos)
	}
	if master.PublicPos != s.ProfilePos {
		t.Errorf("master public list at %v, want the profile's %v", master.PublicPos, s.ProfilePos)
	}
	if agent := s.Role("agent"); agent.PublicPos != (spec.Pos{File: "t.yaml", Line: 8, Col: 3}) {
		t.Errorf("agent public list at %v, want t.yaml:8:3 (where the zone changed)", agent.PublicPos)
	}
	want := []string{
		"deny agent->master 8201/tcp,26257/tcp (profile dcos, t.yaml:3:10)",
		"deny public-agent->master 8201/tcp,26257/tcp (profile dcos, t.yaml:3:10)",
		"allow admins->all 9090/tcp (spec, t.yaml:13:5)",
	}
	if got := rules(s); !reflect.DeepEqual(got, want) {
		t.Errorf("rules:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

// TestProfileEmptyListWins: an empty list in the spec closes what the
// profile opened.
func TestProfileEmptyListWins(t *testing.T) {
	s := mustParse(t, dcosZones+"roles:\n  master: {public: []}\n")
	if m := s.Role("master"); len(m.Public) != 0 || m.PublicOrigin != "roles.master.public" {
		t.Errorf("master public %v from %s, want nothing from roles.master.public", m.Public, m.PublicOrigin)
	}
}

func TestProfileCoreOSWeb(t *testing.T) {
	s := mustParse(t, "version: 1\ncluster: c\nprofile: coreos-web\n")
	checkRoles(t, s, []roleView{
		{"web", "public", true, "80/tcp,443/tcp,3000/tcp,3001/tcp", "22/tcp", "profile coreos-web", "profile coreos-web", "zone public default"},
	})
	if len(s.Rules) != 0 {
		t.Errorf("coreos-web brings rules: %v", rules(s))
	}
	s = mustParse(t, "version: 1\ncluster: c\nprofile: coreos-web\nroles:\n  web: {etcd: false, public: [443/tcp]}\n")
	checkRoles(t, s, []roleView{
		{"web", "public", false, "443/tcp", "22/tcp", "profile coreos-web", "roles.web.public", "zone public default"},
	})
}

func TestProfileNone(t *testing.T) {
	for _, head := range []string{"version: 1\ncluster: c\nprofile: none\n", "version: 1\ncluster: c\n"} {
		s := mustParse(t, head+"roles:\n  web: {zone: private}\n")
		if s.Profile != "none" {
			t.Errorf("profile %q, want none", s.Profile)
		}
		checkRoles(t, s, []roleView{
			{"web", "private", false, "", "22/tcp", "spec", "zone private default", "zone private default"},
		})
		if len(s.Rules) != 0 {
			t.Errorf("profile none brings rules: %v", rules(s))
		}
	}
	for head, want := range map[string]string{
		"version: 1\ncluster: c\nprofile: none\n":                 "t.yaml:3:10: no roles: declare roles or choose a profile (dcos, coreos-web) that brings them",
		"version: 1\ncluster: c\n":                                "t.yaml:1:1: no roles: declare roles or choose a profile (dcos, coreos-web) that brings them",
		"version: 1\ncluster: c\nprofile: none\nroles: {}\n":      "t.yaml:3:10: no roles: declare roles or choose a profile (dcos, coreos-web) that brings them",
		"version: 1\ncluster: c\nprofile: none\nroles:\nnodes:\n": "t.yaml:3:10: no roles: declare roles or choose a profile (dcos, coreos-web) that brings them",
	} {
		if got := strings.Join(problems(t, head), "\n"); got != want {
			t.Errorf("%q:\ngot  %s\nwant %s", head, got, want)
		}
	}
}

// TestDocumentMarkers: a spec may start with --- and end with ... or a
// stray empty document.
func TestDocumentMarkers(t *testing.T) {
	for _, data := range []string{"---\n" + dcosZones, dcosZones + "...\n", dcosZones + "---\n", "---\n" + dcosZones + "---\n# nothing\n...\n"} {
		if _, err := spec.Parse("t.yaml", []byte(data)); err != nil {
			t.Errorf("%q: %v", data, err)
		}
	}
}

// TestDefaults: what a spec leaves out.
func TestDefaults(t *testing.T) {
	s := mustParse(t, dcosZones)
	checks := []struct {
		what      string
		got, want any
	}{
		{"file", s.File, "t.yaml"},
		{"version", s.Version, 1},
		{"cluster", s.Cluster, "c"},
		{"outputs", s.Outputs, []string{"ignition"}},
		{"wants ignition", s.Wants(spec.OutputIgnition), true},
		{"wants cloud-config", s.Wants(spec.OutputCloudConfig), false},
		{"os", [2]string{s.OS.Variant, s.OS.Version}, [2]string{"flatcar", "1.1.0"}},
		{"os position", s.OS.Pos, spec.Pos{File: "t.yaml", Line: 1, Col: 1}},
		{"backend", s.Firewall.Backend, "iptables"},
		{"action", s.Firewall.Action, "drop"},
		{"log prefix", s.Firewall.LogPrefix, "rampart-drop: "},
		{"log rate", s.Firewall.LogRate, "10/minute"},
		{"firewall position", s.Firewall.Pos, spec.Pos{File: "t.yaml", Line: 1, Col: 1}},
		{"rpfilter", s.Firewall.RPFilter, "loose"},
		{"metadata", s.Firewall.Metadata, "deny"},
		{"metadata position", s.Firewall.MetadataPos, spec.Pos{File: "t.yaml", Line: 1, Col: 1}},
		{"etcd", s.Etcd, spec.Etcd{ClientPort: 2379, PeerPort: 2380}},
		{"overlays default", s.Overlays.Default, "reject"},
		{"overlays", len(s.Overlays.Networks) + len(s.Overlays.Allow), 0},
		{"admins", len(s.Admins) + len(s.Trusted) + len(s.Nodes) + len(s.Pools), 0},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}

	// The backend follows the OS; a variant without a version gets the
	// variant's default version.
	for _, c := range []struct{ os, variant, version, backend string }{
		{"os: {variant: flatcar}", "flatcar", "1.1.0", "iptables"},
		{"os: {variant: flatcar, version: 1.0.0}", "flatcar", "1.0.0", "iptables"},
		{"os: {variant: fcos}", "fcos", "1.6.0", "nftables"},
		{"os: {variant: fcos, version: 1.4.0}", "fcos", "1.4.0", "nftables"},
		{"os: {variant: fcos, version: 1.7.0}", "fcos", "1.7.0", "nftables"},
		{"os: {}", "flatcar", "1.1.0", "iptables"},
	} {
		s := mustParse(t, dcosZones+c.os+"\n")
		if s.OS.Variant != c.variant || s.OS.Version != c.version || s.Firewall.Backend != c.backend {
			t.Errorf("%s: %s %s with %s, want %s %s with %s", c.os, s.OS.Variant, s.OS.Version, s.Firewall.Backend, c.variant, c.version, c.backend)
		}
	}
}

// TestSpecOverridesDefaults: every default gives way to what is written.
func TestSpecOverridesDefaults(t *testing.T) {
	s := mustParse(t, dcosZones+`os: {variant: flatcar, version: 1.0.0}
outputs: [cloud-config, ignition]
etcd: {client_port: 12379, peer_port: 12380, image: "quay.io/coreos/etcd:v3.5.17"}
overlays:
  networks: {it: 10.250.0.0/16, hr: "fd00:250::/48"}
  default: accept
  allow:
    - {from: hr, to: it}
firewall:
  backend: nftables
  action: reject
  log: {prefix: "cluster-c: ", rate: 3/second}
  rpfilter: strict
  metadata: allow
`)
	checks := []struct {
		what      string
		got, want any
	}{
		{"os", [2]string{s.OS.Variant, s.OS.Version}, [2]string{"flatcar", "1.0.0"}},
		{"os position", s.OS.Pos, spec.Pos{File: "t.yaml", Line: 4, Col: 1}},
		{"outputs", s.Outputs, []string{"cloud-config", "ignition"}},
		{"etcd", s.Etcd, spec.Etcd{ClientPort: 12379, PeerPort: 12380, Image: "quay.io/coreos/etcd:v3.5.17", ImagePos: spec.Pos{File: "t.yaml", Line: 6, Col: 53}}},
		{"overlays default", s.Overlays.Default, "accept"},
		{"overlays", fmt.Sprintf("%s %s %s %s", s.Overlays.Networks[0].Name, s.Overlays.Networks[0].Prefix, s.Overlays.Networks[1].Name, s.Overlays.Networks[1].Prefix), "it 10.250.0.0/16 hr fd00:250::/48"},
		{"overlay allow", fmt.Sprintf("%s->%s %d", s.Overlays.Allow[0].From, s.Overlays.Allow[0].To, len(s.Overlays.Allow[0].Ports)), "hr->it 0"},
		{"backend", s.Firewall.Backend, "nftables"},
		{"action", s.Firewall.Action, "reject"},
		{"log prefix", s.Firewall.LogPrefix, "cluster-c: "},
		{"log rate", s.Firewall.LogRate, "3/second"},
		{"firewall position", s.Firewall.Pos, spec.Pos{File: "t.yaml", Line: 12, Col: 1}},
		{"rpfilter", s.Firewall.RPFilter, "strict"},
		{"metadata", s.Firewall.Metadata, "allow"},
		{"metadata position", s.Firewall.MetadataPos, spec.Pos{File: "t.yaml", Line: 17, Col: 3}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

// TestFirewallSettings: rpfilter and metadata take each of their values,
// written plainly (off is a word, not a YAML 1.1 boolean); metadata given
// without the rest of firewall keeps its own position.
func TestFirewallSettings(t *testing.T) {
	for _, rp := range []string{"strict", "loose", "off"} {
		s := mustParse(t, dcosZones+"firewall: {rpfilter: "+rp+"}\n")
		if s.Firewall.RPFilter != rp || s.Firewall.Metadata != "deny" {
			t.Errorf("rpfilter %s: got %q, metadata %q", rp, s.Firewall.RPFilter, s.Firewall.Metadata)
		}
	}
	s := mustParse(t, dcosZones+"firewall:\n  metadata: allow\n")
	if s.Firewall.Metadata != "allow" || s.Firewall.RPFilter != "loose" || s.Firewall.MetadataPos.Line != s.Firewall.Pos.Line+1 || s.Firewall.MetadataPos.Col != 3 {
		t.Errorf("metadata allow: %+v", s.Firewall)
	}
}

// TestTrustedPorts: a trusted entry is an address or CIDR, or a mapping of
// cidr and ports; a mapping without ports is a plain entry.
func TestTrustedPorts(t *testing.T) {
	s := mustParse(t, dcosZones+`trusted:
  - 198.51.100.1
  - {cidr: 8.8.8.8/32, ports: [53/udp, 53/tcp]}
  - cidr: "2001:4860:4860::8888"
    ports: [53/udp, icmp]
  - {cidr: 192.0.2.0/24}
`)
	var got []string
	for _, src := range s.Trusted {
		var ports []string
		for _, p := range src.Ports {
			ports = append(ports, fmt.Sprintf("%s@%d:%d", p, p.Pos.Line, p.Pos.Col))
		}
		got = append(got, fmt.Sprintf("%s [%s] %s", src.Prefix, strings.Join(ports, " "), src.Pos))
	}
	want := []string{
		"198.51.100.1/32 [] t.yaml:5:5",
		"8.8.8.8/32 [53/udp@6:32 53/tcp@6:40] t.yaml:6:5",
		"2001:4860:4860::8888/128 [53/udp@8:13 icmp@8:21] t.yaml:7:5",
		"192.0.2.0/24 [] t.yaml:9:5",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trusted:\n%s\nwant:\n%s", dump(got), dump(want))
	}
}

// TestMembersAndSources: addresses, CIDRs and rules are decoded as written,
// IPv4 and IPv6 alike.
func TestMembersAndSources(t *testing.T) {
	s := mustParse(t, dcosZones+`admins: [209.220.51.50, "2001:db8:ad::/48"]
trusted: [8.8.8.8]
nodes:
  - {name: master-1, role: master, addresses: [10.0.0.10, "2604:1380:1::10"]}
pools:
  - {role: agent, cidrs: [10.0.16.0/20, "2600:1f18:16::/56"]}
rules:
  - {from: 10.0.0.0/8, to: agent, ports: [10000-10100/udp, icmp], action: deny}
  - {from: "2001:db8::7", to: all}
  - {from: agent, to: master, ports: [5050/tcp]}
`)
	got := []string{
		fmt.Sprint(s.Admins[0].Prefix, " ", s.Admins[1].Prefix, " ", s.Trusted[0].Prefix),
		fmt.Sprint(s.Nodes[0].Name, " ", s.Nodes[0].Role, " ", s.Nodes[0].Addresses),
		fmt.Sprint(s.Pools[0].Role, " ", s.Pools[0].CIDRs),
		fmt.Sprint(s.Rules[2].FromIP, " ", s.Rules[3].FromIP, " ", s.Rules[4].FromIP.IsValid()),
	}
	want := []string{
		"209.220.51.50/32 2001:db8:ad::/48 8.8.8.8/32",
		"master-1 master [10.0.0.10 2604:1380:1::10]",
		"agent [10.0.16.0/20 2600:1f18:16::/56]",
		"10.0.0.0/8 2001:db8::7/128 false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", dump(got), dump(want))
	}
	wantRules := []string{
		"deny agent->master 8201/tcp,26257/tcp (profile dcos, t.yaml:3:10)",
		"deny public-agent->master 8201/tcp,26257/tcp (profile dcos, t.yaml:3:10)",
		"deny 10.0.0.0/8->agent 10000-10100/udp,icmp (spec, t.yaml:11:5)",
		"allow 2001:db8::7->all  (spec, t.yaml:12:5)",
		"allow agent->master 5050/tcp (spec, t.yaml:13:5)",
	}
	if got := rules(s); !reflect.DeepEqual(got, wantRules) {
		t.Errorf("rules:\n%s\nwant:\n%s", dump(got), dump(wantRules))
	}
	if s.Node("master-1") != s.Nodes[0] || s.Node("nope") != nil || s.Role("nope") != nil {
		t.Error("Node or Role lookup is wrong")
	}
	if s.Overlays.Overlay("nope") != nil {
		t.Error("Overlay lookup found a missing overlay")
	}
}

// TestFixtures: every example spec parses.
func TestFixtures(t *testing.T) {
	files, err := filepath.Glob("../../fixtures/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := spec.LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.File != f || len(s.Roles) == 0 || s.Cluster == "" {
				t.Errorf("file %q, %d roles, cluster %q", s.File, len(s.Roles), s.Cluster)
			}
		})
	}
}
