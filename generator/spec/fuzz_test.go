package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// FuzzParse: whatever the bytes, Parse returns either a spec or positioned
// problems naming the file, and never panics.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("../../fixtures/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures (%v)", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, c := range brokenSpecs {
		f.Add([]byte(c.spec))
	}
	// the shapes of trusted entries and firewall settings
	f.Add([]byte("version: 1\ncluster: c\nprofile: dcos\ntrusted: [198.51.100.1, {cidr: 8.8.8.8/32, ports: [53/udp, 53/tcp]}, {cidr: \"2001:db8::1\"}]\nfirewall: {rpfilter: strict, metadata: allow}\n"))
	// inputs that made earlier versions of the YAML library panic
	for _, s := range []string{"#\n - - QI\xd7", "#\n-\n-\n0", "0: [:!00 \xef", "! !00 \xf6", "\"\\0\\\r\n", "  0: [\n] 0", "? ? \"\n\" 0", "    - {\n000}0", "? \ufeff: \ufeff\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.yaml"
		s, err := spec.Parse(file, data)
		if err == nil {
			if s == nil {
				t.Fatal("neither a spec nor an error")
			}
			checkValid(t, s)
			return
		}
		if s != nil {
			t.Errorf("a spec along with the error %v", err)
		}
		f, ok := err.(*report.Failed)
		if !ok {
			t.Fatalf("error is a %T, not a *report.Failed: %v", err, err)
		}
		if len(f.Report.Entries) == 0 {
			t.Fatal("an empty report")
		}
		for _, e := range f.Report.Entries {
			if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.File != file {
				t.Errorf("problem without a position: %#v", e)
			}
			if e.Message == "" || e.Code == "" || e.Severity != report.Error {
				t.Errorf("problem without a message or code, or not an error: %#v", e)
			}
		}
		if !strings.HasPrefix(err.Error(), file) {
			t.Errorf("error does not start with the file name: %q", err)
		}
	})
}

// checkValid checks what every accepted spec promises its users.
func checkValid(t *testing.T, s *spec.Spec) {
	t.Helper()
	if s.Version != 1 || s.Cluster == "" || len(s.Roles) == 0 || len(s.Outputs) == 0 {
		t.Fatalf("accepted spec lacks basics: version %d, cluster %q, %d roles, outputs %v", s.Version, s.Cluster, len(s.Roles), s.Outputs)
	}
	for _, n := range s.Nodes {
		if s.Role(n.Role) == nil || len(n.Addresses) == 0 {
			t.Errorf("node %s: role %q, addresses %v", n.Name, n.Role, n.Addresses)
		}
	}
	for _, p := range s.Pools {
		if r := s.Role(p.Role); r == nil || r.Etcd || len(p.CIDRs) == 0 {
			t.Errorf("pool of %q: %v", p.Role, p.CIDRs)
		}
	}
	for _, r := range s.Rules {
		if r.To != spec.ToAll && s.Role(r.To) == nil {
			t.Errorf("rule to %q, which is not a role", r.To)
		}
		if r.Action != spec.ActionAllow && r.Action != spec.ActionDeny {
			t.Errorf("rule action %q", r.Action)
		}
	}
	for _, r := range s.Roles {
		if r.Zone == "" {
			t.Errorf("role %s has no zone", r.Name)
		}
		for _, p := range append(append([]spec.Port{}, r.Public...), r.Admin...) {
			if p.Proto != spec.ICMP && (p.From == 0 || p.To < p.From) {
				t.Errorf("role %s: port %v", r.Name, p)
			}
		}
	}
	if s.Etcd.ClientPort == s.Etcd.PeerPort || s.Etcd.ClientPort == 0 {
		t.Errorf("etcd ports %+v", s.Etcd)
	}
	switch s.Firewall.RPFilter {
	case spec.RPFilterStrict, spec.RPFilterLoose, spec.RPFilterOff:
	default:
		t.Errorf("firewall.rpfilter %q", s.Firewall.RPFilter)
	}
	if s.Firewall.Metadata != spec.MetadataDeny && s.Firewall.Metadata != spec.MetadataAllow {
		t.Errorf("firewall.metadata %q", s.Firewall.Metadata)
	}
	for _, src := range s.Admins {
		if len(src.Ports) > 0 {
			t.Errorf("admins entry %s with ports %v", src.Prefix, src.Ports)
		}
	}
	for _, src := range s.Trusted {
		if !src.Prefix.IsValid() || src.Pos.Line < 1 {
			t.Errorf("trusted entry %v at %v", src.Prefix, src.Pos)
		}
		for _, p := range src.Ports {
			if p.Proto != spec.ICMP && (p.From == 0 || p.To < p.From) {
				t.Errorf("trusted %s: port %v", src.Prefix, p)
			}
		}
	}
}
