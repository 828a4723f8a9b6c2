package providers

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// Registry holds the connectors this instance offers, by provider key. Bootstrap
// builds it explicitly from configuration.
type Registry struct {
	byKey map[string]Connector
	keys  []string
}

// NewRegistry indexes connectors by their type key; a duplicate key is an error.
func NewRegistry(connectors ...Connector) (*Registry, error) {
	r := &Registry{byKey: map[string]Connector{}}
	for _, c := range connectors {
		key := c.Type().Key
		if _, dup := r.byKey[key]; dup {
			return nil, fmt.Errorf("providers: two connectors with key %q", key)
		}
		r.byKey[key] = c
		r.keys = append(r.keys, key)
	}
	slices.Sort(r.keys)
	return r, nil
}

// Connector returns the connector for key.
func (r *Registry) Connector(key string) (Connector, bool) {
	c, ok := r.byKey[key]
	return c, ok
}

// Types lists the provider types, ordered by key.
func (r *Registry) Types() []ProviderType {
	out := make([]ProviderType, len(r.keys))
	for i, k := range r.keys {
		out[i] = r.byKey[k].Type()
	}
	return out
}

// Service implements the providers use cases.
type Service struct {
	repo     Repository
	accounts Accounts
	registry *Registry
	clock    Clock
}

// NewService builds the providers use cases.
func NewService(repo Repository, accounts Accounts, registry *Registry, clock Clock) *Service {
	return &Service{repo: repo, accounts: accounts, registry: registry, clock: clock}
}

// Types lists the provider catalog.
func (s *Service) Types() []ProviderType { return s.registry.Types() }

// Type returns one catalog entry, or domain.ErrNotFound.
func (s *Service) Type(key string) (ProviderType, error) {
	c, ok := s.registry.Connector(key)
	if !ok {
		return ProviderType{}, fmt.Errorf("provider type %q: %w", key, domain.ErrNotFound)
	}
	return c.Type(), nil
}

// Precondition is an If-Match condition: the versions the client is willing to
// change. Nil means unconditional.
type Precondition []int64

// check returns domain.ErrPreconditionFailed unless p's version is acceptable.
func (pc Precondition) check(p *provider.Provider) error {
	if pc != nil && !slices.Contains(pc, p.Version()) {
		return fmt.Errorf("provider %s is at version %d: %w", p.ID(), p.Version(), domain.ErrPreconditionFailed)
	}
	return nil
}

// Create adds a provider for the caller, who must have verified their email.
func (s *Service) Create(ctx context.Context, userID uuid.UUID, key, alias string) (*provider.Provider, error) {
	user, err := s.accounts.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := user.RequireVerifiedEmail(); err != nil {
		return nil, err
	}
	verr := &domain.ValidationError{}
	if _, ok := s.registry.Connector(key); !ok {
		verr.Add("provider_key", "unknown", "Unknown provider_key; GET /api/v1/provider-types lists the valid ones.")
	}
	_, aliasErr := provider.ValidateAlias(alias)
	verr.Merge(aliasErr)
	if err := verr.OrNil(); err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	p, err := provider.New(id, userID, key, alias, s.clock.Now())
	if err != nil {
		return nil, err
	}
	if err := s.repo.CreateProvider(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Get returns one of the caller's providers. Another user's provider is
// domain.ErrNotFound, exactly like a missing one.
func (s *Service) Get(ctx context.Context, userID, id uuid.UUID) (*provider.Provider, error) {
	p, err := s.repo.ProviderByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.OwnedBy(userID) {
		return nil, notFound(id)
	}
	return p, nil
}

// Page is one page of a list.
type Page struct {
	Items []*provider.Provider
	// Total is set in offset mode.
	Total int64
	// HasMore and Next are set in cursor mode: Next is the position after the last
	// item, valid when HasMore.
	HasMore bool
	Next    Position
}

// List returns one page of the caller's providers. q.UserID is the caller; q.Sort
// defaults to DefaultSort. With q.After (or cursor mode requested by the caller
// through q.Offset < 0), the page is a keyset page and Total is not computed.
func (s *Service) List(ctx context.Context, q ListQuery, cursorMode bool) (Page, error) {
	if len(q.Sort) == 0 {
		q.Sort = DefaultSort
	}
	if q.Limit < 1 || q.Limit > MaxPerPage {
		return Page{}, domain.NewValidationError("limit", "out_of_range", "Page size must be between 1 and 100.")
	}
	if cursorMode {
		limit := q.Limit
		q.Limit, q.Offset, q.WithTotal = limit+1, 0, false
		items, _, err := s.repo.ListProviders(ctx, q)
		if err != nil {
			return Page{}, err
		}
		page := Page{Items: items}
		if len(items) > limit {
			page.Items, page.HasMore = items[:limit], true
			page.Next = PositionOf(page.Items[limit-1])
		}
		return page, nil
	}
	q.After, q.WithTotal = nil, true
	items, total, err := s.repo.ListProviders(ctx, q)
	if err != nil {
		return Page{}, err
	}
	return Page{Items: items, Total: total}, nil
}

// UpdateInput holds the mutable fields to change; nil leaves a field alone.
type UpdateInput struct {
	Alias *string
}

// Update changes the caller's provider (PATCH semantics; PUT passes every field).
func (s *Service) Update(ctx context.Context, userID, id uuid.UUID, in UpdateInput, pre Precondition) (*provider.Provider, error) {
	return s.repo.UpdateProvider(ctx, id, func(p *provider.Provider) error {
		if !p.OwnedBy(userID) {
			return notFound(id)
		}
		if err := pre.check(p); err != nil {
			return err
		}
		if in.Alias != nil {
			return p.Rename(*in.Alias, s.clock.Now())
		}
		return nil
	})
}

// Delete removes the caller's provider.
func (s *Service) Delete(ctx context.Context, userID, id uuid.UUID, pre Precondition) error {
	return s.repo.DeleteProvider(ctx, id, func(p *provider.Provider) error {
		if !p.OwnedBy(userID) {
			return notFound(id)
		}
		return pre.check(p)
	})
}

func notFound(id uuid.UUID) error { return fmt.Errorf("provider %s: %w", id, domain.ErrNotFound) }
