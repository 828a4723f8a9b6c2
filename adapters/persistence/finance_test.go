package persistence_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/contract/financecontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

func TestFinanceStoreSQLite(t *testing.T) {
	financecontract.Run(t, func(t *testing.T) financecontract.Harness {
		return financeHarness(dbtest.SQLite(t))
	})
}

func TestFinanceStorePostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	financecontract.Run(t, func(t *testing.T) financecontract.Harness {
		return financeHarness(dbtest.Postgres(t))
	})
}

func financeHarness(db *persistence.DB) financecontract.Harness {
	return financecontract.Harness{
		Store:     persistence.NewFinanceStore(db),
		Providers: persistence.NewProviderStore(db),
		NewUser:   financecontract.UsersVia(persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})),
		Events:    persistence.NewEventStore(db),
	}
}

// Every method reports a database it cannot use as domain.ErrUnavailable, so
// the API answers 503 and a sync retries, and calls no closure.
func TestFinanceStoreUnavailableDatabase(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st := persistence.NewFinanceStore(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			ctx, id := t.Context(), uuid.New()
			calls := map[string]func() error{
				"UpdateAccounts": func() error {
					_, err := st.UpdateAccounts(ctx, id, func([]*finance.Account) ([]*finance.Account, error) {
						t.Error("closure called although the database is unavailable")
						return nil, nil
					})
					return err
				},
				"StoreTransactionPage": func() error {
					_, err := st.StoreTransactionPage(ctx, id, financeapp.TransactionPageWrite{Batches: []financeapp.TransactionBatch{{
						AccountID: id, InstitutionIDs: []string{"t1"},
						Apply: func([]*finance.Transaction) ([]*finance.Transaction, error) {
							t.Error("closure called although the database is unavailable")
							return nil, nil
						},
					}}})
					return err
				},
				"TransactionResume": func() error { _, err := st.TransactionResume(ctx, id); return err },
				"SaveSecurities": func() error {
					_, err := st.SaveSecurities(ctx, id, []finance.SecurityDetails{{InstitutionSecurityID: "s1"}})
					return err
				},
				"UpdateHoldings": func() error {
					_, err := st.UpdateHoldings(ctx, id, func([]*finance.Holding) ([]*finance.Holding, error) {
						t.Error("closure called although the database is unavailable")
						return nil, nil
					})
					return err
				},
				"ListHoldings": func() error {
					_, err := st.ListHoldings(ctx, financeapp.HoldingQuery{UserID: id, Limit: 10})
					return err
				},
				"UpdateBalance": func() error {
					_, err := st.UpdateBalance(ctx, id, func(*finance.Balance) (*finance.Balance, error) {
						t.Error("closure called although the database is unavailable")
						return nil, nil
					})
					return err
				},
				"AccountByID":     func() error { _, err := st.AccountByID(ctx, id); return err },
				"TransactionByID": func() error { _, err := st.TransactionByID(ctx, id); return err },
				"ListAccounts": func() error {
					_, err := st.ListAccounts(ctx, financeapp.AccountQuery{UserID: id, Limit: 10})
					return err
				},
				"ListTransactions": func() error {
					_, err := st.ListTransactions(ctx, financeapp.TransactionQuery{UserID: id, Limit: 10})
					return err
				},
				"Balances": func() error {
					_, err := st.Balances(ctx, financeapp.BalanceQuery{AccountID: id, Limit: 10})
					return err
				},
				"Changes": func() error { _, err := st.Changes(ctx, id, 0, 10); return err },
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, domain.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", name, err)
				}
			}
		})
	}
}
