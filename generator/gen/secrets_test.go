package gen_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-cluster/rampart/generator/gen"
)

// TestContainsSecret: a PEM key is found in plain text and inside an
// Ignition config however its contents are encoded; certificates and a
// keyless config are not secrets.
func TestContainsSecret(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
	const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(key))
	zw.Close()
	ign := func(source, compression string) []byte {
		c := ""
		if compression != "" {
			c = `,"compression":"` + compression + `"`
		}
		return []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/k","contents":{"source":"` + source + `"` + c + `}}]}}`)
	}
	cases := []struct {
		name string
		data []byte
		want bool
	}{
		{"plain key", []byte("write_files:\n  - content: |\n" + key), true},
		{"ec key", []byte("-----BEGIN EC PRIVATE KEY-----\nAA\n-----END EC PRIVATE KEY-----\n"), true},
		{"url-escaped", ign("data:,"+url.PathEscape(key), ""), true},
		{"base64", ign("data:;base64,"+base64.StdEncoding.EncodeToString([]byte(key)), ""), true},
		{"gzip", ign("data:;base64,"+base64.StdEncoding.EncodeToString(gz.Bytes()), "gzip"), true},
		{"certificate", ign("data:,"+url.PathEscape(cert), ""), false},
		{"certificate text", []byte(cert), false},
		{"not json", []byte("{ not json"), false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		if got := gen.ContainsSecret(c.data); got != c.want {
			t.Errorf("%s: ContainsSecret = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestEnclosingTree finds the tree a directory is in: the tree itself, a
// directory under it that may not exist yet, a path through a link; and
// nothing for a directory beside it or a foreign manifest.json.
func TestEnclosingTree(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "out")
	if err := os.MkdirAll(filepath.Join(tree, "nodes", "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, gen.ManifestName), []byte(`{"files": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, gen.ManifestName), []byte(`{"name": "some npm thing"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(tree, "nodes"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		tree:                                   tree,
		filepath.Join(tree, "nodes", "a"):      tree,
		filepath.Join(tree, "nodes", "b", "c"): tree,
		filepath.Join(dir, "link", "a"):        tree,
		filepath.Join(dir, "beside"):           "",
		filepath.Join(other, "x"):              "",
		dir:                                    "",
	}
	for in, want := range cases {
		got, err := gen.EnclosingTree(in)
		if err != nil || got != want {
			t.Errorf("EnclosingTree(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}
