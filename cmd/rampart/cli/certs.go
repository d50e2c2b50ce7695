package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/providers/apply"
	"github.com/rampart-cluster/rampart/providers/rollout"
)

// ExpiryWarning is how close to its end a certificate makes `certs list`
// exit 1.
const ExpiryWarning = 30 * 24 * time.Hour

// now is the clock of `certs list`; tests move it.
var now = time.Now

func newCerts() *cobra.Command {
	c := &cobra.Command{
		Use:   "certs list|rotate|renew|rollout",
		Short: "List the etcd certificates of the state directory, rotate or renew them",
		Long: `certs works on the etcd certificates of the state directory (--state, default
state/): the CA, each member's server and peer certificate, and one client
certificate per role (etcd/clients/<role>.crt, CN <cluster>-<role>-client) for
the etcd roles and the roles with etcd_client. list shows each certificate
with its subject, SANs, end of validity and days left, and the rollout in
progress; rotate replaces them (rotate --ca begins a rolling CA rotation),
renew reissues those near their end from the same CA; both on demand only.
rollout brings what rotate and renew made to the running members and
clients over SSH, restarting etcd one member at a time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("certs needs a subcommand: list, rotate, renew or rollout\nSee '%s --help'.", cmd.CommandPath())
		},
	}
	c.AddCommand(newCertsList(), newCertsRotate(), newCertsRenew(), newCertsRollout())
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
			if err := writeRolloutState(cmd.OutOrStdout(), pki.Open(state), state); err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs list: %w", err)}
			}
			if len(expiring) > 0 {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs list: %d certificate(s) expire within %d days: %v; rampart certs renew -f cluster.yaml --state %s reissues them from the same CA (rampart certs rotate --ca when the CA itself ends), and rampart certs rollout brings them to the running members", len(expiring), int(ExpiryWarning.Hours()/24), expiring, state)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory")
	return c
}

func newCertsRotate() *cobra.Command {
	var file, state string
	var ca, atOnce bool
	var clients []string
	c := &cobra.Command{
		Use:   "rotate -f cluster.yaml [--state state] [--ca [--at-once] | --client ROLE...]",
		Short: "Replace the member and client keys and certificates (with --ca, begin a rolling rotation of the CA; with --client, one role's client pair)",
		Long: `rotate gives every etcd member of the spec and every client role (each etcd
role, each role with etcd_client) a new key and a new certificate from the
existing CA. With --client ROLE (repeatable) only those roles' client pairs
are replaced, for a role whose client key may have leaked: the other roles and
the members keep theirs. It is never done unless asked. rampart certs rollout
then brings the new certificates to the running members and clients.

With --ca it begins a rolling CA rotation: a new CA is made
(STATE/etcd/ca.next.crt) and STATE/etcd/rollout.json records phase trust.
rampart certs rollout carries it out without downtime: (a) every member and
client trusts a bundle of both CAs, (b) they get certificates of the new CA,
(c) the old CA leaves the bundle; members restart one at a time. The replaced
CA's fingerprint goes to STATE/etcd/ca.replaced in phase (b), so that gen
replaces the output trees it made. --ca --at-once replaces the CA and
everything under it at once instead (the old behaviour): the members then
trust only the new CA once they restart, so every member needs its new
userdata before the first one restarts, and the cluster is down until a
majority runs it: for a CA whose key leaked, or a cluster not running yet.

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
			if atOnce && !ca {
				return usageError("certs rotate: --at-once goes with --ca")
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
			switch {
			case len(clients) > 0:
				changes, err = pki.Open(state).RotateClients(s.Cluster, members, clients)
			case ca && !atOnce:
				changes, err = pki.Open(state).StartRotation(s.Cluster, members)
			default:
				changes, err = pki.Open(state).Rotate(s.Cluster, members, ca)
			}
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rotate: %w", err)}
			}
			w := cmd.OutOrStdout()
			for _, ch := range changes {
				fmt.Fprintf(w, "state %s: %s\n", filepath.Join(state, filepath.FromSlash(ch.Path)), ch.What)
			}
			switch {
			case ca && atOnce:
				fmt.Fprintf(w, "next: rampart gen -f %s --state %s, then bring the new userdata to every member before the first one restarts (they trust only the new CA then), and to the etcd client roles' machines\n", file, state)
			case ca:
				fmt.Fprintf(w, "next: rampart certs rollout -f %s --state %s carries out the rotation phase by phase; rampart gen after it (or between phases) writes the tree and userdata of the phase the state is in, which push brings to the providers\n", file, state)
				fmt.Fprintf(w, "warning: the old CA stays trusted by every member until the rollout's last phase (retire) is done; if its key leaked, replace it at once instead: rampart certs rotate --ca --at-once (every member needs its new userdata before the first restarts)\n")
			case len(clients) > 0:
				fmt.Fprintf(w, "next: rampart certs rollout -f %s --state %s brings them to the machines of role(s) %s, and rampart gen writes the new tree and userdata\n", file, state, strings.Join(clients, ", "))
			default:
				fmt.Fprintf(w, "next: rampart certs rollout -f %s --state %s brings them to the members and the etcd client roles' machines (etcd restarted one member at a time), and rampart gen writes the new tree and userdata\n", file, state)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory")
	c.Flags().BoolVar(&ca, "ca", false, "begin a rolling rotation of the CA (rampart certs rollout carries it out)")
	c.Flags().BoolVar(&atOnce, "at-once", false, "with --ca: replace the CA and everything under it at once (no overlap: downtime)")
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
--ca replaces it. The state records that the renewed certificates are to be
delivered (STATE/etcd/rollout.json); rampart certs rollout brings them to the
running members and clients and restarts etcd one member at a time, and
rampart gen writes the new tree and userdata.`,
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
			fmt.Fprintf(w, "next: rampart certs rollout -f %s --state %s brings them to the running members and clients (etcd restarted one member at a time), and rampart gen writes the new tree and userdata\n", file, state)
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

// writeRolloutState prints the rollout the state records, if any: its
// phase, the members done, and the command that carries it on.
func writeRolloutState(w io.Writer, st *pki.State, dir string) error {
	r, err := st.Rollout()
	if err != nil || r == nil {
		return err
	}
	done := "none"
	if len(r.Done) > 0 {
		done = strings.Join(r.Done, ", ")
	}
	kind := "delivery of renewed certificates"
	if r.Phase.Rotating() {
		kind = "rolling CA rotation"
	}
	fmt.Fprintf(w, "rollout: %s in phase %s %s since %s; members done: %s; rampart certs rollout -f cluster.yaml --state %s carries it on\n",
		kind, r.Phase, r.Phase.Describe(), r.Since.UTC().Format(time.RFC3339), done, dir)
	return nil
}

func newCertsRollout() *cobra.Command {
	var file, state, user, key, known, stopAfter string
	var port int
	var wait time.Duration
	c := &cobra.Command{
		Use:   "rollout -f cluster.yaml [--state state] [-l USER] [-i KEY] [--known-hosts FILE] [--port 22] [--wait 2m] [--stop-after trust|leaves]",
		Short: "Bring rotated or renewed certificates to the running etcd members and clients, restarting etcd one member at a time",
		Long: `rollout carries out what the state records in STATE/etcd/rollout.json:
a rolling CA rotation begun by certs rotate --ca, phase by phase (trust: every
member and client trusts the old and the new CA; leaves: they get
certificates of the new CA; retire: the old CA leaves the bundle), or the
delivery of certificates certs renew or certs rotate reissued.

In each phase the machines of the etcd client roles get their files first
(CA bundle, client certificate and key), then each member not yet done, one at
a time: the cluster must be healthy with every member (GET /health over TLS
with the state's client certificate), the files are written over SSH (each
atomically, the previous one kept as FILE.rampart-prev), the leadership is
handed off if the member leads, etcd is restarted (systemctl restart
etcd-member.service, with sudo -n when the user is not root), and the rollout
waits, up to --wait, until every member is healthy again; the state records
the member done. A member that does not come back stops the rollout there,
with nothing else restarted, and the message says how to resume (run rollout
again) or undo. A member that presents a certificate of a CA the state does
not hold stops the rollout before anything is delivered.

SSH as rampart apply: the key of -i and the agent at SSH_AUTH_SOCK, host keys
checked against --known-hosts, never trusted on first use, user -l (default
core), each node at its ssh field, else its first address. Programs on the
client machines that read the certificates only when they start must be
restarted by you before the next phase (etcdctl reads them each time).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			stop := pki.Phase(stopAfter)
			if stop != "" && stop != pki.PhaseTrust && stop != pki.PhaseLeaves {
				return usageError("certs rollout: --stop-after %q: want trust or leaves", stopAfter)
			}
			if known == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return usageError("--known-hosts: %v", err)
				}
				known = filepath.Join(home, ".ssh", "known_hosts")
			}
			st := pki.Open(state)
			if r, err := st.Rollout(); err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rollout: %w", err)}
			} else if r == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "nothing to roll out: %s records no rotation or renewal in progress\n", state)
				return nil
			}
			tr, err := apply.NewTransport(apply.TransportOptions{User: user, Port: port, KeyFile: key, Agent: os.Getenv("SSH_AUTH_SOCK"), KnownHosts: known, Dial: applyDial})
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rollout: %w", err)}
			}
			defer tr.Close()
			again := fmt.Sprintf("rampart certs rollout -f %s --state %s (with the same SSH flags)", file, state)
			res, err := rollout.Run(cmd.Context(), rollout.Options{Spec: s, State: st, Machines: &rollout.SSH{Transport: tr},
				Wait: wait, StopAfter: stop, Progress: cmd.OutOrStdout(), Again: again})
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("certs rollout: %w", err)}
			}
			if res.Phase == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "rollout complete; next: rampart gen -f %s --state %s writes the tree and userdata of the state as it is now: review it and push it, since the providers' userdata (launch templates, devices) and the machines of pools still hold the old certificates until then\n", file, state)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory")
	c.Flags().StringVarP(&user, "user", "l", apply.DefaultUser, "the user to log in as (sudo -n when not root)")
	c.Flags().StringVarP(&key, "identity", "i", "", "a private key file (the agent at SSH_AUTH_SOCK is used too)")
	c.Flags().StringVar(&known, "known-hosts", "", "the known_hosts file host keys are checked against (default ~/.ssh/known_hosts)")
	c.Flags().IntVar(&port, "port", 22, "the SSH port, where the node's ssh field names none")
	c.Flags().DurationVar(&wait, "wait", rollout.DefaultWait, "how long a restarted member may take until every member is healthy again")
	c.Flags().StringVar(&stopAfter, "stop-after", "", "stop once this phase of a rotation is complete (trust or leaves)")
	return c
}
