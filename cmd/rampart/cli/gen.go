package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
)

// DefaultState is the state directory when --state is not given.
const DefaultState = "state"

func newGen() *cobra.Command {
	var file, out, state string
	var check, newCA, allowLockout, treeOnly bool
	c := &cobra.Command{
		Use:   "gen [-f] cluster.yaml [-o out] [--state state] [--check] [--tree-only] [--new-ca] [--allow-lockout]",
		Short: "Write the output tree: Butane, Ignition, cloud-config and rootfs per role and node",
		Long: `gen reads the cluster spec and writes the output tree: for every role, and for
every node with its own identity (etcd members), the Butane source, the files
and units exactly as they land on the node (rootfs/), the Ignition config and,
when asked, the cloud-config; and manifest.json with the sha256 of every file
and the list of secret files the tree leaves out.

The state directory (--state, default state/) keeps the etcd CA, each member's
certificate and key, and the client certificate and key: gen reads it first and
creates only what is missing, never a CA or key it already has; a member whose
addresses changed gets a new certificate from the same CA, and gen says so. Keys
never enter the output tree: the final userdata of each etcd member, with its
keys, is written to STATE/userdata/nodes/<node>/, and that of each role with
etcd_client: true (the etcd client key) to STATE/userdata/roles/<role>/, mode
0600.

manifest.json records the fingerprint (sha256) of the etcd CA the tree was
made with. gen refuses to replace a tree made with another CA: --state is
relative to the current directory, and another directory's state (or none,
which would get a new CA) would give the cluster certificates its members do
not trust. A CA replaced by rampart certs rotate --ca is accepted (the state
records the CAs it replaced); --new-ca accepts any other, for a state
restored or recreated on purpose.

The public tree needs the state's certificates only: with --tree-only gen
writes it from them, reads no key, writes nothing to the state and makes no
final userdata, so a copy of the state without its keys serves (gen --check
on such a copy checks the tree and says that the final userdata was not
checked). Without --tree-only, a state holding certificates without their
keys is refused, naming the missing keys: gen never makes new keys for
certificates it has.

The tree is written beside the target and swapped in at once: a failed run
leaves the previous tree as it was; a tree that already is what the spec
makes is left alone (gen says unchanged). The directory that holds the tree
and the state directory (or the one that will hold it) must exist and be
writable: gen checks them before it creates anything. With --check nothing is written: gen exits 1
and lists every file that differs from what the spec and the state produce.

A spec with a lockout (no admin reaches a role on SSH; etcd members cut from
each other, as audit reports them) writes nothing unless --allow-lockout.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			if err := checkLockout(cmd.ErrOrStderr(), s, "gen writes nothing", allowLockout || check); err != nil {
				return err
			}
			r, err := gen.Run(gen.Options{Spec: s, Out: out, State: state, Check: check, NewCA: newCA, TreeOnly: treeOnly, KeylessCheck: true})
			w := cmd.OutOrStdout()
			for _, ch := range r.StateChanges {
				fmt.Fprintf(w, "state %s: %s\n", filepath.Join(state, filepath.FromSlash(ch.Path)), ch.What)
			}
			warnExpiring(cmd, r.Certificates, state)
			abs, _ := filepath.Abs(out)
			switch {
			case r.TreeWritten:
				fmt.Fprintf(w, "wrote %d files for cluster %s to %s\n", len(r.Output.Tree.Files), s.Cluster, abs)
			case r.TreeUnchanged:
				fmt.Fprintf(w, "unchanged: the %d files for cluster %s in %s are already what the spec makes\n", len(r.Output.Tree.Files), s.Cluster, abs)
			}
			switch {
			case errors.Is(err, gen.ErrNested):
				return &exitError{code: ExitUsage, err: err}
			case err != nil:
				return &exitError{code: ExitInvalid, err: err}
			case check:
				return genCheckReport(w, r, file, out, state)
			case len(r.Members) == 0:
				return nil
			case treeOnly:
				fmt.Fprintf(w, "final userdata not made (--tree-only): the state %s was only read, for its certificates\n", state)
				return nil
			}
			for _, p := range r.UserdataWritten {
				fmt.Fprintf(w, "state %s: wrote final userdata (secrets, mode 0600)\n", filepath.Join(state, filepath.FromSlash(p)))
			}
			for _, p := range r.UserdataRemoved {
				fmt.Fprintf(w, "state %s: removed (no longer made by the spec)\n", filepath.Join(state, filepath.FromSlash(p)))
			}
			sabs, _ := filepath.Abs(state)
			fmt.Fprintf(w, "final userdata of %d machine(s) with secrets (%d etcd member(s), and the etcd_client roles) is in %s (%d changed)\n", r.SecretMachines(), len(r.Members), filepath.Join(sabs, gen.UserdataDir), len(r.UserdataWritten))
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVarP(&out, "out", "o", "out", "the output tree's directory")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory: etcd CA, certificates, keys and final userdata")
	c.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 and list the files that are stale")
	c.Flags().BoolVar(&treeOnly, "tree-only", false, "the public tree alone, from the state's certificates: no key is read, the state is not written, no final userdata is made")
	c.Flags().BoolVar(&allowLockout, "allow-lockout", false, "write the tree even when the spec locks the operators out or splits etcd")
	c.Flags().BoolVar(&newCA, "new-ca", false, "replace an output tree made with another etcd CA than the state's (the state was restored or recreated on purpose)")
	return c
}

// genCheckReport prints what gen --check found: every stale file of the
// tree and of the state's final userdata, or that the tree is up to date;
// a stale tree exits 1.
func genCheckReport(w io.Writer, r *gen.Report, file, out, state string) error {
	stale := gen.StaleReport(out, r.Stale)
	stale.Merge(gen.StaleReport(state, r.StaleUserdata))
	if len(r.KeysMissing) > 0 {
		keys := make([]string, len(r.KeysMissing))
		for i, k := range r.KeysMissing {
			keys[i] = filepath.Join(state, filepath.FromSlash(k))
		}
		fmt.Fprintf(w, "note: the final userdata in %s was not checked: the state holds certificates without their keys (%s missing); the public tree was checked from the certificates\n", state, strings.Join(keys, ", "))
	}
	if stale.Empty() {
		fmt.Fprintf(w, "%s is up to date (%d files)\n", out, len(r.Output.Tree.Files))
		return nil
	}
	secrets := 0
	for _, e := range stale.Entries {
		fmt.Fprintln(w, e)
		if e.Code == gen.MsgSecret.Code {
			secrets++
		}
	}
	if secrets > 0 {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("%s contains secrets: %d file(s) hold a private key, which the output tree must never hold (keys belong in the state directory); delete them, then run rampart gen -f %s -o %s --state %s", out, secrets, file, out, state)}
	}
	return &exitError{code: ExitInvalid, err: fmt.Errorf("%s is stale: %d file(s) differ from what %s produces; run rampart gen -f %s -o %s --state %s", out, len(stale.Entries), file, file, out, state)}
}

// warnExpiring warns, on standard error, of every certificate of the state
// that expires within ExpiryWarning: gen still uses it.
func warnExpiring(cmd *cobra.Command, certs []pki.CertInfo, state string) {
	t := now()
	for _, c := range certs {
		p, end := filepath.Join(state, filepath.FromSlash(c.Path)), c.NotAfter.UTC().Format("2006-01-02")
		switch {
		case !c.NotAfter.After(t):
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s expired on %s; rampart certs renew reissues it from the same CA\n", p, end)
		case c.NotAfter.Sub(t) < ExpiryWarning:
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s expires in %d day(s) (%s); rampart certs renew reissues it from the same CA\n", p, c.DaysLeft(t), end)
		}
	}
}
