package datasync

import (
	"context"
	"errors"
	"time"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
)

// Scheduler begins the scheduled syncs: it is the worker of ScheduleJob,
// which the job engine runs periodically on one instance.
type Scheduler struct {
	store    Store
	clock    Clock
	interval time.Duration
	batch    int
}

// NewScheduler builds the scheduler. interval (SYNC_INTERVAL) is how often a
// provider is synced; batch is how many due providers one pass begins at
// most (the rest are due on the next pass).
func NewScheduler(store Store, clock Clock, interval time.Duration, batch int) *Scheduler {
	return &Scheduler{store: store, clock: clock, interval: interval, batch: max(batch, 1)}
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
		s, job := newSync(providerID, datasync.TriggerScheduled, now)
		got, join, err := p.store.Begin(ctx, s, job)
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
