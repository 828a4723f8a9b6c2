package datasync

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

var t0 = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)

func TestTriggersAndStatusesParseByName(t *testing.T) {
	for _, tr := range Triggers() {
		if got, err := ParseTrigger(tr.String()); err != nil || got != tr {
			t.Errorf("ParseTrigger(%q) = %v, %v", tr, got, err)
		}
	}
	for _, st := range Statuses() {
		if got, err := ParseStatus(st.String()); err != nil || got != st {
			t.Errorf("ParseStatus(%q) = %v, %v", st, got, err)
		}
	}
	if _, err := ParseTrigger("cron"); err == nil {
		t.Error("ParseTrigger(cron) succeeded")
	}
	if _, err := ParseStatus("done"); err == nil {
		t.Error("ParseStatus(done) succeeded")
	}
}

func TestOnlyQueuedAndRunningSyncsAreInFlight(t *testing.T) {
	for _, st := range Statuses() {
		want := st == StatusQueued || st == StatusRunning
		if st.InFlight() != want {
			t.Errorf("%s.InFlight() = %v, want %v", st, st.InFlight(), want)
		}
	}
}

func TestNewSyncIsQueued(t *testing.T) {
	id, provider := uuid.New(), uuid.New()
	s := New(id, provider, TriggerWebhook, t0)
	if s.ID() != id || s.ProviderID() != provider || s.Trigger() != TriggerWebhook || s.Status() != StatusQueued {
		t.Errorf("sync %s of %s by %v is %v; want %s of %s by webhook, queued", s.ID(), s.ProviderID(), s.Trigger(), s.Status(), id, provider)
	}
	if !s.CreatedAt().Equal(t0) || !s.StartedAt().IsZero() || !s.FinishedAt().IsZero() {
		t.Errorf("created %v, started %v, finished %v; want %v and neither started nor finished", s.CreatedAt(), s.StartedAt(), s.FinishedAt(), t0)
	}
	if s.Progress() != (Progress{}) || s.Results() != (Results{}) || len(s.Errors()) != 0 {
		t.Errorf("a new sync has progress %+v, results %+v, errors %v", s.Progress(), s.Results(), s.Errors())
	}
}

// inStatus returns a sync of one account brought to st by legal changes.
func inStatus(t *testing.T, st Status) *Sync {
	t.Helper()
	s := New(uuid.New(), uuid.New(), TriggerScheduled, t0)
	account := uuid.New()
	steps := map[Status][]func() error{
		StatusQueued:    nil,
		StatusRunning:   {func() error { return s.Start(t0) }},
		StatusSucceeded: {func() error { return s.Start(t0) }, func() error { return s.Finish(nil, t0) }},
		StatusPartial: {func() error { return s.Start(t0) }, func() error { return s.Advance(Progress{2, 2}) },
			func() error { return s.Finish([]AccountError{{AccountID: account, Code: "x"}}, t0) }},
		StatusFailed:   {func() error { return s.Start(t0) }, func() error { return s.Finish([]AccountError{{Code: "x"}}, t0) }},
		StatusCanceled: {func() error { return s.Cancel(t0) }},
	}
	for _, step := range steps[st] {
		if err := step(); err != nil {
			t.Fatalf("bringing a sync to %v: %v", st, err)
		}
	}
	if s.Status() != st {
		t.Fatalf("sync is %v, want %v", s.Status(), st)
	}
	return s
}

