package etcd_test

import (
	"strings"
	"testing"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// TestImage: etcd.image is the image of rampart's fcos etcd unit, and on
// Flatcar the wrapper's variables: a tag of Flatcar's own repository sets
// ETCD_IMAGE_TAG alone, another repository (a registry with a port, too)
// ETCD_IMAGE_URL besides, a digest or a missing tag ETCD_IMAGE whole.
// Without it fcos runs etcd.Image and the Flatcar drop-in names no image
// (Flatcar's own default). A value that is no reference is an error at its
// line and column.
func TestImage(t *testing.T) {
	digest := "quay.io/coreos/etcd@sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		image   string
		fcos    string   // the fcos unit's image
		flatcar []string // the Flatcar drop-in's image variables
	}{
		{"", etcd.Image, nil},
		{"quay.io/coreos/etcd:v3.5.21", "quay.io/coreos/etcd:v3.5.21", []string{"ETCD_IMAGE_TAG=v3.5.21"}},
		{"registry.example.com:5000/mirror/etcd:v3.6.0", "registry.example.com:5000/mirror/etcd:v3.6.0", []string{"ETCD_IMAGE_URL=registry.example.com:5000/mirror/etcd", "ETCD_IMAGE_TAG=v3.6.0"}},
		{digest, digest, []string{"ETCD_IMAGE=" + digest}},
		{"gcr.io/etcd-development/etcd", "gcr.io/etcd-development/etcd", []string{"ETCD_IMAGE=gcr.io/etcd-development/etcd"}},
	}
	for _, c := range cases {
		etcdLine := "etcd: {client_port: 2379, peer_port: 2380}"
		if c.image != "" {
			etcdLine = "etcd: {client_port: 2379, peer_port: 2380, image: " + c.image + "}"
		}
		for _, variant := range []string{"fcos", "flatcar"} {
			version := map[string]string{"fcos": "1.5.0", "flatcar": "1.1.0"}[variant]
			s := parse(t, strings.Replace(threeMembers, "etcd: {client_port: 2379, peer_port: 2380}", "os: {variant: "+variant+", version: "+version+"}\n"+etcdLine, 1))
			units, err := etcd.Units(s, s.Node("m1"), etcd.New)
			if err != nil {
				t.Fatalf("%s %q: %v", variant, c.image, err)
			}
			dropin := units[0].Dropins[0].Contents
			if variant == "fcos" {
				if !strings.Contains(units[0].Contents, "\nEnvironment=RAMPART_ETCD_IMAGE="+c.fcos+"\n") {
					t.Errorf("fcos %q: the unit does not run %s:\n%s", c.image, c.fcos, units[0].Contents)
				}
				continue
			}
			var got []string
			for _, line := range strings.Split(dropin, "\n") {
				if strings.HasPrefix(line, `Environment="ETCD_IMAGE`) {
					got = append(got, strings.Trim(strings.TrimPrefix(line, "Environment="), `"`))
				}
			}
			if strings.Join(got, " ") != strings.Join(c.flatcar, " ") {
				t.Errorf("flatcar %q: image variables %v, want %v", c.image, got, c.flatcar)
			}
		}
	}
	_, err := spec.Parse("cluster.yaml", []byte(strings.Replace(threeMembers, "etcd: {client_port: 2379, peer_port: 2380}", "etcd: {client_port: 2379, peer_port: 2380, image: Quay.io/CoreOS/etcd:v3}", 1)))
	if err == nil || !strings.Contains(err.Error(), "cluster.yaml:12:") || !strings.Contains(err.Error(), "not a container image reference") {
		t.Errorf("an image with an uppercase path: %v, want an error at its position", err)
	}
}
