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
)
