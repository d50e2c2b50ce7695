package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidate() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "validate -f cluster.yaml",
		Short: "Check a cluster spec and list every error with file:line:col",
		Long: `validate reads the cluster spec strictly (unknown keys, wrong types, addresses
that do not parse, names that do not exist, overlapping overlays, ports out of
range are errors) and lists every error of the file at once. Exit 1 on errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: cluster %s is valid: %d roles, %d nodes, %d pools, %d rules\n",
				file, s.Cluster, len(s.Roles), len(s.Nodes), len(s.Pools), len(s.Rules))
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	return c
}
