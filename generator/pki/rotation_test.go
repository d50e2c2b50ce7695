package pki

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestRollingRotation walks a rotation through its phases: what the
// machines trust in each, which CA signs, what the state keeps and records.
func TestRollingRotation(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	oldCA := read(t, st, CACert)
	oldLeaf := read(t, st, MemberCert("m1"))
	if trust, err := st.Trust(); err != nil || !bytes.Equal(trust, oldCA) {
		t.Fatalf("trust without a rotation: %v", err)
	}
	if _, err := st.StartRotation("c1", members); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartRotation("c1", members); !errors.Is(err, ErrRotating) {
		t.Errorf("a second StartRotation: %v, want ErrRotating", err)
	}
	newCA := read(t, st, NextCACert)
	r, err := st.Rollout()
	if err != nil || r.Phase != PhaseTrust || r.OldCA != Fingerprint(oldCA) || r.NewCA != Fingerprint(newCA) {
		t.Fatalf("record %+v, %v", r, err)
	}
	// (a): both trusted, the old one first and signing, the leaves unchanged
	trust, err := st.Trust()
	if err != nil || !bytes.Equal(trust, append(append([]byte(nil), oldCA...), newCA...)) || !bytes.Equal(SigningCA(trust), oldCA) {
		t.Fatalf("phase trust: trust %q, %v", trust, err)
	}
	mat, err := st.Load("c1", members)
	if err != nil || !bytes.Equal(mat.Members["m1"].Cert, oldLeaf) {
		t.Fatalf("load in phase trust: %v", err)
	}
	if err := st.Trusting(mat); err != nil || !bytes.Equal(mat.CA, trust) {
		t.Fatalf("Trusting: %v", err)
	}
	if err := st.MarkDone("m1"); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Rollout(); !r.IsDone("m1") || r.IsDone("m2") {
		t.Errorf("done %v", r.Done)
	}
	// (b): the new CA signs every leaf; both still trusted, the new first
	markAll(t, st, members)
	next, _, err := st.NextPhase("c1", members)
	if err != nil || next.Phase != PhaseLeaves || len(next.Done) != 0 {
		t.Fatalf("to phase leaves: %+v, %v", next, err)
	}
	if !bytes.Equal(read(t, st, CACert), newCA) || !bytes.Equal(read(t, st, PrevCACert), oldCA) {
		t.Error("phase leaves: etcd/ca.crt is not the new CA, or ca.prev.crt not the old one")
	}
	if _, err := os.Stat(st.abs(NextCACert)); err == nil {
		t.Error("ca.next.crt is still there")
	}
	if replaced, _ := st.ReplacedCAs(); len(replaced) != 1 || replaced[0] != Fingerprint(oldCA) {
		t.Errorf("ca.replaced %v", replaced)
	}
	nca, _ := parseCert(newCA)
	for _, rel := range []string{MemberCert("m1"), MemberCert("m2"), ClientCert("etcd"), ClientCert("agent")} {
		c, err := parseCert(read(t, st, rel))
		if err != nil || c.CheckSignatureFrom(nca) != nil {
			t.Errorf("%s is not of the new CA (%v)", rel, err)
		}
	}
	if trust, _ := st.Trust(); !bytes.Equal(trust, append(append([]byte(nil), newCA...), oldCA...)) {
		t.Error("phase leaves: trust is not new then old")
	}
	if known, err := st.KnownCAs(); err != nil || len(known) != 2 {
		t.Errorf("known CAs %d, %v", len(known), err)
	}
	// (c): only the new one
	markAll(t, st, members)
	if next, _, err = st.NextPhase("c1", members); err != nil || next.Phase != PhaseRetire {
		t.Fatalf("to phase retire: %+v, %v", next, err)
	}
	if trust, _ := st.Trust(); !bytes.Equal(trust, newCA) {
		t.Error("phase retire: trust is not the new CA alone")
	}
	// over
	markAll(t, st, members)
	next, changes, err := st.NextPhase("c1", members)
	if err != nil || next != nil {
		t.Fatalf("end: %+v, %v", next, err)
	}
	if !strings.Contains(paths(changes), PrevCACert) {
		t.Errorf("end changes %v", changes)
	}
	for _, rel := range []string{PrevCACert, PrevCAKey, RolloutFile} {
		if _, err := os.Stat(st.abs(rel)); err == nil {
			t.Errorf("%s is still there", rel)
		}
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Errorf("load after the rotation: %v", err)
	}
}

