package identity

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/event"
)

// RevokeReason says why a session ended; it is kept for auditing.
type RevokeReason string

// Why sessions end.
const (
	RevokedLogout         RevokeReason = "logout"
	RevokedByUser         RevokeReason = "revoked_by_user"
	RevokedPasswordChange RevokeReason = "password_change"
	RevokedPasswordReset  RevokeReason = "password_reset"
	RevokedRefreshReuse   RevokeReason = "refresh_token_reuse"
	RevokedByAdmin        RevokeReason = "revoked_by_admin"
	RevokedUserDisabled   RevokeReason = "user_disabled"
	RevokedUserDeleted    RevokeReason = "user_deleted"
)

// Session is one login: a family of refresh tokens, each rotated into the next,
// plus the access tokens issued for it. Revoking the session kills them all.
type Session struct {
	id           uuid.UUID
	userID       uuid.UUID
	userAgent    string
	ipAddress    string
	createdAt    time.Time
	lastUsedAt   time.Time
	expiresAt    time.Time
	revokedAt    time.Time
	revokeReason RevokeReason

	events event.Recorder
}

const (
	maxUserAgentLength = 512
	maxIPLength        = 64
)

// NewSession starts a session that lives as long as its refresh token (ttl).
func NewSession(id, userID uuid.UUID, userAgent, ip string, now time.Time, ttl time.Duration) *Session {
	s := &Session{id: id, userID: userID, userAgent: headerText(userAgent, maxUserAgentLength),
		ipAddress: headerText(ip, maxIPLength), createdAt: now, lastUsedAt: now, expiresAt: now.Add(ttl)}
	s.events.Record(event.SessionCreated, now, event.Data{"session_id": id.String()})
	return s
}

// DrainEvents returns the events of the session's changes since the last
// drain (session.created, session.revoked), for its store to write.
func (s *Session) DrainEvents() []event.Event { return s.events.Drain() }

// RevokedEvent is the session.revoked event of the session sessionID revoked
// at now for reason: what Revoke records, for a store that revokes sessions
// in bulk without loading each.
func RevokedEvent(sessionID uuid.UUID, now time.Time, reason RevokeReason) event.Event {
	return event.Event{Type: event.SessionRevoked, OccurredAt: now,
		Data: event.Data{"session_id": sessionID.String(), "reason": string(reason)}}
}

// SessionSnapshot is every field of a Session, for storage.
type SessionSnapshot struct {
	ID, UserID   uuid.UUID
	UserAgent    string
	IPAddress    string
	CreatedAt    time.Time
	LastUsedAt   time.Time
	ExpiresAt    time.Time
	RevokedAt    time.Time // zero: not revoked
	RevokeReason RevokeReason
}

// Snapshot returns the session's fields for storage.
func (s *Session) Snapshot() SessionSnapshot {
	return SessionSnapshot{ID: s.id, UserID: s.userID, UserAgent: s.userAgent, IPAddress: s.ipAddress,
		CreatedAt: s.createdAt, LastUsedAt: s.lastUsedAt, ExpiresAt: s.expiresAt, RevokedAt: s.revokedAt,
		RevokeReason: s.revokeReason}
}

// RehydrateSession rebuilds a session from storage.
func RehydrateSession(s SessionSnapshot) *Session {
	return &Session{id: s.ID, userID: s.UserID, userAgent: s.UserAgent, ipAddress: s.IPAddress, createdAt: s.CreatedAt,
		lastUsedAt: s.LastUsedAt, expiresAt: s.ExpiresAt, revokedAt: s.RevokedAt, revokeReason: s.RevokeReason}
}

func (s *Session) ID() uuid.UUID              { return s.id }
func (s *Session) UserID() uuid.UUID          { return s.userID }
func (s *Session) UserAgent() string          { return s.userAgent }
func (s *Session) IPAddress() string          { return s.ipAddress }
func (s *Session) CreatedAt() time.Time       { return s.createdAt }
func (s *Session) LastUsedAt() time.Time      { return s.lastUsedAt }
func (s *Session) ExpiresAt() time.Time       { return s.expiresAt }
func (s *Session) RevokedAt() time.Time       { return s.revokedAt }
func (s *Session) RevokeReason() RevokeReason { return s.revokeReason }

// IsActive reports whether the session can still be used at now: not revoked and
// not past its expiry (the expiry instant itself is already expired).
func (s *Session) IsActive(now time.Time) bool {
	return s.Validity().IsActive(now)
}

// Validity is what authenticating a request needs to know of a session.
func (s *Session) Validity() SessionValidity {
	return SessionValidity{UserID: s.userID, ExpiresAt: s.expiresAt, RevokedAt: s.revokedAt}
}

// SessionValidity is the part of a session that decides whether its tokens are
// still good: whose it is, when it expires and whether it was revoked. It is
// read on every authenticated request, so stores can fetch just these fields.
type SessionValidity struct {
	UserID    uuid.UUID
	ExpiresAt time.Time
	RevokedAt time.Time // zero: not revoked
}

