package financecontract

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/provider"
)

// byKey returns what fn should do with the stored transaction of one key.
func byKey(key string, change func(*finance.Transaction) error) func([]*finance.Transaction) ([]*finance.Transaction, error) {
	return func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
		for _, s := range stored {
			if s.Details().InstitutionTransactionID == key {
				return []*finance.Transaction{s}, change(s)
			}
		}
		return nil, errors.New("the stored transaction was not loaded: " + key)
	}
}

func mustTransaction(t *testing.T, h Harness, tr *finance.Transaction) *finance.Transaction {
	t.Helper()
	got, err := h.Store.TransactionByID(t.Context(), tr.ID())
	if err != nil {
		t.Fatalf("TransactionByID: %v", err)
	}
	return got
}

func postingKeepsTheID(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	store(t, h, a, finance.TransactionPending, purchase(t, "pending-1", "-10.00", "2030-01-01"),
		purchase(t, "pending-2", "-20.00", "2030-01-01"))
	pending := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})

	// Linked (Plaid's pending_transaction_id): the posted record, under its
	// own institution id, posts the pending one.
	posted := purchase(t, "posted-1", "-12.00", "2030-01-02")
	c, err := updateTransactions(t.Context(), h, a, []string{"posted-1", "pending-1"},
		byKey("pending-1", func(s *finance.Transaction) error { return s.Post(posted, base.Add(time.Hour)) }))
	if err != nil || c != (financeapp.TransactionCounts{Modified: 1}) {
		t.Fatalf("posting: counts %+v, %v; want 1 modified", c, err)
	}
	// Unlinked: the pending one is removed and the posted one added, in one batch.
	c, err = updateTransactions(t.Context(), h, a, []string{"pending-2", "posted-2"},
		func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
			if err := stored[0].Remove(base.Add(time.Hour)); err != nil {
				return nil, err
			}
			n, err := finance.NewTransaction(newID(t), a.ID(), p.ID(), finance.TransactionPosted,
				purchase(t, "posted-2", "-20.00", "2030-01-02"), base.Add(time.Hour))
			return []*finance.Transaction{stored[0], n}, err
		})
	if err != nil || c != (financeapp.TransactionCounts{Added: 1, Removed: 1}) {
		t.Fatalf("unlinked posting: counts %+v, %v; want 1 added, 1 removed", c, err)
	}

	live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(live) != 2 {
		t.Fatalf("%d live transactions, want 2: never a pending and its posted form both", len(live))
	}
	for _, tr := range live {
		if tr.Status() != finance.TransactionPosted {
			t.Errorf("%s is %s, want posted", tr.Details().InstitutionTransactionID, tr.Status())
		}
	}
	var linked *finance.Transaction
	for _, pd := range pending {
		if pd.Details().InstitutionTransactionID == "pending-1" {
			linked = mustTransaction(t, h, pd)
		}
	}
	if linked == nil || linked.Status() != finance.TransactionPosted || linked.Details().InstitutionTransactionID != "posted-1" ||
		linked.Details().Amount.Amount().String() != "-12.00" {
		t.Errorf("the linked pending transaction's id does not hold the posted one: %+v", linked)
	}
	if c := store(t, h, a, finance.TransactionPosted, posted); c != (financeapp.TransactionCounts{}) {
		t.Errorf("the posted record delivered again counts %+v, want nothing (its key is the posted row's now)", c)
	}
}

