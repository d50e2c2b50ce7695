package packet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/packethost/packngo"
)

// Target is where the machines live and how new devices are made: the
// spec's provider.packet section and its cluster name.
type Target struct {
	Cluster string // the spec's cluster name, in the rampart:cluster= tag
	Project string // project UUID
	Metro   string // metro code for new devices
	Plan    string // plan slug for new devices
	OS      string // operating system slug for new and reinstalled devices
}

// Machine is one device rampart wants: a spec node and its final userdata.
type Machine struct {
	Hostname string // the spec node's name, matched against device hostnames
	Role     string // the node's role, in the rampart:role= tag
	Userdata []byte // the exact userdata the device should have
	// EtcdCA is the fingerprint (pki.Fingerprint, hex) of the etcd CA whose
	// keys the userdata carries; "" when it carries none. The device is
	// tagged TagEtcdCA with its first CAPrefix digits.
	EtcdCA string
}

// Action is what a push does to one machine's device.
type Action string

// Actions of a plan.
const (
	ActionCreate    Action = "create"    // no device: make one (--create)
	ActionUpdate    Action = "update"    // the device's userdata or tags differ
	ActionUnchanged Action = "unchanged" // nothing to do
	ActionMissing   Action = "missing"   // no device, and creating was not asked for
	// ActionAdopt takes over a device with the node's hostname that has no
	// rampart:cluster tag (--adopt): its userdata and rampart's tags.
	ActionAdopt Action = "adopt"
	// ActionUntagged leaves such a device alone: adopting was not asked
	// for. It may be someone else's machine.
	ActionUntagged Action = "untagged"
)

// Step is the plan for one machine.
type Step struct {
	Machine  Machine  // the machine the step is for
	Action   Action   // what the push does to its device
	DeviceID string   // "" for create and missing
	Changes  []string // what differs, for update and adopt
	tags     []string // the tags to put on the device
	userdata bool     // the userdata differs
}

// Plan is what a push will do, machine by machine in the order given.
type Plan struct {
	Target Target // where the plan applies and how new devices are made
	Steps  []Step // one per machine, in the order given
	// Strangers are devices tagged with the cluster that no machine names
	// ("hostname (id)"): left alone, listed as a warning.
	Strangers []string
}

// PlanError lists every device the plan refuses to decide about.
type PlanError struct {
	Problems []string // one per machine: named twice, several devices with its hostname, a device of another cluster or of another etcd CA
}

// Error lists the problems, one a line.
func (e *PlanError) Error() string {
	return "cannot plan the push:\n  " + strings.Join(e.Problems, "\n  ")
}

// PlanOptions tune a plan.
type PlanOptions struct {
	// Create plans a device for every machine that has none.
	Create bool
	// Adopt takes over the devices that have a machine's hostname but no
	// rampart:cluster tag; without it they are planned as untagged and
	// left alone.
	Adopt bool
	// CA says which etcd CAs, besides the machines' own, a device tagged
	// TagEtcdCA may have; any other stops the plan.
	CA CACheck
	// Others are the hostnames of the spec's nodes that this push leaves
	// out (push --node): their devices are not strangers.
	Others []string
}

// Plan reads the project's devices and compares them with the machines: a
// device matches a machine by hostname. It makes no change.
func (c *Client) Plan(ctx context.Context, t Target, machines []Machine, o PlanOptions) (*Plan, error) {
	devices, err := c.listDevices(ctx, t.Project, listFilter{})
	if err != nil {
		return nil, err
	}
	byHost := map[string][]*packngo.Device{}
	for i := range devices {
		d := &devices[i]
		if gone[d.State] {
			continue
		}
		byHost[d.Hostname] = append(byHost[d.Hostname], d)
	}
	p := &Plan{Target: t}
	var problems []string
	wanted := map[string]bool{}
	for _, m := range machines {
		if wanted[m.Hostname] {
			problems = append(problems, fmt.Sprintf("%s: named twice", m.Hostname))
			continue
		}
		wanted[m.Hostname] = true
		ds := byHost[m.Hostname]
		switch {
		case len(ds) > 1:
			ids := make([]string, len(ds))
			for i, d := range ds {
				ids[i] = d.ID
			}
			problems = append(problems, fmt.Sprintf("%s: %d devices have this hostname (%s); rampart matches devices by hostname and will not guess", m.Hostname, len(ds), strings.Join(ids, ", ")))
		case len(ds) == 1:
			d := ds[0]
			other := tagValue(d.Tags, TagCluster)
			if other != "" && other != t.Cluster {
				problems = append(problems, fmt.Sprintf("%s: device %s belongs to cluster %s (tag %s%s), not %s", m.Hostname, d.ID, other, TagCluster, other, t.Cluster))
				continue
			}
			if err := o.CA.check(m, d); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			s := compare(t, m, d)
			switch {
			case other != "":
			case o.Adopt:
				s.Action = ActionAdopt
			default:
				s.Action = ActionUntagged
			}
			p.Steps = append(p.Steps, s)
		case o.Create:
			tags, _ := wantTags(nil, t.Cluster, m)
			p.Steps = append(p.Steps, Step{Machine: m, Action: ActionCreate, tags: tags, userdata: true})
		default:
			p.Steps = append(p.Steps, Step{Machine: m, Action: ActionMissing})
		}
	}
	if len(problems) > 0 {
		return nil, &PlanError{Problems: problems}
	}
	for _, h := range o.Others {
		wanted[h] = true
	}
	for i := range devices {
		d := &devices[i]
		if !gone[d.State] && !wanted[d.Hostname] && tagValue(d.Tags, TagCluster) == t.Cluster {
			p.Strangers = append(p.Strangers, fmt.Sprintf("%s (%s)", d.Hostname, d.ID))
		}
	}
	slices.Sort(p.Strangers)
	return p, nil
}

