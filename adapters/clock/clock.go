// Package clock is the real-time Clock for the use cases.
package clock

import (
	"context"
	"time"
)

// System tells the wall-clock time in UTC, truncated to microseconds so that a time
// survives a round trip through either database unchanged.
type System struct{}

// Now returns the current time.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Sleep waits for d, or until ctx ends and then returns ctx's error.
func (System) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