// aRemovedPendingPostedByItsLinkIsLiveAgain: Plaid sent the pending id in
// removed on one page and the posted record naming it on a later one. The
// tombstone is posted in place (finance Transaction.PostLinked): one row, its
// id kept, live under the posted institution id, counted modified, and in the
// feed as modified to a client that saw it, not as removed.
func aRemovedPendingPostedByItsLinkIsLiveAgain(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	store(t, h, a, finance.TransactionPending, purchase(t, "pending-1", "-10.00", "2030-01-01"))
	seen := changes(t, h, p.UserID(), 0)
	at := seen[len(seen)-1].Position
	c, err := updateTransactions(t.Context(), h, a, []string{"pending-1"},
		byKey("pending-1", func(s *finance.Transaction) error { return s.Remove(base.Add(time.Hour)) }))
	if err != nil || c != (financeapp.TransactionCounts{Removed: 1}) {
		t.Fatalf("removal: counts %+v, %v; want 1 removed", c, err)
	}
	posted := purchase(t, "posted-1", "-12.00", "2030-01-02")
	c, err = updateTransactions(t.Context(), h, a, []string{"posted-1", "pending-1"},
		byKey("pending-1", func(s *finance.Transaction) error { return s.PostLinked(posted, base.Add(2*time.Hour)) }))
	if err != nil || c != (financeapp.TransactionCounts{Modified: 1}) {
		t.Fatalf("the linked posting of the tombstone: counts %+v, %v; want 1 modified", c, err)
	}
	live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(live) != 1 || live[0].ID() != seen[0].Transaction.ID() || live[0].Status() != finance.TransactionPosted ||
		live[0].Details().InstitutionTransactionID != "posted-1" || live[0].Details().Amount.Amount().String() != "-12.00" {
		t.Fatalf("live %v, want the pending one's id alone, posted as posted-1 at -12.00", idsOf(live))
	}
	feed := changes(t, h, p.UserID(), at)
	if len(feed) != 1 || feed[0].Type != financeapp.ChangeModified || feed[0].Transaction.Removed() {
		t.Errorf("feed after the client saw it pending: %+v, want it once, modified", feed)
	}
	if c := store(t, h, a, finance.TransactionPosted, posted); c != (financeapp.TransactionCounts{}) {
		t.Errorf("the posted record delivered again counts %+v, want nothing", c)
	}
}

func removalIsATombstoneInTheFeed(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	store(t, h, a, finance.TransactionPosted, purchase(t, "t1", "-1.00", "2030-01-01"), purchase(t, "t2", "-2.00", "2030-01-01"))
	before := changes(t, h, p.UserID(), 0)
	at := before[len(before)-1].Position
	c, err := updateTransactions(t.Context(), h, a, []string{"t1"},
		byKey("t1", func(s *finance.Transaction) error { return s.Remove(base.Add(time.Hour)) }))
	if err != nil || c != (financeapp.TransactionCounts{Removed: 1}) {
		t.Fatalf("removal: counts %+v, %v; want 1 removed", c, err)
	}
	live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(live) != 1 || live[0].Details().InstitutionTransactionID != "t2" {
		t.Errorf("live transactions %v, want t2 alone", idsOf(live))
	}
	feed := changes(t, h, p.UserID(), at)
	if len(feed) != 1 || feed[0].Type != financeapp.ChangeRemoved || feed[0].Transaction.Details().InstitutionTransactionID != "t1" ||
		!feed[0].Transaction.Removed() {
		t.Fatalf("feed after the removal: %+v, want t1 removed", feed)
	}
	if got := mustTransaction(t, h, feed[0].Transaction); !got.Removed() {
		t.Errorf("TransactionByID of the tombstone: not removed")
	}
}

func changes(t *testing.T, h Harness, user uuid.UUID, after int64) []financeapp.Change {
	t.Helper()
	got, err := h.Store.Changes(t.Context(), user, after, 100)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	return got
}

