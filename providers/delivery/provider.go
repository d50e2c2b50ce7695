package delivery

import (
	"context"

	"github.com/rampart-cluster/rampart/generator/report"
)

// Provider is a provider adapter as the delivery commands drive it: Plan
// reads what the provider holds and says what delivering the machines
// changes, changing nothing; Apply makes exactly that plan's changes.
type Provider interface {
	Plan(ctx context.Context, machines []Machine) (Plan, error)
	// Apply returns the changes it made, also when it fails part way.
	Apply(ctx context.Context, plan Plan) (Report, error)
}

// Plan is a provider's plan, in the provider's own terms; Report is what
// people read of it.
type Plan interface {
	Report() Report
}

// Report is what a plan would do, or what an apply did.
type Report struct {
	Changes []Change // in the order they are (or were) made
	// Findings are what people should read besides the changes, entries
	// of the one report shape with the provider's stable codes: warnings
	// for what the provider leaves alone or cannot say; errors for
	// findings that do not stop the plan (AWS rules rampart does not own
	// that open a control-plane port to the world): the command applies
	// the plan, then fails.
	Findings report.Report
}
