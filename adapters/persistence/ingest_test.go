package persistence_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// An initial sync's pages, stored one after another with their resume
// state: every new row is stored once and counted added, a page larger than
// one multi-row INSERT included, the rows take consecutive positions of the
// user's feed, and the resume state is the last page's. (How fast this is
// against a bare batched upsert is measured by make bench: docs/performance.md,
// "Initial sync and a million transactions".)
func TestInitialSyncPagesStoreEveryRowOnceWithConsecutivePositions(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st := persistence.NewFinanceStore(db)
			account := ingestAccount(t, db, st)
			sizes := []int{600, 600, 1}
			var n int
			for _, size := range sizes {
				n += size
			}
			rows := ingestTransactions(t, account, n)
			var resume []byte
			for i, start := 0, 0; i < len(sizes); start, i = start+sizes[i], i+1 {
				resume = fmt.Appendf(nil, "cursor-%d", i)
				c, err := storePage(t, st, account, rows[start:start+sizes[i]], resume)
				if err != nil || c != (financeapp.TransactionCounts{Added: sizes[i]}) {
					t.Fatalf("page %d: counts %+v, %v; want %d added", i, c, err, sizes[i])
				}
			}
			var got struct{ Rows, Positions, First, Last int64 }
			if err := db.Gorm.Raw(`SELECT count(*) AS rows, count(DISTINCT position) AS positions, min(position) AS first, max(position) AS last
				FROM transactions WHERE account_id = ?`, account.ID()).Scan(&got).Error; err != nil {
				t.Fatal(err)
			}
			if want := int64(n); got.Rows != want || got.Positions != want || got.First != 1 || got.Last != want {
				t.Errorf("stored %+v, want %d rows at positions 1 to %d", got, n, n)
			}
			if r, err := st.TransactionResume(t.Context(), account.ProviderID()); err != nil || string(r) != string(resume) {
				t.Errorf("resume %q, %v; want %q", r, err, resume)
			}
		})
	}
}

// storePage stores page, new transactions of a, as one page of an initial
// sync.
func storePage(t *testing.T, st *persistence.FinanceStore, a *finance.Account, page []*finance.Transaction, resume []byte,
) (financeapp.TransactionCounts, error) {
	keys := make([]string, len(page))
	for j, tr := range page {
		keys[j] = tr.Details().InstitutionTransactionID
	}
	from, err := st.TransactionResume(t.Context(), a.ProviderID())
	if err != nil {
		return financeapp.TransactionCounts{}, err
	}
	return st.StoreTransactionPage(t.Context(), a.ProviderID(), financeapp.TransactionPageWrite{
		From: from,
		Batches: []financeapp.TransactionBatch{{AccountID: a.ID(), InstitutionIDs: keys,
			Apply: func([]*finance.Transaction) ([]*finance.Transaction, error) { return page, nil }}},
		Resume: resume,
	})
}

// ingestAccount stores an account of a new user's provider.
func ingestAccount(t *testing.T, db *persistence.DB, st *persistence.FinanceStore) *finance.Account {
	t.Helper()
	p := newStoredProvider(t, db)
	a, err := finance.NewAccount(uuid.New(), p.ID(), finance.AccountDetails{InstitutionAccountID: "acc-" + p.ID().String(),
		Name: "Checking", Type: finance.AccountDepository, Currency: mustMoneyCurrency(t, "USD")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateAccounts(t.Context(), p.ID(), func([]*finance.Account) ([]*finance.Account, error) {
		return []*finance.Account{a}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return a
}

// ingestTransactions builds n posted transactions of a, a year of
// them, with a merchant and a category each, as a bank's feed has.
func ingestTransactions(t *testing.T, a *finance.Account, n int) []*finance.Transaction {
	t.Helper()
	now := time.Now()
	jan1 := time.Date(2029, time.January, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*finance.Transaction, n)
	for i := range out {
		amount, err := money.ParseAmount("amount", fmt.Sprintf("-%d.%02d", i%997, i%100), "USD")
		if err != nil {
			t.Fatal(err)
		}
		date, err := calendar.ParseDate("date", jan1.AddDate(0, 0, i%365).Format(time.DateOnly))
		if err != nil {
			t.Fatal(err)
		}
		d := finance.TransactionDetails{InstitutionTransactionID: fmt.Sprintf("txn-%06d", i), Amount: amount,
			Date: date, Description: fmt.Sprintf("CARD PURCHASE %d", i), MerchantName: "Merchant " + fmt.Sprint(i%50),
			Category: finance.Category{Primary: "FOOD_AND_DRINK", Detailed: "FOOD_AND_DRINK_COFFEE"}, Kind: finance.KindPurchase}
		if out[i], err = finance.NewTransaction(uuid.New(), a.ID(), a.ProviderID(), finance.TransactionPosted, d, now); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func mustMoneyCurrency(t *testing.T, code string) money.Currency {
	t.Helper()
	c, err := money.ParseCurrency("currency", code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
