package spec

import "regexp"

// imageReference is a container image reference as docker and podman take
// it: [host[:port]/]path[:tag][@digest], with the grammar of the
// distribution project's reference package (lowercase path components, a
// tag of at most 128 word characters, dots and dashes).
var imageReference = regexp.MustCompile(`^` +
	`(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?` + // host
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` + // path
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` + // tag
	`(?:@sha256:[a-f0-9]{64})?$`) // digest
