// Package packetfake is an in-process Equinix Metal API for tests: it keeps
// projects and devices in memory, serves the device operations rampart uses
// (list a project's devices, create, get, update, perform an action) and
// checks every request it receives and every response it sends against the
// Metal OpenAPI spec shipped in github.com/equinix/equinix-sdk-go. Faults
// (429 with Retry-After, 5xx, slow answers) are injected per operation.
//
// Equinix Metal was shut down on 2026-06-30, so no real API remains to test
// against; the spec is the contract.
package packetfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Operation ids of the Metal spec the fake serves.
const (
	OpListDevices   = "findProjectDevices"
	OpCreateDevice  = "createDevice"
	OpGetDevice     = "findDeviceById"
	OpUpdateDevice  = "updateDevice"
	OpPerformAction = "performAction"
)

// Device is a device as the fake keeps it.
type Device struct {
	ID         string    // a UUID; AddDevice makes one when ""
	Project    string    // the id of the project the device is in
	Hostname   string    // the device's hostname
	State      string    // queued, provisioning, active, reinstalling, ...
	Plan       string    // plan slug
	Metro      string    // metro code, e.g. "da"
	OS         string    // operating system slug; a reinstall may change it
	Userdata   string    // the userdata as last created or updated
	Tags       []string  // tags in the order last set; answers list them sorted
	IPs        []IP      // a public IPv4, a private IPv4 and a public IPv6 unless given
	Reinstalls int       // reinstall actions performed
	Created    time.Time // when it was created (or added)
	Updated    time.Time // when an update or action last changed it; Created until then
}

// IP is one address assigned to a device.
type IP struct {
	Addr   netip.Addr // an IPv4 or IPv6 address
	Public bool       // public, as Metal marks it; false for a private address
}

// Call is one request the fake answered.
type Call struct {
	Op       string    // operation id, "" when no route of the spec matched
	Method   string    // HTTP method
	Path     string    // path below BasePath, query included
	Status   int       // HTTP status of the answer
	Injected bool      // the answer was an injected fault
	At       time.Time // when the request arrived
	Answered time.Time // when the answer was sent
	Remote   string    // the client's address: one per connection
	Body     []byte    // request body
}

// Mutating reports whether the call asked for a change (any method but GET).
func (c Call) Mutating() bool { return c.Method != http.MethodGet }

// Fault is an answer the fake gives instead of (or after) doing the work.
type Fault struct {
	Op         string                // operation id the fault applies to
	Match      func(r *Request) bool // optional: which requests of Op
	Status     int                   // 0: answer normally (after Delay)
	RetryAfter string                // Retry-After header value, if any
	Delay      time.Duration         // answer this much later
	Times      int                   // how many requests it hits; < 0: every one
	Commit     bool                  // do the work, then answer Status anyway
	hits       int
}

// Request is what a Fault's Match sees.
type Request struct {
	Op       string         // operation id of the Metal spec, e.g. OpCreateDevice
	DeviceID string         // path id for device operations
	Body     map[string]any // decoded JSON body, nil when none
}

// Hostname is the hostname of a create request, or "".
func (r *Request) Hostname() string {
	h, _ := r.Body["hostname"].(string)
	return h
}

// Server is a running fake Metal API.
type Server struct {
	// URL is the API base, as packngo wants it: http://127.0.0.1:port/metal/v1/
	URL   string
	Token string // the only X-Auth-Token it accepts
	// Latency is added to every answer (the benchmark's 50 ms).
	Latency time.Duration

	contract *Contract
	http     *httptest.Server

	mu         sync.Mutex
	projects   map[string]bool
	devices    map[string]*Device
	order      []string // device ids in creation order
	calls      []Call
	faults     []*Fault
	violations []string
	undeclared map[string]int // "op status" answered outside the operation's declared responses
	seq        int
	now        func() time.Time
}