// IsActive reports whether the session can be used at now: not revoked and not
// past its expiry (the expiry instant itself is already expired).
func (v SessionValidity) IsActive(now time.Time) bool {
	return v.RevokedAt.IsZero() && now.Before(v.ExpiresAt)
}

// Revoke ends the session. Revoking twice keeps the first reason.
func (s *Session) Revoke(now time.Time, reason RevokeReason) {
	if s.revokedAt.IsZero() {
		s.revokedAt, s.revokeReason = now, reason
		e := RevokedEvent(s.id, now, reason)
		s.events.Record(e.Type, e.OccurredAt, e.Data)
	}
}

// Rotation is how refresh tokens are rotated.
type Rotation struct {
	// TTL is the life of each refresh token, and so of an idle session.
	TTL time.Duration
	// MaxLifetime, when positive, is the absolute life of a session: refresh
	// slides its expiry by TTL but never past its creation plus MaxLifetime,
	// so a stolen refresh chain cannot be kept alive forever.
	MaxLifetime time.Duration
	// ReuseGrace, when positive, is how long after its rotation a refresh
	// token may be presented again and rotated again instead of counting as
	// theft: a client whose refresh answer was lost retries with the token it
	// still holds, and parallel refreshes from one client race with one
	// token. After the grace, reuse revokes the session.
	ReuseGrace time.Duration
}

// Rotate trades the presented refresh token for a new one. Presenting a token
// that was rotated more than r.ReuseGrace ago is treated as theft: the whole
// session is revoked and ErrRefreshTokenReused returned; within the grace it
// is rotated again (its first rotation's time is kept, so retries do not
// stretch the grace). An expired token, or one of an inactive session, is
// ErrInvalidRefreshToken. On success the session's expiry slides to the new
// token's (capped by r.MaxLifetime) and the new token's digest is newHash.
func (s *Session) Rotate(presented *RefreshToken, newHash TokenHash, now time.Time, r Rotation) (*RefreshToken, error) {
	if presented.sessionID != s.id {
		return nil, ErrInvalidRefreshToken
	}
	if retried := r.ReuseGrace > 0 && now.Sub(presented.usedAt) <= r.ReuseGrace; !presented.usedAt.IsZero() && !retried {
		s.Revoke(now, RevokedRefreshReuse)
		return nil, ErrRefreshTokenReused
	}
	if !s.IsActive(now) || !now.Before(presented.expiresAt) {
		return nil, ErrInvalidRefreshToken
	}
	if presented.usedAt.IsZero() {
		presented.usedAt = now
	}
	s.lastUsedAt = now
	next := NewRefreshToken(newHash, s.id, now, r.TTL)
	if r.MaxLifetime > 0 {
		if end := s.createdAt.Add(r.MaxLifetime); next.expiresAt.After(end) {
			next.expiresAt = end
		}
	}
	s.expiresAt = next.expiresAt
	return next, nil
}

// RefreshToken is one link in a session's rotation chain, stored by digest.
type RefreshToken struct {
	hash      TokenHash
	sessionID uuid.UUID
	issuedAt  time.Time
	expiresAt time.Time
	usedAt    time.Time // set once rotated
}

// NewRefreshToken records a freshly issued refresh token.
func NewRefreshToken(hash TokenHash, sessionID uuid.UUID, now time.Time, ttl time.Duration) *RefreshToken {
	return &RefreshToken{hash: hash, sessionID: sessionID, issuedAt: now, expiresAt: now.Add(ttl)}
}

// RefreshTokenSnapshot is every field of a RefreshToken, for storage.
type RefreshTokenSnapshot struct {
	Hash      TokenHash
	SessionID uuid.UUID
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: not rotated yet
}

// Snapshot returns the token's fields for storage.
func (t *RefreshToken) Snapshot() RefreshTokenSnapshot {
	return RefreshTokenSnapshot{Hash: t.hash, SessionID: t.sessionID, IssuedAt: t.issuedAt, ExpiresAt: t.expiresAt, UsedAt: t.usedAt}
}

// RehydrateRefreshToken rebuilds a refresh token from storage.
func RehydrateRefreshToken(s RefreshTokenSnapshot) *RefreshToken {
	return &RefreshToken{hash: s.Hash, sessionID: s.SessionID, issuedAt: s.IssuedAt, expiresAt: s.ExpiresAt, usedAt: s.UsedAt}
}

func (t *RefreshToken) Hash() TokenHash      { return t.hash }
func (t *RefreshToken) SessionID() uuid.UUID { return t.sessionID }
func (t *RefreshToken) IssuedAt() time.Time  { return t.issuedAt }
func (t *RefreshToken) ExpiresAt() time.Time { return t.expiresAt }
func (t *RefreshToken) UsedAt() time.Time    { return t.usedAt }

// headerText makes text a client sent in a header fit to store and show: bytes
// that are not UTF-8 (a Latin-1 User-Agent) become U+FFFD, control characters
// (NUL above all, which Postgres refuses in text) are dropped, and the result
// is cut to at most n bytes on a rune boundary.
func headerText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
