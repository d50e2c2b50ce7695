package spec

import "github.com/rampart-cluster/rampart/generator/report"

// Pos is where a value was written in the spec file.
type Pos = report.Pos