// New starts a fake on a free loopback port. Close it when done.
func New(token string) (*Server, error) {
	c, err := LoadContract()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Token:      token,
		contract:   c,
		projects:   map[string]bool{},
		devices:    map[string]*Device{},
		undeclared: map[string]int{},
		now:        func() time.Time { return time.Now().UTC().Truncate(time.Second) },
	}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.http.URL + BasePath + "/"
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// AddProject makes a project exist.
func (s *Server) AddProject(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[id] = true
}

// AddDevice puts an existing device in a project (which it creates when
// needed) and returns it; a missing ID, State or IPs are filled in.
func (s *Server) AddDevice(d Device) *Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projects[d.Project] = true
	s.seq++
	if d.ID == "" {
		d.ID = uuid(1, s.seq)
	}
	if d.State == "" {
		d.State = "active"
	}
	if d.IPs == nil {
		d.IPs = addresses(s.seq)
	}
	if d.Created.IsZero() {
		d.Created = s.now()
	}
	d.Updated = d.Created
	d.Tags = slices.Clone(d.Tags)
	s.devices[d.ID] = &d
	s.order = append(s.order, d.ID)
	cp := d
	return &cp
}

// Devices returns a copy of every device, in creation order.
func (s *Server) Devices() []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Device, 0, len(s.order))
	for _, id := range s.order {
		d := *s.devices[id]
		d.Tags = slices.Clone(d.Tags)
		d.IPs = slices.Clone(d.IPs)
		out = append(out, d)
	}
	return out
}

// Device returns a copy of the device with that hostname, or nil.
func (s *Server) Device(hostname string) *Device {
	for _, d := range s.Devices() {
		if d.Hostname == hostname {
			return &d
		}
	}
	return nil
}

// Inject adds a fault; faults are tried in the order they were added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns every call so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ResetCalls forgets the calls so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Count is the number of calls so far that satisfy keep.
func (s *Server) Count(keep func(Call) bool) int {
	n := 0
	for _, c := range s.Calls() {
		if keep(c) {
			n++
		}
	}
	return n
}

// Violations lists every request or response that broke the Metal spec.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Undeclared counts the answers whose status the operation does not declare
// in the spec (the injected 429 and 5xx), by "operation status". Their bodies
// are still checked against the spec's Error schema.
func (s *Server) Undeclared() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.undeclared {
		out[k] = v
	}
	return out
}

func (s *Server) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// answer is a response before it is checked and written.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func jsonAnswer(status int, v any) answer {
	h := http.Header{}
	if v == nil {
		return answer{status: status, header: h}
	}
	data, err := json.Marshal(v)
	if err != nil { // the fake's own values are plain maps and slices
		data = []byte(`{"error":"fake: ` + err.Error() + `"}`)
		status = http.StatusInternalServerError
	}
	h.Set("Content-Type", "application/json")
	return answer{status: status, header: h, body: data}
}

