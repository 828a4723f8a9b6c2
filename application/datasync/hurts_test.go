package datasync_test

// One test per item of DATA.md's "What hurts users of comparable systems",
// each named after the rule it shows.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/budgeted"
	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/fakes/fakewindow"
)

const (
	checking  = "chk"
	savings   = "sav"
	brokerage = "brk"
)

// page is a page of added transactions.
func page(added ...providersapp.TransactionRecord) providersapp.TransactionPage {
	return providersapp.TransactionPage{Added: added}
}

// scriptAccounts gives the scripted institution a checking and a brokerage
// account.
func scriptAccounts(t *testing.T, h *harness) {
	t.Helper()
	h.scripted.set(func(s *scripted) {
		s.accounts = []providersapp.AccountRecord{
			account(t, h, checking, finance.AccountDepository, "100.00"),
			account(t, h, brokerage, finance.AccountInvestment, "5000.00"),
		}
	})
}

// liveByKey lists the provider's live transactions by institution id, failing
// when one is live twice.
func liveByKey(t *testing.T, h *harness, p *provider.Provider) map[string]*finance.Transaction {
	t.Helper()
	out := map[string]*finance.Transaction{}
	for _, tr := range h.live(t, p) {
		id := tr.Details().InstitutionTransactionID
		if _, twice := out[id]; twice {
			t.Fatalf("%s is live twice", id)
		}
		out[id] = tr
	}
	return out
}

// keys returns the sorted keys of a map.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func wantKeys[V any](t *testing.T, what string, m map[string]V, want ...string) {
	t.Helper()
	if got := keys(m); !slices.Equal(got, want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

// addedInFeed counts the transactions the feed, read from the beginning,
// reports added.
func addedInFeed(t *testing.T, h *harness) int {
	t.Helper()
	n := 0
	for _, c := range h.feed(t) {
		if c.Type == financeapp.ChangeAdded {
			n++
		}
	}
	return n
}

// 1. Duplicate transactions: concurrent syncs.
func TestNoDuplicatesUnderTwoConcurrentSyncs(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{
			page(purchase(t, checking, "t1", finance.TransactionPosted, "-1.00"), purchase(t, checking, "t2", finance.TransactionPosted, "-2.00")),
			{Added: []providersapp.TransactionRecord{purchase(t, checking, "t3", finance.TransactionPosted, "-3.00")},
				Modified: []providersapp.TransactionRecord{purchase(t, checking, "t1", finance.TransactionPosted, "-1.50")}},
		}
	})

	// Eight triggers at once join the one sync in flight.
	var wg sync.WaitGroup
	got := make([]uuid.UUID, 8)
	for i := range got {
		wg.Go(func() {
			s, joined, err := h.syncs.Start(context.Background(), h.user, p.ID())
			if err != nil || !joined {
				t.Errorf("Start: joined %v, %v; want the sync in flight joined", joined, err)
				return
			}
			got[i] = s.ID()
		})
	}
	wg.Wait()
	for _, id := range got {
		if id != job.SyncID {
			t.Fatalf("a trigger got sync %s, want the one in flight %s", id, job.SyncID)
		}
	}
	if n := len(h.store.Jobs()); n != 1 {
		t.Fatalf("%d jobs enqueued, want 1", n)
	}

	// Its job run twice at once (rescued while its first instance still
	// runs; River prevents it, JobTimeout being shorter than the rescue
	// delay, but an instance frozen past both could) stores each transaction
	// once and counts none twice. A page stored by the run that lost the
	// race to finish may go uncounted in the results: they are a summary,
	// the data and the feed are exact.
	for range 2 {
		wg.Go(func() {
			if err := h.engine.Run(context.Background(), job); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	wg.Wait()
	live := liveByKey(t, h, p)
	wantKeys(t, "live transactions", live, "t1", "t2", "t3")
	if amount := live["t1"].Details().Amount.Amount().String(); amount != "-1.50" {
		t.Errorf("t1 is %s, want the modified -1.50", amount)
	}
	s := h.sync(t, job.SyncID)
	if s.Status() != datasync.StatusSucceeded || s.Results().Transactions.Added > 3 || addedInFeed(t, h) != 3 {
		t.Errorf("sync %v with results %+v, %d added in the feed; want succeeded, at most 3 counted, 3 added once in the feed",
			s.Status(), s.Results(), addedInFeed(t, h))
	}
}

// 1. Duplicate transactions: a page delivered twice, "modified" inserted as new.
func TestNoDuplicatesWhenAPageIsDeliveredTwice(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	first := page(purchase(t, checking, "t1", finance.TransactionPosted, "-1.00"), purchase(t, checking, "t2", finance.TransactionPosted, "-2.00"))
	h.scripted.set(func(s *scripted) { s.pages = []providersapp.TransactionPage{first, first} })
	h.run(t, job)
	stored := liveByKey(t, h, p)
	wantKeys(t, "after a page delivered twice", stored, "t1", "t2")

	// The institution starts over and delivers everything again, t2 now as
	// modified.
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{first, {Modified: []providersapp.TransactionRecord{
			purchase(t, checking, "t2", finance.TransactionPosted, "-2.50")}}}
	})
	from, err := h.finance.TransactionResume(t.Context(), p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.finance.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{From: from}); err != nil {
		t.Fatal(err) // the stored resume state is now nil: from the beginning
	}
	s := h.run(t, h.manual(t, p))
	live := liveByKey(t, h, p)
	wantKeys(t, "after everything delivered again", live, "t1", "t2")
	if live["t2"].ID() != stored["t2"].ID() || live["t2"].Details().Amount.Amount().String() != "-2.50" {
		t.Errorf("t2 is %s at %s, want %s modified in place to -2.50", live["t2"].ID(), live["t2"].Details().Amount.Amount(), stored["t2"].ID())
	}
	if r := s.Results().Transactions; r != (datasync.TransactionResults{Modified: 1}) {
		t.Errorf("the second sync counts %+v, want one modified", r)
	}
}

