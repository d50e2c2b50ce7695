package audit

import (
	"fmt"

	"github.com/rampart-cluster/rampart/generator/report"
)

// accept applies the spec's acceptances (audit.accept) to the findings: a
// finding whose code and path an acceptance names is kept, as information
// with the reason (it fails nothing); an acceptance that names no finding
// is an error, so that one cannot outlive what it was written for.
func (a *auditor) accept() {
	used := make([]bool, len(a.p.Accept))
	for i := range a.out.Entries {
		e := &a.out.Entries[i]
		for j, acc := range a.p.Accept {
			if acc.Code != e.Code || acc.Where != e.Path.String() {
				continue
			}
			used[j] = true
			e.Severity = report.Info
			e.Message = fmt.Sprintf("accepted (%s, line %d): %s", acc.Reason, acc.Pos.Line, e.Message)
			break
		}
	}
	for j, acc := range a.p.Accept {
		if !used[j] {
			a.add(msgStaleAcceptance, report.At("audit", "accept", j), acc.Pos, acc.Code, acc.Where)
		}
	}
}
