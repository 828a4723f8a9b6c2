// Package synccontract is the contract test suite of the datasync
// application's Store port: syncs, one in flight per provider, their jobs,
// and each provider's sync state. The in-memory fake and the SQL adapter on
// SQLite and Postgres run the same suite.
package synccontract

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/contract/providercontract"
)

// Harness is one store under test, the provider and authorization stores it
// shares its providers with, the means to create those providers' users, and
// a look into the job queue its Begin enqueues on.
type Harness struct {
	Store datasyncapp.Store
	// Providers stores the providers: the same database, or, for the
	// in-memory fake, the provider store the fake was built on.
	Providers providersapp.Repository
	// Authorizations stores the providers' authorizations, which decide
	// whether a provider is due (DueProviders). It must not begin syncs of
	// its own when a grant is saved.
	Authorizations providersapp.Authorizations
	// NewUser stores a new user and returns its id; nil means any fresh id
	// will do, as for the in-memory fake.
	NewUser func(ctx context.Context) (uuid.UUID, error)
	// SyncJobs returns the sync jobs (datasyncapp.SyncJob) committed to the
	// queue for the provider, in any order.
	SyncJobs func(ctx context.Context, providerID uuid.UUID) ([]datasyncapp.SyncJob, error)
	// SetUserDisabled disables (or enables) a user as an operator does, so
	// that DueProviders skips (or includes again) their providers.
	SetUserDisabled func(ctx context.Context, userID uuid.UUID, disabled bool) error
}

// UsersVia returns a Harness.NewUser that registers each user through users.
func UsersVia(users identityapp.Users) func(ctx context.Context) (uuid.UUID, error) {
	return providercontract.UsersVia(users)
}

// Run runs the suite: each test as a subtest of t, on the harness newHarness
// returns when called from that subtest, on empty stores of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHarness(t)) })
	}
}

// tests are the suite's cases: what each proves, and the function proving it.
var tests = []struct {
	name string
	test func(t *testing.T, h Harness)
}{
	{"Begin inserts a queued sync with its job, and returns it as stored", beginInsertsTheSyncWithItsJob},
	{"20 concurrent Begins of one provider make one sync and one job; the others join it", concurrentBeginsMakeOneSync},
	{"a Begin after the sync in flight finished starts a new sync with a job of its own", beginAfterFinishStartsANewSync},
	{"ListSyncs: newest first, ties by id descending, paged by Before, only the provider's", listSyncsNewestFirstAndPages},
	{"UpdateSync saves the sync and the provider's state together, every field, and returns what it saved; ProviderState and ProviderStates read it", updateSyncSavesBoth},
	{"UpdateSync's fn error saves neither the sync nor the state", updateSyncErrorSavesNothing},
	{"DueProviders: active and due only, never-scheduled first, then most overdue, at most limit", dueProvidersRules},
	{"DueProviders skips the providers of a disabled user, and includes them again once the user is enabled", dueProvidersSkipDisabledUsers},
	{"deleting the provider deletes its syncs and its state", deletingTheProviderDeletesItsSyncs},
	{"unknown ids are ErrNotFound, and closures are not called", unknownIDsAreNotFound},
}

// base is the suite's clock: a fixed instant in UTC with a sub-second part
// that survives microsecond storage.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// errBoom is what the suite's closures return to make an update fail.
var errBoom = errors.New("boom (from the test's closure)")

func newID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new id: %v", err)
	}
	return id
}

// newProvider stores a provider of a new user.
func newProvider(t *testing.T, h Harness) *provider.Provider {
	t.Helper()
	user := newID(t)
	if h.NewUser != nil {
		var err error
		if user, err = h.NewUser(t.Context()); err != nil {
			t.Fatalf("NewUser: %v", err)
		}
	}
	id := newID(t)
	p, err := provider.New(id, user, "schwab", "Schwab "+id.String(), base)
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	if err := h.Providers.CreateProvider(t.Context(), p); err != nil {
		t.Fatalf("CreateProvider: %v", err)
	}
	return p
}

// newSync is a queued sync of p, created at, with its job.
func newSync(t *testing.T, p *provider.Provider, trigger datasync.Trigger, at time.Time) (*datasync.Sync, datasyncapp.SyncJob) {
	id := newID(t)
	return datasync.New(id, p.ID(), trigger, at), datasyncapp.SyncJob{SyncID: id, ProviderID: p.ID()}
}

