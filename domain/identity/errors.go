// Package identity holds the account entities: users, sessions, refresh tokens and
// the one-time tokens mailed for email verification and password reset, with the
// rules for their expiry, rotation and revocation.
package identity

import (
	"fmt"

	"github.com/dashtam/dashtam/domain"
)

// Identity errors. Each wraps the domain kind that decides its HTTP status.
var (
	ErrEmailTaken          = fmt.Errorf("email already registered: %w", domain.ErrConflict)
	ErrInvalidCredentials  = fmt.Errorf("invalid email or password: %w", domain.ErrUnauthenticated)
	ErrInvalidRefreshToken = fmt.Errorf("invalid refresh token: %w", domain.ErrUnauthenticated)
	ErrRefreshTokenReused  = fmt.Errorf("refresh token reused: %w", domain.ErrUnauthenticated)
	ErrSessionInactive     = fmt.Errorf("session expired or revoked: %w", domain.ErrUnauthenticated)
	ErrInvalidOneTimeToken = fmt.Errorf("invalid or expired token: %w", domain.ErrInvalidRequest)
	ErrEmailNotVerified    = fmt.Errorf("email not verified: %w", domain.ErrForbidden)
	// ErrUserDisabled: the account was disabled by an operator. Login says so
	// only after the password was right.
	ErrUserDisabled = fmt.Errorf("user disabled: %w", domain.ErrUnauthenticated)
	// ErrNotAdmin: an admin route called by a non-admin. It is a not-found, so
	// the admin routes' existence is not advertised.
	ErrNotAdmin = fmt.Errorf("admin only: %w", domain.ErrNotFound)
	// ErrLastAdmin: the change would leave no active admin.
	ErrLastAdmin = fmt.Errorf("the last active admin cannot be disabled, demoted or deleted: %w", domain.ErrConflict)
)
