package datasync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

// ErrNotConnected: a sync was asked for a provider that holds no active
// authorization (never connected, still pending, or revoked). It answers 409
// with the code provider_not_connected. A provider whose institution refused
// its grant is domain.ErrReauthorizationRequired instead (409,
// reauthorization_required), so a client can tell the user what to do.
var ErrNotConnected = fmt.Errorf("the provider is not connected: %w", provider.ErrNotAuthorized)

// MaxPerPage is the largest page of syncs.
const MaxPerPage = 100

// Clock tells the time. Use cases never call time.Now themselves.
type Clock interface {
	Now() time.Time
}

// Providers finds providers, for ownership checks.
type Providers interface {
	// ProviderByID returns the provider or domain.ErrNotFound.
	ProviderByID(ctx context.Context, id uuid.UUID) (*provider.Provider, error)
}

// Authorizations finds a provider's authorization, to refuse syncing one that
// is not connected.
type Authorizations interface {
	// AuthorizationByProvider returns the provider's authorization, or
	// domain.ErrNotFound if none was ever started.
	AuthorizationByProvider(ctx context.Context, providerID uuid.UUID) (*provider.Authorization, error)
}

// Syncs implements the use cases of the syncs resource: starting a sync now,
// reading and listing a provider's syncs, and cancelling one. Every one checks
// that the caller owns the provider: another user's is domain.ErrNotFound,
// exactly like a missing one.
type Syncs struct {
	providers      Providers
	authorizations Authorizations
	store          Store
	clock          Clock
	interval       time.Duration
	audit          Auditor
}

// Auditor records security-relevant actions in the audit log
// (application/audit's Service). It never fails the action.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry)
}

type noAudit struct{}

func (noAudit) Record(context.Context, audit.Entry) {}

// RecordTo has the syncs record the manual syncs started with a. Call it
// before serving.
func (u *Syncs) RecordTo(a Auditor) { u.audit = a }

// NewSyncs builds the syncs use cases. interval (SYNC_INTERVAL) is how long
// after a canceled sync the schedule syncs its provider again.
func NewSyncs(providers Providers, authorizations Authorizations, store Store, clock Clock, interval time.Duration) *Syncs {
	return &Syncs{providers: providers, authorizations: authorizations, store: store, clock: clock, interval: interval, audit: noAudit{}}
}

// Start begins a manual sync of the caller's provider, or returns the sync of
// it already queued or running (joined true): one sync in flight per
// provider. The provider must be connected: ErrNotConnected, or
// domain.ErrReauthorizationRequired when the user must consent again.
//
// Each request is audited (sync.start, the provider as subject).
func (u *Syncs) Start(ctx context.Context, userID, providerID uuid.UUID) (s *datasync.Sync, joined bool, err error) {
	s, joined, err = u.start(ctx, userID, providerID)
	e := audit.Entry{Action: audit.ActionSyncStart, Actor: userID, Subject: audit.Of(audit.SubjectProvider, providerID)}
	e.Outcome, e.Reason = audit.Result(err)
	u.audit.Record(ctx, e)
	return s, joined, err
}

func (u *Syncs) start(ctx context.Context, userID, providerID uuid.UUID) (*datasync.Sync, bool, error) {
	if _, err := u.owned(ctx, userID, providerID); err != nil {
		return nil, false, err
	}
	if err := u.connected(ctx, providerID); err != nil {
		return nil, false, err
	}
	s, job := newSync(providerID, datasync.TriggerManual, u.clock.Now())
	return u.store.Begin(ctx, s, job)
}

// StartForInstitution begins a sync of the provider because its institution
// said new data is available (a webhook; trigger webhook), or joins the sync
// in flight (joined true): one sync in flight per provider. There is no
// caller to check ownership for. A provider that is not connected is
// ErrNotConnected or domain.ErrReauthorizationRequired, as for Start.
func (u *Syncs) StartForInstitution(ctx context.Context, providerID uuid.UUID) (s *datasync.Sync, joined bool, err error) {
	if err := u.connected(ctx, providerID); err != nil {
		return nil, false, err
	}
	s, job := newSync(providerID, datasync.TriggerWebhook, u.clock.Now())
	return u.store.Begin(ctx, s, job)
}

// connected returns nil if the provider's authorization is active, and why it
// cannot be synced otherwise.
func (u *Syncs) connected(ctx context.Context, providerID uuid.UUID) error {
	a, err := u.authorizations.AuthorizationByProvider(ctx, providerID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return ErrNotConnected
	case err != nil:
		return err
	case a.Status() == provider.AuthorizationReauthorizationRequired:
		return fmt.Errorf("provider %s: %w", providerID, domain.ErrReauthorizationRequired)
	case !a.IsAuthorized():
		return ErrNotConnected
	}
	return nil
}