func errorAnswer(status int, format string, args ...any) answer {
	return jsonAnswer(status, map[string]any{"errors": []string{fmt.Sprintf(format, args...)}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rel := strings.TrimPrefix(r.URL.RequestURI(), BasePath)
	call := Call{Method: r.Method, Path: rel, At: start, Body: body, Remote: r.RemoteAddr}

	ans, route, params, injected, delay := s.handle(r, body, &call)
	call.Injected = injected
	if route != nil {
		s.checkResponse(r, route, params, ans)
	}
	// Latency counts from the request's arrival, the fake's own checking
	// included, so that every call takes Latency (plus a fault's Delay).
	if wait := s.Latency + delay - time.Since(start); wait > 0 {
		time.Sleep(wait)
	}
	call.Status = ans.status
	call.Answered = time.Now()
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	for k, v := range ans.header {
		w.Header()[k] = v
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

// handle routes, checks and answers one request.
func (s *Server) handle(r *http.Request, body []byte, call *Call) (ans answer, route *routers.Route, params map[string]string, injected bool, delay time.Duration) {
	route, params, err := s.contract.Router.FindRoute(r)
	if err != nil {
		s.violation("%s %s: no operation of the Metal spec: %v", r.Method, call.Path, err)
		return errorAnswer(http.StatusNotFound, "%s %s: %v", r.Method, call.Path, err), nil, nil, false, 0
	}
	op := route.Operation.OperationID
	call.Op = op
	if r.Header.Get("X-Auth-Token") != s.Token {
		return errorAnswer(http.StatusUnauthorized, "invalid authentication token"), route, params, false, 0
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: s.authenticate},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		s.violation("%s %s (%s): request breaks the Metal spec: %v", r.Method, call.Path, op, err)
		return errorAnswer(http.StatusUnprocessableEntity, "request breaks the Metal spec: %v", err), route, params, false, 0
	}
	req := &Request{Op: op, DeviceID: params["id"]}
	if len(body) > 0 {
		_ = json.Unmarshal(body, &req.Body) // valid JSON: the spec check above decoded it
	}
	if op == OpListDevices || op == OpCreateDevice {
		req.DeviceID = ""
	}
	f := s.fault(req)
	if f != nil {
		delay = f.Delay
		if f.Status != 0 && !f.Commit {
			a := errorAnswer(f.Status, "injected %d", f.Status)
			if f.RetryAfter != "" {
				a.header.Set("Retry-After", f.RetryAfter)
			}
			return a, route, params, true, delay
		}
	}
	ans = s.do(op, params, r.URL.Query(), req)
	if f != nil && f.Status != 0 {
		a := errorAnswer(f.Status, "injected %d after the change was made", f.Status)
		if f.RetryAfter != "" {
			a.header.Set("Retry-After", f.RetryAfter)
		}
		return a, route, params, true, delay
	}
	return ans, route, params, false, delay
}

func (s *Server) authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "x_auth_token" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	if in.RequestValidationInput.Request.Header.Get("X-Auth-Token") != s.Token {
		return fmt.Errorf("X-Auth-Token is missing or wrong")
	}
	return nil
}

// fault returns the first fault that applies to req, counting the hit.
func (s *Server) fault(req *Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Op != req.Op || (f.Times >= 0 && f.hits >= f.Times) {
			continue
		}
		if f.Match != nil && !f.Match(req) {
			continue
		}
		f.hits++
		return f
	}
	return nil
}

// checkResponse validates an answer against the operation's declared
// responses; a status the operation does not declare is counted and its body
// checked against the spec's Error schema (the API's documented error shape).
func (s *Server) checkResponse(r *http.Request, route *routers.Route, params map[string]string, ans answer) {
	op := route.Operation.OperationID
	if route.Operation.Responses.Status(ans.status) == nil && route.Operation.Responses.Default() == nil {
		s.mu.Lock()
		s.undeclared[fmt.Sprintf("%s %d", op, ans.status)]++
		s.mu.Unlock()
		ref := s.contract.Doc.Components.Schemas["Error"]
		var v any
		if err := json.Unmarshal(ans.body, &v); err != nil {
			s.violation("%s %d: error body is not JSON: %v", op, ans.status, err)
			return
		}
		if err := ref.Value.VisitJSON(v); err != nil {
			s.violation("%s %d: error body breaks the Error schema: %v", op, ans.status, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route,
		},
		Status:  ans.status,
		Header:  ans.header,
		Body:    io.NopCloser(bytes.NewReader(ans.body)),
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		s.violation("%s %s (%s): response %d breaks the Metal spec: %v", r.Method, r.URL.Path, op, ans.status, err)
	}
}

// do performs an operation on the in-memory state.
func (s *Server) do(op string, params map[string]string, q url.Values, req *Request) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case OpListDevices:
		return s.list(params["id"], q)
	case OpCreateDevice:
		return s.create(params["id"], req.Body)
	case OpGetDevice:
		d := s.devices[params["id"]]
		if d == nil {
			return errorAnswer(http.StatusNotFound, "device %s not found", params["id"])
		}
		return jsonAnswer(http.StatusOK, deviceJSON(d))
	case OpUpdateDevice:
		return s.update(params["id"], req.Body)
	case OpPerformAction:
		return s.action(params["id"], req.Body)
	}
	s.violations = append(s.violations, "the client called "+op+", which the fake does not serve")
	return errorAnswer(http.StatusNotImplemented, "%s is not served by the fake", op)
}

