// Package financecontract is the contract test suite of the finance
// application's Writes and Reads ports. The in-memory fake and the SQL adapter
// on SQLite and Postgres run the same suite, so a use-case test that passes
// against the fake means the same against the database.
package financecontract

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsapp "github.com/dashtam/dashtam/application/events"
	financeapp "github.com/dashtam/dashtam/application/finance"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/finance"
)

// Store is the implementation under test: both ports, on one store.
type Store interface {
	financeapp.Writes
	financeapp.Reads
}

// Harness is one store under test, the provider store its accounts belong to,
// and the means to create those providers' users.
type Harness struct {
	Store Store
	// Providers stores the providers: the same database, or, for the
	// in-memory fake, the provider store the fake was built on.
	Providers providersapp.Repository
	// NewUser stores a new user and returns its id; nil means any fresh id
	// will do, as for the in-memory fake.
	NewUser func(ctx context.Context) (uuid.UUID, error)
	// Events reads the event log the store writes to.
	Events eventsapp.Log
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
	{"every account field round-trips, in UTC to the microsecond, by id and in lists", everyAccountFieldRoundTrips},
	{"every transaction field round-trips, in UTC to the microsecond, tombstones included", everyTransactionFieldRoundTrips},
	{"amounts of every scale round-trip text-exactly, and amount_min/amount_max filter as Decimal.Cmp (property)", amountsRoundTripAndFilterExactly},
	{"the same batch twice stores each key once and counts nothing the second time", sameBatchTwiceIsIdempotent},
	{"a page re-delivered after later pages adds no duplicate", redeliveredPageAddsNoDuplicate},
	{"two concurrent batches with the same keys store one row per key, each added once", concurrentBatchesStoreOneRowPerKey},
	{"accounts upsert by key; an update and a close are counted", accountsUpsertByKey},
	{"an account batch and a transaction batch of one provider at once both succeed", accountAndTransactionBatchesOfOneProviderBothSucceed},
	{"posting a pending transaction keeps its id, under a new institution id too; unlinked, never two live", postingKeepsTheID},
	{"a removed pending transaction posted by its linked record is live again under its id, modified in the feed", aRemovedPendingPostedByItsLinkIsLiveAgain},
	{"a removal is gone from lists, kept by id, and in the changes feed as removed", removalIsATombstoneInTheFeed},
	{"the changes feed: positions strictly increase across batches, each change once at its latest position, added vs modified by position", changesFeedOrdersEveryWrite},
	{"a client mirroring the feed while batches commit concurrently misses no transaction", feedMirrorMissesNothingUnderConcurrentBatches},
	{"keyset pages under -date,-id walk every live transaction exactly once", keysetPagesWalkEveryRowOnce},
	{"transaction filters: account, provider, status, dates, kind, search; only the user's", transactionFiltersNarrow},
	{"account filters, counts and pages (keyset and offset): provider, type, status, search; only the user's", accountFiltersAndPages},
	{"balance snapshots round-trip exactly, newest first, paged by Before and bounded by From/To", balanceHistoryRoundTrips},
	{"current balances of many accounts in one read are each one's newest; an account without one is absent", currentBalancesAreEachAccountsNewest},
	{"the balance history only grows forward: SnapshotDue's no writes nothing, stale or foreign snapshots are refused", balanceHistoryOnlyGrowsForward},
	{"deleting the provider deletes its balances; an unknown account's balance is ErrNotFound", balancesGoWithTheirProvider},
	{"fn's error, or a record of another account, stores nothing of the batch", failedBatchStoresNothing},
	{"a new record under a stored key is ErrKeyTaken and stores nothing", newRecordUnderStoredKeyIsRefused},
	{"deleting the provider deletes its accounts and transactions", deletingTheProviderDeletesItsData},
	{"unknown ids are ErrNotFound, and closures are not called", unknownIDsAreNotFound},
	{"a page that changes something writes one transactions.changed (counts, feed position), in its commit; none otherwise", pagesWriteTransactionsChanged},
	{"a balance whose amounts moved writes account.balance_changed; the same amounts, a stale snapshot or fn's error write none", balancesWriteBalanceChanged},
	{"a page and its resume state commit together: a failing last batch or a foreign account stores neither rows nor resume", pageAndResumeCommitTogether},
	{"a page's batches over several accounts, one of them twice, store each row once, the second batch seeing the first's", aPageOverSeveralAccountsStoresEachRowOnce},
	{"each committed page replaces its provider's resume state, an empty page too", resumeIsReplacedByEachPage},
	{"a page fetched from a resume state no longer stored is ErrStalePage and stores nothing", aStalePageStoresNothing},
	{"securities upsert by identity: the same ones again keep their ids, a rename updates, each provider has its own", securitiesUpsertIdempotently},
	{"a complete holdings answer replaces the snapshot: added, updated, confirmed uncounted, missing or zero removed", holdingsSnapshotReplace},
	{"holding and security fields round-trip exactly: 8-decimal quantities and prices, shorts, unset values", holdingMoneyRoundTripsExactly},
	{"holding filters and pages: account, provider, security type, symbol; only the user's", holdingFiltersAndPages},
	{"fn's error, a foreign holding or one security twice stores nothing of the snapshot", failedHoldingsUpdateStoresNothing},
	{"deleting the provider deletes its securities, holdings and resume state", deletingTheProviderDeletesItsHoldings},
}

