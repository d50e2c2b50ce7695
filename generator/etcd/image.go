package etcd

import (
	"strings"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// Image is the etcd container image rampart's Fedora CoreOS unit runs when
// the spec names none (etcd.image).
const Image = "quay.io/coreos/etcd:v3.5.17"

// FlatcarImageURL is the repository Flatcar's etcd-member.service runs etcd
// from (its ETCD_IMAGE_URL); the tag (ETCD_IMAGE_TAG) is that of the etcd
// the Flatcar release ships.
const FlatcarImageURL = "quay.io/coreos/etcd"

// ImageOf is the container image etcd runs from on a Fedora CoreOS member
// (and its restore, recover --all, on either OS when the spec names one):
// etcd.image (a reference, as the spec checks it), else Image.
func ImageOf(s *spec.Spec) (string, error) {
	if s.Etcd.Image == "" {
		return Image, nil
	}
	return s.Etcd.Image, nil
}

// flatcarImageEnv is the environment that makes Flatcar's etcd-member
// wrapper run etcd.image: the wrapper runs ETCD_IMAGE if set, else
// ETCD_IMAGE_URL:ETCD_IMAGE_TAG (its unit sets both, the URL to
// FlatcarImageURL). A tagged image of that repository sets the tag alone,
// of another repository the URL too; an image with a digest, or without a
// tag, is ETCD_IMAGE whole. Without etcd.image nothing is set: Flatcar's
// own default stays.
func flatcarImageEnv(s *spec.Spec) ([]EnvVar, error) {
	if s.Etcd.Image == "" {
		return nil, nil
	}
	image, err := ImageOf(s)
	if err != nil {
		return nil, err
	}
	repo, tag, digest := splitImage(image)
	if digest || tag == "" {
		return []EnvVar{{"ETCD_IMAGE", image}}, nil
	}
	if repo == FlatcarImageURL {
		return []EnvVar{{"ETCD_IMAGE_TAG", tag}}, nil
	}
	return []EnvVar{{"ETCD_IMAGE_URL", repo}, {"ETCD_IMAGE_TAG", tag}}, nil
}

// splitImage splits a reference into its repository and tag ("" when
// none), and says whether it carries a digest. The tag is what follows
// the last colon after the last slash (a registry's port comes before it).
func splitImage(image string) (repo, tag string, digest bool) {
	if i := strings.Index(image, "@"); i >= 0 {
		image, digest = image[:i], true
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[:colon], image[colon+1:], digest
	}
	return image, "", digest
}