// Every change from every status: the legal ones move the sync, the others are
// ErrIllegalTransition (a 409) and change nothing.
func TestEveryTransitionFromEveryStatus(t *testing.T) {
	at := t0.Add(time.Minute)
	changes := []struct {
		name  string
		apply func(*Sync) error
		legal map[Status]Status // from -> to
	}{
		{"start", func(s *Sync) error { return s.Start(at) }, map[Status]Status{StatusQueued: StatusRunning}},
		{"advance", func(s *Sync) error { return s.Advance(Progress{AccountsTotal: 3, AccountsDone: 2}) },
			map[Status]Status{StatusRunning: StatusRunning}},
		{"record", func(s *Sync) error { return s.Record(Results{Transactions: TransactionResults{Added: 1}}) },
			map[Status]Status{StatusRunning: StatusRunning}},
		{"finish", func(s *Sync) error { return s.Finish(nil, at) }, map[Status]Status{StatusRunning: StatusSucceeded}},
		{"cancel", func(s *Sync) error { return s.Cancel(at) },
			map[Status]Status{StatusQueued: StatusCanceled, StatusRunning: StatusCanceled}},
	}
	for _, c := range changes {
		for _, from := range Statuses() {
			t.Run(c.name+" from "+from.String(), func(t *testing.T) {
				s := inStatus(t, from)
				before := s.Snapshot()
				err := c.apply(s)
				to, legal := c.legal[from]
				if !legal {
					if !errors.Is(err, ErrIllegalTransition) || !errors.Is(err, domain.ErrConflict) {
						t.Errorf("err = %v, want ErrIllegalTransition (a conflict)", err)
					}
					if after := s.Snapshot(); !reflect.DeepEqual(after, before) {
						t.Errorf("a refused change changed %+v to %+v", before, after)
					}
					return
				}
				if err != nil || s.Status() != to {
					t.Errorf("status %v, err %v; want %v", s.Status(), err, to)
				}
			})
		}
	}
}

func TestStartRecordsWhenTheSyncStarted(t *testing.T) {
	s := inStatus(t, StatusQueued)
	at := t0.Add(time.Second)
	if err := s.Start(at); err != nil || !s.StartedAt().Equal(at) || !s.FinishedAt().IsZero() {
		t.Errorf("started %v, finished %v, err %v; want started %v", s.StartedAt(), s.FinishedAt(), err, at)
	}
}

func TestFinishAndCancelRecordWhenTheSyncEnded(t *testing.T) {
	at := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		from Status
		end  func(*Sync) error
	}{
		{"finish", StatusRunning, func(s *Sync) error { return s.Finish(nil, at) }},
		{"cancel while running", StatusRunning, func(s *Sync) error { return s.Cancel(at) }},
		{"cancel while queued", StatusQueued, func(s *Sync) error { return s.Cancel(at) }},
	} {
		s := inStatus(t, tc.from)
		if err := tc.end(s); err != nil || !s.FinishedAt().Equal(at) || s.Status().InFlight() {
			t.Errorf("%s: finished %v, status %v, err %v; want finished %v", tc.name, s.FinishedAt(), s.Status(), err, at)
		}
	}
}

func TestFinishDecidesTheOutcomeFromTheErrors(t *testing.T) {
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	for _, tc := range []struct {
		name     string
		accounts int
		errs     []AccountError
		want     Status
	}{
		{"no error", 3, nil, StatusSucceeded},
		{"no error and no account", 0, nil, StatusSucceeded},
		{"one account of three failed", 3, []AccountError{{AccountID: a, Code: "provider_unavailable", Retryable: true}}, StatusPartial},
		{"two errors on one account of two", 2, []AccountError{{AccountID: a, Code: "x"}, {AccountID: a, Code: "y"}}, StatusPartial},
		{"every account failed", 3, []AccountError{{AccountID: a, Code: "x"}, {AccountID: b, Code: "x"}, {AccountID: c, Code: "x"}}, StatusFailed},
		{"the provider failed", 3, []AccountError{{Code: "reauthorization_required"}}, StatusFailed},
		{"the provider and an account failed", 3, []AccountError{{AccountID: a, Code: "x"}, {Code: "provider_timeout"}}, StatusFailed},
		{"an account failed before any was counted", 0, []AccountError{{AccountID: a, Code: "x"}}, StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := inStatus(t, StatusRunning)
			if err := s.Advance(Progress{AccountsTotal: tc.accounts}); err != nil {
				t.Fatal(err)
			}
			if err := s.Finish(tc.errs, t0); err != nil {
				t.Fatal(err)
			}
			if s.Status() != tc.want || !reflect.DeepEqual(s.Errors(), tc.errs) {
				t.Errorf("status %v with errors %+v; want %v with %+v", s.Status(), s.Errors(), tc.want, tc.errs)
			}
		})
	}
}

