package cli

import (
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/providers/inventory"
	"github.com/rampart-cluster/rampart/providers/packet"
)

// projectID is what the Metal API takes as a project id.
var projectID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func newInventoryPacket() *cobra.Command {
	var project, tag, roleTag string
	var roles []string
	c := &cobra.Command{
		Use:   "packet --project ID [--tag T] [--role PATTERN=ROLE]... [--role-tag PREFIX]",
		Short: "Print the spec's nodes section from the devices of a Packet (Equinix Metal) project",
		Long: `inventory packet reads the devices of a project (only those tagged T with
--tag) and prints them as the spec's nodes: section, sorted by name: each
device's hostname as the node name, its role, and every address it has,
public and private, IPv4 and IPv6, so the whitelist is filled from what exists.

A device's role comes from the first --role PATTERN=ROLE whose pattern (a glob
such as agent-*) matches its hostname, else from its tag rampart:role=ROLE
(--role-tag sets another prefix). A device without a role, with a hostname or
role that is not a valid spec name, or without addresses yet is an error
(exit 1) and nothing is printed: a partial whitelist would shut the missing
nodes out of the cluster.

Credentials come from PACKET_AUTH_TOKEN (or METAL_AUTH_TOKEN); PACKET_API_URL
points the client at another Metal API base URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if project == "" {
				return usageError("--project is required: the project UUID")
			}
			if !projectID.MatchString(project) {
				return usageError("--project %q is not a project UUID", project)
			}
			rules, err := roleRules(roles)
			if err != nil {
				return err
			}
			o := packet.InventoryOptions{Project: project, Tag: tag, RoleTag: roleTag, Roles: rules}
			client, err := packetClient()
			if err != nil {
				return err
			}
			client.OnRetry = func(r packet.RetryNote) {
				fmt.Fprintf(cmd.ErrOrStderr(), "retry %s: %s; attempt %d failed, next in %s\n", r.What, r.Reason, r.Attempt, r.Wait.Round(1e6))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			nodes, err := client.Inventory(ctx, o)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("inventory packet: %w", err)}
			}
			return inventory.Write(cmd.OutOrStdout(), nodes)
		},
	}
	c.Flags().StringVar(&project, "project", "", "the project UUID (required)")
	c.Flags().StringVar(&tag, "tag", "", "only devices with this tag")
	c.Flags().StringArrayVar(&roles, "role", nil, "PATTERN=ROLE: hostnames matching the glob get the role (repeatable, first match wins)")
	c.Flags().StringVar(&roleTag, "role-tag", packet.TagRole, "the prefix of the tag that names a device's role")
	return c
}
