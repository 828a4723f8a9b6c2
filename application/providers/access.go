package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// The checks and steps that the provider use cases (Service) and the connection
// use cases (Connections) share, written once.

// requireVerifiedEmail lets only users who verified their email add or connect
// providers.
func requireVerifiedEmail(ctx context.Context, users Users, userID uuid.UUID) error {
	user, err := users.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	return user.RequireVerifiedEmail()
}

// ownedProvider returns the provider id if userID owns it. Another user's
// provider is domain.ErrNotFound, exactly like a missing one, so ids of other
// users' providers cannot be probed.
func ownedProvider(ctx context.Context, repo Repository, userID, id uuid.UUID) (*provider.Provider, error) {
	p, err := repo.ProviderByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.OwnedBy(userID) {
		return nil, notFound(id)
	}
	return p, nil
}

// revokeNowOrLater ends a's grant at p's institution now if it can, and
// reports whether it must be done later instead: the institution is down or
// slow, or p's type is no longer configured here (hardening item 3). The
// caller then revokes locally with provider.Authorization.RevokeLater, which
// sets the credentials aside for a RevokeJob. An institution that refuses the
// revocation (the grant is already gone there) leaves nothing to do.
func revokeNowOrLater(ctx context.Context, registry *Registry, p *provider.Provider, a *provider.Authorization, log *slog.Logger) (later bool) {
	err := revokeAtInstitution(ctx, registry, p, a)
	switch {
	case err == nil:
		return false
	case errors.Is(err, domain.ErrProviderUnavailable) || errors.Is(err, domain.ErrProviderTimeout):
		log.WarnContext(ctx, "revocation at the institution deferred to a job", "provider_id", p.ID().String(),
			"provider_key", p.Key(), "error", err.Error())
		return true
	default:
		log.WarnContext(ctx, "the institution refused the revocation; revoking here only", "provider_id", p.ID().String(),
			"provider_key", p.Key(), "error", err.Error())
		return false
	}
}

// revokeAtInstitution ends a's grant at p's institution. Holding no
// credentials, there is nothing to revoke.
func revokeAtInstitution(ctx context.Context, registry *Registry, p *provider.Provider, a *provider.Authorization) error {
	if a.Credentials().IsZero() {
		return nil
	}
	conn, err := registry.connectorFor(p)
	if err != nil {
		return err
	}
	return conn.Revoke(ctx, a.Credentials())
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

func notFound(id uuid.UUID) error { return fmt.Errorf("provider %s: %w", id, domain.ErrNotFound) }
