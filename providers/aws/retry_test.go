package aws

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// TestPushRetriesThrottling: EC2 answers "RequestLimitExceeded" (HTTP 503)
// to the first call of a read and of a write, before moto sees them; push
// retries both with backoff and ends as a push without throttling would,
// with each change made once.
func TestPushRetriesThrottling(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	throttle := map[string]int{"DescribeSecurityGroups": 1, "AuthorizeSecurityGroupIngress": 1}
	throttled := 0
	throughProxy(t, e, func(action string, w http.ResponseWriter, r *http.Request, proxy http.Handler) bool {
		mu.Lock()
		hit := throttle[action] > 0
		if hit {
			throttle[action]--
			throttled++
		}
		mu.Unlock()
		if hit {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>throttled</RequestID></Response>`)
		}
		return hit
	})
	s := e.spec()
	plan, done := e.push(s, e.machinesOf(s))
	if throttled != 2 {
		t.Fatalf("%d calls throttled, want 2", throttled)
	}
	if len(done) != len(plan.Changes) {
		t.Errorf("planned %d, made %d", len(plan.Changes), len(done))
	}
	rules := readBack(t, e.describedGroups(), "dcos-aws")
	for name, want := range dcosAWSGroups {
		if got := ruleStrings(rules[name]); len(got) != len(want) {
			t.Errorf("%s: %d rules after a throttled push, want %d", name, len(got), len(want))
		}
	}
	e.calls.Reset()
	if plan, _ := e.push(s, e.machinesOf(s)); len(plan.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("second push: %v", plan.Changes)
	}
}

// TestPushLostAnswers: the first CreateSecurityGroup and CreateLaunchTemplate
// reach moto and are made, but their answers are lost (the connection is
// cut); the SDK retries them, AWS (here moto, which ignores ClientToken)
// says the name is taken, and push recognises its own group and template
// instead of failing. A second push changes nothing.
func TestPushLostAnswers(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	lose := map[string]int{"CreateSecurityGroup": 1, "CreateLaunchTemplate": 1}
	lost := 0
	throughProxy(t, e, func(action string, w http.ResponseWriter, r *http.Request, proxy http.Handler) bool {
		mu.Lock()
		hit := lose[action] > 0
		if hit {
			lose[action]--
			lost++
		}
		mu.Unlock()
		if !hit {
			return false
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r) // made at moto...
		if rec.Code != http.StatusOK {
			t.Errorf("%s through the proxy: %d %s", action, rec.Code, rec.Body)
		}
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil { // ...and the answer lost
			conn.Close()
		}
		return true
	})
	s := e.spec()
	plan, done := e.push(s, e.machinesOf(s))
	if lost != 2 {
		t.Fatalf("%d answers lost, want 2", lost)
	}
	if len(done) != len(plan.Changes) {
		t.Errorf("planned %d, made %d", len(plan.Changes), len(done))
	}
	e.calls.Reset()
	if plan, _ := e.push(s, e.machinesOf(s)); len(plan.Changes) != 0 || len(e.calls.Mutating()) != 0 {
		t.Errorf("second push: %v", plan.Changes)
	}
}

// throughProxy points e's client at a proxy in front of moto that offers
// every call to intercept first (by its EC2 Action): a call intercept does
// not answer itself goes on to moto.
func throughProxy(t *testing.T, e *env, intercept func(action string, w http.ResponseWriter, r *http.Request, proxy http.Handler) bool) {
	t.Helper()
	target, err := url.Parse(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(body))
		if !intercept(form.Get("Action"), w, r2, proxy) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	client, err := NewClient(e.ctx, "us-east-1", e.calls.Option)
	if err != nil {
		t.Fatal(err)
	}
	e.client = client
}
