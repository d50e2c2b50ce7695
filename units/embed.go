// Package units holds the systemd units rampart installs on nodes.
package units

import "embed"

// FS holds the unit templates, read with text/template.
//
//go:embed *.tmpl
var FS embed.FS
