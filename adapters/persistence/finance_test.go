package persistence_test

import (
	"testing"

	"github.com/dashtam/dashtam/adapters/persistence"
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
		NewUser:   financecontract.UsersVia(persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL)),
	}
}