func TestFinishRefusesAnErrorWithoutACodeAndChangesNothing(t *testing.T) {
	s := inStatus(t, StatusRunning)
	before := s.Snapshot()
	err := s.Finish([]AccountError{{AccountID: uuid.New(), Code: "provider_timeout"}, {AccountID: uuid.New()}}, t0.Add(time.Hour))
	if !errors.Is(err, ErrInvalidProgress) {
		t.Errorf("err = %v, want ErrInvalidProgress", err)
	}
	if after := s.Snapshot(); !reflect.DeepEqual(after, before) {
		t.Errorf("a refused finish changed %+v to %+v", before, after)
	}
}

func TestFinishKeepsItsOwnCopyOfTheErrors(t *testing.T) {
	s := inStatus(t, StatusRunning)
	errs := []AccountError{{Code: "provider_unavailable"}}
	if err := s.Finish(errs, t0); err != nil {
		t.Fatal(err)
	}
	errs[0].Code = "changed"
	s.Errors()[0].Code = "changed too"
	if got := s.Errors()[0].Code; got != "provider_unavailable" {
		t.Errorf("error code %q, want provider_unavailable", got)
	}
}

func TestAdvanceOnlyMovesForward(t *testing.T) {
	s := inStatus(t, StatusRunning)
	if err := s.Advance(Progress{AccountsTotal: 4, AccountsDone: 2}); err != nil || s.Progress() != (Progress{4, 2}) {
		t.Fatalf("progress %+v, err %v; want 2 of 4", s.Progress(), err)
	}
	for _, p := range []Progress{{4, 1}, {1, 2}, {4, 5}, {-1, -1}} {
		if err := s.Advance(p); !errors.Is(err, ErrInvalidProgress) {
			t.Errorf("Advance(%+v) = %v, want ErrInvalidProgress", p, err)
		}
		if s.Progress() != (Progress{4, 2}) {
			t.Errorf("Advance(%+v) changed the progress to %+v", p, s.Progress())
		}
	}
	if err := s.Advance(Progress{AccountsTotal: 5, AccountsDone: 5}); err != nil || s.Progress() != (Progress{5, 5}) {
		t.Errorf("progress %+v, err %v; want 5 of 5 (an account found on the way)", s.Progress(), err)
	}
}

func TestRecordAddsUpResults(t *testing.T) {
	s := inStatus(t, StatusRunning)
	first := Results{Accounts: AccountResults{Added: 2}, Transactions: TransactionResults{Added: 10, Modified: 1}, Holdings: HoldingResults{Removed: 1}}
	second := Results{Accounts: AccountResults{Updated: 1, Closed: 1}, Transactions: TransactionResults{Added: 5, Removed: 2}, Holdings: HoldingResults{Added: 3, Updated: 4}}
	for _, r := range []Results{first, second} {
		if err := s.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	want := Results{Accounts: AccountResults{2, 1, 1}, Transactions: TransactionResults{15, 1, 2}, Holdings: HoldingResults{3, 4, 1}}
	if s.Results() != want {
		t.Errorf("results %+v, want %+v", s.Results(), want)
	}
	if err := s.Record(Results{Holdings: HoldingResults{Updated: -1}}); !errors.Is(err, ErrInvalidProgress) || s.Results() != want {
		t.Errorf("recording a negative count: err %v, results %+v; want ErrInvalidProgress and %+v", err, s.Results(), want)
	}
}

func TestSyncSnapshotRoundTrips(t *testing.T) {
	snap := Snapshot{ID: uuid.New(), ProviderID: uuid.New(), Trigger: TriggerManual, Status: StatusPartial,
		Progress: Progress{3, 3}, Results: Results{Transactions: TransactionResults{Added: 7}},
		Errors:    []AccountError{{AccountID: uuid.New(), Code: "provider_timeout", Message: "The institution did not answer.", Retryable: true}},
		CreatedAt: t0, StartedAt: t0.Add(time.Second), FinishedAt: t0.Add(time.Minute)}
	s := Rehydrate(snap)
	if got := s.Snapshot(); !reflect.DeepEqual(got, snap) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, snap)
	}
	snap.Errors[0].Code = "changed"
	s.Snapshot().Errors[0].Code = "changed too"
	if s.Errors()[0].Code != "provider_timeout" {
		t.Error("the sync shares its errors with a snapshot")
	}
}

