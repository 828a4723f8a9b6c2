package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

var _ providersapp.Authorizations = (*AuthorizationStore)(nil)

// AuthorizationStore is an in-memory implementation of the providers
// application's Authorizations port, with the semantics of the SQL adapter
// (persistence.AuthorizationStore) minus the encryption: one authorization per
// provider, deleted with its provider; times kept in UTC to the microsecond;
// no scopes read back as nil, and a scope that is empty or holds whitespace
// cannot be stored; UpdateAuthorization changes the provider and its
// authorization together or not at all; claims are disjoint.
//
// It works on the providers of a ProviderStore, under that store's mutex, so
// one lock serializes both stores, closures included; a closure must not call
// back into either store. Entities are copied in and out.
type AuthorizationStore struct {
	providers *ProviderStore
	// auths is keyed by provider id and guarded by providers.mu. An entry whose
	// provider is gone is dead: the SQL store's foreign key cascades.
	auths map[uuid.UUID]provider.AuthorizationSnapshot
	// onGrant, when set (SyncStore.BeginOnGrant), runs under the lock when an
	// update stores a grant, before anything is stored; its error aborts the
	// update.
	onGrant func(providerID uuid.UUID, now time.Time) error
	// setAside holds revoked credentials still to be revoked at their
	// institution, and queue gets their RevokeJobs (SetAsideOn).
	setAside map[uuid.UUID]providersapp.SetAside
	queue    *JobQueue
}

// SetAsideOn makes the store keep the credentials a revocation set aside, as
// the SQL store's WithSetAside does, enqueueing their RevokeJobs on q. It
// returns m.
func (m *AuthorizationStore) SetAsideOn(q *JobQueue) *AuthorizationStore {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	m.queue = q
	return m
}

// SetAsideCredentials returns the set-aside credentials with id, or
// domain.ErrNotFound.
func (m *AuthorizationStore) SetAsideCredentials(_ context.Context, id uuid.UUID) (providersapp.SetAside, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	sa, ok := m.setAside[id]
	if !ok {
		return providersapp.SetAside{}, fmt.Errorf("set-aside credentials %s: %w", id, domain.ErrNotFound)
	}
	return sa, nil
}

// ForgetSetAside deletes the set-aside credentials with id.
func (m *AuthorizationStore) ForgetSetAside(_ context.Context, id uuid.UUID) error {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	delete(m.setAside, id)
	return nil
}

// keepSetAside keeps creds, set aside by p's revocation, and enqueues their
// RevokeJob. The caller holds the lock.
func (m *AuthorizationStore) keepSetAside(ctx context.Context, p *provider.Provider, creds provider.Credentials) error {
	if m.queue == nil {
		return fmt.Errorf("credentials of provider %s were set aside, but the store has no job queue to revoke them", p.ID())
	}
	id := uuid.New()
	if _, err := m.queue.Enqueue(ctx, providersapp.RevokeJob{SetAsideID: id}); err != nil {
		return err
	}
	creds.Scopes = slices.Clone(creds.Scopes)
	m.setAside[id] = providersapp.SetAside{ID: id, ProviderKey: p.Key(), Credentials: creds}
	return nil
}

// NewAuthorizationStore returns an empty store of the authorizations of
// providers' providers. Deleting a provider there deletes its authorization.
func NewAuthorizationStore(providers *ProviderStore) *AuthorizationStore {
	return &AuthorizationStore{providers: providers, auths: map[uuid.UUID]provider.AuthorizationSnapshot{},
		setAside: map[uuid.UUID]providersapp.SetAside{}}
}

// AuthorizationByProvider returns the provider's authorization, or
// domain.ErrNotFound.
func (m *AuthorizationStore) AuthorizationByProvider(_ context.Context, providerID uuid.UUID) (*provider.Authorization, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	s, ok := m.live(providerID)
	if !ok {
		return nil, fmt.Errorf("authorization of provider %s: %w", providerID, domain.ErrNotFound)
	}
	return provider.RehydrateAuthorization(copySnapshot(s)), nil
}

// AuthorizationByState returns the authorization whose attempt in flight has
// this state digest, or domain.ErrNotFound.
func (m *AuthorizationStore) AuthorizationByState(_ context.Context, stateHash [32]byte) (*provider.Authorization, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	for id := range m.auths {
		if s, ok := m.live(id); ok && s.StateHash != nil && bytes.Equal(s.StateHash, stateHash[:]) {
			return provider.RehydrateAuthorization(copySnapshot(s)), nil
		}
	}
	return nil, fmt.Errorf("authorization by state: %w", domain.ErrNotFound)
}

