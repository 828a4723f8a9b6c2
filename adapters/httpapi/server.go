// Package httpapi is the HTTP adapter: the Gin router, middleware, the one error
// table, and handlers that translate between the OpenAPI contract (openapi.yaml,
// with types generated into package api) and the application's use cases.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi/api"
	"github.com/dashtam/dashtam/application"
)

// Check probes one dependency for health and readiness.
type Check struct {
	// Name is the key under "services" in /api/health: "database" or "rate_limit_store".
	Name string
	// Probe returns nil when the dependency answers. A nil Probe means an in-process
	// dependency that cannot fail ("memory").
	Probe func(ctx context.Context) error
	// Required dependencies make /readyz and /api/health answer 503 while down.
	Required bool
}

// Deps is what the HTTP adapter needs.
type Deps struct {
	// App is every use case; the handlers call nothing else.
	App application.App
	// AuthorizationResultURL, when set, is the front-end page the redirect
	// callbacks send the browser to (303), with the code and state to relay (or
	// the institution's error), instead of answering with them.
	AuthorizationResultURL string
	// SandboxInstitution serves the sandbox's consent page; nil when disabled.
	SandboxInstitution http.Handler
	// CursorSecret keys the HMAC that makes list cursors tamper-evident.
	CursorSecret []byte
	// DeviceTokenSecret keys the HMAC of the device tokens logins hand out
	// (devicetoken.go).
	DeviceTokenSecret []byte
	Checks            []Check
	Log               *slog.Logger
	Version           string
	Now               func() time.Time
	// MaxBodyBytes caps request bodies (413 beyond).
	MaxBodyBytes int64
	// RequestTimeout bounds each request's context (but a stream's).
	RequestTimeout time.Duration
	// StreamHeartbeat is how often an event stream sends a comment and
	// re-checks its caller's authentication (DefaultStreamHeartbeat when 0).
	StreamHeartbeat time.Duration
	// TrustedProxies are the proxy addresses/CIDRs whose X-Forwarded-For is believed.
	// Empty: none, the client address is the TCP peer.
	TrustedProxies []string

	// Limiter enforces the rate-limit tiers (TierAuth, TierRefresh,
	// TierRefreshIP, TierRead, TierWrite).
	Limiter RateLimiter
	// Idempotency stores Idempotency-Key records; IdempotencySecret keys their
	// request fingerprints.
	Idempotency       IdempotencyStore
	IdempotencySecret []byte
	// AllowedOrigins are the exact browser origins CORS admits (see
	// ParseAllowedOrigins). Empty: no CORS headers at all.
	AllowedOrigins []string
	// Metrics collects Prometheus metrics and serves GET /metrics.
	Metrics *Metrics
	// MetricsPublic serves GET /metrics on this listener, to a bearer of
	// MetricsToken when it is set; otherwise the route is 404 (production
	// serves metrics on an internal listener, or behind the token).
	MetricsPublic bool
	MetricsToken  string
	// DocsEnabled serves the documentation pages (/docs, /redoc and their
	// assets); otherwise they are 404. /openapi.json, the contract, is always
	// served.
	DocsEnabled bool
	// AccountPages serves the minimal pages of the links in emails
	// (/verify-email, /reset-password), for when no front end receives them.
	AccountPages bool
}

// Server implements api.ServerInterface.
type Server struct {
	Deps
	spec    *Spec
	cursors cursorCodec
	devices *deviceTokens
	// resultURL is Deps.AuthorizationResultURL parsed; nil when unset.
	resultURL *url.URL
}

var _ api.ServerInterface = (*Server)(nil)

// NewRouter builds the Gin engine with every middleware and route.
func NewRouter(d Deps, spec *Spec) (*gin.Engine, error) {
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = 256 << 10
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = DefaultRequestTimeout
	}
	if d.StreamHeartbeat == 0 {
		d.StreamHeartbeat = DefaultStreamHeartbeat
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, err
	}
	if len(d.TrustedProxies) == 0 {
		r.ForwardedByClientIP = false
	}
	if len(d.CursorSecret) < 32 || len(d.IdempotencySecret) < 32 || len(d.DeviceTokenSecret) < 32 {
		return nil, errors.New("httpapi: CursorSecret, IdempotencySecret and DeviceTokenSecret must be at least 32 bytes")
	}
	if d.Limiter == nil || d.Idempotency == nil || d.Metrics == nil {
		return nil, errors.New("httpapi: Limiter, Idempotency and Metrics are required (raise limits, never switch the guards off)")
	}
	s := &Server{Deps: d, spec: spec, cursors: newCursorCodec(d.CursorSecret), devices: newDeviceTokens(d.DeviceTokenSecret)}
	if d.AuthorizationResultURL != "" {
		u, err := ParseResultURL(d.AuthorizationResultURL)
		if err != nil {
			return nil, fmt.Errorf("httpapi: AuthorizationResultURL: %w", err)
		}
		s.resultURL = u
	}
	// The order matters: see each middleware's comment.
	r.Use(
		requestID(),
		auditRequest(),
		d.Metrics.instrument(),
		accessLog(d.Log),
		recovery(d.Log),
		securityHeaders(),
		compress(spec),
		cors(d.AllowedOrigins, d.Log),
		deadline(spec, d.RequestTimeout),
		authenticate(spec, d.App.Identity),
		rateLimit(rateLimitOptions{spec: spec, limiter: d.Limiter, log: d.Log, metrics: d.Metrics, maxBody: d.MaxBodyBytes, devices: s.devices, now: d.Now}),
		refuseUnauthenticated(d.Log),
		validateRequest(spec, d.MaxBodyBytes, d.Log),
		idempotencyKeys(idempotencyOptions{spec: spec, store: d.Idempotency, log: d.Log, now: d.Now, secret: d.IdempotencySecret, maxBody: d.MaxBodyBytes}),
	)
	r.NoRoute(func(c *gin.Context) { writeProblem(c, d.Log, errRouteNotFound) })
	r.NoMethod(func(c *gin.Context) {
		if c.Request.Method == http.MethodOptions {
			// OPTIONS lists what the resource allows (gin has filled in Allow).
			c.Header("Allow", c.Writer.Header().Get("Allow")+", OPTIONS")
			c.Status(http.StatusNoContent)
			return
		}
		writeProblem(c, d.Log, errMethodNotAllowed)
	})
	api.RegisterHandlersWithOptions(r, s, api.GinServerOptions{
		ErrorHandler: func(c *gin.Context, err error, _ int) {
			// Parameters were validated against the same document already; what the
			// generated binding still refuses is a parameter given twice.
			writeProblem(c, d.Log, bindingError(err))
		},
	})
	// HEAD works on every GET route: same handler and middleware (the security
	// requirement is the GET's, see Spec.lookup); net/http drops the body.
	for _, rt := range r.Routes() {
		if rt.Method == http.MethodGet {
			r.HEAD(rt.Path, rt.HandlerFunc)
		}
	}
	return r, nil
}

// NewHTTPServer wraps handler in an http.Server with every timeout set.
func NewHTTPServer(addr string, handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// fail answers with the problem err maps to.
func (s *Server) fail(c *gin.Context, err error) { writeProblem(c, s.Log, err) }

// bind decodes the validated body into v, answering with a problem if it cannot.
func (s *Server) bind(c *gin.Context, v any) bool {
	if err := decodeBody(c, v); err != nil {
		s.fail(c, errors.Join(errMalformedJSON, err))
		return false
	}
	return true
}
