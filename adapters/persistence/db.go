// Package persistence holds the GORM repositories, their row models and the
// database setup for both supported dialects: Postgres in production and an
// embedded SQLite file by default.
package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/dashtam/dashtam/migrations"
)

// Dialect names a supported database.
type Dialect string

// Supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Options says which database to open.
type Options struct {
	// URL is a postgres:// or postgresql:// URL. Empty means the embedded SQLite file.
	URL string
	// SQLitePath is the SQLite database file, used when URL is empty.
	SQLitePath string
	// MaxOpenConns caps the connection pool (Postgres); 0 picks a default.
	MaxOpenConns int
}

// DB is an open database with its dialect: GORM for most statements, and the
// connection pool under it for the hand-written hot reads (rawsql.go).
type DB struct {
	Gorm    *gorm.DB
	SQL     *sql.DB
	Dialect Dialect
	url     string // Postgres: for connections of their own (WatchSessions)
	dsn     string // SQLite: for a pool of its own (OpenSingleConnPool)
}

// Open connects to the database described by opts. It does not migrate.
func Open(ctx context.Context, opts Options) (*DB, error) {
	cfg := &gorm.Config{
		Logger:                 logger.Discard, // queries may carry secrets; errors are logged by callers
		SkipDefaultTransaction: true,           // repositories open transactions where they need them
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	var (
		gdb     *gorm.DB
		dialect Dialect
		dsn     string
		err     error
	)
	switch {
	case opts.URL == "":
		dialect = SQLite
		if err := os.MkdirAll(filepath.Dir(opts.SQLitePath), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		if err := ownerOnlyFile(opts.SQLitePath); err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		// No PrepareStmt: this driver prepares a statement again on every
		// execution whatever database/sql holds (seen in profiles), so GORM's
		// statement cache saved nothing. pgx caches Postgres statements itself.
		dsn = sqliteDSN(opts.SQLitePath)
		gdb, err = gorm.Open(sqlite.Open(dsn), cfg)
	case strings.HasPrefix(opts.URL, "postgres://"), strings.HasPrefix(opts.URL, "postgresql://"):
		dialect = Postgres
		gdb, err = gorm.Open(postgres.Open(withConnectTimeout(opts.URL)), cfg)
	default:
		return nil, errors.New("DATABASE_URL must start with postgres:// or postgresql://")
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, err
	}
	switch dialect {
	case SQLite:
		// WAL lets readers proceed while one writer writes; _txlock=immediate takes the
		// write lock at BEGIN so two transactions never deadlock upgrading a read lock.
		sqlDB.SetMaxOpenConns(max(opts.MaxOpenConns, 8))
		sqlDB.SetMaxIdleConns(max(opts.MaxOpenConns, 8))
		sqlDB.SetConnMaxIdleTime(0)
	case Postgres:
		n := opts.MaxOpenConns
		if n == 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	return &DB{Gorm: gdb, SQL: sqlDB, Dialect: dialect, url: withConnectTimeout(opts.URL), dsn: dsn}, nil
}

// OpenSingleConnPool opens a second pool on the SQLite file, of one connection
// with the same settings, for River, whose SQLite driver wants a pool of one
// (docs/operations.md, "Background work"). Its writes and the main pool's take
// turns through the file's write lock, waiting up to busy_timeout. The caller
// closes it.
func (d *DB) OpenSingleConnPool(ctx context.Context) (*sql.DB, error) {
	if d.Dialect != SQLite {
		return nil, fmt.Errorf("a single-connection pool is for SQLite, not %s", d.Dialect)
	}
	pool, err := sql.Open(sqlite.DriverName, d.dsn)
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(1)
	pool.SetMaxIdleConns(1)
	pool.SetConnMaxIdleTime(0)
	if err := pool.PingContext(ctx); err != nil {
		_ = pool.Close()
		return nil, fmt.Errorf("connect to sqlite database: %w", err)
	}
	return pool, nil
}

// ownerOnlyFile creates the SQLite database file readable and writable by its
// owner only, or narrows an existing one to that: it holds sessions and
// encrypted tokens. SQLite gives the -wal and -shm files it creates beside it
// the database file's permissions.
func ownerOnlyFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

func sqliteDSN(path string) string {
	return "file:" + path +
		"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// withConnectTimeout adds a connect timeout unless the URL sets one, so a database
// that is down makes requests fail promptly instead of hanging.
func withConnectTimeout(url string) string {
	if strings.Contains(url, "connect_timeout=") {
		return url
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "connect_timeout=3"
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	return d.SQL.PingContext(ctx)
}

// Close closes the connection pool.
func (d *DB) Close() error {
	return d.SQL.Close()
}

// Migrator applies the embedded migrations of the database's dialect, SQL and Go.
func (d *DB) Migrator() (*goose.Provider, error) {
	fsys, err := migrations.FS(string(d.Dialect))
	if err != nil {
		return nil, err
	}
	goMigrations, err := migrations.Go(string(d.Dialect))
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithGoMigrations(goMigrations...), goose.WithDisableGlobalRegistry(true)}
	gooseDialect := goose.DialectSQLite3
	if d.Dialect == Postgres {
		gooseDialect = goose.DialectPostgres
		// Several instances may start at once: an advisory lock lets one migrate.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(gooseDialect, d.SQL, fsys, opts...)
}

// MigrateUp applies every pending migration and logs what it applied.
func (d *DB) MigrateUp(ctx context.Context, log *slog.Logger) error {
	m, err := d.Migrator()
	if err != nil {
		return err
	}
	results, err := m.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", filepath.Base(r.Source.Path))
	}
	if d.Dialect == SQLite && len(results) > 0 {
		return d.forgetOldSchema(ctx)
	}
	return nil
}

// forgetOldSchema makes every SQLite connection of the pool use the schema
// the migrations made. A connection that read the schema before them may
// prepare a statement against the old one: SELECT * then names the old
// columns, and a column a migration added reads as missing. The idle
// connections are closed (each SQLite pool keeps as many idle as it may
// open), but for one held meanwhile, so that the database file's WAL stays;
// a statement on that one sees the schema changed and reloads it.
func (d *DB) forgetOldSchema(ctx context.Context) error {
	conn, err := d.SQL.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	defer func() { _ = conn.Close() }()
	n := d.SQL.Stats().MaxOpenConnections
	d.SQL.SetMaxIdleConns(0)
	d.SQL.SetMaxIdleConns(n)
	if _, err := conn.ExecContext(ctx, "SELECT count(*) FROM sqlite_master"); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// PrintStatus writes one line per migration: version, state and when it was applied.
func (d *DB) PrintStatus(ctx context.Context, w io.Writer) error {
	m, err := d.Migrator()
	if err != nil {
		return err
	}
	statuses, err := m.Status(ctx)
	if err != nil {
		return err
	}
	for _, s := range statuses {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
		}
		if _, err := fmt.Fprintf(w, "%05d  %-28s %s\n", s.Source.Version, filepath.Base(s.Source.Path), applied); err != nil {
			return err
		}
	}
	return nil
}
