package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/events"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

var t0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

// world is a user with n sessions created a minute apart, each writing its
// session.created event through the identity store.
func world(t *testing.T, n int) (*memory.EventLog, uuid.UUID) {
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
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		s := identity.NewSession(uuid.New(), u.ID(), "", "", at, time.Hour)
		_, hash := identity.NewOpaqueToken()
		if err := store.CreateSession(t.Context(), s, identity.NewRefreshToken(hash, s.ID(), at, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return store.Events, u.ID()
}

func TestListPagesAfterAnIDAndSaysWhetherThereIsMore(t *testing.T) {
	log, user := world(t, 3)
	svc := events.NewService(log, fakeclock.New(t0), 0)
	first, err := svc.List(t.Context(), events.Query{UserID: user, Limit: 2})
	if err != nil || len(first.Events) != 2 || !first.HasMore || first.Next != first.Events[1].ID {
		t.Fatalf("first page %+v, %v; want 2 events, more, next = the second's id", first, err)
	}
	rest, err := svc.List(t.Context(), events.Query{UserID: user, After: first.Next, Limit: 2})
	if err != nil || len(rest.Events) != 1 || rest.HasMore || rest.Next != rest.Events[0].ID {
		t.Fatalf("second page %+v, %v; want the last event and no more", rest, err)
	}
	empty, err := svc.List(t.Context(), events.Query{UserID: user, After: rest.Next, Limit: 2})
	if err != nil || len(empty.Events) != 0 || empty.Next != rest.Next {
		t.Errorf("caught up: %+v, %v; want no events and the same position to poll from", empty, err)
	}
}

func TestListRefusesALimitOutOfRangeAndANegativePosition(t *testing.T) {
	log, user := world(t, 1)
	svc := events.NewService(log, fakeclock.New(t0), 0)
	for _, q := range []events.Query{{UserID: user, Limit: 0}, {UserID: user, Limit: events.MaxPageSize + 1}, {UserID: user, After: -1, Limit: 1}} {
		if _, err := svc.List(t.Context(), q); !errors.As(err, new(*domain.ValidationError)) {
			t.Errorf("List(%+v) = %v, want a validation error", q, err)
		}
	}
}

func TestPurgeDeletesWhatIsOlderThanTheRetention(t *testing.T) {
	log, user := world(t, 3) // at t0, t0+1m, t0+2m
	clock := fakeclock.New(t0.Add(time.Hour + 90*time.Second))
	svc := events.NewService(log, clock, time.Hour)
	n, err := svc.Purge(t.Context(), events.PurgeJob{})
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want the 2 events older than an hour", n, err)
	}
	left, _ := svc.List(t.Context(), events.Query{UserID: user, Limit: 10})
	if len(left.Events) != 1 || !left.Events[0].OccurredAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("left %+v, want the newest", left.Events)
	}
	if svc.Retention() != time.Hour || events.NewService(log, clock, 0).Retention() != events.DefaultRetention {
		t.Error("retention not as configured, or no default")
	}
}
