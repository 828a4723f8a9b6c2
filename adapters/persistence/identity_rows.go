package persistence

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/identity"
)

// The row structs mirror migrations/*/00001_identity.sql. Nullable times are
// pointers: NULL is the domain's zero time. gorm's automatic CreatedAt/UpdatedAt
// handling is off, because the domain sets those times from its clock.

type userRow struct {
	ID              uuid.UUID  `gorm:"column:id;primaryKey"`
	Email           string     `gorm:"column:email"`
	Name            string     `gorm:"column:name"`
	PasswordHash    string     `gorm:"column:password_hash"`
	EmailVerifiedAt *time.Time `gorm:"column:email_verified_at"`
	Role            string     `gorm:"column:role"`
	Status          string     `gorm:"column:status"`
	CreatedAt       time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt       time.Time  `gorm:"column:updated_at;autoCreateTime:false;autoUpdateTime:false"`
}

func (userRow) TableName() string { return "users" }

type sessionRow struct {
	ID           uuid.UUID  `gorm:"column:id;primaryKey"`
	UserID       uuid.UUID  `gorm:"column:user_id"`
	UserAgent    string     `gorm:"column:user_agent"`
	IPAddress    string     `gorm:"column:ip_address"`
	CreatedAt    time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	LastUsedAt   time.Time  `gorm:"column:last_used_at"`
	ExpiresAt    time.Time  `gorm:"column:expires_at"`
	RevokedAt    *time.Time `gorm:"column:revoked_at"`
	RevokeReason string     `gorm:"column:revoke_reason"`
}

func (sessionRow) TableName() string { return "sessions" }

type refreshTokenRow struct {
	TokenHash []byte     `gorm:"column:token_hash;primaryKey"`
	SessionID uuid.UUID  `gorm:"column:session_id"`
	IssuedAt  time.Time  `gorm:"column:issued_at"`
	ExpiresAt time.Time  `gorm:"column:expires_at"`
	UsedAt    *time.Time `gorm:"column:used_at"`
}

func (refreshTokenRow) TableName() string { return "refresh_tokens" }

type oneTimeTokenRow struct {
	TokenHash []byte     `gorm:"column:token_hash;primaryKey"`
	UserID    uuid.UUID  `gorm:"column:user_id"`
	Purpose   string     `gorm:"column:purpose"`
	CreatedAt time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	ExpiresAt time.Time  `gorm:"column:expires_at"`
	UsedAt    *time.Time `gorm:"column:used_at"`
}

func (oneTimeTokenRow) TableName() string { return "one_time_tokens" }

func userFromDomain(u *identity.User) userRow {
	return userRow{
		ID:              u.ID(),
		Email:           u.Email().String(),
		Name:            u.Name(),
		PasswordHash:    u.PasswordHash(),
		EmailVerifiedAt: nullableTime(u.EmailVerifiedAt()),
		Role:            u.Role().String(),
		Status:          u.Status().String(),
		CreatedAt:       dbTime(u.CreatedAt()),
		UpdatedAt:       dbTime(u.UpdatedAt()),
	}
}

func (r userRow) toDomain() (*identity.User, error) {
	email, err := identity.ParseEmail(r.Email)
	if err != nil {
		// Not wrapped: a stored row that no longer validates is our fault, not a
		// validation error of the caller's input.
		return nil, fmt.Errorf("user %s: stored email is invalid: %v", r.ID, err) //nolint:errorlint // must not map to a 422
	}
	role, err := identity.ParseRole(r.Role)
	if err != nil {
		return nil, fmt.Errorf("user %s: stored role: %w", r.ID, err)
	}
	status, err := identity.ParseUserStatus(r.Status)
	if err != nil {
		return nil, fmt.Errorf("user %s: stored status: %w", r.ID, err)
	}
	return identity.RehydrateUser(identity.UserSnapshot{ID: r.ID, Email: email, Name: r.Name, PasswordHash: r.PasswordHash,
		EmailVerifiedAt: domainTime(r.EmailVerifiedAt), Role: role, Status: status, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}), nil
}

func sessionFromDomain(s *identity.Session) sessionRow {
	return sessionRow{
		ID:           s.ID(),
		UserID:       s.UserID(),
		UserAgent:    s.UserAgent(),
		IPAddress:    s.IPAddress(),
		CreatedAt:    dbTime(s.CreatedAt()),
		LastUsedAt:   dbTime(s.LastUsedAt()),
		ExpiresAt:    dbTime(s.ExpiresAt()),
		RevokedAt:    nullableTime(s.RevokedAt()),
		RevokeReason: string(s.RevokeReason()),
	}
}

func (r sessionRow) toDomain() *identity.Session {
	return identity.RehydrateSession(identity.SessionSnapshot{ID: r.ID, UserID: r.UserID, UserAgent: r.UserAgent,
		IPAddress: r.IPAddress, CreatedAt: r.CreatedAt.UTC(), LastUsedAt: r.LastUsedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		RevokedAt: domainTime(r.RevokedAt), RevokeReason: identity.RevokeReason(r.RevokeReason)})
}

func refreshTokenFromDomain(t *identity.RefreshToken) refreshTokenRow {
	h := t.Hash()
	return refreshTokenRow{
		TokenHash: h[:],
		SessionID: t.SessionID(),
		IssuedAt:  dbTime(t.IssuedAt()),
		ExpiresAt: dbTime(t.ExpiresAt()),
		UsedAt:    nullableTime(t.UsedAt()),
	}
}

func (r refreshTokenRow) toDomain() (*identity.RefreshToken, error) {
	h, err := tokenHash(r.TokenHash)
	if err != nil {
		return nil, fmt.Errorf("refresh token of session %s: %w", r.SessionID, err)
	}
	return identity.RehydrateRefreshToken(identity.RefreshTokenSnapshot{Hash: h, SessionID: r.SessionID,
		IssuedAt: r.IssuedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), UsedAt: domainTime(r.UsedAt)}), nil
}

func oneTimeTokenFromDomain(t *identity.OneTimeToken) oneTimeTokenRow {
	h := t.Hash()
	return oneTimeTokenRow{
		TokenHash: h[:],
		UserID:    t.UserID(),
		Purpose:   t.Purpose().String(),
		CreatedAt: dbTime(t.CreatedAt()),
		ExpiresAt: dbTime(t.ExpiresAt()),
		UsedAt:    nullableTime(t.UsedAt()),
	}
}

func (r oneTimeTokenRow) toDomain() (*identity.OneTimeToken, error) {
	h, err := tokenHash(r.TokenHash)
	if err != nil {
		return nil, fmt.Errorf("one-time token of user %s: %w", r.UserID, err)
	}
	purpose, err := identity.ParsePurpose(r.Purpose)
	if err != nil {
		return nil, fmt.Errorf("one-time token of user %s: %w", r.UserID, err)
	}
	return identity.RehydrateOneTimeToken(identity.OneTimeTokenSnapshot{Hash: h, UserID: r.UserID, Purpose: purpose,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), UsedAt: domainTime(r.UsedAt)}), nil
}

// dbTime is how every time is stored: UTC, to the microsecond (Postgres'
// precision), without a monotonic reading. SQLite stores times as text, so one
// zone and one precision also keep its comparisons and ordering right.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullableTime stores the domain's zero time as NULL.
func nullableTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	v := dbTime(t)
	return &v
}

// domainTime reads NULL as the zero time, and anything else in UTC.
func domainTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func tokenHash(b []byte) (identity.TokenHash, error) {
	var h identity.TokenHash
	if len(b) != len(h) {
		return h, fmt.Errorf("stored token digest has %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}
