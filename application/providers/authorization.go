package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// AuthorizationConfig tunes authorizations and their refresh.
type AuthorizationConfig struct {
	// RefreshWindow: tokens expiring within it are refreshed ahead of time.
	RefreshWindow time.Duration
	// LeaseTTL bounds how long one refresh may hold an authorization; it must
	// exceed a connector's timeout (the background pass renews it row by row). A
	// crashed instance's lease runs out after it.
	LeaseTTL time.Duration
	// BatchSize is how many due authorizations one background pass claims.
	BatchSize int
}

func (c AuthorizationConfig) withDefaults() AuthorizationConfig {
	if c.RefreshWindow <= 0 {
		c.RefreshWindow = DefaultRefreshWindow
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = time.Minute
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 50
	}
	return c
}

// Authorizer implements the provider authorization use cases.
type Authorizer struct {
	providers *Service
	store     Authorizations
	cfg       AuthorizationConfig
	log       *slog.Logger
	// instance identifies this process as a lease owner.
	instance uuid.UUID
}

// NewAuthorizer builds the authorization use cases on top of the providers ones.
func NewAuthorizer(providers *Service, store Authorizations, cfg AuthorizationConfig, log *slog.Logger) *Authorizer {
	return &Authorizer{providers: providers, store: store, cfg: cfg.withDefaults(), log: log, instance: uuid.New()}
}

// Started is what a client needs to send its user to the institution.
type Started struct {
	Flow             Flow
	AuthorizationURL string // redirect flows
	LinkToken        string // link flows
	State            string // link flows: send it back with the public token
	ExpiresAt        time.Time
}

// Start begins (or restarts, replacing an attempt in flight) the authorization of
// one of the caller's providers. The institution is asked first: if it fails,
// nothing is stored.
func (az *Authorizer) Start(ctx context.Context, userID, providerID uuid.UUID) (Started, error) {
	user, err := az.providers.accounts.UserByID(ctx, userID)
	if err != nil {
		return Started{}, err
	}
	if err := user.RequireVerifiedEmail(); err != nil {
		return Started{}, err
	}
	p, err := az.providers.Get(ctx, userID, providerID)
	if err != nil {
		return Started{}, err
	}
	conn, err := az.connector(p)
	if err != nil {
		return Started{}, err
	}
	state := provider.NewState()
	begun, err := conn.Begin(ctx, BeginRequest{State: state.Value, UserID: userID})
	if err != nil {
		return Started{}, err
	}
	now := az.providers.clock.Now()
	expires := now.Add(provider.StateTTL)
	if !begun.ExpiresAt.IsZero() && begun.ExpiresAt.Before(expires) {
		expires = begun.ExpiresAt
	}
	attempt, err := uuid.NewV7()
	if err != nil {
		return Started{}, err
	}
	err = az.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if !p.OwnedBy(userID) {
			return nil, notFound(providerID)
		}
		if a == nil {
			a = provider.NewAuthorization(p, attempt, state, expires, now)
		} else {
			a.StartAttempt(attempt, state, expires, now)
		}
		p.SetStatus(a.Status(), now)
		return a, nil
	})
	if err != nil {
		return Started{}, err
	}
	out := Started{Flow: conn.Type().Flow, AuthorizationURL: begun.AuthorizationURL, LinkToken: begun.LinkToken, ExpiresAt: expires}
	if out.Flow == FlowLinkToken {
		out.State = state.Value
	}
	return out, nil
}

// Get returns the authorization of one of the caller's providers, or
// domain.ErrNotFound when it was never started.
func (az *Authorizer) Get(ctx context.Context, userID, providerID uuid.UUID) (*provider.Authorization, error) {
	if _, err := az.providers.Get(ctx, userID, providerID); err != nil {
		return nil, err
	}
	return az.store.AuthorizationByProvider(ctx, providerID)
}

// Callback identifies where a redirect-flow callback arrived: the fixed route of
// a provider type (ProviderKey) or the per-provider route (ProviderID).
type Callback struct {
	ProviderKey string
	ProviderID  uuid.UUID
	State       string
	Code        string
}

// CompleteRedirect finishes a redirect flow. The state alone authenticates the
// request (it is the user's browser arriving from the institution): unknown,
// expired, replayed or foreign states are provider.ErrInvalidState and change
// nothing. The state is used up before the code is exchanged, so it works once
// even if the exchange then fails.
func (az *Authorizer) CompleteRedirect(ctx context.Context, cb Callback) (*provider.Authorization, error) {
	if cb.State == "" || cb.Code == "" {
		return nil, provider.ErrInvalidState
	}
	a, err := az.store.AuthorizationByState(ctx, provider.HashState(cb.State))
	if errors.Is(err, domain.ErrNotFound) {
		return nil, provider.ErrInvalidState
	}
	if err != nil {
		return nil, err
	}
	return az.complete(ctx, a.ProviderID(), cb.State, cb.Code, func(p *provider.Provider) bool {
		return (cb.ProviderKey == "" || p.Key() == cb.ProviderKey) && (cb.ProviderID == uuid.Nil || p.ID() == cb.ProviderID)
	}, FlowRedirect)
}

