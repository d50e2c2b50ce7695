package etcd

import (
	"fmt"
	"regexp"
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

// reference is a container image reference as docker and podman take it:
// [host[:port]/]path[:tag][@digest], with the grammar of the distribution
// project's reference package (lowercase path components, a tag of at most
// 128 word characters, dots and dashes).
var reference = regexp.MustCompile(`^` +
	`(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?` + // host
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` + // path
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` + // tag
	`(?:@sha256:[a-f0-9]{64})?$`) // digest

// ImageOf is the container image etcd runs from on a Fedora CoreOS member
// (and its restore, recover --all, on either OS when the spec names one):
// etcd.image, else Image. A value that is no image reference is an error at
// its position in the spec.
func ImageOf(s *spec.Spec) (string, error) {
	if s.Etcd.Image == "" {
		return Image, nil
	}
	if !reference.MatchString(s.Etcd.Image) {
		return "", fmt.Errorf("%s: etcd.image %q is not a container image reference ([HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], lowercase path), such as %s", s.Etcd.ImagePos, s.Etcd.Image, Image)
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
