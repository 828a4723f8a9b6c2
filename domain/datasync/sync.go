package datasync

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

// Errors of a sync's state changes. Both change nothing.
var (
	// ErrIllegalTransition: the change does not apply in the sync's status
	// (starting a running sync, cancelling a finished one). It answers 409.
	ErrIllegalTransition = fmt.Errorf("illegal sync transition: %w", domain.ErrConflict)
	// ErrInvalidProgress: progress, results or errors that cannot be true (more
	// accounts done than there are, a count going backwards, a negative count,
	// an error without a code): a bug in the sync engine, not the user's doing.
	ErrInvalidProgress = errors.New("invalid sync progress")
)

// Progress counts the accounts a running sync has been through.
type Progress struct {
	AccountsTotal, AccountsDone int
}

// AccountResults counts the accounts a sync changed.
type AccountResults struct{ Added, Updated, Closed int }

// TransactionResults counts the transactions a sync changed.
type TransactionResults struct{ Added, Modified, Removed int }

// HoldingResults counts the holdings a sync changed.
type HoldingResults struct{ Added, Updated, Removed int }

// Results counts what a sync changed, so a client sees at a glance whether
// anything did.
type Results struct {
	Accounts     AccountResults
	Transactions TransactionResults
	Holdings     HoldingResults
}

func (r Results) plus(o Results) Results {
	return Results{
		Accounts: AccountResults{r.Accounts.Added + o.Accounts.Added, r.Accounts.Updated + o.Accounts.Updated,
			r.Accounts.Closed + o.Accounts.Closed},
		Transactions: TransactionResults{r.Transactions.Added + o.Transactions.Added,
			r.Transactions.Modified + o.Transactions.Modified, r.Transactions.Removed + o.Transactions.Removed},
		Holdings: HoldingResults{r.Holdings.Added + o.Holdings.Added, r.Holdings.Updated + o.Holdings.Updated,
			r.Holdings.Removed + o.Holdings.Removed},
	}
}

func (r Results) negative() bool {
	return min(r.Accounts.Added, r.Accounts.Updated, r.Accounts.Closed,
		r.Transactions.Added, r.Transactions.Modified, r.Transactions.Removed,
		r.Holdings.Added, r.Holdings.Updated, r.Holdings.Removed) < 0
}

// AccountError is why one account, or the whole provider, could not be synced.
type AccountError struct {
	// AccountID is the account that failed, or uuid.Nil when the failure
	// concerns the whole provider (re-authorization required, institution down).
	AccountID uuid.UUID
	// Code is stable and machine-readable, such as "reauthorization_required".
	Code string
	// Message is for people; it never carries the institution's own text.
	Message string
	// Retryable says whether syncing again may succeed without the user.
	Retryable bool
}

// Sync is one run of a provider's data sync.
type Sync struct {
	id         uuid.UUID
	providerID uuid.UUID
	trigger    Trigger
	status     Status
	progress   Progress
	results    Results
	errors     []AccountError
	createdAt  time.Time
	startedAt  time.Time
	finishedAt time.Time

	events event.Recorder
}

// New queues a sync of providerID.
func New(id, providerID uuid.UUID, trigger Trigger, now time.Time) *Sync {
	return &Sync{id: id, providerID: providerID, trigger: trigger, status: StatusQueued, createdAt: now}
}

// Snapshot is every field of a Sync, for storage.
type Snapshot struct {
	ID, ProviderID uuid.UUID
	Trigger        Trigger
	Status         Status
	Progress       Progress
	Results        Results
	Errors         []AccountError
	CreatedAt      time.Time
	StartedAt      time.Time
	FinishedAt     time.Time
}

// Snapshot returns the sync's fields for storage.
func (s *Sync) Snapshot() Snapshot {
	return Snapshot{ID: s.id, ProviderID: s.providerID, Trigger: s.trigger, Status: s.status, Progress: s.progress,
		Results: s.results, Errors: slices.Clone(s.errors), CreatedAt: s.createdAt, StartedAt: s.startedAt,
		FinishedAt: s.finishedAt}
}

// Rehydrate rebuilds a sync from storage.
func Rehydrate(s Snapshot) *Sync {
	return &Sync{id: s.ID, providerID: s.ProviderID, trigger: s.Trigger, status: s.Status, progress: s.Progress,
		results: s.Results, errors: slices.Clone(s.Errors), createdAt: s.CreatedAt, startedAt: s.StartedAt,
		finishedAt: s.FinishedAt}
}

// ID returns the sync's id.
func (s *Sync) ID() uuid.UUID { return s.id }

// ProviderID returns the provider being synced.
func (s *Sync) ProviderID() uuid.UUID { return s.providerID }

// Trigger returns what started the sync.
func (s *Sync) Trigger() Trigger { return s.trigger }

// Status returns the sync's status.
func (s *Sync) Status() Status { return s.status }

// Progress returns how many accounts the sync has been through.
func (s *Sync) Progress() Progress { return s.progress }

// Results returns what the sync has changed so far.
func (s *Sync) Results() Results { return s.results }

