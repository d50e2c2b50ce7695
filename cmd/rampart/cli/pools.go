package cli

import (
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// msgNestedPool is validate's note about a pool range carved out of a
// larger pool of another role.
var msgNestedPool = report.Message{Code: "validate.nested-pool", Severity: report.Info,
	Format: "%s (role %s) lies inside %s of %s (role %s, line %d): it is carved out, its addresses are %s's only"}

// nestedPools notes the pool ranges carved out of a larger pool of another
// role (an edge /24 in a worker /16): explain, the rules and the security
// groups give their addresses to the smaller pool's role only.
func nestedPools(s *spec.Spec) report.Report {
	var out report.Report
	for _, c := range policy.Compile(s).Carved {
		out.Append(msgNestedPool.At(report.At("pools", c.InnerPool), c.InnerProv.Pos,
			c.Inner, c.InnerRole, c.Outer, c.OuterProv.Origin, c.OuterRole, c.OuterProv.Pos.Line, c.InnerRole))
	}
	return out
}
