package datasync

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
)

// Scheduler begins the scheduled syncs: it is the worker of ScheduleJob,
// which the job engine runs periodically on one instance.
type Scheduler struct {
	store      Store
	clock      Clock
	interval   time.Duration
	batch      int
	staleAfter time.Duration
}

// NewScheduler builds the scheduler. interval (SYNC_INTERVAL) is how often a
// provider is synced; batch is how many due providers one pass begins at
// most (the rest are due on the next pass). staleAfter is how long a sync may
// stay in flight before the scheduler takes it for abandoned (its job gave up
// or was lost) and begins a new one; it must exceed the longest sync,
// postponements included.
func NewScheduler(store Store, clock Clock, interval time.Duration, batch int, staleAfter time.Duration) *Scheduler {
	return &Scheduler{store: store, clock: clock, interval: interval, batch: max(batch, 1), staleAfter: staleAfter}
}

// Pass begins a scheduled sync of every provider due now (at most batch of
// them, most overdue first), each with its job; a provider with a sync in
// flight joins it instead. It returns how many syncs it began and joined.
//
// Each provider it takes is made due again one interval later at once,
// without waiting for its sync to finish (which sets the time again from its
// own end): a sync that waits in the queue longer than the pass interval
// would otherwise keep its provider due, and the due ones that join their
// syncs in flight, most overdue first, would fill every pass's batch and
// starve the others. Joining alone keeps a provider from running two syncs;
// moving its time keeps the passes moving on.
func (p *Scheduler) Pass(ctx context.Context) (begun, joined int, err error) {
	now := p.clock.Now()
	due, err := p.store.DueProviders(ctx, now, p.batch)
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for _, providerID := range due {
		got, join, err := p.begin(ctx, providerID, now)
		if errors.Is(err, domain.ErrNotFound) {
			continue // deleted since it was found due
		}
		if err == nil {
			err = p.postpone(ctx, got, now)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if join {
			joined++
		} else {
			begun++
		}
	}
	return begun, joined, errors.Join(errs...)
}

// postpone makes s's provider due one interval after now, unless a sync that
// finished meanwhile already set a later time.
func (p *Scheduler) postpone(ctx context.Context, s *datasync.Sync, now time.Time) error {
	_, err := p.store.UpdateSync(ctx, s.ID(), func(_ *datasync.Sync, st *State) error {
		if !st.NextSyncAt.After(now) {
			st.NextSyncAt = nextSyncAt(now, p.interval)
		}
		return nil
	})
	return err
}

// begin begins a scheduled sync of the provider, or joins the one in flight
// unless it is older than staleAfter: that one ends failed (abandoned), and a
// new one begins.
func (p *Scheduler) begin(ctx context.Context, providerID uuid.UUID, now time.Time) (*datasync.Sync, bool, error) {
	s, job := newSync(providerID, datasync.TriggerScheduled, now)
	got, joined, err := p.store.Begin(ctx, s, job)
	if err != nil || !joined || now.Sub(got.CreatedAt()) < p.staleAfter {
		return got, joined, err
	}
	if err := p.abandon(ctx, got.ID(), now); err != nil {
		return nil, false, err
	}
	return p.store.Begin(ctx, s, job)
}

// abandon ends a sync that stayed in flight too long as failed, so that the
// provider syncs again (DATA.md: never a sync stuck running forever). Its job,
// if it still runs after all, stops at its next commit.
func (p *Scheduler) abandon(ctx context.Context, syncID uuid.UUID, now time.Time) error {
	_, err := p.store.UpdateSync(ctx, syncID, func(s *datasync.Sync, _ *State) error {
		if s.Status() == datasync.StatusQueued {
			if err := s.Start(now); err != nil {
				return err
			}
		}
		if s.Status() != datasync.StatusRunning {
			return nil // it finished meanwhile
		}
		return s.Finish([]datasync.AccountError{{Code: CodeAbandoned, Message: messages[CodeAbandoned], Retryable: true}}, now)
	})
	return err
}