// 2. Pending and posted both shown, double-counting spend.
func TestPendingAndPostedAreNeverBothLive(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{page(
			purchase(t, checking, "linked", finance.TransactionPending, "-10.00"),
			purchase(t, checking, "unlinked", finance.TransactionPending, "-20.00"))}
	})
	h.run(t, job)
	pending := liveByKey(t, h, p)

	// The institution posts "linked" under its own id (Schwab's activityId)
	// and "unlinked" as a new record with the pending one removed.
	h.scripted.set(func(s *scripted) {
		s.pages = append(s.pages, providersapp.TransactionPage{
			Added:    []providersapp.TransactionRecord{purchase(t, checking, "unlinked-posted", finance.TransactionPosted, "-20.00")},
			Modified: []providersapp.TransactionRecord{purchase(t, checking, "linked", finance.TransactionPosted, "-12.00")},
			Removed:  []providersapp.RemovedTransaction{removal(checking, "unlinked")},
		})
	})
	s := h.run(t, h.manual(t, p))
	live := liveByKey(t, h, p)
	wantKeys(t, "live after posting", live, "linked", "unlinked-posted")
	total := usd(t, "0")
	for _, tr := range live {
		if tr.Status() != finance.TransactionPosted {
			t.Errorf("%s is %s, want posted", tr.Details().InstitutionTransactionID, tr.Status())
		}
		total, _ = total.Add(tr.Details().Amount)
	}
	if total.Amount().String() != "-32.00" {
		t.Errorf("live spend %s, want -32.00 (each purchase once)", total.Amount())
	}
	if live["linked"].ID() != pending["linked"].ID() {
		t.Errorf("the posted transaction has a new id %s, want its pending one's %s", live["linked"].ID(), pending["linked"].ID())
	}
	if r := s.Results().Transactions; r != (datasync.TransactionResults{Added: 1, Modified: 1, Removed: 1}) {
		t.Errorf("results %+v, want 1 added, 1 modified (posted), 1 removed", r)
	}
}

// 3. Changes and removals never applied.
func TestARemovalReachesTheChangesFeed(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{page(purchase(t, checking, "t1", finance.TransactionPosted, "-1.00"),
			purchase(t, checking, "t2", finance.TransactionPosted, "-2.00"))}
	})
	h.run(t, job)
	before := h.feed(t)
	cursor := before[len(before)-1].Position

	h.scripted.set(func(s *scripted) {
		s.pages = append(s.pages, providersapp.TransactionPage{Removed: []providersapp.RemovedTransaction{removal(checking, "t1")}})
	})
	h.run(t, h.manual(t, p))
	wantKeys(t, "live after the removal", liveByKey(t, h, p), "t2")
	changes, err := h.finance.Changes(t.Context(), h.user, cursor, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Type != financeapp.ChangeRemoved || changes[0].Transaction.Details().InstitutionTransactionID != "t1" {
		t.Fatalf("changes after the removal: %+v, want t1 removed", changes)
	}
}

