package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// ConnectionsConfig tunes authorizations and their refresh.
type ConnectionsConfig struct {
	// RefreshWindow: tokens expiring within it are refreshed ahead of time.
	RefreshWindow time.Duration
	// LeaseTTL bounds how long one refresh may hold an authorization; it must
	// exceed a connector's timeout (the background pass renews it row by row). A
	// crashed instance's lease runs out after it.
	LeaseTTL time.Duration
	// BatchSize is how many due authorizations one background pass claims.
	BatchSize int
	// RefreshPoll is how often RefreshNow looks whether a refresh someone else
	// is running has finished.
	RefreshPoll time.Duration
	// LinkReuseMargin: a new attempt of a link flow reuses the link token of
	// the attempt in flight, instead of asking the institution for another,
	// while that token is valid for more than this margin.
	LinkReuseMargin time.Duration
	// RefreshCooldown: RefreshNow of credentials refreshed less than this
	// long ago returns them as they are, without calling the institution
	// again.
	RefreshCooldown time.Duration
}

func (c ConnectionsConfig) withDefaults() ConnectionsConfig {
	if c.RefreshWindow <= 0 {
		c.RefreshWindow = DefaultRefreshWindow
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = time.Minute
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 50
	}
	if c.RefreshPoll <= 0 {
		c.RefreshPoll = 100 * time.Millisecond
	}
	if c.LinkReuseMargin <= 0 {
		c.LinkReuseMargin = DefaultLinkReuseMargin
	}
	if c.RefreshCooldown <= 0 {
		c.RefreshCooldown = DefaultRefreshCooldown
	}
	return c
}

// Connections implements the use cases that connect a provider to its
// institution: starting and completing an authorization, refreshing its
// tokens (on demand and in the background) and revoking it.
type Connections struct {
	providers Repository
	store     Authorizations
	users     Users
	registry  *Registry
	clock     Clock
	cfg       ConnectionsConfig
	log       *slog.Logger
	audit     Auditor
}

// NewConnections builds the connection use cases.
func NewConnections(providers Repository, store Authorizations, users Users, registry *Registry, clock Clock,
	cfg ConnectionsConfig, log *slog.Logger,
) *Connections {
	return &Connections{providers: providers, store: store, users: users, registry: registry, clock: clock,
		cfg: cfg.withDefaults(), log: log, audit: noAudit{}}
}

// RecordTo has the connections record grants, refreshes and revocations
// (their failures too) with a. Call it before serving.
func (c *Connections) RecordTo(a Auditor) { c.audit = a }

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
//
// A provider that is reauthorization_required and whose type repairs in place
// (ProviderType.RepairsInPlace) begins a repair of the credentials it holds
// (BeginRequest.Current): completing it restores them. A link flow whose
// attempt in flight holds a link token valid for more than LinkReuseMargin
// reuses it, without asking the institution again (hardening item 6): the new
// attempt gets a new state all the same, so only the latest works.
func (c *Connections) Start(ctx context.Context, userID, providerID uuid.UUID) (Started, error) {
	if err := requireVerifiedEmail(ctx, c.users, userID); err != nil {
		return Started{}, err
	}
	p, err := ownedProvider(ctx, c.providers, userID, providerID)
	if err != nil {
		return Started{}, err
	}
	conn, err := c.registry.connectorFor(p)
	if err != nil {
		return Started{}, err
	}
	prior, err := c.store.AuthorizationByProvider(ctx, providerID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return Started{}, err
	}
	var (
		current Tokens
		repair  bool
		begun   provider.AttemptBegun
		reused  bool
	)
	if prior != nil {
		current, repair = prior.RepairableCredentials()
		repair = repair && conn.Type().RepairsInPlace
		if conn.Type().Flow == FlowLinkToken {
			begun, reused = prior.ReusableBegun(c.clock.Now(), c.cfg.LinkReuseMargin, repair)
		}
	}
	if !repair {
		current = Tokens{}
	}
	state := provider.NewState()
	var authorizationURL string
	instExpires := begun.LinkExpiresAt
	if !reused {
		res, err := conn.Begin(ctx, BeginRequest{State: state.Value, UserID: userID, Current: current})
		if err != nil {
			return Started{}, err
		}
		authorizationURL, instExpires = res.AuthorizationURL, res.ExpiresAt
		begun = provider.AttemptBegun{Repair: repair}
		if res.LinkToken != "" {
			begun.LinkToken, begun.LinkExpiresAt = res.LinkToken, res.ExpiresAt
		}
	}
	now := c.clock.Now()
	expires := now.Add(provider.StateTTL)
	if !instExpires.IsZero() && instExpires.Before(expires) {
		expires = instExpires
	}
	attempt, err := uuid.NewV7()
	if err != nil {
		return Started{}, err
	}
	_, _, err = c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if !p.OwnedBy(userID) {
			return nil, notFound(providerID)
		}
		if a != nil {
			if _, ok := a.RepairableCredentials(); (ok && conn.Type().RepairsInPlace) != repair {
				// Revoked, or turned reauthorization_required, since it was read:
				// what was begun does not fit any more.
				return nil, fmt.Errorf("the authorization of provider %s changed while its attempt began: %w", providerID, domain.ErrConflict)
			}
			a.StartAttempt(attempt, state, expires, now)
		} else {
			a = provider.NewAuthorization(p, attempt, state, expires, now)
		}
		if err := a.SetAttemptBegun(attempt, begun); err != nil {
			return nil, err
		}
		p.FollowAuthorization(a, now)
		return a, nil
	})
	if err != nil {
		return Started{}, err
	}
	out := Started{Flow: conn.Type().Flow, AuthorizationURL: authorizationURL, LinkToken: begun.LinkToken, ExpiresAt: expires}
	if out.Flow == FlowLinkToken {
		out.State = state.Value
	}
	return out, nil
}