// begin begins a sync of p created at.
func begin(t *testing.T, h Harness, p *provider.Provider, at time.Time) (*datasync.Sync, bool) {
	t.Helper()
	s, job := newSync(t, p, datasync.TriggerManual, at)
	got, joined, err := h.Store.Begin(t.Context(), s, job)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return got, joined
}

// update runs fn on the sync and fails the test on an error.
func update(t *testing.T, h Harness, id uuid.UUID, fn func(*datasync.Sync, *datasyncapp.State) error) *datasync.Sync {
	t.Helper()
	got, err := h.Store.UpdateSync(t.Context(), id, fn)
	if err != nil {
		t.Fatalf("UpdateSync: %v", err)
	}
	return got
}

// finish runs the sync and finishes it, at.
func finish(t *testing.T, h Harness, id uuid.UUID, at time.Time) {
	t.Helper()
	update(t, h, id, func(s *datasync.Sync, _ *datasyncapp.State) error {
		if s.Status() == datasync.StatusQueued {
			if err := s.Start(at); err != nil {
				return err
			}
		}
		return s.Finish(nil, at)
	})
}

func syncJobs(t *testing.T, h Harness, p *provider.Provider) []datasyncapp.SyncJob {
	t.Helper()
	jobs, err := h.SyncJobs(t.Context(), p.ID())
	if err != nil {
		t.Fatalf("SyncJobs: %v", err)
	}
	return jobs
}

// storedTime is a time as storage keeps it: UTC, to the microsecond.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// assertSync fails unless got holds want's every field, its times as stored.
func assertSync(t *testing.T, got, want *datasync.Sync) {
	t.Helper()
	g, w := got.Snapshot(), want.Snapshot()
	for _, pair := range [][2]time.Time{{g.CreatedAt, w.CreatedAt}, {g.StartedAt, w.StartedAt}, {g.FinishedAt, w.FinishedAt}} {
		if !pair[0].Equal(storedTime(pair[1])) || !pair[0].IsZero() && pair[0].Location() != time.UTC {
			t.Errorf("sync time %v, want %v in UTC", pair[0], storedTime(pair[1]))
		}
	}
	g.CreatedAt, g.StartedAt, g.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	w.CreatedAt, w.StartedAt, w.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	if len(g.Errors) == 0 && len(w.Errors) == 0 {
		g.Errors, w.Errors = nil, nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("sync read back as\n%+v\nwant\n%+v", g, w)
	}
}

func beginInsertsTheSyncWithItsJob(t *testing.T, h Harness) {
	p := newProvider(t, h)
	local := time.FixedZone("UTC+5", 5*3600)
	s, job := newSync(t, p, datasync.TriggerAuthorization, base.In(local).Add(789*time.Nanosecond))
	got, joined, err := h.Store.Begin(t.Context(), s, job)
	if err != nil || joined {
		t.Fatalf("Begin = %v, joined %v; want the sync inserted", err, joined)
	}
	assertSync(t, got, s)
	byID, err := h.Store.SyncByID(t.Context(), s.ID())
	if err != nil {
		t.Fatalf("SyncByID: %v", err)
	}
	assertSync(t, byID, s)
	if jobs := syncJobs(t, h, p); len(jobs) != 1 || jobs[0] != job {
		t.Errorf("jobs %+v, want the sync's own %+v", jobs, job)
	}
}

