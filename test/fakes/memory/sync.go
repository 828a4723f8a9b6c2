package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

var _ datasyncapp.Store = (*SyncStore)(nil)

// SyncStore is an in-memory implementation of the datasync application's
// Store port, with the semantics of the SQL adapter: one sync in flight per
// provider (Begin joins it), a sync committed with its job or not at all,
// syncs and state gone with their provider, times in UTC to the microsecond.
// The jobs Begin enqueues are kept in order for tests to read (Jobs).
//
// It works on the providers and authorizations of an AuthorizationStore,
// under the ProviderStore's mutex, so one lock serializes every store; a
// closure must not call back into any of them. Entities are copied in and out.
type SyncStore struct {
	providers *ProviderStore
	auths     *AuthorizationStore
	// Guarded by providers.mu.
	syncs  map[uuid.UUID]datasync.Snapshot
	states map[uuid.UUID]datasyncapp.State
	jobs   []jobs.Job
	// disabledUsers stands for the users table's status column, which the
	// SQL store's DueProviders reads (SetUserDisabled).
	disabledUsers map[uuid.UUID]bool
}

// NewSyncStore returns an empty store of the syncs of auths' providers.
func NewSyncStore(auths *AuthorizationStore) *SyncStore {
	return &SyncStore{providers: auths.providers, auths: auths, syncs: map[uuid.UUID]datasync.Snapshot{},
		states: map[uuid.UUID]datasyncapp.State{}, disabledUsers: map[uuid.UUID]bool{}}
}

// SetUserDisabled records that an operator disabled (or enabled) the user,
// whose providers DueProviders then skips (or includes again), as the SQL
// store does by reading the users table.
func (m *SyncStore) SetUserDisabled(userID uuid.UUID, disabled bool) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	m.disabledUsers[userID] = disabled
}

// BeginOnGrant makes every grant stored through the AuthorizationStore (an
// authorization that turns active, or is granted anew) begin the sync first
// returns, in the grant's own update, as the SQL store's hook does: the grant
// and its first sync (with its job) are stored together or not at all.
func (m *SyncStore) BeginOnGrant(first func(providerID uuid.UUID, now time.Time) (*datasync.Sync, jobs.Job)) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	m.auths.onGrant = func(providerID uuid.UUID, now time.Time) error {
		s, job := first(providerID, now)
		_, _, err := m.begin(s, job)
		return err
	}
}

// Begin stores s and its job unless a sync of s's provider is in flight,
// which it returns instead (joined); see persistence.SyncStore.Begin.
func (m *SyncStore) Begin(_ context.Context, s *datasync.Sync, job jobs.Job) (*datasync.Sync, bool, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	return m.begin(s, job)
}

func (m *SyncStore) begin(s *datasync.Sync, job jobs.Job) (*datasync.Sync, bool, error) {
	if _, ok := m.providers.providers[s.ProviderID()]; !ok {
		return nil, false, fmt.Errorf("begin sync: %w", providerNotFound(s.ProviderID()))
	}
	if inFlight, ok := m.inFlight(s.ProviderID()); ok {
		return datasync.Rehydrate(inFlight), true, nil
	}
	if _, taken := m.syncs[s.ID()]; taken {
		return nil, false, fmt.Errorf("sync %s: %w", s.ID(), errDuplicateKey)
	}
	snap := storedSync(s.Snapshot())
	m.syncs[snap.ID] = snap
	m.jobs = append(m.jobs, job)
	return datasync.Rehydrate(snap), false, nil
}

// inFlight returns the provider's sync in flight, if any.
func (m *SyncStore) inFlight(providerID uuid.UUID) (datasync.Snapshot, bool) {
	for _, s := range m.syncs {
		if s.ProviderID == providerID && s.Status.InFlight() {
			return s, true
		}
	}
	return datasync.Snapshot{}, false
}

// SyncByID returns a copy of the sync, or domain.ErrNotFound.
func (m *SyncStore) SyncByID(_ context.Context, id uuid.UUID) (*datasync.Sync, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	s, ok := m.live(id)
	if !ok {
		return nil, syncNotFound(id)
	}
	return datasync.Rehydrate(s), nil
}

// ListSyncs returns one page of q.ProviderID's syncs, newest first (created
// at, then id, both descending).
func (m *SyncStore) ListSyncs(_ context.Context, q datasyncapp.SyncQuery) ([]*datasync.Sync, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	var all []datasync.Snapshot
	for id := range m.syncs {
		if s, ok := m.live(id); ok && s.ProviderID == q.ProviderID {
			all = append(all, s)
		}
	}
	slices.SortFunc(all, newestSyncFirst)
	if q.Before != uuid.Nil {
		before, ok := m.syncs[q.Before]
		if !ok {
			return nil, nil
		}
		all = slices.DeleteFunc(all, func(s datasync.Snapshot) bool { return newestSyncFirst(s, before) <= 0 })
	}
	out := make([]*datasync.Sync, 0, min(len(all), q.Limit))
	for _, s := range all[:min(len(all), q.Limit)] {
		out = append(out, datasync.Rehydrate(s))
	}
	return out, nil
}