func (s *Server) list(project string, q url.Values) answer {
	if !s.projects[project] {
		return errorAnswer(http.StatusNotFound, "project %s not found", project)
	}
	page, perPage := 1, 10 // the spec's defaults
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v) // the spec check has made sure it is an integer in range
	}
	if v := q.Get("per_page"); v != "" {
		perPage, _ = strconv.Atoi(v)
	}
	var match []*Device
	for _, id := range s.order {
		d := s.devices[id]
		if d.Project != project || d.State == "deleted" {
			continue
		}
		if h := q.Get("hostname"); h != "" && !strings.Contains(d.Hostname, h) {
			continue
		}
		if t := q.Get("tag"); t != "" && !slices.Contains(d.Tags, t) {
			continue
		}
		match = append(match, d)
	}
	last := max(1, (len(match)+perPage-1)/perPage)
	from := min(len(match), (page-1)*perPage)
	to := min(len(match), from+perPage)
	devs := make([]any, 0, to-from)
	for _, d := range match[from:to] {
		devs = append(devs, deviceJSON(d))
	}
	href := func(p int) map[string]any {
		return map[string]any{"href": fmt.Sprintf("/projects/%s/devices?page=%d&per_page=%d", project, p, perPage)}
	}
	meta := map[string]any{
		"self": href(page), "first": href(1), "last": href(last),
		"total": len(match), "current_page": page, "last_page": last,
	}
	if page < last {
		meta["next"] = href(page + 1)
	}
	if page > 1 {
		meta["previous"] = href(page - 1)
	}
	return jsonAnswer(http.StatusOK, map[string]any{"devices": devs, "meta": meta})
}

func (s *Server) create(project string, body map[string]any) answer {
	if !s.projects[project] {
		return errorAnswer(http.StatusNotFound, "project %s not found", project)
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	metro := str("metro")
	if metro == "" {
		return errorAnswer(http.StatusUnprocessableEntity, "the fake creates devices in a metro only")
	}
	hostname := str("hostname")
	if hostname == "" {
		return errorAnswer(http.StatusUnprocessableEntity, "the fake needs a hostname")
	}
	var tags []string
	if raw, ok := body["tags"].([]any); ok {
		for _, t := range raw {
			tags = append(tags, fmt.Sprint(t))
		}
	}
	s.seq++
	now := s.now()
	d := &Device{
		ID: uuid(1, s.seq), Project: project, Hostname: hostname, State: "queued",
		Plan: str("plan"), Metro: metro, OS: str("operating_system"), Userdata: str("userdata"),
		Tags: tags, IPs: addresses(s.seq), Created: now, Updated: now,
	}
	s.devices[d.ID] = d
	s.order = append(s.order, d.ID)
	return jsonAnswer(http.StatusCreated, deviceJSON(d))
}

func (s *Server) update(id string, body map[string]any) answer {
	d := s.devices[id]
	if d == nil {
		return errorAnswer(http.StatusNotFound, "device %s not found", id)
	}
	if v, ok := body["userdata"].(string); ok {
		d.Userdata = v
	}
	if v, ok := body["hostname"].(string); ok {
		d.Hostname = v
	}
	if raw, ok := body["tags"].([]any); ok {
		d.Tags = d.Tags[:0:0]
		for _, t := range raw {
			d.Tags = append(d.Tags, fmt.Sprint(t))
		}
	}
	d.Updated = s.now()
	return jsonAnswer(http.StatusOK, deviceJSON(d))
}

func (s *Server) action(id string, body map[string]any) answer {
	d := s.devices[id]
	if d == nil {
		return errorAnswer(http.StatusNotFound, "device %s not found", id)
	}
	switch body["type"] {
	case "reinstall":
		if osSlug, ok := body["operating_system"].(string); ok && osSlug != "" {
			d.OS = osSlug
		}
		d.State = "reinstalling"
		d.Reinstalls++
	case "power_off":
		d.State = "inactive"
	case "power_on", "reboot":
		d.State = "active"
	default:
		return errorAnswer(http.StatusUnprocessableEntity, "the fake does not perform %v", body["type"])
	}
	d.Updated = s.now()
	return answer{status: http.StatusAccepted, header: http.Header{}}
}

// Settle moves every device that is queued, provisioning or reinstalling to
// active, as the provisioner would.
func (s *Server) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		switch d.State {
		case "queued", "provisioning", "reinstalling":
			d.State = "active"
		}
	}
}

