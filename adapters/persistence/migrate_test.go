package persistence_test

import (
	"context"
	"testing"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/test/dbtest"
)

// Both dialects must migrate up, all the way down, and up again: every Down section
// really undoes its Up, and the two folders stay in step.
func TestMigrationsUpDownUp(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *persistence.DB{
		"sqlite": func(t testing.TB) *persistence.DB {
			db := dbtest.SQLite(t) // already migrated up
			return db
		},
		"postgres": dbtest.Postgres,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			m, err := db.Migrator()
			if err != nil {
				t.Fatal(err)
			}
			sources := m.ListSources()
			if len(sources) == 0 {
				t.Fatal("no migrations embedded")
			}
			latest := sources[len(sources)-1].Version
			assertVersion(t, m, latest)
			if _, err := m.DownTo(ctx, 0); err != nil {
				t.Fatalf("down: %v", err)
			}
			assertVersion(t, m, 0)
			for _, table := range []string{"users", "river_job", "river_migration"} {
				if db.Gorm.Migrator().HasTable(table) {
					t.Fatalf("%s table survived migrating down", table)
				}
			}
			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("up again: %v", err)
			}
			assertVersion(t, m, latest)
			for _, table := range []string{"users", "river_job", "river_leader", "river_queue"} {
				if !db.Gorm.Migrator().HasTable(table) {
					t.Fatalf("%s table missing after migrating up", table)
				}
			}
		})
	}
}

// The two dialects must hold the same versions, SQL and Go alike.
func TestMigrationVersionsMatchAcrossDialects(t *testing.T) {
	pg := dbtestSources(t, "postgres")
	lite := dbtestSources(t, "sqlite")
	if len(pg) == 0 {
		t.Fatal("no migrations embedded")
	}
	if len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite %d", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i] != lite[i] {
			t.Fatalf("migration %d: postgres %q, sqlite %q", i, pg[i], lite[i])
		}
	}
}

type versioner interface {
	GetDBVersion(context.Context) (int64, error)
}

func assertVersion(t *testing.T, m versioner, want int64) {
	t.Helper()
	got, err := m.GetDBVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("database version %d, want %d", got, want)
	}
}