// failingPages is the finance Writes of the engine whose StoreTransactionPage
// fails, once, on the given call (counted from 1).
type failingPages struct {
	financeapp.Writes
	mu     sync.Mutex
	calls  int
	failOn int
}

var errDatabaseDown = fmt.Errorf("database went away: %w", domain.ErrUnavailable)

func (f *failingPages) StoreTransactionPage(ctx context.Context, providerID uuid.UUID, page financeapp.TransactionPageWrite) (financeapp.TransactionCounts, error) {
	f.mu.Lock()
	f.calls++
	fail := f.calls == f.failOn
	f.mu.Unlock()
	if fail {
		return financeapp.TransactionCounts{}, errDatabaseDown
	}
	return f.Writes.StoreTransactionPage(ctx, providerID, page)
}

// 3. Deletions lost on a pagination restart; 4. a sync stuck running (its
// job is rescued, and resumes).
func TestACrashBetweenTwoPagesResumesWithoutLossOrDuplication(t *testing.T) {
	var failing *failingPages
	h := newHarness(t, func(w financeapp.Writes) financeapp.Writes {
		failing = &failingPages{Writes: w, failOn: 2}
		return failing
	})
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{
			page(purchase(t, checking, "t1", finance.TransactionPosted, "-1.00"), purchase(t, checking, "t2", finance.TransactionPosted, "-2.00")),
			{
				Added:    []providersapp.TransactionRecord{purchase(t, checking, "t3", finance.TransactionPosted, "-3.00")},
				Modified: []providersapp.TransactionRecord{purchase(t, checking, "t1", finance.TransactionPosted, "-1.50")},
				Removed:  []providersapp.RemovedTransaction{removal(checking, "t2")},
			},
			page(purchase(t, checking, "t4", finance.TransactionPosted, "-4.00")),
		}
	})
	if err := h.engine.Run(t.Context(), job); !errors.Is(err, errDatabaseDown) {
		t.Fatalf("Run = %v, want the store's failure, so the job is retried", err)
	}
	if s := h.sync(t, job.SyncID); s.Status() != datasync.StatusRunning {
		t.Fatalf("after the crash the sync is %v, want running (its job resumes it)", s.Status())
	}
	wantKeys(t, "live after the crash", liveByKey(t, h, p), "t1", "t2")

	s := h.run(t, job) // the job, retried
	if s.Status() != datasync.StatusSucceeded {
		t.Fatalf("the resumed sync is %v with %+v, want succeeded", s.Status(), s.Errors())
	}
	if asked := h.scripted.asked; !slices.Equal(asked, []int{0, 1, 1, 2}) {
		t.Errorf("pages asked for %v, want [0 1 1 2]: the retry resumes at the page that was lost, never earlier", asked)
	}
	live := liveByKey(t, h, p)
	wantKeys(t, "live after the resumed sync", live, "t1", "t3", "t4")
	if live["t1"].Details().Amount.Amount().String() != "-1.50" {
		t.Errorf("t1's modification was lost")
	}
	if r := s.Results().Transactions; r != (datasync.TransactionResults{Added: 4, Modified: 1, Removed: 1}) || addedInFeed(t, h) != 3 {
		t.Errorf("results %+v, %d live added in the feed; want 4 added, 1 modified, 1 removed, each once", r, addedInFeed(t, h))
	}
}

