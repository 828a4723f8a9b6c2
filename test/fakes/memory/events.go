package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	eventsapp "github.com/dashtam/dashtam/application/events"
	"github.com/dashtam/dashtam/domain/event"
)

var (
	_ eventsapp.Log  = (*EventLog)(nil)
	_ eventsapp.Feed = (*EventLog)(nil)
)

// EventLog is an in-memory event log, with the semantics of the SQL one: the
// stores write the events their entities recorded (DrainEvents) when, and
// only when, they store the change, with ids that increase by one in the
// order of the writes, and the data as JSON. Use-case tests read it (All).
type EventLog struct {
	mu     sync.Mutex
	last   int64
	events []event.Logged
}

// NewEventLog returns an empty log.
func NewEventLog() *EventLog { return &EventLog{} }

// write appends evs, userID's, with the next ids. The store calls it once
// nothing can fail any more, so a failed change writes no event.
func (l *EventLog) write(userID uuid.UUID, evs []event.Event) {
	if l == nil || len(evs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		data := []byte("{}")
		if e.Data != nil {
			var err error
			if data, err = json.Marshal(e.Data); err != nil {
				panic(fmt.Sprintf("memory: event %s: data: %v", e.Type, err))
			}
		}
		l.last++
		l.events = append(l.events, event.Logged{ID: l.last, UserID: userID, Type: e.Type,
			OccurredAt: storedTime(e.OccurredAt), Data: data})
	}
}

// All returns every event in the log, ascending by id.
func (l *EventLog) All() []event.Logged {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// ListEvents returns at most q.Limit of q.UserID's events above q.After and
// of q.Types (all when empty), ascending by id.
func (l *EventLog) ListEvents(_ context.Context, q eventsapp.Query) ([]event.Logged, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event.Logged
	for _, e := range l.events {
		if len(out) == q.Limit {
			break
		}
		if e.UserID == q.UserID && e.ID > q.After && (len(q.Types) == 0 || slices.Contains(q.Types, e.Type)) {
			out = append(out, e)
		}
	}
	return out, nil
}

// EventsAfter returns at most limit events of every user above after,
// ascending by id.
func (l *EventLog) EventsAfter(_ context.Context, after int64, limit int) ([]event.Logged, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event.Logged
	for _, e := range l.events {
		if len(out) == limit {
			break
		}
		if e.ID > after {
			out = append(out, e)
		}
	}
	return out, nil
}

// LastEventID returns the id of the newest event written (0 before the first).
func (l *EventLog) LastEventID(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, nil
}

// PurgeEvents deletes the events that occurred before cutoff.
func (l *EventLog) PurgeEvents(_ context.Context, cutoff time.Time) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.events)
	l.events = slices.DeleteFunc(l.events, func(e event.Logged) bool { return e.OccurredAt.Before(cutoff) })
	return int64(n - len(l.events)), nil
}

// OldestEventID returns the id of the oldest event kept (0 when none is).
func (l *EventLog) OldestEventID(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return 0, nil
	}
	return l.events[0].ID, nil
}
