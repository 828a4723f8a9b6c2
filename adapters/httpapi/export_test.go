package httpapi

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
)

// Test hooks: the guards' middleware with explicit dependencies, so that tests
// in package httpapi_test can install them on an engine of their own, with real
// stores.

// embeddedSpec is the embedded document, whose per-operation policy the hooks'
// middleware follow, as the router's do.
var embeddedSpec = sync.OnceValue(func() *Spec {
	s, err := LoadSpec()
	if err != nil {
		panic(err)
	}
	return s
})

// RateLimitMiddleware is rateLimit. observer may be nil or a *Metrics.
func RateLimitMiddleware(l RateLimiter, log *slog.Logger, maxBody int64, observer rateLimitObserver) gin.HandlerFunc {
	return rateLimit(rateLimitOptions{spec: embeddedSpec(), limiter: l, log: log, maxBody: maxBody, metrics: observer,
		devices: newDeviceTokens([]byte(TestDeviceTokenSecret)), now: time.Now})
}

// TestDeviceTokenSecret keys the device tokens of RateLimitMiddleware.
const TestDeviceTokenSecret = "test device token key of 32 bytes"

// IssueDeviceToken is a device token RateLimitMiddleware accepts for device of
// user, whose email is email, issued at now.
func IssueDeviceToken(user, device uuid.UUID, email string, now time.Time) string {
	e, err := identity.ParseEmail(email)
	if err != nil {
		panic(err)
	}
	return newDeviceTokens([]byte(TestDeviceTokenSecret)).issue(user, device, emailDigest(e), now)
}

// IdempotencyMiddleware is idempotencyKeys with a fixed fingerprint key; zero
// durations take the defaults.
func IdempotencyMiddleware(store IdempotencyStore, log *slog.Logger, now func() time.Time, ttl, lockTimeout time.Duration) gin.HandlerFunc {
	return idempotencyKeys(idempotencyOptions{spec: embeddedSpec(), store: store, log: log, now: now, secret: []byte("test fingerprint key of 32 bytes"),
		ttl: ttl, lockTimeout: lockTimeout, maxBody: 256 << 10})
}

// CORSMiddleware is cors.
func CORSMiddleware(origins []string, log *slog.Logger) gin.HandlerFunc { return cors(origins, log) }

// RequestIDMiddleware is requestID.
func RequestIDMiddleware() gin.HandlerFunc { return requestID() }

// RecoveryMiddleware is recovery.
func RecoveryMiddleware(log *slog.Logger) gin.HandlerFunc { return recovery(log) }

// SetPrincipal marks the request as authenticated, as authenticate does.
func SetPrincipal(c *gin.Context, p identityapp.Principal) { c.Set(ctxPrincipal, p) }

// WriteProblem is writeProblem.
func WriteProblem(c *gin.Context, log *slog.Logger, err error) { writeProblem(c, log, err) }

// ErrRouteNotFound is errRouteNotFound.
var ErrRouteNotFound = errRouteNotFound
