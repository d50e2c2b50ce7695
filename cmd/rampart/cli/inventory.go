package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/providers/aws"
	"github.com/rampart-cluster/rampart/providers/inventory"
)

func newInventory() *cobra.Command {
	c := &cobra.Command{
		Use:   "inventory aws|terraform|packet ...",
		Short: "Print the spec's nodes section from the machines that exist",
		Long: `inventory reads the machines a provider (or terraform) knows and prints them
as the spec's nodes: section: names, roles, and every address, public and
private, IPv4 and IPv6, so the whitelist is filled from what exists. A machine
that cannot be written as a node is an error (exit 1) and nothing is printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("inventory needs a source: aws, terraform or packet\nSee '%s --help'.", cmd.CommandPath())
		},
	}
	c.AddCommand(newInventoryAWS(), newInventoryTerraform(), newInventoryPacket())
	return c
}

// roleRules reads the --role PATTERN=ROLE flags.
func roleRules(flags []string) ([]inventory.RoleRule, error) {
	var out []inventory.RoleRule
	for _, f := range flags {
		r, err := inventory.ParseRoleRule(f)
		if err != nil {
			return nil, usageError("--role %v", err)
		}
		out = append(out, r)
	}
	return out, nil
}

func newInventoryAWS() *cobra.Command {
	var tag, roleTag, region string
	var roles []string
	c := &cobra.Command{
		Use:   "aws --tag K=V [--region R] [--role PATTERN=ROLE]... [--role-tag KEY]",
		Short: "Print the spec's nodes section from EC2 instances tagged K=V",
		Long: `inventory aws describes the instances tagged K=V (pending, running, stopping
or stopped) and prints them as the spec's nodes: section, sorted by name: the
Name tag as the node's name; the role from the first --role PATTERN=ROLE whose
glob matches the name, else from the instance's rampart:role tag (--role-tag
names another key); every address of every network interface: public and
private IPv4, and IPv6.

Credentials, endpoint and region come from the AWS SDK's default chain
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...); --region overrides it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, v, ok := strings.Cut(tag, "=")
			if !ok || k == "" {
				return usageError("--tag K=V is required: the tag that marks the cluster's instances, e.g. rampart:cluster=dcos-aws")
			}
			rules, err := roleRules(roles)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			client, err := aws.NewClient(ctx, region, awsAPIOptions...)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("inventory aws: %w", err)}
			}
			nodes, err := client.Inventory(ctx, aws.InventoryOptions{TagKey: k, TagValue: v, RoleTag: roleTag, Roles: rules})
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("inventory aws: %w", err)}
			}
			return inventory.Write(cmd.OutOrStdout(), nodes)
		},
	}
	c.Flags().StringVar(&tag, "tag", "", "K=V: only instances with this tag (required)")
	c.Flags().StringVar(&region, "region", "", "the region (default: the SDK's, from AWS_REGION or the profile)")
	c.Flags().StringArrayVar(&roles, "role", nil, "PATTERN=ROLE: names matching the glob get the role (repeatable, first match wins)")
	c.Flags().StringVar(&roleTag, "role-tag", aws.TagRole, "the key of the tag that names an instance's role")
	return c
}

func newInventoryTerraform() *cobra.Command {
	var file string
	var outputs, roles []string
	c := &cobra.Command{
		Use:   "terraform --file output.json [--output NAME]... [--role PATTERN=ROLE]...",
		Short: "Print the spec's nodes section from terraform output -json",
		Long: `inventory terraform reads what 'terraform output -json' printed (--file, or -
for standard input) and prints the nodes of the named outputs (--output,
repeatable, default rampart_nodes) as the spec's nodes: section, sorted by
name. Each output's value is an object of node name -> node object:

  output "rampart_nodes" {
    value = {
      for i in aws_instance.master : i.tags.Name => {
        role           = "master"
        public_ip      = i.public_ip
        private_ip     = i.private_ip
        ipv6_addresses = i.ipv6_addresses
      }
    }
  }

A node object has "role" (optional where --role PATTERN=ROLE names it) and
its addresses under "addresses", "public_ip", "public_ips", "private_ip",
"private_ips", "ipv6" or "ipv6_addresses", each a string or a list of
strings; any other key is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError("--file is required: the output of terraform output -json (- for standard input)")
			}
			rules, err := roleRules(roles)
			if err != nil {
				return err
			}
			var data []byte
			if file == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("inventory terraform: %w", err)}
			}
			nodes, err := inventory.Terraform(data, outputs, rules)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("inventory terraform: %s: %w", file, err)}
			}
			return inventory.Write(cmd.OutOrStdout(), nodes)
		},
	}
	c.Flags().StringVar(&file, "file", "", "the output of terraform output -json, - for standard input (required)")
	c.Flags().StringArrayVar(&outputs, "output", nil, "the terraform output holding nodes (repeatable; default "+inventory.DefaultTerraformOutput+")")
	c.Flags().StringArrayVar(&roles, "role", nil, "PATTERN=ROLE: names matching the glob get the role (repeatable, first match wins)")
	return c
}
