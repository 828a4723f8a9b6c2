package httpapi_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/redistest"
)

// The guards through the real router, every answer checked against the OpenAPI
// document by the harness: rate-limit headers and the 429 on the real login,
// an idempotent registration, /metrics, CORS and the rate-limit store's health.

func TestGuardsThroughTheRouter(t *testing.T) {
	t.Parallel()
	// The harness's requests come from 192.0.2.1; trusting it as a proxy lets
	// each subtest be its own client through X-Forwarded-For.
	h := apitest.New(t, apitest.Options{Env: map[string]string{
		"RATE_LIMIT_AUTH": "3-M", "ALLOWED_ORIGINS": "https://app.example.com", "TRUSTED_PROXIES": "192.0.2.1",
	}})
	from := func(ip string, header map[string]string) map[string]string {
		out := map[string]string{"X-Forwarded-For": ip}
		for k, v := range header {
			out[k] = v
		}
		return out
	}

	t.Run("registration is idempotent and replayed", func(t *testing.T) {
		body := map[string]any{"email": "idem@example.com", "password": pw, "name": "Ann"}
		key := from("198.51.100.1", map[string]string{"Idempotency-Key": "0193a5b0-7c1e-7000-8000-00000000000a"})
		first := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: body, Header: key}).Expect(t, http.StatusCreated)
		second := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: body, Header: key}).Expect(t, http.StatusCreated)
		if string(second.Body) != string(first.Body) || second.Header.Get("Idempotency-Replay") != "true" ||
			second.Header.Get("Location") != first.Header.Get("Location") {
			t.Errorf("replay %s %v", second.Body, second.Header)
		}
		if n := len(h.Mail.Await(t, "idem@example.com", 1)); n != 1 {
			t.Errorf("%d verification emails, want 1", n)
		}
		bad := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: body, Header: from("198.51.100.1", map[string]string{"Idempotency-Key": strings.Repeat("k", 256)})})
		bad.Expect(t, http.StatusUnprocessableEntity)
		if p := bad.Problem(t); len(p.Errors) == 0 || p.Errors[0].Field != "Idempotency-Key" {
			t.Errorf("problem %+v", p)
		}
	})

	t.Run("logins share one budget per account, with headers the document describes", func(t *testing.T) {
		reg := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "limited@example.com", "password": pw, "name": "Ann"},
			Header: from("198.51.100.2", nil)}).Expect(t, http.StatusCreated)
		if got := reg.Header.Get("X-RateLimit-Remaining"); got != "2" {
			t.Errorf("registration: X-RateLimit-Remaining %q", got)
		}
		// Logins have a budget per account of their own (hardening item 10), from
		// three clients.
		for i := range 3 {
			res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "limited@example.com", "password": "wrong password"},
				Header: from(fmt.Sprintf("203.0.113.%d", 10+i), nil)})
			res.Expect(t, http.StatusUnauthorized)
			if got := res.Header.Get("X-RateLimit-Remaining"); got != fmt.Sprint(2-i) {
				t.Errorf("try %d: X-RateLimit-Remaining %q", i+1, got)
			}
		}
		// Another client, the same email: refused, even with the right password.
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "limited@example.com", "password": pw},
			Header: from("203.0.113.2", nil)})
		res.Expect(t, http.StatusTooManyRequests)
		if res.Problem(t).Code != "RATE_LIMITED" || res.Header.Get("Retry-After") == "" || res.Header.Get("X-RateLimit-Limit") != "3" {
			t.Errorf("429: %s %v", res.Body, res.Header)
		}
	})

	t.Run("metrics count the requests above", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "GET", Path: "/metrics"}).Expect(t, http.StatusOK)
		for _, want := range []string{`http_requests_total{method="POST",route="/api/v1/sessions",status="429"} 1`, `rate_limit_rejections_total{tier="auth"} 1`, "go_goroutines"} {
			if !strings.Contains(string(res.Body), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if res.Header.Get("X-RateLimit-Limit") != "" {
			t.Error("/metrics is rate limited")
		}
	})

	t.Run("CORS preflight and actual request", func(t *testing.T) {
		// A preflight matches no documented operation, so it goes to the handler
		// directly rather than through the harness's document check.
		r := httptest.NewRequest("OPTIONS", "/api/v1/providers", nil)
		r.Header.Set("Origin", "https://app.example.com")
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := httptest.NewRecorder()
		h.App.Handler.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("preflight: %d %v", w.Code, w.Header())
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/provider-types", Header: map[string]string{"Origin": "https://app.example.com"}}).Expect(t, http.StatusOK)
		if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "X-RateLimit-Remaining") {
			t.Errorf("actual request: %v", res.Header)
		}
	})

	t.Run("health reports the memory store", func(t *testing.T) {
		var health struct {
			Services map[string]string `json:"services"`
		}
		h.Do(apitest.Request{Method: "GET", Path: "/api/health"}).Expect(t, http.StatusOK).JSON(t, &health)
		if health.Services["rate_limit_store"] != "memory" {
			t.Errorf("services %v", health.Services)
		}
	})
}

