package audit

import (
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
)

// lockoutCodes are the findings that stop validate, gen and apply: a policy
// that shuts the operators out of a role (no admin reaches it on SSH) or
// cuts the etcd members from each other would be delivered to every node.
// An empty admins list (audit.no-admins) is not one of them: a spec without
// admins says on purpose that nobody outside the cluster logs in; a role
// that the listed admins cannot reach is an accident.
var lockoutCodes = map[string]bool{msgLockout.Code: true, msgEtcdBlocked.Code: true}

// Lockouts returns the policy's lockout errors, those audit.accept does not
// accept: the one gate validate, gen and apply share.
func Lockouts(p *policy.Policy) report.Report {
	var out report.Report
	for _, e := range Check(p).Entries {
		if lockoutCodes[e.Code] && e.Severity == report.Error {
			out.Append(e)
		}
	}
	return out
}
