package packet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/generator/report"
	"github.com/rampart-cluster/rampart/providers/packet/packetfake"
)

const (
	project = "1f0c2a4e-3b5d-4c6e-8f70-123456789abc"
	token   = "test-token"
)

var target = Target{Cluster: "dcos-packet", Project: project, Metro: "da", Plan: "c3.small.x86", OS: "flatcar_stable"}

// fastRetry keeps the tests quick while exercising every retry path.
var fastRetry = RetryPolicy{Attempts: 4, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxRetryAfter: 5 * time.Second}

// startFake runs a fake Metal API with the project and a client for it, and
// fails the test if any request or response broke the Metal spec.
func startFake(t testing.TB) (*packetfake.Server, *Client) {
	t.Helper()
	s := packetfake.Start(t, token, project)
	env := map[string]string{EnvAuthToken: token, EnvAPIURL: strings.TrimSuffix(s.URL, "/")}
	c, err := NewClient(func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Retry = fastRetry
	return s, c
}

func machines(version string) []Machine {
	var out []Machine
	for _, n := range []struct{ host, role string }{
		{"master-1", "master"}, {"agent-1", "agent"}, {"agent-2", "agent"},
		{"agent-3", "agent"}, {"public-agent-1", "public-agent"}, {"bootstrap", "bootstrap"},
	} {
		ud := fmt.Sprintf(`{"ignition":{"version":"3.3.0"},"rampart":%q,"host":%q}`, version, n.host)
		out = append(out, Machine{Hostname: n.host, Role: n.role, Userdata: []byte(ud)})
	}
	return out
}

func push(t *testing.T, c *Client, ms []Machine, create bool) (*Plan, *Result, error) {
	t.Helper()
	p, err := c.Plan(context.Background(), target, ms, PlanOptions{Create: create})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var out bytes.Buffer
	res, err := c.Apply(context.Background(), p, NewProgress(&out, false))
	t.Logf("progress:\n%s", out.String())
	return p, res, err
}

func mutating(c packetfake.Call) bool { return c.Mutating() }

func actions(p *Plan) map[string]Action {
	out := map[string]Action{}
	for _, s := range p.Steps {
		out[s.Machine.Hostname] = s.Action
	}
	return out
}

func TestPushCreatesMissingDevices(t *testing.T) {
	s, c := startFake(t)
	ms := machines("v1")
	p, res, err := push(t, c, ms, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Count(ActionCreate) != 6 || len(res.Done()) != 6 {
		t.Fatalf("plan %v, done %v; want 6 creates", actions(p), res.Done())
	}
	for _, m := range ms {
		d := s.Device(m.Hostname)
		if d == nil {
			t.Fatalf("%s was not created", m.Hostname)
		}
		wantTags := []string{"rampart:cluster=dcos-packet", "rampart:role=" + m.Role}
		if d.Userdata != string(m.Userdata) || d.Plan != "c3.small.x86" || d.Metro != "da" || d.OS != "flatcar_stable" || !slices.Equal(d.Tags, wantTags) {
			t.Errorf("%s created as %+v", m.Hostname, d)
		}
	}
	creates := s.Count(func(c packetfake.Call) bool { return c.Op == packetfake.OpCreateDevice })
	if creates != 6 || s.Count(mutating) != 6 {
		t.Errorf("%d creates, %d mutating calls; want 6 and 6", creates, s.Count(mutating))
	}
}

func TestSecondPushChangesNothing(t *testing.T) {
	s, c := startFake(t)
	if _, _, err := push(t, c, machines("v1"), true); err != nil {
		t.Fatal(err)
	}
	s.Settle()
	s.ResetCalls()
	p, res, err := push(t, c, machines("v1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Count(mutating); n != 0 {
		t.Errorf("second push made %d mutating calls, want 0", n)
	}
	if p.Count(ActionUnchanged) != 6 || len(res.Outcomes) != 0 {
		t.Errorf("second plan %v, outcomes %v; want 6 unchanged and nothing done", actions(p), res.Outcomes)
	}
}

func TestPushUpdatesWhatDiffers(t *testing.T) {
	s, c := startFake(t)
	old := machines("v1")
	for _, m := range old {
		tags := []string{"rampart:cluster=dcos-packet", "rampart:role=" + m.Role}
		if m.Hostname == "agent-2" {
			tags = []string{"owner=ops", "rampart:cluster=dcos-packet"} // tagged by hand: rampart's tags are added, the rest kept
		}
		s.AddDevice(packetfake.Device{Project: project, Hostname: m.Hostname, Plan: "c3.small.x86", Metro: "da", OS: "flatcar_stable", Userdata: string(m.Userdata), Tags: tags})
	}
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-9", Plan: "c3.small.x86", Metro: "da", OS: "flatcar_stable",
		Tags: []string{"rampart:cluster=dcos-packet", "rampart:role=agent"}})
	ms := machines("v1")
	ms[0].Userdata = []byte(`{"ignition":{"version":"3.3.0"},"rampart":"v2"}`) // master-1 changes
	p, err := c.Plan(context.Background(), target, ms, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	if err := p.Write(&plan); err != nil {
		t.Fatal(err)
	}
	text := plan.String()
	t.Logf("plan:\n%s", text)
	if strings.Contains(text, " \n") {
		t.Errorf("the plan has trailing spaces")
	}
	collapsed := strings.Join(strings.Fields(text), " ")
	want := map[string]Action{"master-1": ActionUpdate, "agent-1": ActionUnchanged, "agent-2": ActionUpdate,
		"agent-3": ActionUnchanged, "public-agent-1": ActionUnchanged, "bootstrap": ActionUnchanged}
	if got := actions(p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan = %v, want %v", got, want)
	}
	for _, w := range []string{"update master-1 00000001-0000-4000-8000-000000000001 userdata", "userdata " + short(old[0].Userdata) + " → " + short(ms[0].Userdata),
		"tags +rampart:role=agent", "warning: agent-9 (", "plan: 0 to create, 2 to update, 4 unchanged, 0 missing",
		"rampart recover NODE --reinstall"} {
		if !strings.Contains(collapsed, w) {
			t.Errorf("plan does not say %q", w)
		}
	}
	if got := findingCodes(t, p); !slices.Equal(got, []string{"warning packet.stranger-device"}) || !strings.Contains(text, "\nwarning: agent-9 (00000001-0000-4000-8000-000000000007) is tagged rampart:cluster=dcos-packet but is not in the spec; left alone\n") {
		t.Errorf("findings %v, want agent-9 as a stranger, rendered as a report entry", got)
	}
	var again bytes.Buffer
	if err := p.Write(&again); err != nil || again.String() != text {
		t.Errorf("writing the plan twice gives different text")
	}
	res, err := c.Apply(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Done(); !slices.Equal(got, []string{"master-1", "agent-2"}) {
		t.Errorf("done = %v", got)
	}
	if d := s.Device("master-1"); d.Userdata != string(ms[0].Userdata) {
		t.Errorf("master-1 userdata = %q", d.Userdata)
	}
	if d := s.Device("agent-2"); !slices.Equal(d.Tags, []string{"owner=ops", "rampart:cluster=dcos-packet", "rampart:role=agent"}) {
		t.Errorf("agent-2 tags = %q", d.Tags)
	}
	// only the two devices that differ were written to, and agent-9 was left alone
	var puts []string
	for _, call := range s.Calls() {
		if call.Mutating() {
			puts = append(puts, call.Op+" "+call.Path[:len("/devices/")+36])
		}
	}
	if len(puts) != 2 || s.Device("agent-9").Updated != s.Device("agent-9").Created {
		t.Errorf("mutating calls %v; want two updates and agent-9 untouched", puts)
	}
}

func TestPlanMakesNoChange(t *testing.T) {
	s, c := startFake(t)
	s.AddDevice(packetfake.Device{Project: project, Hostname: "master-1", Userdata: "old"})
	p, err := c.Plan(context.Background(), target, machines("v1"), PlanOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Count(ActionCreate) != 5 || p.Count(ActionUntagged) != 1 {
		t.Errorf("plan = %v", actions(p))
	}
	if n := s.Count(mutating); n != 0 {
		t.Errorf("planning made %d mutating calls", n)
	}
}

func TestMissingDevicesWithoutCreate(t *testing.T) {
	s, c := startFake(t)
	p, res, err := push(t, c, machines("v1"), false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Count(ActionMissing) != 6 || len(res.Outcomes) != 0 || s.Count(mutating) != 0 {
		t.Errorf("plan %v, outcomes %v, %d mutating calls; want 6 missing and nothing done", actions(p), res.Outcomes, s.Count(mutating))
	}
	// each is an info entry, not a warning: push exits 0 and counts them
	f := p.Findings()
	if len(f.Entries) != 6 || f.Count(report.Info) != 6 || f.Entries[0].Code != "packet.no-device" || f.Entries[0].Message != "master-1 has no device; --create makes one" {
		t.Errorf("findings:\n%s", f)
	}
}

// findingCodes is the codes of a plan's findings, each with its severity,
// after checking that none has a path or a position.
func findingCodes(t *testing.T, p *Plan) []string {
	t.Helper()
	var out []string
	for _, e := range p.Findings().Entries {
		if e.Path != nil || e.Pos != (report.Pos{}) {
			t.Errorf("%s: a device finding has a path or a position: %#v", e, e)
		}
		out = append(out, e.Severity.String()+" "+e.Code)
	}
	return out
}

func TestPlanRefusesAmbiguousDevices(t *testing.T) {
	s, c := startFake(t)
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-1"})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-1"})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-2", Tags: []string{"rampart:cluster=other"}})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-3", State: "deprovisioning"}) // going away: not a match
	_, err := c.Plan(context.Background(), target, machines("v1"), PlanOptions{Create: true})
	var pe *PlanError
	if !errors.As(err, &pe) || len(pe.Problems) != 2 {
		t.Fatalf("plan error = %v, want two problems", err)
	}
	if !strings.Contains(pe.Problems[0], "agent-1: 2 devices have this hostname") || !strings.Contains(pe.Problems[1], "agent-2: device") || !strings.Contains(pe.Problems[1], "belongs to cluster other") {
		t.Errorf("problems = %q", pe.Problems)
	}
}

func TestRetriesOn429And5xxAndSlowAnswers(t *testing.T) {
	s, c := startFake(t)
	s.Inject(packetfake.Fault{Op: packetfake.OpListDevices, Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 1})
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Status: http.StatusServiceUnavailable, Times: 2,
		Match: func(r *packetfake.Request) bool { return r.Hostname() == "agent-1" }})
	// agent-2's create succeeds on the server but its answer is a 500: the
	// retry must find the device instead of making a second one.
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Status: http.StatusInternalServerError, Commit: true, Times: 1,
		Match: func(r *packetfake.Request) bool { return r.Hostname() == "agent-2" }})
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Status: http.StatusTooManyRequests, Times: 1,
		Match: func(r *packetfake.Request) bool { return r.Hostname() == "agent-3" }})
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Delay: 300 * time.Millisecond, Times: 1,
		Match: func(r *packetfake.Request) bool { return r.Hostname() == "bootstrap" }})
	var notes []RetryNote
	c.OnRetry = func(n RetryNote) { notes = append(notes, n) }
	_, res, err := push(t, c, machines("v1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Done()) != 6 {
		t.Errorf("done = %v", res.Done())
	}
	calls := s.Calls()
	if calls[0].Status != 429 || calls[1].Op != packetfake.OpListDevices || calls[1].At.Sub(calls[0].At) < time.Second {
		t.Errorf("the list after a 429 with Retry-After: 1 came %s later, want at least 1s", calls[1].At.Sub(calls[0].At))
	}
	if len(notes) != 1 || !strings.Contains(notes[0].Reason, "Retry-After 1s") {
		t.Errorf("retry notes outside Apply = %+v, want the list's 429", notes)
	}
	count := func(host string) int {
		return s.Count(func(c packetfake.Call) bool {
			return c.Op == packetfake.OpCreateDevice && strings.Contains(string(c.Body), `"hostname":"`+host+`"`)
		})
	}
	if n := count("agent-1"); n != 3 {
		t.Errorf("agent-1: %d creates, want 3 (two 503s, then success)", n)
	}
	if n := count("agent-2"); n != 1 {
		t.Errorf("agent-2: %d creates, want 1 (the device made before the 500 is found)", n)
	}
	if n := count("agent-3"); n != 2 {
		t.Errorf("agent-3: %d creates, want 2 (a 429 is retried without looking)", n)
	}
	agent2 := 0
	for _, d := range s.Devices() {
		if d.Hostname == "agent-2" {
			agent2++
		}
	}
	if agent2 != 1 || len(s.Devices()) != 6 {
		t.Errorf("%d devices named agent-2 among %d; want exactly one of six", agent2, len(s.Devices()))
	}
}

