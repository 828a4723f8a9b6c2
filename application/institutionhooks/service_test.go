package institutionhooks_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/application/institutionhooks"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	domainsync "github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
)

// verifier answers a fixed notice, or refuses every delivery.
type verifier struct {
	notice providers.WebhookNotice
	err    error
}

func (v verifier) VerifyWebhook(context.Context, map[string][]string, []byte) (providers.WebhookNotice, error) {
	return v.notice, v.err
}

// deliveries keeps deliveries in memory, with Record's duplicate rule.
type deliveries struct {
	rows []institutionhooks.Delivery
	jobs []jobs.Job
}

func (s *deliveries) Record(_ context.Context, d institutionhooks.Delivery, since time.Time, job jobs.Job) (institutionhooks.Delivery, error) {
	for _, r := range s.rows {
		if r.ProviderKey == d.ProviderKey && r.BodyHash == d.BodyHash && r.DuplicateOf == uuid.Nil && !r.ReceivedAt.Before(since) {
			d.DuplicateOf, d.Outcome = r.ID, institutionhooks.OutcomeDuplicate
		}
	}
	s.rows = append(s.rows, d)
	if d.DuplicateOf == uuid.Nil {
		s.jobs = append(s.jobs, job)
	}
	return d, nil
}

func (s *deliveries) DeliveryByID(_ context.Context, id uuid.UUID) (institutionhooks.Delivery, error) {
	for _, r := range s.rows {
		if r.ID == id {
			return r, nil
		}
	}
	return institutionhooks.Delivery{}, domain.ErrNotFound
}

func (s *deliveries) NewerStateChange(_ context.Context, d institutionhooks.Delivery) (bool, error) {
	for _, r := range s.rows {
		if r.ID != d.ID && r.ExternalIDHash == d.ExternalIDHash && r.SignedAt.After(d.SignedAt) && r.DuplicateOf == uuid.Nil &&
			(r.Action == providers.WebhookReauthorize || r.Action == providers.WebhookRepaired) {
			return true, nil
		}
	}
	return false, nil
}

func (s *deliveries) SetOutcome(_ context.Context, id uuid.UUID, outcome string, at time.Time) error {
	for i := range s.rows {
		if s.rows[i].ID == id {
			s.rows[i].Outcome, s.rows[i].ActedAt = outcome, at
		}
	}
	return nil
}

// world is the service over in-memory ports: one provider holding "item-1",
// whose sync starts answer startErr (joined when joined).
type world struct {
	svc        *institutionhooks.Service
	store      *deliveries
	clock      *fakeclock.Clock
	notice     *providers.WebhookNotice
	verifyErr  error
	providerID uuid.UUID
	starts     int
	startErr   error
	joined     bool
	reauth     int
	repaired   int
	expiring   []time.Time
}

type grants struct{ w *world }

func (g grants) ProvidersByExternalID(_ context.Context, key string, h [32]byte) ([]uuid.UUID, error) {
	if key == "plaid" && h == provider.HashExternalID("item-1") {
		return []uuid.UUID{g.w.providerID}, nil
	}
	return nil, nil
}

type actors struct{ w *world }

func (a actors) RequireReauthorization(context.Context, uuid.UUID) error { a.w.reauth++; return nil }
func (a actors) ClearReauthorization(context.Context, uuid.UUID) (bool, error) {
	a.w.repaired++
	return true, nil
}

func (a actors) StartForInstitution(_ context.Context, id uuid.UUID) (*domainsync.Sync, bool, error) {
	a.w.starts++
	if a.w.startErr != nil {
		return nil, false, a.w.startErr
	}
	return domainsync.New(uuid.New(), id, domainsync.TriggerWebhook, a.w.clock.Now()), a.w.joined, nil
}

func (a actors) PendingExpiration(_ context.Context, _ uuid.UUID, at time.Time) error {
	a.w.expiring = append(a.w.expiring, at)
	return nil
}

type switchable struct{ w *world }

func (s switchable) VerifyWebhook(ctx context.Context, h map[string][]string, b []byte) (providers.WebhookNotice, error) {
	return verifier{notice: *s.w.notice, err: s.w.verifyErr}.VerifyWebhook(ctx, h, b)
}

