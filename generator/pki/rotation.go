package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// ErrRotating is a request that a rolling CA rotation in progress stands in
// the way of.
var ErrRotating = errors.New("a rolling CA rotation is in progress")

// StartRotation begins a rolling CA rotation: it makes a new CA, kept as
// NextCACert and NextCAKey, and records PhaseTrust, in which the members
// and clients get a bundle of both CAs while the current CA still signs
// every leaf. The rollout carries it out phase by phase (NextPhase). A
// rotation already in progress is refused; a pending delivery of renewed
// leaves is folded into it (the rotation reissues every leaf).
func (st *State) StartRotation(cluster string, members []Member) ([]Change, error) {
	unlock, ca, changes, err := st.beginWithCA(cluster, members)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, err := st.Rollout()
	if err != nil {
		return nil, err
	}
	if r != nil && r.Phase.Rotating() {
		return nil, fmt.Errorf("%w (phase %s, %s): rampart certs rollout carries it on", ErrRotating, r.Phase, r.Phase.Describe())
	}
	next, err := newCA(cluster, st.now())
	if err != nil {
		return nil, err
	}
	if err := st.writePair(NextCAKey, next.keyPEM, NextCACert, next.certPEM); err != nil {
		return nil, err
	}
	changes = append(changes, Change{NextCACert, "created the new etcd CA; it signs nothing until phase (b)"})
	rec := &Rollout{Phase: PhaseTrust, OldCA: Fingerprint(ca.certPEM), NewCA: Fingerprint(next.certPEM), Done: []string{}, Since: st.now()}
	if err := st.writeRollout(rec); err != nil {
		return nil, err
	}
	return append(changes, Change{RolloutFile, "rolling rotation begun: phase " + string(PhaseTrust) + " " + PhaseTrust.Describe()}), nil
}

// NextPhase ends the phase in progress, once every member runs its files:
// PhaseTrust becomes PhaseLeaves (the new CA becomes etcd/ca.crt and signs
// new keys and certificates for every leaf; the old CA is kept as
// PrevCACert, and its fingerprint recorded in CAHistory), PhaseLeaves
// becomes PhaseRetire, and PhaseRetire and PhaseDeliver end the rollout
// (the old CA's files and the record are removed). Each step can be run
// again after a stop half-way. It returns the record of the new phase, nil
// when the rollout is over.
func (st *State) NextPhase(cluster string, members []Member) (*Rollout, []Change, error) {
	unlock, err := st.begin(members)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	r, err := st.Rollout()
	if err != nil || r == nil {
		return nil, nil, err
	}
	var pending []string
	for _, m := range members {
		if !r.IsDone(m.Name) {
			pending = append(pending, m.Name)
		}
	}
	if len(pending) > 0 {
		// a renewal or a rotation during the rollout begins its phase
		// again: what was delivered before it is not what the state holds
		return nil, nil, fmt.Errorf("%w: phase %s is not done on %s", ErrPhaseNotDone, r.Phase, strings.Join(pending, ", "))
	}
	switch r.Phase {
	case PhaseTrust:
		changes, err := st.promote(cluster, members, r)
		if err != nil {
			return nil, nil, err
		}
		next := &Rollout{Phase: PhaseLeaves, OldCA: r.OldCA, NewCA: r.NewCA, Done: []string{}, Since: st.now()}
		if err := st.writeRollout(next); err != nil {
			return nil, nil, err
		}
		return next, append(changes, Change{RolloutFile, "phase " + string(PhaseLeaves) + " " + PhaseLeaves.Describe()}), nil
	case PhaseLeaves:
		next := &Rollout{Phase: PhaseRetire, OldCA: r.OldCA, NewCA: r.NewCA, Done: []string{}, Since: st.now()}
		if err := st.writeRollout(next); err != nil {
			return nil, nil, err
		}
		return next, []Change{{RolloutFile, "phase " + string(PhaseRetire) + " " + PhaseRetire.Describe()}}, nil
	default:
		var changes []Change
		for _, rel := range []string{PrevCAKey, PrevCACert} {
			err := os.Remove(st.abs(rel))
			switch {
			case err == nil && rel == PrevCACert:
				changes = append(changes, Change{rel, "removed the replaced CA: no member or client trusts it any more"})
			case err != nil && !errors.Is(err, fs.ErrNotExist):
				return nil, nil, err
			}
		}
		if err := st.writeRollout(nil); err != nil {
			return nil, nil, err
		}
		what := "rollout complete: every member runs the state's certificates"
		if r.Phase == PhaseRetire {
			what = "rolling CA rotation complete: every member and client trusts only the new CA"
		}
		return nil, append(changes, Change{RolloutFile, what}), nil
	}
}

