package gen

import "errors"

// ErrNeedState is returned for a spec with etcd members when no state
// directory was given: their certificates live there.
var ErrNeedState = errors.New("the spec has etcd members, whose certificates come from the state directory, and none was given")

// ErrNoEtcdMember is returned for a role with etcd_client in a spec
// without etcd members: there is no etcd to be a client of.
var ErrNoEtcdMember = errors.New("the role has etcd_client: true, and the spec has no etcd member (a node of an etcd role)")

// ErrNotATree is returned when the output directory exists, is not empty and
// holds no rampart manifest: rampart will not replace what it did not write.
var ErrNotATree = errors.New("exists, is not empty and is not a rampart output tree (no manifest.json); refusing to replace it")

// ErrNoMachine is returned for a machine the spec does not make.
var ErrNoMachine = errors.New("no such machine")

// ErrNested is matched (errors.Is) by the refusal of an output tree and a
// state directory inside one another (CheckNesting).
var ErrNested = errors.New("the output tree and the state directory are inside one another")

// nestedError is the refusal CheckNesting returns: ErrNested with the
// message for the directories at hand.
type nestedError struct{ msg string }

// Error is the message for the user.
func (e *nestedError) Error() string { return e.msg }

// Is makes the refusal match ErrNested.
func (e *nestedError) Is(target error) bool { return target == ErrNested }
