package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is rampart's version, set at build time with
// -ldflags "-X github.com/rampart-cluster/rampart/cmd/rampart/cli.Version=v1.2.3";
// otherwise it comes from the module's build information.
var Version = ""

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print rampart's version and the Butane and Ignition versions it embeds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, deps := Version, map[string]string{}
			if info, ok := debug.ReadBuildInfo(); ok {
				if v == "" {
					v = info.Main.Version
				}
				for _, d := range info.Deps {
					deps[d.Path] = d.Version
				}
			}
			if v == "" || v == "(devel)" {
				v = "devel"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rampart %s\n", v)
			for _, name := range []string{"github.com/coreos/butane", "github.com/coreos/ignition/v2"} {
				if dv, ok := deps[name]; ok {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s %s\n", name, dv)
				}
			}
			return nil
		},
	}
}
