package httpapi

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/logging"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	eventsapp "github.com/dashtam/dashtam/application/events"
	exportsapp "github.com/dashtam/dashtam/application/exports"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// Errors the HTTP layer itself raises, before any use case runs.
var (
	errRouteNotFound        = errors.New("no such route")
	errMethodNotAllowed     = errors.New("method not allowed")
	errMalformedJSON        = errors.New("malformed JSON")
	errUnsupportedMediaType = errors.New("unsupported media type")
	errBodyTooLarge         = errors.New("request body too large")
	errMissingBearer        = errors.New("missing bearer token")
	// Guards (rate limiting, idempotency, CORS).
	errRateLimited           = errors.New("rate limit exceeded")
	errIdempotencyInProgress = errors.New("a request with this idempotency key is still running")
	errIdempotencyKeyReused  = errors.New("idempotency key reused with a different request")
	errOriginNotAllowed      = errors.New("origin not allowed")
)

// problemKind is how one error kind looks on the wire.
type problemKind struct {
	status int
	code   string // stable, machine readable
	title  string // short, the same for every occurrence
	slug   string // the problem type is "/problems/" + slug
	detail string // safe human explanation; never the error's own text
}

// routeNotFoundKind is what a path that matches no route answers, and so
// also what a non-admin calling an admin route gets: the admin routes'
// existence is not advertised.
var routeNotFoundKind = problemKind{http.StatusNotFound, "ROUTE_NOT_FOUND", "Not found", "not-found", "No API route matches this path."}

