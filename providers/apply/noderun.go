package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// nodeRun is apply's work on one node: plan, then apply.
type nodeRun struct {
	o       *Options
	t       Target
	os      node
	judge   *judge
	conn    *Conn
	live    *liveState
	planned *plan
	start   time.Time
	done    bool // the result is final after planning
	res     NodeResult
}

func (r *nodeRun) close() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

func (r *nodeRun) finish(s Status, err error) {
	r.res.Status = s
	if err != nil {
		r.res.Error = err.Error()
	}
	r.res.Seconds = time.Since(r.start).Seconds()
	r.done = true
}

// plan connects, reads what runs and plans; a node that needs nothing (or
// a dry run) ends here.
func (r *nodeRun) plan(ctx context.Context) {
	r.start = time.Now()
	c, err := r.o.Transport.Connect(ctx, r.t.Address)
	if err != nil {
		r.finish(classify(err), err)
		return
	}
	r.conn = c
	backend := r.o.Spec.Firewall.Backend
	l, err := readLive(ctx, c, r.os, backend, r.t.Files)
	if err != nil {
		r.finish(Failed, err)
		return
	}
	r.live = l
	p := filePlan(r.t.Files, l)
	if err := r.judge.semantic(r.t.Node, l, p); err != nil {
		r.finish(Failed, fmt.Errorf("planning: %w", err))
		return
	}
	r.planned = p
	r.res.Plan = p.Lines(r.os)
	switch {
	case len(l.Armed) > 0:
		r.finish(Failed, fmt.Errorf("%w (%s)", ErrRollbackPending, strings.Join(l.Armed, ", ")))
	case p.Empty():
		r.finish(Unchanged, nil)
	case r.o.DryRun:
		r.finish(Planned, nil)
	}
}

// apply stages, arms and installs in one session, and confirms through a
// new connection.
func (r *nodeRun) apply(ctx context.Context) {
	id := newID()
	timeout := r.o.ConfirmTimeout
	if _, err := r.conn.Script(ctx, r.os.applyScript(id, r.planned.Write, r.planned.Remove, timeout)); err != nil {
		r.failedInstall(ctx, id, err)
		return
	}
	// the node armed its confirmation timer just before the session
	// ended
	r.confirm(ctx, id, time.Now(), timeout)
}

// failedInstall rolls the node back at once over the connection apply
// still has (the rollback is armed: the node would do it by itself).
func (r *nodeRun) failedInstall(ctx context.Context, id string, err error) {
	var re *RemoteError
	what := "installing the new generation"
	if errors.As(err, &re) {
		switch re.Status {
		case exitStage:
			r.finish(Failed, fmt.Errorf("staging the new generation: %w; nothing was installed", err))
			return
		case exitNotArmed:
			r.finish(Failed, ErrRollbackPending)
			return
		case exitArmFailed:
			r.finish(Failed, fmt.Errorf("arming the rollback: %w; nothing was installed", err))
			return
		case exitActivate:
			what = "loading the new firewall"
		}
	}
	out, rerr := r.conn.Script(ctx, rollbackNowScript(id))
	if rerr != nil {
		r.finish(Failed, fmt.Errorf("%s: %w; the rollback over the same connection failed too (%v): the node rolls back by itself after %v", what, err, rerr, r.o.ConfirmTimeout))
		return
	}
	r.finish(RolledBack, fmt.Errorf("%s: %w; the previous generation was restored (%s)", what, err, strings.TrimSpace(string(out))))
}

// confirm opens a NEW connection through the new rules and disarms the
// rollback over it. If none gets through before the node's timer, the node
// rolls back by itself; apply then waits for that and checks, through yet
// another new connection, that the node answers again.
func (r *nodeRun) confirm(ctx context.Context, id string, armed time.Time, timeout time.Duration) {
	margin := min(max(timeout/5, 500*time.Millisecond), 5*time.Second)
	deadline := armed.Add(timeout - margin)
	var last error
	for first := true; first || time.Now().Before(deadline); first = false {
		cctx, cancel := context.WithDeadline(ctx, deadline)
		c, err := r.o.Transport.Connect(cctx, r.t.Address)
		if err == nil {
			out, derr := c.Script(cctx, disarmScript(id))
			c.Close()
			cancel()
			switch strings.TrimSpace(string(out)) {
			case outConfirmed:
				r.finish(Applied, nil)
				return
			case outRolledBack, outFiring:
				r.finish(RolledBack, fmt.Errorf("the confirmation came after the node's %v timer had fired: the previous generation is back; run apply with a longer --confirm-timeout", timeout))
				return
			}
			last = fmt.Errorf("disarming: %v (%s)", derr, strings.TrimSpace(string(out)))
			continue
		}
		cancel()
		last = err
		if ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	r.rolledBack(ctx, id, armed, timeout, last)
}

// rolledBack waits until the node's rollback has run and checks it through
// a new connection.
func (r *nodeRun) rolledBack(ctx context.Context, id string, armed time.Time, timeout time.Duration, cause error) {
	why := fmt.Errorf("no new SSH connection got through the new rules (%v)", cause)
	select {
	case <-time.After(time.Until(armed.Add(timeout + time.Second))):
	case <-ctx.Done():
		r.finish(Failed, fmt.Errorf("%v; apply was interrupted: the node rolls back by itself %v after it was armed", why, timeout))
		return
	}
	var last error
	for end := time.Now().Add(timeout + 30*time.Second); time.Now().Before(end); {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := r.o.Transport.Connect(cctx, r.t.Address)
		if err == nil {
			out, serr := c.Script(cctx, statusScript(id))
			c.Close()
			cancel()
			switch s := strings.TrimSpace(string(out)); s {
			case outRolledBack:
				r.finish(RolledBack, fmt.Errorf("%v: the node restored the previous generation after %v, and SSH works again", why, timeout))
				return
			case outConfirmed:
				r.finish(Applied, nil)
				return
			default:
				last = fmt.Errorf("rollback %s (%v)", s, serr)
			}
		} else {
			cancel()
			last = err
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.finish(Failed, fmt.Errorf("%v, and after the rollback time the node still cannot be confirmed (%v): it may be locked out; check it on its console (%s/rollback.log)", why, last, RemoteDir))
}