// promote makes the next CA the one that signs: the current CA is kept as
// PrevCACert/PrevCAKey (unless a stopped run did that already) and recorded
// in CAHistory, the next one written over etcd/ca.crt and ca.key, and every
// leaf given a new key and certificate from it; the legacy client pair goes.
func (st *State) promote(cluster string, members []Member, r *Rollout) ([]Change, error) {
	var changes []Change
	next, err := st.readAuthority(cluster, NextCACert, NextCAKey)
	if err != nil {
		return nil, err
	}
	cur, err := os.ReadFile(st.abs(CACert))
	if err != nil {
		return nil, err
	}
	if Fingerprint(cur) != Fingerprint(next.certPEM) {
		if Fingerprint(cur) != r.OldCA {
			return nil, fmt.Errorf("%w: %s is neither the CA the rotation replaces (%s) nor its new one (%s)", ErrBroken, st.abs(CACert), r.OldCA, r.NewCA)
		}
		if _, err := os.Stat(st.abs(PrevCACert)); errors.Is(err, fs.ErrNotExist) {
			// kept once, key first: a stop after it leaves the key
			// beside the old certificate, and a run again keeps both;
			// once PrevCACert is there, ca.key may already be the new one
			curKey, err := os.ReadFile(st.abs(CAKey))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			if curKey != nil {
				if _, err := st.WriteFile(PrevCAKey, curKey, KeyMode); err != nil {
					return nil, err
				}
			}
			if _, err := st.WriteFile(PrevCACert, cur, CertMode); err != nil {
				return nil, err
			}
		}
		recorded, err := st.recordReplaced(cur)
		if err != nil {
			return nil, err
		}
		changes = append(changes, recorded...)
		// the key first: a stop in between leaves the new key beside the
		// old certificate, which this step, run again, replaces
		if err := st.writePair(CAKey, next.keyPEM, CACert, next.certPEM); err != nil {
			return nil, err
		}
		changes = append(changes, Change{CACert, "the new CA signs from now on (the replaced one is kept as " + PrevCACert + " until the rotation ends)"})
	}
	rotated, err := st.rotateLeaves(next, leafSpecs(cluster, members))
	if err != nil {
		return nil, err
	}
	changes = append(changes, rotated...)
	retired, err := st.retireLegacy(true)
	if err != nil {
		return nil, err
	}
	changes = append(changes, retired...)
	for _, rel := range []string{NextCAKey, NextCACert} {
		if err := os.Remove(st.abs(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return changes, nil
}

// readAuthority reads a CA pair other than etcd/ca.crt (the next or the
// previous CA of a rotation), key included.
func (st *State) readAuthority(cluster, certRel, keyRel string) (*authority, error) {
	data, err := os.ReadFile(st.abs(certRel))
	if errors.Is(err, fs.ErrNotExist) && certRel == NextCACert {
		// a stopped promote removed it after it wrote etcd/ca.crt
		return st.readCA(cluster, nil)
	}
	if err != nil {
		return nil, err
	}
	cert, err := parseCert(data)
	if err != nil || !cert.IsCA {
		return nil, fmt.Errorf("%w: %s is no CA certificate (%v)", ErrBroken, st.abs(certRel), err)
	}
	keyPEM, err := st.readKey(keyRel, nil)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: %s is not the key of %s (%v)", ErrBroken, st.abs(keyRel), st.abs(certRel), err)
	}
	return &authority{cert: cert, certPEM: data, key: key, keyPEM: keyPEM, keyPath: keyRel}, nil
}

// recordReplaced adds a replaced CA to CAHistory, once.
func (st *State) recordReplaced(old []byte) ([]Change, error) {
	history, err := os.ReadFile(st.abs(CAHistory))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fp := Fingerprint(old)
	if slices.Contains(strings.Fields(string(history)), fp) {
		return nil, nil
	}
	history = append(history, fp+"\n"...)
	if _, err := st.WriteFile(CAHistory, history, CertMode); err != nil {
		return nil, err
	}
	return []Change{{CAHistory, "recorded the replaced CA " + fp + ": gen may replace the output trees it made"}}, nil
}

// abandonRotation removes what a rollout in progress keeps (the next or
// previous CA of a rolling rotation, and the record, a pending delivery's
// too: every certificate is new under the new CA), for a CA replaced at
// once.
func (st *State) abandonRotation() ([]Change, error) {
	r, err := st.Rollout()
	if err != nil || r == nil {
		return nil, err
	}
	if !r.Phase.Rotating() {
		if err := st.writeRollout(nil); err != nil {
			return nil, err
		}
		return []Change{{RolloutFile, "dropped the pending delivery (phase " + string(r.Phase) + "): the CA is replaced at once, every member needs its new userdata"}}, nil
	}
	for _, rel := range []string{NextCAKey, NextCACert, PrevCAKey, PrevCACert} {
		if err := os.Remove(st.abs(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if err := st.writeRollout(nil); err != nil {
		return nil, err
	}
	return []Change{{RolloutFile, "abandoned the rolling rotation in phase " + string(r.Phase) + ": the CA is replaced at once"}}, nil
}
