package e2e

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/faultproxy"
	"github.com/dashtam/dashtam/test/redistest"
)

// Two instances of the binary share one Redis: five login attempts spread over
// both exhaust the login limit, and the sixth is 429 on either instance, with
// Retry-After.
func TestLoginLimitSharedAcrossInstancesViaRedis(t *testing.T) {
	t.Parallel()
	env := merged(sharedKeys(), map[string]string{
		"REDIS_URL":         redistest.URL(t),
		"RATE_LIMIT_PREFIX": redistest.Prefix(t),
		"RATE_LIMIT_AUTH":   "5-M",
	})
	a, b := startInstance(t, env), startInstance(t, env)
	login := map[string]any{"email": "nobody@example.com", "password": "not the password"}
	for i := range 5 {
		in := []*Instance{a, b}[i%2]
		status, hdr, _ := in.do(t, "POST", "/api/v1/sessions", login, "")
		if status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, status)
		}
		if got := hdr.Get("X-RateLimit-Remaining"); got != strconv.Itoa(4-i) {
			t.Errorf("attempt %d: X-RateLimit-Remaining %q, want %d", i+1, got, 4-i)
		}
	}
	for name, in := range map[string]*Instance{"A": a, "B": b} {
		status, hdr, body := in.do(t, "POST", "/api/v1/sessions", login, "")
		if status != http.StatusTooManyRequests || body["code"] != "RATE_LIMITED" {
			t.Fatalf("sixth attempt on %s: %d %v", name, status, body)
		}
		retry, err := strconv.Atoi(hdr.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 61 { // a 1-minute window, rounded up to whole seconds
			t.Errorf("sixth attempt on %s: Retry-After %q", name, hdr.Get("Retry-After"))
		}
	}
}

// Redis stopped under a running instance gives the documented behaviour: the
// authentication tier fails closed (503 with Retry-After), reads and writes go on
// unlimited, /api/health reports the store down, /readyz stays 200 (the instance
// stays in rotation), nothing crashes, and all is back to normal once Redis
// returns, without a restart.
func TestRedisOutageRateLimitPolicy(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	in := startInstance(t, merged(sharedKeys(), map[string]string{
		"REDIS_URL":         u.String(),
		"RATE_LIMIT_PREFIX": redistest.Prefix(t),
		"RATE_LIMIT_AUTH":   "1000-M", "RATE_LIMIT_READ": "1000-M", "RATE_LIMIT_WRITE": "1000-M",
	}))
	login := map[string]any{"email": "nobody@example.com", "password": "not the password"}
	in.expect(t, http.StatusUnauthorized, "POST", "/api/v1/sessions", login, "")

	proxy.Cut()
	waitUntil(t, 10*time.Second, "the auth tier to fail closed", func() bool {
		status, _, _ := in.do(t, "POST", "/api/v1/sessions", login, "")
		return status == http.StatusServiceUnavailable
	})
	hdr, body := in.expect(t, http.StatusServiceUnavailable, "POST", "/api/v1/sessions", login, "")
	if hdr.Get("Retry-After") == "" || body["code"] != "SERVICE_UNAVAILABLE" {
		t.Errorf("auth tier during the outage: %v %v", hdr, body)
	}
	in.expect(t, http.StatusOK, "GET", "/api/v1/provider-types", nil, "")
	in.expect(t, http.StatusOK, "GET", "/readyz", nil, "")
	_, health := in.expect(t, http.StatusOK, "GET", "/api/health", nil, "")
	if services, _ := health["services"].(map[string]any); services["rate_limit_store"] != "down" {
		t.Errorf("health during the outage: %v", health)
	}

	proxy.Restore()
	waitUntil(t, 15*time.Second, "logins to work again", func() bool {
		status, _, _ := in.do(t, "POST", "/api/v1/sessions", login, "")
		return status == http.StatusUnauthorized
	})
	if in.Exited() {
		t.Fatal("the instance died during the Redis outage")
	}
}
