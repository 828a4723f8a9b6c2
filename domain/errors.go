// Package domain holds Dashtam's entities, value types and the error kinds every
// layer above it shares. It imports only the standard library, google/uuid and
// shopspring/decimal (exact money arithmetic).
package domain

import "errors"

// Error kinds. Use cases return these (usually wrapped with %w and a specific
// sentinel of their own); the HTTP adapter maps them to statuses in one table.
var (
	// ErrNotFound: the resource does not exist or does not belong to the caller.
	// The two cases are deliberately indistinguishable.
	ErrNotFound = errors.New("not found")
	// ErrUnauthenticated: missing, invalid, expired or revoked credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: authenticated, but not allowed to do this.
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the request conflicts with the current state of the resource.
	ErrConflict = errors.New("conflict")
	// ErrPreconditionFailed: a conditional request (If-Match) found a newer version.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrInvalidRequest: the request is well formed but unusable as a whole
	// (a bad OAuth state, an expired one-time token).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrUnavailable: a dependency of ours (database, rate-limit store) is down.
	// Retrying later may succeed.
	ErrUnavailable = errors.New("service unavailable")

	// ErrProviderUnavailable: the institution failed or answered nonsense (retryable).
	ErrProviderUnavailable = errors.New("provider unavailable")
	// ErrProviderTimeout: the institution did not answer within the budget.
	ErrProviderTimeout = errors.New("provider timeout")
	// ErrReauthorizationRequired: the institution refused our grant for good; the
	// user must consent again.
	ErrReauthorizationRequired = errors.New("re-authorization required")
	// ErrNotSupported: the connector has no such operation (Plaid has no refresh).
	ErrNotSupported = errors.New("not supported by this provider")
)
