// Package cli holds rampart's commands, one file each. Output goes through the
// writers given to Run so that tests can read it.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Exit codes, as SPEC.md defines them.
const (
	ExitOK      = 0
	ExitInvalid = 1 // validation errors, error-level findings, a stale tree
	ExitUsage   = 2 // usage errors
)

// exitError carries an exit code and what to print for it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Unwrap gives the error to errors.As and errors.Is.
func (e *exitError) Unwrap() error { return e.err }

// usageError marks a mistake in how rampart was called.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "rampart",
		Short: "Boot configuration with a host firewall for every node of a cluster, from one spec",
		Long: `rampart turns one declarative cluster spec into the boot configuration of every
node: Ignition (through Butane) and cloud-config carrying an ipset+iptables or
nftables host firewall, TLS-only etcd with certificates it keeps in a state
directory, and the systemd units that load it all before the network comes up.
It pushes that userdata to Packet devices or AWS launch templates, compiles the
same policy into AWS security groups, and answers review questions about it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		// rampart without a command is a usage error: the help, on stderr, exit 2.
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			if err := cmd.Help(); err != nil {
				return err
			}
			return &exitError{code: ExitUsage, err: errors.New("")}
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	root.AddCommand(newGen(), newValidate(), newExplain(), newAudit(), newVersion())
	root.AddCommand(newMatrix(), newDiff(), newDrift())
	root.AddCommand(newRecover(), newCerts())
	root.AddCommand(newPush(), newInventory())
	root.AddCommand(newApply())
	return root
}

// Run executes rampart with args and returns the process exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	root := NewRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown command, wrong number of arguments
	fmt.Fprintf(stderr, "rampart: %v\n", err)
	return ExitUsage
}

// specArg is the Args of a command that reads a spec: the spec may be
// given as its one argument instead of with -f (rampart validate
// cluster.yaml); both is a usage error unless they name the same file. It
// sets *file from the argument.
func specArg(file *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return nil
		case len(args) > 1:
			return usageError("%s takes one cluster spec, not %d arguments: %s", cmd.CommandPath(), len(args), strings.Join(args, " "))
		case *file != "" && *file != args[0]:
			return usageError("the cluster spec is given twice: -f %s and the argument %s; give one", *file, args[0])
		}
		*file = args[0]
		return nil
	}
}

// loadSpec reads the spec named by -f (or the argument, specArg); problems
// in it exit 1.
func loadSpec(path string) (*spec.Spec, error) {
	if path == "" {
		return nil, usageError("-f is required: the cluster spec to read (or give it as the argument)")
	}
	s, err := spec.LoadFile(path)
	if err != nil {
		return nil, specProblems(err, path)
	}
	return s, nil
}

// specProblems is the exit error for a spec that did not load: its report
// with a count, or the error reading it.
func specProblems(err error, label string) error {
	var f *report.Failed
	if errors.As(err, &f) {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("%w\n%d error(s) in %s", f, f.Report.Count(report.Error), label)}
	}
	return &exitError{code: ExitInvalid, err: err}
}

// formatFlags gives a command that prints in several formats both spellings
// of the choice: -o/--output and --format, bound to the same value.
func formatFlags(c *cobra.Command, v *string, def, usage string) {
	c.Flags().StringVarP(v, "output", "o", def, usage)
	c.Flags().StringVar(v, "format", def, usage+" (the same as -o)")
}
