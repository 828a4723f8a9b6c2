package persistence_test

import (
	"testing"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/test/contract/identitycontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

func TestIdentityStoreSQLite(t *testing.T) {
	identitycontract.Run(t, func(t *testing.T) identitycontract.Store {
		return persistence.NewIdentityStore(dbtest.SQLite(t))
	})
}

func TestIdentityStorePostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	identitycontract.Run(t, func(t *testing.T) identitycontract.Store {
		return persistence.NewIdentityStore(dbtest.Postgres(t))
	})
}
