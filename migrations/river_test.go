package migrations_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/test/dbtest"
)

// Version 7 runs River's migrations outside goose's transaction, so a run cut
// short leaves River partly migrated and goose's version 6: the next run
// finishes River's migrations from where they stopped.
func TestRiverMigrationResumesWhereItStopped(t *testing.T) {
	for name, c := range map[string]struct {
		open   func(testing.TB) *persistence.DB
		driver func(*sql.DB) riverdriver.Driver[*sql.Tx]
	}{
		"sqlite":   {dbtest.SQLite, func(db *sql.DB) riverdriver.Driver[*sql.Tx] { return riversqlite.New(db) }},
		"postgres": {dbtest.Postgres, func(db *sql.DB) riverdriver.Driver[*sql.Tx] { return riverdatabasesql.New(db) }},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := c.open(t)
			m, err := db.Migrator()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.DownTo(ctx, 6); err != nil {
				t.Fatal(err)
			}
			river, err := rivermigrate.New(c.driver(db.SQL), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := river.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{TargetVersion: 4}); err != nil {
				t.Fatal(err)
			}

			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("up after a cut-short run: %v", err)
			}
			applied, err := river.ExistingVersions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(applied); n != 8 || applied[n-1].Version != 8 {
				t.Fatalf("River has %d migrations applied, want 1 to 8", n)
			}
		})
	}
}