func TestPartialFailureThenCompletion(t *testing.T) {
	s, c := startFake(t)
	broken := func(r *packetfake.Request) bool { return r.Hostname() == "agent-2" || r.Hostname() == "bootstrap" }
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Status: http.StatusInternalServerError, Times: -1, Match: broken})
	_, res, err := push(t, c, machines("v1"), true)
	var pe *PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("push over a broken API: %v, want a partial failure", err)
	}
	if got := res.NotDone(); !slices.Equal(got, []string{"agent-2", "bootstrap"}) {
		t.Errorf("not done = %v", got)
	}
	if got := res.Done(); !slices.Equal(got, []string{"master-1", "agent-1", "agent-3", "public-agent-1"}) {
		t.Errorf("done = %v", got)
	}
	msg := err.Error()
	for _, w := range []string{"4 of 6 changes made", "done: master-1, agent-1, agent-3, public-agent-1", "agent-2: create agent-2:", "500", "after 4 attempts", "run the push again"} {
		if !strings.Contains(msg, w) {
			t.Errorf("the error does not say %q:\n%s", w, msg)
		}
	}
	s.ClearFaults()
	s.ResetCalls()
	p, res, err := push(t, c, machines("v1"), true)
	if err != nil {
		t.Fatalf("second push: %v", err)
	}
	if got := res.Done(); !slices.Equal(got, []string{"agent-2", "bootstrap"}) || p.Count(ActionUnchanged) != 4 {
		t.Errorf("second push did %v with plan %v; want agent-2 and bootstrap only", got, actions(p))
	}
	for _, call := range s.Calls() {
		if call.Mutating() && !broken(&packetfake.Request{Body: decode(call.Body)}) {
			t.Errorf("second push touched a device that was done: %s %s %s", call.Method, call.Path, call.Body)
		}
	}
	if len(s.Devices()) != 6 {
		t.Errorf("%d devices, want 6", len(s.Devices()))
	}
}