// storedTime is a time as storage keeps it: UTC, to the microsecond.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

var local = time.FixedZone("UTC+5", 5*3600)

func everyAccountFieldRoundTrips(t *testing.T, h Harness) {
	p := newProvider(t, h)
	created := time.Date(2030, time.March, 4, 10, 6, 7, 123456789, local)
	want := finance.RehydrateAccount(finance.AccountSnapshot{ID: newID(t), ProviderID: p.ID(), Status: finance.AccountClosed,
		Version: 7, CreatedAt: created, UpdatedAt: created.Add(time.Hour + time.Nanosecond),
		Details: finance.AccountDetails{InstitutionAccountID: "acc-hash-1", Name: "Everyday Checking",
			OfficialName: "Plaid Gold Standard 0% Interest Checking", Mask: "0042", Type: finance.AccountCredit,
			Subtype: "credit card", Currency: mustCurrency("EUR")}})
	if _, err := h.Store.UpdateAccounts(t.Context(), p.ID(), func([]*finance.Account) ([]*finance.Account, error) {
		return []*finance.Account{want}, nil
	}); err != nil {
		t.Fatalf("UpdateAccounts: %v", err)
	}
	got, err := h.Store.AccountByID(t.Context(), want.ID())
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	assertAccount(t, got, want)
	listed, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: p.UserID(), Limit: 10})
	if err != nil || len(listed) != 1 {
		t.Fatalf("ListAccounts = %d accounts, %v; want 1", len(listed), err)
	}
	assertAccount(t, listed[0], want)
}

func assertAccount(t tester, got, want *finance.Account) {
	t.Helper()
	g, w := got.Snapshot(), want.Snapshot()
	if g.CreatedAt.Location() != time.UTC || g.UpdatedAt.Location() != time.UTC ||
		!g.CreatedAt.Equal(storedTime(w.CreatedAt)) || !g.UpdatedAt.Equal(storedTime(w.UpdatedAt)) {
		t.Errorf("account times %v, %v; want %v, %v in UTC", g.CreatedAt, g.UpdatedAt, storedTime(w.CreatedAt), storedTime(w.UpdatedAt))
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Errorf("account read back as\n%+v\nwant\n%+v", g, w)
	}
}

