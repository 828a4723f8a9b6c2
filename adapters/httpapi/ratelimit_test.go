package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/adapters/ratelimit"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/redistest"
)

const maxBody = 256 << 10

// rateEngine is a router with the rate limiter after (fake) authentication, and
// handlers for one operation of each tier plus an operational endpoint. Each
// handler echoes the request body, proving the limiter left it intact.
func rateEngine(t *testing.T, l httpapi.RateLimiter, log *slog.Logger, trusted ...string) *gin.Engine {
	t.Helper()
	r := newEngine(t, log, trusted, fakeAuth(), httpapi.RateLimitMiddleware(l, log, maxBody, nil))
	echo := func(status int) gin.HandlerFunc {
		return func(c *gin.Context) {
			b, _ := io.ReadAll(c.Request.Body)
			c.Data(status, "application/json", b)
		}
	}
	r.POST("/api/v1/sessions", echo(http.StatusCreated))
	r.POST("/api/v1/users", echo(http.StatusCreated))
	r.POST("/api/v1/password-reset-requests", echo(http.StatusAccepted))
	r.POST("/api/v1/email-verification-requests", echo(http.StatusAccepted))
	r.GET("/api/v1/users/me", echo(http.StatusOK))
	r.PATCH("/api/v1/users/me", echo(http.StatusOK))
	r.GET("/api/health", echo(http.StatusOK))
	r.GET("/healthz", echo(http.StatusOK))
	r.GET("/metrics", echo(http.StatusOK))
	return r
}

// limiterBackends runs a test against the memory store and a real Redis
// (TEST_REDIS_URL; skipped without it, failing under CI=true), every tier at rate.
func limiterBackends(t *testing.T, rate string, run func(t *testing.T, l httpapi.RateLimiter)) {
	tiers := map[string]string{httpapi.TierAuth: rate, httpapi.TierRead: rate, httpapi.TierWrite: rate}
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		run(t, newLimiters(t, ratelimit.Config{Tiers: tiers}))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		run(t, newLimiters(t, ratelimit.Config{Tiers: tiers, RedisURL: redistest.URL(t), Prefix: redistest.Prefix(t)}))
	})
}

func newLimiters(t *testing.T, cfg ratelimit.Config) *ratelimit.Limiters {
	t.Helper()
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Each tier allows exactly its limit, counting X-RateLimit-Remaining down, then
// answers 429 with Retry-After and a problem body, and allows again once the
// window is over.
func TestRateLimitTiersAreExactAtTheBoundary(t *testing.T) {
	t.Parallel()
	limiterBackends(t, "3-S", func(t *testing.T, l httpapi.RateLimiter) {
		log, _ := newLog()
		h := rateEngine(t, l, log)
		tiers := map[string]func(n int) req{
			"auth (per IP and email)": func(n int) req {
				return req{method: "POST", path: "/api/v1/sessions", body: fmt.Sprintf(`{"email":"ann%d@example.com","password":"pw"}`, n),
					remoteAddr: fmt.Sprintf("198.51.100.%d:1000", n+1)}
			},
			"read (per user)": func(n int) req {
				return req{method: "GET", path: "/api/v1/users/me", header: map[string]string{headerTestUser: testUser(n)}}
			},
			"write (per user)": func(n int) req {
				return req{method: "PATCH", path: "/api/v1/users/me", body: `{"name":"Ann"}`, header: map[string]string{headerTestUser: testUser(n)}}
			},
			"read (per IP when anonymous)": func(n int) req {
				return req{method: "GET", path: "/api/v1/users/me", remoteAddr: fmt.Sprintf("203.0.113.%d:1000", n+1)}
			},
		}
		for name, mk := range tiers {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				res, rq := fourInOneWindow(t, h, mk)
				for i, w := range res[:3] {
					if w.Code >= 400 {
						t.Fatalf("request %d: %d %s", i+1, w.Code, w.Body)
					}
					checkRateHeaders(t, w, 3, int64(2-i), time.Second)
					if w.Header().Get("Retry-After") != "" {
						t.Errorf("request %d has Retry-After", i+1)
					}
					if rq.body != "" && w.Body.String() != rq.body {
						t.Errorf("handler got body %q, want %q", w.Body, rq.body)
					}
				}
				refused := res[3]
				problemOf(t, refused, http.StatusTooManyRequests, "RATE_LIMITED")
				checkRateHeaders(t, refused, 3, 0, time.Second)
				retry, err := strconv.Atoi(refused.Header().Get("Retry-After"))
				if err != nil || retry < 1 || retry > 2 {
					t.Errorf("Retry-After %q, want 1 or 2 seconds", refused.Header().Get("Retry-After"))
				}

				reset := resetOf(t, refused)
				time.Sleep(time.Until(reset) + 20*time.Millisecond)
				again := do(h, rq)
				if again.Code >= 400 {
					t.Fatalf("after the window: %d %s", again.Code, again.Body)
				}
				checkRateHeaders(t, again, 3, 2, time.Second)
			})
		}
	})
}

