package spec

import (
	"strings"

	"github.com/rampart-cluster/rampart/generator/report"
	"gopkg.in/yaml.v3"
)

// Acceptance is one entry of audit.accept: a finding of `rampart audit`
// the operator has looked at and accepts, with the reason. The audit lists
// it as accepted (it fails nothing); an acceptance that matches no finding
// is an error of the audit.
type Acceptance struct {
	Code   string // the finding's code, e.g. audit.exposed
	Where  string // the finding's path, e.g. roles.worker
	Reason string // why it is accepted; never empty
	Pos    Pos    // where the entry was written
}

// acceptances decodes audit: {accept: [{code, where, reason}, ...]}.
func (d *decoder) acceptances(v *yaml.Node) []Acceptance {
	var out []Acceptance
	d.mapping(v, report.At("audit"),
		field{"accept", func(_, v *yaml.Node) {
			seen := map[string]int{}
			d.list(v, report.At("audit", "accept"), func(i int, item *yaml.Node) {
				path := report.At("audit", "accept", i)
				a := Acceptance{Pos: d.pos(item)}
				var code, where, reason *yaml.Node
				d.mapping(item, path,
					field{"code", func(_, v *yaml.Node) { code = v; a.Code, _ = d.str(v, path.Append("code")) }},
					field{"where", func(_, v *yaml.Node) { where = v; a.Where, _ = d.str(v, path.Append("where")) }},
					field{"reason", func(_, v *yaml.Node) { reason = v; a.Reason, _ = d.str(v, path.Append("reason")) }},
				)
				if item.Kind != yaml.MappingNode {
					return
				}
				ok := true
				for _, k := range []struct {
					name string
					node *yaml.Node
				}{{"code", code}, {"where", where}, {"reason", reason}} {
					if k.node == nil {
						d.errorf(item, path, msgAcceptIncomplete, k.name)
						ok = false
					}
				}
				if !ok {
					return
				}
				switch {
				case a.Code != "" && !strings.HasPrefix(a.Code, "audit."):
					d.errorf(code, path.Append("code"), msgAcceptNotAudit, a.Code)
					return
				case reason != nil && strings.TrimSpace(a.Reason) == "":
					d.errorf(reason, path.Append("reason"), msgAcceptNoReason)
					return
				}
				key := a.Code + " " + a.Where
				if line, dup := seen[key]; dup {
					d.errorf(item, path, msgListedTwice, a.Code+" at "+a.Where, line)
					return
				}
				seen[key] = item.Line
				if a.Code != "" && a.Where != "" {
					out = append(out, a)
				}
			})
		}},
	)
	return out
}
