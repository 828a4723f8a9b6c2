package synccontract

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

func beginJoinsTheSyncInFlight(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	first, job := queued(t, p, base)
	got, joined := begin(t, h, first, job)
	if joined || got.ID() != first.ID() || got.Status() != datasync.StatusQueued {
		t.Fatalf("first Begin: %s joined %v, want %s inserted queued", got.ID(), joined, first.ID())
	}
	second, secondJob := queued(t, p, base.Add(time.Second))
	got, joined = begin(t, h, second, secondJob)
	if !joined || got.ID() != first.ID() {
		t.Fatalf("Begin while one is queued: %s joined %v, want %s joined", got.ID(), joined, first.ID())
	}
	if _, err := h.Syncs.SyncByID(t.Context(), second.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the joining sync was stored: %v", err)
	}
	update(t, h, first.ID(), func(s *datasync.Sync, _ *datasyncapp.State) error { return s.Start(base) })
	if got, joined = begin(t, h, second, secondJob); !joined || got.ID() != first.ID() || got.Status() != datasync.StatusRunning {
		t.Fatalf("Begin while one is running: %s joined %v, want %s (running) joined", got.ID(), joined, first.ID())
	}
	update(t, h, first.ID(), func(s *datasync.Sync, _ *datasyncapp.State) error { return s.Finish(nil, base) })
	if got, joined = begin(t, h, second, secondJob); joined || got.ID() != second.ID() {
		t.Fatalf("Begin after it finished: %s joined %v, want %s inserted", got.ID(), joined, second.ID())
	}
	if h.Jobs != nil {
		if got := h.Jobs(t); !slices.Equal(got, []jobs.Job{job, secondJob}) {
			t.Errorf("jobs %+v, want the two inserted syncs' jobs", got)
		}
	}
}

func concurrentBeginsInsertOne(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	const n = 8
	got := make([]uuid.UUID, n)
	inserted := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, job := queued(t, p, base)
			g, joined, err := h.Syncs.Begin(t.Context(), s, job)
			if err != nil {
				t.Errorf("Begin: %v", err)
				return
			}
			got[i], inserted[i] = g.ID(), !joined
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if inserted[i] {
			winners++
		}
		if got[i] != got[0] {
			t.Errorf("begin %d got sync %s, begin 0 got %s: two syncs in flight", i, got[i], got[0])
		}
	}
	if winners != 1 {
		t.Errorf("%d begins inserted a sync, want 1", winners)
	}
	if h.Jobs != nil && len(h.Jobs(t)) != 1 {
		t.Errorf("%d jobs enqueued, want 1", len(h.Jobs(t)))
	}
}

