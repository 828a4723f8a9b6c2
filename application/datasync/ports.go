// Package datasync holds the use cases that keep a provider's financial data in
// sync with its institution: starting a sync (manual, scheduled, or on a
// grant), running it in a background job, cancelling it, and reading syncs.
// It stores through the ports declared here and in application/finance.
package datasync

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain/datasync"
)

// SyncJob is the background job that runs one sync (Engine.Run). It names the
// sync and its provider only: the job may wait in the queue and run on another
// instance, and runs again, from the last commit, if its instance died.
type SyncJob struct {
	SyncID     uuid.UUID `json:"sync_id"`
	ProviderID uuid.UUID `json:"provider_id"`
}

// Kind names the job's worker.
func (SyncJob) Kind() string { return "sync_provider" }

// ScheduleJob is one pass of the sync scheduler (Scheduler.Pass): it begins a
// scheduled sync of every provider that is due.
type ScheduleJob struct{}

// Kind names the job's worker.
func (ScheduleJob) Kind() string { return "sync_schedule" }

// State is what Dashtam knows of one provider's syncing, beyond its syncs.
type State struct {
	ProviderID uuid.UUID
	// LastSyncedAt is when the last sync that stored data (succeeded or
	// partial) finished; zero before the first.
	LastSyncedAt time.Time
	// DataAsOf is when the newest stored data was true at the institution (the
	// newest balance's as-of); zero before the first.
	DataAsOf time.Time
	// NextSyncAt is when the scheduler next begins a sync; zero means due now
	// (a provider granted before any sync finished).
	NextSyncAt time.Time
}

// SyncQuery asks for one page of a provider's syncs, newest first (created
// at, then id, both descending).
type SyncQuery struct {
	ProviderID uuid.UUID
	// Before, when not uuid.Nil, starts the page just after (older than) that
	// sync.
	Before uuid.UUID
	Limit  int
}

// Store keeps syncs and each provider's sync State.
//
// One sync at most is in flight (queued or running) per provider, across every
// instance: Begin decides under the provider's row lock, and a unique index
// backs it up.
type Store interface {
	// Begin begins a sync of s's provider unless one is in flight. In one
	// transaction it locks the provider and either returns the sync in
	// flight (joined true, s discarded, nothing enqueued) or inserts s and
	// enqueues job, so the sync and its job commit together or not at all. An
	// unknown provider is domain.ErrNotFound.
	Begin(ctx context.Context, s *datasync.Sync, job jobs.Job) (got *datasync.Sync, joined bool, err error)
	// SyncByID returns the sync, or domain.ErrNotFound.
	SyncByID(ctx context.Context, id uuid.UUID) (*datasync.Sync, error)
	// ListSyncs returns one page of a provider's syncs, newest first.
	ListSyncs(ctx context.Context, q SyncQuery) ([]*datasync.Sync, error)
	// UpdateSync locks the sync, loads its provider's State, and calls fn,
	// which may change both; both are saved in one transaction and the sync
	// is returned as saved. fn's error aborts everything and is returned. An
	// unknown sync is domain.ErrNotFound.
	UpdateSync(ctx context.Context, id uuid.UUID, fn func(s *datasync.Sync, st *State) error) (*datasync.Sync, error)
	// ProviderState returns the provider's State (zero but for ProviderID
	// before its first sync). An unknown provider is domain.ErrNotFound.
	ProviderState(ctx context.Context, providerID uuid.UUID) (State, error)
	// ProviderStates returns the State of each of the providers that has
	// one, by provider id, in one read; a provider missing from the map has
	// never been synced (its State is zero).
	ProviderStates(ctx context.Context, providerIDs []uuid.UUID) (map[uuid.UUID]State, error)
	// DueProviders returns at most limit providers whose authorization is
	// active and whose NextSyncAt is zero or not after now, most overdue
	// first. A provider whose authorization needs the user (re-authorization
	// required, revoked) is never due: its schedule is paused until a new
	// grant.
	DueProviders(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error)
}