// Get returns one of the caller's syncs.
func (u *Syncs) Get(ctx context.Context, userID, syncID uuid.UUID) (*datasync.Sync, error) {
	s, err := u.store.SyncByID(ctx, syncID)
	if err != nil {
		return nil, err
	}
	if _, err := u.owned(ctx, userID, s.ProviderID()); err != nil {
		return nil, syncNotFound(syncID)
	}
	return s, nil
}

// Page is one page of a provider's syncs, newest first.
type Page struct {
	Items []*datasync.Sync
	// HasMore says whether older syncs follow; Next, the last item's id, is
	// where the next page starts (SyncQuery.Before).
	HasMore bool
	Next    uuid.UUID
}

// List returns one page of the caller's provider's syncs, newest first,
// starting after (older than) the sync before when it is not uuid.Nil. limit
// is 1 to MaxPerPage.
func (u *Syncs) List(ctx context.Context, userID, providerID, before uuid.UUID, limit int) (Page, error) {
	if limit < 1 || limit > MaxPerPage {
		return Page{}, domain.NewValidationError("limit", "out_of_range", "Page size must be between 1 and 100.")
	}
	if _, err := u.owned(ctx, userID, providerID); err != nil {
		return Page{}, err
	}
	items, err := u.store.ListSyncs(ctx, SyncQuery{ProviderID: providerID, Before: before, Limit: limit + 1})
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: items}
	if len(items) > limit {
		page.Items, page.HasMore = items[:limit], true
		page.Next = page.Items[limit-1].ID()
	}
	return page, nil
}

// Cancel cancels one of the caller's syncs that is queued or running, and
// returns it canceled. A running sync's job stops after the page it is
// storing; what it committed stays. A finished sync is
// datasync.ErrIllegalTransition (409) and stays as it ended.
func (u *Syncs) Cancel(ctx context.Context, userID, syncID uuid.UUID) (*datasync.Sync, error) {
	if _, err := u.Get(ctx, userID, syncID); err != nil {
		return nil, err
	}
	return u.store.UpdateSync(ctx, syncID, func(s *datasync.Sync, st *State) error {
		now := u.clock.Now()
		if err := s.Cancel(now); err != nil {
			return err
		}
		// The user stopped it: the schedule waits an interval, rather than
		// begin the sync again at its next pass.
		st.NextSyncAt = nextSyncAt(now, u.interval)
		return nil
	})
}

// ProviderState returns what is known of the caller's provider's syncing, for
// its representation (last_synced_at, data_as_of).
func (u *Syncs) ProviderState(ctx context.Context, userID, providerID uuid.UUID) (State, error) {
	if _, err := u.owned(ctx, userID, providerID); err != nil {
		return State{}, err
	}
	return u.store.ProviderState(ctx, providerID)
}

// ProviderStates returns the sync State of each of the caller's providers,
// by provider id, for a page of their representations; a provider never
// synced has a zero State. Providers the caller does not own are
// domain.ErrNotFound, as ProviderState answers.
func (u *Syncs) ProviderStates(ctx context.Context, userID uuid.UUID, providers []*provider.Provider) (map[uuid.UUID]State, error) {
	ids := make([]uuid.UUID, len(providers))
	for i, p := range providers {
		if !p.OwnedBy(userID) {
			return nil, fmt.Errorf("provider %s: %w", p.ID(), domain.ErrNotFound)
		}
		ids[i] = p.ID()
	}
	states, err := u.store.ProviderStates(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, ok := states[id]; !ok {
			states[id] = State{ProviderID: id}
		}
	}
	return states, nil
}

// owned returns the provider if userID owns it; another user's is
// domain.ErrNotFound, exactly like a missing one.
func (u *Syncs) owned(ctx context.Context, userID, providerID uuid.UUID) (*provider.Provider, error) {
	p, err := u.providers.ProviderByID(ctx, providerID)
	if err != nil {
		return nil, err
	}
	if !p.OwnedBy(userID) {
		return nil, fmt.Errorf("provider %s: %w", providerID, domain.ErrNotFound)
	}
	return p, nil
}

// FirstSync is the sync a granted authorization begins at once, with its job.
// The authorization store calls it in the grant's transaction and begins
// them there (Store.Begin's semantics), so the grant and its first sync
// commit together or not at all.
func FirstSync(providerID uuid.UUID, now time.Time) (*datasync.Sync, SyncJob) {
	return newSync(providerID, datasync.TriggerAuthorization, now)
}

// newSync queues a sync of providerID and returns it with its job.
func newSync(providerID uuid.UUID, trigger datasync.Trigger, now time.Time) (*datasync.Sync, SyncJob) {
	// NewV7 fails only when the system's randomness does, which Go's
	// crypto/rand no longer reports as an error.
	id := uuid.Must(uuid.NewV7())
	return datasync.New(id, providerID, trigger, now), SyncJob{SyncID: id, ProviderID: providerID}
}

func syncNotFound(id uuid.UUID) error { return fmt.Errorf("sync %s: %w", id, domain.ErrNotFound) }
