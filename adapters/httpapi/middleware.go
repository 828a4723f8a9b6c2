package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/logging"
	identityapp "github.com/dashtam/dashtam/application/identity"
)

const (
	headerRequestID = "X-Request-ID"
	ctxPrincipal    = "dashtam.principal"
	// ctxAuthFailure holds why a request that needs authentication failed it,
	// for refuseUnauthenticated.
	ctxAuthFailure = "dashtam.auth_failure"
)

// requestID accepts a sane client X-Request-ID or makes one, echoes it on the
// response and puts it in the request context for logs and problem bodies.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(headerRequestID)
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		c.Header(headerRequestID, id)
		c.Request = c.Request.WithContext(logging.WithRequestID(c.Request.Context(), id))
		c.Next()
	}
}

// saneRequestID allows 1 to 128 characters of [A-Za-z0-9._:-], so a client cannot
// inject log-breaking or oversized ids.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == ':', b == '-':
		default:
			return false
		}
	}
	return true
}

// accessLog writes one structured line per request. It logs the route template,
// never the raw path or query (an OAuth callback's query carries a code and state)
// and no header or body.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		log.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.String("client_ip", c.ClientIP()),
		)
	}
}

// recovery turns a panic into a logged 500 problem. The stack goes to the log; the
// client sees only the request id.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					// The server's own signal to abort the response: let it through.
					panic(r)
				}
				log.ErrorContext(c.Request.Context(), "panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					writeProblem(c, log, fmt.Errorf("panic: %v", r))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// securityHeaders sets headers every response carries.
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		c.Next()
	}
}

// DefaultRequestTimeout bounds a request's work when Deps leaves RequestTimeout
// at zero. It is longer than one institution call may take and shorter than the
// server's WriteTimeout, so a request that runs out of time still gets its
// answer written.
const DefaultRequestTimeout = 15 * time.Second

// deadline bounds every request's context, so a stuck dependency turns into a
// prompt error instead of a hung connection.
func deadline(spec *Spec, d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		if spec.streaming(c) {
			c.Next() // a stream lasts as long as its client stays
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// authenticate enforces the document's security requirements: an operation that
// requires bearerAuth gets a verified principal, or a 401.
func authenticate(spec *Spec, ids *identityapp.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		op := spec.lookup(c.Request.Method, c.FullPath())
		if op == nil || !op.requiresAuth {
			c.Next()
			return
		}
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			c.Set(ctxAuthFailure, errMissingBearer)
			c.Next()
			return
		}
		p, err := ids.Authenticate(c.Request.Context(), token)
		if err != nil {
			c.Set(ctxAuthFailure, err)
			c.Next()
			return
		}
		c.Set(ctxPrincipal, p)
		c.Next()
	}
}

// refuseUnauthenticated answers the failure authenticate recorded (401). It
// runs after rateLimit, so that a request that fails authentication is still
// counted, by its client's address, and its 401 carries the rate-limit
// headers: guessing tokens costs the guesser's budget like any other request
// (hardening item 21).
func refuseUnauthenticated(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err, failed := c.Get(ctxAuthFailure); failed {
			writeProblem(c, log, err.(error))
			return
		}
		c.Next()
	}
}

func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// principal returns the authenticated caller. Only handlers of operations that
// require authentication may call it.
func principal(c *gin.Context) identityapp.Principal {
	return c.MustGet(ctxPrincipal).(identityapp.Principal)
}
