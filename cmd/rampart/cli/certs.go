package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
)

// ExpiryWarning is how close to its end a certificate makes `certs list`
// exit 1.
const ExpiryWarning = 30 * 24 * time.Hour

// now is the clock of `certs list`; tests move it.
var now = time.Now

func newCerts() *cobra.Command {
	c := &cobra.Command{
		Use:   "certs list|rotate|renew",
		Short: "List the etcd certificates of the state directory, rotate or renew them",
		Long: `certs works on the etcd certificates of the state directory (--state, default
state/): the CA, each member's server and peer certificate, and one client
certificate per role (etcd/clients/<role>.crt, CN <cluster>-<role>-client) for
the etcd roles and the roles with etcd_client. list shows each certificate
with its subject, SANs, end of validity and days left; rotate replaces them,
renew reissues those near their end from the same CA; both on demand only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("certs needs a subcommand: list, rotate or renew\nSee '%s --help'.", cmd.CommandPath())
		},
	}
	c.AddCommand(newCertsList(), newCertsRotate(), newCertsRenew())
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
			for _, c := range certs {
				if c.Legacy {
					fmt.Fprintf(cmd.OutOrStdout(), "note: %s is the one client certificate of a state made before client certificates were per role: no machine gets it any more, but etcd accepts it until it expires or the CA is replaced; rampart certs rotate removes it and its key (--ca also makes the members refuse it)\n", filepath.Join(state, filepath.FromSlash(c.Path)))
				}
			}
			if len(expiring) > 0 {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs list: %d certificate(s) expire within %d days: %v; rampart certs renew -f cluster.yaml --state %s reissues them from the same CA (rampart certs rotate --ca when the CA itself ends)", len(expiring), int(ExpiryWarning.Hours()/24), expiring, state)}
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
	var clients []string
	c := &cobra.Command{
		Use:   "rotate -f cluster.yaml [--state state] [--ca | --client ROLE...]",
		Short: "Replace the member and client keys and certificates (with --ca, the CA and everything under it; with --client, one role's client pair)",
		Long: `rotate gives every etcd member of the spec and every client role (each etcd
role, each role with etcd_client) a new key and a new certificate from the
existing CA; with --ca it first replaces the CA itself. With --client ROLE
(repeatable) only those roles' client pairs are replaced, for a role whose
client key may have leaked: the other roles and the members keep theirs. It is
never done unless asked. Afterwards run rampart gen to write the new output
tree and userdata, and bring them to the machines concerned: with --ca, the
members trust only the new CA once they restart, so every member needs its new
userdata before the first one restarts. rotate --ca records the replaced CA's
fingerprint in STATE/etcd/ca.replaced, so that gen replaces the output trees it
made (gen refuses a tree made with a CA it does not know).

A rotated certificate is not revoked: etcd accepts any unexpired certificate of
its CA, so the old pair stays usable until it expires; only --ca ends that (the
members then refuse everything of the old CA). rotate (without --client) also
removes STATE/etcd/client.crt and client.key, the one client pair of a state
made before client certificates were per role, which no machine gets any more.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ca && len(clients) > 0 {
				return usageError("certs rotate: --ca replaces everything, --client only some roles' client pairs: give one of them")
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			members := etcd.Members(s)
			if len(members) == 0 {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rotate: %s has no etcd members (no role with etcd: true)", file)}
			}
			var changes []pki.Change
			if len(clients) > 0 {
				changes, err = pki.Open(state).RotateClients(s.Cluster, members, clients)
			} else {
				changes, err = pki.Open(state).Rotate(s.Cluster, members, ca)
			}
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rotate: %w", err)}
			}
			w := cmd.OutOrStdout()
			for _, ch := range changes {
				fmt.Fprintf(w, "state %s: %s\n", filepath.Join(state, filepath.FromSlash(ch.Path)), ch.What)
			}
			to := "the members and the etcd client roles' machines"
			if len(clients) > 0 {
				to = "the machines of role(s) " + strings.Join(clients, ", ")
			}
			fmt.Fprintf(w, "next: rampart gen -f %s --state %s, then bring the new userdata to %s\n", file, state, to)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory")
	c.Flags().BoolVar(&ca, "ca", false, "replace the CA too, and everything under it")
	c.Flags().StringArrayVar(&clients, "client", nil, "replace only this role's client key and certificate (repeatable)")
	return c
}

func newCertsRenew() *cobra.Command {
	var file, state, within string
	var newKeys bool
	c := &cobra.Command{
		Use:   "renew -f cluster.yaml [--state state] [--within 30d] [--new-keys]",
		Short: "Reissue, from the same CA, the member and client certificates that end within the window",
		Long: `renew reissues every member and client certificate of the state that ends
within --within (default 30d, as certs list warns) from the same CA, with the
same key unless --new-keys; the others are left alone, so a second run does
nothing. A CA that ends within the window is refused: rampart certs rotate
--ca replaces it. Afterwards run rampart gen and bring the new userdata to
the machines concerned (rampart apply); etcd reads its certificates when it
starts, so each member needs a restart, one at a time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			window, err := parseDays(within)
			if err != nil {
				return usageError("certs renew: --within %q: %v", within, err)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			members := etcd.Members(s)
			if len(members) == 0 {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs renew: %s has no etcd members (no role with etcd: true)", file)}
			}
			st := pki.Open(state)
			st.Now = now
			changes, err := st.Renew(s.Cluster, members, window, newKeys)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs renew: %w", err)}
			}
			w := cmd.OutOrStdout()
			if len(changes) == 0 {
				fmt.Fprintf(w, "nothing ends within %s in %s\n", within, state)
				return nil
			}
			for _, ch := range changes {
				fmt.Fprintf(w, "state %s: %s\n", filepath.Join(state, filepath.FromSlash(ch.Path)), ch.What)
			}
			fmt.Fprintf(w, "next: rampart gen -f %s --state %s, then bring the new userdata to the machines concerned and restart etcd on the members one at a time\n", file, state)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory")
	c.Flags().StringVar(&within, "within", "30d", "renew what ends within this window: days (30d) or a Go duration (720h)")
	c.Flags().BoolVar(&newKeys, "new-keys", false, "give the renewed certificates new keys")
	return c
}

// parseDays reads a window written in days (30d) or as a Go duration.
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("want a number of days, such as 30d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want days (30d) or a duration (720h)")
	}
	return d, nil
}