func eventTypes(evs []event.Event) []event.Type {
	out := make([]event.Type, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func TestASyncRecordsItsStartAndHowItEnded(t *testing.T) {
	acct := uuid.New()
	for _, tc := range []struct {
		name string
		end  func(*Sync) error
		want event.Type
	}{
		{"succeeded", func(s *Sync) error { return s.Finish(nil, t0.Add(time.Minute)) }, event.SyncCompleted},
		{"partial", func(s *Sync) error {
			return s.Finish([]AccountError{{AccountID: acct, Code: "account_unavailable"}}, t0.Add(time.Minute))
		}, event.SyncCompleted},
		{"failed", func(s *Sync) error {
			return s.Finish([]AccountError{{Code: "reauthorization_required"}}, t0.Add(time.Minute))
		}, event.SyncFailed},
		{"canceled", func(s *Sync) error { return s.Cancel(t0.Add(time.Minute)) }, event.SyncFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(uuid.New(), uuid.New(), TriggerManual, t0)
			if evs := s.DrainEvents(); len(evs) != 0 {
				t.Fatalf("a queued sync recorded %v", eventTypes(evs))
			}
			if err := s.Start(t0); err != nil {
				t.Fatal(err)
			}
			if err := s.Advance(Progress{AccountsTotal: 2, AccountsDone: 2}); err != nil {
				t.Fatal(err)
			}
			if err := s.Record(Results{Transactions: TransactionResults{Added: 3}}); err != nil {
				t.Fatal(err)
			}
			if err := tc.end(s); err != nil {
				t.Fatal(err)
			}
			evs := s.DrainEvents()
			if got := eventTypes(evs); !reflect.DeepEqual(got, []event.Type{event.SyncStarted, tc.want}) {
				t.Fatalf("events %v, want [sync.started %s]", got, tc.want)
			}
			end := evs[1]
			if end.Data["sync_id"] != s.ID().String() || end.Data["provider_id"] != s.ProviderID().String() ||
				end.Data["status"] != s.Status().String() || !end.OccurredAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("end event %+v does not name the sync, its provider and its status at its end", end)
			}
			results, hasResults := end.Data["results"].(map[string]any)
			if hasResults != (tc.want == event.SyncCompleted) {
				t.Fatalf("results %v in a %s event", end.Data["results"], tc.want)
			}
			if hasResults && results["transactions"].(map[string]any)["added"] != 3 {
				t.Errorf("results %v, want 3 transactions added", results)
			}
		})
	}
}

func TestAnIllegalTransitionRecordsNothing(t *testing.T) {
	s := New(uuid.New(), uuid.New(), TriggerManual, t0)
	if err := s.Finish(nil, t0); err == nil {
		t.Fatal("a queued sync finished")
	}
	if evs := s.DrainEvents(); len(evs) != 0 {
		t.Errorf("a refused transition recorded %v", eventTypes(evs))
	}
}
