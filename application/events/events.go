// Package events reads the event log (EVENTS.md) for the users it belongs to
// and keeps it to its retention. The events themselves are written by the
// stores, in the transaction of each change (domain/event).
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

// MaxPageSize is the largest page of GET /events.
const MaxPageSize = 100

// DefaultRetention is how long events are kept when EVENT_RETENTION is unset.
const DefaultRetention = 7 * 24 * time.Hour

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Query selects a user's events after an id, ascending by id.
type Query struct {
	UserID uuid.UUID
	// After is the id to read after (0: from the oldest kept).
	After int64
	// Types keeps only events of these types (none: every type).
	Types []event.Type
	// Limit is the most events returned.
	Limit int
}

// Log is the event log as the use cases read it.
type Log interface {
	// ListEvents returns at most q.Limit of q.UserID's events with ids above
	// q.After and of q.Types (all when empty), ascending by id.
	ListEvents(ctx context.Context, q Query) ([]event.Logged, error)
	// PurgeEvents deletes the events that occurred before cutoff and returns
	// how many it deleted.
	PurgeEvents(ctx context.Context, cutoff time.Time) (int64, error)
}

// Service lists a user's events and purges those past retention.
type Service struct {
	log       Log
	clock     Clock
	retention time.Duration
}

// NewService returns the events use cases on log, keeping events for
// retention (DefaultRetention when not positive).
func NewService(log Log, clock Clock, retention time.Duration) *Service {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Service{log: log, clock: clock, retention: retention}
}

// Retention returns how long events are kept.
func (s *Service) Retention() time.Duration { return s.retention }

// Page is one page of a user's events.
type Page struct {
	Events []event.Logged
	// Next is the id to read after next time: the last event's, or the one
	// read after when the page is empty, so a client that caught up keeps it
	// to poll.
	Next    int64
	HasMore bool
}

// List returns at most q.Limit of q.UserID's events after q.After, ascending
// by id. A limit out of 1..MaxPageSize or a negative After is a validation
// error.
func (s *Service) List(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return Page{}, domain.NewValidationError("limit", "out_of_range", fmt.Sprintf("Page size must be between 1 and %d.", MaxPageSize))
	}
	if q.After < 0 {
		return Page{}, domain.NewValidationError("cursor", "invalid", "The cursor is invalid.")
	}
	limit := q.Limit
	q.Limit++
	evs, err := s.log.ListEvents(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Events: evs, Next: q.After}
	if len(evs) > limit {
		page.Events, page.HasMore = evs[:limit], true
	}
	if n := len(page.Events); n > 0 {
		page.Next = page.Events[n-1].ID
	}
	return page, nil
}

// PurgeJob is the periodic job that deletes the events past retention.
type PurgeJob struct{}

// Kind names the job for the job engine.
func (PurgeJob) Kind() string { return "event_retention" }

// Purge deletes the events that occurred longer than the retention ago (the
// event_retention job runs it) and returns how many.
func (s *Service) Purge(ctx context.Context, _ PurgeJob) (int64, error) {
	return s.log.PurgeEvents(ctx, s.clock.Now().Add(-s.retention))
}
