package datasync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

// Another user's provider or sync is not found, exactly like a missing one,
// by every use case.
func TestAnotherUsersProviderAndSyncsAreNotFound(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	stranger := uuid.New()
	checks := map[string]error{}
	_, _, checks["Start"] = h.syncs.Start(t.Context(), stranger, p.ID())
	_, checks["Get"] = h.syncs.Get(t.Context(), stranger, job.SyncID)
	_, checks["List"] = h.syncs.List(t.Context(), stranger, p.ID(), uuid.Nil, 10)
	_, checks["Cancel"] = h.syncs.Cancel(t.Context(), stranger, job.SyncID)
	_, checks["ProviderState"] = h.syncs.ProviderState(t.Context(), stranger, p.ID())
	_, _, checks["Start of an unknown provider"] = h.syncs.Start(t.Context(), h.user, uuid.New())
	_, checks["Get of an unknown sync"] = h.syncs.Get(t.Context(), h.user, uuid.New())
	for name, err := range checks {
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if s := h.sync(t, job.SyncID); s.Status() != datasync.StatusQueued {
		t.Errorf("a stranger's cancel changed the sync to %v", s.Status())
	}
}

// A provider that is not connected cannot be synced, and the error says why
// with a code of its own.
func TestStartRefusesAProviderThatIsNotConnected(t *testing.T) {
	h := newHarness(t, nil)
	never := h.newProvider(t, scriptedKey)
	if _, _, err := h.syncs.Start(t.Context(), h.user, never.ID()); !errors.Is(err, datasyncapp.ErrNotConnected) || !errors.Is(err, domain.ErrConflict) {
		t.Errorf("a provider never connected: %v, want ErrNotConnected (409)", err)
	}
	revoked, _ := h.connectScripted(t)
	if err := h.conns.Revoke(t.Context(), h.user, revoked.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.syncs.Start(t.Context(), h.user, revoked.ID()); !errors.Is(err, datasyncapp.ErrNotConnected) {
		t.Errorf("a revoked provider: %v, want ErrNotConnected", err)
	}
	broken, _ := h.connectScripted(t)
	if err := h.conns.RequireReauthorization(t.Context(), broken.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.syncs.Start(t.Context(), h.user, broken.ID()); !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Errorf("a provider awaiting re-authorization: %v, want ErrReauthorizationRequired", err)
	}
}

// A provider's syncs list newest first, in pages, each sync once.
func TestListPagesThroughTheSyncsNewestFirst(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	want := []uuid.UUID{job.SyncID}
	h.run(t, job)
	for range 4 {
		h.clock.Advance(interval)
		next := h.manual(t, p)
		h.run(t, next)
		want = append([]uuid.UUID{next.SyncID}, want...)
	}
	var got []uuid.UUID
	before := uuid.Nil
	for {
		page, err := h.syncs.List(t.Context(), h.user, p.ID(), before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Items {
			got = append(got, s.ID())
		}
		if !page.HasMore {
			break
		}
		before = page.Next
	}
	if len(got) != len(want) {
		t.Fatalf("pages listed %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("pages listed %v, want %v", got, want)
		}
	}
	for _, limit := range []int{0, datasyncapp.MaxPerPage + 1} {
		var v *domain.ValidationError
		if _, err := h.syncs.List(t.Context(), h.user, p.ID(), uuid.Nil, limit); !errors.As(err, &v) {
			t.Errorf("limit %d: %v, want a validation error", limit, err)
		}
	}
}

// A queued sync can be canceled: its job then does nothing.
func TestACanceledQueuedSyncIsNeverRun(t *testing.T) {
	h := newHarness(t, nil)
	scriptAccounts(t, h)
	p, job := h.connectScripted(t)
	s, err := h.syncs.Cancel(t.Context(), h.user, job.SyncID)
	if err != nil || s.Status() != datasync.StatusCanceled || !s.StartedAt().IsZero() {
		t.Fatalf("Cancel: %v (%v), want canceled before it started", s, err)
	}
	if s := h.run(t, job); s.Status() != datasync.StatusCanceled || len(h.accounts(t, p)) != 0 {
		t.Errorf("its job ran: sync %v, %d accounts", s.Status(), len(h.accounts(t, p)))
	}
	if got, err := h.syncs.Get(t.Context(), h.user, job.SyncID); err != nil || got.Status() != datasync.StatusCanceled {
		t.Errorf("Get: %v, %v", got, err)
	}
}

// A provider deleted while its sync waits takes the sync with it; the job then
// ends without error (nothing to retry), and so it does when the provider is
// deleted while the job runs.
func TestADeletedProvidersSyncJobEndsQuietly(t *testing.T) {
	h := newHarness(t, nil)
	scriptAccounts(t, h)
	p, job := h.connectScripted(t)
	if err := h.providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := h.engine.Run(t.Context(), job); err != nil {
		t.Errorf("Run of a deleted provider's sync: %v, want nil", err)
	}

	p, job = h.connectScripted(t)
	h.scripted.set(func(s *scripted) {
		s.onPage = func(int) {
			if err := h.providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
				t.Error(err)
			}
		}
	})
	if err := h.engine.Run(t.Context(), job); err != nil {
		t.Errorf("Run while the provider is deleted: %v, want nil", err)
	}
}

// ProviderStates reads a page of providers' sync states at once: the state
// ProviderState reads for a synced one, a zero state for one never synced,
// and another user's provider is not found.
func TestProviderStatesReadsAPageOfProviders(t *testing.T) {
	h := newHarness(t, nil)
	synced, job := h.connectSandbox(t, "")
	if s := h.run(t, job); s.Status() != datasync.StatusSucceeded {
		t.Fatalf("sync = %v", s.Status())
	}
	never := h.newProvider(t, scriptedKey)
	states, err := h.syncs.ProviderStates(t.Context(), h.user, []*provider.Provider{synced, never})
	if err != nil {
		t.Fatal(err)
	}
	want, err := h.syncs.ProviderState(t.Context(), h.user, synced.ID())
	if err != nil || want.LastSyncedAt.IsZero() || want.DataAsOf.IsZero() {
		t.Fatalf("ProviderState after a sync = %+v, %v", want, err)
	}
	if states[synced.ID()] != want || states[never.ID()] != (datasyncapp.State{ProviderID: never.ID()}) || len(states) != 2 {
		t.Errorf("ProviderStates = %+v, want %+v and a zero state", states, want)
	}
	if _, err := h.syncs.ProviderStates(t.Context(), uuid.New(), []*provider.Provider{synced}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another user's provider: %v, want ErrNotFound", err)
	}
}

// A sync the user canceled is not begun again by the scheduler's next pass:
// its provider is due an interval later.
func TestACanceledSyncPutsItsProviderAnIntervalAway(t *testing.T) {
	h := newHarness(t, nil)
	scriptAccounts(t, h)
	p, job := h.connectScripted(t)
	if _, err := h.syncs.Cancel(t.Context(), h.user, job.SyncID); err != nil {
		t.Fatal(err)
	}
	if begun, joined, err := h.scheduler.Pass(t.Context()); err != nil || begun+joined != 0 {
		t.Fatalf("the pass after the cancel began %d and joined %d (%v), want none", begun, joined, err)
	}
	h.clock.Advance(interval + interval/10 + time.Minute)
	if begun, _, err := h.scheduler.Pass(t.Context()); err != nil || begun != 1 {
		t.Fatalf("the pass an interval later began %d (%v), want the provider's sync", begun, err)
	}
	if st, err := h.store.ProviderState(t.Context(), p.ID()); err != nil || st.NextSyncAt.IsZero() {
		t.Errorf("state %+v, %v", st, err)
	}
}
