package aws

import (
	"context"
	"fmt"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/providers/delivery"
)

// Provider delivers machines to AWS (a delivery.Provider): the cluster's
// security groups, compiled from its policy, and one launch template per
// delivered machine.
type Provider struct {
	Client   *Client
	Policy   *policy.Policy // the cluster's compiled policy: the groups, the roles, the cluster name
	Settings *Settings      // the spec's provider.aws section; nil: ErrNoProvider
	Pointer  PointerFunc    // makes the pointer configs of userdata that goes to S3
	Options  PlanOptions
}

var _ delivery.Provider = (*Provider)(nil)

// Plan compiles the desired state (Desire) and plans it (Client.Plan).
func (p *Provider) Plan(ctx context.Context, machines []delivery.Machine) (delivery.Plan, error) {
	d, err := Desire(p.Policy, p.Settings, Machines(machines), p.Pointer)
	if err != nil {
		return nil, err
	}
	plan, err := p.Client.Plan(ctx, d, p.Options)
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// Apply makes the changes of a plan of p's (Client.Apply).
func (p *Provider) Apply(ctx context.Context, plan delivery.Plan) (delivery.Report, error) {
	ap, ok := plan.(*Plan)
	if !ok {
		return delivery.Report{}, fmt.Errorf("aws: %T is not an AWS plan", plan)
	}
	done, err := p.Client.Apply(ctx, ap)
	return delivery.Report{Changes: done}, err
}

// Report is the plan for people: its changes; the findings of the groups
// (what they cannot say, at the spec lines that say it), then those of the
// plan (what it leaves alone, the exposures).
func (p *Plan) Report() delivery.Report {
	var findings report.Report
	if p.Desired != nil && p.Desired.Groups != nil {
		findings.Merge(p.Desired.Groups.Findings)
	}
	findings.Merge(p.Findings)
	return delivery.Report{Changes: p.Changes, Findings: findings}
}
