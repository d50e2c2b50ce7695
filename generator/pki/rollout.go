package pki

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Phase is where the delivery of the state's certificates to the running
// members stands (RolloutFile).
type Phase string

// Phases of a rollout. A rolling CA rotation (StartRotation) goes through
// PhaseTrust, PhaseLeaves and PhaseRetire; renewed or rotated leaves
// (Renew, Rotate without a new CA, RotateClients) are PhaseDeliver.
const (
	// PhaseTrust: every member and client gets a bundle of the old and
	// the new CA; the leaves are still the old CA's.
	PhaseTrust Phase = "trust"
	// PhaseLeaves: the new CA signs; members and clients get leaves from
	// it and still trust both CAs.
	PhaseLeaves Phase = "leaves"
	// PhaseRetire: the old CA leaves the bundle; only the new one is
	// trusted.
	PhaseRetire Phase = "retire"
	// PhaseDeliver: leaves of the same CA were reissued; they are
	// delivered, members restarted where their files changed.
	PhaseDeliver Phase = "deliver"
)

// Describe says in words what a phase does.
func (p Phase) Describe() string {
	switch p {
	case PhaseTrust:
		return "(a) members and clients trust the old and the new CA"
	case PhaseLeaves:
		return "(b) members and clients get certificates of the new CA"
	case PhaseRetire:
		return "(c) the old CA leaves the trusted bundle"
	case PhaseDeliver:
		return "renewed certificates go to the members and clients"
	}
	return string(p)
}

// Rotating reports whether the phase is one of a CA rotation's.
func (p Phase) Rotating() bool { return p == PhaseTrust || p == PhaseLeaves || p == PhaseRetire }

// Rollout is the record of a delivery in progress, STATE/etcd/rollout.json:
// its phase and the members already restarted with the phase's files. A
// run that stops half-way resumes from it.
type Rollout struct {
	Phase Phase `json:"phase"`
	// OldCA and NewCA are the fingerprints of the CAs of a rotation.
	OldCA string `json:"old_ca,omitempty"`
	NewCA string `json:"new_ca,omitempty"`
	// Done are the members that run the phase's files, in the order they
	// were restarted.
	Done []string `json:"done"`
	// Since is when the phase began (UTC, to the second).
	Since time.Time `json:"since"`
}

// IsDone reports whether member runs the phase's files.
func (r *Rollout) IsDone(member string) bool { return slices.Contains(r.Done, member) }

// Rollout reads the record of the delivery in progress; nil when there is
// none.
func (st *State) Rollout() (*Rollout, error) {
	data, err := os.ReadFile(st.abs(RolloutFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Rollout
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBroken, st.abs(RolloutFile), err)
	}
	switch r.Phase {
	case PhaseTrust, PhaseLeaves, PhaseRetire, PhaseDeliver:
	default:
		return nil, fmt.Errorf("%w: %s: unknown phase %q", ErrBroken, st.abs(RolloutFile), r.Phase)
	}
	return &r, nil
}

// writeRollout writes the record atomically; nil removes it.
func (st *State) writeRollout(r *Rollout) error {
	if r == nil {
		if err := os.Remove(st.abs(RolloutFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = st.WriteFile(RolloutFile, append(data, '\n'), CertMode)
	return err
}

// MarkDone records that member runs the current phase's files.
func (st *State) MarkDone(member string) error {
	unlock, err := st.lock()
	if err != nil {
		return err
	}
	defer unlock()
	r, err := st.Rollout()
	if err != nil || r == nil {
		return err
	}
	if !r.IsDone(member) {
		r.Done = append(r.Done, member)
	}
	return st.writeRollout(r)
}

// leavesChanged records, after leaves were reissued, that they must be
// delivered: a new PhaseDeliver record, or the phase in progress begun
// again for every member (those done have the leaves before the change).
// The caller holds the lock.
func (st *State) leavesChanged() error {
	r, err := st.Rollout()
	if err != nil {
		return err
	}
	if r == nil {
		r = &Rollout{Phase: PhaseDeliver}
	}
	r.Done = []string{}
	r.Since = st.now()
	return st.writeRollout(r)
}

// LockRollout takes the lock of a rollout (STATE/.rollout-lock), apart from
// the state's own lock, which gen and the phase changes take for a moment
// each: two rollouts never run at once on one state.
func (st *State) LockRollout() (func(), error) {
	if err := st.mkdir("."); err != nil {
		return nil, err
	}
	p := st.abs(rolloutLockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, KeyMode)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another rollout runs on state %s (%s is locked)", st.Dir, p)
		}
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}
