package apply

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/coreos/ignition/v2/config"
	"github.com/vincent-petithory/dataurl"
	"gopkg.in/yaml.v3"

	"github.com/rampart-cluster/rampart/providers/delivery"
)

// userdataFiles reads the files a machine's final userdata writes, by
// path: from its Ignition config (parsed by Ignition's own parser, data
// URLs decoded, gzip undone) when it has one, else from its cloud-config's
// write_files.
func userdataFiles(m delivery.Machine) (map[string][]byte, error) {
	if ign, ok := m.Userdata[delivery.FormatIgnition]; ok {
		return ignitionFiles(ign)
	}
	if cc, ok := m.Userdata[delivery.FormatCloudConfig]; ok {
		return cloudConfigFiles(cc)
	}
	return nil, fmt.Errorf("no final userdata to read its keys from")
}

func ignitionFiles(data []byte) (map[string][]byte, error) {
	cfg, _, err := config.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("final userdata: %w", err)
	}
	out := map[string][]byte{}
	for _, f := range cfg.Storage.Files {
		if f.Contents.Source == nil || len(f.Append) > 0 {
			continue
		}
		u, err := dataurl.DecodeString(*f.Contents.Source)
		if err != nil {
			continue // not a data URL: nothing rampart wrote
		}
		b := u.Data
		if f.Contents.Compression != nil && *f.Contents.Compression == "gzip" {
			r, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("final userdata: %s: %w", f.Path, err)
			}
			if b, err = io.ReadAll(r); err != nil {
				return nil, fmt.Errorf("final userdata: %s: %w", f.Path, err)
			}
		}
		out[f.Path] = b
	}
	return out, nil
}

func cloudConfigFiles(data []byte) (map[string][]byte, error) {
	var cc struct {
		WriteFiles []struct {
			Path     string `yaml:"path"`
			Content  string `yaml:"content"`
			Encoding string `yaml:"encoding"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(data, &cc); err != nil {
		return nil, fmt.Errorf("final userdata: %w", err)
	}
	out := map[string][]byte{}
	for _, f := range cc.WriteFiles {
		if f.Encoding != "" {
			return nil, fmt.Errorf("final userdata: %s: encoding %q, which rampart does not write", f.Path, f.Encoding)
		}
		out[f.Path] = []byte(f.Content)
	}
	return out, nil
}
