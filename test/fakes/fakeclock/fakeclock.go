// Package fakeclock is a manual Clock for use-case tests: it tells the time it is
// told, so expiry rules can be tested at exact instants without sleeping.
package fakeclock

import (
	"context"
	"sync"
	"time"

	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
)

var (
	_ identityapp.Clock  = (*Clock)(nil)
	_ providersapp.Clock = (*Clock)(nil)
)

// Clock is a manual clock, safe for concurrent use. Like the system clock of
// adapters/clock, it tells time in UTC truncated to the microsecond, so a time it
// returns survives a round trip through storage unchanged. It moves only when told.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	onSleep func(d time.Duration)
}

// New returns a clock stopped at t (in UTC, truncated to the microsecond).
func New(t time.Time) *Clock {
	return &Clock{now: normalize(t)}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d (backwards when d is negative); the result is
// truncated to the microsecond.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = normalize(c.now.Add(d))
}

// Set moves the clock to t (in UTC, truncated to the microsecond).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = normalize(t)
}

// Sleep stands for a wait of d: it moves the clock by d, runs the hook set
// with OnSleep (what happens elsewhere while the caller waits), and returns at
// once. A ctx that has ended is its error, and the clock does not move.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = normalize(c.now.Add(d))
	hook := c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	return ctx.Err()
}

// OnSleep sets a hook that every Sleep runs after moving the clock, so a test
// can make another party act while a use case waits (nil removes it).
func (c *Clock) OnSleep(hook func(d time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onSleep = hook
}

func normalize(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