func newestSyncFirst(a, b datasync.Snapshot) int {
	return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), bytes.Compare(b.ID[:], a.ID[:]))
}

// UpdateSync calls fn with copies of the sync and its provider's State and
// stores both, or neither when fn fails; see persistence.SyncStore.UpdateSync.
func (m *SyncStore) UpdateSync(_ context.Context, id uuid.UUID,
	fn func(s *datasync.Sync, st *datasyncapp.State) error,
) (*datasync.Sync, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	snap, ok := m.live(id)
	if !ok {
		return nil, syncNotFound(id)
	}
	s, st := datasync.Rehydrate(snap), m.state(snap.ProviderID)
	if err := fn(s, &st); err != nil {
		return nil, err
	}
	next := storedSync(s.Snapshot())
	if next.ID != id || next.ProviderID != snap.ProviderID || st.ProviderID != snap.ProviderID {
		return nil, fmt.Errorf("the closure changed the identity of sync %s or of its provider's state", id)
	}
	m.syncs[id] = next
	m.states[st.ProviderID] = storedState(st)
	m.providers.Events.write(m.providers.providers[snap.ProviderID].UserID(), s.DrainEvents())
	return datasync.Rehydrate(next), nil
}

// ProviderState returns the provider's State, or domain.ErrNotFound.
func (m *SyncStore) ProviderState(_ context.Context, providerID uuid.UUID) (datasyncapp.State, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	if _, ok := m.providers.providers[providerID]; !ok {
		return datasyncapp.State{}, fmt.Errorf("sync state: %w", providerNotFound(providerID))
	}
	return m.state(providerID), nil
}

// ProviderStates returns the stored State of each of the providers that
// has one, by provider id.
func (m *SyncStore) ProviderStates(_ context.Context, providerIDs []uuid.UUID) (map[uuid.UUID]datasyncapp.State, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	out := make(map[uuid.UUID]datasyncapp.State, len(providerIDs))
	for _, id := range providerIDs {
		if _, ok := m.providers.providers[id]; !ok {
			continue
		}
		if st, ok := m.states[id]; ok {
			out[id] = st
		}
	}
	return out, nil
}

// DueProviders returns at most limit providers with an active authorization,
// of a user not disabled (SetUserDisabled), whose next sync is due at now, most overdue first (never synced first), ties
// by id.
func (m *SyncStore) DueProviders(_ context.Context, now time.Time, limit int) ([]uuid.UUID, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	var due []datasyncapp.State
	for id, p := range m.providers.providers {
		a, ok := m.auths.live(id)
		st := m.state(id)
		if ok && a.Status == provider.AuthorizationActive && !m.disabledUsers[p.UserID()] && !st.NextSyncAt.After(now) {
			due = append(due, st)
		}
	}
	slices.SortFunc(due, func(a, b datasyncapp.State) int {
		return cmp.Or(a.NextSyncAt.Compare(b.NextSyncAt), bytes.Compare(a.ProviderID[:], b.ProviderID[:]))
	})
	out := make([]uuid.UUID, 0, min(len(due), max(limit, 0)))
	for _, st := range due[:min(len(due), max(limit, 0))] {
		out = append(out, st.ProviderID)
	}
	return out, nil
}

// Jobs returns the jobs Begin enqueued, oldest first.
func (m *SyncStore) Jobs() []jobs.Job {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	return slices.Clone(m.jobs)
}

// live returns the sync with id unless its provider is gone.
func (m *SyncStore) live(id uuid.UUID) (datasync.Snapshot, bool) {
	s, ok := m.syncs[id]
	if !ok {
		return s, false
	}
	_, ok = m.providers.providers[s.ProviderID]
	return s, ok
}

// state returns the provider's State, zero but for its id before any was
// stored. A provider deleted and never re-created has none.
func (m *SyncStore) state(providerID uuid.UUID) datasyncapp.State {
	if st, ok := m.states[providerID]; ok {
		return st
	}
	return datasyncapp.State{ProviderID: providerID}
}

func syncNotFound(id uuid.UUID) error { return fmt.Errorf("sync %s: %w", id, domain.ErrNotFound) }

// storedSync is s as the database keeps it.
func storedSync(s datasync.Snapshot) datasync.Snapshot {
	s.CreatedAt, s.StartedAt, s.FinishedAt = storedTime(s.CreatedAt), storedTime(s.StartedAt), storedTime(s.FinishedAt)
	s.Errors = slices.Clone(s.Errors)
	return s
}

// storedState is st as the database keeps it.
func storedState(st datasyncapp.State) datasyncapp.State {
	st.LastSyncedAt, st.DataAsOf, st.NextSyncAt = storedTime(st.LastSyncedAt), storedTime(st.DataAsOf), storedTime(st.NextSyncAt)
	return st
}