// TestPromoteResumes: a stop in phase (a)'s end after the new CA key was
// written over ca.key, before its certificate: run again, the step
// completes, and the kept previous key is the old CA's.
func TestPromoteResumes(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	oldKey := read(t, st, CAKey)
	if _, err := st.StartRotation("c1", members); err != nil {
		t.Fatal(err)
	}
	// what a stop half-way leaves: the old CA kept, the new key in place
	if _, err := st.WriteFile(PrevCAKey, oldKey, KeyMode); err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteFile(PrevCACert, read(t, st, CACert), CertMode); err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteFile(CAKey, read(t, st, NextCAKey), KeyMode); err != nil {
		t.Fatal(err)
	}
	markAll(t, st, members)
	next, _, err := st.NextPhase("c1", members)
	if err != nil || next.Phase != PhaseLeaves {
		t.Fatalf("resumed: %+v, %v", next, err)
	}
	if !bytes.Equal(read(t, st, PrevCAKey), oldKey) {
		t.Error("the kept key is not the old CA's")
	}
	if _, err := st.Load("c1", members); err != nil {
		t.Errorf("load after the resumed step: %v", err)
	}
}

// TestRenewRecordsDelivery: renewed or rotated leaves are recorded for
// delivery; during a rotation the phase in progress begins again.
func TestRenewRecordsDelivery(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Rollout(); r != nil {
		t.Fatalf("a new state records %+v", r)
	}
	if _, err := st.RotateClients("c1", members, []string{"agent"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Rollout(); r == nil || r.Phase != PhaseDeliver {
		t.Fatalf("after a client rotation: %+v", r)
	}
	markAll(t, st, members)
	if _, _, err := st.NextPhase("c1", members); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartRotation("c1", members); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkDone("m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Rotate("c1", members, false); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Rollout(); r == nil || r.Phase != PhaseTrust || len(r.Done) != 0 {
		t.Errorf("after a leaf rotation in phase trust: %+v", r)
	}
	// a CA replaced at once abandons the rotation
	if _, err := st.Rotate("c1", members, true); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Rollout(); r != nil {
		t.Errorf("after rotate --ca --at-once: %+v", r)
	}
	if _, err := os.Stat(st.abs(NextCACert)); err == nil {
		t.Error("ca.next.crt is still there")
	}
	// and a pending delivery too: every certificate is new
	if _, err := st.Rotate("c1", members, false); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Rollout(); r == nil || r.Phase != PhaseDeliver {
		t.Fatalf("after a leaf rotation: %+v", r)
	}
	if _, err := st.Rotate("c1", members, true); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Rollout(); r != nil {
		t.Errorf("a pending delivery after rotate --ca --at-once: %+v", r)
	}
}

// markAll records every member done in the phase in progress, as a
// rollout does before it ends the phase.
func markAll(t *testing.T, st *State, members []Member) {
	t.Helper()
	for _, m := range members {
		if err := st.MarkDone(m.Name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNextPhaseNeedsEveryMember: a phase does not end while a member has
// not had it, as after a renewal during the rollout.
func TestNextPhaseNeedsEveryMember(t *testing.T) {
	st := Open(t.TempDir())
	if _, err := st.Ensure("c1", members); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartRotation("c1", members); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkDone("m1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.NextPhase("c1", members); !errors.Is(err, ErrPhaseNotDone) || !strings.Contains(err.Error(), "m2") {
		t.Fatalf("NextPhase with m2 not done: %v, want ErrPhaseNotDone naming m2", err)
	}
	if r, _ := st.Rollout(); r == nil || r.Phase != PhaseTrust {
		t.Fatalf("the refused NextPhase changed the record: %+v", r)
	}
}
