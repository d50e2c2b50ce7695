package cli

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/delivery"
	"github.com/rampart-cluster/rampart/providers/packet"
)

func newPushPacket() *cobra.Command {
	var file, tree, state string
	var dryRun, create, adopt, newCA bool
	var nodes []string
	var concurrency int
	c := &cobra.Command{
		Use:   "packet [-f] cluster.yaml [--tree out] [--state state] [--dry-run] [--create] [--adopt] [--new-ca] [--node N]...",
		Short: "Put every node's userdata on its Packet (Equinix Metal) device",
		Long: `push packet reconciles the devices of the spec's provider.packet project with
the spec: a device matches a node by hostname; where its userdata (or its
rampart:cluster / rampart:role tags) differ from what 'rampart gen' wrote,
they are updated. With --create, a node without a device gets
one (the provider section's plan, metro and operating system, the node's
userdata, and the tags rampart:cluster=CLUSTER and rampart:role=ROLE).

A device with a node's hostname but no rampart:cluster tag may be someone
else's machine: it is listed with a warning and left alone (the push still
exits 0, as for a missing device); --adopt puts the node's userdata and
rampart's tags on it (its other tags are kept).

Devices whose userdata carries etcd keys (etcd members, etcd_client roles)
are tagged rampart:etcd-ca=<the first 16 hex digits of the CA's sha256, the
manifest's etcd_ca_sha256>. Userdata of another CA than a device's tag is
refused, naming the devices and both fingerprints: most often --state is not
this cluster's state directory and gen made a new CA, whose certificates the
running members do not trust. A CA replaced with 'rampart certs rotate --ca'
is accepted (the state lists it); for a CA replaced otherwise on purpose,
pass --new-ca.

The plan is printed first; --dry-run stops there and changes nothing. Changes
run --concurrency at a time with a line of progress per device (a progress bar
too when stdout is a terminal); 429 and 5xx answers are retried with backoff,
honouring Retry-After. When some devices fail, push says which were done and
which not and exits 1; running it again finishes the rest and leaves the done
ones alone.

Userdata is Ignition when the spec outputs it, else cloud-config, byte for
byte as 'rampart gen' wrote it and a person reviewed it: a node's role's from
the output tree (--tree, default out), an etcd member's, with its keys, from
the final userdata in the state directory gen wrote for this cluster
(--state). push never regenerates it: a tree or final userdata that is stale
against the spec (what 'rampart gen --check' lists) is refused before any
call to the Metal API, naming every stale file; run rampart gen, review what
changed, then push. A running device reads new userdata only when it is
reinstalled: 'rampart recover NODE --reinstall'.

Credentials come from PACKET_AUTH_TOKEN (or METAL_AUTH_TOKEN); PACKET_API_URL
points the client at another Metal API base URL. Equinix Metal itself was shut
down on 2026-06-30.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			target, err := packetTarget(s)
			if err != nil {
				return err
			}
			if concurrency < 1 {
				return usageError("--concurrency must be at least 1")
			}
			selected, err := selectNodes(s, nodes)
			if err != nil {
				return err
			}
			st := pki.Open(state)
			ca, err := caCheck(st, newCA)
			if err != nil {
				return err
			}
			opts := packet.PlanOptions{Create: create, Adopt: adopt, CA: ca}
			var targets []packet.Node
			for _, n := range s.Nodes {
				if slices.Contains(selected, n) {
					targets = append(targets, packet.Node{Name: n.Name, Role: n.Role})
				} else {
					opts.Others = append(opts.Others, n.Name)
				}
			}
			// the reviewed tree, refused when stale, before any call to the Metal API
			machines, err := deliveredMachines(s, tree, st)
			if err != nil {
				return refused("push packet", err, state)
			}
			client, err := packetClient()
			if err != nil {
				return err
			}
			client.Concurrency = concurrency
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			progress := packet.NewProgress(out, isTerminal(out))
			client.OnRetry = progress.Retry
			var provider delivery.Provider = &packet.Provider{Client: client, Target: target, Nodes: targets, Options: opts, Progress: progress}
			plan, err := provider.Plan(ctx, machines)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("push packet: %w", err)}
			}
			devices := plan.(*packet.Plan)
			if err := devices.Write(out); err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintln(out, "dry run: nothing was changed")
				return nil
			}
			applied, err := provider.Apply(ctx, plan)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("push packet: %w", err)}
			}
			done := map[packet.Action]int{}
			for _, c := range applied.Changes {
				done[packet.Action(c.Op)]++
			}
			fmt.Fprintf(out, "push done: %d created, %d updated, %d unchanged", done[packet.ActionCreate], done[packet.ActionUpdate], devices.Count(packet.ActionUnchanged))
			if n := done[packet.ActionAdopt]; n > 0 {
				fmt.Fprintf(out, ", %d adopted", n)
			}
			if n := devices.Count(packet.ActionMissing); n > 0 {
				fmt.Fprintf(out, ", %d missing (no device; --create makes them)", n)
			}
			if n := devices.Count(packet.ActionUntagged); n > 0 {
				fmt.Fprintf(out, ", %d untagged (left alone; --adopt takes them over)", n)
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	treeFlag(c, &tree)
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory 'rampart gen' wrote (the final userdata of machines with keys)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	c.Flags().BoolVar(&create, "create", false, "create the devices of nodes that have none")
	c.Flags().BoolVar(&adopt, "adopt", false, "take over the devices with a node's hostname but no rampart:cluster tag")
	c.Flags().BoolVar(&newCA, "new-ca", false, "accept devices tagged with another etcd CA (replaced on purpose)")
	c.Flags().StringArrayVar(&nodes, "node", nil, "push only this node (repeatable)")
	c.Flags().IntVar(&concurrency, "concurrency", packet.DefaultConcurrency, "how many API calls run at once")
	return c
}

// packetTarget is the spec's provider.packet section as a push target.
func packetTarget(s *spec.Spec) (packet.Target, error) {
	p := s.Provider.Packet
	if p == nil {
		name := s.Provider.Name()
		if name == "" {
			name = "none"
		}
		return packet.Target{}, &exitError{code: ExitInvalid, err: fmt.Errorf("%s: the spec has no provider.packet section (provider: %s); push packet needs its project, metro, plan and os", s.File, name)}
	}
	return packet.Target{Cluster: s.Cluster, Project: p.Project, Metro: p.Metro, Plan: p.Plan, OS: p.OS}, nil
}

// selectNodes is the spec's nodes, or those named, in spec order.
func selectNodes(s *spec.Spec, names []string) ([]*spec.Node, error) {
	if len(names) == 0 {
		return s.Nodes, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		if s.Node(n) == nil {
			return nil, usageError("--node %s: the spec has no such node", n)
		}
		want[n] = true
	}
	var out []*spec.Node
	for _, n := range s.Nodes {
		if want[n.Name] {
			out = append(out, n)
		}
	}
	return out, nil
}

// caCheck is which etcd CAs, besides the state's, a device may carry: those
// the state replaced with certs rotate --ca, or any with --new-ca.
func caCheck(st *pki.State, newCA bool) (packet.CACheck, error) {
	replaced, err := st.ReplacedCAs()
	if err != nil {
		return packet.CACheck{}, &exitError{code: ExitInvalid, err: fmt.Errorf("state %s: %w", st.Dir, err)}
	}
	return packet.CACheck{NewCA: newCA, Replaced: replaced}, nil
}

// packetClient is a Metal API client from the environment; without a token
// rampart was called wrongly (exit 2).
func packetClient() (*packet.Client, error) {
	c, err := packet.NewClient(os.Getenv, nil)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return c, nil
}

// isTerminal says whether v (standard input or output) is a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
