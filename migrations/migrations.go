// Package migrations holds the versioned schema, one folder of SQL per dialect
// with the same version numbers, embedded so the binary can migrate any database
// it is pointed at. A version whose SQL belongs to a library (River's job
// tables) is a Go migration that calls the library's own migrator.
package migrations

import (
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the SQL migrations for dialect ("postgres" or "sqlite").
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case "postgres", "sqlite":
		return fs.Sub(files, dialect)
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
}

// Go returns the Go migrations for dialect, to register next to its SQL ones
// with goose.WithGoMigrations.
func Go(dialect string) ([]*goose.Migration, error) {
	switch dialect {
	case "postgres":
		return []*goose.Migration{riverJobs(postgresRiver)}, nil
	case "sqlite":
		return []*goose.Migration{riverJobs(sqliteRiver)}, nil
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
}

// postgresRiver is River's driver for database/sql on Postgres, the one
// adapters/jobs uses, so that its migrations and its jobs see one schema.
func postgresRiver(db *sql.DB) riverdriver.Driver[*sql.Tx] { return riverdatabasesql.New(db) }

// sqliteRiver is River's SQLite driver.
func sqliteRiver(db *sql.DB) riverdriver.Driver[*sql.Tx] { return riversqlite.New(db) }