// problemTable is THE mapping from errors to problems. It is searched in order with
// errors.Is, so specific errors (which wrap a domain kind) come before their kinds.
// Anything not found here is a 500 whose cause is logged and hidden.
var problemTable = []struct {
	err  error
	kind problemKind
}{
	// Raised by the HTTP layer.
	{errRouteNotFound, routeNotFoundKind},
	{errMethodNotAllowed, problemKind{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed", "method-not-allowed", "This resource does not support the method; see the Allow header."}},
	{errMalformedJSON, problemKind{http.StatusBadRequest, "MALFORMED_JSON", "Malformed JSON", "malformed-json", "The request body must be one well-formed JSON document, in UTF-8, with no key twice in one object."}},
	{errUnsupportedMediaType, problemKind{http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Unsupported media type", "unsupported-media-type", "Send the request body as application/json."}},
	{errBodyTooLarge, problemKind{http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "Request body too large", "body-too-large", "The request body is larger than this service accepts."}},
	{errMissingBearer, problemKind{http.StatusUnauthorized, "AUTHENTICATION_REQUIRED", "Authentication required", "authentication-required", "Send an access token as 'Authorization: Bearer <token>'."}},
	{errRateLimited, problemKind{http.StatusTooManyRequests, "RATE_LIMITED", "Too many requests", "rate-limited", "You sent too many requests; wait for the number of seconds in Retry-After."}},
	{errIdempotencyInProgress, problemKind{http.StatusConflict, "IDEMPOTENCY_IN_PROGRESS", "Request in progress", "idempotency-in-progress", "A request with this Idempotency-Key is still being processed; retry after it finishes."}},
	{errIdempotencyKeyReused, problemKind{http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED", "Idempotency key reused", "idempotency-key-reused", "This Idempotency-Key was already used with a different request; send a new key."}},
	{errOriginNotAllowed, problemKind{http.StatusForbidden, "ORIGIN_NOT_ALLOWED", "Origin not allowed", "origin-not-allowed", "This origin may not call the API from a browser."}},

	// Events.
	{eventsapp.ErrTooManyStreams, problemKind{http.StatusTooManyRequests, "TOO_MANY_STREAMS", "Too many event streams", "too-many-streams", "You hold as many event streams as are allowed; close one, or retry after the number of seconds in Retry-After."}},

	// Identity.
	{identity.ErrEmailTaken, problemKind{http.StatusConflict, "EMAIL_TAKEN", "Email already registered", "email-taken", "An account with this email already exists."}},
	{identity.ErrInvalidCredentials, problemKind{http.StatusUnauthorized, "INVALID_CREDENTIALS", "Invalid credentials", "invalid-credentials", "The email or password is incorrect."}},
	{identity.ErrUserDisabled, problemKind{http.StatusUnauthorized, "ACCOUNT_DISABLED", "Account disabled", "account-disabled", "This account was disabled by an operator."}},
	{identity.ErrRefreshTokenReused, problemKind{http.StatusUnauthorized, "REFRESH_TOKEN_REUSED", "Refresh token reused", "refresh-token-reused", "This refresh token was already used; the session has been revoked. Log in again."}},
	{identity.ErrInvalidRefreshToken, problemKind{http.StatusUnauthorized, "INVALID_REFRESH_TOKEN", "Invalid refresh token", "invalid-refresh-token", "The refresh token is invalid, expired or revoked. Log in again."}},
	{identity.ErrInvalidOneTimeToken, problemKind{http.StatusBadRequest, "INVALID_OR_EXPIRED_TOKEN", "Invalid or expired token", "invalid-or-expired-token", "The link is invalid, already used or expired. Ask for a new one."}},
	// A non-admin on an admin route: exactly what a missing route answers.
	{identity.ErrNotAdmin, routeNotFoundKind},
	{identity.ErrLastAdmin, problemKind{http.StatusConflict, "LAST_ADMIN", "Last admin", "last-admin", "This is the last active admin: make another admin first, then disable or demote this one."}},
	{identity.ErrEmailNotVerified, problemKind{http.StatusForbidden, "EMAIL_NOT_VERIFIED", "Email not verified", "email-not-verified", "Verify your email address first."}},

	// Provider authorization: why a callback or its completion was refused.
	{provider.ErrStateExpired, problemKind{http.StatusBadRequest, "AUTHORIZATION_EXPIRED", "Authorization attempt expired", "authorization-expired", "This authorization attempt expired before it was completed; start a new one."}},
	{provider.ErrStateUsed, problemKind{http.StatusBadRequest, "AUTHORIZATION_ALREADY_USED", "Authorization already used", "authorization-already-used", "This state and code were already used to complete the attempt; a replay changes nothing."}},
	{provider.ErrInvalidState, problemKind{http.StatusBadRequest, "INVALID_AUTHORIZATION_STATE", "Invalid authorization state", "invalid-authorization-state", "The state is not the one of this provider's authorization attempt in flight."}},
	{provider.ErrGrantRejected, problemKind{http.StatusBadRequest, "AUTHORIZATION_CODE_REJECTED", "Authorization code rejected", "authorization-code-rejected", "The institution refused the code (expired, already used or unknown there); start a new authorization."}},

	// Syncs.
	{datasyncapp.ErrNotConnected, problemKind{http.StatusConflict, "PROVIDER_NOT_CONNECTED", "Provider not connected", "provider-not-connected", "The provider has no active authorization; connect it (POST its authorization) first."}},

	// Exports.
	{exportsapp.ErrInProgress, problemKind{http.StatusConflict, "EXPORT_IN_PROGRESS", "Export in progress", "export-in-progress", "An export of your data is already queued or running; follow it, and ask again once it has finished."}},
	{exportsapp.ErrNotReady, problemKind{http.StatusConflict, "EXPORT_NOT_READY", "Export not ready", "export-not-ready", "The export has not succeeded (it is still running, or it failed); follow its status."}},
	{exportsapp.ErrAlreadyDownloaded, problemKind{http.StatusGone, "EXPORT_ALREADY_DOWNLOADED", "Export already downloaded", "export-already-downloaded", "An export can be downloaded once, and this one was; ask for a new export."}},
	{exportsapp.ErrExpired, problemKind{http.StatusGone, "EXPORT_EXPIRED", "Export expired", "export-expired", "The export's download window is over and its document is deleted; ask for a new export."}},

	// Institution call budgets: Dashtam's own, before any institution's kind
	// (the error is also a domain.ErrProviderUnavailable). Retry-After is the
	// budget's wait.
	{providersapp.ErrBudgetExhausted, problemKind{http.StatusServiceUnavailable, "INSTITUTION_BUDGET_EXHAUSTED", "Institution call budget exhausted", "institution-budget-exhausted", "This service has made as many calls to the institution as it allows itself for now; nothing was done. Retry after the number of seconds in Retry-After."}},

	// Institution webhooks: the signature is the authentication.
	{providersapp.ErrWebhookSignature, problemKind{http.StatusUnauthorized, "INVALID_WEBHOOK_SIGNATURE", "Invalid webhook signature", "invalid-webhook-signature", "The delivery's signature does not verify (forged, stale, altered, or of a refused algorithm or key); nothing was recorded or done."}},

	// Domain kinds.
	{domain.ErrNotFound, problemKind{http.StatusNotFound, "NOT_FOUND", "Resource not found", "not-found", "The resource does not exist."}},
	{domain.ErrUnauthenticated, problemKind{http.StatusUnauthorized, "INVALID_TOKEN", "Invalid access token", "invalid-token", "The access token is invalid, expired or revoked."}},
	{domain.ErrForbidden, problemKind{http.StatusForbidden, "FORBIDDEN", "Forbidden", "forbidden", "You are not allowed to do this."}},
	{domain.ErrConflict, problemKind{http.StatusConflict, "CONFLICT", "Conflict", "conflict", "The request conflicts with the resource's current state."}},
	{domain.ErrPreconditionFailed, problemKind{http.StatusPreconditionFailed, "PRECONDITION_FAILED", "Precondition failed", "precondition-failed", "The resource changed since you read it; fetch it again."}},
	{domain.ErrInvalidRequest, problemKind{http.StatusBadRequest, "INVALID_REQUEST", "Invalid request", "invalid-request", "The request cannot be used."}},
	{domain.ErrReauthorizationRequired, problemKind{http.StatusConflict, "REAUTHORIZATION_REQUIRED", "Re-authorization required", "reauthorization-required", "The institution no longer accepts this authorization; start a new one."}},
	{domain.ErrNotSupported, problemKind{http.StatusConflict, "NOT_SUPPORTED", "Not supported", "not-supported", "This provider does not support the operation."}},
	{domain.ErrProviderTimeout, problemKind{http.StatusGatewayTimeout, "PROVIDER_TIMEOUT", "Provider timeout", "provider-timeout", "The institution did not answer in time; try again later."}},
	{domain.ErrProviderUnavailable, problemKind{http.StatusBadGateway, "PROVIDER_UNAVAILABLE", "Provider unavailable", "provider-unavailable", "The institution failed to answer properly; try again later."}},
	{domain.ErrUnavailable, problemKind{http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "Service unavailable", "service-unavailable", "A dependency is unavailable; try again shortly."}},
}

var (
	validationKind = problemKind{http.StatusUnprocessableEntity, "VALIDATION_ERROR", "Validation failed", "validation-error", "One or more fields are invalid; see errors."}
	internalKind   = problemKind{http.StatusInternalServerError, "INTERNAL_ERROR", "Internal server error", "internal-error", "Something went wrong on our side. Quote the request_id if you contact support."}
)

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	Code      string       `json:"code"`
	RequestID string       `json:"request_id"`
	Errors    []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// withFields attaches field details to an error of the table, for the kinds
// whose problem names a field although they are not validation errors (a
// reused Idempotency-Key).
type withFields struct {
	err    error
	fields []fieldError
}

func (e *withFields) Error() string { return e.err.Error() }
func (e *withFields) Unwrap() error { return e.err }

// classify finds the problem kind of err and, for validation errors (and errors
// wrapped in withFields), its fields.
func classify(err error) (problemKind, []fieldError, bool) {
	var verr *domain.ValidationError
	if errors.As(err, &verr) {
		fields := make([]fieldError, len(verr.Fields))
		for i, f := range verr.Fields {
			fields[i] = fieldError{Field: f.Field, Code: f.Code, Message: f.Message}
		}
		return validationKind, fields, true
	}
	for _, row := range problemTable {
		if errors.Is(err, row.err) {
			var wf *withFields
			if errors.As(err, &wf) {
				return row.kind, wf.fields, true
			}
			return row.kind, nil, true
		}
	}
	return internalKind, nil, false
}

// writeProblem answers the request with the problem err maps to and aborts the
// handler chain. Unmapped errors are logged with their cause and answered with a
// bare 500.
func writeProblem(c *gin.Context, log *slog.Logger, err error) {
	kind, fields, known := classify(err)
	ctx := c.Request.Context()
	if !known {
		log.ErrorContext(ctx, "unhandled error", "error", err.Error(), "route", c.FullPath())
	} else if kind.status >= http.StatusInternalServerError {
		log.WarnContext(ctx, "request failed", "error", err.Error(), "status", kind.status, "route", c.FullPath())
	}
	switch kind.status {
	case http.StatusUnauthorized:
		challenge := `Bearer realm="dashtam"`
		if c.GetHeader("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
		c.Header("WWW-Authenticate", challenge)
	case http.StatusServiceUnavailable:
		retryAfter := "5"
		if ra, ok := errors.AsType[*providersapp.RetryAfterError](err); ok {
			retryAfter = strconv.FormatInt(max(1, int64(math.Ceil(ra.Delay.Seconds()))), 10)
		}
		c.Header("Retry-After", retryAfter)
	}
	c.Header("Content-Type", "application/problem+json")
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(kind.status, problem{
		Type:      "/problems/" + kind.slug,
		Title:     kind.title,
		Status:    kind.status,
		Detail:    kind.detail,
		Instance:  c.Request.URL.Path,
		Code:      kind.code,
		RequestID: logging.RequestID(ctx),
		Errors:    fields,
	})
}
