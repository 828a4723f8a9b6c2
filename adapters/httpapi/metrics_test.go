package httpapi_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/adapters/ratelimit"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/apitest"
)

func newMetrics(t *testing.T) (*httpapi.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// Requests are counted and timed by method, route template and status; unknown
// paths and methods collapse into one series each.
func TestMetricsInstrumentRequests(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	log := slog.New(slog.DiscardHandler)
	r := newEngine(t, log, nil, httpapi.InstrumentMiddleware(m), httpapi.RecoveryMiddleware(log))
	r.GET("/api/v1/providers/:provider_id", func(c *gin.Context) {
		if sample(t, reg, "http_requests_in_flight", nil) != 1 {
			t.Error("in-flight gauge is not 1 during the request")
		}
		c.JSON(http.StatusOK, gin.H{})
	})
	r.GET("/api/v1/boom", func(*gin.Context) { panic("bug") })
	r.GET("/metrics", httpapi.MetricsHandler(m))
	for _, id := range []string{"a", "b", "c"} {
		do(r, req{method: "GET", path: "/api/v1/providers/" + id})
	}
	do(r, req{method: "GET", path: "/api/v1/boom"})
	do(r, req{method: "GET", path: "/no/such/path"})
	do(r, req{method: "BREW", path: "/api/v1/providers/a"})

	w := do(r, req{method: "GET", path: "/metrics"})
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	body := w.Body.String()
	for _, want := range []string{
		`http_requests_total{method="GET",route="/api/v1/providers/:provider_id",status="200"} 3`,
		`http_requests_total{method="GET",route="/api/v1/boom",status="500"} 1`,
		`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`http_requests_total{method="OTHER",route="unmatched",status="405"} 1`,
		`http_request_duration_seconds_count{method="GET",route="/api/v1/providers/:provider_id"} 3`,
		"http_requests_in_flight 1", // the scrape itself
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "/api/v1/providers/a") {
		t.Error("a raw path became a label")
	}
	if sample(t, reg, "http_requests_in_flight", nil) != 0 {
		t.Error("in-flight gauge not back to 0")
	}
}

// sample returns the value of the one series of the named gauge or counter
// whose labels include labels, or -1 when there is none.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, mt := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range mt.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			if g := mt.GetGauge(); g != nil {
				return g.GetValue()
			}
			return mt.GetCounter().GetValue()
		}
	}
	return -1
}

// Refusals and store failures are counted per tier.
func TestMetricsCountRateLimiting(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	log := slog.New(slog.DiscardHandler)
	l := newLimiters(t, ratelimit.Config{Tiers: map[string]string{"auth": "1-M", "read": "1-M", "write": "1-M"}})
	r := newEngine(t, log, nil, httpapi.RateLimitMiddleware(l, log, maxBody, m))
	r.GET("/api/v1/users/me", func(c *gin.Context) { c.Status(http.StatusOK) })
	for range 3 {
		do(r, req{method: "GET", path: "/api/v1/users/me"})
	}
	down := newEngine(t, log, nil, httpapi.RateLimitMiddleware(failingLimiter{}, log, maxBody, m))
	down.GET("/api/v1/users/me", func(c *gin.Context) { c.Status(http.StatusOK) })
	do(down, req{method: "GET", path: "/api/v1/users/me"})

	if n := sample(t, reg, "rate_limit_rejections_total", map[string]string{"tier": "read"}); n != 2 {
		t.Errorf("%v rejections counted, want 2", n)
	}
	if n := sample(t, reg, "rate_limit_store_errors_total", map[string]string{"tier": "read"}); n != 1 {
		t.Errorf("%v store errors counted, want 1", n)
	}
}

func TestProviderCallMetrics(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	cases := map[error]string{
		nil:                       httpapi.OutcomeOK,
		domain.ErrProviderTimeout: httpapi.OutcomeTimeout,
		fmt.Errorf("x: %w", domain.ErrProviderUnavailable): httpapi.OutcomeUnavailable,
		domain.ErrReauthorizationRequired:                  httpapi.OutcomeReauthorizationNeeded,
		domain.ErrNotSupported:                             httpapi.OutcomeNotSupported,
		errors.New("parse: unexpected token"):              httpapi.OutcomeError,
	}
	for err, want := range cases {
		if got := httpapi.ProviderCallOutcome(err); got != want {
			t.Errorf("ProviderCallOutcome(%v) = %q, want %q", err, got, want)
		}
	}
	m.ObserveProviderCall("schwab", "refresh", nil, 300*time.Millisecond)
	m.ObserveProviderCall("schwab", "refresh", domain.ErrProviderTimeout, 8*time.Second)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() == "provider_call_duration_seconds" {
			series = len(mf.GetMetric())
		}
	}
	if series != 2 {
		t.Errorf("%d provider call series, want 2", series)
	}
}

// Metrics live on the registry they are given: a second set on the same
// registry is refused, a nil set records nothing and serves 404.
func TestMetricsRegistry(t *testing.T) {
	t.Parallel()
	_, reg := newMetrics(t)
	if _, err := httpapi.NewMetrics(reg); err == nil {
		t.Error("registered the same metrics twice")
	}
	var m *httpapi.Metrics
	m.ObserveProviderCall("p", "o", nil, time.Second) // no panic
	log := slog.New(slog.DiscardHandler)
	r := newEngine(t, log, nil, httpapi.InstrumentMiddleware(m))
	r.GET("/metrics", httpapi.MetricsHandler(m))
	if w := do(r, req{method: "GET", path: "/metrics"}); w.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics: %d", w.Code)
	}
}

// Hardening item 17: with METRICS_TOKEN set, the public /metrics answers only
// a bearer of the token (anyone else: 404, as if it did not exist); with
// DOCS_ENABLED=false the documentation pages are 404 while /openapi.json, the
// contract, is still served.
func TestMetricsBehindATokenAndDocsAsASetting(t *testing.T) {
	t.Parallel()
	token := strings.Repeat("m", 40)
	h := apitest.New(t, apitest.Options{Env: map[string]string{"METRICS_TOKEN": token, "DOCS_ENABLED": "false"}})
	for name, header := range map[string]map[string]string{
		"no token":    nil,
		"wrong token": {"Authorization": "Bearer " + strings.Repeat("x", 40)},
		"basic":       {"Authorization": "Basic " + token},
	} {
		if res := h.Do(apitest.Request{Method: "GET", Path: "/metrics", Header: header}); res.Status != http.StatusNotFound {
			t.Errorf("/metrics with %s: %d, want 404", name, res.Status)
		}
	}
	res := h.Do(apitest.Request{Method: "GET", Path: "/metrics", Header: map[string]string{"Authorization": "Bearer " + token}})
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), "go_goroutines") {
		t.Errorf("/metrics with the token: %d, want 200 with the metrics", res.Status)
	}
	for _, path := range []string{"/docs", "/redoc", "/docs/assets/swagger-ui.css"} {
		if res := h.Do(apitest.Request{Method: "GET", Path: path}); res.Status != http.StatusNotFound {
			t.Errorf("%s with DOCS_ENABLED=false: %d, want 404", path, res.Status)
		}
	}
	h.Do(apitest.Request{Method: "GET", Path: "/openapi.json"}).Expect(t, http.StatusOK)
}
