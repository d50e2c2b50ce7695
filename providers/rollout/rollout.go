package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rampart-cluster/rampart/generator/etcd"
	"github.com/rampart-cluster/rampart/generator/pki"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Errors that stop a rollout.
var (
	// ErrUnhealthy: the cluster was not healthy with every member before a
	// restart; nothing was restarted then.
	ErrUnhealthy = errors.New("the etcd cluster is not healthy with every member")
	// ErrMemberDown: a restarted member did not come back healthy; the
	// rollout stopped there, nothing else was restarted.
	ErrMemberDown = errors.New("a restarted member did not come back")
	// ErrNothing: the state records no rollout to carry out.
	ErrNothing = errors.New("nothing to roll out")
)

// DefaultWait is how long a restarted member may take to be healthy again,
// with every other member, before the rollout stops.
const DefaultWait = 2 * time.Minute

// Options say what one rollout does.
type Options struct {
	Spec     *spec.Spec
	State    *pki.State
	Machines Machines
	// Wait bounds the wait for the cluster to be healthy again after a
	// restart; 0 is DefaultWait.
	Wait time.Duration
	// StopAfter, when set, stops the rollout once that phase is complete
	// (the state then records the next one).
	StopAfter pki.Phase
	// Progress, when not nil, gets a line per step.
	Progress io.Writer
	// Again is the command that runs this rollout again, for the messages
	// that say how to resume.
	Again string
}

// Result is what a rollout did.
type Result struct {
	Restarted []string     // members whose etcd was restarted, in order
	Delivered []string     // nodes that got changed files, in order
	Completed []pki.Phase  // phases completed
	Changes   []pki.Change // what the phase changes did to the state
	Phase     pki.Phase    // the phase in progress at the end; "" when the rollout is over
}

// Run carries out the rollout the state records, phase after phase, until
// it is over (or StopAfter): in each phase the etcd clients' machines get
// their files first, then each member not yet done, one at a time: the
// cluster checked healthy with every member (etcd's member list exactly
// the spec's members), the files delivered, the check again, etcd
// restarted (in PhaseDeliver only where the files changed: etcd reads its
// certificates at each handshake, but its trusted CAs only when it starts),
// the cluster waited for until every member is healthy again, the member
// recorded done. ErrNothing when the state records no rollout.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	st, s := o.State, o.Spec
	unlock, err := st.LockRollout()
	if err != nil {
		return nil, err
	}
	defer unlock()
	pkiMembers := etcd.Members(s)
	if len(pkiMembers) == 0 {
		return nil, fmt.Errorf("%s has no etcd members (no role with etcd: true)", s.File)
	}
	var members, clients []*spec.Node
	for _, n := range s.Nodes {
		switch {
		case etcd.IsMember(s, n):
			members = append(members, n)
		case slices.Contains(etcd.ClientRoles(s), n.Role):
			clients = append(clients, n)
		}
	}
	rec, err := st.Rollout()
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, ErrNothing
	}
	res := &Result{}
	for rec != nil {
		res.Phase = rec.Phase
		if err := o.phase(ctx, rec, members, clients, res); err != nil {
			return res, err
		}
		next, changes, err := st.NextPhase(s.Cluster, pkiMembers)
		if err != nil {
			return res, fmt.Errorf("ending phase %s: %w", rec.Phase, err)
		}
		res.Completed = append(res.Completed, rec.Phase)
		res.Changes = append(res.Changes, changes...)
		o.printf("phase %s complete: %s\n", rec.Phase, rec.Phase.Describe())
		for _, c := range changes {
			o.printf("  state %s: %s\n", c.Path, c.What)
		}
		done := rec.Phase
		rec, res.Phase = next, ""
		if rec != nil {
			res.Phase = rec.Phase
		}
		if rec != nil && o.StopAfter == done {
			o.printf("stopped after phase %s as asked; phase %s is next: %s\n", done, rec.Phase, o.again())
			break
		}
	}
	return res, nil
}

func (o *Options) printf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format, args...)
	}
}

func (o *Options) again() string {
	if o.Again == "" {
		return "run the rollout again"
	}
	return o.Again
}

