// Package datasync holds Sync: one run that brings a provider's accounts,
// balances, holdings and transactions up to date, from queued to finished. (It
// is not called sync so that it does not shadow the standard library's.)
package datasync

import "fmt"

// Trigger says what started a sync.
type Trigger struct{ s string }

// The triggers (DATA.md, "How sync works").
var (
	// TriggerAuthorization: a granted authorization starts the first sync at once.
	TriggerAuthorization = Trigger{"authorization"}
	// TriggerScheduled: the schedule syncs every active provider.
	TriggerScheduled = Trigger{"scheduled"}
	// TriggerManual: the user asked for a sync now.
	TriggerManual = Trigger{"manual"}
	// TriggerWebhook: the institution said new data is available.
	TriggerWebhook = Trigger{"webhook"}
)

// Triggers lists every trigger.
func Triggers() []Trigger {
	return []Trigger{TriggerAuthorization, TriggerScheduled, TriggerManual, TriggerWebhook}
}

// ParseTrigger turns a trigger name into a Trigger.
func ParseTrigger(s string) (Trigger, error) {
	for _, t := range Triggers() {
		if t.s == s {
			return t, nil
		}
	}
	return Trigger{}, fmt.Errorf("unknown sync trigger %q", s)
}

func (t Trigger) String() string { return t.s }

// Status is where a sync is in its life: queued, then running, then one of the
// four finished statuses.
type Status struct{ s string }

// The sync statuses.
var (
	StatusQueued    = Status{"queued"}
	StatusRunning   = Status{"running"}
	StatusSucceeded = Status{"succeeded"}
	// StatusPartial: some accounts failed, the others were synced.
	StatusPartial = Status{"partial"}
	// StatusFailed: nothing usable was synced.
	StatusFailed   = Status{"failed"}
	StatusCanceled = Status{"canceled"}
)

// Statuses lists every status, in lifecycle order.
func Statuses() []Status {
	return []Status{StatusQueued, StatusRunning, StatusSucceeded, StatusPartial, StatusFailed, StatusCanceled}
}

// ParseStatus turns a status name into a Status.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses() {
		if st.s == s {
			return st, nil
		}
	}
	return Status{}, fmt.Errorf("unknown sync status %q", s)
}

func (s Status) String() string { return s.s }

// InFlight reports whether a sync in this status is still to finish: a second
// trigger for its provider joins it instead of starting another.
func (s Status) InFlight() bool { return s == StatusQueued || s == StatusRunning }