func concurrentBeginsMakeOneSync(t *testing.T, h Harness) {
	p := newProvider(t, h)
	const callers = 20
	got := make([]*datasync.Sync, callers)
	joined := make([]bool, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		s, job := newSync(t, p, datasync.TriggerManual, base.Add(time.Duration(i)*time.Millisecond))
		wg.Go(func() {
			<-start
			got[i], joined[i], errs[i] = h.Store.Begin(context.Background(), s, job)
		})
	}
	close(start)
	wg.Wait()
	inserted := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("Begin %d: %v", i, errs[i])
		}
		if !joined[i] {
			inserted++
		}
		if got[i].ID() != got[0].ID() {
			t.Errorf("Begin %d returned sync %s, Begin 0 %s: want one sync for all", i, got[i].ID(), got[0].ID())
		}
	}
	if inserted != 1 {
		t.Errorf("%d Begins inserted a sync, want exactly one (the others joined)", inserted)
	}
	listed, err := h.Store.ListSyncs(t.Context(), datasyncapp.SyncQuery{ProviderID: p.ID(), Limit: 100})
	if err != nil || len(listed) != 1 {
		t.Errorf("ListSyncs = %d syncs, %v; want 1", len(listed), err)
	}
	jobs := syncJobs(t, h, p)
	if len(jobs) != 1 || jobs[0].SyncID != got[0].ID() {
		t.Errorf("jobs %+v, want one, of sync %s", jobs, got[0].ID())
	}
}

func beginAfterFinishStartsANewSync(t *testing.T, h Harness) {
	p := newProvider(t, h)
	first, _ := begin(t, h, p, base)
	update(t, h, first.ID(), func(s *datasync.Sync, _ *datasyncapp.State) error { return s.Start(base.Add(time.Second)) })
	running, joined := begin(t, h, p, base.Add(2*time.Second))
	if !joined || running.ID() != first.ID() || running.Status() != datasync.StatusRunning {
		t.Errorf("Begin while running = %s (%s), joined %v; want the running sync %s joined", running.ID(), running.Status(), joined, first.ID())
	}
	finish(t, h, first.ID(), base.Add(3*time.Second))
	second, joined := begin(t, h, p, base.Add(4*time.Second))
	if joined || second.ID() == first.ID() || second.Status() != datasync.StatusQueued {
		t.Errorf("Begin after the finish = %s (%s), joined %v; want a new queued sync", second.ID(), second.Status(), joined)
	}
	if jobs := syncJobs(t, h, p); len(jobs) != 2 {
		t.Errorf("%d jobs, want one for each of the 2 syncs", len(jobs))
	}
	update(t, h, second.ID(), func(s *datasync.Sync, _ *datasyncapp.State) error { return s.Cancel(base.Add(5 * time.Second)) })
	if third, joined := begin(t, h, p, base.Add(6*time.Second)); joined || third.ID() == second.ID() {
		t.Errorf("Begin after a cancel joined %v sync %s; want a new one", joined, third.ID())
	}
}

func listSyncsNewestFirstAndPages(t *testing.T, h Harness) {
	p, other := newProvider(t, h), newProvider(t, h)
	// Syncs created at minutes 0..5, and two more at minute 3: ties by id.
	ats := []time.Duration{0, 1, 2, 3, 3, 3, 4, 5}
	want := make([]*datasync.Sync, len(ats))
	for i, at := range ats {
		s, _ := begin(t, h, p, base.Add(at*time.Minute))
		finish(t, h, s.ID(), base.Add(at*time.Minute+time.Second))
		want[i] = s
	}
	begin(t, h, other, base.Add(10*time.Minute))
	// Newest first: by created_at descending, then id descending.
	expected := []uuid.UUID{want[7].ID(), want[6].ID()}
	ties := []uuid.UUID{want[3].ID(), want[4].ID(), want[5].ID()}
	slices.SortFunc(ties, func(a, b uuid.UUID) int { return strings.Compare(b.String(), a.String()) }) // descending ids
	expected = append(expected, ties...)
	expected = append(expected, want[2].ID(), want[1].ID(), want[0].ID())

	all, err := h.Store.ListSyncs(t.Context(), datasyncapp.SyncQuery{ProviderID: p.ID(), Limit: 100})
	if err != nil {
		t.Fatalf("ListSyncs: %v", err)
	}
	if got := ids(all); fmt.Sprint(got) != fmt.Sprint(expected) {
		t.Errorf("ListSyncs order\n%v\nwant\n%v", got, expected)
	}
	var walked []uuid.UUID
	q := datasyncapp.SyncQuery{ProviderID: p.ID(), Limit: 3}
	for range len(ats) {
		page, err := h.Store.ListSyncs(t.Context(), q)
		if err != nil {
			t.Fatalf("ListSyncs: %v", err)
		}
		walked = append(walked, ids(page)...)
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].ID()
	}
	if fmt.Sprint(walked) != fmt.Sprint(expected) {
		t.Errorf("pages of 3 walked\n%v\nwant every sync once, in order\n%v", walked, expected)
	}
}

