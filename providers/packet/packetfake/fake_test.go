package packetfake

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/packethost/packngo"
)

const project = "1f0c2a4e-3b5d-4c6e-8f70-123456789abc"

func start(t *testing.T) (*Server, *packngo.Client) {
	t.Helper()
	s, err := New("tok")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.AddProject(project)
	c, err := packngo.NewClient(packngo.WithAuth("rampart test", "tok"), packngo.WithBaseURL(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// packngo's device calls, as rampart makes them, keep to the Metal spec.
func TestPackngoDeviceCallsKeepTheContract(t *testing.T) {
	s, c := start(t)
	d, _, err := c.Devices.Create(&packngo.DeviceCreateRequest{Hostname: "a", Plan: "c3.small.x86", Metro: "da",
		OS: "flatcar_stable", ProjectID: project, UserData: "x", Tags: []string{"rampart:role=agent"}, BillingCycle: "hourly"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname != "a" || d.UserData != "x" || d.State != "queued" || len(d.Network) != 3 {
		t.Errorf("created device = %+v", d)
	}
	ds, _, err := c.Devices.List(project, &packngo.ListOptions{PerPage: 1000})
	if err != nil || len(ds) != 1 || ds[0].ID != d.ID {
		t.Fatalf("list = %v, %v", ds, err)
	}
	ud := "y"
	if _, _, err := c.Devices.Update(d.ID, &packngo.DeviceUpdateRequest{UserData: &ud}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Devices.Reinstall(d.ID, &packngo.DeviceReinstallFields{OperatingSystem: "flatcar_stable"}); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Devices.Get(d.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserData != "y" || got.State != "reinstalling" {
		t.Errorf("after update and reinstall: userdata %q, state %q", got.UserData, got.State)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %q", v)
	}
	if n := len(s.Calls()); n != 5 {
		t.Errorf("%d calls, want 5", n)
	}
}

// A packngo create without tags sends "tags": null, which the spec's
// `tags: {type: array}` does not allow: the fake says so.
func TestNullTagsBreakTheContract(t *testing.T) {
	s, c := start(t)
	_, _, err := c.Devices.Create(&packngo.DeviceCreateRequest{Hostname: "a", Plan: "p", Metro: "da", OS: "o", ProjectID: project})
	var er *packngo.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("create with null tags: %v, want a 422", err)
	}
	v := s.Violations()
	if len(v) != 1 || !strings.Contains(v[0], "tags") {
		t.Errorf("violations = %q, want one about tags", v)
	}
}

func TestRequestsOutsideTheSpecAreViolations(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body, want string
	}{
		{"unknown action", "POST", "devices/" + project + "/actions", `{"type":"explode"}`, "explode"},
		{"create without a plan", "POST", "projects/" + project + "/devices", `{"metro":"da","operating_system":"o","tags":[]}`, "plan"},
		{"per_page over the maximum", "GET", "projects/" + project + "/devices?per_page=5000", ``, "per_page"},
		{"not a uuid", "GET", "devices/not-a-uuid", ``, "uuid"},
		{"no such path", "GET", "devices", ``, "no operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := start(t)
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, bytes.NewBufferString(tc.body))
			req.Header.Set("X-Auth-Token", "tok")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("status %d, want an error", resp.StatusCode)
			}
			v := s.Violations()
			if len(v) != 1 || !strings.Contains(v[0], tc.want) {
				t.Errorf("violations = %q, want one mentioning %q", v, tc.want)
			}
		})
	}
}

// The fake's own answers are checked too: a device in a state the spec does
// not know makes the list answer a violation.
func TestResponsesOutsideTheSpecAreViolations(t *testing.T) {
	s, c := start(t)
	s.AddDevice(Device{Project: project, Hostname: "a", State: "exploded", Plan: "p", Metro: "da", OS: "o"})
	if _, _, err := c.Devices.List(project, nil); err != nil {
		t.Fatal(err)
	}
	v := s.Violations()
	if len(v) != 1 || !strings.Contains(v[0], "exploded") {
		t.Errorf("violations = %q, want one about the state", v)
	}
}

func TestWrongTokenIsUnauthorized(t *testing.T) {
	s, _ := start(t)
	c, err := packngo.NewClient(packngo.WithAuth("rampart test", "wrong"), packngo.WithBaseURL(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Devices.List(project, nil)
	var er *packngo.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnauthorized {
		t.Fatalf("list with a wrong token: %v, want a 401", err)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %q", v)
	}
}

func TestInjectedFaults(t *testing.T) {
	s, c := start(t)
	s.Inject(Fault{Op: OpListDevices, Status: 429, RetryAfter: "3", Times: 1})
	s.Inject(Fault{Op: OpCreateDevice, Status: 500, Commit: true, Times: 1,
		Match: func(r *Request) bool { return r.Hostname() == "b" }})
	_, resp, err := c.Devices.List(project, nil)
	if err == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("first list: %v, %v; want an injected 429 with Retry-After: 3", resp, err)
	}
	if _, _, err := c.Devices.List(project, nil); err != nil {
		t.Fatalf("second list: %v (the fault hits once)", err)
	}
	req := func(h string) *packngo.DeviceCreateRequest {
		return &packngo.DeviceCreateRequest{Hostname: h, Plan: "p", Metro: "da", OS: "o", ProjectID: project, Tags: []string{}}
	}
	if _, _, err := c.Devices.Create(req("a")); err != nil {
		t.Fatalf("create a: %v (the fault matches b only)", err)
	}
	if _, resp, err := c.Devices.Create(req("b")); err == nil || resp.StatusCode != 500 {
		t.Fatalf("create b: %v, want the injected 500", err)
	}
	if s.Device("b") == nil {
		t.Error("a committing fault must make the change before answering 500")
	}
	u := s.Undeclared()
	if u["findProjectDevices 429"] != 1 || u["createDevice 500"] != 1 {
		t.Errorf("undeclared = %v", u)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %q", v)
	}
}

func TestPagination(t *testing.T) {
	s, c := start(t)
	for i := range 25 {
		s.AddDevice(Device{Project: project, Hostname: string(rune('a' + i)), Plan: "p", Metro: "da", OS: "o"})
	}
	ds, _, err := c.Devices.List(project, nil) // the spec's default page size is 10
	if err != nil || len(ds) != 25 {
		t.Fatalf("list = %d devices, %v; want all 25 over three pages", len(ds), err)
	}
	if n := len(s.Calls()); n != 3 {
		t.Errorf("%d calls, want 3 pages", n)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %q", v)
	}
}