// Get returns the authorization of one of the caller's providers, or
// domain.ErrNotFound when it was never started.
func (c *Connections) Get(ctx context.Context, userID, providerID uuid.UUID) (*provider.Authorization, error) {
	if _, err := ownedProvider(ctx, c.providers, userID, providerID); err != nil {
		return nil, err
	}
	return c.store.AuthorizationByProvider(ctx, providerID)
}

// Callback identifies where a redirect-flow callback arrived, the fixed route
// of a provider type (ProviderKey) or the per-provider route (ProviderID), and
// the state the institution echoed.
type Callback struct {
	ProviderKey string
	ProviderID  uuid.UUID
	State       string
}

// ResolveCallback finds the provider whose redirect attempt in flight the
// callback's state belongs to, changing nothing: the callback is the browser
// arriving from the institution, which proves nothing about who is using it
// (account-linking CSRF, RFC 9700 §4.7), so it only tells the client where to
// relay the code (CompleteRedirect). A state that is unknown, on another route
// or of a link flow is provider.ErrInvalidState; an expired or already used one
// the more specific provider.ErrStateExpired or provider.ErrStateUsed.
func (c *Connections) ResolveCallback(ctx context.Context, cb Callback) (uuid.UUID, error) {
	p, a, err := c.callbackTarget(ctx, cb)
	if err != nil {
		return uuid.Nil, err
	}
	if err := a.CheckState(cb.State, c.clock.Now()); err != nil {
		return uuid.Nil, err
	}
	return p.ID(), nil
}

// DeclineCallback ends, without a grant, the redirect attempt whose state the
// institution sent the browser back with together with an error (the user
// declined, or the institution failed): the provider's status returns to what
// it was before the attempt. Nothing can be granted this way, so the state
// alone is enough, as it is for the institution's own cancel; an expired state
// still ends its attempt. It returns the provider's id; refusals are
// ResolveCallback's and change nothing.
func (c *Connections) DeclineCallback(ctx context.Context, cb Callback) (uuid.UUID, error) {
	p, _, err := c.callbackTarget(ctx, cb)
	if err != nil {
		return uuid.Nil, err
	}
	_, _, err = c.store.UpdateAuthorization(ctx, p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		return decline(p, a, cb.State, c.clock.Now())
	})
	if err != nil {
		return uuid.Nil, err
	}
	return p.ID(), nil
}

// Decline ends the attempt in flight of one of the caller's providers without
// a grant, for a client that was told of the institution's error itself (a
// front end registered as the redirect target, or a link SDK the user left):
// see DeclineCallback. Another user's provider is domain.ErrNotFound.
func (c *Connections) Decline(ctx context.Context, userID, providerID uuid.UUID, state string) (*provider.Authorization, error) {
	if _, err := ownedProvider(ctx, c.providers, userID, providerID); err != nil {
		return nil, err
	}
	_, a, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if !p.OwnedBy(userID) {
			return nil, notFound(providerID)
		}
		return decline(p, a, state, c.clock.Now())
	})
	return a, err
}