func newWorld() *world {
	w := &world{store: &deliveries{}, clock: fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		providerID: uuid.New(), notice: &providers.WebhookNotice{}}
	a := actors{w}
	w.svc = institutionhooks.New(institutionhooks.Deps{
		Verifiers:   map[string]providers.WebhookVerifier{"plaid": switchable{w}},
		Deliveries:  w.store,
		Grants:      grants{w},
		Connections: a,
		Syncs:       a,
		Expiry:      a,
		Clock:       w.clock,
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	return w
}

// receive verifies and records body as notice says, then runs the jobs
// enqueued so far, and returns the receipt and the delivery's outcome.
func (w *world) receive(t *testing.T, body string, n providers.WebhookNotice) (institutionhooks.Receipt, string) {
	t.Helper()
	*w.notice = n
	r, err := w.svc.Receive(context.Background(), "plaid", nil, []byte(body))
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	for _, j := range w.store.jobs {
		if err := w.svc.Act(context.Background(), j.(institutionhooks.ActJob)); err != nil {
			t.Fatalf("Act: %v", err)
		}
	}
	d, _ := w.store.DeliveryByID(context.Background(), r.DeliveryID)
	return r, d.Outcome
}

func notice(action providers.WebhookAction, signed time.Time) providers.WebhookNotice {
	return providers.WebhookNotice{ExternalID: "item-1", Type: "T", Code: "C", Action: action, SignedAt: signed}
}

// A refused delivery records nothing and enqueues nothing; a provider type
// without webhooks is not found.
func TestReceiveRecordsNothingItCannotVerify(t *testing.T) {
	w := newWorld()
	w.verifyErr = providers.ErrWebhookSignature
	if _, err := w.svc.Receive(context.Background(), "plaid", nil, []byte("{}")); !errors.Is(err, providers.ErrWebhookSignature) {
		t.Errorf("Receive = %v, want ErrWebhookSignature", err)
	}
	if _, err := w.svc.Receive(context.Background(), "schwab", nil, []byte("{}")); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Receive for schwab = %v, want ErrNotFound", err)
	}
	if len(w.store.rows) != 0 || len(w.store.jobs) != 0 {
		t.Errorf("%d deliveries recorded and %d jobs enqueued, want none", len(w.store.rows), len(w.store.jobs))
	}
}

// A sync notice begins a sync; its copy within the window is a duplicate
// and acts on nothing; the same body after the window is a new notice; a
// job run again does nothing twice.
func TestSyncNoticeActsOncePerDelivery(t *testing.T) {
	w := newWorld()
	now := w.clock.Now()
	r, outcome := w.receive(t, "body", notice(providers.WebhookSync, now))
	if r.Duplicate || outcome != institutionhooks.OutcomeSyncStarted || w.starts != 1 {
		t.Fatalf("first: %+v %q, %d starts", r, outcome, w.starts)
	}
	w.clock.Advance(institutionhooks.DuplicateWindow - time.Second)
	r, outcome = w.receive(t, "body", notice(providers.WebhookSync, now))
	if !r.Duplicate || outcome != institutionhooks.OutcomeDuplicate || w.starts != 1 {
		t.Fatalf("copy: %+v %q, %d starts; want a duplicate and still 1 start", r, outcome, w.starts)
	}
	w.clock.Advance(2 * time.Second)
	w.joined = true
	r, outcome = w.receive(t, "body", notice(providers.WebhookSync, w.clock.Now()))
	if r.Duplicate || outcome != institutionhooks.OutcomeSyncJoined || w.starts != 2 {
		t.Errorf("after the window: %+v %q, %d starts; want a new notice joining the sync in flight", r, outcome, w.starts)
	}
}

// A sync notice for a provider that is not connected, or for an item no
// provider holds, changes nothing.
func TestSyncNoticeForAProviderNotConnected(t *testing.T) {
	w := newWorld()
	w.startErr = datasync.ErrNotConnected
	if _, outcome := w.receive(t, "a", notice(providers.WebhookSync, w.clock.Now())); outcome != institutionhooks.OutcomeNotConnected {
		t.Errorf("outcome %q, want %q", outcome, institutionhooks.OutcomeNotConnected)
	}
	n := notice(providers.WebhookSync, w.clock.Now())
	n.ExternalID = "item-unknown"
	if _, outcome := w.receive(t, "b", n); outcome != institutionhooks.OutcomeNoProvider {
		t.Errorf("outcome %q, want %q", outcome, institutionhooks.OutcomeNoProvider)
	}
}

// State changes act in the order they were signed: one signed before a
// change already received is superseded.
func TestStateChangesDeliveredOutOfOrderChangeNothing(t *testing.T) {
	w := newWorld()
	t0 := w.clock.Now()
	if _, outcome := w.receive(t, "repaired", notice(providers.WebhookRepaired, t0.Add(time.Minute))); outcome != institutionhooks.OutcomeRepaired {
		t.Fatalf("outcome %q", outcome)
	}
	if _, outcome := w.receive(t, "error", notice(providers.WebhookReauthorize, t0)); outcome != institutionhooks.OutcomeSuperseded || w.reauth != 0 {
		t.Errorf("an older ITEM ERROR: outcome %q, %d re-authorizations; want superseded, none", outcome, w.reauth)
	}
	if _, outcome := w.receive(t, "error 2", notice(providers.WebhookReauthorize, t0.Add(2*time.Minute))); outcome != institutionhooks.OutcomeReauthorization || w.reauth != 1 {
		t.Errorf("a newer ITEM ERROR: outcome %q, %d re-authorizations; want one", outcome, w.reauth)
	}
}

// A pending expiration reaches the expiry notices with its date; an ignored
// notice is recorded only.
func TestPendingExpirationAndIgnoredNotices(t *testing.T) {
	w := newWorld()
	n := notice(providers.WebhookExpiring, w.clock.Now())
	n.ExpiresAt = w.clock.Now().Add(7 * 24 * time.Hour)
	if _, outcome := w.receive(t, "exp", n); outcome != institutionhooks.OutcomeExpiring || len(w.expiring) != 1 || !w.expiring[0].Equal(n.ExpiresAt) {
		t.Errorf("outcome %q, notices %v", outcome, w.expiring)
	}
	if _, outcome := w.receive(t, "other", notice(providers.WebhookIgnore, w.clock.Now())); outcome != institutionhooks.OutcomeIgnored {
		t.Errorf("outcome %q, want ignored", outcome)
	}
	if w.starts+w.reauth+w.repaired != 0 {
		t.Error("an expiry or ignored notice acted")
	}
}