// short is "N bytes sha256:" and the first 12 hex digits of the sum.
func short(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes sha256:%x", len(b), sum[:6])
}

func decode(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func TestGiveUpOnLongRetryAfter(t *testing.T) {
	s, c := startFake(t)
	s.Inject(packetfake.Fault{Op: packetfake.OpListDevices, Status: http.StatusTooManyRequests, RetryAfter: "3600", Times: 1})
	_, err := c.Plan(context.Background(), target, machines("v1"), PlanOptions{Create: true})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.Attempts != 1 || !strings.Contains(err.Error(), "asks to wait 1h0m0s (Retry-After), more than the 5s rampart waits") {
		t.Errorf("plan under a one-hour Retry-After: %v", err)
	}
	if n := len(s.Calls()); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	s, c := startFake(t)
	_, err := c.Plan(context.Background(), Target{Project: "00000000-0000-4000-8000-00000000beef"}, machines("v1"), PlanOptions{Create: true})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Attempts != 1 {
		t.Errorf("plan of an unknown project: %v, want one 404", err)
	}
	if n := len(s.Calls()); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestListsEveryPage(t *testing.T) {
	s, c := startFake(t)
	c.PerPage = 2
	for _, m := range machines("v1")[:5] {
		s.AddDevice(packetfake.Device{Project: project, Hostname: m.Hostname, Userdata: string(m.Userdata), Tags: []string{"rampart:cluster=dcos-packet", "rampart:role=" + m.Role}})
	}
	p, err := c.Plan(context.Background(), target, machines("v1"), PlanOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Count(ActionUnchanged) != 5 || p.Count(ActionCreate) != 1 {
		t.Errorf("plan over three pages = %v", actions(p))
	}
	if n := s.Count(func(c packetfake.Call) bool { return c.Op == packetfake.OpListDevices }); n != 3 {
		t.Errorf("%d list calls, want 3 pages", n)
	}
}

func TestNewClientReadsTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // error text, or the base URL
	}{
		{"packet token", map[string]string{EnvAuthToken: "a"}, DefaultAPIURL},
		{"metal token", map[string]string{EnvMetalToken: "b"}, DefaultAPIURL},
		{"other base", map[string]string{EnvAuthToken: "a", EnvAPIURL: "http://127.0.0.1:9/metal/v1"}, "http://127.0.0.1:9/metal/v1/"},
		{"no token", map[string]string{EnvAPIURL: "http://127.0.0.1:9/"}, "no Packet API token: set PACKET_AUTH_TOKEN or METAL_AUTH_TOKEN"},
		{"bad base", map[string]string{EnvAuthToken: "a", EnvAPIURL: "ftp://x"}, `PACKET_API_URL="ftp://x" is not an http or https URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(func(k string) string { return tc.env[k] }, nil)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = c.api.BaseURL.String()
				if key := tc.env[EnvAuthToken] + tc.env[EnvMetalToken]; c.api.APIKey != key {
					t.Errorf("token = %q, want %q", c.api.APIKey, key)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	c, err := NewClient(func(k string) string { return map[string]string{EnvAuthToken: "p", EnvMetalToken: "m"}[k] }, nil)
	if err != nil || c.api.APIKey != "p" {
		t.Errorf("with both tokens set, %s wins: %v", EnvAuthToken, err)
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0": 0, "7": 7 * time.Second, " 2 ": 2 * time.Second,
		"Mon, 23 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Mon, 23 Nov 2026 11:00:00 GMT": 0,
	} {
		if got, ok := parseRetryAfter(v, now); !ok || got != want {
			t.Errorf("Retry-After %q = %s, %v; want %s", v, got, ok, want)
		}
	}
	for _, v := range []string{"-1", "soon", ""} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("Retry-After %q was accepted", v)
		}
	}
	p := RetryPolicy{Attempts: 10, Base: 100 * time.Millisecond, Max: time.Second}
	for attempt, bound := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 9: time.Second} {
		for range 20 {
			if d := p.backoff(attempt); d < bound/2 || d > bound {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, d, bound/2, bound)
			}
		}
	}
}

func TestProgressLines(t *testing.T) {
	run := func(terminal bool) string {
		var b bytes.Buffer
		p := NewProgress(&b, terminal)
		p.Start(2)
		p.Device(Outcome{Hostname: "agent-1", Action: ActionCreate, DeviceID: "id-1"})
		p.Retry(RetryNote{What: "update master-1", Attempt: 1, Wait: 1500 * time.Millisecond, Reason: "503 Service Unavailable"})
		p.Device(Outcome{Hostname: "master-1", Action: ActionUpdate, DeviceID: "id-2", Err: errors.New("boom")})
		p.Finish()
		return b.String()
	}
	plain := run(false)
	want := "[1/2] created agent-1 (id-1)\n  retry update master-1: 503 Service Unavailable; attempt 1 failed, next in 1.5s\n[2/2] FAILED update master-1: boom\n"
	if plain != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", plain, want)
	}
	term := run(true)
	for _, w := range []string{"\r\033[K[..............................] 0/2", "[###############...............] 1/2", "[##############################] 2/2, 1 failed", "\r\033[K[1/2] created agent-1 (id-1)\n"} {
		if !strings.Contains(term, w) {
			t.Errorf("terminal progress lacks %q:\n%q", w, term)
		}
	}
	if !strings.HasSuffix(term, "\r\033[K") {
		t.Errorf("terminal progress does not clear its bar at the end: %q", term)
	}
}

// A 429's Retry-After holds every call of the push, not only the one that
// got it: no request reaches the API until it has passed.
func TestRetryAfterHoldsEveryCall(t *testing.T) {
	s, c := startFake(t)
	c.Concurrency = 2
	s.Latency = 20 * time.Millisecond
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 1,
		Match: func(r *packetfake.Request) bool { return r.Hostname() == "agent-2" }})
	if _, _, err := push(t, c, machines("v1"), true); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	var throttled packetfake.Call
	for _, call := range calls {
		if call.Status == http.StatusTooManyRequests {
			throttled = call
		}
	}
	if throttled.Op == "" {
		t.Fatal("no 429 was answered")
	}
	// A call the other worker sent before the 429 reached the client may
	// arrive just after it was answered; one sent later must wait out the
	// Retry-After.
	const inFlight = 100 * time.Millisecond
	after := 0
	for _, call := range calls {
		gap := call.At.Sub(throttled.Answered)
		if gap <= inFlight {
			continue
		}
		after++
		if gap < time.Second-50*time.Millisecond {
			t.Errorf("%s %s arrived %s after the 429 with Retry-After: 1", call.Method, call.Path, gap)
		}
	}
	if after == 0 {
		t.Error("no call came after the 429")
	}
}

// An interrupted push says which changes were never started.
func TestInterruptedPushListsWhatWasNotStarted(t *testing.T) {
	s, c := startFake(t)
	c.Concurrency = 1
	p, err := c.Plan(context.Background(), target, machines("v1"), PlanOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := c.Apply(ctx, p, cancelAfterFirst{cancel})
	var pe *PartialError
	if !errors.As(err, &pe) || len(res.Done()) != 1 || len(res.NotDone()) != 5 {
		t.Fatalf("interrupted push: %v; done %v, not done %v", err, res.Done(), res.NotDone())
	}
	if !strings.Contains(err.Error(), "agent-1: not started") || len(s.Devices()) != 1 {
		t.Errorf("error %q with %d devices made", err, len(s.Devices()))
	}
}

// cancelAfterFirst cancels the push once the first device is done.
type cancelAfterFirst struct{ cancel context.CancelFunc }

func (p cancelAfterFirst) Start(int)       {}
func (p cancelAfterFirst) Device(Outcome)  { p.cancel() }
func (p cancelAfterFirst) Retry(RetryNote) {}
func (p cancelAfterFirst) Finish()         {}

// packngo asks for a new connection per call (req.Close); the client reuses
// them, which spares a TLS handshake per call against a real endpoint.
func TestConnectionsAreReused(t *testing.T) {
	s, c := startFake(t)
	c.Concurrency = 2
	if _, _, err := push(t, c, machines("v1"), true); err != nil {
		t.Fatal(err)
	}
	conns := map[string]bool{}
	for _, call := range s.Calls() {
		conns[call.Remote] = true
	}
	if len(conns) > 3 || len(s.Calls()) != 7 {
		t.Errorf("%d calls over %d connections, want 7 over at most 3", len(s.Calls()), len(conns))
	}
}

// cancelOnAnswer cancels a context once the first answer has come back.
type cancelOnAnswer struct {
	once   sync.Once
	cancel context.CancelFunc
	next   http.RoundTripper
}

// RoundTrip passes the request on, then cancels.
func (c *cancelOnAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	c.once.Do(c.cancel)
	return resp, err
}

// Ctrl-C while a project of several pages is listed: the pages not read
// make the plan fail with the context's error, never a panic.
func TestCancelDuringListIsAnError(t *testing.T) {
	s := packetfake.Start(t, token, project)
	for j := range 25 {
		s.AddDevice(packetfake.Device{Project: project, Hostname: fmt.Sprintf("agent-%02d", j)})
	}
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		env := map[string]string{EnvAuthToken: token, EnvAPIURL: s.URL}
		c, err := NewClient(func(k string) string { return env[k] }, &http.Client{Transport: &cancelOnAnswer{cancel: cancel, next: http.DefaultTransport}})
		if err != nil {
			t.Fatal(err)
		}
		c.PerPage = 5
		c.Retry = fastRetry
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("run %d: plan panicked on cancel: %v", i, r)
				}
			}()
			_, err = c.Plan(ctx, target, machines("v1"), PlanOptions{})
		}()
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "list devices of project "+project+" (page ") {
			t.Errorf("run %d: plan after a cancel: %v, want the context's error naming the page", i, err)
		}
	}
}

// A device with a node's hostname but no rampart:cluster tag may be
// someone else's: without Adopt it is listed and left alone; with Adopt it
// gets the userdata and rampart's tags, its own tags kept.
func TestUntaggedDevicesNeedAdopt(t *testing.T) {
	s, c := startFake(t)
	ms := machines("v1")
	for _, m := range ms {
		tags := []string{"rampart:cluster=dcos-packet", "rampart:role=" + m.Role}
		ud := string(m.Userdata)
		if m.Hostname == "agent-2" {
			tags, ud = []string{"owner=ops"}, "#cloud-config\n"
		}
		s.AddDevice(packetfake.Device{Project: project, Hostname: m.Hostname, Userdata: ud, Tags: tags})
	}
	p, res, err := push(t, c, ms, true)
	if err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	if err := p.Write(&plan); err != nil {
		t.Fatal(err)
	}
	d := s.Device("agent-2")
	if p.Count(ActionUntagged) != 1 || len(res.Outcomes) != 0 || s.Count(mutating) != 0 || d.Userdata != "#cloud-config\n" {
		t.Errorf("push without Adopt: plan %v, outcomes %v, %d mutating calls", actions(p), res.Outcomes, s.Count(mutating))
	}
	if got := findingCodes(t, p); !slices.Equal(got, []string{"warning packet.untagged-device"}) {
		t.Errorf("findings %v, want agent-2 untagged", got)
	}
	for _, w := range []string{"untagged   agent-2", "\nwarning: agent-2 (" + d.ID + ") has the hostname of a node but no rampart:cluster=dcos-packet tag: not touched; push --adopt", "5 unchanged, 0 missing, 1 untagged (left alone)"} {
		if !strings.Contains(plan.String(), w) {
			t.Errorf("plan does not say %q:\n%s", w, plan.String())
		}
	}

	p, err = c.Plan(context.Background(), target, ms, PlanOptions{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	plan.Reset()
	if err := p.Write(&plan); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	res, err = c.Apply(context.Background(), p, NewProgress(&progress, false))
	if err != nil || !slices.Equal(res.Done(), []string{"agent-2"}) || !strings.Contains(plan.String(), "1 to adopt") || !strings.Contains(progress.String(), "adopted agent-2 ("+d.ID+")") {
		t.Fatalf("push with Adopt: %v, done %v\n%s%s", err, res.Done(), plan.String(), progress.String())
	}
	d = s.Device("agent-2")
	if d.Userdata != string(ms[2].Userdata) || !slices.Equal(d.Tags, []string{"owner=ops", "rampart:cluster=dcos-packet", "rampart:role=agent"}) {
		t.Errorf("adopted agent-2: tags %q, userdata %q", d.Tags, d.Userdata)
	}
	s.Settle()
	s.ResetCalls()
	if p, _, err := push(t, c, ms, true); err != nil || p.Count(ActionUnchanged) != 6 || s.Count(mutating) != 0 {
		t.Errorf("push after the adoption: %v, plan %v", err, actions(p))
	}
}

// Devices whose userdata carries etcd keys are tagged with their CA, and
// userdata of another CA is refused (a wrong --state whose gen made a new
// CA), unless the CA was replaced on purpose.
func TestEtcdCATag(t *testing.T) {
	s, c := startFake(t)
	caA := strings.Repeat("a", 64)
	caB := strings.Repeat("b", 64)
	ms := machines("v1")[:2]
	ms[0].EtcdCA = caA // master-1 carries keys; agent-1 none
	if _, _, err := push(t, c, ms, true); err != nil {
		t.Fatal(err)
	}
	if d := s.Device("master-1"); !slices.Contains(d.Tags, "rampart:etcd-ca=aaaaaaaaaaaaaaaa") {
		t.Fatalf("master-1 created with tags %q", d.Tags)
	}
	if d := s.Device("agent-1"); slices.ContainsFunc(d.Tags, func(t string) bool { return strings.HasPrefix(t, TagEtcdCA) }) {
		t.Errorf("agent-1, without keys, tagged %q", d.Tags)
	}
	s.Settle()
	s.ResetCalls()

	ms[0].EtcdCA, ms[0].Userdata = caB, []byte(`{"rampart":"other CA"}`)
	_, err := c.Plan(context.Background(), target, ms, PlanOptions{})
	var pe *PlanError
	master := s.Device("master-1")
	if !errors.As(err, &pe) || len(pe.Problems) != 1 || !strings.Contains(pe.Problems[0], "master-1: device "+master.ID+" is tagged rampart:etcd-ca=aaaaaaaaaaaaaaaa, but this userdata carries keys of the etcd CA bbbbbbbbbbbbbbbb") ||
		!strings.Contains(pe.Problems[0], "--new-ca") {
		t.Errorf("plan with another CA: %v", err)
	}
	_, err = c.Reinstall(context.Background(), target, ms[0], ReinstallOptions{})
	var me *CAMismatchError
	if !errors.As(err, &me) || me.DeviceID != master.ID || me.DeviceCA != caA[:16] || me.WantCA != caB {
		t.Errorf("reinstall with another CA: %v", err)
	}
	if n := s.Count(mutating); n != 0 {
		t.Fatalf("refused plan and reinstall made %d mutating calls", n)
	}

	// Replaced on purpose: the state lists the old CA, or --new-ca.
	for _, ca := range []CACheck{{Replaced: []string{caB, caA}}, {NewCA: true}} {
		p, err := c.Plan(context.Background(), target, ms, PlanOptions{CA: ca})
		if err != nil || p.Count(ActionUpdate) != 1 {
			t.Errorf("plan with %+v: %v", ca, err)
		}
	}
	if _, err := c.Reinstall(context.Background(), target, ms[0], ReinstallOptions{CA: CACheck{NewCA: true}}); err != nil {
		t.Fatal(err)
	}
	if d := s.Device("master-1"); !slices.Contains(d.Tags, "rampart:etcd-ca=bbbbbbbbbbbbbbbb") || slices.Contains(d.Tags, "rampart:etcd-ca=aaaaaaaaaaaaaaaa") || d.Reinstalls != 1 {
		t.Errorf("master-1 after a reinstall with the new CA: tags %q, %d reinstalls", d.Tags, d.Reinstalls)
	}
}
