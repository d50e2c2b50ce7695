package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/aws/smithy-go/middleware"
	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/aws"
	"github.com/rampart-cluster/rampart/providers/delivery"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

func newPush() *cobra.Command {
	c := &cobra.Command{
		Use:   "push aws|packet [-f] cluster.yaml [--tree out] [--state state] [--dry-run]",
		Short: "Reconcile a provider with the spec: print the plan, then change only that",
		Long: `push delivers the output tree that 'rampart gen' wrote and a person reviewed
(--tree, default out) and the final userdata in the state directory (--state):
it reads what exists at the provider named in the spec, computes the
difference, prints that plan and changes only that; a second push changes
nothing. --dry-run prints the plan and stops.

push never regenerates what it delivers. When the tree or the final userdata
is stale against the spec (what 'rampart gen --check' reports), push refuses
before any call to the provider, naming every stale file: run rampart gen,
review what changed, then push.`,
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

// deliveredMachines reads the machines to deliver from the reviewed tree
// and the state's final userdata, refusing them when they are stale (tests
// wrap it).
var deliveredMachines = reviewed.Machines

// pointerConfigs makes the Ignition pointer configs for the spec's OS, for
// userdata that push aws puts in S3.
func pointerConfigs(s *spec.Spec) aws.PointerFunc {
	target := boot.Target{Variant: s.OS.Variant, Version: s.OS.Version}
	return func(source string, config []byte) ([]byte, error) {
		return boot.PointerConfig(target, source, config)
	}
}

// awsSettings copies the spec's provider.aws section for the provider; nil
// when the spec has none.
func awsSettings(s *spec.Spec) *aws.Settings {
	a := s.Provider.AWS
	if a == nil {
		return nil
	}
	return &aws.Settings{Region: a.Region, VPC: a.VPC, Bucket: a.Bucket, RuleQuota: a.RuleQuota}
}

// pushReport is what `push aws -o json` prints.
type pushReport struct {
	Cluster string       `json:"cluster"`
	Region  string       `json:"region"`
	VPC     string       `json:"vpc"`
	DryRun  bool         `json:"dry_run"`
	Plan    []aws.Change `json:"plan"`
	// Entries are the plan's findings in the one report shape: warnings
	// (what a group cannot say, what rampart leaves alone) and the rules
	// rampart does not own that open an unauthenticated control-plane
	// port to the world (aws.foreign-exposure: errors, warnings with
	// --allow-foreign-exposure)
	Entries []report.Entry `json:"entries"`
	Applied []aws.Change   `json:"applied"`
	Error   string         `json:"error,omitempty"` // why push failed: Desire, Plan or Apply, or the exposures
}

func newPushAWS() *cobra.Command {
	var file, tree, state, output string
	var dryRun, newCA, allowExposure, allowKeys bool
	var roles []string
	c := &cobra.Command{
		Use:   "aws [-f] cluster.yaml [--tree out] [--state state] [--dry-run] [--role R]... [--new-ca] [--allow-foreign-exposure] [--allow-keys-in-userdata] [-o json]",
		Short: "Reconcile the cluster's security groups and launch templates in AWS",
		Long: `push aws makes the AWS side of the cluster match the spec (provider.aws:
region, vpc, bucket, rule_quota) and the output tree:

  - one security group per role, <cluster>-<role>, tagged rampart:cluster and
    rampart:role, compiled from the same policy as the host firewall: world
    rules from 0.0.0.0/0 and ::/0, admins and trusted sources by CIDR,
    cluster members by reference to their role's group, deny rules as the
    complement port ranges; every rule's description starts with "rampart:"
    and says which line of the spec made it. Rules without that prefix are
    not rampart's: they are left alone and listed as warnings.
  - one launch template per role, or per etcd member (a node with its own
    identity), <cluster>-<name>: the userdata 'rampart gen' wrote, read from
    the output tree (--tree), or, for machines whose userdata carries keys,
    from the state directory's final userdata (--state); the role's security group, instance metadata v2
    required with a hop limit of 1 (HttpPutResponseHopLimit: a container
    behind the node's NAT gets no IMDSv2 token, so it cannot read the
    userdata). A new version is made, and made the default, only when one of
    these differs from the default version.
  - userdata over 16 KB (EC2's limit), and userdata with etcd keys whenever
    a bucket is set: the Ignition config goes to the bucket (SSE-S3; refused
    if the bucket is public) and the template gets an Ignition pointer
    config, verified by sha512.
  - userdata with etcd keys (etcd members, etcd_client roles) that would
    stay in a launch template's userdata (no bucket, or cloud-config),
    readable by anyone allowed ec2:DescribeLaunchTemplateVersions, stops the
    push before any change, naming the templates: set provider.aws.bucket
    to a private bucket, or accept it with --allow-keys-in-userdata (the
    plan then warns).

The launch templates of etcd members and etcd clients (their userdata carries
keys) are tagged rampart:etcd-ca with the start of the etcd CA's fingerprint.
A push whose state directory holds another CA than those templates were
pushed with stops before any change: its machines could not join the
running etcd cluster. --new-ca replaces the CA on purpose.

The per-family rule quota is checked before any call. Credentials and
endpoints come from the AWS SDK's default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID,
AWS_ENDPOINT_URL, ...); throttled calls are retried with backoff.

Rules rampart does not own that open an unauthenticated control-plane port
(Marathon 8080, etcd 2379/2380, ZooKeeper 2181, Mesos 5050/5051, Exhibitor
8181) to 0.0.0.0/0 or ::/0 are error-level findings: rampart still makes its
own changes and leaves those rules alone (they are not its), then exits 1,
unless --allow-foreign-exposure.

A tree or final userdata that is stale against the spec (what 'rampart gen
--check' lists) is refused before any call to AWS, naming every stale file:
run rampart gen, review what changed, then push.

--role limits the push to the roles named (repeatable; a role the spec lacks
is a usage error, exit 2). --dry-run prints the plan and changes nothing.
Exit 1 when anything fails; what was done before the failure is printed
(with -o json, the report carries it in "error").`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			// a role the spec lacks is a usage error, said before the
			// state directory is read
			var names []string
			for _, r := range s.Roles {
				names = append(names, r.Name)
			}
			for _, r := range roles {
				if !slices.Contains(names, r) {
					return usageError("--role %s: not a role of cluster %s (roles: %s)", r, s.Cluster, strings.Join(names, ", "))
				}
			}
			w := cmd.OutOrStdout()
			rep := pushReport{Cluster: s.Cluster, DryRun: dryRun, Plan: []aws.Change{}, Entries: []report.Entry{}, Applied: []aws.Change{}}
			if a := s.Provider.AWS; a != nil {
				rep.Region, rep.VPC = a.Region, a.VPC
			}
			// fail says err, exit 1, after "push aws: " unless it is
			// already a refusal (and, with -o json, prints the report with it)
			fail := func(err error) error {
				var exit *exitError
				if !errors.As(err, &exit) {
					exit = &exitError{code: ExitInvalid, err: fmt.Errorf("push aws: %w", err)}
				}
				if output == "json" {
					rep.Error = exit.Error()
					if jerr := printJSON(w, rep); jerr != nil {
						return jerr
					}
				}
				return exit
			}
			if s.Provider.AWS == nil {
				return fail(fmt.Errorf("%s: %w", file, aws.ErrNoProvider))
			}
			// the reviewed tree, refused when stale, before any call to AWS
			machines, err := deliveredMachines(s, tree, pki.Open(state))
			if err != nil {
				return fail(refused("push aws", err, state))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			client, err := aws.NewClient(ctx, s.Provider.AWS.Region, awsAPIOptions...)
			if err != nil {
				return fail(err)
			}
			var provider delivery.Provider = &aws.Provider{Client: client, Policy: policy.Compile(s), Settings: awsSettings(s), Pointer: pointerConfigs(s),
				Options: aws.PlanOptions{Roles: roles, NewCA: newCA, AllowKeysInUserdata: allowKeys}}
			plan, err := provider.Plan(ctx, machines)
			var caErr *aws.CAError
			if errors.As(err, &caErr) {
				return fail(fmt.Errorf("%w\n(the state directory: %s)", err, state))
			}
			if err != nil {
				return fail(err)
			}
			planned := plan.Report()
			findings := planned.Findings
			if allowExposure {
				findings = acceptExposures(findings)
			}
			rep.Plan = append(rep.Plan, planned.Changes...)
			rep.Entries = append(rep.Entries, findings.Entries...)
			if output == "text" {
				printPlan(w, rep, findings)
			}
			if !dryRun && len(planned.Changes) > 0 {
				applied, err := provider.Apply(ctx, plan)
				done := applied.Changes
				rep.Applied = append(rep.Applied, done...)
				if output == "text" {
					fmt.Fprintf(w, "applied %d of %d change(s):\n", len(done), len(planned.Changes))
					for _, c := range done {
						fmt.Fprintf(w, "  %s\n", c)
					}
				}
				var limit *aws.RuleLimitError
				switch {
				case errors.As(err, &limit):
					// the same push fails the same way: no "push again"
					return fail(fmt.Errorf("%w\n%d of %d change(s) were made", err, len(rep.Applied), len(planned.Changes)))
				case err != nil:
					return fail(fmt.Errorf("%w\n%d of %d change(s) were made; push again to finish the rest", err, len(rep.Applied), len(planned.Changes)))
				}
			}
			if n := findings.Count(report.Error); n > 0 {
				// rampart's own changes are made; the finding still fails the push
				return fail(fmt.Errorf("%d rule(s) rampart does not own open an unauthenticated control-plane port to the world (listed above); revoke them, or push with --allow-foreign-exposure to accept them", n))
			}
			if output == "json" {
				return printJSON(w, rep)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	treeFlag(c, &tree)
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory 'rampart gen' wrote (the final userdata of machines with keys)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	c.Flags().StringArrayVar(&roles, "role", nil, "push only this role's group and templates (repeatable)")
	c.Flags().BoolVar(&allowExposure, "allow-foreign-exposure", false, "exit 0 although rules rampart does not own open an unauthenticated control-plane port to the world (they are reported either way, never revoked)")
	c.Flags().BoolVar(&allowKeys, "allow-keys-in-userdata", false, "accept etcd private keys in launch template userdata, readable by anyone allowed ec2:DescribeLaunchTemplateVersions (without it, such a push is refused: set provider.aws.bucket to a private bucket instead)")
	c.Flags().BoolVar(&newCA, "new-ca", false, "accept an etcd CA other than the one the launch templates at AWS were pushed with (replacing the cluster's CA on purpose)")
	formatFlags(c, &output, "text", "text or json")
	return c
}

// treeFlag adds --tree, the output tree a delivery command delivers.
func treeFlag(c *cobra.Command, tree *string) {
	c.Flags().StringVar(tree, "tree", "out", "the output tree 'rampart gen' wrote and a person reviewed (gen's -o)")
}

func printJSON(w io.Writer, rep pushReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// acceptExposures makes the exposures of a plan (aws.foreign-exposure)
// warnings: push --allow-foreign-exposure reports them and exits 0.
func acceptExposures(r report.Report) report.Report {
	var out report.Report
	for _, e := range r.Entries {
		if e.Code == aws.MsgForeignExposure.Code {
			e.Severity = report.Warning
			e.Message += " (accepted with --allow-foreign-exposure)"
		}
		out.Append(e)
	}
	return out
}

// printPlan prints the plan of push aws: what it pushes to, its findings
// as report entries, its changes.
func printPlan(w io.Writer, rep pushReport, findings report.Report) {
	fmt.Fprintf(w, "push aws: cluster %s, region %s, %s\n", rep.Cluster, rep.Region, rep.VPC)
	// a writer's error shows in the lines that follow
	_ = findings.WriteText(w)
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
