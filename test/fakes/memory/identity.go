// Package memory holds in-memory fakes of the application's storage ports, for
// use-case tests that need no database. Each fake passes the same contract suite
// as the real adapter (test/contract/...), so it can be trusted to behave alike.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

var (
	_ identityapp.Users         = (*IdentityStore)(nil)
	_ identityapp.Sessions      = (*IdentityStore)(nil)
	_ identityapp.OneTimeTokens = (*IdentityStore)(nil)
	_ identityapp.Retention     = (*IdentityStore)(nil)
)

// IdentityStore is an in-memory implementation of the identity application's
// Users, Sessions and OneTimeTokens ports, with the semantics of the SQL adapter:
// times are kept in UTC to the microsecond, a taken email is
// identity.ErrEmailTaken, unknown ids are domain.ErrNotFound, and
// RotateRefreshToken keeps the closure's changes even when it returns an error.
//
// Entities are copied in and out, so a caller cannot change stored state except
// through the ports. One mutex serializes every call, closures included; a
// closure must not call back into the store.
type IdentityStore struct {
	mu       sync.Mutex
	users    map[uuid.UUID]*identity.User
	sessions map[uuid.UUID]*identity.Session
	refresh  map[identity.TokenHash]*identity.RefreshToken
	oneTime  map[identity.TokenHash]*identity.OneTimeToken
	jobs     *JobQueue
	// Events is where the store writes the events of its changes. Point it
	// at a ProviderStore's log to read one log of every store.
	Events *EventLog
}

// NewIdentityStore returns an empty store that enqueues the jobs its changes
// call for on jobs.
func NewIdentityStore(jobs *JobQueue) *IdentityStore {
	return &IdentityStore{
		jobs:     jobs,
		Events:   NewEventLog(),
		users:    map[uuid.UUID]*identity.User{},
		sessions: map[uuid.UUID]*identity.Session{},
		refresh:  map[identity.TokenHash]*identity.RefreshToken{},
		oneTime:  map[identity.TokenHash]*identity.OneTimeToken{},
	}
}

// errDuplicateKey stands for the primary-key violations of the database: an id or
// token digest stored twice.
var errDuplicateKey = errors.New("memory: duplicate key")

// CreateUser stores u and enqueues mail, both or neither. A taken email is
// identity.ErrEmailTaken.
func (m *IdentityStore) CreateUser(ctx context.Context, u *identity.User, mail jobs.Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.ID()]; ok {
		return fmt.Errorf("user %s: %w", u.ID(), errDuplicateKey)
	}
	if m.emailTaken(u.Email(), u.ID()) {
		return identity.ErrEmailTaken
	}
	if _, err := m.jobs.Enqueue(ctx, mail); err != nil {
		return err
	}
	m.users[u.ID()] = copyUser(u)
	return nil
}

// UserByID returns the user with id, or domain.ErrNotFound.
func (m *IdentityStore) UserByID(_ context.Context, id uuid.UUID) (*identity.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return nil, fmt.Errorf("user %s: %w", id, domain.ErrNotFound)
	}
	return copyUser(u), nil
}

// UserByEmail returns the user registered with email, or domain.ErrNotFound.
func (m *IdentityStore) UserByEmail(_ context.Context, email identity.Email) (*identity.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Email() == email {
			return copyUser(u), nil
		}
	}
	return nil, fmt.Errorf("user by email: %w", domain.ErrNotFound)
}

// UpdateUser lets fn change a copy of the user and stores it. fn's error discards
// the copy and is returned as it is. An unknown id is domain.ErrNotFound.
func (m *IdentityStore) UpdateUser(_ context.Context, id uuid.UUID, fn func(*identity.User) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.users[id]
	if !ok {
		return fmt.Errorf("update user %s: %w", id, domain.ErrNotFound)
	}
	u := copyUser(stored)
	if err := fn(u); err != nil {
		return err
	}
	if m.emailTaken(u.Email(), id) {
		return identity.ErrEmailTaken
	}
	m.users[id] = copyUser(u)
	m.Events.write(id, u.DrainEvents())
	return nil
}

// CreateSession stores s and its first refresh token, both or neither. A user
// that does not exist is domain.ErrNotFound.
func (m *IdentityStore) CreateSession(_ context.Context, s *identity.Session, first *identity.RefreshToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[s.UserID()]; !ok {
		return fmt.Errorf("create session: user %s: %w", s.UserID(), domain.ErrNotFound)
	}
	if _, ok := m.sessions[s.ID()]; ok {
		return fmt.Errorf("session %s: %w", s.ID(), errDuplicateKey)
	}
	if _, ok := m.sessions[first.SessionID()]; !ok && first.SessionID() != s.ID() {
		return fmt.Errorf("create session: session %s: %w", first.SessionID(), domain.ErrNotFound)
	}
	if _, ok := m.refresh[first.Hash()]; ok {
		return fmt.Errorf("refresh token: %w", errDuplicateKey)
	}
	m.sessions[s.ID()] = copySession(s)
	m.refresh[first.Hash()] = copyRefreshToken(first)
	m.Events.write(s.UserID(), s.DrainEvents())
	return nil
}

