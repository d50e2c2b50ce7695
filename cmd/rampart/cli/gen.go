package cli

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
)

// DefaultState is the state directory when --state is not given.
const DefaultState = "state"

func newGen() *cobra.Command {
	var file, out, state string
	var check, newCA bool
	c := &cobra.Command{
		Use:   "gen -f cluster.yaml [-o out] [--state state] [--check] [--new-ca]",
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

The tree is written beside the target and swapped in at once: a failed run
leaves the previous tree as it was. With --check nothing is written: gen exits 1
and lists every file that differs from what the spec and the state produce.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadSpec(file)
			if err != nil {
				return err
			}
			st := pki.Open(state)
			w := cmd.OutOrStdout()
			members := etcd.Members(s)
			if !check {
				if err := checkNesting(out, state); err != nil {
					return err
				}
			}
			if !check && len(members) > 0 && !newCA {
				if err := checkTreeCA(out, st); err != nil {
					return &exitError{code: ExitInvalid, err: err}
				}
			}
			if !check && len(members) > 0 {
				changes, err := st.Ensure(s.Cluster, members)
				if err != nil {
					return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: state %s: %w", state, err)}
				}
				for _, ch := range changes {
					fmt.Fprintf(w, "state %s: %s\n", filepath.Join(state, filepath.FromSlash(ch.Path)), ch.What)
				}
				if err := warnExpiring(cmd, st, state); err != nil {
					return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: state %s: %w", state, err)}
				}
			}
			res, err := gen.Build(s, stateOrNil(st, len(members)))
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: %w", err)}
			}
			tree := res.Tree
			if check {
				stale, err := tree.Check(out)
				if err != nil {
					return &exitError{code: ExitInvalid, err: err}
				}
				staleUserdata, err := res.CheckUserdata(st)
				if err != nil {
					return &exitError{code: ExitInvalid, err: err}
				}
				for i := range staleUserdata {
					staleUserdata[i].Path = filepath.Join(state, filepath.FromSlash(staleUserdata[i].Path))
				}
				stale = append(stale, staleUserdata...)
				if len(stale) == 0 {
					fmt.Fprintf(w, "%s is up to date (%d files)\n", out, len(tree.Files))
					return nil
				}
				secrets := 0
				for _, st := range stale {
					fmt.Fprintf(w, "stale: %s\n", st)
					if st.Secret() {
						secrets++
					}
				}
				if secrets > 0 {
					return &exitError{code: ExitInvalid, err: fmt.Errorf("%s contains secrets: %d file(s) hold a private key, which the output tree must never hold (keys belong in the state directory); delete them, then run rampart gen -f %s -o %s --state %s", out, secrets, file, out, state)}
				}
				return &exitError{code: ExitInvalid, err: fmt.Errorf("%s is stale: %d file(s) differ from what %s produces; run rampart gen -f %s -o %s --state %s", out, len(stale), file, file, out, state)}
			}
			if err := tree.Write(out); err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: %w", err)}
			}
			abs, _ := filepath.Abs(out)
			fmt.Fprintf(w, "wrote %d files for cluster %s to %s\n", len(tree.Files), s.Cluster, abs)
			if len(members) == 0 {
				return nil
			}
			written, removed, err := res.WriteUserdata(st)
			if err != nil {
				return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: writing the final userdata: %w", err)}
			}
			for _, p := range written {
				fmt.Fprintf(w, "state %s: wrote final userdata (secrets, mode 0600)\n", filepath.Join(state, filepath.FromSlash(p)))
			}
			for _, p := range removed {
				fmt.Fprintf(w, "state %s: removed (no longer made by the spec)\n", filepath.Join(state, filepath.FromSlash(p)))
			}
			sabs, _ := filepath.Abs(state)
			machines := map[string]bool{}
			for _, f := range res.Userdata {
				machines[path.Dir(f.Path)] = true
			}
			fmt.Fprintf(w, "final userdata of %d machine(s) with secrets (%d etcd member(s), and the etcd_client roles) is in %s (%d changed)\n", len(machines), len(members), filepath.Join(sabs, gen.UserdataDir), len(written))
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec (required)")
	c.Flags().StringVarP(&out, "out", "o", "out", "the output tree's directory")
	c.Flags().StringVar(&state, "state", DefaultState, "the state directory: etcd CA, certificates, keys and final userdata")
	c.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 and list the files that are stale")
	c.Flags().BoolVar(&newCA, "new-ca", false, "replace an output tree made with another etcd CA than the state's (the state was restored or recreated on purpose)")
	return c
}

