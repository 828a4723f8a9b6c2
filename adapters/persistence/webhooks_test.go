package persistence_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/application/institutionhooks"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/dbtest"
)

var _ institutionhooks.Deliveries = (*persistence.DeliveryStore)(nil)

func TestDeliveryStoreSQLite(t *testing.T) { testDeliveryStore(t, dbtest.SQLite(t)) }

func TestDeliveryStorePostgres(t *testing.T) { testDeliveryStore(t, dbtest.Postgres(t)) }

// The store records first deliveries with their job, copies within the
// window as duplicates without one, finds newer state changes of one item,
// records outcomes and deletes old deliveries.
func testDeliveryStore(t *testing.T, db *persistence.DB) {
	ctx := context.Background()
	q := &recordingJobs{}
	s := persistence.NewDeliveryStore(db, q)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	item := provider.HashExternalID("item-1")
	delivery := func(body string, action providers.WebhookAction, signed, received time.Time) institutionhooks.Delivery {
		return institutionhooks.Delivery{ID: uuid.Must(uuid.NewV7()), ProviderKey: "plaid", ExternalIDHash: item, Type: "ITEM", Code: "ERROR",
			ErrorCode: "ITEM_LOGIN_REQUIRED", Action: action, BodyHash: sha256.Sum256([]byte(body)), SignedAt: signed,
			ReceivedAt: received, Outcome: institutionhooks.OutcomeReceived}
	}
	record := func(d institutionhooks.Delivery) institutionhooks.Delivery {
		t.Helper()
		got, err := s.Record(ctx, d, d.ReceivedAt.Add(-institutionhooks.DuplicateWindow), institutionhooks.ActJob{DeliveryID: d.ID})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	first := record(delivery("a", providers.WebhookReauthorize, t0, t0))
	copied := record(delivery("a", providers.WebhookReauthorize, t0, t0.Add(time.Minute)))
	if first.Outcome != institutionhooks.OutcomeReceived || copied.Outcome != institutionhooks.OutcomeDuplicate || copied.DuplicateOf != first.ID {
		t.Fatalf("first %+v, copy %+v", first, copied)
	}
	if len(q.jobs) != 1 {
		t.Fatalf("%d jobs enqueued for a delivery and its copy, want 1", len(q.jobs))
	}
	late := record(delivery("a", providers.WebhookReauthorize, t0, t0.Add(institutionhooks.DuplicateWindow+time.Minute)))
	if late.Outcome != institutionhooks.OutcomeReceived || len(q.jobs) != 2 {
		t.Errorf("the same body after the window: %q, %d jobs; want a new delivery with its job", late.Outcome, len(q.jobs))
	}
	got, err := s.DeliveryByID(ctx, copied.ID)
	if err != nil || got.DuplicateOf != first.ID || got.BodyHash != first.BodyHash || got.ExternalIDHash != item ||
		got.ErrorCode != "ITEM_LOGIN_REQUIRED" || !got.SignedAt.Equal(t0) {
		t.Errorf("read back %+v, %v", got, err)
	}

	if newer, err := s.NewerStateChange(ctx, first); err != nil || newer {
		t.Errorf("NewerStateChange with none newer = %v, %v", newer, err)
	}
	record(delivery("b", providers.WebhookSync, t0.Add(time.Hour), t0.Add(time.Hour)))
	if newer, _ := s.NewerStateChange(ctx, first); newer {
		t.Error("a newer sync notice counts as a state change")
	}
	record(delivery("c", providers.WebhookRepaired, t0.Add(time.Hour), t0.Add(time.Hour)))
	if newer, _ := s.NewerStateChange(ctx, first); !newer {
		t.Error("a newer repair is not found")
	}

	if err := s.SetOutcome(ctx, first.ID, institutionhooks.OutcomeReauthorization, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DeliveryByID(ctx, first.ID); got.Outcome != institutionhooks.OutcomeReauthorization || !got.ActedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("after SetOutcome: %q at %v", got.Outcome, got.ActedAt)
	}
	n, err := s.DeleteReceivedBefore(ctx, t0.Add(30*time.Minute))
	if err != nil || n < 2 {
		t.Errorf("DeleteReceivedBefore = %d, %v; want the first delivery, its copy and the late one", n, err)
	}
	for _, id := range []uuid.UUID{first.ID, copied.ID, late.ID} {
		if _, err := s.DeliveryByID(ctx, id); err == nil {
			t.Errorf("old delivery %s is still there", id)
		}
	}
}