// decline ends a's attempt whose state is state, and has p follow.
func decline(p *provider.Provider, a *provider.Authorization, state string, now time.Time) (*provider.Authorization, error) {
	if a == nil || state == "" {
		return nil, provider.ErrInvalidState
	}
	if err := a.Decline(state, now); err != nil {
		return nil, err
	}
	p.FollowAuthorization(a, now)
	return a, nil
}

// callbackTarget finds the provider and authorization a redirect callback's
// state belongs to, checking the route it arrived on and the flow, not yet the
// state's use or expiry.
func (c *Connections) callbackTarget(ctx context.Context, cb Callback) (*provider.Provider, *provider.Authorization, error) {
	if cb.State == "" {
		return nil, nil, provider.ErrInvalidState
	}
	a, err := c.store.AuthorizationByState(ctx, provider.HashState(cb.State))
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil, provider.ErrInvalidState
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := c.providers.ProviderByID(ctx, a.ProviderID())
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil, provider.ErrInvalidState
	}
	if err != nil {
		return nil, nil, err
	}
	if (cb.ProviderKey != "" && p.Key() != cb.ProviderKey) || (cb.ProviderID != uuid.Nil && p.ID() != cb.ProviderID) {
		return nil, nil, provider.ErrInvalidState
	}
	if _, err := c.connectorWithFlow(p, FlowRedirect); err != nil {
		return nil, nil, err
	}
	return p, a, nil
}

// CompleteRedirect finishes a redirect flow: the client that started it relays
// the code and state the institution sent the browser back with, under the
// bearer of the user who started it. Binding completion to that user is what
// stops account-linking CSRF (RFC 9700 §4.7): a victim's browser arriving with
// an attacker's state completes nothing, because the victim's client cannot
// relay it to the attacker's provider. Another user's (or a missing) provider
// is domain.ErrNotFound; a state that is not the provider's attempt in flight
// is provider.ErrInvalidState (ErrStateExpired, ErrStateUsed when it is that);
// either changes nothing. The state is used up before the code is exchanged,
// so it works once; if the exchange then fails, the attempt ends and the
// provider's status returns to what it was before it. If the attempt was
// revoked, superseded or deleted while the code was exchanged, the grant is
// discarded and revoked at the institution.
func (c *Connections) CompleteRedirect(ctx context.Context, userID, providerID uuid.UUID, state, code string) (*provider.Authorization, error) {
	if _, err := ownedProvider(ctx, c.providers, userID, providerID); err != nil {
		return nil, err
	}
	return c.complete(ctx, userID, providerID, state, code, FlowRedirect)
}

// CompleteLink finishes a link-token flow: the caller (bearer) sends back the
// state from Start and the public token from the institution's client SDK.
func (c *Connections) CompleteLink(ctx context.Context, userID, providerID uuid.UUID, state, publicToken string) (*provider.Authorization, error) {
	if _, err := ownedProvider(ctx, c.providers, userID, providerID); err != nil {
		return nil, err
	}
	return c.complete(ctx, userID, providerID, state, publicToken, FlowLinkToken)
}

// complete uses up the state of the attempt in flight of userID's provider,
// if its type has the given flow, then exchanges grant for tokens and stores
// them on that attempt if it is still in flight.
func (c *Connections) complete(ctx context.Context, userID, providerID uuid.UUID, state, grant string, flow Flow) (*provider.Authorization, error) {
	a, err := c.completeAttempt(ctx, userID, providerID, state, grant, flow)
	c.audit.Record(ctx, auditEntry(audit.ActionAuthorizationGrant, userID, providerID, err))
	return a, err
}

func (c *Connections) completeAttempt(ctx context.Context, userID, providerID uuid.UUID, state, grant string, flow Flow) (*provider.Authorization, error) {
	if state == "" || grant == "" {
		return nil, provider.ErrInvalidState
	}
	p, consumed, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if !p.OwnedBy(userID) {
			return nil, notFound(providerID)
		}
		if a == nil {
			return nil, provider.ErrInvalidState
		}
		if _, err := c.connectorWithFlow(p, flow); err != nil {
			return nil, err
		}
		return a, a.ConsumeState(state, c.clock.Now())
	})
	if err != nil {
		return nil, err
	}
	conn, err := c.connectorWithFlow(p, flow)
	if err != nil {
		return nil, err
	}
	if consumed.AttemptBegun().Repair {
		return c.restore(ctx, providerID, consumed.AttemptID())
	}
	creds, err := conn.Complete(ctx, grant)
	if err != nil {
		c.endAttempt(ctx, providerID, consumed.AttemptID())
		if errors.Is(err, domain.ErrInvalidRequest) {
			return nil, fmt.Errorf("%w: %w", provider.ErrGrantRejected, err)
		}
		return nil, err
	}
	_, granted, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID) // the provider was deleted meanwhile
		}
		now := c.clock.Now()
		if err := a.GrantAttempt(consumed.AttemptID(), creds, now); err != nil {
			return nil, err // the attempt was revoked or superseded meanwhile
		}
		p.FollowAuthorization(a, now)
		return a, nil
	})
	if errors.Is(err, provider.ErrInvalidState) || errors.Is(err, domain.ErrNotFound) {
		c.discard(ctx, conn, providerID, creds)
	}
	return granted, err
}