// Errors returns why accounts (or the provider) failed; empty unless the sync
// ended partial or failed.
func (s *Sync) Errors() []AccountError { return slices.Clone(s.errors) }

// CreatedAt returns when the sync was queued.
func (s *Sync) CreatedAt() time.Time { return s.createdAt }

// StartedAt returns when the sync started running (zero while queued).
func (s *Sync) StartedAt() time.Time { return s.startedAt }

// FinishedAt returns when the sync finished or was canceled (zero while in flight).
func (s *Sync) FinishedAt() time.Time { return s.finishedAt }

func (s *Sync) illegal(change string) error {
	return fmt.Errorf("%w: cannot %s a %s sync", ErrIllegalTransition, change, s.status)
}

// Start moves a queued sync to running.
func (s *Sync) Start(now time.Time) error {
	if s.status != StatusQueued {
		return s.illegal("start")
	}
	s.status, s.startedAt = StatusRunning, now
	s.events.Record(event.SyncStarted, now, s.eventData())
	return nil
}

// DrainEvents returns the events of the sync's changes since the last drain
// (sync.started, sync.completed, sync.failed), for its store to write.
func (s *Sync) DrainEvents() []event.Event { return s.events.Drain() }

func (s *Sync) eventData() event.Data {
	return event.Data{"sync_id": s.id.String(), "provider_id": s.providerID.String(), "trigger": s.trigger.String()}
}

// recordEnd records how the sync ended: sync.completed with the result counts
// when it succeeded or partly did, sync.failed otherwise (failed or canceled),
// with the error codes.
func (s *Sync) recordEnd(now time.Time) {
	d := s.eventData()
	d["status"] = s.status.String()
	if s.status == StatusSucceeded || s.status == StatusPartial {
		r := s.results
		d["results"] = map[string]any{
			"accounts":     map[string]any{"added": r.Accounts.Added, "updated": r.Accounts.Updated, "closed": r.Accounts.Closed},
			"transactions": map[string]any{"added": r.Transactions.Added, "modified": r.Transactions.Modified, "removed": r.Transactions.Removed},
			"holdings":     map[string]any{"added": r.Holdings.Added, "updated": r.Holdings.Updated, "removed": r.Holdings.Removed},
		}
	}
	codes := make([]string, 0, len(s.errors))
	for _, e := range s.errors {
		if !slices.Contains(codes, e.Code) {
			codes = append(codes, e.Code)
		}
	}
	d["error_codes"] = codes
	t := event.SyncFailed
	if s.status == StatusSucceeded || s.status == StatusPartial {
		t = event.SyncCompleted
	}
	s.events.Record(t, now, d)
}

// Advance records a running sync's progress: done of total accounts. Progress
// only moves forward, so a client's progress bar never jumps back.
func (s *Sync) Advance(p Progress) error {
	if s.status != StatusRunning {
		return s.illegal("advance")
	}
	if p.AccountsDone < s.progress.AccountsDone || p.AccountsTotal < p.AccountsDone {
		return fmt.Errorf("%w: %d of %d accounts done after %d of %d", ErrInvalidProgress,
			p.AccountsDone, p.AccountsTotal, s.progress.AccountsDone, s.progress.AccountsTotal)
	}
	s.progress = p
	return nil
}

// Record adds r to the results of a running sync, as each account's data is
// committed.
func (s *Sync) Record(r Results) error {
	if s.status != StatusRunning {
		return s.illegal("record results of")
	}
	if r.negative() {
		return fmt.Errorf("%w: negative results %+v", ErrInvalidProgress, r)
	}
	s.results = s.results.plus(r)
	return nil
}

// Finish ends a running sync with the errors met on the way, which decide how
// it ended: none is succeeded; an error about the whole provider, or every
// account failing, is failed; otherwise partial, so that a failure is never
// hidden inside a success and one bad account does not fail the others.
func (s *Sync) Finish(errs []AccountError, now time.Time) error {
	if s.status != StatusRunning {
		return s.illegal("finish")
	}
	for _, e := range errs {
		if e.Code == "" {
			return fmt.Errorf("%w: an error without a code %+v", ErrInvalidProgress, e)
		}
	}
	s.status, s.errors, s.finishedAt = outcome(errs, s.progress.AccountsTotal), slices.Clone(errs), now
	s.recordEnd(now)
	return nil
}

func outcome(errs []AccountError, accounts int) Status {
	if len(errs) == 0 {
		return StatusSucceeded
	}
	failed := map[uuid.UUID]bool{}
	for _, e := range errs {
		if e.AccountID == uuid.Nil {
			return StatusFailed
		}
		failed[e.AccountID] = true
	}
	if len(failed) >= accounts {
		return StatusFailed
	}
	return StatusPartial
}

// Cancel ends a queued or running sync as canceled. A finished sync stays as
// it ended: ErrIllegalTransition.
func (s *Sync) Cancel(now time.Time) error {
	if !s.status.InFlight() {
		return s.illegal("cancel")
	}
	s.status, s.finishedAt = StatusCanceled, now
	s.recordEnd(now)
	return nil
}