// 6. One bad account failing the whole sync, or a failure hidden inside a
// success.
func TestOneFailingAccountLeavesTheOthersCommittedAndTheSyncPartial(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	apple := security(t, isinApple, "AAPL")
	h.scripted.set(func(s *scripted) {
		s.accounts = []providersapp.AccountRecord{
			account(t, h, checking, finance.AccountDepository, "100.00"),
			account(t, h, savings, finance.AccountDepository, "200.00"),
			account(t, h, brokerage, finance.AccountInvestment, "5000.00"),
		}
		s.holdings = providersapp.HoldingsAnswer{Securities: []finance.SecurityDetails{apple},
			Failures: []providersapp.AccountFailure{{InstitutionAccountID: brokerage,
				Err: fmt.Errorf("positions answered 503: %w", domain.ErrProviderUnavailable)}}}
		bad := purchase(t, savings, "s-bad", finance.TransactionPosted, "5.00") // a purchase bringing money in
		s.pages = []providersapp.TransactionPage{page(purchase(t, checking, "c1", finance.TransactionPosted, "-1.00"), bad,
			purchase(t, savings, "s1", finance.TransactionPosted, "-3.00"))}
	})
	s := h.run(t, job)
	accounts := h.accounts(t, p)
	want := []datasync.AccountError{
		{AccountID: accounts[brokerage].ID(), Code: datasyncapp.CodeProviderUnavailable, Retryable: true},
		{AccountID: accounts[savings].ID(), Code: datasyncapp.CodeInvalidData},
	}
	if s.Status() != datasync.StatusPartial || !sameErrors(s.Errors(), want) {
		t.Fatalf("sync %v with errors %+v, want partial with %+v", s.Status(), s.Errors(), want)
	}
	wantKeys(t, "committed transactions", liveByKey(t, h, p), "c1", "s1")
	for _, a := range accounts {
		if b, err := h.finance.Balances(t.Context(), balanceQuery(a)); err != nil || len(b) != 1 {
			t.Errorf("account %s has %d balances, want its own committed", a.InstitutionAccountID(), len(b))
		}
	}
}

// sameErrors compares errors but for their messages.
func sameErrors(got, want []datasync.AccountError) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.AccountID != w.AccountID || g.Code != w.Code || g.Retryable != w.Retryable || g.Message == "" {
			return false
		}
	}
	return true
}

// 6, against the sandbox's user_partial: its brokerage holdings fail.
func TestTheSandboxsPartialUserEndsPartial(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectSandbox(t, sandbox.UserPartial)
	s := h.run(t, job)
	if s.Status() != datasync.StatusPartial || len(s.Errors()) != 1 || s.Errors()[0].Code != datasyncapp.CodeProviderUnavailable {
		t.Fatalf("sync %v with errors %+v, want partial with the brokerage's failure", s.Status(), s.Errors())
	}
	if len(h.live(t, p)) == 0 || len(h.accounts(t, p)) != 4 {
		t.Error("the accounts that did not fail were not stored")
	}
}

// 5. Broken authorization noticed by nobody (status and a paused schedule).
func TestReauthorizationErrorPausesTheSchedule(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectSandbox(t, sandbox.UserReauth)
	s := h.run(t, job)
	if s.Status() != datasync.StatusFailed || len(s.Errors()) != 1 || s.Errors()[0].Code != datasyncapp.CodeReauthorizationRequired ||
		s.Errors()[0].Retryable {
		t.Fatalf("sync %v with errors %+v, want failed with reauthorization_required", s.Status(), s.Errors())
	}
	stored, err := h.providers.ProviderByID(t.Context(), p.ID())
	if err != nil || stored.Status() != provider.StatusReauthorizationRequired {
		t.Fatalf("provider status %v (%v), want reauthorization_required", stored.Status(), err)
	}
	h.clock.Advance(3 * interval)
	due, err := h.store.DueProviders(t.Context(), h.clock.Now(), 10)
	if err != nil || len(due) != 0 {
		t.Errorf("due providers %v (%v), want none: the schedule is paused", due, err)
	}
	if begun, joined, err := h.scheduler.Pass(t.Context()); begun+joined != 0 || err != nil {
		t.Errorf("a pass began %d and joined %d (%v), want nothing", begun, joined, err)
	}
	if _, _, err := h.syncs.Start(t.Context(), h.user, p.ID()); !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Errorf("a manual sync: %v, want ErrReauthorizationRequired (409 reauthorization_required)", err)
	}

	// The user authorizes again: the grant begins a sync, and the schedule
	// goes on.
	h.grant(t, p, h.sandboxTokens(t, sandbox.UserGood))
	if due, _ := h.store.DueProviders(t.Context(), h.clock.Now(), 10); !slices.Equal(due, []uuid.UUID{p.ID()}) {
		t.Errorf("due providers after the new grant: %v, want %s", due, p.ID())
	}
}

