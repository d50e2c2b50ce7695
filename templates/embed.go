// Package templates holds the Butane, cloud-config and script templates that
// rampart renders for every role and node.
package templates

import "embed"

// FS holds the templates, read with text/template.
//
//go:embed *.tmpl
var FS embed.FS