func changesFeedOrdersEveryWrite(t *testing.T, h Harness) {
	p := newProvider(t, h)
	checking, savings := newAccount(t, h, p, "chk"), newAccount(t, h, p, "sav")
	other := newAccount(t, h, newProvider(t, h), "other")
	store(t, h, checking, finance.TransactionPosted, purchase(t, "c1", "-1.00", "2030-01-01"), purchase(t, "c2", "-2.00", "2030-01-01"))
	store(t, h, other, finance.TransactionPosted, purchase(t, "o1", "-1.00", "2030-01-01"))
	store(t, h, savings, finance.TransactionPosted, purchase(t, "s1", "-1.00", "2030-01-01"))
	all := changes(t, h, p.UserID(), 0)
	if len(all) != 3 {
		t.Fatalf("%d changes from the beginning, want the user's 3 (not another user's)", len(all))
	}
	for i, c := range all {
		if c.Type != financeapp.ChangeAdded || i > 0 && c.Position <= all[i-1].Position {
			t.Errorf("change %d: %s at %d, want added at a position above the one before", i, c.Type, c.Position)
		}
	}
	cursor := all[len(all)-1].Position
	store(t, h, checking, finance.TransactionPosted, purchase(t, "c1", "-1.50", "2030-01-01"))
	store(t, h, checking, finance.TransactionPosted, purchase(t, "c1", "-1.75", "2030-01-01"), purchase(t, "c3", "-3.00", "2030-01-01"))
	next := changes(t, h, p.UserID(), cursor)
	if len(next) != 2 || next[0].Position <= cursor || next[1].Position <= next[0].Position {
		t.Fatalf("changes after %d: %+v, want c1 once and c3, above it, in order", cursor, next)
	}
	got := map[string]financeapp.Change{}
	for _, c := range next {
		got[c.Transaction.Details().InstitutionTransactionID] = c
	}
	if c := got["c1"]; c.Type != financeapp.ChangeModified || c.Transaction.Details().Amount.Amount().String() != "-1.75" {
		t.Errorf("c1 in the feed: %s %v, want modified, at its latest amount -1.75", c.Type, c.Transaction)
	}
	if c := got["c3"]; c.Type != financeapp.ChangeAdded {
		t.Errorf("c3 in the feed: %s, want added", c.Type)
	}
	if again := changes(t, h, p.UserID(), next[1].Position); len(again) != 0 {
		t.Errorf("%d changes after the last position, want none", len(again))
	}
	if limited, err := h.Store.Changes(t.Context(), p.UserID(), 0, 2); err != nil || len(limited) != 2 || limited[1].Position >= next[0].Position {
		t.Errorf("Changes with limit 2 = %d, %v; want the first 2", len(limited), err)
	}
}

func failedBatchStoresNothing(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	other := newAccount(t, h, p, "acc-2")
	store(t, h, a, finance.TransactionPosted, purchase(t, "t1", "-1.00", "2030-01-01"))
	_, err := updateTransactions(t.Context(), h, a, []string{"t1", "t2"}, func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
		n, _ := upsert(t, a, finance.TransactionPosted, purchase(t, "t2", "-2.00", "2030-01-02"))(nil)
		_, _ = stored[0].Modify(purchase(t, "t1", "-9.00", "2030-01-01"), base.Add(time.Hour))
		return append(n, stored[0]), errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("fn's error: got %v, want it returned as it is", err)
	}
	_, err = updateTransactions(t.Context(), h, a, []string{"t1", "x1"}, func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
		_, _ = stored[0].Modify(purchase(t, "t1", "-9.00", "2030-01-01"), base.Add(time.Hour))
		foreign, _ := upsert(t, other, finance.TransactionPosted, purchase(t, "x1", "-2.00", "2030-01-02"))(nil)
		return append([]*finance.Transaction{stored[0]}, foreign...), nil
	})
	if !errors.Is(err, financeapp.ErrForeignRecord) {
		t.Errorf("a transaction of another account: got %v, want ErrForeignRecord", err)
	}
	live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})
	if len(live) != 1 || live[0].Details().Amount.Amount().String() != "-1.00" || live[0].Version() != 1 {
		t.Errorf("after the failed batches: %d transactions, want t1 alone, unchanged", len(live))
	}
	if feed := changes(t, h, p.UserID(), 0); len(feed) != 1 {
		t.Errorf("%d changes in the feed, want t1's alone", len(feed))
	}
	_, err = h.Store.UpdateAccounts(t.Context(), p.ID(), func(stored []*finance.Account) ([]*finance.Account, error) {
		stored[0].Close(base.Add(time.Hour))
		return stored, errBoom
	})
	if got, _ := h.Store.AccountByID(t.Context(), stored0(t, h, p.UserID())); !errors.Is(err, errBoom) || got.Status() != finance.AccountOpen {
		t.Errorf("UpdateAccounts with fn's error: %v, and the account is %s; want errBoom and open", err, got.Status())
	}
}

