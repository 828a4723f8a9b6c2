// Package dbtest opens real databases for tests: a fresh SQLite file, or a fresh
// schema in the Postgres server named by TEST_DATABASE_URL. Under CI=true a missing
// Postgres is a failure, never a skip.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dashtam/dashtam/adapters/persistence"
)

// PostgresHint says how to enable the Postgres-backed tests.
const PostgresHint = "set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the Postgres tests (CI does)"

// PostgresURL returns TEST_DATABASE_URL. When it is unset the test is skipped, or
// fails when CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but TEST_DATABASE_URL is unset: Postgres tests must run in CI")
		}
		t.Skip(PostgresHint)
	}
	return u
}

// SQLite opens a migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *persistence.DB {
	t.Helper()
	db, err := persistence.Open(context.Background(), persistence.Options{SQLitePath: filepath.Join(t.TempDir(), "test.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	migrate(t, db)
	return db
}

// Postgres opens a migrated Postgres database in a schema of its own, dropped when
// the test ends, so tests can run in parallel without seeing each other's rows.
func Postgres(t testing.TB) *persistence.DB {
	t.Helper()
	db, _ := PostgresWithURL(t)
	migrate(t, db)
	return db
}

// PostgresWithURL creates a fresh, empty schema and returns an unmigrated database
// opened on it, with the URL that selects it (for starting the binary against it).
func PostgresWithURL(t testing.TB) (*persistence.DB, string) {
	t.Helper()
	base := PostgresURL(t)
	ctx := context.Background()
	admin, err := persistence.Open(ctx, persistence.Options{URL: base, MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	schema := "t_" + randomHex(8)
	if err := admin.Gorm.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.Gorm.Exec("DROP SCHEMA " + schema + " CASCADE").Error
		_ = admin.Close()
	})
	schemaURL := withSearchPath(t, base, schema)
	db, err := persistence.Open(ctx, persistence.Options{URL: schemaURL, MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, schemaURL
}

// migrations is held while a test of this process migrates a Postgres database.
var migrations sync.Mutex

// LockPostgresMigrations waits until no other test of this process is migrating
// a Postgres database, and returns the function that lets the next one go.
// Tests migrate schemas of their own, but goose's migration lock is an advisory
// lock on the whole database, polled every five seconds: parallel tests that
// migrated at the same moment would wait seconds for one another.
func LockPostgresMigrations() (unlock func()) {
	migrations.Lock()
	return migrations.Unlock
}

func migrate(t testing.TB, db *persistence.DB) {
	t.Helper()
	if db.Dialect == persistence.Postgres {
		defer LockPostgresMigrations()()
	}
	m, err := db.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func withSearchPath(t testing.TB, raw, schema string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
