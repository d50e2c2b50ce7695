package cli

import "fmt"

// refused is how a delivery command (apply, push aws, push packet,
// recover --reinstall) refuses what it was given to deliver: a stale tree
// or final userdata (*reviewed.StaleError, naming every stale file), no
// tree, or a state without a CA or behind the spec, with what to do about
// it (withStateAdvice). It exits 1, the command's name first.
func refused(command string, err error, state string) *exitError {
	return &exitError{code: ExitInvalid, err: fmt.Errorf("%s: %w", command, withStateAdvice(err, state))}
}
