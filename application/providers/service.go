package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// Service implements the use cases of the providers resource: the catalog of
// provider types, and each user's providers (create, read, list, rename,
// delete). Connecting a provider to its institution is Connections' work.
type Service struct {
	repo           Repository
	authorizations Authorizations
	users          Users
	registry       *Registry
	clock          Clock
	log            *slog.Logger
	audit          Auditor
}

// NewService builds the providers use cases. Deleting a provider revokes its
// grant at the institution, so the service reads authorizations too.
func NewService(repo Repository, authorizations Authorizations, users Users, registry *Registry, clock Clock, log *slog.Logger) *Service {
	return &Service{repo: repo, authorizations: authorizations, users: users, registry: registry, clock: clock, log: log, audit: noAudit{}}
}

// RecordTo has the service record provider creations and deletions with a.
// Call it before serving.
func (s *Service) RecordTo(a Auditor) { s.audit = a }

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

// Create adds a provider for the caller, who must have verified their email.
func (s *Service) Create(ctx context.Context, userID uuid.UUID, key, alias string) (*provider.Provider, error) {
	p, err := s.create(ctx, userID, key, alias)
	var id uuid.UUID
	if p != nil {
		id = p.ID()
	}
	s.audit.Record(ctx, auditEntry(audit.ActionProviderCreate, userID, id, err))
	return p, err
}

func (s *Service) create(ctx context.Context, userID uuid.UUID, key, alias string) (*provider.Provider, error) {
	if err := requireVerifiedEmail(ctx, s.users, userID); err != nil {
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
	return ownedProvider(ctx, s.repo, userID, id)
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
// defaults to DefaultSort. In cursor mode the page is a keyset page starting
// after q.After (from the start when nil) and Total is not computed; otherwise
// it starts at q.Offset and Total is counted.
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

// Delete removes the caller's provider with its stored credentials, after
// revoking its grant at the institution (where it has an endpoint for that). If
// the institution refuses or fails, nothing is deleted and the error says why.
func (s *Service) Delete(ctx context.Context, userID, id uuid.UUID, pre Precondition) error {
	err := s.delete(ctx, userID, id, pre)
	s.audit.Record(ctx, auditEntry(audit.ActionProviderDelete, userID, id, err))
	return err
}

func (s *Service) delete(ctx context.Context, userID, id uuid.UUID, pre Precondition) error {
	p, err := ownedProvider(ctx, s.repo, userID, id)
	if err != nil {
		return err
	}
	if err := pre.check(p); err != nil {
		return err
	}
	a, err := s.authorizations.AuthorizationByProvider(ctx, id)
	switch {
	case errors.Is(err, domain.ErrNotFound):
	case errors.Is(err, domain.ErrUnavailable):
		return err
	case err != nil:
		// The stored credentials cannot be read (say, their key was retired too
		// early): they cannot be revoked at the institution either, but the user
		// must still be able to delete the provider and its unreadable tokens.
		s.log.ErrorContext(ctx, "deleting a provider whose authorization cannot be read",
			"provider_id", id.String(), "error", err.Error())
	default:
		if revokeNowOrLater(ctx, s.registry, p, a, s.log) {
			// Revoke here first, setting the credentials aside for the job
			// that revokes them at the institution, then delete: the
			// provider's version moves, so the delete checks the new one.
			saved, _, err := s.authorizations.UpdateAuthorization(ctx, id, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
				if a == nil {
					return nil, nil
				}
				if err := pre.check(p); err != nil {
					return nil, err
				}
				now := s.clock.Now()
				a.RevokeLater(now)
				p.FollowAuthorization(a, now)
				return a, nil
			})
			if err != nil {
				return err
			}
			pre = Precondition{saved.Version()}
		}
	}
	return s.repo.DeleteProvider(ctx, id, func(p *provider.Provider) error {
		if !p.OwnedBy(userID) {
			return notFound(id)
		}
		return pre.check(p)
	})
}