func ids(ss []*datasync.Sync) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.ID())
	}
	return out
}

func updateSyncSavesBoth(t *testing.T, h Harness) {
	p := newProvider(t, h)
	s, _ := begin(t, h, p, base)
	if st, err := h.Store.ProviderState(t.Context(), p.ID()); err != nil || st != (datasyncapp.State{ProviderID: p.ID()}) {
		t.Errorf("ProviderState before the first sync = %+v, %v; want zero but for the provider", st, err)
	}
	local := time.FixedZone("UTC-3", -3*3600)
	at := func(d time.Duration) time.Time { return base.Add(d).In(local).Add(321 * time.Nanosecond) }
	account := newID(t)
	wantState := datasyncapp.State{ProviderID: p.ID(), LastSyncedAt: at(time.Hour), DataAsOf: at(30 * time.Minute),
		NextSyncAt: at(4 * time.Hour)}
	var want *datasync.Sync
	saved := update(t, h, s.ID(), func(s *datasync.Sync, st *datasyncapp.State) error {
		if *st != (datasyncapp.State{ProviderID: p.ID()}) {
			t.Errorf("fn's state before the first sync = %+v, want zero but for the provider", *st)
		}
		err := errors.Join(s.Start(at(time.Minute)), s.Advance(datasync.Progress{AccountsTotal: 3, AccountsDone: 2}),
			s.Record(datasync.Results{
				Accounts:     datasync.AccountResults{Added: 1, Updated: 2, Closed: 3},
				Transactions: datasync.TransactionResults{Added: 4, Modified: 5, Removed: 6},
				Holdings:     datasync.HoldingResults{Added: 7, Updated: 8, Removed: 9},
			}),
			s.Finish([]datasync.AccountError{{AccountID: account, Code: "institution_error", Message: "The institution failed.",
				Retryable: true}}, at(time.Hour)))
		*st = wantState
		want = datasync.Rehydrate(s.Snapshot())
		return err
	})
	if want.Status() != datasync.StatusPartial {
		t.Fatalf("the sync ended %s, want partial (the suite's own setup)", want.Status())
	}
	assertSync(t, saved, want)
	byID, err := h.Store.SyncByID(t.Context(), s.ID())
	if err != nil {
		t.Fatalf("SyncByID: %v", err)
	}
	assertSync(t, byID, want)
	st, err := h.Store.ProviderState(t.Context(), p.ID())
	if err != nil {
		t.Fatalf("ProviderState: %v", err)
	}
	assertState(t, st, wantState)
	// The next update sees the state as saved.
	update(t, h, s.ID(), func(_ *datasync.Sync, st *datasyncapp.State) error {
		assertState(t, *st, wantState)
		st.NextSyncAt = time.Time{}
		return nil
	})
	wantState.NextSyncAt = time.Time{}
	st, _ = h.Store.ProviderState(t.Context(), p.ID())
	assertState(t, st, wantState)
	// ProviderStates reads the same state in a batch, and has none for a
	// provider never synced.
	other := newProvider(t, h)
	states, err := h.Store.ProviderStates(t.Context(), []uuid.UUID{p.ID(), other.ID()})
	if err != nil {
		t.Fatalf("ProviderStates: %v", err)
	}
	assertState(t, states[p.ID()], wantState)
	if st, ok := states[other.ID()]; ok {
		t.Errorf("ProviderStates of a provider never synced = %+v, want none", st)
	}
}

func assertState(t *testing.T, got, want datasyncapp.State) {
	t.Helper()
	want.LastSyncedAt, want.DataAsOf, want.NextSyncAt = storedTime(want.LastSyncedAt), storedTime(want.DataAsOf), storedTime(want.NextSyncAt)
	for _, tm := range []time.Time{got.LastSyncedAt, got.DataAsOf, got.NextSyncAt} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("state time %v not in UTC", tm)
		}
	}
	if got.ProviderID != want.ProviderID || !got.LastSyncedAt.Equal(want.LastSyncedAt) || !got.DataAsOf.Equal(want.DataAsOf) ||
		!got.NextSyncAt.Equal(want.NextSyncAt) || got.NextSyncAt.IsZero() != want.NextSyncAt.IsZero() {
		t.Errorf("state %+v, want %+v", got, want)
	}
}

