package packet

import (
	"context"
	"fmt"
	"strings"

	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/providers/delivery"
)

// Node is a node of the spec that a push delivers to: its device has its
// name as hostname.
type Node struct {
	Name string // the node's name: its device's hostname
	Role string // its role
}

// Machines are the devices' machines of the delivered ones: for each node,
// its own machine's userdata (an etcd member's) or else its role's, the one
// it boots with (Ignition when the spec outputs it, else cloud-config),
// with the etcd CA of the keys it carries.
func Machines(nodes []Node, delivered []delivery.Machine) ([]Machine, error) {
	out := make([]Machine, 0, len(nodes))
	for _, n := range nodes {
		d, ok := delivery.For(delivered, n.Name, n.Role)
		if !ok {
			return nil, fmt.Errorf("node %s: no machine of its own or of its role %s was delivered", n.Name, n.Role)
		}
		_, data := d.Boot()
		out = append(out, Machine{Hostname: n.Name, Role: n.Role, Userdata: data, EtcdCA: d.EtcdCA})
	}
	return out, nil
}

// Provider delivers machines to the devices of a Packet project (a
// delivery.Provider).
type Provider struct {
	Client   *Client
	Target   Target
	Nodes    []Node // the nodes to deliver to, in order: the spec's, or those a push names
	Options  PlanOptions
	Progress Progress // told of each device as Apply finishes it; nil: nobody
}

var _ delivery.Provider = (*Provider)(nil)

// Plan matches the nodes' machines to the project's devices (Client.Plan).
func (p *Provider) Plan(ctx context.Context, delivered []delivery.Machine) (delivery.Plan, error) {
	ms, err := Machines(p.Nodes, delivered)
	if err != nil {
		return nil, err
	}
	plan, err := p.Client.Plan(ctx, p.Target, ms, p.Options)
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// Apply makes the changes of a plan of p's (Client.Apply); the report
// lists those made. When some are not, the error is a *PartialError.
func (p *Provider) Apply(ctx context.Context, plan delivery.Plan) (delivery.Report, error) {
	pp, ok := plan.(*Plan)
	if !ok {
		return delivery.Report{}, fmt.Errorf("packet: %T is not a Packet plan", plan)
	}
	res, err := p.Client.Apply(ctx, pp, p.Progress)
	var rep delivery.Report
	if res != nil {
		for _, o := range res.Outcomes {
			if o.Err == nil {
				rep.Changes = append(rep.Changes, delivery.Change{Op: string(o.Action), Kind: "device", Target: o.Hostname, Detail: o.DeviceID})
			}
		}
	}
	return rep, err
}

// Report is the plan for people: a change per device to create, update or
// adopt; its Findings.
func (p *Plan) Report() delivery.Report {
	rep := delivery.Report{Findings: p.Findings()}
	for _, s := range p.Steps {
		c := delivery.Change{Op: string(s.Action), Kind: "device", Target: s.Machine.Hostname}
		switch s.Action {
		case ActionCreate:
			c.Detail = fmt.Sprintf("role %s, userdata %s, tags %s", s.Machine.Role, describe(s.Machine.Userdata), strings.Join(s.tags, " "))
		case ActionUpdate, ActionAdopt:
			c.Detail = s.DeviceID + ": " + strings.Join(s.Changes, "; ")
		default:
			continue
		}
		rep.Changes = append(rep.Changes, c)
	}
	return rep
}

// Findings are what the plan leaves alone or cannot do, in the order the
// plan text lists them: the devices tagged with the cluster but not in
// the spec, the nodes' devices without rampart's tag (warnings), the nodes
// without a device (info). They have no path: a device is none of the
// spec's values.
func (p *Plan) Findings() report.Report {
	var r report.Report
	for _, s := range p.Strangers {
		r.Append(msgStranger.At(nil, report.Pos{}, s, TagCluster, p.Target.Cluster))
	}
	for _, s := range p.Steps {
		if s.Action == ActionUntagged {
			r.Append(msgUntagged.At(nil, report.Pos{}, s.Machine.Hostname, s.DeviceID, TagCluster, p.Target.Cluster))
		}
	}
	for _, s := range p.Steps {
		if s.Action == ActionMissing {
			r.Append(msgNoDevice.At(nil, report.Pos{}, s.Machine.Hostname))
		}
	}
	return r
}
