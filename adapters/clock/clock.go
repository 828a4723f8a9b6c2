// Package clock is the real-time Clock for the use cases.
package clock

import "time"

// System tells the wall-clock time in UTC, truncated to microseconds so that a time
// survives a round trip through either database unchanged.
type System struct{}

// Now returns the current time.
func (System) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