// fourInOneWindow sends four identical requests made by mk, retrying with the
// next n (a fresh key) if a one-second window ended in the middle.
func fourInOneWindow(t *testing.T, h http.Handler, mk func(n int) req) ([]*httptest.ResponseRecorder, req) {
	t.Helper()
	for n := 0; n < 3; n++ {
		rq := mk(n)
		var res []*httptest.ResponseRecorder
		for range 4 {
			res = append(res, do(h, rq))
		}
		if res[0].Header().Get("X-RateLimit-Reset") == res[3].Header().Get("X-RateLimit-Reset") {
			return res, rq
		}
	}
	t.Fatal("the window kept ending in the middle of the test")
	return nil, req{}
}

func testUser(n int) string {
	return fmt.Sprintf("0193a5b0-0000-7000-8000-%012d", n+1)
}

// checkRateHeaders checks the rate-limit headers of a window of the given length.
func checkRateHeaders(t *testing.T, w *httptest.ResponseRecorder, limit, remaining int64, window time.Duration) {
	t.Helper()
	if got := w.Header().Get("X-RateLimit-Limit"); got != strconv.FormatInt(limit, 10) {
		t.Errorf("X-RateLimit-Limit %q, want %d", got, limit)
	}
	if got := w.Header().Get("X-RateLimit-Remaining"); got != strconv.FormatInt(remaining, 10) {
		t.Errorf("X-RateLimit-Remaining %q, want %d", got, remaining)
	}
	if reset := resetOf(t, w); reset.Before(time.Now().Add(-time.Second)) || reset.After(time.Now().Add(window+2*time.Second)) {
		t.Errorf("X-RateLimit-Reset %v is not within the %v window", reset, window)
	}
}

func resetOf(t *testing.T, w *httptest.ResponseRecorder) time.Time {
	t.Helper()
	sec, err := strconv.ParseInt(w.Header().Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		t.Fatalf("X-RateLimit-Reset %q is not Unix seconds", w.Header().Get("X-RateLimit-Reset"))
	}
	return time.Unix(sec, 0)
}

