package datasync_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/plaid"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// The whole engine, on the memory stores, against the Plaid connector and
// its fake: what DATA.md's "hurts" list asks of Plaid, shown with Plaid's
// own wire format and cursor rules.

// plaidWorld is a harness with a Plaid provider linked to a fake item.
type plaidWorld struct {
	*harness
	connector *plaid.Connector
	tokens    provider.Credentials
	fake      *plaidfake.Server
	item      *plaidfake.Item
	p         *provider.Provider
	job       datasyncapp.SyncJob
}

func newPlaidWorld(t *testing.T) *plaidWorld {
	t.Helper()
	fake := plaidfake.New(plaidfake.Config{Clock: fakeclock.New(t0)})
	t.Cleanup(fake.Close)
	var h *harness
	c, err := plaid.New(plaid.Config{ClientID: fake.Config().ClientID, Secret: fake.Config().Secret, BaseURL: fake.URL,
		ClientName: "Dashtam", Products: []string{"transactions", "investments"}, Timeout: 5 * time.Second,
		Now: func() time.Time { return h.clock.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	h = newHarnessWith(t, nil, c)
	public, err := fake.CreatePublicToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := c.Complete(t.Context(), public)
	if err != nil {
		t.Fatal(err)
	}
	p := h.newProvider(t, "plaid")
	return &plaidWorld{harness: h, connector: c, tokens: tokens, fake: fake, item: fake.Item(tokens.AccessToken), p: p,
		job: h.grant(t, p, tokens)}
}

// sync runs job and wants it to succeed.
func (w *plaidWorld) sync(t *testing.T, job datasyncapp.SyncJob) *datasync.Sync {
	t.Helper()
	s := w.run(t, job)
	if s.Status() != datasync.StatusSucceeded {
		t.Fatalf("sync %v with errors %+v, want succeeded", s.Status(), s.Errors())
	}
	return s
}

// bank is the provider's live bank and card transactions by institution id:
// not the investment activity, whose ids the fake starts with "inv-".
func (w *plaidWorld) bank(t *testing.T) map[string]*finance.Transaction {
	t.Helper()
	out := liveByKey(t, w.harness, w.p)
	maps.DeleteFunc(out, func(key string, _ *finance.Transaction) bool { return strings.HasPrefix(key, "inv-") })
	return out
}

// wantTheFakesData fails unless the live bank transactions are exactly the
// fake item's: the same ids, amounts (opposite sign), statuses and dates.
func (w *plaidWorld) wantTheFakesData(t *testing.T) {
	t.Helper()
	fake, live := w.item.Transactions(), w.bank(t)
	if !slices.Equal(slices.Sorted(maps.Keys(fake)), slices.Sorted(maps.Keys(live))) {
		t.Fatalf("live %v, want exactly the fake's %v", slices.Sorted(maps.Keys(live)), slices.Sorted(maps.Keys(fake)))
	}
	for id, f := range fake {
		l := live[id]
		if l.Details().Amount.Amount().Neg().String() != f.Amount || (l.Status() == finance.TransactionPending) != f.Pending ||
			l.Details().Date.String() != f.Date {
			t.Errorf("%s: %s %s on %s, want Plaid's %s (pending %v) on %s", id, l.Status(), l.Details().Amount.Amount(),
				l.Details().Date, f.Amount, f.Pending, f.Date)
		}
	}
}

func TestAMutationErrorOnTheThirdPageEndsWithExactlyTheFakesData(t *testing.T) {
	w := newPlaidWorld(t)
	w.item.SetPageSize(5) // the seeded 24 take 5 pages
	// As page 3 is asked for, the item changes: a transaction page 1
	// delivered is removed, another's amount changes, one is added, and a
	// pending one posts.
	w.item.MutateOnPage(3, func(it *plaidfake.Item) {
		it.Remove("tx-002")
		it.SetAmount("tx-003", "42.42")
		it.Add(plaidfake.Transaction{ID: "new-1", AccountID: plaidfake.AccountCredit, Amount: "7.00", Date: "2030-05-05",
			Name: "Late arrival"})
		it.Post("tx-001", "tx-001-posted", "21.50", true)
	})
	w.sync(t, w.job)
	w.wantTheFakesData(t)
	cursors := w.item.SyncCursors()
	if n := len(slices.DeleteFunc(slices.Clone(cursors), func(c string) bool { return c != "" })); n != 2 {
		t.Errorf("the loop's first cursor was asked %d times in %q, want twice: once, and once to restart", n, cursors)
	}
	if _, ok := w.bank(t)["tx-002"]; ok {
		t.Error("tx-002, delivered on page 1 and removed during pagination, is still live")
	}
}

func TestAPendingTransactionPostedAcrossTwoPagesIsOneTransactionWithOneId(t *testing.T) {
	for _, removalFirst := range []bool{true, false} {
		name := map[bool]string{true: "removal first", false: "posted first"}[removalFirst]
		t.Run(name, func(t *testing.T) {
			w := newPlaidWorld(t)
			w.sync(t, w.job)
			pending := w.bank(t)["tx-001"]
			if pending == nil || pending.Status() != finance.TransactionPending {
				t.Fatalf("tx-001 is %+v, want pending", pending)
			}
			seen := w.feed(t)
			w.item.SetPageSize(1) // the removal and the posted one on two pages
			w.item.Post("tx-001", "tx-001-posted", "21.50", removalFirst)
			w.sync(t, w.manual(t, w.p))
			w.wantTheFakesData(t)
			posted := w.bank(t)["tx-001-posted"]
			if posted.ID() != pending.ID() || posted.Status() != finance.TransactionPosted || posted.Details().Amount.Amount().String() != "-21.50" {
				t.Errorf("tx-001-posted is %s %s at %s, want posted under the pending one's id %s at -21.50",
					posted.ID(), posted.Status(), posted.Details().Amount.Amount(), pending.ID())
			}
			changes, err := w.finance.Changes(t.Context(), w.user, seen[len(seen)-1].Position, 100)
			if err != nil || len(changes) != 1 || changes[0].Transaction.ID() != pending.ID() || changes[0].Type != financeapp.ChangeModified {
				t.Errorf("the feed since the pending one was seen: %+v (%v), want it once, modified", changes, err)
			}
		})
	}
}

func TestAModifiedAmountIsReflected(t *testing.T) {
	w := newPlaidWorld(t)
	w.sync(t, w.job)
	before := w.bank(t)["tx-010"]
	w.item.SetAmount("tx-010", "99.99")
	s := w.sync(t, w.manual(t, w.p))
	after := w.bank(t)["tx-010"]
	if after.ID() != before.ID() || after.Details().Amount.Amount().String() != "-99.99" {
		t.Errorf("tx-010 is %s at %s, want %s at -99.99", after.ID(), after.Details().Amount.Amount(), before.ID())
	}
	if r := s.Results().Transactions; r != (datasync.TransactionResults{Modified: 1}) {
		t.Errorf("results %+v, want 1 modified", r)
	}
	w.wantTheFakesData(t)
}

func TestARemovalAppearsInTheDeltaFeed(t *testing.T) {
	w := newPlaidWorld(t)
	w.sync(t, w.job)
	seen := w.feed(t)
	removed := w.bank(t)["tx-011"]
	w.item.Remove("tx-011")
	w.sync(t, w.manual(t, w.p))
	changes, err := w.finance.Changes(t.Context(), w.user, seen[len(seen)-1].Position, 100)
	if err != nil || len(changes) != 1 || changes[0].Type != financeapp.ChangeRemoved || changes[0].Transaction.ID() != removed.ID() {
		t.Errorf("the feed: %+v (%v), want tx-011 removed", changes, err)
	}
	w.wantTheFakesData(t)
}

// Every page delivered again (the stored resume state rewound to before the
// first loop, as a lost commit would leave it) changes nothing: no
// transaction added, modified or removed, no entry in the feed.
func TestADuplicatePageDeliveryChangesNothing(t *testing.T) {
	w := newPlaidWorld(t)
	w.item.SetPageSize(5)
	w.sync(t, w.job)
	before, seen := w.bank(t), w.feed(t)
	stored, err := w.finance.TransactionResume(t.Context(), w.p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.finance.StoreTransactionPage(t.Context(), w.p.ID(), financeapp.TransactionPageWrite{From: stored}); err != nil {
		t.Fatal(err)
	}
	s := w.sync(t, w.manual(t, w.p))
	if r := s.Results().Transactions; r != (datasync.TransactionResults{}) {
		t.Errorf("results of the re-delivered pages %+v, want nothing", r)
	}
	if feed := w.feed(t); len(feed) != len(seen) || feed[len(feed)-1].Position != seen[len(seen)-1].Position {
		t.Errorf("the feed grew from %d to %d entries", len(seen), len(feed))
	}
	after := w.bank(t)
	for id, tr := range before {
		if after[id] == nil || after[id].ID() != tr.ID() || after[id].Version() != tr.Version() {
			t.Errorf("%s changed: %+v -> %+v", id, tr, after[id])
		}
	}
}

func TestItemLoginRequiredMeansReauthorization(t *testing.T) {
	w := newPlaidWorld(t)
	w.sync(t, w.job)
	w.item.Fail("ITEM_LOGIN_REQUIRED")
	s := w.run(t, w.manual(t, w.p))
	if s.Status() != datasync.StatusFailed || len(s.Errors()) != 1 || s.Errors()[0].Code != datasyncapp.CodeReauthorizationRequired {
		t.Fatalf("sync %v with %+v, want failed with reauthorization_required", s.Status(), s.Errors())
	}
	stored, err := w.providers.ProviderByID(t.Context(), w.p.ID())
	if err != nil || stored.Status() != provider.StatusReauthorizationRequired {
		t.Errorf("provider status %v (%v), want reauthorization_required", stored.Status(), err)
	}
	w.clock.Advance(3 * interval)
	if due, err := w.store.DueProviders(t.Context(), w.clock.Now(), 10); err != nil || len(due) != 0 {
		t.Errorf("due providers %v (%v), want none: the schedule is paused", due, err)
	}

	// The user runs Link in update mode; the grant is restored with the same
	// access token, and its sync succeeds.
	begun, err := w.connector.Begin(t.Context(), providersapp.BeginRequest{State: "state", UserID: w.user, Current: w.tokens})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.fake.FinishLink(begun.LinkToken); err != nil {
		t.Fatal(err)
	}
	w.sync(t, w.grant(t, w.p, w.tokens))
	w.wantTheFakesData(t)
}

func TestRateLimitIsRetryAfter(t *testing.T) {
	w := newPlaidWorld(t)
	w.item.RateLimit(1, "17")
	var ra *jobs.RetryAfter
	if err := w.engine.Run(t.Context(), w.job); !errors.As(err, &ra) || ra.Delay != 17*time.Second {
		t.Fatalf("Run = %v, want the job postponed by Retry-After's 17s", err)
	}
	if s := w.harness.sync(t, w.job.SyncID); s.Status() != datasync.StatusRunning {
		t.Fatalf("the postponed sync is %v, want running", s.Status())
	}
	w.sync(t, w.job) // after the wait, the same job finishes it
	w.wantTheFakesData(t)
}

// The brokerage's positions are stored with Plaid's security master, the
// money-market sweep and the CUR:USD cash marked cash-equivalent: Plaid's
// balance of the account (8301.75) already counts them, as the sum of the
// positions shows, so a total that adds cash must not add them again.
func TestPlaidHoldingsAreStoredWithCashEquivalentsMarkedOnce(t *testing.T) {
	w := newPlaidWorld(t)
	s := w.sync(t, w.job)
	brokerage := w.accounts(t, w.p)[plaidfake.AccountBrokerage]
	held := w.finance.Holdings(brokerage.ID())
	if len(held) != 4 || s.Results().Holdings.Added != 4 {
		t.Fatalf("%d holdings stored, %d counted added; want the fake's 4", len(held), s.Results().Holdings.Added)
	}
	cash := map[string]bool{}
	for _, sec := range w.finance.Securities(w.p.ID()) {
		cash[sec.Details().Symbol] = sec.Details().CashEquivalent
	}
	if !cash["SWVXX"] || !cash["CUR:USD"] || cash["AAPL"] || cash["VTI"] || len(cash) != 4 {
		t.Errorf("cash-equivalent marks %v, want SWVXX and CUR:USD only", cash)
	}
	total := usd(t, "0")
	for _, h := range held {
		total, _ = total.Add(h.Details().MarketValue)
	}
	history, err := w.finance.Balances(t.Context(), balanceQuery(brokerage))
	if err != nil || len(history) != 1 || !history[0].Current().Equal(total) {
		t.Errorf("balance %v (%v), want the positions' total %v: the cash counted once", history, err, total)
	}
}