// With Redis down, /api/health says so but stays 200 (the store is not
// required), reads are served, and login fails closed with 503.
func TestGuardsWithRedisDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"REDIS_URL": "redis://" + addr + "/0"}})
	var health struct {
		Services map[string]string `json:"services"`
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/health"}).Expect(t, http.StatusOK).JSON(t, &health)
	if health.Services["rate_limit_store"] != "down" {
		t.Errorf("services %v", health.Services)
	}
	h.Do(apitest.Request{Method: "GET", Path: "/readyz"}).Expect(t, http.StatusOK)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/provider-types"}).Expect(t, http.StatusOK)
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "a@example.com", "password": pw}})
	res.Expect(t, http.StatusServiceUnavailable)
	if res.Problem(t).Code != "SERVICE_UNAVAILABLE" || res.Header.Get("Retry-After") == "" {
		t.Errorf("503: %s %v", res.Body, res.Header)
	}
}

// Two instances sharing one Redis share one budget.
func TestRateLimitSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	// Counters outlive a run in the shared Redis: this run's client and email are
	// fresh (the client address through a trusted X-Forwarded-For).
	env := map[string]string{"REDIS_URL": redistest.URL(t), "RATE_LIMIT_AUTH": "2-M", "TRUSTED_PROXIES": "192.0.2.1"}
	a := apitest.New(t, apitest.Options{Env: env})
	b := apitest.New(t, apitest.Options{Env: env})
	run := redistest.Prefix(t)[len("dashtam-test:"):]
	email := run + "@example.com"
	client := fmt.Sprintf("2001:db8:%s:%s::1", run[:4], run[4:8]) // the run's own /64
	login := func(h *apitest.Harness) *apitest.Response {
		return h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": email, "password": pw},
			Header: map[string]string{"X-Forwarded-For": client}})
	}
	login(a).Expect(t, http.StatusUnauthorized)
	login(b).Expect(t, http.StatusUnauthorized)
	login(a).Expect(t, http.StatusTooManyRequests)
	var health struct {
		Services map[string]string `json:"services"`
	}
	b.Do(apitest.Request{Method: "GET", Path: "/api/health"}).Expect(t, http.StatusOK).JSON(t, &health)
	if health.Services["rate_limit_store"] != "up" {
		t.Errorf("services %v", health.Services)
	}
}

// Hardening item 20: an IPv6 client is counted by its /64 (a host routinely
// holds a whole one), so rotating the low 64 bits earns no fresh limit; the
// next /64 is another client. IPv4 addresses count one by one.
func TestRateLimitCountsIPv6ByItsSlash64(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"RATE_LIMIT_READ": "2-M", "TRUSTED_PROXIES": "192.0.2.1"}})
	get := func(client string) int {
		return h.Do(apitest.Request{Method: "GET", Path: "/api/v1/provider-types",
			Header: map[string]string{"X-Forwarded-For": client}}).Status
	}
	for i, client := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if got := get(client); got != http.StatusOK {
			t.Fatalf("request %d from %s: %d, want 200", i+1, client, got)
		}
	}
	if got := get("2001:db8:1:2:abcd::1"); got != http.StatusTooManyRequests {
		t.Errorf("a third address of the same /64: %d, want 429", got)
	}
	if got := get("2001:db8:1:3::1"); got != http.StatusOK {
		t.Errorf("the next /64: %d, want 200", got)
	}
	for i, client := range []string{"198.51.100.7", "198.51.100.8", "198.51.100.9"} {
		if got := get(client); got != http.StatusOK {
			t.Errorf("IPv4 client %d: %d, want 200 (each address is its own client)", i+1, got)
		}
	}
}
