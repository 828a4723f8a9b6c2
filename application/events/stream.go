package events

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

// ErrTooManyStreams: the user holds as many streams on this instance as it
// allows (HubConfig.MaxStreamsPerUser). It answers 429.
var ErrTooManyStreams = errors.New("too many event streams open for this user")

// Feed is the event log as the streams' poller reads it: every user's events
// in id order, which is commit order (docs/events.md), so reading "after the
// last id seen" misses nothing.
type Feed interface {
	// EventsAfter returns at most limit events of every user with ids above
	// after, ascending by id.
	EventsAfter(ctx context.Context, after int64, limit int) ([]event.Logged, error)
	// LastEventID returns the id of the newest event written (0 before the first).
	LastEventID(ctx context.Context) (int64, error)
	// OldestEventID returns the id of the oldest event kept (0 when none is).
	OldestEventID(ctx context.Context) (int64, error)
}

// Defaults of HubConfig.
const (
	DefaultPollInterval      = 250 * time.Millisecond
	DefaultMaxStreamsPerUser = 5
	defaultStreamBuffer      = 256
	pollBatch                = 500
)

// HubConfig tunes a Hub.
type HubConfig struct {
	// PollInterval is how often the hub reads the log for new events: an
	// event committed on any instance reaches the streams within about that.
	PollInterval time.Duration
	// MaxStreamsPerUser bounds the streams one user holds on this instance.
	MaxStreamsPerUser int
	// Buffer is how many events a stream may fall behind before the hub
	// drops it (the client resumes from its Last-Event-ID).
	Buffer int
	// Wait waits for d or until ctx ends (then returning its error): the
	// pause between polls, a clock's Sleep.
	Wait func(ctx context.Context, d time.Duration) error
}

// Hub fans the events of the log out to the streams open on this instance.
// One poller per instance (Run) reads every event after the last it saw and
// hands each to its user's subscriptions; the same on SQLite and Postgres,
// and across instances, since every instance reads the one log.
type Hub struct {
	feed Feed
	cfg  HubConfig

	mu       sync.Mutex
	subs     map[uuid.UUID]map[*Subscription]struct{}
	position int64
	started  bool
}

// NewHub returns a hub on feed; Run starts its poller.
func NewHub(feed Feed, cfg HubConfig) *Hub {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxStreamsPerUser <= 0 {
		cfg.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = defaultStreamBuffer
	}
	return &Hub{feed: feed, cfg: cfg, subs: map[uuid.UUID]map[*Subscription]struct{}{}}
}

// Subscription is one stream's share of the hub: the user's events from the
// moment it subscribed, in id order.
type Subscription struct {
	hub    *Hub
	user   uuid.UUID
	events chan event.Logged
	done   chan struct{}
	once   sync.Once
}

// Events delivers the user's events as the hub reads them.
func (s *Subscription) Events() <-chan event.Logged { return s.events }

// Dropped is closed when the hub gave up on the subscription: it fell more
// than the buffer behind, or the hub stopped. The stream ends; its client
// resumes from the last id it got.
func (s *Subscription) Dropped() <-chan struct{} { return s.done }

// Close ends the subscription and frees its place in the user's bound.
func (s *Subscription) Close() { s.hub.remove(s) }

// Subscribe opens a subscription to userID's events, or ErrTooManyStreams
// when the user already holds the most this instance allows.
func (h *Hub) Subscribe(userID uuid.UUID) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs[userID]) >= h.cfg.MaxStreamsPerUser {
		return nil, ErrTooManyStreams
	}
	s := &Subscription{hub: h, user: userID, events: make(chan event.Logged, h.cfg.Buffer), done: make(chan struct{})}
	if h.subs[userID] == nil {
		h.subs[userID] = map[*Subscription]struct{}{}
	}
	h.subs[userID][s] = struct{}{}
	return s, nil
}

// remove drops s from the hub and closes its Dropped, once.
func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *Hub) removeLocked(s *Subscription) {
	if subs := h.subs[s.user]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(h.subs, s.user)
		}
	}
	s.once.Do(func() { close(s.done) })
}

// Run polls the log every PollInterval until ctx ends, then drops every
// subscription. A failed poll is retried at the next interval.
func (h *Hub) Run(ctx context.Context) {
	defer h.dropAll()
	for {
		_ = h.Poll(ctx) // the next poll retries from the same position
		if err := h.cfg.Wait(ctx, h.cfg.PollInterval); err != nil || ctx.Err() != nil {
			return
		}
	}
}

// Poll reads the events committed since the last poll and hands each to its
// user's subscriptions. The first poll only notes where the log stands:
// streams read what came before from the log itself (Service.List).
func (h *Hub) Poll(ctx context.Context) error {
	h.mu.Lock()
	started, position := h.started, h.position
	h.mu.Unlock()
	if !started {
		last, err := h.feed.LastEventID(ctx)
		if err != nil {
			return err
		}
		h.mu.Lock()
		h.position, h.started = last, true
		h.mu.Unlock()
		return nil
	}
	for {
		evs, err := h.feed.EventsAfter(ctx, position, pollBatch)
		if err != nil {
			return err
		}
		h.dispatch(evs)
		if len(evs) < pollBatch {
			return nil
		}
		position = evs[len(evs)-1].ID
	}
}

// dispatch hands evs to their users' subscriptions and moves the position
// past them. A subscription whose buffer is full is dropped rather than
// waited for: one slow client never holds the others back.
func (h *Hub) dispatch(evs []event.Logged) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs {
		for s := range h.subs[e.UserID] {
			select {
			case s.events <- e:
			default:
				h.removeLocked(s)
			}
		}
	}
	h.position = evs[len(evs)-1].ID
}

func (h *Hub) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for s := range subs {
			h.removeLocked(s)
		}
	}
}

// Streams returns how many subscriptions userID holds on this hub.
func (h *Hub) Streams(userID uuid.UUID) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[userID])
}

// LastEventID returns the id of the newest event committed: a stream that
// does not resume starts after it.
func (h *Hub) LastEventID(ctx context.Context) (int64, error) { return h.feed.LastEventID(ctx) }

// Gone reports whether events after id after can no longer all be read:
// the retention deleted some (the oldest event kept is later than the one
// after after), or after is not an id this log handed out. A stream resuming
// from after then starts with a reset, telling its client to refetch state.
func (h *Hub) Gone(ctx context.Context, after int64) (bool, error) {
	if after < 0 {
		return false, domain.NewValidationError("last_event_id", "invalid", "The last event id is invalid.")
	}
	if after == 0 {
		return false, nil
	}
	last, err := h.feed.LastEventID(ctx)
	if err != nil {
		return false, err
	}
	oldest, err := h.feed.OldestEventID(ctx)
	if err != nil {
		return false, err
	}
	if after > last {
		return true, nil
	}
	if oldest == 0 { // none kept: gone unless nothing came after
		return after < last, nil
	}
	return after+1 < oldest, nil
}
