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

const (
	// ingestRows is the sandbox's large variant (DATA.md): 100,000
	// transactions in an initial sync.
	ingestRows = 100_000
	// ingestPage is a page of the institution's answer (Plaid's
	// /transactions/sync gives at most 500 at a time).
	ingestPage = 500
)

// An initial sync of 100,000 transactions, stored page by page with its
// resume state (StoreTransactionPage: provider and account locks, the load of
// the page's keys, the closure, feed positions, the resume upsert), ingests at
// least half as fast as a bare batched upsert of the same rows in batches of
// the same size. Each runs on a database of its own, from empty; their pages
// take turns, so that both grow alike and both meet the same load on a shared
// machine. Skipped with -short.
func TestInitialSyncIngestKeepsUpWithABareBatchedUpsert(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 rows per dialect")
	}
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			bareDB := open(t)
			bareAccount := ingestAccount(t, bareDB, persistence.NewFinanceStore(bareDB))
			bareRows, bareUser := ingestTransactions(t, bareAccount, ingestRows), uuid.New()
			db := open(t)
			st := persistence.NewFinanceStore(db)
			account := ingestAccount(t, db, st)
			rows := ingestTransactions(t, account, ingestRows)

			var bare, ingest time.Duration
			for i := 0; i < ingestRows; i += ingestPage {
				end := min(i+ingestPage, ingestRows)
				start := time.Now()
				err := persistence.UpsertTransactionsInBatches(t.Context(), bareDB, bareUser, bareRows[i:end], int64(i+1), ingestPage)
				bare += time.Since(start)
				if err != nil {
					t.Fatalf("bare upsert at %d: %v", i, err)
				}
				start = time.Now()
				c, err := storePage(t, st, account, rows[i:end], fmt.Appendf(nil, "cursor-%d", i))
				ingest += time.Since(start)
				if err != nil || c.Added != end-i {
					t.Fatalf("page at %d: counts %+v, %v", i, c, err)
				}
			}
			rate := func(d time.Duration) float64 { return float64(ingestRows) / d.Seconds() }
			t.Logf("%s: StoreTransactionPage %.0f rows/s (%v); bare batched upsert %.0f rows/s (%v); ratio %.2f",
				name, rate(ingest), ingest.Round(time.Millisecond), rate(bare), bare.Round(time.Millisecond), rate(ingest)/rate(bare))
			if ingest > 2*bare {
				t.Errorf("StoreTransactionPage took %v for %d rows, more than twice the bare upsert's %v", ingest, ingestRows, bare)
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