// The institution's limits are respected: a 429 postpones the job.
func TestARetryAfterPostponesTheJob(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{page(purchase(t, checking, "t1", finance.TransactionPosted, "-1.00"))}
		s.fail = func(method string) error {
			if method == "transactions" {
				return fmt.Errorf("answered 429: %w", &providersapp.RetryAfterError{Delay: 30 * time.Second})
			}
			return nil
		}
	})
	var ra *jobs.RetryAfter
	if err := h.engine.Run(t.Context(), job); !errors.As(err, &ra) || ra.Delay != 30*time.Second {
		t.Fatalf("Run = %v, want the job postponed by 30s", err)
	}
	if s := h.sync(t, job.SyncID); s.Status() != datasync.StatusRunning || len(h.accounts(t, p)) != 2 {
		t.Fatalf("the postponed sync is %v with %d accounts stored, want running with what it committed", s.Status(), len(h.accounts(t, p)))
	}
	h.scripted.set(func(s *scripted) { s.fail = nil })
	if s := h.run(t, job); s.Status() != datasync.StatusSucceeded {
		t.Fatalf("the job run again ends %v, want succeeded", s.Status())
	}
	wantKeys(t, "live", liveByKey(t, h, p), "t1")
}

// The sandbox's rate-limited user postpones the job by its Retry-After.
func TestTheSandboxsRateLimitedUserPostponesTheJob(t *testing.T) {
	h := newHarness(t, nil)
	_, job := h.connectSandbox(t, sandbox.UserRateLimited)
	var ra *jobs.RetryAfter
	if err := h.engine.Run(t.Context(), job); !errors.As(err, &ra) || ra.Delay != sandbox.RateLimitDelay {
		t.Fatalf("Run = %v, want the job postponed by %s", err, sandbox.RateLimitDelay)
	}
	if s := h.sync(t, job.SyncID); s.Status() != datasync.StatusRunning {
		t.Errorf("the sync is %v, want running", s.Status())
	}
}

// A canceled sync stops after the page it committed; what it committed
// stays, and the next sync resumes from there.
func TestACanceledSyncStopsAfterTheCommittedPage(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{
			page(purchase(t, checking, "t1", finance.TransactionPosted, "-1.00")),
			page(purchase(t, checking, "t2", finance.TransactionPosted, "-2.00")),
			page(purchase(t, checking, "t3", finance.TransactionPosted, "-3.00")),
		}
		s.onPage = func(n int) {
			if n == 1 { // the user cancels while the second page is fetched
				if _, err := h.syncs.Cancel(context.Background(), h.user, job.SyncID); err != nil {
					t.Errorf("Cancel: %v", err)
				}
			}
		}
	})
	s := h.run(t, job)
	if s.Status() != datasync.StatusCanceled {
		t.Fatalf("sync %v, want canceled", s.Status())
	}
	wantKeys(t, "committed before the cancel", liveByKey(t, h, p), "t1")
	if _, err := h.syncs.Cancel(t.Context(), h.user, job.SyncID); !errors.Is(err, datasync.ErrIllegalTransition) || !errors.Is(err, domain.ErrConflict) {
		t.Errorf("canceling it again: %v, want ErrIllegalTransition (409)", err)
	}

	h.scripted.set(func(s *scripted) { s.onPage = nil })
	h.run(t, h.manual(t, p))
	wantKeys(t, "after the next sync", liveByKey(t, h, p), "t1", "t2", "t3")
}

// Progress is visible on the sync while it runs: the first page's results
// at once, later pages' at most once a second (each record is a transaction
// of its own), and every page's by the end, once.
func TestTransactionResultsShowWhileTheSyncRunsAtMostOnceASecond(t *testing.T) {
	h := newHarness(t, nil)
	_, job := h.connectScripted(t)
	scriptAccounts(t, h)
	added := func() int { return h.sync(t, job.SyncID).Results().Transactions.Added }
	seen := map[int]int{}
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{
			page(purchase(t, checking, "t1", finance.TransactionPosted, "-1.00")),
			page(purchase(t, checking, "t2", finance.TransactionPosted, "-2.00")),
			page(purchase(t, checking, "t3", finance.TransactionPosted, "-3.00")),
			page(purchase(t, checking, "t4", finance.TransactionPosted, "-4.00")),
		}
		s.onPage = func(n int) {
			seen[n] = added()
			if n == 2 {
				h.clock.Advance(time.Second)
			}
		}
	})
	s := h.run(t, job)
	want := map[int]int{0: 0, 1: 1, 2: 1, 3: 3}
	if !maps.Equal(seen, want) {
		t.Errorf("transactions added as each page was asked for: %v, want %v: the first page recorded at once, "+
			"the second not within the same second, the third (a second later) with the second's", seen, want)
	}
	if r := s.Results().Transactions; r != (datasync.TransactionResults{Added: 4}) {
		t.Errorf("results at the end %+v, want every page's 4 added, once", r)
	}
}