// CompleteLink finishes a link-token flow: the caller (bearer) sends back the
// state from Start and the public token from the institution's client SDK.
func (az *Authorizer) CompleteLink(ctx context.Context, userID, providerID uuid.UUID, state, publicToken string) (*provider.Authorization, error) {
	if _, err := az.providers.Get(ctx, userID, providerID); err != nil {
		return nil, err
	}
	return az.complete(ctx, providerID, state, publicToken, func(p *provider.Provider) bool { return p.OwnedBy(userID) }, FlowLinkToken)
}

func (az *Authorizer) complete(ctx context.Context, providerID uuid.UUID, state, grant string, allowed func(*provider.Provider) bool, flow Flow) (*provider.Authorization, error) {
	var conn Connector
	err := az.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil || !allowed(p) {
			return nil, provider.ErrInvalidState
		}
		c, err := az.connector(p)
		if err != nil {
			return nil, err
		}
		if c.Type().Flow != flow {
			return nil, provider.ErrInvalidState
		}
		conn = c
		return a, a.ConsumeState(state, az.providers.clock.Now())
	})
	if err != nil {
		return nil, err
	}
	creds, err := conn.Complete(ctx, grant)
	if err != nil {
		return nil, err
	}
	var granted *provider.Authorization
	err = az.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID) // the provider was deleted meanwhile
		}
		now := az.providers.clock.Now()
		a.Grant(creds, now)
		p.SetStatus(a.Status(), now)
		granted = a
		return a, nil
	})
	return granted, err
}

// RefreshNow refreshes the credentials of one of the caller's providers at once.
// It shares the refresh lease with the background loop, so the two never refresh
// one authorization twice: if the loop is refreshing it right now, RefreshNow
// waits for that refresh and returns its result.
func (az *Authorizer) RefreshNow(ctx context.Context, userID, providerID uuid.UUID) (*provider.Authorization, error) {
	p, err := az.providers.Get(ctx, userID, providerID)
	if err != nil {
		return nil, err
	}
	conn, err := az.connector(p)
	if err != nil {
		return nil, err
	}
	if !conn.Type().CanRefresh {
		return nil, fmt.Errorf("%s: %w", p.Key(), domain.ErrNotSupported)
	}
	started := az.providers.clock.Now()
	owner := uuid.New() // this request's own lease identity
	for {
		a, err := az.claim(ctx, providerID, owner)
		if errors.Is(err, provider.ErrRefreshInProgress) {
			// Someone else is refreshing: wait for it, then use its result.
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for a refresh in progress: %w", domain.ErrUnavailable)
			case <-time.After(100 * time.Millisecond):
			}
			current, err := az.store.AuthorizationByProvider(ctx, providerID)
			if err != nil {
				return nil, err
			}
			if !current.RefreshedAt().Before(started) {
				return current, nil
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return az.refresh(ctx, conn, a, owner)
	}
}

func (az *Authorizer) claim(ctx context.Context, providerID, owner uuid.UUID) (*provider.Authorization, error) {
	var claimed *provider.Authorization
	err := az.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		now := az.providers.clock.Now()
		if err := a.ClaimRefresh(owner, now, now.Add(az.cfg.LeaseTTL)); err != nil {
			return nil, err
		}
		claimed = a
		return a, nil
	})
	return claimed, err
}

// refresh calls the institution for an authorization whose lease owner holds, and
// records the outcome: new credentials; re-authorization required when the
// institution refuses for good; or, for a retryable failure, just the lease back.
func (az *Authorizer) refresh(ctx context.Context, conn Connector, a *provider.Authorization, owner uuid.UUID) (*provider.Authorization, error) {
	creds, callErr := conn.Refresh(ctx, a.Credentials())
	var saved *provider.Authorization
	err := az.store.UpdateAuthorization(ctx, a.ProviderID(), func(p *provider.Provider, cur *provider.Authorization) (*provider.Authorization, error) {
		if cur == nil || !cur.HoldsLease(owner) {
			// Deleted, revoked or re-leased meanwhile: our result is stale.
			return nil, fmt.Errorf("authorization changed during refresh: %w", domain.ErrConflict)
		}
		now := az.providers.clock.Now()
		switch {
		case callErr == nil:
			cur.Refreshed(owner, creds, now)
		case errors.Is(callErr, domain.ErrReauthorizationRequired):
			cur.RequireReauthorization(now)
		default:
			cur.ReleaseRefresh(owner)
		}
		p.SetStatus(cur.Status(), now)
		saved = cur
		return cur, nil
	})
	if callErr != nil {
		return nil, callErr
	}
	return saved, err
}