// phase carries out one phase on the clients and the members not done.
func (o *Options) phase(ctx context.Context, rec *pki.Rollout, members, clients []*spec.Node, res *Result) error {
	st, s := o.State, o.Spec
	mat, err := st.Load(s.Cluster, etcd.Members(s))
	if err != nil {
		return err
	}
	if err := st.Trusting(mat); err != nil {
		return err
	}
	known, err := st.KnownCAs()
	if err != nil {
		return err
	}
	chk, err := newChecker(s, members, known, mat, members[0].Role)
	if err != nil {
		return err
	}
	o.printf("phase %s: %s\n", rec.Phase, rec.Phase.Describe())
	if err := chk.checkCA(ctx); err != nil {
		return err
	}
	if err := chk.allHealthy(ctx); err != nil {
		return fmt.Errorf("%w before phase %s: %v; nothing was delivered or restarted", ErrUnhealthy, rec.Phase, err)
	}
	if err := chk.sameMembers(ctx); err != nil {
		return fmt.Errorf("%w; nothing was delivered or restarted", err)
	}
	for _, n := range clients {
		public, secret, err := etcd.ClientFiles(mat, n.Role)
		if err != nil {
			return err
		}
		changed, err := o.Machines.Deliver(ctx, n, append(public, secret...))
		if err != nil {
			return fmt.Errorf("client %s: delivering its certificates: %w; no member was restarted in this phase after it. %s when it is reachable", n.Name, err, capital(o.again()))
		}
		if changed {
			res.Delivered = append(res.Delivered, n.Name)
			o.printf("  client %s: certificates delivered\n", n.Name)
		}
	}
	for _, n := range members {
		if rec.IsDone(n.Name) {
			continue
		}
		if err := chk.allHealthy(ctx); err != nil {
			return fmt.Errorf("%w before %s's restart: %v; %s was not restarted: %s once every member is healthy", ErrUnhealthy, n.Name, err, n.Name, o.again())
		}
		public, secret, err := etcd.MemberFiles(mat, n)
		if err != nil {
			return err
		}
		changed, err := o.Machines.Deliver(ctx, n, append(public, secret...))
		if err != nil {
			return fmt.Errorf("member %s: delivering its certificates: %w; it was not restarted, nor was any member after it. %s when it is reachable", n.Name, err, capital(o.again()))
		}
		if changed {
			res.Delivered = append(res.Delivered, n.Name)
		}
		if rec.Phase == pki.PhaseDeliver && !changed {
			o.printf("  member %s: unchanged\n", n.Name)
		} else {
			start := time.Now()
			// the others may have changed while the files went over: asked
			// again right before the restart
			if err := chk.allHealthy(ctx); err != nil {
				return fmt.Errorf("%w before %s's restart: %v; %s has its files but was not restarted: %s once every member is healthy", ErrUnhealthy, n.Name, err, n.Name, o.again())
			}
			if err := chk.sameMembers(ctx); err != nil {
				return fmt.Errorf("%w; %s has its files but was not restarted", err, n.Name)
			}
			if err := chk.handOff(ctx, n); err != nil {
				return fmt.Errorf("%w before %s's restart: %v; %s was not restarted: %s once every member is healthy", ErrUnhealthy, n.Name, err, n.Name, o.again())
			}
			if err := o.Machines.RestartEtcd(ctx, n); err != nil {
				return o.down(n, fmt.Errorf("restarting etcd: %w", err))
			}
			res.Restarted = append(res.Restarted, n.Name)
			if err := chk.waitHealthy(ctx, o.Wait); err != nil {
				return o.down(n, err)
			}
			o.printf("  member %s: delivered, etcd restarted, cluster healthy again after %.1fs\n", n.Name, time.Since(start).Seconds())
		}
		if err := st.MarkDone(n.Name); err != nil {
			return err
		}
	}
	return nil
}

// down is the error of a member that did not come back: what to do to
// resume, and to undo.
func (o *Options) down(n *spec.Node, cause error) error {
	files := []string{etcd.CAFile, etcd.CertFile, etcd.KeyFile, etcd.ClientCert, etcd.ClientKey}
	var undo []string
	for _, f := range files {
		undo = append(undo, fmt.Sprintf("mv %s%s %s", f, PrevSuffix, f))
	}
	return fmt.Errorf("%w: member %s was restarted and the cluster is not healthy with every member %v later (%v). "+
		"The rollout stopped: no other member was restarted. "+
		"To resume: bring %s back (journalctl -u %s on it), then %s; it starts again at %s. "+
		"To undo on %s: its previous files are kept beside the new ones: %s; then systemctl restart %s",
		ErrMemberDown, n.Name, o.Wait, cause, n.Name, etcd.Unit, o.again(), n.Name, n.Name, strings.Join(undo, "; "), etcd.Unit)
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