// 9. Holdings duplicated or stale after a sale.
func TestHoldingsMissingFromACompleteAnswerAreRemoved(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	apple, microsoft := security(t, isinApple, "AAPL"), security(t, isinMicrosoft, "MSFT")
	answer := func(holdings ...providersapp.HoldingRecord) {
		h.scripted.set(func(s *scripted) {
			s.holdings = providersapp.HoldingsAnswer{Securities: []finance.SecurityDetails{apple, microsoft}, Holdings: holdings}
		})
	}
	answer(position(t, h, brokerage, apple, "10", "190.00", "1900.00"), position(t, h, brokerage, microsoft, "5", "410.00", "2050.00"))
	if s := h.run(t, job); s.Results().Holdings != (datasync.HoldingResults{Added: 2}) {
		t.Fatalf("first sync holdings %+v, want 2 added", s.Results().Holdings)
	}
	brk := h.accounts(t, p)[brokerage]
	before := h.finance.Holdings(brk.ID())

	// Microsoft sold, two more Apple bought.
	h.clock.Advance(time.Hour)
	answer(position(t, h, brokerage, apple, "12", "190.00", "2280.00"))
	s := h.run(t, h.manual(t, p))
	after := h.finance.Holdings(brk.ID())
	if s.Results().Holdings != (datasync.HoldingResults{Updated: 1, Removed: 1}) || len(after) != 1 {
		t.Fatalf("after the sale: results %+v, %d holdings; want 1 updated, 1 removed, 1 left", s.Results().Holdings, len(after))
	}
	if q := after[0].Details().Quantity.String(); q != "12" || !slices.ContainsFunc(before, func(x *finance.Holding) bool { return x.ID() == after[0].ID() }) {
		t.Errorf("the Apple holding is %s (quantity %s), want the stored one updated to 12", after[0].ID(), q)
	}

	// The institution cannot answer for the account: it keeps its holdings.
	h.scripted.set(func(s *scripted) {
		s.holdings = providersapp.HoldingsAnswer{Failures: []providersapp.AccountFailure{{InstitutionAccountID: brokerage,
			Err: fmt.Errorf("timeout: %w", domain.ErrProviderTimeout)}}}
	})
	if s := h.run(t, h.manual(t, p)); s.Status() != datasync.StatusPartial || len(h.finance.Holdings(brk.ID())) != 1 {
		t.Errorf("a failed answer: sync %v, %d holdings; want partial with the holding kept", s.Status(), len(h.finance.Holdings(brk.ID())))
	}

	// Everything sold: the complete answer lists no position.
	answer()
	if s := h.run(t, h.manual(t, p)); s.Results().Holdings.Removed != 1 || len(h.finance.Holdings(brk.ID())) != 0 {
		t.Errorf("everything sold: results %+v, %d holdings; want the last one removed", s.Results().Holdings, len(h.finance.Holdings(brk.ID())))
	}
}

// One sync in flight per provider: a manual trigger joins the one queued or
// running; once it finished, a new one starts.
func TestAManualSyncJoinsTheOneInFlight(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	s, joined, err := h.syncs.Start(t.Context(), h.user, p.ID())
	if err != nil || !joined || s.ID() != job.SyncID || s.Trigger() != datasync.TriggerAuthorization {
		t.Fatalf("Start while the first sync is queued: %v joined %v (%v), want the first sync joined", s, joined, err)
	}
	h.run(t, job)
	s, joined, err = h.syncs.Start(t.Context(), h.user, p.ID())
	if err != nil || joined || s.ID() == job.SyncID || s.Trigger() != datasync.TriggerManual || s.Status() != datasync.StatusQueued {
		t.Fatalf("Start after it finished: joined %v (%v), want a new manual sync queued", joined, err)
	}
	if jobs := h.store.Jobs(); len(jobs) != 2 || jobs[1] != (datasyncapp.SyncJob{SyncID: s.ID(), ProviderID: p.ID()}) {
		t.Errorf("jobs %+v, want the new sync's enqueued with it", jobs)
	}
}

