package packet

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/providers/packet/packetfake"
)

func TestReinstallPutsUserdataThenReinstalls(t *testing.T) {
	s, c := startFake(t)
	s.AddDevice(packetfake.Device{Project: project, Hostname: "master-1", OS: "flatcar_beta", Userdata: "old",
		Tags: []string{"rampart:cluster=dcos-packet", "rampart:role=master"}})
	other := s.AddDevice(packetfake.Device{Project: project, Hostname: "master-10", Userdata: "other"}) // a partial hostname match
	m := machines("v2")[0]
	got, err := c.Reinstall(context.Background(), target, m, ReinstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := s.Device("master-1")
	if got.DeviceID != d.ID || !slices.Equal(got.Updated, []string{"userdata"}) {
		t.Errorf("reinstalled = %+v", got)
	}
	if d.Userdata != string(m.Userdata) || d.State != "reinstalling" || d.Reinstalls != 1 || d.OS != "flatcar_stable" {
		t.Errorf("device after reinstall = %+v", d)
	}
	var ops []string
	for _, call := range s.Calls() {
		ops = append(ops, call.Op)
	}
	want := []string{packetfake.OpListDevices, packetfake.OpUpdateDevice, packetfake.OpPerformAction}
	if !slices.Equal(ops, want) {
		t.Errorf("calls %v, want %v (userdata first, then the reinstall)", ops, want)
	}
	if !strings.Contains(string(s.Calls()[2].Body), `"type":"reinstall"`) || !strings.Contains(string(s.Calls()[2].Body), `"operating_system":"flatcar_stable"`) {
		t.Errorf("reinstall body = %s", s.Calls()[2].Body)
	}
	if o := s.Device("master-10"); o.Reinstalls != 0 || o.Userdata != other.Userdata {
		t.Errorf("master-10 was touched: %+v", o)
	}

	// userdata already in place: only the reinstall
	s.Settle()
	s.ResetCalls()
	got, err = c.Reinstall(context.Background(), target, m, ReinstallOptions{})
	if err != nil || len(got.Updated) != 0 || s.Count(mutating) != 1 || s.Device("master-1").Reinstalls != 2 {
		t.Errorf("second reinstall: %+v, %v, %d mutating calls", got, err, s.Count(mutating))
	}
}

// A reinstall the API performed before its answer failed is not asked for
// a second time.
func TestReinstallIsNotRepeatedAfterA5xx(t *testing.T) {
	s, c := startFake(t)
	m := machines("v1")[1]
	s.AddDevice(packetfake.Device{Project: project, Hostname: m.Hostname, Userdata: string(m.Userdata),
		Tags: []string{"rampart:cluster=dcos-packet", "rampart:role=agent"}})
	s.Inject(packetfake.Fault{Op: packetfake.OpPerformAction, Status: http.StatusBadGateway, Commit: true, Times: 1})
	if _, err := c.Reinstall(context.Background(), target, m, ReinstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := s.Device(m.Hostname).Reinstalls; n != 1 {
		t.Errorf("%d reinstalls, want 1", n)
	}
	if n := s.Count(func(c packetfake.Call) bool { return c.Op == packetfake.OpPerformAction }); n != 1 {
		t.Errorf("%d reinstall actions sent, want 1", n)
	}
}

// A device without rampart's cluster tag is reinstalled only with Adopt
// (the reinstall wipes it); then it gets the tags, and a 503 is retried.
func TestReinstallRetriesA503(t *testing.T) {
	s, c := startFake(t)
	m := machines("v1")[1]
	d := s.AddDevice(packetfake.Device{Project: project, Hostname: m.Hostname, Userdata: string(m.Userdata)})
	_, err := c.Reinstall(context.Background(), target, m, ReinstallOptions{})
	if !errors.Is(err, ErrUntagged) || !strings.Contains(err.Error(), "agent-1: device "+d.ID+": it has the node's hostname but no rampart:cluster tag") || s.Count(mutating) != 0 {
		t.Errorf("reinstall of an untagged device: %v, %d mutating calls", err, s.Count(mutating))
	}
	s.Inject(packetfake.Fault{Op: packetfake.OpPerformAction, Status: http.StatusServiceUnavailable, Times: 2})
	got, err := c.Reinstall(context.Background(), target, m, ReinstallOptions{Adopt: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Updated, []string{"tags"}) || s.Device(m.Hostname).Reinstalls != 1 {
		t.Errorf("reinstalled = %+v, device %+v", got, s.Device(m.Hostname))
	}
}

func TestReinstallRefuses(t *testing.T) {
	s, c := startFake(t)
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-1"})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-1"})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-2", Tags: []string{"rampart:cluster=other"}})
	s.AddDevice(packetfake.Device{Project: project, Hostname: "agent-3", State: "deprovisioning"})
	for host, want := range map[string]string{
		"agent-1":  "agent-1: 2 devices have this hostname",
		"agent-2":  "belongs to cluster other",
		"agent-3":  "agent-3: no device with this hostname in the project " + project,
		"master-1": "master-1: no device with this hostname",
	} {
		_, err := c.Reinstall(context.Background(), target, Machine{Hostname: host, Role: "agent", Userdata: []byte("x")}, ReinstallOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("reinstall %s: %v, want %q", host, err, want)
		}
		if host == "master-1" && !errors.Is(err, ErrNoDevice) {
			t.Errorf("reinstall of a missing device: %v is not ErrNoDevice", err)
		}
	}
	if n := s.Count(mutating); n != 0 {
		t.Errorf("%d mutating calls, want 0", n)
	}
}

// A device already reinstalling (or provisioning) is not reinstalled on
// top: its state could not tell a reinstall that took effect from the one
// under way, and a lost answer would make a second.
func TestReinstallRefusesABusyDevice(t *testing.T) {
	s, c := startFake(t)
	m := machines("v1")[1]
	d := s.AddDevice(packetfake.Device{Project: project, Hostname: m.Hostname, State: "reinstalling", Userdata: "old",
		Tags: []string{"rampart:cluster=dcos-packet", "rampart:role=agent"}})
	s.Inject(packetfake.Fault{Op: packetfake.OpPerformAction, Status: http.StatusBadGateway, Commit: true, Times: 1})
	_, err := c.Reinstall(context.Background(), target, m, ReinstallOptions{})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "agent-1: device "+d.ID+" is reinstalling") {
		t.Errorf("reinstall of a reinstalling device: %v", err)
	}
	if n := s.Count(mutating); n != 0 || s.Device(m.Hostname).Reinstalls != 0 {
		t.Errorf("%d mutating calls, %d reinstalls; want none", n, s.Device(m.Hostname).Reinstalls)
	}
	s.Settle()
	if _, err := c.Reinstall(context.Background(), target, m, ReinstallOptions{}); err != nil || s.Device(m.Hostname).Reinstalls != 1 {
		t.Errorf("reinstall once active: %v, %d reinstalls", err, s.Device(m.Hostname).Reinstalls)
	}
}