// restore completes a repair attempt (provider.AttemptBegun.Repair) whose
// state was used: the institution repaired the grant in place (Plaid Link's
// update mode), so the credentials held are kept, with no exchange (the
// grant relayed is not needed), and the authorization is active again. Like
// a grant, that begins a sync of the provider at once (Authorizations'
// UpdateAuthorization), after which the schedule goes on as before the
// interruption. An attempt revoked, superseded or deleted meanwhile restores
// nothing.
func (c *Connections) restore(ctx context.Context, providerID, attemptID uuid.UUID) (*provider.Authorization, error) {
	_, restored, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		now := c.clock.Now()
		if err := a.RestoreAttempt(attemptID, now); err != nil {
			return nil, err
		}
		p.FollowAuthorization(a, now)
		return a, nil
	})
	return restored, err
}

// requireReauthorization records on a that its institution, behind conn,
// needs the user to consent again: an institution that repairs grants in
// place keeps the credentials for the repair; any other has them wiped.
func requireReauthorization(conn Connector, a *provider.Authorization, now time.Time) {
	if conn != nil && conn.Type().RepairsInPlace {
		a.RequireRepair(now)
		return
	}
	a.RequireReauthorization(now)
}

// endAttempt ends an attempt whose exchange failed, if it is still in flight:
// its state is used up, so nothing can complete it any more, and its
// provider's status returns to what it was before. A failure is only logged:
// the caller's error already says why the attempt failed.
func (c *Connections) endAttempt(ctx context.Context, providerID, attemptID uuid.UUID) {
	_, _, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		now := c.clock.Now()
		if a == nil || !a.EndAttempt(attemptID, now) {
			return nil, nil // deleted, revoked or superseded meanwhile: nothing to end
		}
		p.FollowAuthorization(a, now)
		return a, nil
	})
	if err != nil && !errors.Is(err, domain.ErrNotFound) { // a provider deleted meanwhile has no attempt left
		c.log.WarnContext(ctx, "ending a failed authorization attempt failed", "provider_id", providerID.String(), "error", err.Error())
	}
}

// discard revokes at the institution a grant that landed on no attempt, so
// that no grant lives on there that nothing here knows of. A failure is only
// logged: the caller's error already says why the grant was discarded.
func (c *Connections) discard(ctx context.Context, conn Connector, providerID uuid.UUID, creds Tokens) {
	if creds.IsZero() {
		return
	}
	if err := conn.Revoke(ctx, creds); err != nil {
		c.log.WarnContext(ctx, "revoking a discarded grant at the institution failed", "provider_id", providerID.String(),
			"provider_key", conn.Type().Key, "error", err.Error())
	}
}

// connectorWithFlow returns p's connector if its flow is flow; a state brought
// back through the other flow's route is provider.ErrInvalidState.
func (c *Connections) connectorWithFlow(p *provider.Provider, flow Flow) (Connector, error) {
	conn, err := c.registry.connectorFor(p)
	if err != nil {
		return nil, err
	}
	if conn.Type().Flow != flow {
		return nil, provider.ErrInvalidState
	}
	return conn, nil
}

// RefreshNow refreshes the credentials of one of the caller's providers at once.
// It shares the refresh lease with the background loop, so the two never refresh
// one authorization twice: if the loop is refreshing it right now, RefreshNow
// waits for that refresh and returns its result. Credentials refreshed less
// than RefreshCooldown ago are returned as they are, without calling the
// institution again (hardening item 6).
func (c *Connections) RefreshNow(ctx context.Context, userID, providerID uuid.UUID) (*provider.Authorization, error) {
	p, err := ownedProvider(ctx, c.providers, userID, providerID)
	if err != nil {
		return nil, err
	}
	conn, err := c.registry.connectorFor(p)
	if err != nil {
		return nil, err
	}
	if !conn.Type().CanRefresh {
		return nil, fmt.Errorf("%s: %w", p.Key(), domain.ErrNotSupported)
	}
	return c.refreshShared(ctx, userID, conn, providerID, func(a *provider.Authorization) bool {
		last := a.RefreshedAt()
		return last.IsZero() || !c.clock.Now().Before(last.Add(c.cfg.RefreshCooldown))
	})
}

