package persistence_test

import (
	"testing"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/test/contract/eventcontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

func TestEventLogSQLite(t *testing.T) {
	eventcontract.Run(t, func(t *testing.T) eventcontract.Harness { return eventHarness(t, dbtest.SQLite(t)) })
}

func TestEventLogPostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	eventcontract.Run(t, func(t *testing.T) eventcontract.Harness { return eventHarness(t, dbtest.Postgres(t)) })
}

func eventHarness(t *testing.T, db *persistence.DB) eventcontract.Harness {
	ids := persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})
	return eventcontract.Harness{Log: persistence.NewEventStore(db), Users: ids, Sessions: ids,
		Providers: persistence.NewProviderStore(db), Authorizations: persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1"))),
		Syncs: persistence.NewSyncStore(db, syncEngine(t, db))}
}