func everySyncFieldRoundTrips(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	local := time.FixedZone("UTC+5", 5*3600)
	s, job := queued(t, p, base.In(local).Add(789*time.Nanosecond))
	begin(t, h, s, job)
	account := newID(t)
	saved := update(t, h, s.ID(), func(s *datasync.Sync, _ *datasyncapp.State) error {
		return errors.Join(s.Start(base.Add(time.Second).In(local)), s.Advance(datasync.Progress{AccountsTotal: 3, AccountsDone: 3}),
			s.Record(datasync.Results{Accounts: datasync.AccountResults{Added: 1, Updated: 2, Closed: 3}, Transactions: datasync.TransactionResults{Added: 4, Modified: 5, Removed: 6},
				Holdings: datasync.HoldingResults{Added: 7, Updated: 8, Removed: 9}}),
			s.Finish([]datasync.AccountError{{AccountID: account, Code: "provider_timeout", Message: "Late.", Retryable: true}},
				base.Add(time.Minute).In(local)))
	})
	want := datasync.Snapshot{ID: s.ID(), ProviderID: p.ID(), Trigger: datasync.TriggerManual, Status: datasync.StatusPartial,
		Progress: datasync.Progress{AccountsTotal: 3, AccountsDone: 3},
		Results: datasync.Results{Accounts: datasync.AccountResults{Added: 1, Updated: 2, Closed: 3}, Transactions: datasync.TransactionResults{Added: 4, Modified: 5, Removed: 6},
			Holdings: datasync.HoldingResults{Added: 7, Updated: 8, Removed: 9}},
		Errors:    []datasync.AccountError{{AccountID: account, Code: "provider_timeout", Message: "Late.", Retryable: true}},
		CreatedAt: base, StartedAt: base.Add(time.Second), FinishedAt: base.Add(time.Minute)}
	read, err := h.Syncs.SyncByID(t.Context(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	for what, got := range map[string]*datasync.Sync{"saved": saved, "read": read} {
		if snap := got.Snapshot(); !reflect.DeepEqual(snap, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, snap, want)
		}
	}
}

func updateSyncSavesBothOrNeither(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	s, job := queued(t, p, base)
	begin(t, h, s, job)
	if st, err := h.Syncs.ProviderState(t.Context(), p.ID()); err != nil || st != (datasyncapp.State{ProviderID: p.ID()}) {
		t.Fatalf("state before any sync: %+v, %v; want zero but for the provider", st, err)
	}
	want := datasyncapp.State{ProviderID: p.ID(), LastSyncedAt: base.Add(time.Minute), DataAsOf: base,
		NextSyncAt: base.Add(4 * time.Hour)}
	_, err := h.Syncs.UpdateSync(t.Context(), s.ID(), func(s *datasync.Sync, st *datasyncapp.State) error {
		st.LastSyncedAt, st.DataAsOf, st.NextSyncAt = base.Add(time.Hour), base, base
		return errors.Join(s.Start(base), errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateSync with a failing fn: %v, want its error", err)
	}
	if got, _ := h.Syncs.SyncByID(t.Context(), s.ID()); got.Status() != datasync.StatusQueued {
		t.Errorf("a failed update saved the sync: %v", got.Status())
	}
	if st, _ := h.Syncs.ProviderState(t.Context(), p.ID()); st != (datasyncapp.State{ProviderID: p.ID()}) {
		t.Errorf("a failed update saved the state: %+v", st)
	}
	update(t, h, s.ID(), func(s *datasync.Sync, st *datasyncapp.State) error {
		st.LastSyncedAt, st.DataAsOf, st.NextSyncAt = want.LastSyncedAt, want.DataAsOf, want.NextSyncAt
		return s.Start(base)
	})
	if st, err := h.Syncs.ProviderState(t.Context(), p.ID()); err != nil || st != want {
		t.Errorf("state %+v (%v), want %+v", st, err, want)
	}
}

func syncsListNewestFirst(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	other := newProvider(t, h, provider.AuthorizationActive)
	var want []uuid.UUID
	for i := range 5 {
		s, job := queued(t, p, base.Add(time.Duration(i)*time.Minute))
		begin(t, h, s, job)
		finish(t, h, s.ID(), base)
		want = append([]uuid.UUID{s.ID()}, want...)
	}
	s, job := queued(t, other, base)
	begin(t, h, s, job)
	var got []uuid.UUID
	before := uuid.Nil
	for {
		page, err := h.Syncs.ListSyncs(t.Context(), datasyncapp.SyncQuery{ProviderID: p.ID(), Before: before, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page {
			got = append(got, s.ID())
		}
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1].ID()
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages walked %v, want %v", got, want)
	}
}

func dueProvidersAreActiveAndDue(t *testing.T, h Harness) {
	now := base.Add(24 * time.Hour)
	neverSynced := newProvider(t, h, provider.AuthorizationActive)
	overdue := newProvider(t, h, provider.AuthorizationActive)
	dueNow := newProvider(t, h, provider.AuthorizationActive)
	notYet := newProvider(t, h, provider.AuthorizationActive)
	// Never due, whatever their schedule: their users must act first.
	for _, status := range []provider.AuthorizationStatus{provider.AuthorizationReauthorizationRequired,
		provider.AuthorizationRevoked, provider.AuthorizationPending, {}} {
		newProvider(t, h, status)
	}
	for p, next := range map[*provider.Provider]time.Time{overdue: now.Add(-time.Hour), dueNow: now, notYet: now.Add(time.Second)} {
		s, job := queued(t, p, base)
		begin(t, h, s, job)
		update(t, h, s.ID(), func(_ *datasync.Sync, st *datasyncapp.State) error { st.NextSyncAt = next; return nil })
	}
	due, err := h.Syncs.DueProviders(t.Context(), now, 10)
	if want := []uuid.UUID{neverSynced.ID(), overdue.ID(), dueNow.ID()}; err != nil || !slices.Equal(due, want) {
		t.Errorf("due %v (%v), want %v: never synced, then most overdue first", due, err, want)
	}
	if due, _ := h.Syncs.DueProviders(t.Context(), now, 2); len(due) != 2 {
		t.Errorf("due with a limit of 2: %v", due)
	}
}

func unknownIDsAreNotFound(t *testing.T, h Harness) {
	missing := newID(t)
	s, job := datasync.New(newID(t), missing, datasync.TriggerManual, base), datasyncapp.SyncJob{ProviderID: missing}
	if _, _, err := h.Syncs.Begin(t.Context(), s, job); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Begin of an unknown provider: %v", err)
	}
	if _, err := h.Syncs.SyncByID(t.Context(), missing); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SyncByID: %v", err)
	}
	called := false
	if _, err := h.Syncs.UpdateSync(t.Context(), missing, func(*datasync.Sync, *datasyncapp.State) error { called = true; return nil }); !errors.Is(err, domain.ErrNotFound) || called {
		t.Errorf("UpdateSync: %v, fn called %v", err, called)
	}
	if _, err := h.Syncs.ProviderState(t.Context(), missing); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ProviderState: %v", err)
	}

	p := newProvider(t, h, provider.AuthorizationActive)
	s, job = queued(t, p, base)
	begin(t, h, s, job)
	if err := h.Providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Syncs.SyncByID(t.Context(), s.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a deleted provider's sync: %v", err)
	}
	if _, err := h.Syncs.ProviderState(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a deleted provider's state: %v", err)
	}
}