// SessionByID returns the session with id, active or not, or domain.ErrNotFound.
func (m *IdentityStore) SessionByID(_ context.Context, id uuid.UUID) (*identity.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, fmt.Errorf("session %s: %w", id, domain.ErrNotFound)
	}
	return copySession(s), nil
}

// SessionValidity returns the session's owner, expiry and revocation.
func (m *IdentityStore) SessionValidity(ctx context.Context, id uuid.UUID) (identity.SessionValidity, error) {
	s, err := m.SessionByID(ctx, id)
	if err != nil {
		return identity.SessionValidity{}, err
	}
	return s.Validity(), nil
}

// ListActiveSessions returns the user's sessions active at now, newest first (ties
// broken by id, descending), skipping offset and returning at most limit (0 or
// less: no limit), with how many there are in all.
func (m *IdentityStore) ListActiveSessions(_ context.Context, userID uuid.UUID, now time.Time, offset, limit int) ([]*identity.Session, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now = storedTime(now)
	var active []*identity.Session
	for _, s := range m.sessions {
		if s.UserID() == userID && s.IsActive(now) {
			active = append(active, s)
		}
	}
	slices.SortFunc(active, func(a, b *identity.Session) int {
		if c := b.CreatedAt().Compare(a.CreatedAt()); c != 0 {
			return c
		}
		aID, bID := a.ID(), b.ID()
		return bytes.Compare(bID[:], aID[:])
	})
	total := int64(len(active))
	page := active[min(max(offset, 0), len(active)):]
	if limit > 0 && limit < len(page) {
		page = page[:limit]
	}
	out := make([]*identity.Session, len(page))
	for i, s := range page {
		out[i] = copySession(s)
	}
	return out, total, nil
}

// UpdateSession lets fn change a copy of the session and stores it. fn's error
// discards the copy and is returned as it is. An unknown id is domain.ErrNotFound.
func (m *IdentityStore) UpdateSession(_ context.Context, id uuid.UUID, fn func(*identity.Session) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.sessions[id]
	if !ok {
		return fmt.Errorf("update session %s: %w", id, domain.ErrNotFound)
	}
	s := copySession(stored)
	if err := fn(s); err != nil {
		return err
	}
	m.sessions[id] = copySession(s)
	m.Events.write(s.UserID(), s.DrainEvents())
	return nil
}

// RevokeUserSessions revokes, at now and for reason, every session of the user
// that is active at now, except keep (uuid.Nil keeps none).
func (m *IdentityStore) RevokeUserSessions(_ context.Context, userID, keep uuid.UUID, now time.Time, reason identity.RevokeReason) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now = storedTime(now)
	for _, s := range m.sessions {
		if s.UserID() == userID && s.ID() != keep && s.IsActive(now) {
			s.Revoke(now, reason)
			m.Events.write(userID, s.DrainEvents())
		}
	}
	return nil
}

// RotateRefreshToken calls rotate with copies of the refresh token with hash and
// its session, then stores whatever rotate changed (and the new token it returns,
// if any) even when rotate returns an error, and returns that error. An unknown
// digest is identity.ErrInvalidRefreshToken.
func (m *IdentityStore) RotateRefreshToken(_ context.Context, hash identity.TokenHash,
	rotate func(presented *identity.RefreshToken, s *identity.Session) (*identity.RefreshToken, error),
) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.refresh[hash]
	if !ok {
		return identity.ErrInvalidRefreshToken
	}
	storedSession, ok := m.sessions[stored.SessionID()]
	if !ok {
		return fmt.Errorf("rotate refresh token: session %s: %w", stored.SessionID(), domain.ErrNotFound)
	}
	presented, s := copyRefreshToken(stored), copySession(storedSession)
	next, rotateErr := rotate(presented, s)
	// Like a failed INSERT in the SQL adapter's transaction, a bad new token
	// stores nothing.
	if next != nil {
		if _, ok := m.refresh[next.Hash()]; ok {
			return fmt.Errorf("refresh token: %w", errDuplicateKey)
		}
		if _, ok := m.sessions[next.SessionID()]; !ok && next.SessionID() != s.ID() {
			return fmt.Errorf("rotate refresh token: session %s: %w", next.SessionID(), domain.ErrNotFound)
		}
	}
	m.refresh[hash] = copyRefreshToken(presented)
	m.sessions[s.ID()] = copySession(s)
	if next != nil {
		m.refresh[next.Hash()] = copyRefreshToken(next)
	}
	m.Events.write(s.UserID(), s.DrainEvents())
	return rotateErr
}

// CreateOneTimeToken stores t. A user that does not exist is domain.ErrNotFound.
func (m *IdentityStore) CreateOneTimeToken(_ context.Context, t *identity.OneTimeToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[t.UserID()]; !ok {
		return fmt.Errorf("create one-time token: user %s: %w", t.UserID(), domain.ErrNotFound)
	}
	if _, ok := m.oneTime[t.Hash()]; ok {
		return fmt.Errorf("one-time token: %w", errDuplicateKey)
	}
	m.oneTime[t.Hash()] = copyOneTimeToken(t)
	return nil
}