// UpdateAuthorization calls fn with copies of the provider and its
// authorization (nil when none), then stores both and returns copies of what it
// stored; see persistence.AuthorizationStore.UpdateAuthorization. fn's error
// discards both copies and is returned as it is. An unknown provider is
// domain.ErrNotFound.
func (m *AuthorizationStore) UpdateAuthorization(ctx context.Context, providerID uuid.UUID,
	fn func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error),
) (*provider.Provider, *provider.Authorization, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	stored, ok := m.providers.providers[providerID]
	if !ok {
		return nil, nil, fmt.Errorf("update authorization: %w", providerNotFound(providerID))
	}
	p := copyProvider(stored)
	var current *provider.Authorization
	snap, exists := m.live(providerID)
	before := snap // what fn may change in current
	if exists {
		current = provider.RehydrateAuthorization(copySnapshot(snap))
	}
	next, err := fn(p, current)
	if err != nil {
		return nil, nil, err
	}
	if next != nil {
		if next.ProviderID() != providerID || next.UserID() != p.UserID() {
			return nil, nil, fmt.Errorf("the closure returned the authorization of provider %s (user %s) for provider %s (user %s)",
				next.ProviderID(), next.UserID(), providerID, p.UserID())
		}
		snap, exists = copySnapshot(next.Snapshot()), true
		if err := checkScopes(snap.Credentials.Scopes); err != nil {
			return nil, nil, fmt.Errorf("authorization of provider %s: %w", providerID, err)
		}
	}
	if m.providers.aliasTaken(p) {
		return nil, nil, provider.ErrAliasTaken
	}
	if next != nil && m.onGrant != nil && granted(exists, before, snap) {
		if err := m.onGrant(providerID, snap.AuthorizedAt); err != nil {
			return nil, nil, err
		}
	}
	if next != nil && !next.SetAside().IsZero() {
		if err := m.keepSetAside(ctx, p, next.SetAside()); err != nil {
			return nil, nil, err
		}
	}
	if next != nil {
		m.auths[providerID] = snap
		m.providers.Events.write(p.UserID(), next.DrainEvents())
	}
	if p.Version() != stored.Version() {
		m.providers.providers[providerID] = copyProvider(p)
	}
	var saved *provider.Authorization
	if exists {
		saved = provider.RehydrateAuthorization(copySnapshot(snap))
	}
	return copyProvider(m.providers.providers[providerID]), saved, nil
}

// granted reports whether storing next over before (exists false: none)
// stores a grant: the authorization turns active, or is granted anew while
// active.
func granted(exists bool, before, next provider.AuthorizationSnapshot) bool {
	if next.Status != provider.AuthorizationActive {
		return false
	}
	return !exists || before.Status != provider.AuthorizationActive || !before.AuthorizedAt.Equal(next.AuthorizedAt)
}

// ClaimDueRefreshes gives owner the refresh lease of at most limit due
// authorizations, soonest expiring first; see
// persistence.AuthorizationStore.ClaimDueRefreshes.
func (m *AuthorizationStore) ClaimDueRefreshes(_ context.Context, owner uuid.UUID, now, dueBefore, until time.Time, limit int) ([]*provider.Authorization, error) {
	if limit < 1 {
		return nil, nil
	}
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	now, until = storedTime(now), storedTime(until)
	var due []provider.AuthorizationSnapshot
	for id := range m.auths {
		s, ok := m.live(id)
		if !ok {
			continue
		}
		c := s.Credentials
		leaseFree := s.LeaseOwner == uuid.Nil || s.LeaseUntil.IsZero() || !s.LeaseUntil.After(now)
		if s.Status == provider.AuthorizationActive && c.RefreshToken != "" && !c.ExpiresAt.IsZero() &&
			c.ExpiresAt.Before(dueBefore) && leaseFree {
			due = append(due, s)
		}
	}
	slices.SortFunc(due, func(a, b provider.AuthorizationSnapshot) int {
		return cmp.Or(a.Credentials.ExpiresAt.Compare(b.Credentials.ExpiresAt), bytes.Compare(a.ProviderID[:], b.ProviderID[:]))
	})
	due = due[:min(limit, len(due))]
	out := make([]*provider.Authorization, len(due))
	for i, s := range due {
		s.LeaseOwner, s.LeaseUntil = owner, until
		m.auths[s.ProviderID] = s
		out[i] = provider.RehydrateAuthorization(copySnapshot(s))
	}
	return out, nil
}

// live returns the authorization of the provider if both exist, and forgets an
// authorization whose provider was deleted (the cascade of the SQL store).
func (m *AuthorizationStore) live(providerID uuid.UUID) (provider.AuthorizationSnapshot, bool) {
	s, ok := m.auths[providerID]
	if !ok {
		return s, false
	}
	if _, exists := m.providers.providers[providerID]; !exists {
		delete(m.auths, providerID)
		return s, false
	}
	return s, true
}

// copySnapshot is s as the database would give it back: its own slices, times
// in UTC to the microsecond, no scopes as nil.
func copySnapshot(s provider.AuthorizationSnapshot) provider.AuthorizationSnapshot {
	s.StateHash = bytes.Clone(s.StateHash)
	if len(s.StateHash) == 0 {
		s.StateHash = nil
	}
	s.Credentials.Scopes = slices.Clone(s.Credentials.Scopes)
	if len(s.Credentials.Scopes) == 0 {
		s.Credentials.Scopes = nil
	}
	for _, t := range []*time.Time{&s.StateExpiresAt, &s.Begun.LinkExpiresAt, &s.Credentials.ExpiresAt, &s.Credentials.RefreshExpiresAt,
		&s.AuthorizedAt, &s.RefreshedAt, &s.LeaseUntil, &s.CreatedAt, &s.UpdatedAt} {
		*t = storedTime(*t)
	}
	return s
}

// checkScopes refuses what the SQL store cannot store as space-separated
// scopes.
func checkScopes(scopes []string) error {
	for i, sc := range scopes {
		if sc == "" || strings.ContainsFunc(sc, unicode.IsSpace) {
			return fmt.Errorf("scope %d is empty or contains whitespace, which cannot be stored", i)
		}
	}
	return nil
}
