package providers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// DataAccess returns what the sync engine needs to read a provider's data:
// its connector's data half and usable tokens. Tokens that expire within the
// refresh window (Authorization.RefreshDue) are refreshed first, through the
// same lease as every other refresh, so a refresh that just ran is not
// repeated. The engine runs in the background, so there is no caller whose
// ownership to check.
//
// A provider whose authorization is not active is provider.ErrNotAuthorized,
// or domain.ErrReauthorizationRequired when the user must consent again (as
// it is when the institution refuses the refresh, which records it); a
// connector without a data half is domain.ErrNotSupported.
func (c *Connections) DataAccess(ctx context.Context, providerID uuid.UUID) (DataConnector, Tokens, error) {
	p, err := c.providers.ProviderByID(ctx, providerID)
	if err != nil {
		return nil, Tokens{}, err
	}
	conn, err := c.registry.connectorFor(p)
	if err != nil {
		return nil, Tokens{}, err
	}
	data, ok := conn.(DataConnector)
	if !ok {
		return nil, Tokens{}, fmt.Errorf("%s has no data connector: %w", p.Key(), domain.ErrNotSupported)
	}
	a, err := c.store.AuthorizationByProvider(ctx, providerID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, Tokens{}, fmt.Errorf("provider %s was never authorized: %w", providerID, provider.ErrNotAuthorized)
	}
	if err != nil {
		return nil, Tokens{}, err
	}
	if err := usable(a); err != nil {
		return nil, Tokens{}, err
	}
	due := func(a *provider.Authorization) bool { return a.RefreshDue(c.clock.Now(), c.cfg.RefreshWindow) }
	if conn.Type().CanRefresh && due(a) {
		if a, err = c.refreshShared(ctx, uuid.Nil, conn, providerID, due); err != nil {
			return nil, Tokens{}, err
		}
	}
	return data, a.Credentials(), nil
}

// RefreshRefused refreshes the provider's tokens after the institution
// refused refused's access token (a data call's domain.ErrInvalidRequest),
// and returns the new ones. If they were refreshed meanwhile, by someone
// else, those are returned without another refresh.
func (c *Connections) RefreshRefused(ctx context.Context, providerID uuid.UUID, refused Tokens) (Tokens, error) {
	p, err := c.providers.ProviderByID(ctx, providerID)
	if err != nil {
		return Tokens{}, err
	}
	conn, err := c.registry.connectorFor(p)
	if err != nil {
		return Tokens{}, err
	}
	if !conn.Type().CanRefresh {
		return Tokens{}, fmt.Errorf("%s refused its access token and cannot refresh it: %w", p.Key(), domain.ErrReauthorizationRequired)
	}
	a, err := c.refreshShared(ctx, uuid.Nil, conn, providerID, func(a *provider.Authorization) bool {
		return a.Credentials().AccessToken == refused.AccessToken
	})
	if err != nil {
		return Tokens{}, err
	}
	if err := usable(a); err != nil {
		return Tokens{}, err
	}
	return a.Credentials(), nil
}

// usable returns nil if a's credentials can be used, and otherwise why not.
func usable(a *provider.Authorization) error {
	switch {
	case a.IsAuthorized():
		return nil
	case a.Status() == provider.AuthorizationReauthorizationRequired:
		return fmt.Errorf("provider %s: %w", a.ProviderID(), domain.ErrReauthorizationRequired)
	}
	return fmt.Errorf("provider %s is %s: %w", a.ProviderID(), a.Status(), provider.ErrNotAuthorized)
}

// RequireReauthorization records that the institution refused the
// provider's grant during a data call (Plaid's ITEM_LOGIN_REQUIRED), as a
// refused refresh does: the provider is reauthorization_required until the
// user consents again. The credentials are wiped, unless the provider's type
// repairs grants in place (ProviderType.RepairsInPlace): then they are kept
// for the repair (Plaid Link's update mode) and for a revocation. An
// authorization that is not active is left as it is.
func (c *Connections) RequireReauthorization(ctx context.Context, providerID uuid.UUID) error {
	_, _, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		if a.Status() != provider.AuthorizationActive {
			return nil, nil
		}
		now := c.clock.Now()
		conn, _ := c.registry.connectorFor(p) // a type no longer configured: nothing to repair with, wipe
		requireReauthorization(conn, a, now)
		p.FollowAuthorization(a, now)
		return a, nil
	})
	return err
}

// ClearReauthorization records that the institution repaired the provider's
// grant without the user acting here (Plaid's LOGIN_REPAIRED): a provider
// that is reauthorization_required with its credentials kept for the repair
// is active again (provider.Authorization.Repaired), which, like a grant,
// begins a sync at once (Authorizations.UpdateAuthorization) and resumes the
// schedule. It reports whether it changed anything; any other authorization
// is left as it is, so a repair delivered twice or after a newer refusal
// changes nothing twice.
func (c *Connections) ClearReauthorization(ctx context.Context, providerID uuid.UUID) (bool, error) {
	changed := false
	_, _, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		now := c.clock.Now()
		if !a.Repaired(now) {
			return nil, nil
		}
		changed = true
		p.FollowAuthorization(a, now)
		return a, nil
	})
	return changed, err
}

// PendingExpiration records that the institution says the consent behind
// providerID's grant ends at expiresAt (zero: not said):
// provider.consent_expiring in the event log, written with the authorization.
// A provider without an authorization is domain.ErrNotFound.
func (c *Connections) PendingExpiration(ctx context.Context, providerID uuid.UUID, expiresAt time.Time) error {
	_, _, err := c.store.UpdateAuthorization(ctx, providerID, func(_ *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		a.ConsentExpiring(expiresAt, c.clock.Now())
		return a, nil
	})
	return err
}
