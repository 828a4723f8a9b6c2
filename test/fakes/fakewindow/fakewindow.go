// Package fakewindow is a rate-limit store on a manual clock: fixed windows
// per tier and key, as the real store keeps them, so budgets can be spent and
// renewed at exact instants without sleeping. It satisfies budgeted.Counter.
package fakewindow

import (
	"context"
	"sync"
	"time"
)

// Counter counts calls per tier and key in fixed windows of Period, each
// starting at its key's first call after the previous one ended. It is safe
// for concurrent use.
type Counter struct {
	now    func() time.Time
	limits map[string]int
	// Period is every window's length (a minute unless changed before use).
	Period time.Duration

	mu   sync.Mutex
	seen map[string]*window
	err  error
}

type window struct {
	count int
	reset time.Time
}

// New returns a counter on the clock now allowing limits[tier] calls per
// window in each tier.
func New(now func() time.Time, limits map[string]int) *Counter {
	return &Counter{now: now, limits: limits, Period: time.Minute, seen: map[string]*window{}}
}

// Fail makes every Take fail with err (nil: work again), as a store that
// cannot be reached does.
func (c *Counter) Fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// Take counts one call against key in tier: whether it is within the limit,
// and when the key's window ends.
func (c *Counter) Take(_ context.Context, tier, key string) (bool, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false, time.Time{}, c.err
	}
	now := c.now()
	w := c.seen[tier+"|"+key]
	if w == nil || !now.Before(w.reset) {
		w = &window{reset: now.Add(c.Period)}
		c.seen[tier+"|"+key] = w
	}
	w.count++
	return w.count <= c.limits[tier], w.reset, nil
}
