package cli

import (
	"fmt"
	"io"

	"github.com/rampart-cluster/rampart/generator/audit"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// lockouts returns the spec's lockout errors (audit.Lockouts: the gate
// validate, gen and apply share).
func lockouts(s *spec.Spec) report.Report { return audit.Lockouts(policy.Compile(s)) }

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
