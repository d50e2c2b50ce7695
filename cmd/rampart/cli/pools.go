package cli

import (
	"fmt"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// poolNote is one note of validate about nested pools.
type poolNote struct {
	pos  string // file:line of the inner pool
	text string
}

// nestedPools lists the pool ranges carved out of a larger pool of another
// role (an edge /24 in a worker /16): explain, the rules and the security
// groups give their addresses to the smaller pool's role only.
func nestedPools(s *spec.Spec) []poolNote {
	var out []poolNote
	for _, c := range policy.Compile(s).Carved {
		out = append(out, poolNote{
			pos: fmt.Sprintf("%s:%d", c.InnerProv.Pos.File, c.InnerProv.Pos.Line),
			text: fmt.Sprintf("%s: %s (role %s) lies inside %s of %s (role %s, line %d): it is carved out, its addresses are %s's only",
				c.InnerProv.Origin, c.Inner, c.InnerRole, c.Outer, c.OuterProv.Origin, c.OuterRole, c.OuterProv.Pos.Line, c.InnerRole),
		})
	}
	return out
}
