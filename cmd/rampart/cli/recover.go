package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/providers/packet"
)

func newRecover() *cobra.Command {
	var file, state, out, tree, snapshot string
	var replace, reinstall, yes, membershipDone, newCA, adopt, all bool
	c := &cobra.Command{
		Use:   "recover NODE -f cluster.yaml [--state state] [-o dir] [--replace] [--reinstall [--tree out] --yes [--membership-done] [--new-ca] [--adopt]]\n  rampart recover --all --snapshot FILE -f cluster.yaml [--state state] [-o dir]",
		Short: "Write the userdata to rebuild one node, byte-identical to what gen made for it",
		Long: `recover writes the userdata that rebuilds NODE from the spec and the state
directory, in every format the spec asks for (ignition.json, cloud-config.yaml):
for an etcd member, its final userdata with its keys, byte-identical to what
gen wrote to STATE/userdata/nodes/NODE/; for any other node, its role's.
The files go to -o (default STATE/recover/NODE), mode 0600; -o may not be an
output tree or lie inside one (a directory with a rampart manifest.json, or
under it): the tree is reviewed and shared, and must never hold keys. recover
only reads the state: --state must be the directory gen wrote for this
cluster (run gen again after changing the spec; it keeps the CA). Never run
gen on an empty --state for a running cluster: that makes a new CA, whose
userdata cannot join it.

With --replace, the etcd member joins the running cluster instead of
bootstrapping it (ETCD_INITIAL_CLUSTER_STATE=existing), and recover prints the
etcdctl commands that remove its old membership and add the new one; run
them, as printed, on one of the other members before the node boots (they
talk to that member's loopback client URL with the certificates it carries). Standard output is a shell script:
everything but the commands is a comment.

With --reinstall (provider packet), the node's device gets the userdata push
delivers, read from the reviewed tree (--tree, default out) and the state's
final userdata and refused when stale, and is reinstalled with the spec's OS
(its disks are wiped; Ignition runs only on a first boot); a replacement
member (--replace) gets the userdata above, which is in no tree. The wipe needs --yes, or the node's name typed at the prompt when
standard input is a terminal. A device tagged rampart:etcd-ca= with another CA
than the state's is refused (see push packet); --new-ca accepts it. So is a
device with the node's hostname but no rampart:cluster tag, which may be
someone else's machine; --adopt reinstalls it.

An etcd member of a cluster of two or more members is reinstalled only with
--replace: without it, it would boot with an empty data directory as a new
cluster (ETCD_INITIAL_CLUSTER_STATE=new) and never rejoin the others. The
order is:

  1. rampart recover NODE -f cluster.yaml --replace
       writes the userdata and prints the etcdctl member commands;
  2. run those commands on one of the other members;
  3. rampart recover NODE -f cluster.yaml --replace --reinstall --membership-done --yes
       reinstalls the device.

--membership-done says that step 2 is done; recover cannot check it (the
members' client port admits only members), and without it --replace
--reinstall is refused: booted on an empty data directory before the
commands ran, the node either takes its old membership's place with an empty
raft log, which etcd stops on, or is no member at all.

With --all --snapshot FILE, recover rebuilds an etcd cluster lost whole:
every member's final userdata (to -o DIR/NODE, default STATE/recover/NODE,
mode 0600) carries the snapshot and a unit that restores it on the first
boot, before etcd starts and only while the data directory holds no member
data: a new cluster of the spec's members with the snapshot's data
(etcdutl snapshot restore). The snapshot's sha256 (at its end, as etcdctl
snapshot save writes it) is checked first; a snapshot that fails, or whose
compressed size exceeds the userdata limit, is refused and nothing is
written. recover prints what to do first: stop every member still running,
then boot all members with their userdata.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				if len(args) != 0 {
					return usageError("recover --all rebuilds every etcd member and takes no node name, got %q\nSee '%s --help'.", args, cmd.CommandPath())
				}
				return nil
			}
			if len(args) != 1 {
				return usageError("recover takes one node name, got %d argument(s)\nSee '%s --help'.", len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if all || snapshot != "" {
				if err := allAllowed(all, snapshot, replace, reinstall, membershipDone); err != nil {
					return err
				}
			}
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			if all {
				return recoverAll(cmd, s, state, out, snapshot)
			}
			name := args[0]
			n := s.Node(name)
			if n == nil {
				var names []string
				for _, n := range s.Nodes {
					names = append(names, n.Name)
				}
				return &exitError{code: ExitInvalid, err: fmt.Errorf("recover: %s has no node %q; its nodes: %s", file, name, strings.Join(names, ", "))}
			}
			member := etcd.IsMember(s, n)
			var replaceErr error
			if replace {
				replaceErr = etcd.CheckReplace(s, n)
			}
			if errors.Is(replaceErr, etcd.ErrNotMember) {
				return usageError("recover: %v", replaceErr)
			}
			if reinstall && s.Provider.Packet == nil {
				return usageError("recover: --reinstall reinstalls a Packet device, and %s names no packet provider", file)
			}
			if replaceErr != nil {
				return usageError("recover: %v", replaceErr)
			}
			if err := reinstallAllowed(s, n, file, reinstall, replace, membershipDone, yes, cmd.InOrStdin()); err != nil {
				return err
			}
			st := pki.Open(state)
			if out == "" {
				out = filepath.Join(state, "recover", name)
			}
			if err := outsideTree(out, filepath.Join(state, "recover", name), name); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var written []string
			for _, format := range []string{spec.OutputIgnition, spec.OutputCloudConfig} {
				if !s.Wants(format) {
					continue
				}
				var data []byte
				switch {
				case replace:
					data, err = gen.ReplacementUserdata(s, st, name, format)
				case member:
					data, err = gen.FinalUserdata(s, st, "node", name, format)
				default:
					data, err = gen.FinalUserdata(s, st, "role", n.Role, format)
				}
				if err != nil {
					err = withStateAdvice(err, state)
					return &exitError{code: ExitInvalid, err: fmt.Errorf("recover %s: %w", name, err)}
				}
				p := filepath.Join(out, gen.UserdataName[format])
				if err := writeSecret(p, data); err != nil {
					return &exitError{code: ExitInvalid, err: fmt.Errorf("recover %s: %w", name, err)}
				}
				written = append(written, p)
			}
			what := "its role " + n.Role + "'s userdata"
			if r := s.Role(n.Role); r != nil && r.EtcdClient {
				what += " (with the etcd client key)"
			}
			if member {
				what = "its final userdata (with its keys)"
			}
			fmt.Fprintf(w, "# rampart recover %s: %s, mode 0600:\n", name, what)
			for _, p := range written {
				abs, _ := filepath.Abs(p)
				fmt.Fprintf(w, "#   %s\n", abs)
			}
			if !replace {
				if member {
					fmt.Fprintf(w, "# %s bootstraps with the cluster (ETCD_INITIAL_CLUSTER_STATE=new): for a member\n# whose data is lost while the others run, use --replace.\n", name)
				}
				return reinstallIf(cmd, reinstall, yes, packet.ReinstallOptions{CA: packet.CACheck{NewCA: newCA}, Adopt: adopt}, s, tree, state, name, false)
			}
			cmds := etcd.ReplaceCommands(s, n)
			fmt.Fprintf(w, "# %s joins the running cluster (ETCD_INITIAL_CLUSTER_STATE=existing).\n", name)
			if reinstall {
				// --membership-done: the commands were run; they are shown
				// for the record, commented out.
				fmt.Fprintf(w, "# Its membership was replaced beforehand (--membership-done) with:\n")
				for _, c := range cmds {
					fmt.Fprintln(w, "#   "+c)
				}
				return reinstallIf(cmd, reinstall, yes, packet.ReinstallOptions{CA: packet.CACheck{NewCA: newCA}, Adopt: adopt}, s, tree, state, name, true)
			}
			fmt.Fprintf(w, "# 1. Replace its membership: run these on one of the other members (%s),\n#    as root, e.g. over SSH; they use that member's own certificates:\n", strings.Join(otherMembers(s, n), ", "))
			for _, c := range cmds {
				fmt.Fprintln(w, c)
			}
			if s.Provider.Packet != nil {
				fmt.Fprintf(w, "# 2. Then reinstall its device, which boots on an empty %s:\n", etcd.DataDir)
				fmt.Fprintf(w, "#    rampart recover %s -f %s --state %s --replace --reinstall --membership-done --yes\n", name, etcd.ShellQuote(file), etcd.ShellQuote(state))
			} else {
				fmt.Fprintf(w, "# 2. Then boot %s with the userdata above, on an empty %s.\n", name, etcd.DataDir)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory gen wrote")
	c.Flags().StringVar(&tree, "tree", "out", "with --reinstall: the reviewed output tree whose userdata the device gets (refused when stale)")
	c.Flags().StringVarP(&out, "out", "o", "", "where to write the userdata (default STATE/recover/NODE)")
	c.Flags().BoolVar(&replace, "replace", false, "join the running etcd cluster, and print the member commands to run first")
	c.Flags().BoolVar(&reinstall, "reinstall", false, "reinstall the node's Packet device with this userdata (wipes its disks)")
	c.Flags().BoolVar(&yes, "yes", false, "with --reinstall: wipe the device's disks without asking")
	c.Flags().BoolVar(&newCA, "new-ca", false, "with --reinstall: accept a device tagged with another etcd CA (replaced on purpose)")
	c.Flags().BoolVar(&adopt, "adopt", false, "with --reinstall: reinstall a device with the node's hostname but no rampart:cluster tag")
	c.Flags().BoolVar(&membershipDone, "membership-done", false, "with --replace --reinstall: the member commands of 'recover --replace' have been run")
	c.Flags().BoolVar(&all, "all", false, "rebuild every etcd member of a cluster lost whole, restoring --snapshot on first boot")
	c.Flags().StringVar(&snapshot, "snapshot", "", "with --all: the etcd snapshot to restore (etcdctl snapshot save)")
	return c
}

// outsideTree refuses an -o inside an output tree: the userdata of a
// member carries its keys, and the tree is reviewed, committed and shared.
// def is the default -o to suggest; what names the run in errors.
func outsideTree(out, def, what string) error {
	if tree, err := gen.EnclosingTree(out); err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("recover %s: %w", what, err)}
	} else if tree != "" {
		return usageError("recover: -o %s is inside the output tree %s (it holds a rampart %s): recover writes final userdata, which can carry private keys, and the output tree must never hold them; write it elsewhere, e.g. under the state directory (the default, %s)", out, tree, gen.ManifestName, def)
	}
	return nil
}

// reinstallAllowed refuses, as usage errors and before anything is
// written, a --reinstall that would break the etcd cluster or wipe disks
// without consent: an etcd member of a cluster of two or more reinstalled
// without --replace (it would bootstrap a new cluster on an empty data
// directory and never rejoin), --replace --reinstall without
// --membership-done, and a reinstall without --yes when standard input is
// no terminal to ask on.
func reinstallAllowed(s *spec.Spec, n *spec.Node, file string, reinstall, replace, membershipDone, yes bool, stdin io.Reader) error {
	if membershipDone && !(replace && reinstall) {
		return usageError("recover: --membership-done goes with --replace --reinstall: it says the member commands of 'rampart recover %s --replace' have been run", n.Name)
	}
	if !reinstall {
		return nil
	}
	if err := memberReinstallAllowed(s, n, replace); err != nil {
		return err
	}
	if replace {
		if err := etcd.CheckMembershipReplaced(n, file, membershipDone); err != nil {
			return usageError("recover: %v", err)
		}
	}
	if !yes && !stdinIsTerminal(stdin) {
		return usageError("recover: --reinstall wipes the disks of %s's device: confirm with --yes (standard input is not a terminal to ask on)", n.Name)
	}
	return nil
}

// memberReinstallAllowed is etcd.CheckReinstall as the usage error of
// recover (and of push packet's reinstall, which calls it).
func memberReinstallAllowed(s *spec.Spec, n *spec.Node, replace bool) error {
	if err := etcd.CheckReinstall(s, n, replace); err != nil {
		return usageError("recover: %v", err)
	}
	return nil
}

// stdinIsTerminal says whether r is a terminal to ask on (a variable, so
// that tests can stand in for one).
var stdinIsTerminal = func(r io.Reader) bool { return isTerminal(r) }

// confirmReinstall asks on the terminal for the node's name before its
// device's disks are wiped; anything else is a refusal.
func confirmReinstall(cmd *cobra.Command, s *spec.Spec, name string) error {
	n := s.Node(name)
	what := "its disks are wiped"
	if etcd.IsMember(s, n) {
		what = "its disks, and the etcd data on them, are wiped"
	}
	p := s.Provider.Packet
	fmt.Fprintf(cmd.ErrOrStderr(), "recover --reinstall: the device of %s in Packet project %s is reinstalled with %s: %s.\nType the node's name (%s) to go on: ", name, p.Project, p.OS, what, name)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if strings.TrimSpace(line) == name {
		return nil
	}
	if err != nil && err != io.EOF {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("recover: reading the confirmation: %w; nothing was reinstalled", err)}
	}
	return &exitError{code: ExitInvalid, err: fmt.Errorf("recover: not confirmed; %s was not reinstalled (its userdata is written)", name)}
}

// reinstallIf reinstalls the node's Packet device when --reinstall was
// given, after asking unless yes; what it does goes to standard output as
// shell comments.
// o says which devices may be reinstalled (--new-ca, --adopt).
func reinstallIf(cmd *cobra.Command, reinstall, yes bool, o packet.ReinstallOptions, s *spec.Spec, tree, state, name string, replacement bool) error {
	if !reinstall {
		return nil
	}
	if !yes {
		if err := confirmReinstall(cmd, s, name); err != nil {
			return err
		}
	}
	var b strings.Builder
	err := reinstallPacketNode(cmd.Context(), &b, s, tree, state, name, replacement, o)
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if line != "" {
			fmt.Fprintln(cmd.OutOrStdout(), "# "+line)
		}
	}
	return err
}

// writeSecret writes data to p, mode 0600, its directory 0700.
func writeSecret(p string, data []byte) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, pki.DirMode); err != nil {
		return err
	}
	if err := os.Chmod(dir, pki.DirMode); err != nil {
		return err
	}
	return pki.WriteAtomic(p, data, pki.KeyMode)
}

// otherMembers are the names of the etcd members other than n, where the
// commands of etcd.ReplaceCommands run.
func otherMembers(s *spec.Spec, n *spec.Node) []string {
	var out []string
	for _, m := range etcd.Members(s) {
		if m.Name != n.Name {
			out = append(out, m.Name)
		}
	}
	return out
}