// uuid makes a deterministic, well-formed UUID from a kind and a number.
func uuid(kind, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, n)
}

// addresses gives the n-th device a public IPv4, a private IPv4 and a public
// IPv6 address, as Metal does by default.
func addresses(n int) []IP {
	pub := netip.AddrFrom4([4]byte{147, 75, byte(n >> 8), byte(n)})
	priv := netip.AddrFrom4([4]byte{10, 88, byte(n >> 8), byte(n)})
	v6 := netip.AddrFrom16([16]byte{0x26, 0x04, 0x13, 0x80, 0, 0, 0, 1, 14: byte(n >> 8), 15: byte(n)})
	return []IP{{Addr: pub, Public: true}, {Addr: priv}, {Addr: v6, Public: true}}
}

// deviceJSON renders a device the way the Metal API does (a subset of the
// Device schema's properties).
func deviceJSON(d *Device) map[string]any {
	tags := slices.Clone(d.Tags)
	if tags == nil {
		tags = []string{}
	}
	sort.Strings(tags)
	ips := make([]any, 0, len(d.IPs))
	for i, ip := range d.IPs {
		family, cidr := 4, 31
		if ip.Addr.Is6() {
			family, cidr = 6, 127
		}
		ipID := fmt.Sprintf("%08x", 0x30+i) + d.ID[8:]
		ips = append(ips, map[string]any{
			"id":             ipID,
			"href":           "/metal/v1/ips/" + ipID,
			"address":        ip.Addr.String(),
			"address_family": family,
			"public":         ip.Public,
			"management":     true,
			"manageable":     true,
			"cidr":           cidr,
			"network":        ip.Addr.String(),
			"assigned_to":    map[string]any{"href": "/metal/v1/devices/" + d.ID},
		})
	}
	return map[string]any{
		"id":            d.ID,
		"href":          "/metal/v1/devices/" + d.ID,
		"short_id":      d.ID[len(d.ID)-8:],
		"hostname":      d.Hostname,
		"state":         d.State,
		"tags":          tags,
		"userdata":      d.Userdata,
		"created_at":    d.Created.Format(time.RFC3339),
		"updated_at":    d.Updated.Format(time.RFC3339),
		"billing_cycle": "hourly",
		"locked":        false,
		"plan":          map[string]any{"id": uuid(4, 1), "slug": d.Plan, "name": d.Plan},
		"metro":         map[string]any{"id": uuid(5, 1), "code": d.Metro, "name": strings.ToUpper(d.Metro)},
		"facility":      map[string]any{"id": uuid(6, 1), "code": d.Metro + "11", "name": strings.ToUpper(d.Metro) + "11"},
		"operating_system": map[string]any{
			"id": uuid(7, 1), "slug": d.OS, "name": d.OS, "distro": strings.SplitN(d.OS, "_", 2)[0],
		},
		"project":      map[string]any{"href": "/metal/v1/projects/" + d.Project},
		"ip_addresses": ips,
		"ssh_keys":     []any{},
		"volumes":      []any{},
	}
}

// Start runs a fake for a test or benchmark with the projects made, closes
// it when the test ends and fails the test for every request or response
// that broke the Metal spec.
func Start(tb testing.TB, token string, projects ...string) *Server {
	tb.Helper()
	s, err := New(token)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range projects {
		s.AddProject(p)
	}
	tb.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			tb.Errorf("Metal spec violation: %s", v)
		}
	})
	return s
}
