package rollout

import (
	"context"

	"github.com/rampart-cluster/rampart/generator/boot"
	"github.com/rampart-cluster/rampart/generator/spec"
)

// Machines delivers files to a node and restarts etcd on a member.
type Machines interface {
	// Deliver writes files on node n, each atomically with its mode,
	// keeping the file it replaces beside it (PrevSuffix) so that the
	// change can be undone by hand; files that are already there as
	// given are left alone. It reports whether anything changed.
	Deliver(ctx context.Context, n *spec.Node, files []boot.File) (changed bool, err error)
	// RestartEtcd restarts etcd on member n and returns once it was
	// started again (not necessarily healthy yet).
	RestartEtcd(ctx context.Context, n *spec.Node) error
}

// PrevSuffix is added to the path of a file Deliver replaced, for the
// previous version it keeps.
const PrevSuffix = ".rampart-prev"
