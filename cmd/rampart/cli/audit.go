package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/audit"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
)

func newAudit() *cobra.Command {
	var file, output string
	var strict bool
	c := &cobra.Command{
		Use:   "audit [-f] cluster.yaml [--strict] [-o json]",
		Short: "Report lockouts, exposed control-plane ports and other findings, with the spec line of each",
		Long: `audit reads the compiled policy and reports:
  errors:   a role no admin can reach on SSH; etcd members that cannot reach
            each other on the client or peer port; an unauthenticated
            control-plane port (ZooKeeper 2181, etcd 2379/2380, Mesos 5050/5051,
            Marathon 8080, Exhibitor 8181) open to the world;
  warnings: other well-known services open to the world; trusted entries that
            are public DNS resolvers; long lists of single addresses where a
            CIDR would serve; rules of the spec that change nothing (every
            connection they match is decided by an earlier rule).
The catalogue of dangerous ports follows the profile (dcos: Marathon,
ZooKeeper, Mesos, Exhibitor; kubernetes: the kubelet, the read-only kubelet,
etcd, the API server, NodePorts to the world). A finding the spec accepts
(audit: {accept: [{code, where, reason}]}) is listed as accepted with its
reason and fails nothing; an acceptance that matches no finding is an error.
Exit 1 when there are errors, or warnings with --strict.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			r := audit.Check(policy.Compile(s))
			w := cmd.OutOrStdout()
			if output == "json" {
				if err := r.WriteJSON(w); err != nil {
					return err
				}
			} else {
				if err := r.WriteText(w); err != nil {
					return err
				}
				summary := r.Summary()
				if n := r.Count(report.Info); n > 0 {
					summary += fmt.Sprintf(", %d accepted", n)
				}
				fmt.Fprintf(w, "%s: %s\n", file, summary)
			}
			errs, warns := r.Count(report.Error), r.Count(report.Warning)
			if errs > 0 || (strict && warns > 0) {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("")}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().BoolVar(&strict, "strict", false, "exit 1 on warnings too")
	formatFlags(c, &output, "text", "text or json")
	return c
}
