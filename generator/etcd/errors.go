package etcd

import "errors"

// Refusals the user sees, matched with errors.Is: the error returned says
// which node and what to do instead.
var (
	// ErrNotMember: only an etcd member can replace a lost one.
	ErrNotMember = errors.New("the node is not an etcd member")
	// ErrOnlyMember: the only member has no running cluster to join.
	ErrOnlyMember = errors.New("the node is the only etcd member")
	// ErrWouldBootstrap: a member of two or more reinstalled without
	// --replace would bootstrap a new cluster alone.
	ErrWouldBootstrap = errors.New("the member would bootstrap a new cluster")
	// ErrMembershipNotReplaced: a replacement reinstalled before its
	// membership was replaced cannot join.
	ErrMembershipNotReplaced = errors.New("the member's membership is not replaced yet")
)

// refusal is one of the errors above with the message for its node.
type refusal struct {
	err error  // the sentinel it matches
	msg string // what the user reads
}

// Error is the message for the user.
func (r *refusal) Error() string { return r.msg }

// Unwrap is the sentinel, for errors.Is.
func (r *refusal) Unwrap() error { return r.err }
