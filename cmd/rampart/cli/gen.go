package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/gen"
)

func newGen() *cobra.Command {
	var file, out string
	var check bool
	c := &cobra.Command{
		Use:   "gen -f cluster.yaml [-o out] [--check]",
		Short: "Write the output tree: Butane, Ignition, cloud-config and rootfs per role and node",
		Long: `gen reads the cluster spec and writes the output tree: for every role, and for
every node with its own identity (etcd members), the Butane source, the files
and units exactly as they land on the node (rootfs/), the Ignition config and,
when asked, the cloud-config; and manifest.json with the sha256 of every file.

The tree is written beside the target and swapped in at once: a failed run
leaves the previous tree as it was. With --check nothing is written: gen exits 1
and lists every file that differs from what the spec produces.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			tree, err := gen.Generate(s)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: %w", err)}
			}
			if check {
				stale, err := tree.Check(out)
				if err != nil {
					return &exitError{code: ExitInvalid, err: err}
				}
				if len(stale) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "%s is up to date (%d files)\n", out, len(tree.Files))
					return nil
				}
				for _, st := range stale {
					fmt.Fprintf(cmd.OutOrStdout(), "stale: %s\n", st)
				}
				return &exitError{code: ExitInvalid, err: fmt.Errorf("%s is stale: %d file(s) differ from what %s produces; run rampart gen -f %s -o %s", out, len(stale), file, file, out)}
			}
			if err := tree.Write(out); err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: %w", err)}
			}
			abs, _ := filepath.Abs(out)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d files for cluster %s to %s\n", len(tree.Files), s.Cluster, abs)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVarP(&out, "out", "o", "out", "the output tree's directory")
	c.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 and list the files that are stale")
	return c
}
