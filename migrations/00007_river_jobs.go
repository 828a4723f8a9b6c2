package migrations

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// riverSchemaVersion is the River migration that version 7 brings River's
// schema to: the latest of River v0.51.2. Upgrading River to a release with
// migrations of its own beyond it means a new version here that migrates from
// this one to the next, never editing this one.
const riverSchemaVersion = 8

// riverJobs is version 7: the tables of River, the durable job engine
// (adapters/jobs). Its SQL is River's own, applied by River's migrator. Down
// removes River's schema entirely, jobs included.
//
// It runs outside goose's transaction: on Postgres, River's migration 4 adds
// the enum value that its migration 6 uses, which Postgres refuses within one
// transaction ("unsafe use of new value"). River applies each of its
// migrations in a transaction of its own with its record in river_migration,
// so a run cut short resumes where it stopped: River skips what it recorded,
// and goose records version 7 once River is done.
func riverJobs(driver func(*sql.DB) riverdriver.Driver[*sql.Tx]) *goose.Migration {
	m := goose.NewGoMigration(7,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			return migrateRiver(ctx, driver(db), rivermigrate.DirectionUp, riverSchemaVersion)
		}},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			return migrateRiver(ctx, driver(db), rivermigrate.DirectionDown, -1)
		}},
	)
	m.Source = "00007_river_jobs.go" // what `migrate status` shows
	return m
}

// migrateRiver moves River's schema to target (-1: none at all).
func migrateRiver(ctx context.Context, driver riverdriver.Driver[*sql.Tx], direction rivermigrate.Direction, target int) error {
	// goose logs the version it applied; River's line per step adds nothing.
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	_, err = migrator.Migrate(ctx, direction, &rivermigrate.MigrateOpts{TargetVersion: target})
	return err
}
