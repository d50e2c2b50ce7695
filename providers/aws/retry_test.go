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
	target, err := url.Parse(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	throttle := map[string]int{"DescribeSecurityGroups": 1, "AuthorizeSecurityGroupIngress": 1}
	throttled := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		action := form.Get("Action")
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
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	client, err := NewClient(e.ctx, "us-east-1", e.calls.Option)
	if err != nil {
		t.Fatal(err)
	}
	e.client = client
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
