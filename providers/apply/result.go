package apply

import (
	"fmt"
	"strings"
)

// Status is what became of one node.
type Status string

// Statuses. Those after Planned make apply exit 1.
const (
	Unchanged Status = "unchanged" // the node runs the tree already: nothing was written
	Applied   Status = "applied"   // changed, and confirmed through a new SSH connection
	Planned   Status = "planned"   // --dry-run: the node would change
	NotUp     Status = "not up"    // a joining node that does not answer yet: it boots with its own userdata
	// RolledBack: the new generation was not confirmed (or failed to
	// load) and the node restored the previous one.
	RolledBack  Status = "rolled back"
	Failed      Status = "failed"      // something went wrong; Error says what and what the node runs
	Unreachable Status = "unreachable" // no SSH connection: nothing was changed
	Refused     Status = "refused"     // the host key is unknown or changed: nothing was sent
)

// NodeResult is one node's line of the report.
type NodeResult struct {
	Node    string   `json:"node"`
	Role    string   `json:"role"`
	Address string   `json:"address"`
	Status  Status   `json:"status"`
	Plan    []string `json:"plan,omitempty"`    // what changes, by meaning, then by file
	Joining bool     `json:"joining,omitempty"` // its addresses are new members: applied after the others
	Error   string   `json:"error,omitempty"`
	Seconds float64  `json:"seconds"` // from its first connection to its outcome
}

// OK reports whether the node ended as it should: unchanged, applied,
// planned, or a joining node not up yet.
func (r NodeResult) OK() bool {
	switch r.Status {
	case Unchanged, Applied, Planned, NotUp:
		return true
	}
	return false
}

// String is the node's line: "agent-1 10.0.0.5: applied: members +10.0.0.7".
func (r NodeResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", r.Node, r.Address, r.Status)
	if r.Joining {
		b.WriteString(" (joining)")
	}
	if len(r.Plan) > 0 {
		b.WriteString(": " + strings.Join(r.Plan, "; "))
	}
	if r.Error != "" {
		b.WriteString(" — " + r.Error)
	}
	return b.String()
}

// Result is what one apply did, a line per node in spec order.
type Result struct {
	DryRun bool         `json:"dry_run"`
	Order  string       `json:"order,omitempty"` // how the nodes were ordered, when it matters
	Nodes  []NodeResult `json:"nodes"`
}

// Done and NotDone split the nodes into those that ended as they should
// and the others (to be finished by a re-run).
func (r *Result) Done() (done, notDone []string) {
	for _, n := range r.Nodes {
		if n.OK() {
			done = append(done, n.Node)
		} else {
			notDone = append(notDone, n.Node)
		}
	}
	return done, notDone
}
