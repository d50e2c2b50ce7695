package cli

import (
	"errors"
	"fmt"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/spf13/cobra"
)

func newValidate() *cobra.Command {
	var file, output string
	var allowLockout bool
	c := &cobra.Command{
		Use:   "validate [-f] cluster.yaml [-o json] [--allow-lockout]",
		Short: "Check a cluster spec and list every error with file:line:col",
		Long: `validate reads the cluster spec strictly (unknown keys, wrong types, addresses
that do not parse, names that do not exist, overlapping overlays, ports out of
range are errors) and lists every error of the file at once, each with its
code, path and position (-o json: the report audit and drift write too).
A lockout (no admin reaches a role on SSH; etcd members cut from each
other), as audit reports it, is an error too unless --allow-lockout (or an
acceptance in audit.accept). Pools of different roles nested in each other
are noted: the smaller is carved out of the larger.
Exit 1 on errors.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			s, err := loadSpec(file)
			if err == nil {
				// what gen refuses in the snippets, validate reports
				if serr := gen.CheckSnippets(s, policy.Compile(s)); serr != nil {
					err = specProblems(serr, file)
				}
			}
			if output == "json" {
				var f *report.Failed
				if errors.As(err, &f) {
					if werr := f.Report.WriteJSON(cmd.OutOrStdout()); werr != nil {
						return werr
					}
					return &exitError{code: ExitInvalid, err: fmt.Errorf("")}
				}
				if err == nil {
					r := lockouts(s)
					if allowLockout {
						r = report.Report{}
					}
					failed := !r.Empty()
					r.Merge(nestedPools(s))
					if werr := r.WriteJSON(cmd.OutOrStdout()); werr != nil || !failed {
						return werr
					}
					return &exitError{code: ExitInvalid, err: fmt.Errorf("")}
				}
			}
			if err != nil {
				return err
			}
			if err := checkLockout(cmd.OutOrStdout(), s, "the spec would shut operators out or split etcd", allowLockout); err != nil {
				return err
			}
			if err := nestedPools(s).WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: cluster %s is valid: %d roles, %d nodes, %d pools, %d rules\n",
				file, s.Cluster, len(s.Roles), len(s.Nodes), len(s.Pools), len(s.Rules))
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().BoolVar(&allowLockout, "allow-lockout", false, "do not count a lockout as an error")
	formatFlags(c, &output, "text", "text or json")
	return c
}
