package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/smithy-go/middleware"
	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/providers/aws"
)

func newPush() *cobra.Command {
	c := &cobra.Command{
		Use:   "push aws|packet -f cluster.yaml [--dry-run]",
		Short: "Reconcile a provider with the spec: print the plan, then change only that",
		Long: `push reads what exists at the provider named in the spec, computes the
difference with what the spec and the state directory make, prints that plan
and changes only that; a second push changes nothing. --dry-run prints the
plan and stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("push needs a provider: rampart push aws or rampart push packet\nSee '%s --help'.", cmd.CommandPath())
		},
	}
	c.AddCommand(newPushAWS(), newPushPacket())
	return c
}

// awsAPIOptions are added to every AWS call's middleware (tests count calls).
var awsAPIOptions []func(*middleware.Stack) error

// pushReport is what `push aws -o json` prints.
type pushReport struct {
	Cluster  string       `json:"cluster"`
	Region   string       `json:"region"`
	VPC      string       `json:"vpc"`
	DryRun   bool         `json:"dry_run"`
	Plan     []aws.Change `json:"plan"`
	Warnings []string     `json:"warnings"`
	Applied  []aws.Change `json:"applied"`
	Error    string       `json:"error,omitempty"`
}

func newPushAWS() *cobra.Command {
	var file, state, output string
	var dryRun, newCA bool
	var roles []string
	c := &cobra.Command{
		Use:   "aws -f cluster.yaml [--state state] [--dry-run] [--role R]... [--new-ca] [-o json]",
		Short: "Reconcile the cluster's security groups and launch templates in AWS",
		Long: `push aws makes the AWS side of the cluster match the spec (provider.aws:
region, vpc, bucket, rule_quota):

  - one security group per role, <cluster>-<role>, tagged rampart:cluster and
    rampart:role, compiled from the same policy as the host firewall: world
    rules from 0.0.0.0/0 and ::/0, admins and trusted sources by CIDR,
    cluster members by reference to their role's group, deny rules as the
    complement port ranges; every rule's description starts with "rampart:"
    and says which line of the spec made it. Rules without that prefix are
    not rampart's: they are left alone and listed as warnings.
  - one launch template per role, or per etcd member (a node with its own
    identity), <cluster>-<name>: the final userdata (from the state directory
    that 'rampart gen' wrote), the role's security group, instance metadata v2
    required. A new version is made, and made the default, only when one of
    these differs from the default version.
  - userdata over 16 KB (EC2's limit): the Ignition config goes to the bucket
    and the template gets an Ignition pointer config, verified by sha512.

The launch templates of etcd members and etcd clients (their userdata carries
keys) are tagged rampart:etcd-ca with the start of the etcd CA's fingerprint.
A push whose state directory holds another CA than those templates were
pushed with stops before any change: its machines could not join the
running etcd cluster. --new-ca replaces the CA on purpose.

The per-family rule quota is checked before any call. Credentials and
endpoints come from the AWS SDK's default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID,
AWS_ENDPOINT_URL, ...); throttled calls are retried with backoff.

--role limits the push to the roles named (repeatable). --dry-run prints the
plan and changes nothing. Exit 1 when anything fails; what was done before
the failure is printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			fail := func(err error) error { return &exitError{code: ExitInvalid, err: fmt.Errorf("push aws: %w", err)} }
			if s.Provider.AWS == nil {
				return fail(fmt.Errorf("%s: %w", file, aws.ErrNoProvider))
			}
			machines, err := aws.MachinesFromState(s, pki.Open(state))
			if err != nil {
				return fail(fmt.Errorf("%w\n%s", err, stateHint(file, state)))
			}
			desired, err := aws.Desire(s, machines)
			if err != nil {
				return fail(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			client, err := aws.NewClient(ctx, desired.Region, awsAPIOptions...)
			if err != nil {
				return fail(err)
			}
			rep := pushReport{Cluster: s.Cluster, Region: desired.Region, VPC: desired.VPC, DryRun: dryRun,
				Plan: []aws.Change{}, Warnings: append([]string{}, desired.Groups.Warnings...), Applied: []aws.Change{}}
			w := cmd.OutOrStdout()
			plan, err := client.Plan(ctx, desired, aws.PlanOptions{Roles: roles, NewCA: newCA})
			var caErr *aws.CAError
			if errors.As(err, &caErr) {
				return fail(fmt.Errorf("%w\n(the state directory: %s)", err, state))
			}
			if err != nil {
				return fail(err)
			}
			rep.Plan = append(rep.Plan, plan.Changes...)
			rep.Warnings = append(rep.Warnings, plan.Warnings...)
			if output == "text" {
				printPlan(w, rep)
			}
			var applyErr error
			if !dryRun && len(plan.Changes) > 0 {
				var done []aws.Change
				done, applyErr = client.Apply(ctx, plan)
				rep.Applied = append(rep.Applied, done...)
				if applyErr != nil {
					rep.Error = applyErr.Error()
				}
				if output == "text" {
					fmt.Fprintf(w, "applied %d of %d change(s):\n", len(done), len(plan.Changes))
					for _, c := range done {
						fmt.Fprintf(w, "  %s\n", c)
					}
				}
			}
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			}
			if applyErr != nil {
				var limit *aws.RuleLimitError
				if errors.As(applyErr, &limit) {
					// the same push fails the same way: no "push again"
					return fail(fmt.Errorf("%w\n%d of %d change(s) were made", applyErr, len(rep.Applied), len(plan.Changes)))
				}
				return fail(fmt.Errorf("%w\n%d of %d change(s) were made; push again to finish the rest", applyErr, len(rep.Applied), len(plan.Changes)))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory 'rampart gen' wrote (etcd members' userdata)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	c.Flags().StringArrayVar(&roles, "role", nil, "push only this role's group and templates (repeatable)")
	c.Flags().BoolVar(&newCA, "new-ca", false, "accept an etcd CA other than the one the launch templates at AWS were pushed with (replacing the cluster's CA on purpose)")
	formatFlags(c, &output, "text", "text or json")
	return c
}

// stateHint is said when the state directory lacks what push needs. It
// must not send anyone to make a new CA for a running cluster: machines
// with keys of a new CA cannot join the etcd cluster of the old one.
func stateHint(file, state string) string {
	return fmt.Sprintf("if this cluster was generated before, point --state at its state directory (not %s); "+
		"'rampart gen -f %s --state DIR' creates a new CA, which is right only for a new cluster", state, file)
}

func printPlan(w io.Writer, rep pushReport) {
	fmt.Fprintf(w, "push aws: cluster %s, region %s, %s\n", rep.Cluster, rep.Region, rep.VPC)
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if len(rep.Plan) == 0 {
		fmt.Fprintln(w, "plan: no changes: AWS matches the spec")
		return
	}
	fmt.Fprintf(w, "plan: %d change(s):\n", len(rep.Plan))
	for _, c := range rep.Plan {
		fmt.Fprintf(w, "  %s\n", c)
	}
	if rep.DryRun {
		fmt.Fprintln(w, "dry run: nothing was changed")
	}
}