// refreshShared refreshes the provider's credentials under the refresh lease.
// If someone else holds the lease, it waits for their refresh and returns its
// result. due, when not nil, is asked once the lease is free: credentials it
// finds not due are returned as they are, unrefreshed, so that a refresh that
// ran moments ago is not repeated.
//
// actor is who asked (uuid.Nil: the system), for the audit log.
func (c *Connections) refreshShared(ctx context.Context, actor uuid.UUID, conn Connector, providerID uuid.UUID,
	due func(*provider.Authorization) bool,
) (*provider.Authorization, error) {
	started := c.clock.Now()
	owner := uuid.New() // this request's own lease identity
	for {
		a, err := c.claim(ctx, providerID, owner, due)
		if errors.Is(err, provider.ErrRefreshInProgress) {
			// Someone else is refreshing: wait for it, then use its result.
			if err := c.clock.Sleep(ctx, c.cfg.RefreshPoll); err != nil {
				return nil, fmt.Errorf("waiting for a refresh in progress: %w", domain.ErrUnavailable)
			}
			current, err := c.store.AuthorizationByProvider(ctx, providerID)
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
		if !a.HoldsLease(owner) {
			return a, nil // not due after all
		}
		return c.refresh(ctx, actor, conn, a, owner)
	}
}

// claim takes the refresh lease of the provider's authorization for owner,
// unless due (when not nil) finds its credentials not due: then it returns
// the authorization without the lease.
func (c *Connections) claim(ctx context.Context, providerID, owner uuid.UUID,
	due func(*provider.Authorization) bool,
) (*provider.Authorization, error) {
	_, claimed, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		now := c.clock.Now()
		if due != nil && a.IsAuthorized() && !due(a) {
			return nil, nil // saves nothing; the store returns a as it is
		}
		return a, a.ClaimRefresh(owner, now, now.Add(c.cfg.LeaseTTL))
	})
	return claimed, err
}

// refresh calls the institution for an authorization whose lease owner holds, and
// records the outcome: new credentials; re-authorization required when the
// institution refuses for good; or, for a retryable failure, just the lease back.
// The audit log records the outcome, with actor (uuid.Nil: the system).
func (c *Connections) refresh(ctx context.Context, actor uuid.UUID, conn Connector, a *provider.Authorization, owner uuid.UUID) (*provider.Authorization, error) {
	saved, err := c.refreshLeased(ctx, conn, a, owner)
	c.audit.Record(ctx, auditEntry(audit.ActionAuthorizationRefresh, actor, a.ProviderID(), err))
	return saved, err
}

