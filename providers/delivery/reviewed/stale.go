package reviewed

import (
	"fmt"
	"strings"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/report"
)

// StaleError refuses an output tree, or final userdata in the state
// directory, that is not what the spec and the state make: it is not what
// was reviewed, so it is not delivered. Stale lists every difference, as
// `rampart gen --check` does.
type StaleError struct {
	Spec, Tree, State string        // the spec file, the output tree, the state directory
	Stale             report.Report // one entry per file, its path (under Tree or State) as position
}

// Error names what is stale and says to run gen and review the changes.
func (e *StaleError) Error() string {
	var b strings.Builder
	secrets := 0
	for _, s := range e.Stale.Entries {
		if s.Code == gen.MsgSecret.Code {
			secrets++
		}
	}
	if secrets > 0 {
		fmt.Fprintf(&b, "%s contains secrets: %d file(s) hold a private key, which the output tree must never hold (keys belong in the state directory); refusing to deliver from it:\n", e.Tree, secrets)
	} else {
		fmt.Fprintf(&b, "%s is stale: %d file(s) differ from what %s and the state directory %s make, so they are not what was reviewed; refusing to deliver them:\n", e.Tree, len(e.Stale.Entries), e.Spec, e.State)
	}
	for _, s := range e.Stale.Entries {
		fmt.Fprintf(&b, "  %s\n", s)
	}
	b.WriteString("nothing was delivered; ")
	if secrets > 0 {
		b.WriteString("delete them, then ")
	}
	fmt.Fprintf(&b, "run rampart gen -f %s -o %s --state %s, review what changed, then run this command again", e.Spec, e.Tree, e.State)
	return b.String()
}

// NoTreeError refuses to deliver without an output tree: there is nothing
// reviewed to deliver.
type NoTreeError struct {
	Spec, Tree, State string // the spec file, the output tree named (--tree), the state directory
}

// Error says where no tree was found and how to make one.
func (e *NoTreeError) Error() string {
	return fmt.Sprintf("%s is no output tree (it holds no rampart %s), and delivery takes only the tree gen wrote and a person reviewed: run rampart gen -f %s -o %s --state %s and review it first (--tree names the tree, default out)", e.Tree, gen.ManifestName, e.Spec, e.Tree, e.State)
}