// 5. Scheduled syncs skip a provider awaiting re-authorization, and a pass
// does not begin a provider again while its sync waits.
func TestScheduledSyncsSkipProvidersAwaitingReauthorization(t *testing.T) {
	h := newHarness(t, nil)
	scriptAccounts(t, h)
	active, first := h.connectScripted(t)
	broken, second := h.connectScripted(t)
	h.run(t, first)
	h.run(t, second)
	if err := h.conns.RequireReauthorization(t.Context(), broken.ID()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * interval)
	if begun, joined, err := h.scheduler.Pass(t.Context()); begun != 1 || joined != 0 || err != nil {
		t.Fatalf("a pass began %d, joined %d (%v); want the active provider's sync begun", begun, joined, err)
	}
	all := h.store.Jobs()
	last := all[len(all)-1].(datasyncapp.SyncJob)
	if last.ProviderID != active.ID() || h.sync(t, last.SyncID).Trigger() != datasync.TriggerScheduled {
		t.Errorf("the pass began %+v, want a scheduled sync of %s", last, active.ID())
	}
	if begun, joined, err := h.scheduler.Pass(t.Context()); begun+joined != 0 || err != nil {
		t.Errorf("the next pass began %d, joined %d (%v); want nothing while the sync waits", begun, joined, err)
	}
}

// 4. Data silently stale: a sync that ends exposes when the provider last
// synced and how fresh its data is, and schedules the next one.
func TestAFinishedSyncExposesFreshnessAndSchedulesTheNext(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	asOf := h.clock.Now()
	h.clock.Advance(time.Minute)
	h.run(t, job)
	st, err := h.syncs.ProviderState(t.Context(), h.user, p.ID())
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	if !st.LastSyncedAt.Equal(now) || !st.DataAsOf.Equal(asOf) {
		t.Errorf("last synced %v, data as of %v; want %v and %v", st.LastSyncedAt, st.DataAsOf, now, asOf)
	}
	if lo, hi := now.Add(interval*9/10), now.Add(interval*11/10); st.NextSyncAt.Before(lo) || st.NextSyncAt.After(hi) {
		t.Errorf("next sync at %v, want within 10%% of %v", st.NextSyncAt, now.Add(interval))
	}

	// A sync that fails does not move last_synced_at.
	h.clock.Advance(interval * 2)
	h.scripted.set(func(s *scripted) {
		s.fail = func(string) error { return fmt.Errorf("503: %w", domain.ErrProviderUnavailable) }
	})
	s := h.run(t, h.manual(t, p))
	if s.Status() != datasync.StatusFailed || s.Errors()[0].Code != datasyncapp.CodeProviderUnavailable || !s.Errors()[0].Retryable {
		t.Fatalf("sync %v with %+v, want failed, provider_unavailable, retryable", s.Status(), s.Errors())
	}
	if after, _ := h.syncs.ProviderState(t.Context(), h.user, p.ID()); !after.LastSyncedAt.Equal(now) {
		t.Errorf("a failed sync moved last_synced_at to %v", after.LastSyncedAt)
	}
}

// 7. Balances double-counted: one snapshot a day unless the balance changes,
// and a cash-equivalent position keeps its mark so totals count it once.
func TestABalanceIsSnapshottedOnceADayAndACashEquivalentKeepsItsMark(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	sweep := finance.SecurityDetails{InstitutionSecurityID: "SWEEP", Symbol: "SWVXX", Type: finance.SecurityMutualFund,
		Currency: usd(t, "0").Currency(), CashEquivalent: true}
	balance := func(amount string) {
		h.scripted.set(func(s *scripted) {
			s.accounts = []providersapp.AccountRecord{account(t, h, brokerage, finance.AccountInvestment, amount)}
			s.holdings = providersapp.HoldingsAnswer{Securities: []finance.SecurityDetails{sweep},
				Holdings: []providersapp.HoldingRecord{position(t, h, brokerage, sweep, "100", "1.00", "100.00")}}
		})
	}
	balance("1000.00")
	h.run(t, job)
	for _, step := range []struct {
		after  time.Duration
		amount string
		want   int
	}{
		{time.Hour, "1000.00", 1},      // same day, same balance
		{time.Hour, "1100.00", 2},      // changed
		{24 * time.Hour, "1100.00", 3}, // a new day
		{time.Minute, "1100.0000", 3},  // the same amount at another scale
	} {
		h.clock.Advance(step.after)
		balance(step.amount)
		h.run(t, h.manual(t, p))
		history, err := h.finance.Balances(t.Context(), balanceQuery(h.accounts(t, p)[brokerage]))
		if err != nil || len(history) != step.want {
			t.Fatalf("after %s at %s: %d snapshots (%v), want %d", step.after, step.amount, len(history), err, step.want)
		}
	}
	secs := h.finance.Securities(p.ID())
	if len(secs) != 1 || !secs[0].Details().CashEquivalent {
		t.Errorf("securities %+v, want the sweep fund once, marked cash-equivalent", secs)
	}
}

