// Package packet reconciles Packet (Equinix Metal) devices with rampart's
// userdata, through github.com/packethost/packngo: it matches devices to the
// spec's nodes by hostname in one project, puts the desired userdata (and
// rampart's tags) where they differ, creates missing devices when asked,
// reinstalls one device so that Ignition runs again, and reads a project's
// devices back as the spec's nodes section.
//
// Equinix Metal was shut down on 2026-06-30 and packngo is archived; the
// adapter keeps the Metal API contract (checked in the tests against the
// OpenAPI spec of github.com/equinix/equinix-sdk-go) so that it works
// against any server that speaks it.
//
// Every call is retried with backoff on 429 (honouring Retry-After) and on
// 5xx answers; changes run with bounded concurrency.
package packet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/packethost/packngo"
)

// Environment variables the client reads. Credentials never come from the
// spec.
const (
	EnvAuthToken  = "PACKET_AUTH_TOKEN" // packngo's own name for the API token
	EnvMetalToken = "METAL_AUTH_TOKEN"  // Equinix Metal's name for it, used when PACKET_AUTH_TOKEN is unset
	EnvAPIURL     = "PACKET_API_URL"    // another base URL, as packngo's own tests use it
)

// DefaultAPIURL is the Metal API's base URL.
const DefaultAPIURL = "https://api.equinix.com/metal/v1/"

// consumerToken is what packngo sends as X-Consumer-Token.
const consumerToken = "rampart"

// ErrNoToken is returned when neither token variable is set.
var ErrNoToken = errors.New("no Packet API token: set " + EnvAuthToken + " or " + EnvMetalToken)

// Defaults of a Client.
const (
	DefaultConcurrency = 10
	DefaultPerPage     = 100
)

// Client talks to the Metal API with retries and bounded concurrency.
type Client struct {
	// packngo's Client records the rate-limit headers of every answer in a
	// field, so one is not safe for concurrent use: each call borrows its
	// own from the pool.
	apis sync.Pool
	api  *packngo.Client // the first one, for its settings
	// Concurrency is how many calls run at once (DefaultConcurrency when 0).
	Concurrency int
	// PerPage is the page size of device lists (DefaultPerPage when 0; the
	// spec allows 1 to 1000).
	PerPage int
	// Retry says when and how long to wait before trying a call again.
	Retry RetryPolicy
	// OnRetry, when set, hears about every retry (for progress output).
	OnRetry func(r RetryNote)

	// A 429's Retry-After speaks for the whole account: no call of this
	// client starts before throttledUntil.
	throttleMu     sync.Mutex
	throttledUntil time.Time
}

// RetryNote describes a call about to be tried again.
type RetryNote struct {
	What    string        // e.g. "create agent-1"
	Attempt int           // the attempt that failed, from 1
	Wait    time.Duration // how long until the next attempt
	Reason  string        // e.g. "429 Too Many Requests"
}

// RetryPolicy bounds retries: exponential backoff with jitter from Base,
// capped at Max, for at most Attempts tries; a 429's Retry-After is honoured
// up to MaxRetryAfter, beyond which the call fails.
type RetryPolicy struct {
	Attempts      int           // most tries of one call, the first included (below 1 counts as 1)
	Base          time.Duration // backoff before the second try; doubled for each later one, then jittered
	Max           time.Duration // cap on a backoff wait
	MaxRetryAfter time.Duration // longest Retry-After waited for; a 429 asking for more fails the call
}

// DefaultRetry is the policy of a new Client.
var DefaultRetry = RetryPolicy{Attempts: 6, Base: 250 * time.Millisecond, Max: 20 * time.Second, MaxRetryAfter: 5 * time.Minute}

// NewClient makes a client from the environment as getenv reads it: the
// token from PACKET_AUTH_TOKEN or else METAL_AUTH_TOKEN, the base URL from
// PACKET_API_URL or else the Metal API's. hc may be nil.
func NewClient(getenv func(string) string, hc *http.Client) (*Client, error) {
	token := getenv(EnvAuthToken)
	if token == "" {
		token = getenv(EnvMetalToken)
	}
	if token == "" {
		return nil, ErrNoToken
	}
	base := getenv(EnvAPIURL)
	if base == "" {
		base = DefaultAPIURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q is not an http or https URL", EnvAPIURL, base)
	}
	// packngo resolves paths relative to the base: without a trailing slash
	// its last segment (/metal/v1 → /metal/) would be dropped.
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = maxIdlePerHost
		hc = &http.Client{Timeout: 2 * time.Minute, Transport: keepAlive{t}}
	}
	opts := []packngo.ClientOpt{packngo.WithAuth(consumerToken, token), packngo.WithBaseURL(u.String()), packngo.WithHTTPClient(hc)}
	api, err := packngo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	c := &Client{api: api, Retry: DefaultRetry}
	c.apis.New = func() any {
		a, _ := packngo.NewClient(opts...) // the same options succeeded above
		return a
	}
	c.apis.Put(api)
	return c, nil
}

// maxIdlePerHost is how many connections to the API are kept open for
// reuse: enough for a concurrency of 64.
const maxIdlePerHost = 64

// keepAlive undoes packngo's `req.Close = true`, which would open (and, over
// TLS, handshake) a new connection for every call: the request is cloned
// with Close unset, so connections are reused.
type keepAlive struct{ next http.RoundTripper }

