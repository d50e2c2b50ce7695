package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/providers/apply"
)

// applyDial opens apply's TCP connections; nil is a plain dial (tests dial
// from inside a network namespace).
var applyDial apply.Dialer

func newApply() *cobra.Command {
	var file, tree, state, user, key, known, output string
	var nodes []string
	var dryRun bool
	var port, concurrency int
	var confirm time.Duration
	c := &cobra.Command{
		Use:   "apply [-f] cluster.yaml [--tree out] [--state state] [--node N]... [--dry-run] [-l USER] [-i KEY] [--known-hosts FILE] [--port 22] [--concurrency 10] [--confirm-timeout 60s] [-o json]",
		Short: "Bring the reviewed tree to running nodes over SSH: plan, try, confirm, or roll back",
		Long: `apply brings the output tree 'rampart gen' wrote and a person reviewed
(--tree) to the running nodes, over SSH. A tree or final userdata that is
stale against the spec is refused before any connection, and so is a spec
that audit finds locks the operators out.

Each node gets the files of its machine's rootfs/ in the tree (the firewall
files, the script, the units) and, on etcd members, their keys from the
state's final userdata (mode 0600).

First the plan, per node, by meaning: apply reads what runs on the node (its
files, and iptables-save, ip6tables-save and ipset save, or nft list
ruleset), compares it with the spec as 'rampart drift' does and prints what
changes: "members: +10.0.0.7 -10.0.0.9", rules, jumps, the unit, the
certificates. --dry-run stops there and changes nothing.

Then, on each node with changes: the new files are staged and the ones they
replace kept under /var/lib/rampart/apply/prev; a rollback is armed (a
transient systemd timer, systemd-run, or a detached process where there is
no systemd) that restores them and loads the firewall again after
--confirm-timeout; the files are put in place and the firewall loaded
(systemctl restart rampart-firewall, or the script). Then apply opens a NEW
SSH connection through the new rules and disarms the rollback over it. If no
new connection gets through (your address is not one of the admins, say),
the node rolls itself back and apply reports "rolled back" and exits 1.

Nodes already in the cluster go first, those whose addresses the others'
member sets gain (joining nodes) last, so that a new node is admitted before
it talks; a joining node that does not answer yet (not booted) is "not up",
which is no failure. A node that fails does not stop the others: apply says
which were done and which not and exits 1, and running it again finishes
the rest; a node that runs the tree already is "unchanged".

SSH: the key of -i, and the agent at SSH_AUTH_SOCK; host keys are checked
against --known-hosts, and a node whose key is unknown or changed is refused
(never trusted on first use). The user is -l, else core; commands run with
sudo -n when it is not root. A node is reached at its ssh field in the
spec, else at its first address.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("-o must be text or json, not %q", output)
			}
			if concurrency < 1 {
				return usageError("--concurrency must be at least 1")
			}
			if confirm < time.Second {
				return usageError("--confirm-timeout must be at least 1s: the node waits that long for a new connection before it rolls back")
			}
			if port < 1 || port > 65535 {
				return usageError("--port %d is out of range", port)
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			if known == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return usageError("--known-hosts: %v", err)
				}
				known = filepath.Join(home, ".ssh", "known_hosts")
			}
			tr, err := apply.NewTransport(apply.TransportOptions{User: user, Port: port, KeyFile: key, Agent: os.Getenv("SSH_AUTH_SOCK"), KnownHosts: known, Dial: applyDial})
			if err != nil {
				return usageError("%v", err)
			}
			defer tr.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			res, err := apply.Run(ctx, apply.Options{Spec: s, Tree: tree, State: pki.Open(state), Nodes: nodes, DryRun: dryRun,
				Transport: tr, Concurrency: concurrency, ConfirmTimeout: confirm, Progress: cmd.ErrOrStderr(), Terminal: isTerminal(cmd.ErrOrStderr())})
			switch {
			case errors.Is(err, apply.ErrUnknownNode):
				return usageError("%v", err)
			case err != nil:
				return refused("apply", err, state)
			}
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				writeApply(out, res)
			}
			if _, notDone := res.Done(); len(notDone) > 0 {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("apply: not done on %d node(s): %s; run apply again to finish them", len(notDone), strings.Join(notDone, ", "))}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	treeFlag(c, &tree)
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory 'rampart gen' wrote (the final userdata with the etcd members' keys)")
	c.Flags().StringSliceVar(&nodes, "node", nil, "only this node (repeat for more)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	c.Flags().StringVarP(&user, "user", "l", apply.DefaultUser, "the user to log in as (sudo -n when not root)")
	c.Flags().StringVarP(&key, "identity", "i", "", "a private key file (the agent at SSH_AUTH_SOCK is used too)")
	c.Flags().StringVar(&known, "known-hosts", "", "the known_hosts file host keys are checked against (default ~/.ssh/known_hosts)")
	c.Flags().IntVar(&port, "port", 22, "the SSH port, where the node's ssh field names none")
	c.Flags().IntVar(&concurrency, "concurrency", 10, "how many nodes at once")
	c.Flags().DurationVar(&confirm, "confirm-timeout", 60*time.Second, "how long a node waits for the confirmation through a new connection before it rolls back")
	formatFlags(c, &output, "text", "text or json")
	return c
}

// writeApply prints the result: the order, a line per node with its plan
// and outcome, and what was done and what not. (The progress, a line per
// node as it ends, goes to standard error.)
func writeApply(w io.Writer, res *apply.Result) {
	if res.Order != "" {
		fmt.Fprintf(w, "order: %s\n", res.Order)
	}
	for _, n := range res.Nodes {
		fmt.Fprintf(w, "%s\n", n)
	}
	done, notDone := res.Done()
	if res.DryRun {
		fmt.Fprintln(w, "dry run: nothing was changed")
	}
	fmt.Fprintf(w, "done: %d node(s)", len(done))
	if len(notDone) > 0 {
		fmt.Fprintf(w, "; not done: %s", strings.Join(notDone, ", "))
	}
	fmt.Fprintln(w)
}
