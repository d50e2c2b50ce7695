package gen

import (
	"errors"
	"fmt"
	"path"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Options says what one run of `rampart gen` does.
type Options struct {
	Spec  *spec.Spec // the validated spec
	Out   string     // the output tree's directory
	State string     // the state directory: etcd CA, certificates, keys and final userdata
	// Check writes nothing: the run compares the tree at Out and the final
	// userdata in State with what the spec and the state make
	// (Report.Stale, Report.StaleUserdata).
	Check bool
	// NewCA replaces a tree made with another etcd CA than the state's
	// (the state was restored or recreated on purpose); without it such a
	// tree is refused (CheckTreeCA).
	NewCA bool
	// TreeOnly makes the public tree alone, from the state's certificates:
	// no key is read, nothing is written to the state and no final
	// userdata is made (or, with Check, checked). A copy of the state
	// without its keys serves.
	TreeOnly bool
	// KeylessCheck lets Check of a state that holds certificates without
	// their keys (a copy without its keys) check the public tree alone
	// (Report.KeysMissing names the keys) instead of failing; rampart gen
	// --check sets it. What delivers the final userdata must not: it
	// would find none to deliver.
	KeylessCheck bool
}

// Report is what a run did or, with Check, found. A run that fails
// returns the report as far as it got, so that what it changed (the state)
// can still be said.
type Report struct {
	Members []pki.Member // the spec's etcd members (etcd.Members)
	// StateChanges are what the run changed in the state directory
	// (pki.State.Ensure), in order; paths relative to Options.State.
	StateChanges []pki.Change
	// Certificates are the state's certificates after Ensure, to warn of
	// those that expire; nil with Check and for a spec without etcd.
	Certificates []pki.CertInfo
	Output       *Output // what the pipeline made; nil when it failed
	// Stale lists, with Check, every file of the tree that differs from
	// Output.Tree (paths relative to Options.Out); StaleUserdata every
	// final userdata file of the state that differs from Output.Userdata
	// (paths relative to Options.State).
	Stale, StaleUserdata []Stale
	// TreeWritten says that the tree was written to Options.Out.
	TreeWritten bool
	// TreeUnchanged says that the tree at Options.Out already was the one
	// the spec makes, file for file and mode for mode: the run left it
	// alone (same files, same inodes, same modification times).
	TreeUnchanged bool
	// KeysMissing lists, relative to Options.State, the private keys whose
	// certificates the state holds without them, when that kept Check from
	// checking the final userdata (a copy of the state without its keys).
	KeysMissing []string
	// UserdataWritten and UserdataRemoved are the final userdata files the
	// run wrote and removed, relative to Options.State.
	UserdataWritten, UserdataRemoved []string
}

// SecretMachines is the number of machines whose final userdata the run
// made: the etcd members and the roles with etcd_client.
func (r *Report) SecretMachines() int {
	if r.Output == nil {
		return 0
	}
	machines := map[string]bool{}
	for _, f := range r.Output.Userdata {
		machines[path.Dir(f.Path)] = true
	}
	return len(machines)
}

// Run is `rampart gen`: for a spec with etcd members it checks that the
// tree and the state belong together (CheckWritable, CheckNesting,
// CheckTreeCA), makes the state hold what the spec needs
// (pki.State.Ensure, unless TreeOnly), builds the tree and the final
// userdata (Build) and writes them (Tree.Write, Output.WriteUserdata);
// a tree that already is the one made is left alone. With Check it only
// builds and compares. Nothing
// is written before the checks pass, and the tree is written whole or not
// at all. The error is the one the user reads; errors.Is(err, ErrNested)
// marks a mistake in how the run was asked for.
func Run(o Options) (*Report, error) {
	s := o.Spec
	st := pki.Open(o.State)
	r := &Report{Members: etcd.Members(s)}
	etcdCluster := len(r.Members) > 0
	if !o.Check {
		// nesting first; a path it cannot resolve is better said by
		// CheckWritable
		writesState := etcdCluster && !o.TreeOnly
		if err := CheckNesting(o.Out, o.State); err != nil {
			if werr := CheckWritable(o.Out, o.State, writesState); werr != nil && !errors.Is(err, ErrNested) {
				return r, werr
			}
			return r, err
		}
		if err := CheckWritable(o.Out, o.State, writesState); err != nil {
			return r, err
		}
	}
	if !o.Check && etcdCluster && !o.NewCA {
		if err := CheckTreeCA(o.Out, st); err != nil {
			return r, err
		}
	}
	withKeys := false // the run makes the final userdata
	if etcdCluster {
		var err error
		if withKeys, err = prepareState(o, st, r); err != nil {
			return r, err
		}
	}
	var built *pki.State // the state only for a spec that uses one
	if etcdCluster {
		built = st
	}
	out, err := build(s, built, withKeys)
	if err != nil {
		return r, fmt.Errorf("gen: %w", err)
	}
	r.Output = out
	if o.Check {
		if r.Stale, err = out.Tree.Check(o.Out); err != nil {
			return r, err
		}
		if withKeys {
			if r.StaleUserdata, err = out.CheckUserdata(st); err != nil {
				return r, err
			}
		}
		return r, nil
	}
	stale, err := out.Tree.Check(o.Out)
	if err != nil {
		return r, fmt.Errorf("gen: %w", err)
	}
	if len(stale) == 0 {
		r.TreeUnchanged = true
	} else {
		if err := out.Tree.Write(o.Out); err != nil {
			return r, fmt.Errorf("gen: %w", err)
		}
		r.TreeWritten = true
	}
	if !withKeys {
		return r, nil
	}
	if r.UserdataWritten, r.UserdataRemoved, err = out.WriteUserdata(st); err != nil {
		return r, fmt.Errorf("gen: writing the final userdata: %w", err)
	}
	return r, nil
}
