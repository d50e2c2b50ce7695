package cli

import (
	"slices"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/review"
)

func newMatrix() *cobra.Command {
	var file, format string
	c := &cobra.Command{
		Use:   "matrix [-f] cluster.yaml [--format text|markdown|json]",
		Short: "Show who reaches what: sources by destination role, the open ports of each",
		Long: `matrix computes, from the compiled policy, which new connections each source
may open to the nodes of each role. Rows are the sources (the world, admins,
trusted sources, each role, each overlay), columns the destination roles; a
cell lists the open ports per protocol, compressed: "all", "all but
tcp/8201,26257", "tcp/80,443,10000-10100 icmp", or "—" for nothing. Where IPv4
and IPv6 differ the cell shows both. A source whose addresses are not all
treated alike (an admin who is also a cluster member) is split into rows
named by what sets each part apart. With overlays, a second table shows what
rampart lets through between them.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(review.Formats, format) {
				return usageError("--format must be text, markdown or json, not %q", format)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			return review.Build(policy.Compile(s)).Write(cmd.OutOrStdout(), format)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	formatFlags(c, &format, review.FormatText, "text, markdown or json")
	return c
}