// stored0 is the id of the user's first account.
func stored0(t *testing.T, h Harness, user uuid.UUID) uuid.UUID {
	t.Helper()
	got, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: user, Limit: 1})
	if err != nil || len(got) == 0 {
		t.Fatalf("ListAccounts: %d, %v", len(got), err)
	}
	return got[0].ID()
}

func newRecordUnderStoredKeyIsRefused(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	store(t, h, a, finance.TransactionPosted, purchase(t, "t1", "-1.00", "2030-01-01"))
	// fn did not load t1, so it adds it again: the key decides.
	_, err := updateTransactions(t.Context(), h, a, nil,
		upsert(t, a, finance.TransactionPosted, purchase(t, "t1", "-1.00", "2030-01-01"), purchase(t, "t2", "-2.00", "2030-01-01")))
	if !errors.Is(err, financeapp.ErrKeyTaken) || !errors.Is(err, domain.ErrConflict) {
		t.Errorf("a second t1: got %v, want ErrKeyTaken (a conflict)", err)
	}
	if live := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10}); len(live) != 1 {
		t.Errorf("%d transactions stored, want t1 alone", len(live))
	}
	dup, err := finance.NewAccount(newID(t), p.ID(), accountDetails("acc-1", "Again"), base)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Store.UpdateAccounts(t.Context(), p.ID(), func([]*finance.Account) ([]*finance.Account, error) {
		return []*finance.Account{dup}, nil
	})
	if !errors.Is(err, financeapp.ErrKeyTaken) {
		t.Errorf("a second acc-1: got %v, want ErrKeyTaken", err)
	}
}

func deletingTheProviderDeletesItsData(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	store(t, h, a, finance.TransactionPosted, purchase(t, "t1", "-1.00", "2030-01-01"))
	tr := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10})[0]
	kept := newAccount(t, h, newProviderOf(t, h, p.UserID()), "acc-kept")
	if err := h.Providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatalf("DeleteProvider: %v", err)
	}
	if _, err := h.Store.AccountByID(t.Context(), a.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AccountByID after deleting its provider: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.TransactionByID(t.Context(), tr.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("TransactionByID after deleting its provider: got %v, want ErrNotFound", err)
	}
	if got := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10}); len(got) != 0 {
		t.Errorf("%d transactions listed after deleting their provider", len(got))
	}
	if feed := changes(t, h, p.UserID(), 0); len(feed) != 0 {
		t.Errorf("%d changes in the feed after deleting their provider", len(feed))
	}
	accounts, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: p.UserID(), Limit: 10})
	if err != nil || len(accounts) != 1 || accounts[0].ID() != kept.ID() {
		t.Errorf("accounts after the delete: %d, %v; want only the other provider's", len(accounts), err)
	}
}