func updateSyncErrorSavesNothing(t *testing.T, h Harness) {
	p := newProvider(t, h)
	s, _ := begin(t, h, p, base)
	_, err := h.Store.UpdateSync(t.Context(), s.ID(), func(s *datasync.Sync, st *datasyncapp.State) error {
		_ = s.Start(base.Add(time.Minute))
		st.NextSyncAt, st.LastSyncedAt = base.Add(time.Hour), base
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateSync with fn's error: got %v, want it as it is", err)
	}
	got, err := h.Store.SyncByID(t.Context(), s.ID())
	if err != nil || got.Status() != datasync.StatusQueued || !got.StartedAt().IsZero() {
		t.Errorf("the sync after the failed update: %v, %v; want it queued, unstarted", got, err)
	}
	if st, err := h.Store.ProviderState(t.Context(), p.ID()); err != nil || st != (datasyncapp.State{ProviderID: p.ID()}) {
		t.Errorf("the state after the failed update = %+v, %v; want it untouched", st, err)
	}
}

// authorize stores an authorization of p in status: pending (an attempt in
// flight), or granted and then changed as status says.
func authorize(t *testing.T, h Harness, p *provider.Provider, status provider.AuthorizationStatus) {
	t.Helper()
	_, _, err := h.Authorizations.UpdateAuthorization(t.Context(), p.ID(),
		func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
			a := provider.NewAuthorization(p, newID(t), provider.NewState(), base.Add(time.Hour), base)
			if status == provider.AuthorizationPending {
				return a, nil
			}
			a.Grant(provider.Credentials{AccessToken: "access", RefreshToken: "refresh", ExpiresAt: base.Add(time.Hour)}, base)
			switch status {
			case provider.AuthorizationReauthorizationRequired:
				a.RequireReauthorization(base)
			case provider.AuthorizationRevoked:
				a.Revoke(base)
			}
			return a, nil
		})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
}

// scheduleAt sets p's next sync time through a finished sync of it.
func scheduleAt(t *testing.T, h Harness, p *provider.Provider, next time.Time) {
	t.Helper()
	s, _ := begin(t, h, p, base)
	update(t, h, s.ID(), func(s *datasync.Sync, st *datasyncapp.State) error {
		st.NextSyncAt, st.LastSyncedAt = next, base
		return errors.Join(s.Start(base), s.Finish(nil, base))
	})
}

func dueProvidersRules(t *testing.T, h Harness) {
	now := base.Add(24 * time.Hour)
	authorized := func(status provider.AuthorizationStatus, next time.Time) *provider.Provider {
		p := newProvider(t, h)
		authorize(t, h, p, status)
		if !next.IsZero() {
			scheduleAt(t, h, p, next)
		}
		return p
	}
	var never time.Time
	neverSynced := authorized(provider.AuthorizationActive, never)
	overdue := authorized(provider.AuthorizationActive, now.Add(-2*time.Hour))
	dueNow := authorized(provider.AuthorizationActive, now)
	authorized(provider.AuthorizationActive, now.Add(time.Microsecond))              // not yet
	authorized(provider.AuthorizationReauthorizationRequired, now.Add(-3*time.Hour)) // paused: needs the user
	authorized(provider.AuthorizationReauthorizationRequired, never)                 // paused, never synced
	authorized(provider.AuthorizationRevoked, now.Add(-3*time.Hour))                 // revoked
	authorized(provider.AuthorizationPending, never)                                 // not granted yet
	newProvider(t, h)                                                                // never authorized
	zeroNext := authorized(provider.AuthorizationActive, never)
	// A state whose next sync time is zero is due now, as one with no state.
	scheduleAt(t, h, zeroNext, time.Time{})

	got, err := h.Store.DueProviders(t.Context(), now, 100)
	if err != nil {
		t.Fatalf("DueProviders: %v", err)
	}
	first := []uuid.UUID{neverSynced.ID(), zeroNext.ID()}
	if first[1].String() < first[0].String() {
		first[0], first[1] = first[1], first[0]
	}
	want := append(first, overdue.ID(), dueNow.ID())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DueProviders =\n%v\nwant never scheduled first (by id), then most overdue:\n%v", got, want)
	}
	if limited, err := h.Store.DueProviders(t.Context(), now, 3); err != nil || fmt.Sprint(limited) != fmt.Sprint(want[:3]) {
		t.Errorf("DueProviders with limit 3 = %v, %v; want %v", limited, err, want[:3])
	}
	if none, err := h.Store.DueProviders(t.Context(), now, 0); err != nil || len(none) != 0 {
		t.Errorf("DueProviders with limit 0 = %v, %v; want none", none, err)
	}
}