// checkNesting refuses an output tree and a state directory inside one
// another, before either is touched: a state inside the tree would be
// swept away when the tree is replaced (and be published with it), and a
// tree inside the state directory mixes what is shared with what is secret.
func checkNesting(out, state string) error {
	stateInTree, err := gen.Within(state, out)
	if err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: %w", err)}
	}
	if stateInTree {
		return usageError("gen: the state directory %s is inside the output tree %s: the tree is replaced whole on every run and is meant to be shared, and the state holds the private keys; keep them apart (e.g. -o out --state state)", state, out)
	}
	treeInState, err := gen.Within(out, state)
	if err != nil {
		return &exitError{code: ExitInvalid, err: fmt.Errorf("gen: %w", err)}
	}
	if treeInState {
		return usageError("gen: the output tree %s is inside the state directory %s: the tree is meant to be reviewed and shared, the state holds the private keys; keep them apart (e.g. -o out --state state)", out, state)
	}
	return nil
}

// checkTreeCA refuses to replace an output tree made with another etcd CA
// than the state's, unless the state records that CA as replaced (certs
// rotate --ca): the state is then most likely another directory's (--state
// is relative to the current directory), or missing, and gen would give
// the members certificates the running cluster does not trust. It runs
// before the state is touched, so that a wrong --state gets no new CA.
func checkTreeCA(out string, st *pki.State) error {
	if !gen.IsTree(out) {
		return nil
	}
	m, err := gen.ReadManifest(out)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if m.EtcdCASHA256 == "" {
		return nil // no etcd, or a tree made before rampart recorded its CA
	}
	have, err := st.CAFingerprint()
	noCA := errors.Is(err, pki.ErrNoCA)
	if err != nil && !noCA {
		return fmt.Errorf("gen: state %s: %w", st.Dir, err)
	}
	if have == m.EtcdCASHA256 {
		return nil
	}
	replaced, err := st.ReplacedCAs()
	if err != nil {
		return fmt.Errorf("gen: state %s: %w", st.Dir, err)
	}
	if slices.Contains(replaced, m.EtcdCASHA256) {
		return nil // rotated on purpose
	}
	abs, _ := filepath.Abs(st.Dir)
	what := "holds no etcd CA, and gen would create a new one"
	if !noCA {
		what = "holds the etcd CA " + have
	}
	return fmt.Errorf("gen: %s was made with the etcd CA %s, but the state directory %s (%s) %s; is --state right? (it is relative to the current directory.) If the CA was replaced on purpose, use rampart certs rotate --ca, or pass --new-ca", out, m.EtcdCASHA256, st.Dir, abs, what)
}

// stateOrNil passes the state only to a spec that uses it.
func stateOrNil(st *pki.State, members int) *pki.State {
	if members == 0 {
		return nil
	}
	return st
}

// warnExpiring warns, on standard error, of every certificate of the state
// that expires within ExpiryWarning: gen still uses it.
func warnExpiring(cmd *cobra.Command, st *pki.State, state string) error {
	certs, err := st.List()
	if err != nil {
		return err
	}
	t := now()
	for _, c := range certs {
		p, end := filepath.Join(state, filepath.FromSlash(c.Path)), c.NotAfter.UTC().Format("2006-01-02")
		switch {
		case !c.NotAfter.After(t):
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s expired on %s; rampart certs rotate issues new ones\n", p, end)
		case c.NotAfter.Sub(t) < ExpiryWarning:
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s expires in %d day(s) (%s); rampart certs rotate issues new ones\n", p, c.DaysLeft(t), end)
		}
	}
	return nil
}
