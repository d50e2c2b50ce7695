package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/progress"
	"github.com/rampart-cluster/rampart/internal/workers"
	"github.com/rampart-cluster/rampart/providers/delivery/reviewed"
)

// Options say what one apply does.
type Options struct {
	Spec  *spec.Spec
	Tree  string     // the reviewed output tree (--tree)
	State *pki.State // the state directory with the final userdata
	Nodes []string   // --node: only these; empty for every node
	// DryRun reads and plans, and changes nothing.
	DryRun    bool
	Transport *Transport
	// Concurrency is how many nodes are worked on at once; 0 is 10.
	Concurrency int
	// ConfirmTimeout is how long a node waits for the confirmation through
	// a new connection before it rolls back by itself; 0 is 60 seconds.
	ConfirmTimeout time.Duration
	// Progress, when not nil, gets a line per node as it ends.
	Progress io.Writer
	// Terminal says Progress is a terminal: a bar of the nodes done stays
	// on its last line (internal/progress).
	Terminal bool
}

// Run is `rampart apply`. Before any connection it reads the machines from
// the reviewed tree and the state (reviewed.Machines: a stale tree is
// refused) and checks the spec for lockouts (ErrLockout). Then it reads
// and plans every node, at most Concurrency at a time; with DryRun it
// stops there. Otherwise it applies to the nodes with changes: first the
// nodes already in the cluster, then those joining it (whose addresses
// the others' member sets gain), so that a new node is admitted before it
// starts talking. Every node gets a NodeResult; a node that fails does not
// stop the others. The error is for what stops the whole apply.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 10
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = 60 * time.Second
	}
	machines, err := reviewed.Machines(o.Spec, o.Tree, o.State)
	if err != nil {
		return nil, err
	}
	if err := lockouts(o.Spec); err != nil {
		return nil, err
	}
	targets, err := Targets(o.Spec, o.Tree, machines, o.Nodes)
	if err != nil {
		return nil, err
	}
	j := newJudge(o.Spec)
	paths := node{Script: gen.ScriptPath[o.Spec.OS.Variant], Unit: gen.FirewallUnit, FWDir: gen.FirewallDir}
	runs := make([]*nodeRun, len(targets))
	for i, t := range targets {
		runs[i] = &nodeRun{o: &o, t: t, os: paths, judge: j, res: NodeResult{Node: t.Node.Name, Role: t.Node.Role, Address: t.Address}}
	}
	defer func() {
		for _, r := range runs {
			r.close()
		}
	}()
	bar := progress.New(o.Progress, o.Terminal)
	each(runs, o.Concurrency, func(r *nodeRun) { r.plan(ctx) })
	joining := markJoining(runs)
	res := &Result{DryRun: o.DryRun}
	if len(joining) > 0 {
		res.Order = fmt.Sprintf("the nodes already in the cluster first, so that they admit the joining nodes (%s) before those are applied to", strings.Join(joining, ", "))
		if !o.DryRun {
			bar.Note("order: " + res.Order)
		}
	}
	bar.Start(len(runs))
	defer bar.Finish()
	var first, last []*nodeRun
	for _, r := range runs {
		if r.res.Joining && r.res.Status == Unreachable {
			// not booted yet: it boots with its own userdata, which
			// admits the cluster; the others admit it now
			r.res.Status = NotUp
		}
		switch {
		case r.done:
			bar.Done(r.res.String(), !r.res.OK())
		case r.res.Joining:
			last = append(last, r)
		default:
			first = append(first, r)
		}
	}
	for _, wave := range [][]*nodeRun{first, last} {
		each(wave, o.Concurrency, func(r *nodeRun) {
			r.apply(ctx)
			bar.Done(r.res.String(), !r.res.OK())
		})
	}
	for _, r := range runs {
		res.Nodes = append(res.Nodes, r.res)
	}
	return res, nil
}

// each runs fn on every item, n at a time.
func each[T any](items []T, n int, fn func(T)) {
	workers.Run(len(items), n, func(i int) { fn(items[i]) })
}

// markJoining marks the nodes whose addresses other nodes' member sets
// gain (plan.Added), and returns their names.
func markJoining(runs []*nodeRun) []string {
	added := map[string]bool{}
	for _, r := range runs {
		if r.planned != nil {
			for _, a := range r.planned.Added {
				added[a] = true
			}
		}
	}
	var out []string
	for _, r := range runs {
		for _, a := range r.t.Node.Addresses {
			if added[a.String()] {
				r.res.Joining = true
				out = append(out, r.t.Node.Name)
				break
			}
		}
	}
	return out
}

// newID names one apply to one node: the markers and the timer carry it.
func newID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// classify turns a connection error into the node's status.
func classify(err error) Status {
	var hk *HostKeyError
	if errors.As(err, &hk) {
		return Refused
	}
	return Unreachable
}