func (c *Connections) refreshLeased(ctx context.Context, conn Connector, a *provider.Authorization, owner uuid.UUID) (*provider.Authorization, error) {
	creds, callErr := conn.Refresh(ctx, a.Credentials())
	_, saved, err := c.store.UpdateAuthorization(ctx, a.ProviderID(), func(p *provider.Provider, cur *provider.Authorization) (*provider.Authorization, error) {
		if cur == nil || !cur.HoldsLease(owner) {
			// Deleted, revoked or re-leased meanwhile: our result is stale.
			return nil, fmt.Errorf("authorization changed during refresh: %w", domain.ErrConflict)
		}
		now := c.clock.Now()
		switch {
		case callErr == nil:
			cur.Refreshed(owner, creds, now)
		case errors.Is(callErr, domain.ErrReauthorizationRequired):
			requireReauthorization(conn, cur, now)
		default:
			cur.ReleaseRefresh(owner)
		}
		p.FollowAuthorization(cur, now)
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
func (c *Connections) RefreshDue(ctx context.Context) (refreshed, failed int, err error) {
	// Each pass is a lease owner of its own: passes may overlap (the job engine
	// starts the next on schedule while a slow one still runs, on this instance
	// or another), and a pass must not take a row another pass holds for itself.
	owner := uuid.New()
	now := c.clock.Now()
	due, claimErr := c.store.ClaimDueRefreshes(ctx, owner, now, now.Add(c.cfg.RefreshWindow), now.Add(c.cfg.LeaseTTL), c.cfg.BatchSize)
	// A claim can partly fail (a row that no longer decrypts): refresh the rows it
	// did return, so one bad row cannot stop every other refresh, and report it.
	for _, a := range due {
		// Renew this row's lease right before calling the institution: the batch's
		// lease may have run out while earlier rows were refreshed, and a row
		// another instance took over since must not be refreshed twice. A row that
		// is not really due yet (see Authorization.RefreshDue) is let go.
		p, a, err := c.renew(ctx, owner, a.ProviderID(), now)
		if errors.Is(err, errNotDue) || errors.Is(err, provider.ErrRefreshInProgress) {
			continue
		}
		if err != nil {
			failed++
			continue
		}
		conn, err := c.registry.connectorFor(p)
		if err == nil {
			_, err = c.refresh(ctx, uuid.Nil, conn, a, owner)
		}
		if err != nil {
			failed++
			c.log.WarnContext(ctx, "background token refresh failed", "provider_id", a.ProviderID().String(),
				"provider_key", p.Key(), "error", err.Error())
			continue
		}
		refreshed++
	}
	return refreshed, failed, claimErr
}

var errNotDue = errors.New("refresh not due")

// renew extends owner's refresh lease on one claimed authorization and returns
// it with its provider, or releases it (errNotDue) when the credentials are not
// due at passStart.
func (c *Connections) renew(ctx context.Context, owner, providerID uuid.UUID, passStart time.Time) (*provider.Provider, *provider.Authorization, error) {
	p, a, err := c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		if !a.RefreshDue(passStart, c.cfg.RefreshWindow) {
			a.ReleaseRefresh(owner) // saved: the row is free for later passes
			return a, nil
		}
		now := c.clock.Now()
		return a, a.ClaimRefresh(owner, now, now.Add(c.cfg.LeaseTTL))
	})
	if err != nil {
		return nil, nil, err
	}
	if !a.HoldsLease(owner) {
		return nil, nil, errNotDue
	}
	return p, a, nil
}

// Revoke ends the authorization of one of the caller's providers: at the
// institution where it has an endpoint (if that fails, nothing changes and the
// error says why), then locally by wiping the credentials.
func (c *Connections) Revoke(ctx context.Context, userID, providerID uuid.UUID) error {
	err := c.revoke(ctx, userID, providerID)
	c.audit.Record(ctx, auditEntry(audit.ActionAuthorizationRevoke, userID, providerID, err))
	return err
}

func (c *Connections) revoke(ctx context.Context, userID, providerID uuid.UUID) error {
	p, err := ownedProvider(ctx, c.providers, userID, providerID)
	if err != nil {
		return err
	}
	a, err := c.store.AuthorizationByProvider(ctx, providerID)
	if err != nil {
		return err
	}
	later := revokeNowOrLater(ctx, c.registry, p, a, c.log)
	_, _, err = c.store.UpdateAuthorization(ctx, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, notFound(providerID)
		}
		now := c.clock.Now()
		if later {
			a.RevokeLater(now)
		} else {
			a.Revoke(now)
		}
		p.FollowAuthorization(a, now)
		return a, nil
	})
	return err
}

// RevokeSetAside revokes at their institution the credentials a revocation
// set aside (RevokeJob), then forgets them. While the institution is down, or
// its provider type not configured here, the job fails and is retried with
// backoff; an institution that refuses (the grant is gone there already)
// leaves nothing to do.
func (c *Connections) RevokeSetAside(ctx context.Context, job RevokeJob) error {
	sa, err := c.store.SetAsideCredentials(ctx, job.SetAsideID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil // revoked and forgotten by an earlier run
	}
	if err != nil {
		return err
	}
	conn, ok := c.registry.Connector(sa.ProviderKey)
	if !ok {
		return fmt.Errorf("revoke set-aside credentials: provider type %q is not offered by this instance: %w",
			sa.ProviderKey, domain.ErrProviderUnavailable)
	}
	switch err := conn.Revoke(ctx, sa.Credentials); {
	case errors.Is(err, domain.ErrProviderUnavailable) || errors.Is(err, domain.ErrProviderTimeout):
		return err
	case err != nil:
		c.log.WarnContext(ctx, "the institution refused a deferred revocation; forgetting it", "provider_key", sa.ProviderKey,
			"error", err.Error())
	default:
		c.log.InfoContext(ctx, "deferred revocation done at the institution", "provider_key", sa.ProviderKey)
	}
	return c.store.ForgetSetAside(ctx, sa.ID)
}