// ConsumeOneTimeToken calls fn with copies of the one-time token with hash and
// its user and stores both. fn's error discards both copies and is returned as it
// is. An unknown digest is identity.ErrInvalidOneTimeToken.
func (m *IdentityStore) ConsumeOneTimeToken(_ context.Context, hash identity.TokenHash, fn func(*identity.OneTimeToken, *identity.User) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.oneTime[hash]
	if !ok {
		return identity.ErrInvalidOneTimeToken
	}
	storedUser, ok := m.users[stored.UserID()]
	if !ok {
		return fmt.Errorf("consume one-time token: user %s: %w", stored.UserID(), domain.ErrNotFound)
	}
	t, u := copyOneTimeToken(stored), copyUser(storedUser)
	if err := fn(t, u); err != nil {
		return err
	}
	if m.emailTaken(u.Email(), u.ID()) {
		return identity.ErrEmailTaken
	}
	m.oneTime[hash] = copyOneTimeToken(t)
	m.users[u.ID()] = copyUser(u)
	m.Events.write(u.ID(), u.DrainEvents())
	return nil
}

// VoidOneTimeTokens uses up every unused token of the user for purpose; see
// persistence.IdentityStore.VoidOneTimeTokens.
func (m *IdentityStore) VoidOneTimeTokens(_ context.Context, userID uuid.UUID, purpose identity.Purpose, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for hash, stored := range m.oneTime {
		if stored.UserID() == userID && stored.Purpose() == purpose {
			t := copyOneTimeToken(stored)
			t.Void(now)
			m.oneTime[hash] = copyOneTimeToken(t)
		}
	}
	return nil
}

// PurgeExpired deletes what ended before the cutoffs; see
// persistence.IdentityStore.PurgeExpired.
func (m *IdentityStore) PurgeExpired(_ context.Context, c identityapp.RetentionCutoffs) (identityapp.RetentionCounts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var counts identityapp.RetentionCounts
	for id, u := range m.users {
		if !u.IsEmailVerified() && u.CreatedAt().Before(c.UnverifiedCreatedBefore) {
			delete(m.users, id)
			counts.Users++
		}
	}
	for id, s := range m.sessions {
		_, owned := m.users[s.UserID()]
		ended := s.ExpiresAt().Before(c.SessionsEndedBefore) ||
			(!s.RevokedAt().IsZero() && s.RevokedAt().Before(c.SessionsEndedBefore))
		if !owned || ended {
			delete(m.sessions, id)
			if owned {
				counts.Sessions++
			}
		}
	}
	for hash, t := range m.refresh {
		if _, ok := m.sessions[t.SessionID()]; !ok {
			delete(m.refresh, hash)
		}
	}
	for hash, t := range m.oneTime {
		_, owned := m.users[t.UserID()]
		if !owned || t.ExpiresAt().Before(c.TokensExpiredBefore) {
			delete(m.oneTime, hash)
			if owned {
				counts.OneTimeTokens++
			}
		}
	}
	return counts, nil
}

// CountOneTimeTokens counts the user's tokens for purpose created at or after
// since; see persistence.IdentityStore.CountOneTimeTokens.
func (m *IdentityStore) CountOneTimeTokens(_ context.Context, userID uuid.UUID, purpose identity.Purpose, since time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, t := range m.oneTime {
		if t.UserID() == userID && t.Purpose() == purpose && !t.CreatedAt().Before(since) {
			n++
		}
	}
	return n, nil
}

// emailTaken reports whether a user other than id has email.
func (m *IdentityStore) emailTaken(email identity.Email, id uuid.UUID) bool {
	for _, other := range m.users {
		if other.Email() == email && other.ID() != id {
			return true
		}
	}
	return false
}

// storedTime is a time as the database keeps it: UTC, to the microsecond.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func copyUser(u *identity.User) *identity.User {
	s := u.Snapshot()
	s.EmailVerifiedAt, s.CreatedAt, s.UpdatedAt = storedTime(s.EmailVerifiedAt), storedTime(s.CreatedAt), storedTime(s.UpdatedAt)
	return identity.RehydrateUser(s)
}

func copySession(sess *identity.Session) *identity.Session {
	s := sess.Snapshot()
	for _, t := range []*time.Time{&s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt, &s.RevokedAt} {
		*t = storedTime(*t)
	}
	return identity.RehydrateSession(s)
}

func copyRefreshToken(t *identity.RefreshToken) *identity.RefreshToken {
	s := t.Snapshot()
	s.IssuedAt, s.ExpiresAt, s.UsedAt = storedTime(s.IssuedAt), storedTime(s.ExpiresAt), storedTime(s.UsedAt)
	return identity.RehydrateRefreshToken(s)
}

func copyOneTimeToken(t *identity.OneTimeToken) *identity.OneTimeToken {
	s := t.Snapshot()
	s.CreatedAt, s.ExpiresAt, s.UsedAt = storedTime(s.CreatedAt), storedTime(s.ExpiresAt), storedTime(s.UsedAt)
	return identity.RehydrateOneTimeToken(s)
}
