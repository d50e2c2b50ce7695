package cli

import (
	"fmt"
	"io"

	"github.com/rampart-cluster/rampart/generator/audit"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// lockoutCodes are the audit findings that stop validate and gen: a spec
// that shuts the operators out (no admin reaches a role on SSH) or cuts
// the etcd members from each other would be delivered to every node.
var lockoutCodes = map[string]bool{"audit.lockout": true, "audit.etcd-blocked": true}

// lockouts returns the spec's lockout findings that are errors (not
// accepted in audit.accept). An empty admins list is not one of them: a
// spec without admins says on purpose that nobody outside the cluster
// logs in (audit still reports it); a role that the listed admins cannot
// reach is an accident.
func lockouts(s *spec.Spec) report.Report {
	var out report.Report
	for _, e := range audit.Check(policy.Compile(s)).Entries {
		if lockoutCodes[e.Code] && e.Severity == report.Error && e.Path.String() != "admins" {
			out.Append(e)
		}
	}
	return out
}

// checkLockout prints the spec's lockout findings to w and, unless
// allowed, returns the error that stops the command (exit 1).
func checkLockout(w io.Writer, s *spec.Spec, what string, allow bool) error {
	r := lockouts(s)
	if r.Empty() {
		return nil
	}
	if err := r.WriteText(w); err != nil {
		return err
	}
	if allow {
		fmt.Fprintf(w, "%d lockout error(s), allowed by --allow-lockout\n", len(r.Entries))
		return nil
	}
	return &exitError{code: ExitInvalid, err: fmt.Errorf("%d lockout error(s): %s; --allow-lockout goes on anyway", len(r.Entries), what)}
}