// Auth-tier requests count against the client IP and the email: a fourth try on
// one email is refused from a fresh IP, a fourth email from one IP too, and the
// headers always report the tighter of the two budgets.
func TestAuthTierLimitsPerIPAndPerEmail(t *testing.T) {
	t.Parallel()
	h := rateEngine(t, newLimiters(t, ratelimit.Config{Tiers: map[string]string{"auth": "3-M", "read": "3-M", "write": "3-M"}}), slog.New(slog.DiscardHandler))
	login := func(ip, email string) *httptest.ResponseRecorder {
		return do(h, req{method: "POST", path: "/api/v1/sessions", body: `{"email":"` + email + `","password":"pw"}`, remoteAddr: ip + ":5000"})
	}
	// Request 1: IP A has 2 left, email 1 has 2 left.
	checkRateHeaders(t, login("198.51.100.1", "one@example.com"), 3, 2, time.Minute)
	// Request 2: IP A has 1 left (tighter), email 2 has 2 left.
	checkRateHeaders(t, login("198.51.100.1", "two@example.com"), 3, 1, time.Minute)
	// Request 3: IP B has 2 left, email 1 has 1 left (tighter). Case and spaces do
	// not make another email.
	checkRateHeaders(t, login("198.51.100.2", "  ONE@Example.com "), 3, 1, time.Minute)
	// Email 1 gets its third and last try from IP C, then none from IP D.
	checkRateHeaders(t, login("198.51.100.3", "one@example.com"), 3, 0, time.Minute)
	problemOf(t, login("198.51.100.4", "one@example.com"), http.StatusTooManyRequests, "RATE_LIMITED")
	// IP A gets its last try with a third email, then none with a fourth.
	checkRateHeaders(t, login("198.51.100.1", "three@example.com"), 3, 0, time.Minute)
	problemOf(t, login("198.51.100.1", "four@example.com"), http.StatusTooManyRequests, "RATE_LIMITED")

	// Registration and password-reset requests are in the same tier, with a
	// per-email budget of their own: the logins spent the account's login
	// budget, not theirs (hardening item 10), and they share theirs.
	for i, path := range []string{"/api/v1/users", "/api/v1/password-reset-requests", "/api/v1/password-reset-requests"} {
		w := do(h, req{method: "POST", path: path, body: `{"email":"one@example.com"}`, remoteAddr: fmt.Sprintf("198.51.100.%d:1", 5+i)})
		checkRateHeaders(t, w, 3, int64(2-i), time.Minute)
	}
	w := do(h, req{method: "POST", path: "/api/v1/users", body: `{"email":"one@example.com","password":"pw","name":"x"}`, remoteAddr: "198.51.100.9:1"})
	problemOf(t, w, http.StatusTooManyRequests, "RATE_LIMITED")
}

// Read and write budgets are separate, and per user: two users behind one IP do
// not share one.
func TestReadWriteTiersArePerUser(t *testing.T) {
	t.Parallel()
	h := rateEngine(t, newLimiters(t, ratelimit.Config{Tiers: map[string]string{"auth": "2-M", "read": "2-M", "write": "2-M"}}), slog.New(slog.DiscardHandler))
	as := func(method, user string) *httptest.ResponseRecorder {
		rq := req{method: method, path: "/api/v1/users/me", header: map[string]string{headerTestUser: user}}
		if method == "PATCH" {
			rq.body = `{"name":"x"}`
		}
		return do(h, rq)
	}
	u1, u2 := testUser(1), testUser(2)
	as("GET", u1)
	as("GET", u1)
	problemOf(t, as("GET", u1), http.StatusTooManyRequests, "RATE_LIMITED")
	if w := as("PATCH", u1); w.Code != http.StatusOK {
		t.Errorf("write refused after reads: %d", w.Code)
	}
	if w := as("GET", u2); w.Code != http.StatusOK {
		t.Errorf("another user on the same IP refused: %d", w.Code)
	}
	// The verification resend (auth tier, no body) counts per user as well as per IP.
	resend := func(user, ip string) *httptest.ResponseRecorder {
		return do(h, req{method: "POST", path: "/api/v1/email-verification-requests", remoteAddr: ip + ":1", header: map[string]string{headerTestUser: user}})
	}
	resend(u1, "198.51.100.1")
	resend(u1, "198.51.100.2")
	problemOf(t, resend(u1, "198.51.100.3"), http.StatusTooManyRequests, "RATE_LIMITED")
}

