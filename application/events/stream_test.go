package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/events"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

// logins is an identity store on one event log with a user; login writes a
// session.created event of the user.
type logins struct {
	store *memory.IdentityStore
	user  uuid.UUID
}

func newLogins(t *testing.T) logins {
	t.Helper()
	store := memory.NewIdentityStore(&memory.JobQueue{})
	email, _ := identity.ParseEmail("ann@example.com")
	u, err := identity.NewUser(uuid.New(), email, "Ann", "hash", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateUser(t.Context(), u, nil); err != nil {
		t.Fatal(err)
	}
	return logins{store: store, user: u.ID()}
}

func (l logins) login(t *testing.T) {
	t.Helper()
	s := identity.NewSession(uuid.New(), l.user, "", "", t0, time.Hour)
	_, hash := identity.NewOpaqueToken()
	if err := l.store.CreateSession(t.Context(), s, identity.NewRefreshToken(hash, s.ID(), t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func noWait(context.Context, time.Duration) error { return nil }

func received(sub *events.Subscription) []int64 {
	var ids []int64
	for {
		select {
		case e := <-sub.Events():
			ids = append(ids, e.ID)
		default:
			return ids
		}
	}
}

func TestTheHubHandsEachEventCommittedAfterItsFirstPollToItsUsersSubscriptions(t *testing.T) {
	l := newLogins(t)
	l.login(t) // before the hub started: streams read it from the log
	hub := events.NewHub(l.store.Events, events.HubConfig{Wait: noWait})
	if err := hub.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	mine, err := hub.Subscribe(l.user)
	if err != nil {
		t.Fatal(err)
	}
	other, err := hub.Subscribe(uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	l.login(t)
	l.login(t)
	if err := hub.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := received(mine); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("the user's subscription got %v, want [2 3]", got)
	}
	if got := received(other); len(got) != 0 {
		t.Errorf("another user's subscription got %v", got)
	}
	if err := hub.Poll(t.Context()); err != nil || len(received(mine)) != 0 {
		t.Errorf("a poll with nothing new delivered something (%v)", err)
	}
}

func TestTheHubBoundsStreamsPerUserAndFreesAClosedOnesPlace(t *testing.T) {
	hub := events.NewHub(memory.NewEventLog(), events.HubConfig{MaxStreamsPerUser: 2, Wait: noWait})
	user := uuid.New()
	a, _ := hub.Subscribe(user)
	if _, err := hub.Subscribe(user); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.Subscribe(user); !errors.Is(err, events.ErrTooManyStreams) {
		t.Fatalf("third subscription: %v, want ErrTooManyStreams", err)
	}
	a.Close()
	a.Close() // twice is harmless
	if _, err := hub.Subscribe(user); err != nil {
		t.Errorf("after a close: %v", err)
	}
	if hub.Streams(user) != 2 {
		t.Errorf("%d streams, want 2", hub.Streams(user))
	}
}

func TestTheHubDropsASubscriptionThatFallsBehindRatherThanWaitForIt(t *testing.T) {
	l := newLogins(t)
	hub := events.NewHub(l.store.Events, events.HubConfig{Buffer: 1, Wait: noWait})
	if err := hub.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	slow, _ := hub.Subscribe(l.user)
	l.login(t)
	l.login(t)
	if err := hub.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-slow.Dropped():
	default:
		t.Fatal("a subscription two events behind with a buffer of one was kept")
	}
	if hub.Streams(l.user) != 0 {
		t.Error("the dropped subscription still counts")
	}
}

func TestRunDropsEverySubscriptionWhenItStops(t *testing.T) {
	hub := events.NewHub(memory.NewEventLog(), events.HubConfig{Wait: func(ctx context.Context, _ time.Duration) error {
		<-ctx.Done()
		return ctx.Err()
	}})
	sub, _ := hub.Subscribe(uuid.New())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	cancel()
	<-done
	select {
	case <-sub.Dropped():
	default:
		t.Fatal("a subscription outlived the hub")
	}
}

func TestGoneWhenTheEventsAfterTheIDAreNoLongerKept(t *testing.T) {
	l := newLogins(t)
	for range 3 {
		l.login(t) // ids 1, 2, 3
	}
	hub := events.NewHub(l.store.Events, events.HubConfig{Wait: noWait})
	check := func(after int64, want bool) {
		t.Helper()
		if got, err := hub.Gone(t.Context(), after); err != nil || got != want {
			t.Errorf("Gone(%d) = %v, %v; want %v", after, got, err, want)
		}
	}
	check(0, false)
	check(1, false)
	check(3, false)
	check(4, true) // never handed out
	// The retention deletes them all (every login is at t0): after 2, id 3
	// is gone; after 3, nothing came, so nothing is missing.
	if n, err := l.store.Events.PurgeEvents(t.Context(), t0.Add(time.Nanosecond)); err != nil || n != 3 {
		t.Fatalf("purged %d, %v", n, err)
	}
	check(2, true)
	check(3, false)
	if _, err := hub.Gone(t.Context(), -1); err == nil {
		t.Error("Gone(-1) accepted")
	}
}
