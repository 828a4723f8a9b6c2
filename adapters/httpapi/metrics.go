package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dashtam/dashtam/domain"
)

// Metrics are the service's Prometheus metrics, registered on a registry the
// composition root owns (never the global default one). A nil *Metrics records
// nothing, so tests and tools can leave it out.
type Metrics struct {
	registry *prometheus.Registry

	requests          *prometheus.CounterVec
	duration          *prometheus.HistogramVec
	inFlight          prometheus.Gauge
	rateLimitRejects  *prometheus.CounterVec
	rateLimitFailures *prometheus.CounterVec
	providerCalls     *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg. It fails if reg
// already holds metrics of the same names.
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being answered right now.",
		}),
		rateLimitRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rate_limit_rejections_total",
			Help: "Requests refused with 429, by rate-limit tier.",
		}, []string{"tier"}),
		rateLimitFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rate_limit_store_errors_total",
			Help: "Requests whose rate-limit check failed because the store did not answer, by tier (auth, refresh: refused with 503; read, write: let through).",
		}, []string{"tier"}),
		providerCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "provider_call_duration_seconds",
			Help:    "Time of calls to institutions, by provider, operation and outcome.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30},
		}, []string{"provider", "operation", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.rateLimitRejects, m.rateLimitFailures, m.providerCalls} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// serveMetrics answers GET /metrics; 404 when the service runs without metrics.
func serveMetrics(c *gin.Context, m *Metrics, log *slog.Logger) {
	if m == nil {
		writeProblem(c, log, errRouteNotFound)
		return
	}
	c.Header("Cache-Control", "no-store")
	m.Handler().ServeHTTP(c.Writer, c.Request)
}

// instrument counts and times every request, labelled by route template (never
// the raw path, which would give every provider id its own series). It should be
// the outermost middleware after requestID, so that it sees the final status,
// including the 500 that recovery writes after a panic.
func (m *Metrics) instrument() gin.HandlerFunc {
	if m == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method := metricMethod(c.Request.Method)
		m.requests.WithLabelValues(method, route, strconv.Itoa(c.Writer.Status())).Inc()
		m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
	}
}

// metricMethod bounds the method label: a client may send any token as a method.
func metricMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

func (m *Metrics) rateLimited(tier string) {
	if m != nil {
		m.rateLimitRejects.WithLabelValues(tier).Inc()
	}
}

func (m *Metrics) rateLimitStoreFailed(tier string) {
	if m != nil {
		m.rateLimitFailures.WithLabelValues(tier).Inc()
	}
}

// ObserveProviderCall records one call to an institution: provider is its key
// ("schwab"), operation what was asked ("complete", "refresh"), err how the call
// ended, which ProviderCallOutcome turns into the outcome label. Connectors
// reach it through the Observer interface of adapters/providers/instrumented,
// which wraps each of them.
func (m *Metrics) ObserveProviderCall(provider, operation string, err error, elapsed time.Duration) {
	if m != nil {
		m.providerCalls.WithLabelValues(provider, operation, ProviderCallOutcome(err)).Observe(elapsed.Seconds())
	}
}

// Outcomes of provider calls, as ProviderCallOutcome names them.
const (
	OutcomeOK                    = "ok"
	OutcomeTimeout               = "timeout"
	OutcomeUnavailable           = "unavailable"
	OutcomeReauthorizationNeeded = "reauthorization_required"
	OutcomeNotSupported          = "not_supported"
	OutcomeError                 = "error"
)

// ProviderCallOutcome classifies a provider call's error into a small, fixed set
// of label values (never the error text, which would make unbounded series).
func ProviderCallOutcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, domain.ErrProviderTimeout):
		return OutcomeTimeout
	case errors.Is(err, domain.ErrProviderUnavailable):
		return OutcomeUnavailable
	case errors.Is(err, domain.ErrReauthorizationRequired):
		return OutcomeReauthorizationNeeded
	case errors.Is(err, domain.ErrNotSupported):
		return OutcomeNotSupported
	}
	return OutcomeError
}
