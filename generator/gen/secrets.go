package gen

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/rampart-cluster/rampart/generator/boot"
)

// pemKeyMarker is how the header line of every PEM private key ends,
// whatever its kind (PKCS #8, EC, RSA, ...).
var pemKeyMarker = []byte("PRIVATE KEY-----")

// ContainsSecret reports whether data, a file of an output tree, holds key
// material: a PEM private key in its text or, for an Ignition config, in
// the decoded contents of one of its files (data URLs, plain or base64,
// gzip-compressed or not), units or drop-ins. The tree rampart writes never
// does; a file that does was put there by hand or by another tool (for
// example final userdata copied into the tree).
func ContainsSecret(data []byte) bool {
	if bytes.Contains(data, pemKeyMarker) {
		return true
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return false
	}
	texts, _ := IgnitionContents(data) // what decodes is checked all the same
	for _, text := range texts {
		if bytes.Contains(text, pemKeyMarker) {
			return true
		}
	}
	return false
}

// IgnitionContents decodes an Ignition config's payloads: the contents of
// every file (and of its appends: data URLs, plain or base64,
// gzip-compressed or not), then of every unit and drop-in. The error names
// the first payload that does not decode (or the config itself, when it is
// no JSON); the others are returned all the same.
func IgnitionContents(data []byte) ([][]byte, error) {
	type resource struct {
		Source      *string `json:"source"`
		Compression string  `json:"compression"`
	}
	var cfg struct {
		Storage struct {
			Files []struct {
				Path     string     `json:"path"`
				Contents resource   `json:"contents"`
				Append   []resource `json:"append"`
			} `json:"files"`
		} `json:"storage"`
		Systemd struct {
			Units []struct {
				Contents string `json:"contents"`
				Dropins  []struct {
					Contents string `json:"contents"`
				} `json:"dropins"`
			} `json:"units"`
		} `json:"systemd"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, err
	}
	var out [][]byte
	var first error
	for _, f := range cfg.Storage.Files {
		for _, r := range append([]resource{f.Contents}, f.Append...) {
			if r.Source == nil {
				continue
			}
			b, err := boot.DecodeDataURL(*r.Source, r.Compression)
			if err != nil {
				if first == nil {
					first = fmt.Errorf("%s: %w", f.Path, err)
				}
				continue
			}
			out = append(out, b)
		}
	}
	for _, u := range cfg.Systemd.Units {
		out = append(out, []byte(u.Contents))
		for _, d := range u.Dropins {
			out = append(out, []byte(d.Contents))
		}
	}
	return out, first
}