// RoundTrip sends a copy of req that lets the connection be reused.
func (k keepAlive) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Close {
		req = req.Clone(req.Context())
		req.Close = false
	}
	return k.next.RoundTrip(req)
}

func (c *Client) concurrency() int {
	if c.Concurrency > 0 {
		return c.Concurrency
	}
	return DefaultConcurrency
}

func (c *Client) perPage() int {
	if c.PerPage > 0 {
		return min(c.PerPage, 1000)
	}
	return DefaultPerPage
}

// APIError is a call that failed for good: after its retries, or at once
// for an answer that retrying cannot change.
type APIError struct {
	What     string // e.g. "create agent-1"
	Status   int    // HTTP status, 0 when no answer came
	Attempts int    // tries made; 0 when the context ended before the first
	Err      error  // the last try's error, or the context's
}

// Error says which call failed, why, and after how many attempts.
func (e *APIError) Error() string {
	tries := ""
	if e.Attempts > 1 {
		tries = fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return fmt.Sprintf("%s: %v%s", e.What, e.Err, tries)
}

// Unwrap gives the last attempt's error.
func (e *APIError) Unwrap() error { return e.Err }

type retryHookKey struct{}

// withRetryHook makes the calls made with ctx report their retries to hook
// instead of Client.OnRetry.
func withRetryHook(ctx context.Context, hook func(RetryNote)) context.Context {
	return context.WithValue(ctx, retryHookKey{}, hook)
}

// recheck is asked, before a call that may have taken effect is repeated,
// whether it did; done stops the retries with success.
type recheck func() (done bool, err error)

// call runs fn until it succeeds, fails for good or runs out of attempts.
// Calls that are not idempotent pass a recheck: it runs before each retry
// that follows an answer the change may have survived (5xx, no answer).
func (c *Client) call(ctx context.Context, what string, check recheck, fn func(api *packngo.Client) (*packngo.Response, error)) error {
	p := c.Retry
	if p.Attempts < 1 {
		p.Attempts = 1
	}
	for attempt := 1; ; attempt++ {
		if err := c.waitThrottle(ctx); err != nil {
			return &APIError{What: what, Attempts: attempt - 1, Err: err}
		}
		api := c.apis.Get().(*packngo.Client)
		resp, err := fn(api)
		c.apis.Put(api)
		if err == nil {
			return nil
		}
		status := 0
		if resp != nil && resp.Response != nil {
			status = resp.StatusCode
		}
		var er *packngo.ErrorResponse
		answered := errors.As(err, &er) || status != 0
		wait, reason, retry := p.next(attempt, status, resp, answered)
		if retry && status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
			c.throttle(time.Now().Add(wait))
		}
		if !retry || attempt >= p.Attempts {
			if reason != "" && !retry {
				err = fmt.Errorf("%w: %s", err, reason)
			}
			return &APIError{What: what, Status: status, Attempts: attempt, Err: err}
		}
		note := RetryNote{What: what, Attempt: attempt, Wait: wait, Reason: reason}
		if hook, ok := ctx.Value(retryHookKey{}).(func(RetryNote)); ok {
			hook(note)
		} else if c.OnRetry != nil {
			c.OnRetry(note)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &APIError{What: what, Status: status, Attempts: attempt, Err: ctx.Err()}
		case <-t.C:
		}
		if check != nil && status != http.StatusTooManyRequests {
			done, cerr := check()
			if cerr != nil {
				return &APIError{What: what, Status: status, Attempts: attempt, Err: fmt.Errorf("%w; checking whether it took effect: %v", err, cerr)}
			}
			if done {
				return nil
			}
		}
	}
}

// throttle holds every call of the client until t.
func (c *Client) throttle(t time.Time) {
	c.throttleMu.Lock()
	defer c.throttleMu.Unlock()
	if t.After(c.throttledUntil) {
		c.throttledUntil = t
	}
}

// waitThrottle waits until the client may call the API again, or ctx ends.
func (c *Client) waitThrottle(ctx context.Context) error {
	for {
		c.throttleMu.Lock()
		wait := time.Until(c.throttledUntil)
		c.throttleMu.Unlock()
		if wait <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// next decides whether a failed attempt is retried and after how long.
func (p RetryPolicy) next(attempt, status int, resp *packngo.Response, answered bool) (time.Duration, string, bool) {
	switch {
	case status == http.StatusTooManyRequests:
		reason := "429 Too Many Requests"
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			d, ok := parseRetryAfter(ra, time.Now())
			if !ok {
				return p.backoff(attempt), reason + " with an unreadable Retry-After " + strconv.Quote(ra), true
			}
			if d > p.MaxRetryAfter {
				return 0, fmt.Sprintf("the API asks to wait %s (Retry-After), more than the %s rampart waits", d, p.MaxRetryAfter), false
			}
			return d, fmt.Sprintf("%s, Retry-After %s", reason, d), true
		}
		return p.backoff(attempt), reason, true
	case status >= 500:
		return p.backoff(attempt), fmt.Sprintf("%d %s", status, http.StatusText(status)), true
	case !answered:
		return p.backoff(attempt), "no answer", true
	}
	return 0, "", false
}

// backoff is the wait before attempt+1: Base·2^(attempt-1), capped at Max,
// the upper half of it jittered so that parallel callers spread out.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, t.Sub(now)), true
}
