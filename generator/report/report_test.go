package report

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden rendering in testdata")

// sample holds one entry of each kind rampart reports, as the packages make
// them: a spec error, an audit warning, a drift finding on a line of a live
// input, a stale file, and an entry without position.
func sample() Report {
	var r Report
	r.Append(
		Entry{Severity: Warning, Code: "audit.exposed", Path: At("roles", "lb"), Pos: Pos{File: "cluster.yaml", Line: 9, Col: 31},
			Message: "the world reaches lb on 9090/tcp (HAProxy stats)"},
		Entry{Severity: Error, Code: "spec.port-in-range-out-of-range", Path: At("roles", "master", "public", 1), Pos: Pos{File: "cluster.yaml", Line: 6, Col: 22},
			Message: `port 70000 in "70000/tcp" is out of range (1-65535)`},
		Entry{Severity: Error, Code: "drift.extra-member", Path: At("IPv4", "set", "rampart-cluster-4", "10.0.0.9"), Message: "extra member"},
		Entry{Severity: Error, Code: "drift.extra-rule", Path: At("IPv6", "raw", "RAMPART-RPFILTER", 2), Pos: Pos{File: "ip6tables-save", Line: 12},
			Message: "extra rule at position 3: -A RAMPART-RPFILTER -j ACCEPT"},
		Entry{Severity: Error, Code: "tree.differs", Pos: Pos{File: "out/roles/agent/ignition.json"}, Message: "differs"},
		Entry{Severity: Error, Code: "audit.lockout", Path: At("roles", "web"), Pos: Pos{File: "cluster.yaml", Line: 9, Col: 31},
			Message: "no admin can reach role web on SSH (22/tcp)"},
	)
	return r
}

// TestRendering is the one golden test of how entries read, as text and as
// JSON, after sorting.
func TestRendering(t *testing.T) {
	r := sample()
	r.Sort()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString(r.Summary() + "\n\n")
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "rendering.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("rendering differs from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

func TestSortAndCounts(t *testing.T) {
	r := sample()
	r.Sort()
	var codes []string
	for _, e := range r.Entries {
		codes = append(codes, e.Code)
	}
	want := []string{"spec.port-in-range-out-of-range", "audit.lockout", "audit.exposed", "drift.extra-rule", "tree.differs", "drift.extra-member"}
	if len(codes) != len(want) {
		t.Fatalf("codes %v", codes)
	}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("sorted codes %v, want %v (by position, errors first at one position, no position last)", codes, want)
		}
	}
	if r.Count(Error) != 5 || r.Count(Warning) != 1 || !r.IsFatal() {
		t.Errorf("counts: %d errors, %d warnings", r.Count(Error), r.Count(Warning))
	}
	var f *Failed
	if err := r.Err(); !errors.As(err, &f) || len(f.Report.Entries) != 6 {
		t.Errorf("Err() = %v", err)
	}
	if err := (Report{Entries: []Entry{{Severity: Warning}}}).Err(); err != nil {
		t.Errorf("warnings alone are not an error: %v", err)
	}
}

func TestPath(t *testing.T) {
	for _, c := range []struct {
		p    Path
		want string
	}{
		{nil, ""},
		{At("roles", "master", "public", 1), "roles.master.public[1]"},
		{At("nodes", 0).Append("addresses", 2), "nodes[0].addresses[2]"},
		{At("IPv4", "set", "r-master-4", "10.0.0.7"), `IPv4.set.r-master-4["10.0.0.7"]`},
		{At("2001:db8::1"), "2001:db8::1"},
		{At("a b", ""), `["a b"][""]`},
		{At(At("x"), "y"), "x.y"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%#v renders %q, want %q", c.p, got, c.want)
		}
	}
	base := At("rules")
	_ = base.Append(1)
	if len(base) != 1 {
		t.Error("Append changed its receiver")
	}
}

func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{Error, Warning, Info} {
		b, _ := s.MarshalText()
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v does not read back: %v %v", s, back, err)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("fatal")); err == nil {
		t.Error("an unknown severity was read")
	}
}