func unknownIDsAreNotFound(t *testing.T, h Harness) {
	if _, err := h.Store.AccountByID(t.Context(), newID(t)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AccountByID: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.TransactionByID(t.Context(), newID(t)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("TransactionByID: got %v, want ErrNotFound", err)
	}
	_, err := h.Store.UpdateAccounts(t.Context(), newID(t), func([]*finance.Account) ([]*finance.Account, error) {
		t.Error("UpdateAccounts called fn for an unknown provider")
		return nil, nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateAccounts: got %v, want ErrNotFound", err)
	}
	refuse := func([]*finance.Transaction) ([]*finance.Transaction, error) {
		t.Error("StoreTransactionPage called Apply for an unknown provider or account")
		return nil, nil
	}
	p := newProvider(t, h)
	for name, providerID := range map[string]uuid.UUID{"an unknown provider": newID(t), "an unknown account": p.ID()} {
		_, err = h.Store.StoreTransactionPage(t.Context(), providerID, financeapp.TransactionPageWrite{
			Batches: []financeapp.TransactionBatch{{AccountID: newID(t), InstitutionIDs: []string{"t1"}, Apply: refuse}},
			Resume:  []byte("resume"),
		})
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("StoreTransactionPage for %s: got %v, want ErrNotFound", name, err)
		}
	}
	_, err = h.Store.UpdateHoldings(t.Context(), newID(t), func([]*finance.Holding) ([]*finance.Holding, error) {
		t.Error("UpdateHoldings called fn for an unknown account")
		return nil, nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateHoldings: got %v, want ErrNotFound", err)
	}
	_, err = h.Store.SaveSecurities(t.Context(), newID(t), []finance.SecurityDetails{equity("AAPL", "US0378331005")})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SaveSecurities: got %v, want ErrNotFound", err)
	}
}

// A client mirroring the feed reads after the last position it applied while
// batches of several accounts commit concurrently; every transaction must
// reach it. Positions taken out of commit order (a later commit below a
// position the client already read past) would be skipped for good.
func feedMirrorMissesNothingUnderConcurrentBatches(t *testing.T, h Harness) {
	p := newProvider(t, h)
	const writers, batches, perBatch = 4, 6, 3
	var wg sync.WaitGroup
	for w := range writers {
		a := newAccount(t, h, p, fmt.Sprint("acc-", w))
		wg.Go(func() {
			for b := range batches {
				var page []finance.TransactionDetails
				for i := range perBatch {
					page = append(page, purchase(t, fmt.Sprint(b, "-", i), "-1.00", "2030-01-01"))
				}
				if _, err := updateTransactions(context.Background(), h, a, keysOf(page),
					upsert(t, a, finance.TransactionPosted, page...)); err != nil {
					t.Errorf("writer %d: %v", w, err)
				}
			}
		})
	}
	written := make(chan struct{})
	go func() { wg.Wait(); close(written) }()

	seen := map[uuid.UUID]bool{}
	var after int64
	read := func() int {
		page, err := h.Store.Changes(context.Background(), p.UserID(), after, 5)
		if err != nil {
			t.Fatalf("Changes: %v", err)
		}
		for _, c := range page {
			seen[c.Transaction.ID()] = true
			after = c.Position
		}
		return len(page)
	}
	for polling := true; polling; {
		select {
		case <-written:
			polling = false
		default:
			read()
		}
	}
	for read() > 0 {
	}
	if len(seen) != writers*batches*perBatch {
		t.Errorf("the mirror received %d transactions, want all %d", len(seen), writers*batches*perBatch)
	}
}

// The sync engine may write a provider's accounts while a batch of one of its
// transactions is in flight (a retried job overlapping a slow one): both must
// succeed, whatever each holds locked, rather than deadlock.
func accountAndTransactionBatchesOfOneProviderBothSucceed(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	var loaded sync.WaitGroup
	loaded.Add(2)
	bothLoaded := make(chan struct{})
	go func() { loaded.Wait(); close(bothLoaded) }()
	hold := func() {
		loaded.Done()
		select {
		case <-bothLoaded:
		case <-time.After(200 * time.Millisecond):
		}
	}
	var wg sync.WaitGroup
	var accountsErr, transactionsErr error
	wg.Go(func() {
		write := upsert(t, a, finance.TransactionPosted, purchase(t, "t1", "-1.00", "2030-01-01"))
		_, transactionsErr = updateTransactions(context.Background(), h, a, []string{"t1"},
			func(stored []*finance.Transaction) ([]*finance.Transaction, error) { hold(); return write(stored) })
	})
	wg.Go(func() {
		_, accountsErr = h.Store.UpdateAccounts(context.Background(), p.ID(), func(stored []*finance.Account) ([]*finance.Account, error) {
			hold()
			_, err := stored[0].Update(accountDetails("acc-1", "Renamed"), base.Add(time.Hour))
			return stored, err
		})
	})
	wg.Wait()
	if accountsErr != nil || transactionsErr != nil {
		t.Fatalf("UpdateAccounts: %v; StoreTransactionPage: %v; want both to succeed", accountsErr, transactionsErr)
	}
	if got := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 10}); len(got) != 1 {
		t.Errorf("%d transactions stored, want 1", len(got))
	}
}
