package identity

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Purpose is what a one-time token may be used for.
type Purpose struct{ s string }

// The purposes, with their lifetimes (SECURITY.md).
var (
	PurposeEmailVerification = Purpose{"email_verification"}
	PurposePasswordReset     = Purpose{"password_reset"}
)

// ParsePurpose turns a stored purpose back into a Purpose.
func ParsePurpose(s string) (Purpose, error) {
	switch s {
	case PurposeEmailVerification.s:
		return PurposeEmailVerification, nil
	case PurposePasswordReset.s:
		return PurposePasswordReset, nil
	}
	return Purpose{}, fmt.Errorf("unknown one-time token purpose %q", s)
}

func (p Purpose) String() string { return p.s }

// TTL is how long a token of this purpose stays valid.
func (p Purpose) TTL() time.Duration {
	if p == PurposePasswordReset {
		return time.Hour
	}
	return 24 * time.Hour
}

// OneTimeToken is a mailed token (email verification, password reset), stored by
// digest and usable once.
type OneTimeToken struct {
	hash      TokenHash
	userID    uuid.UUID
	purpose   Purpose
	createdAt time.Time
	expiresAt time.Time
	usedAt    time.Time
}

// NewOneTimeToken records a token for userID, valid for the purpose's TTL.
func NewOneTimeToken(hash TokenHash, userID uuid.UUID, purpose Purpose, now time.Time) *OneTimeToken {
	return &OneTimeToken{hash: hash, userID: userID, purpose: purpose, createdAt: now, expiresAt: now.Add(purpose.TTL())}
}

// OneTimeTokenSnapshot is every field of a OneTimeToken, for storage.
type OneTimeTokenSnapshot struct {
	Hash      TokenHash
	UserID    uuid.UUID
	Purpose   Purpose
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: not used yet
}

// Snapshot returns the token's fields for storage.
func (t *OneTimeToken) Snapshot() OneTimeTokenSnapshot {
	return OneTimeTokenSnapshot{Hash: t.hash, UserID: t.userID, Purpose: t.purpose, CreatedAt: t.createdAt,
		ExpiresAt: t.expiresAt, UsedAt: t.usedAt}
}

// RehydrateOneTimeToken rebuilds a token from storage.
func RehydrateOneTimeToken(s OneTimeTokenSnapshot) *OneTimeToken {
	return &OneTimeToken{hash: s.Hash, userID: s.UserID, purpose: s.Purpose, createdAt: s.CreatedAt,
		expiresAt: s.ExpiresAt, usedAt: s.UsedAt}
}

func (t *OneTimeToken) Hash() TokenHash      { return t.hash }
func (t *OneTimeToken) UserID() uuid.UUID    { return t.userID }
func (t *OneTimeToken) Purpose() Purpose     { return t.purpose }
func (t *OneTimeToken) CreatedAt() time.Time { return t.createdAt }
func (t *OneTimeToken) ExpiresAt() time.Time { return t.expiresAt }
func (t *OneTimeToken) UsedAt() time.Time    { return t.usedAt }

// Consume marks the token used. A used, expired or wrong-purpose token is
// ErrInvalidOneTimeToken (the expiry instant itself is already expired).
func (t *OneTimeToken) Consume(purpose Purpose, now time.Time) error {
	if t.purpose != purpose || !t.usedAt.IsZero() || !now.Before(t.expiresAt) {
		return ErrInvalidOneTimeToken
	}
	t.usedAt = now
	return nil
}

// Void uses the token up at now without acting on it, so its link stops
// working; a token already used keeps its first use.
func (t *OneTimeToken) Void(now time.Time) {
	if t.usedAt.IsZero() {
		t.usedAt = now
	}
}