// An answer lost to the client's timeout after the server made the change
// (a create, a reinstall): the retry finds the change made and does not
// make it again.
func TestLostAnswersAreNotRepeated(t *testing.T) {
	s := packetfake.Start(t, token, project)
	env := map[string]string{EnvAuthToken: token, EnvAPIURL: s.URL}
	c, err := NewClient(func(k string) string { return env[k] }, &http.Client{Timeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Retry = fastRetry
	var notes []RetryNote
	c.OnRetry = func(n RetryNote) { notes = append(notes, n) }
	ms := machines("v1")[:1]
	s.Inject(packetfake.Fault{Op: packetfake.OpCreateDevice, Commit: true, Delay: 1500 * time.Millisecond, Times: 1})
	p, err := c.Plan(context.Background(), target, ms, PlanOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	res, err := c.Apply(context.Background(), p, NewProgress(&progress, false))
	if err != nil || len(s.Devices()) != 1 || res.Outcomes[0].DeviceID != s.Devices()[0].ID {
		t.Fatalf("create after a lost answer: %v, %d devices, outcomes %+v", err, len(s.Devices()), res.Outcomes)
	}
	if !strings.Contains(progress.String(), "retry create master-1: no answer; attempt 1 failed") {
		t.Errorf("progress, want a retry after no answer:\n%s", progress.String())
	}

	s.Settle()
	notes = nil
	s.Inject(packetfake.Fault{Op: packetfake.OpPerformAction, Commit: true, Delay: 1500 * time.Millisecond, Times: 1})
	if _, err := c.Reinstall(context.Background(), target, ms[0], ReinstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := s.Device(ms[0].Hostname).Reinstalls; n != 1 || len(notes) == 0 || notes[0].Reason != "no answer" {
		t.Errorf("%d reinstalls after a lost answer (want 1), retries %+v", n, notes)
	}
}