func everyTransactionFieldRoundTrips(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	created := time.Date(2030, time.March, 4, 10, 6, 7, 123456789, local)
	buy := finance.TransactionDetails{InstitutionTransactionID: "activity-77", Amount: mustAmount(t, "-1234.5000"),
		Date: mustDate(t, "2030-02-28"), AuthorizedDate: mustDate(t, "2030-02-27"), PostedDate: mustDate(t, "2030-03-01"),
		Description: "Bought VTI", MerchantName: "Schwab", Kind: finance.KindBuy,
		Category: finance.Category{Primary: "INVESTMENT", Detailed: "INVESTMENT_BUY"},
		Investment: finance.Investment{SecurityID: newID(t), Quantity: mustQuantity(t, "-0.00000010"),
			Price: mustPrice(t, "123.45678900"), Fees: mustAmount(t, "0.10")}}
	posted := finance.RehydrateTransaction(finance.TransactionSnapshot{ID: newID(t), AccountID: a.ID(), ProviderID: p.ID(),
		Status: finance.TransactionPosted, Details: buy, Version: 3, CreatedAt: created, UpdatedAt: created.Add(time.Nanosecond + time.Minute)})
	plain := purchase(t, "plain-1", "0.00", "2030-01-01")
	removed := finance.RehydrateTransaction(finance.TransactionSnapshot{ID: newID(t), AccountID: a.ID(), ProviderID: p.ID(),
		Status: finance.TransactionPending, Details: plain, RemovedAt: created.Add(2 * time.Hour), Version: 2,
		CreatedAt: created, UpdatedAt: created.Add(2 * time.Hour)})
	if _, err := updateTransactions(t.Context(), h, a, nil, func([]*finance.Transaction) ([]*finance.Transaction, error) {
		return []*finance.Transaction{posted, removed}, nil
	}); err != nil {
		t.Fatalf("StoreTransactionPage: %v", err)
	}
	for _, want := range []*finance.Transaction{posted, removed} {
		got, err := h.Store.TransactionByID(t.Context(), want.ID())
		if err != nil {
			t.Fatalf("TransactionByID: %v", err)
		}
		assertTransaction(t, got, want)
	}
	listed := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(listed) != 1 {
		t.Fatalf("ListTransactions = %d transactions, want the live one", len(listed))
	}
	assertTransaction(t, listed[0], posted)
}

func assertTransaction(t tester, got, want *finance.Transaction) {
	t.Helper()
	g, w := got.Snapshot(), want.Snapshot()
	for _, pair := range [][2]time.Time{{g.CreatedAt, w.CreatedAt}, {g.UpdatedAt, w.UpdatedAt}, {g.RemovedAt, w.RemovedAt}} {
		if !pair[0].Equal(storedTime(pair[1])) || !pair[0].IsZero() && pair[0].Location() != time.UTC {
			t.Errorf("transaction time %v, want %v in UTC", pair[0], storedTime(pair[1]))
		}
	}
	g.CreatedAt, g.UpdatedAt, g.RemovedAt = time.Time{}, time.Time{}, time.Time{}
	w.CreatedAt, w.UpdatedAt, w.RemovedAt = time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Errorf("transaction read back as\n%+v\nwant\n%+v", g, w)
	}
}

func list(t tester, h Harness, q financeapp.TransactionQuery) []*finance.Transaction {
	t.Helper()
	got, err := h.Store.ListTransactions(t.Context(), q)
	if err != nil {
		t.Fatalf("ListTransactions: %v", err)
	}
	return got
}

func idsOf(ts []*finance.Transaction) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ts))
	for _, tr := range ts {
		out = append(out, tr.ID())
	}
	return out
}

func sameBatchTwiceIsIdempotent(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	page := []finance.TransactionDetails{purchase(t, "t1", "-1.00", "2030-01-01"), purchase(t, "t2", "-2.00", "2030-01-02")}
	if c := store(t, h, a, finance.TransactionPosted, page...); c != (financeapp.TransactionCounts{Added: 2}) {
		t.Errorf("first batch counts %+v, want 2 added", c)
	}
	if c := store(t, h, a, finance.TransactionPosted, page...); c != (financeapp.TransactionCounts{}) {
		t.Errorf("the same batch again counts %+v, want nothing", c)
	}
	if got := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10}); len(got) != 2 {
		t.Errorf("%d transactions stored, want 2", len(got))
	}
}

func redeliveredPageAddsNoDuplicate(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	first := []finance.TransactionDetails{purchase(t, "t1", "-1.00", "2030-01-01"), purchase(t, "t2", "-2.00", "2030-01-02")}
	second := []finance.TransactionDetails{purchase(t, "t3", "-3.00", "2030-01-03")}
	store(t, h, a, finance.TransactionPosted, first...)
	store(t, h, a, finance.TransactionPosted, second...)
	modified := []finance.TransactionDetails{first[0], purchase(t, "t2", "-2.50", "2030-01-02")}
	if c := store(t, h, a, finance.TransactionPosted, modified...); c != (financeapp.TransactionCounts{Modified: 1}) {
		t.Errorf("the re-delivered page with one change counts %+v, want 1 modified", c)
	}
	got := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(got) != 3 {
		t.Fatalf("%d transactions stored, want 3", len(got))
	}
	if amount := got[1].Details().Amount.Amount().String(); amount != "-2.50" {
		t.Errorf("t2's amount = %s, want the modified -2.50", amount)
	}
}