// Operational endpoints are never limited and carry no rate-limit headers.
func TestOperationalEndpointsAreNotLimited(t *testing.T) {
	t.Parallel()
	rec := &recordingLimiter{}
	h := rateEngine(t, rec, slog.New(slog.DiscardHandler))
	for range 5 {
		for _, p := range []string{"/api/health", "/healthz", "/metrics"} {
			w := do(h, req{method: "GET", path: p})
			if w.Code != http.StatusOK || w.Header().Get("X-RateLimit-Limit") != "" {
				t.Fatalf("GET %s: %d, X-RateLimit-Limit %q", p, w.Code, w.Header().Get("X-RateLimit-Limit"))
			}
		}
	}
	if keys := rec.taken(); len(keys) != 0 {
		t.Errorf("operational requests were counted: %v", keys)
	}
	// An unknown path under /api/v1 is counted (scanning is not free).
	do(h, req{method: "GET", path: "/api/v1/nowhere"})
	if keys := rec.taken(); len(keys) != 1 || keys[0] != "read ip:192.0.2.10" {
		t.Errorf("unknown API path counted as %v", keys)
	}
}

// The key is the client IP as gin's ClientIP sees it: X-Forwarded-For (and
// X-Real-IP) are believed only from a trusted proxy, so a client cannot choose
// its own key. Emails are keyed by a hash, never stored in clear.
func TestRateLimitKeysCannotBeSpoofed(t *testing.T) {
	t.Parallel()
	spoofed := map[string]string{"X-Forwarded-For": "203.0.113.99", "X-Real-IP": "203.0.113.98"}
	cases := []struct {
		name    string
		trusted []string
		peer    string
		want    string
	}{
		{"no trusted proxy: the peer", nil, "198.51.100.7:1234", "ip:198.51.100.7"},
		{"peer is not a trusted proxy: the peer", []string{"10.0.0.0/8"}, "198.51.100.7:1234", "ip:198.51.100.7"},
		{"peer is a trusted proxy: the forwarded client", []string{"10.0.0.0/8"}, "10.1.2.3:1234", "ip:203.0.113.99"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingLimiter{}
			h := rateEngine(t, rec, slog.New(slog.DiscardHandler), tc.trusted...)
			do(h, req{method: "GET", path: "/api/v1/users/me", remoteAddr: tc.peer, header: spoofed})
			if keys := rec.taken(); len(keys) != 1 || keys[0] != "read "+tc.want {
				t.Errorf("keys %v, want [read %s]", keys, tc.want)
			}
		})
	}

	rec := &recordingLimiter{}
	h := rateEngine(t, rec, slog.New(slog.DiscardHandler))
	do(h, req{method: "POST", path: "/api/v1/password-reset-requests", body: `{"email":"Ann@Example.com"}`})
	do(h, req{method: "POST", path: "/api/v1/sessions", body: `{"email":"ann@example.com","password":"pw"}`})
	keys := rec.taken()
	emailKey := regexp.MustCompile(`^auth email:[0-9a-f]{32}$`)
	// The login counts against the account: the same hashed email, under a key
	// of its own (hardening item 10).
	if len(keys) != 4 || keys[0] != "auth ip:192.0.2.10" || !emailKey.MatchString(keys[1]) || keys[3] != strings.Replace(keys[1], "email:", "login:", 1) {
		t.Errorf("keys %v: want the IP and one hashed email key per request, the same for both spellings", keys)
	}
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), "ann") {
			t.Errorf("key %q carries the email in clear", k)
		}
	}
}

// The handler gets the whole body after the limiter looked for the email in it,
// also when it is larger than the limiter reads, or not JSON.
func TestRateLimitLeavesTheBodyIntact(t *testing.T) {
	t.Parallel()
	rec := &recordingLimiter{}
	log := slog.New(slog.DiscardHandler)
	r := newEngine(t, log, nil, httpapi.RateLimitMiddleware(rec, log, 64, nil))
	r.POST("/api/v1/users", func(c *gin.Context) {
		b, _ := io.ReadAll(c.Request.Body)
		c.Data(http.StatusCreated, "application/json", b)
	})
	for _, body := range []string{
		`{"email":"ann@example.com","password":"pw","name":"Ann"}`,
		`{"email":"ann@example.com","name":"` + strings.Repeat("a", 500) + `"}`, // over the 64-byte peek
		`not json at all`,
	} {
		w := do(r, req{method: "POST", path: "/api/v1/users", body: body})
		if w.Body.String() != body {
			t.Errorf("handler got %q, want %q", w.Body, body)
		}
	}
	keys := rec.taken()
	if len(keys) != 4 { // IP + email, then IP only twice
		t.Errorf("keys %v", keys)
	}
}

