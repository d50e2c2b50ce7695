package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
)

// ExpiryWarning is how close to its end a certificate makes `certs list`
// exit 1.
const ExpiryWarning = 30 * 24 * time.Hour

// now is the clock of `certs list`; tests move it.
var now = time.Now

func newCerts() *cobra.Command {
	c := &cobra.Command{
		Use:   "certs list|rotate",
		Short: "List the etcd certificates of the state directory, or rotate them",
		Long: `certs works on the etcd certificates of the state directory (--state, default
state/): list shows each certificate with its subject, SANs, end of validity and
days left; rotate replaces them, on demand only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("certs needs a subcommand: list or rotate\nSee '%s --help'.", cmd.CommandPath())
		},
	}
	c.AddCommand(newCertsList(), newCertsRotate())
	return c
}

func newCertsList() *cobra.Command {
	var state string
	c := &cobra.Command{
		Use:   "list [--state state]",
		Short: "Show subject, SANs, not-after and days left of every certificate; exit 1 when one expires within 30 days",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			certs, err := pki.Open(state).List()
			if errors.Is(err, pki.ErrNoCA) {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs list: %s holds no etcd CA; rampart gen creates it", state)}
			}
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs list: %w", err)}
			}
			t := now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CERTIFICATE\tSUBJECT\tSANS\tNOT AFTER\tDAYS LEFT")
			var expiring []string
			for _, c := range certs {
				sans := c.SANs()
				if sans == "" {
					sans = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", filepath.Join(state, filepath.FromSlash(c.Path)), c.Subject, sans, c.NotAfter.UTC().Format(time.RFC3339), c.DaysLeft(t))
				if c.NotAfter.Sub(t) < ExpiryWarning {
					expiring = append(expiring, fmt.Sprintf("%s (%d days left)", c.Path, c.DaysLeft(t)))
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(expiring) > 0 {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs list: %d certificate(s) expire within %d days: %v; rampart certs rotate issues new ones", len(expiring), int(ExpiryWarning.Hours()/24), expiring)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory")
	return c
}

func newCertsRotate() *cobra.Command {
	var file, state string
	var ca bool
	c := &cobra.Command{
		Use:   "rotate -f cluster.yaml [--state state] [--ca]",
		Short: "Replace the member and client keys and certificates (with --ca, the CA and everything under it)",
		Long: `rotate gives every etcd member of the spec and the client a new key and a new
certificate from the existing CA; with --ca it first replaces the CA itself. It
is never done unless asked. Afterwards run rampart gen to write the new output
tree and userdata, and bring them to the nodes: with --ca, the members trust only
the new CA once they restart, so every member needs its new userdata before the
first one restarts. rotate --ca records the replaced CA's fingerprint in
STATE/etcd/ca.replaced, so that gen replaces the output trees it made (gen
refuses a tree made with a CA it does not know).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			members := gen.EtcdMembers(s)
			if len(members) == 0 {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rotate: %s has no etcd members (no role with etcd: true)", file)}
			}
			changes, err := pki.Open(state).Rotate(s.Cluster, members, ca)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rotate: %w", err)}
			}
			w := cmd.OutOrStdout()
			for _, ch := range changes {
				fmt.Fprintf(w, "state %s: %s\n", filepath.Join(state, filepath.FromSlash(ch.Path)), ch.What)
			}
			fmt.Fprintf(w, "next: rampart gen -f %s --state %s, then bring the new userdata to the members\n", file, state)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory")
	c.Flags().BoolVar(&ca, "ca", false, "replace the CA too, and everything under it")
	return c
}