// 4. A sync stuck running forever: one whose job gave up stays in flight, and
// every trigger would join it; the scheduler ends it once it is stale and
// begins another. Its job, should it run after all, changes nothing.
func TestAnAbandonedSyncIsEndedAndANewOneBegun(t *testing.T) {
	h := newHarness(t, nil)
	scriptAccounts(t, h)
	p, lost := h.connectScripted(t) // its job never runs
	h.clock.Advance(staleAfter - time.Minute)
	if begun, joined, err := h.scheduler.Pass(t.Context()); begun != 0 || joined != 1 || err != nil {
		t.Fatalf("a pass before the sync is stale began %d, joined %d (%v); want it joined", begun, joined, err)
	}
	h.clock.Advance(interval + time.Hour)
	if begun, joined, err := h.scheduler.Pass(t.Context()); begun != 1 || joined != 0 || err != nil {
		t.Fatalf("a pass once the sync is stale began %d, joined %d (%v); want a new one begun", begun, joined, err)
	}
	old := h.sync(t, lost.SyncID)
	if old.Status() != datasync.StatusFailed || old.Errors()[0].Code != datasyncapp.CodeAbandoned || !old.Errors()[0].Retryable {
		t.Errorf("the stale sync is %v with %+v, want failed, sync_abandoned", old.Status(), old.Errors())
	}
	all := h.store.Jobs()
	fresh := all[len(all)-1].(datasyncapp.SyncJob)
	if s := h.run(t, fresh); s.Status() != datasync.StatusSucceeded || len(h.accounts(t, p)) != 2 {
		t.Errorf("the new sync ended %v", s.Status())
	}
	if s := h.run(t, lost); s.Status() != datasync.StatusFailed {
		t.Errorf("the lost job, run at last, left its sync %v, want it as it ended", s.Status())
	}
}

// A spent institution call budget postpones the sync until the budget's
// window ends, never fails it: the sandbox's first sync, over a budget of
// three calls a minute, waits for the next window and then succeeds.
func TestAnExhaustedCallBudgetPostponesTheSync(t *testing.T) {
	var h *harness // its clock runs the budget's windows
	now := func() time.Time { return h.clock.Now() }
	counter := fakewindow.New(now, map[string]int{"provider_call": 3, "provider_type_call": 100})
	h = newHarness(t, nil, func(c providersapp.Connector) providersapp.Connector {
		return budgeted.Wrap(c, counter, budgeted.Config{ProviderTier: "provider_call", TypeTier: "provider_type_call", Now: now})
	})
	p, job := h.connectSandbox(t, sandbox.UserGood)
	postponed := 0
	for {
		err := h.engine.Run(t.Context(), job)
		ra, ok := errors.AsType[*jobs.RetryAfter](err)
		if !ok {
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			break
		}
		if s := h.sync(t, job.SyncID); s.Status() != datasync.StatusRunning {
			t.Fatalf("the postponed sync is %v, want running", s.Status())
		}
		if ra.Delay <= 0 || ra.Delay > time.Minute {
			t.Fatalf("postponed by %v, want at most the window's minute", ra.Delay)
		}
		if postponed++; postponed > 10 {
			t.Fatal("the sync is still postponed after ten windows")
		}
		h.clock.Advance(ra.Delay)
	}
	if postponed == 0 {
		t.Fatal("the sync was never postponed: the budget of three calls was not charged")
	}
	if s := h.sync(t, job.SyncID); s.Status() != datasync.StatusSucceeded || len(h.accounts(t, p)) == 0 {
		t.Errorf("the sync ends %v with %d accounts, want succeeded with the sandbox's accounts", s.Status(), len(h.accounts(t, p)))
	}
}