// RefreshDue is one pass of the background refresh: it claims the authorizations
// whose tokens expire within the refresh window and refreshes each. It returns how
// many were refreshed and how many failed.
func (az *Authorizer) RefreshDue(ctx context.Context) (refreshed, failed int, err error) {
	now := az.providers.clock.Now()
	due, claimErr := az.store.ClaimDueRefreshes(ctx, az.instance, now, now.Add(az.cfg.RefreshWindow), now.Add(az.cfg.LeaseTTL), az.cfg.BatchSize)
	// A claim can partly fail (a row that no longer decrypts): refresh the rows it
	// did return, so one bad row cannot stop every other refresh, and report it.
	for _, a := range due {
		// Renew this row's lease right before calling the institution: the batch's
		// lease may have run out while earlier rows were refreshed, and a row
		// another instance took over since must not be refreshed twice. A row that
		// is not really due yet (see Authorization.RefreshDue) is let go.
		a, err := az.renew(ctx, a.ProviderID(), now)
		if errors.Is(err, errNotDue) || errors.Is(err, provider.ErrRefreshInProgress) {
			continue
		}
		if err != nil {
			failed++
			continue
		}
		p, err := az.providers.repo.ProviderByID(ctx, a.ProviderID())
		if err != nil {
			failed++
			continue
		}
		conn, err := az.connector(p)
		if err == nil {
			_, err = az.refresh(ctx, conn, a, az.instance)
		}
		if err != nil {
			failed++
			az.log.WarnContext(ctx, "background token refresh failed", "provider_id", a.ProviderID().String(),
				"provider_key", p.Key(), "error", err.Error())
			continue
		}
		refreshed++
	}
	return refreshed, failed, claimErr
}

var errNotDue = errors.New("refresh not due")

// renew extends this instance's refresh lease on one claimed authorization, or
// releases it (errNotDue) when the credentials are not due at passStart.
func (az *Authorizer) renew(ctx context.Context, providerID uuid.UUID, passStart time.Time) (*provider.Authorization, error) {
	var renewed *provider.Authorization
	err := az.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		if !a.RefreshDue(passStart, az.cfg.RefreshWindow) {
			a.ReleaseRefresh(az.instance) // saved: the row is free for later passes
			return a, nil
		}
		now := az.providers.clock.Now()
		if err := a.ClaimRefresh(az.instance, now, now.Add(az.cfg.LeaseTTL)); err != nil {
			return nil, err
		}
		renewed = a
		return a, nil
	})
	if err == nil && renewed == nil {
		return nil, errNotDue
	}
	return renewed, err
}

// Revoke ends the authorization of one of the caller's providers: at the
// institution where it has an endpoint (if that fails, nothing changes and the
// error says why), then locally by wiping the credentials.
func (az *Authorizer) Revoke(ctx context.Context, userID, providerID uuid.UUID) error {
	p, err := az.providers.Get(ctx, userID, providerID)
	if err != nil {
		return err
	}
	a, err := az.store.AuthorizationByProvider(ctx, providerID)
	if err != nil {
		return err
	}
	if err := az.revokeAtInstitution(ctx, p, a); err != nil {
		return err
	}
	return az.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		now := az.providers.clock.Now()
		a.Revoke(now)
		p.SetStatus(a.Status(), now)
		return a, nil
	})
}

// DeleteProvider revokes the provider's authorization at the institution (if any)
// and deletes the provider with its stored credentials.
func (az *Authorizer) DeleteProvider(ctx context.Context, userID, providerID uuid.UUID, pre Precondition) error {
	p, err := az.providers.Get(ctx, userID, providerID)
	if err != nil {
		return err
	}
	if err := pre.check(p); err != nil {
		return err
	}
	a, err := az.store.AuthorizationByProvider(ctx, providerID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
	case errors.Is(err, domain.ErrUnavailable):
		return err
	case err != nil:
		// The stored credentials cannot be read (say, their key was retired too
		// early): they cannot be revoked at the institution either, but the user
		// must still be able to delete the provider and its unreadable tokens.
		az.log.ErrorContext(ctx, "deleting a provider whose authorization cannot be read",
			"provider_id", providerID.String(), "error", err.Error())
	default:
		if err := az.revokeAtInstitution(ctx, p, a); err != nil {
			return err
		}
	}
	return az.providers.Delete(ctx, userID, providerID, pre)
}

func (az *Authorizer) revokeAtInstitution(ctx context.Context, p *provider.Provider, a *provider.Authorization) error {
	if a.Credentials().IsZero() {
		return nil
	}
	conn, err := az.connector(p)
	if err != nil {
		return err
	}
	return conn.Revoke(ctx, a.Credentials())
}

func (az *Authorizer) connector(p *provider.Provider) (Connector, error) {
	c, ok := az.providers.registry.Connector(p.Key())
	if !ok {
		// The provider type was switched off in this deployment's configuration.
		return nil, fmt.Errorf("provider type %q is not offered by this instance: %w", p.Key(), domain.ErrProviderUnavailable)
	}
	return c, nil
}
