// Package identity holds the account use cases: registration, email verification,
// login, token refresh, sessions, profile and password changes. The ports it needs
// are declared here, next to their only consumer.
package identity

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain/identity"
)

// Clock tells the time. Use cases never call time.Now directly, so expiry rules
// can be tested with a fake clock.
type Clock interface {
	Now() time.Time
}

// PasswordHasher turns passwords into self-describing hashes (PHC strings) and checks
// them in constant time.
type PasswordHasher interface {
	// Hash returns the encoded hash of password.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches encoded. needsRehash is true when the
	// hash was made with other parameters than the current ones, so the caller can
	// store a fresh hash after a successful login.
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
}

// AccessClaims is what an access token asserts.
type AccessClaims struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	TokenID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// AccessTokens issues and verifies short-lived access tokens (JWTs).
type AccessTokens interface {
	// Issue signs a token for the session. The token's lifetime is the issuer's.
	Issue(userID, sessionID uuid.UUID, now time.Time) (token string, claims AccessClaims, err error)
	// Verify checks signature, algorithm, type, issuer, audience and times. Any
	// failure is domain.ErrUnauthenticated (wrapped).
	Verify(token string, now time.Time) (AccessClaims, error)
}

// Auditor records security-relevant actions in the audit log
// (application/audit's Service). It never fails the action.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry)
}

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Mailer delivers email.
type Mailer interface {
	Send(ctx context.Context, msg Message) error
}

// Users stores accounts.
type Users interface {
	// CreateUser stores a new user and enqueues mail (the job that mails the
	// first verification link) in one transaction, both or neither. A taken
	// email is identity.ErrEmailTaken.
	CreateUser(ctx context.Context, u *identity.User, mail jobs.Job) error
	UserByID(ctx context.Context, id uuid.UUID) (*identity.User, error)
	UserByEmail(ctx context.Context, email identity.Email) (*identity.User, error)
	// UpdateUser loads the user under a row lock, lets fn change it and saves it,
	// in one transaction. fn's error aborts the update and is returned.
	UpdateUser(ctx context.Context, id uuid.UUID, fn func(*identity.User) error) error
}

// Sessions stores sessions and their refresh-token chains.
type Sessions interface {
	// CreateSession stores a session with its first refresh token, atomically.
	CreateSession(ctx context.Context, s *identity.Session, first *identity.RefreshToken) error
	SessionByID(ctx context.Context, id uuid.UUID) (*identity.Session, error)
	// SessionValidity returns just what authenticating a request needs of a
	// session (read on every request), or domain.ErrNotFound.
	SessionValidity(ctx context.Context, id uuid.UUID) (identity.SessionValidity, error)
	// ListActiveSessions returns a user's active sessions at now, newest first, and
	// how many there are in all.
	ListActiveSessions(ctx context.Context, userID uuid.UUID, now time.Time, offset, limit int) ([]*identity.Session, int64, error)
	// UpdateSession loads the session under a row lock, lets fn change it and saves
	// it. fn's error aborts the update and is returned.
	UpdateSession(ctx context.Context, id uuid.UUID, fn func(*identity.Session) error) error
	// RevokeUserSessions revokes every active session of the user except keep
	// (uuid.Nil keeps none).
	RevokeUserSessions(ctx context.Context, userID, keep uuid.UUID, now time.Time, reason identity.RevokeReason) error
	// RotateRefreshToken finds the refresh token with the digest and, holding its
	// row lock, calls rotate with it and its session. Whatever rotate changed (the
	// presented token, the session, and the new token it returns, if any) is
	// committed even when rotate returns an error, and then that error is returned:
	// that is how reuse detection revokes a session while refusing the request.
	// An unknown digest is identity.ErrInvalidRefreshToken.
	RotateRefreshToken(ctx context.Context, hash identity.TokenHash,
		rotate func(presented *identity.RefreshToken, s *identity.Session) (*identity.RefreshToken, error)) error
}

// OneTimeTokens stores mailed single-use tokens.
type OneTimeTokens interface {
	CreateOneTimeToken(ctx context.Context, t *identity.OneTimeToken) error
	// ConsumeOneTimeToken finds the token with the digest and, holding row locks on
	// it and its user, calls fn, then saves both. fn's error aborts everything and
	// is returned. An unknown digest is identity.ErrInvalidOneTimeToken.
	ConsumeOneTimeToken(ctx context.Context, hash identity.TokenHash, fn func(*identity.OneTimeToken, *identity.User) error) error
	// VoidOneTimeTokens uses up, at now, every unused token of the user for
	// purpose (identity.OneTimeToken.Void), expired or not.
	VoidOneTimeTokens(ctx context.Context, userID uuid.UUID, purpose identity.Purpose, now time.Time) error
	// CountOneTimeTokens counts the user's tokens for purpose created at or
	// after since, used or not.
	CountOneTimeTokens(ctx context.Context, userID uuid.UUID, purpose identity.Purpose, since time.Time) (int, error)
}

// Retention deletes what is kept no longer (Service.PurgeExpired).
type Retention interface {
	// PurgeExpired deletes, in one transaction, the sessions (with their
	// refresh tokens) that expired or were revoked before
	// c.SessionsEndedBefore, the one-time tokens that expired before
	// c.TokensExpiredBefore, and the users who never verified their email
	// and registered before c.UnverifiedCreatedBefore (with all they own).
	PurgeExpired(ctx context.Context, c RetentionCutoffs) (RetentionCounts, error)
}

// RetentionCutoffs are the instants before which Retention.PurgeExpired
// deletes.
type RetentionCutoffs struct {
	SessionsEndedBefore     time.Time
	TokensExpiredBefore     time.Time
	UnverifiedCreatedBefore time.Time
}

// RetentionCounts is how many rows of each kind PurgeExpired deleted (users
// count their own sessions and tokens nowhere else).
type RetentionCounts struct {
	Sessions, OneTimeTokens, Users int64
}