func deletingTheProviderDeletesItsSyncs(t *testing.T, h Harness) {
	p, kept := newProvider(t, h), newProvider(t, h)
	s, _ := begin(t, h, p, base)
	scheduleAt(t, h, kept, base)
	finish(t, h, s.ID(), base)
	update(t, h, s.ID(), func(_ *datasync.Sync, st *datasyncapp.State) error { st.NextSyncAt = base; return nil })
	if err := h.Providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatalf("DeleteProvider: %v", err)
	}
	if _, err := h.Store.SyncByID(t.Context(), s.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SyncByID after deleting its provider: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.ProviderState(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ProviderState after deleting its provider: got %v, want ErrNotFound", err)
	}
	if listed, err := h.Store.ListSyncs(t.Context(), datasyncapp.SyncQuery{ProviderID: p.ID(), Limit: 10}); err != nil || len(listed) != 0 {
		t.Errorf("ListSyncs after deleting the provider = %d, %v; want none", len(listed), err)
	}
	if listed, err := h.Store.ListSyncs(t.Context(), datasyncapp.SyncQuery{ProviderID: kept.ID(), Limit: 10}); err != nil || len(listed) != 1 {
		t.Errorf("the other provider's syncs = %d, %v; want its 1", len(listed), err)
	}
}

func unknownIDsAreNotFound(t *testing.T, h Harness) {
	ghost, err := provider.New(newID(t), newID(t), "schwab", "Ghost", base)
	if err != nil {
		t.Fatal(err)
	}
	s, job := newSync(t, ghost, datasync.TriggerManual, base)
	if _, _, err := h.Store.Begin(t.Context(), s, job); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Begin for an unknown provider: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.SyncByID(t.Context(), newID(t)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SyncByID: got %v, want ErrNotFound", err)
	}
	_, err = h.Store.UpdateSync(t.Context(), newID(t), func(*datasync.Sync, *datasyncapp.State) error {
		t.Error("UpdateSync called fn for an unknown sync")
		return nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateSync: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.ProviderState(t.Context(), newID(t)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ProviderState: got %v, want ErrNotFound", err)
	}
	if jobs, err := h.SyncJobs(t.Context(), ghost.ID()); err != nil || len(jobs) != 0 {
		t.Errorf("jobs of the unknown provider: %v, %v; want none", jobs, err)
	}
}

func dueProvidersSkipDisabledUsers(t *testing.T, h Harness) {
	now := base.Add(24 * time.Hour)
	kept, stopped := newProvider(t, h), newProvider(t, h)
	authorize(t, h, kept, provider.AuthorizationActive)
	authorize(t, h, stopped, provider.AuthorizationActive)
	due := func() []uuid.UUID {
		t.Helper()
		got, err := h.Store.DueProviders(t.Context(), now, 100)
		if err != nil {
			t.Fatalf("DueProviders: %v", err)
		}
		return got
	}
	if got := due(); len(got) != 2 {
		t.Fatalf("DueProviders before disabling = %v, want both providers", got)
	}
	if err := h.SetUserDisabled(t.Context(), stopped.UserID(), true); err != nil {
		t.Fatalf("disable user: %v", err)
	}
	if got := due(); fmt.Sprint(got) != fmt.Sprint([]uuid.UUID{kept.ID()}) {
		t.Errorf("DueProviders with the second user disabled = %v, want only %v", got, kept.ID())
	}
	if err := h.SetUserDisabled(t.Context(), stopped.UserID(), false); err != nil {
		t.Fatalf("enable user: %v", err)
	}
	if got := due(); len(got) != 2 {
		t.Errorf("DueProviders after enabling = %v, want both providers again", got)
	}
}