// compare plans the update of an existing device.
func compare(t Target, m Machine, d *packngo.Device) Step {
	s := Step{Machine: m, Action: ActionUnchanged, DeviceID: d.ID}
	if d.UserData != string(m.Userdata) {
		s.userdata = true
		s.Changes = append(s.Changes, fmt.Sprintf("userdata %s → %s", describe([]byte(d.UserData)), describe(m.Userdata)))
	}
	tags, changed := wantTags(d.Tags, t.Cluster, m)
	if changed {
		s.tags = tags
		var add []string
		for _, tag := range tags {
			if !slices.Contains(d.Tags, tag) {
				add = append(add, "+"+tag)
			}
		}
		for _, tag := range d.Tags {
			if !slices.Contains(tags, tag) {
				add = append(add, "-"+tag)
			}
		}
		s.Changes = append(s.Changes, "tags "+strings.Join(add, " "))
	}
	if len(s.Changes) > 0 {
		s.Action = ActionUpdate
	}
	return s
}

// describe names userdata by size and the start of its sha256.
func describe(b []byte) string {
	if len(b) == 0 {
		return "none"
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes sha256:%s", len(b), hex.EncodeToString(sum[:])[:12])
}

// Count is the number of steps with that action.
func (p *Plan) Count(a Action) int {
	n := 0
	for _, s := range p.Steps {
		if s.Action == a {
			n++
		}
	}
	return n
}

// Write prints the plan: a header, one line per machine, the strangers and
// a summary. The same project state and machines give the same text.
func (p *Plan) Write(w io.Writer) error {
	t := p.Target
	var b bytes.Buffer
	fmt.Fprintf(&b, "packet project %s: cluster %s, new devices %s in %s running %s\n", t.Project, t.Cluster, t.Plan, t.Metro, t.OS)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, s := range p.Steps {
		id := s.DeviceID
		if id == "" {
			id = "-"
		}
		detail := ""
		switch s.Action {
		case ActionCreate:
			detail = fmt.Sprintf("role %s, userdata %s, tags %s", s.Machine.Role, describe(s.Machine.Userdata), strings.Join(s.tags, " "))
		case ActionUpdate, ActionAdopt:
			detail = strings.Join(s.Changes, "; ")
		case ActionMissing:
			detail = "no device with this hostname; --create makes one"
		case ActionUntagged:
			detail = fmt.Sprintf("a device with this hostname but no %s tag: left alone; --adopt takes it over", TagCluster+"CLUSTER")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Action, s.Machine.Hostname, id, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(b.String(), "\n")
	b.Reset()
	for _, l := range lines {
		b.WriteString(strings.TrimRight(l, " \n"))
		if strings.HasSuffix(l, "\n") {
			b.WriteByte('\n')
		}
	}
	if err := p.Findings().WriteText(&b); err != nil {
		return err
	}
	fmt.Fprintf(&b, "plan: %d to create, %d to update, %d unchanged, %d missing",
		p.Count(ActionCreate), p.Count(ActionUpdate), p.Count(ActionUnchanged), p.Count(ActionMissing))
	if n := p.Count(ActionAdopt); n > 0 {
		fmt.Fprintf(&b, ", %d to adopt", n)
	}
	if n := p.Count(ActionUntagged); n > 0 {
		fmt.Fprintf(&b, ", %d untagged (left alone)", n)
	}
	b.WriteByte('\n')
	if p.Count(ActionUpdate)+p.Count(ActionAdopt) > 0 {
		b.WriteString("note: new userdata reaches a running device's OS only when it is reinstalled (Ignition runs on first boot): rampart recover NODE --reinstall\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Outcome is what happened to one machine's device in Apply.
type Outcome struct {
	Hostname string // the machine's hostname
	Action   Action // ActionCreate, ActionUpdate or ActionAdopt
	DeviceID string // the device's id; "" when a create made none
	Err      error  // nil when done
}

// Result is the outcome of Apply, machine by machine in plan order, for the
// steps that had something to do.
type Result struct {
	Outcomes []Outcome // one per create, update or adopt step, in plan order
}

// Done lists the hostnames whose change was made.
func (r *Result) Done() []string { return r.hosts(func(o Outcome) bool { return o.Err == nil }) }

// NotDone lists the hostnames whose change failed or never started.
func (r *Result) NotDone() []string { return r.hosts(func(o Outcome) bool { return o.Err != nil }) }

func (r *Result) hosts(keep func(Outcome) bool) []string {
	var out []string
	for _, o := range r.Outcomes {
		if keep(o) {
			out = append(out, o.Hostname)
		}
	}
	return out
}

// ErrNotStarted marks a change that was not started because the push was
// interrupted.
var ErrNotStarted = errors.New("not started")

// PartialError is returned by Apply when some changes were not made.
type PartialError struct {
	Result *Result // every outcome, done and not done
}

// Error says what was done and what was not, with each failure's reason.
func (e *PartialError) Error() string {
	var b strings.Builder
	done, notDone := e.Result.Done(), e.Result.NotDone()
	fmt.Fprintf(&b, "push incomplete: %d of %d changes made\n", len(done), len(done)+len(notDone))
	if len(done) > 0 {
		fmt.Fprintf(&b, "done: %s\n", strings.Join(done, ", "))
	}
	b.WriteString("not done:")
	for _, o := range e.Result.Outcomes {
		if o.Err != nil {
			fmt.Fprintf(&b, "\n  %s: %v", o.Hostname, o.Err)
		}
	}
	b.WriteString("\nrun the push again to finish: what is done is left as it is")
	return b.String()
}

// Apply makes the plan's creates, updates and adoptions, Concurrency at a
// time, and reports each device to progress as it finishes. Every step is
// tried whatever happens to the others; when any fails, the error is a
// *PartialError naming what was done and what was not. A second Apply of a
// fresh plan finishes the rest without touching what is done.
func (c *Client) Apply(ctx context.Context, p *Plan, progress Progress) (*Result, error) {
	var todo []Step
	for _, s := range p.Steps {
		if s.Action == ActionCreate || s.Action == ActionUpdate || s.Action == ActionAdopt {
			todo = append(todo, s)
		}
	}
	res := &Result{Outcomes: make([]Outcome, len(todo))}
	for i, s := range todo {
		res.Outcomes[i] = Outcome{Hostname: s.Machine.Hostname, Action: s.Action, DeviceID: s.DeviceID, Err: ErrNotStarted}
	}
	if progress == nil {
		progress = nopProgress{}
	}
	progress.Start(len(todo))
	ctx = withRetryHook(ctx, progress.Retry)
	c.each(ctx, len(todo), func(i int) {
		s := todo[i]
		var err error
		id := s.DeviceID
		switch s.Action {
		case ActionCreate:
			id, err = c.create(ctx, p.Target, s)
		case ActionUpdate, ActionAdopt:
			err = c.update(ctx, s)
		}
		res.Outcomes[i].DeviceID, res.Outcomes[i].Err = id, err
		progress.Device(res.Outcomes[i])
	})
	progress.Finish()
	if len(res.NotDone()) > 0 {
		return res, &PartialError{Result: res}
	}
	return res, nil
}

// create makes the device; after an answer that a device may have survived
// (5xx, none), it looks for it by hostname before trying again, so a retry
// never makes a second one.
func (c *Client) create(ctx context.Context, t Target, s Step) (string, error) {
	m := s.Machine
	req := &packngo.DeviceCreateRequest{
		Hostname:     m.Hostname,
		Plan:         t.Plan,
		Metro:        t.Metro,
		OS:           t.OS,
		ProjectID:    t.Project,
		UserData:     string(m.Userdata),
		Tags:         s.tags,
		BillingCycle: "hourly",
	}
	var id string
	check := func() (bool, error) {
		ds, err := c.listDevices(ctx, t.Project, listFilter{Hostname: m.Hostname})
		if err != nil {
			return false, err
		}
		for _, d := range ds {
			if d.Hostname == m.Hostname && !gone[d.State] && tagValue(d.Tags, TagCluster) == t.Cluster {
				id = d.ID
				return true, nil
			}
		}
		return false, nil
	}
	err := c.call(ctx, "create "+m.Hostname, check, func(api *packngo.Client) (*packngo.Response, error) {
		d, resp, err := api.Devices.Create(req)
		if err == nil {
			id = d.ID
		}
		return resp, err
	})
	return id, err
}

// update puts the userdata and tags on the device (an idempotent PUT).
func (c *Client) update(ctx context.Context, s Step) error {
	req := &packngo.DeviceUpdateRequest{}
	if s.userdata {
		ud := string(s.Machine.Userdata)
		req.UserData = &ud
	}
	if s.tags != nil {
		tags := slices.Clone(s.tags)
		req.Tags = &tags
	}
	return c.call(ctx, "update "+s.Machine.Hostname, nil, func(api *packngo.Client) (*packngo.Response, error) {
		_, resp, err := api.Devices.Update(s.DeviceID, req)
		return resp, err
	})
}