// With Redis down, auth requests fail closed (503 problem with Retry-After),
// read and write requests fail open (answered, without rate-limit headers), and
// the outage is logged once, not once per request. Nothing panics.
func TestRateLimitStoreDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	down := newLimiters(t, ratelimit.Config{
		Tiers:    map[string]string{"auth": "5-M", "read": "100-M", "write": "30-M"},
		RedisURL: "redis://" + addr + "/0",
	})
	for name, l := range map[string]httpapi.RateLimiter{"redis on a closed port": down, "failing fake": failingLimiter{}} {
		t.Run(name, func(t *testing.T) {
			log, logs := newLog()
			h := rateEngine(t, l, log)
			w := do(h, req{method: "POST", path: "/api/v1/sessions", body: `{"email":"ann@example.com","password":"pw"}`})
			problemOf(t, w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
			if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("503 Retry-After %q", w.Header().Get("Retry-After"))
			}
			for range 5 {
				for _, rq := range []req{
					{method: "GET", path: "/api/v1/users/me", header: map[string]string{headerTestUser: testUser(1)}},
					{method: "PATCH", path: "/api/v1/users/me", body: `{"name":"x"}`},
				} {
					w := do(h, rq)
					if w.Code != http.StatusOK || w.Header().Get("X-RateLimit-Limit") != "" {
						t.Fatalf("%s during the outage: %d, X-RateLimit-Limit %q", rq.method, w.Code, w.Header().Get("X-RateLimit-Limit"))
					}
				}
			}
			if n := strings.Count(logs.String(), "rate-limit store failed"); n != 1 {
				t.Errorf("%d warnings for ten failed checks, want 1:\n%s", n, logs)
			}
		})
	}
}

// recordingLimiter allows everything and records "tier key" of each Take.
type recordingLimiter struct {
	mu   sync.Mutex
	keys []string
}

func (r *recordingLimiter) Take(_ context.Context, tier, key string) (ratelimit.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, tier+" "+key)
	return ratelimit.Result{Limit: 100, Remaining: 99, Reset: time.Now().Add(time.Minute), Allowed: true}, nil
}

func (r *recordingLimiter) taken() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

// failingLimiter's store is always down.
type failingLimiter struct{}

func (failingLimiter) Take(context.Context, string, string) (ratelimit.Result, error) {
	return ratelimit.Result{}, fmt.Errorf("rate limit store: %w: %w", domain.ErrUnavailable, errors.New("connection refused"))
}

// The health check reports a memory store as "memory" (no probe) and a Redis
// store through Ping, and never makes readiness depend on it.
func TestRateLimitStoreCheck(t *testing.T) {
	t.Parallel()
	mem := httpapi.RateLimitStoreCheck(newLimiters(t, ratelimit.Config{Tiers: map[string]string{"auth": "5-M"}}))
	if mem.Name != "rate_limit_store" || mem.Probe != nil || mem.Required {
		t.Errorf("memory check = %+v", mem)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	red := httpapi.RateLimitStoreCheck(newLimiters(t, ratelimit.Config{Tiers: map[string]string{"auth": "5-M"}, RedisURL: "redis://" + addr}))
	if red.Name != "rate_limit_store" || red.Probe == nil || red.Required {
		t.Fatalf("redis check = %+v", red)
	}
	if err := red.Probe(t.Context()); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("probe of a dead Redis = %v", err)
	}
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		up := httpapi.RateLimitStoreCheck(newLimiters(t, ratelimit.Config{Tiers: map[string]string{"auth": "5-M"}, RedisURL: u}))
		if err := up.Probe(t.Context()); err != nil {
			t.Errorf("probe of a live Redis = %v", err)
		}
	}
}