func concurrentBatchesStoreOneRowPerKey(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	var page []finance.TransactionDetails
	for i := range 20 {
		page = append(page, purchase(t, "t"+string(rune('a'+i)), "-1.00", "2030-01-01"))
	}
	const syncs = 4
	counts := make([]financeapp.TransactionCounts, syncs)
	errs := make([]error, syncs)
	// Each closure waits, for a while, until every sync has loaded what is
	// stored: writers the store did not serialize would all find the keys
	// missing and all insert them. Serialized, each waits out the timeout.
	var loaded sync.WaitGroup
	loaded.Add(syncs)
	allLoaded := make(chan struct{})
	go func() { loaded.Wait(); close(allLoaded) }()
	var wg sync.WaitGroup
	for i := range syncs {
		wg.Go(func() {
			write := upsert(t, a, finance.TransactionPosted, page...)
			counts[i], errs[i] = updateTransactions(context.Background(), h, a, keysOf(page),
				func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
					loaded.Done()
					select {
					case <-allLoaded:
					case <-time.After(100 * time.Millisecond):
					}
					return write(stored)
				})
		})
	}
	wg.Wait()
	var added int
	for i := range syncs {
		if errs[i] != nil {
			t.Errorf("sync %d: %v", i, errs[i])
		}
		added += counts[i].Added
	}
	if added != len(page) {
		t.Errorf("%d added in all, want each of the %d keys added once", added, len(page))
	}
	if got := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 100}); len(got) != len(page) {
		t.Errorf("%d rows stored, want one per key (%d)", len(got), len(page))
	}
}

func accountsUpsertByKey(t *testing.T, h Harness) {
	p := newProvider(t, h)
	// What the sync engine does with the institution's list of accounts: a
	// key stored is updated, a new one added, a stored one missing closed.
	apply := func(details ...finance.AccountDetails) financeapp.AccountCounts {
		t.Helper()
		c, err := h.Store.UpdateAccounts(t.Context(), p.ID(), func(stored []*finance.Account) ([]*finance.Account, error) {
			byKey := map[string]*finance.Account{}
			for _, a := range stored {
				byKey[a.InstitutionAccountID()] = a
			}
			var out []*finance.Account
			for _, d := range details {
				if a, ok := byKey[d.InstitutionAccountID]; ok {
					delete(byKey, d.InstitutionAccountID)
					if _, err := a.Update(d, base.Add(time.Hour)); err != nil {
						return nil, err
					}
					out = append(out, a)
					continue
				}
				a, err := finance.NewAccount(newID(t), p.ID(), d, base)
				if err != nil {
					return nil, err
				}
				out = append(out, a)
			}
			for _, a := range byKey {
				a.Close(base.Add(time.Hour))
				out = append(out, a)
			}
			return out, nil
		})
		if err != nil {
			t.Fatalf("UpdateAccounts: %v", err)
		}
		return c
	}
	checking, savings := accountDetails("chk", "Checking"), accountDetails("sav", "Savings")
	if c := apply(checking, savings); c != (financeapp.AccountCounts{Added: 2}) {
		t.Errorf("first sync counts %+v, want 2 added", c)
	}
	if c := apply(checking, savings); c != (financeapp.AccountCounts{}) {
		t.Errorf("the same accounts again count %+v, want nothing", c)
	}
	renamed := accountDetails("chk", "Main Checking")
	if c := apply(renamed); c != (financeapp.AccountCounts{Updated: 1, Closed: 1}) {
		t.Errorf("a rename and a missing account count %+v, want 1 updated, 1 closed", c)
	}
	got, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: p.UserID(), Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("ListAccounts = %d, %v; want the 2 accounts, closed ones included", len(got), err)
	}
	for _, a := range got {
		switch a.InstitutionAccountID() {
		case "chk":
			if a.Name() != "Main Checking" || a.Status() != finance.AccountOpen || a.Version() != 2 {
				t.Errorf("checking = %q %s v%d, want renamed, open, v2", a.Name(), a.Status(), a.Version())
			}
		case "sav":
			if a.Status() != finance.AccountClosed {
				t.Errorf("savings is %s, want closed", a.Status())
			}
		}
	}
}
