package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

var _ providersapp.Repository = (*ProviderStore)(nil)

// ProviderStore is an in-memory implementation of the providers application's
// Repository port, with the semantics of the SQL adapter: a user's aliases are
// unique under provider.AliasKey (provider.ErrAliasTaken), unknown ids are
// domain.ErrNotFound, times are kept in UTC to the microsecond, strings sort by
// their bytes, and ties are broken by id in the direction of the last sort field.
//
// It has no users table, so it cannot refuse a provider of a user that does not
// exist, as the database's foreign key does.
//
// Entities are copied in and out, so a caller cannot change stored state except
// through the port. One mutex serializes every call, closures included; a
// closure must not call back into the store.
type ProviderStore struct {
	mu        sync.Mutex
	providers map[uuid.UUID]*provider.Provider
	// Events is where this store, and the stores built on it (authorizations,
	// syncs, financial data), write the events of their changes.
	Events *EventLog
}

// NewProviderStore returns an empty store.
func NewProviderStore() *ProviderStore {
	return &ProviderStore{providers: map[uuid.UUID]*provider.Provider{}, Events: NewEventLog()}
}

// CreateProvider stores a copy of p. An alias its user already has (by
// provider.AliasKey) is provider.ErrAliasTaken.
func (m *ProviderStore) CreateProvider(_ context.Context, p *provider.Provider) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.providers[p.ID()]; ok {
		return fmt.Errorf("provider %s: %w", p.ID(), errDuplicateKey)
	}
	if m.aliasTaken(p) {
		return provider.ErrAliasTaken
	}
	m.providers[p.ID()] = copyProvider(p)
	return nil
}

// ProviderByID returns the provider with id, or domain.ErrNotFound.
func (m *ProviderStore) ProviderByID(_ context.Context, id uuid.UUID) (*provider.Provider, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.providers[id]
	if !ok {
		return nil, providerNotFound(id)
	}
	return copyProvider(p), nil
}

// UpdateProvider lets fn change a copy of the provider and stores it. fn's error
// discards the copy and is returned as it is; so does a rename onto a taken
// alias, as provider.ErrAliasTaken. An unknown id is domain.ErrNotFound.
func (m *ProviderStore) UpdateProvider(_ context.Context, id uuid.UUID, fn func(*provider.Provider) error) (*provider.Provider, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.providers[id]
	if !ok {
		return nil, providerNotFound(id)
	}
	p := copyProvider(stored)
	if err := fn(p); err != nil {
		return nil, err
	}
	if m.aliasTaken(p) {
		return nil, provider.ErrAliasTaken
	}
	m.providers[id] = copyProvider(p)
	return copyProvider(p), nil
}

// DeleteProvider removes the provider if check, called with a copy, returns nil;
// check's error keeps it and is returned as it is. An unknown id is
// domain.ErrNotFound.
func (m *ProviderStore) DeleteProvider(_ context.Context, id uuid.UUID, check func(*provider.Provider) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.providers[id]
	if !ok {
		return providerNotFound(id)
	}
	if err := check(copyProvider(stored)); err != nil {
		return err
	}
	delete(m.providers, id)
	return nil
}

// ListProviders returns one page of q.UserID's providers, with the SQL adapter's
// filtering, ordering and paging (see persistence.ProviderStore.ListProviders).
func (m *ProviderStore) ListProviders(_ context.Context, q providersapp.ListQuery) ([]*provider.Provider, int64, error) {
	sort := q.Sort
	if len(sort) == 0 {
		sort = providersapp.DefaultSort
	}
	for _, f := range sort {
		if !slices.Contains(providersapp.SortKeys(), f.Key) {
			return nil, 0, fmt.Errorf("list providers: unknown sort key %q", f.Key)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var matching []*provider.Provider
	for _, p := range m.providers {
		if p.UserID() == q.UserID && providerMatches(p, q.Filter) {
			matching = append(matching, p)
		}
	}
	slices.SortFunc(matching, func(a, b *provider.Provider) int {
		return compareProviderPositions(providersapp.PositionOf(a), providersapp.PositionOf(b), sort)
	})
	var total int64
	if q.WithTotal {
		total = int64(len(matching))
	}
	page := matching
	switch {
	case q.After != nil:
		after := *q.After
		after.CreatedAt, after.UpdatedAt = storedTime(after.CreatedAt), storedTime(after.UpdatedAt)
		start, _ := slices.BinarySearchFunc(matching, after, func(p *provider.Provider, pos providersapp.Position) int {
			if compareProviderPositions(providersapp.PositionOf(p), pos, sort) <= 0 {
				return -1
			}
			return 1
		})
		page = matching[start:]
	case q.Offset > 0:
		page = matching[min(q.Offset, len(matching)):]
	}
	if q.Limit > 0 && q.Limit < len(page) {
		page = page[:q.Limit]
	}
	out := make([]*provider.Provider, len(page))
	for i, p := range page {
		out[i] = copyProvider(p)
	}
	return out, total, nil
}

// providerMatches reports whether p passes f. Stored times are whole
// microseconds; the bounds are compared as given.
func providerMatches(p *provider.Provider, f providersapp.Filter) bool {
	switch {
	case !f.Status.IsZero() && p.Status() != f.Status,
		f.Key != "" && p.Key() != f.Key,
		f.Search != "" && !strings.Contains(p.AliasKey(), provider.AliasKey(f.Search)),
		!f.CreatedAfter.IsZero() && !p.CreatedAt().After(f.CreatedAfter),
		!f.CreatedBefore.IsZero() && !p.CreatedAt().Before(f.CreatedBefore):
		return false
	}
	return true
}

// compareProviderPositions orders a before b (negative) or after it (positive)
// under sort: strings by their bytes, ties broken by id in the direction of the
// last field.
func compareProviderPositions(a, b providersapp.Position, sort []providersapp.SortField) int {
	for _, f := range sort {
		var c int
		switch f.Key {
		case providersapp.SortAlias:
			c = strings.Compare(a.Alias, b.Alias)
		case providersapp.SortKeyField:
			c = strings.Compare(a.Key, b.Key)
		case providersapp.SortCreatedAt:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case providersapp.SortUpdatedAt:
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		}
		if f.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	c := bytes.Compare(a.ID[:], b.ID[:])
	if sort[len(sort)-1].Desc {
		c = -c
	}
	return c
}

// aliasTaken reports whether another provider of p's user has p's alias key.
func (m *ProviderStore) aliasTaken(p *provider.Provider) bool {
	for _, other := range m.providers {
		if other.UserID() == p.UserID() && other.AliasKey() == p.AliasKey() && other.ID() != p.ID() {
			return true
		}
	}
	return false
}

func providerNotFound(id uuid.UUID) error {
	return fmt.Errorf("provider %s: %w", id, domain.ErrNotFound)
}

func copyProvider(p *provider.Provider) *provider.Provider {
	s := p.Snapshot()
	s.CreatedAt, s.UpdatedAt = storedTime(s.CreatedAt), storedTime(s.UpdatedAt)
	return provider.Rehydrate(s)
}
