package persistence

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	sqlitedriver "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dashtam/dashtam/domain"
)

// uniqueKey names one unique index and the domain error its violation means, so
// that a race lost at the database (two registrations with one email) reads the
// same as a check lost in code.
type uniqueKey struct {
	index   string // the index name, as Postgres reports it
	columns string // "table.column[, table.column]", as SQLite reports it
	err     error  // what a violation means to the caller
}

// Postgres SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgTooManyConnections  = "53300"
	pgAdminShutdown       = "57P01"
	pgCrashShutdown       = "57P02"
	pgCannotConnectNow    = "57P03"
)

// dbError is the one place where the repositories turn database errors into the
// domain's error kinds. op says what was being done ("update user 0190…"); it
// prefixes the errors dbError builds.
//
//   - A missing row (gorm.ErrRecordNotFound, sql.ErrNoRows) becomes domain.ErrNotFound, and so
//     does a foreign-key violation: the row referred to does not exist.
//   - A unique violation of one of keys becomes that key's error; of any other
//     index it is returned unchanged.
//   - A failure to reach or keep talking to the database (deadline exceeded,
//     refused or broken connection, server shutting down, SQLite busy past its
//     timeout) becomes domain.ErrUnavailable wrapping the cause, so the API answers
//     503 and the client may retry.
//   - Anything else, including context.Canceled, is returned unchanged.
func dbError(op string, err error, keys ...uniqueKey) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, domain.ErrNotFound)
	case isForeignKeyViolation(err):
		return fmt.Errorf("%s: referenced row does not exist: %w", op, domain.ErrNotFound)
	case isUnavailable(err):
		return fmt.Errorf("%s: %w: %w", op, domain.ErrUnavailable, err)
	}
	for _, k := range keys {
		if violates(err, k) {
			return k.err
		}
	}
	return err
}

// violates reports whether err is a unique violation of k's index.
func violates(err error, k uniqueKey) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation && pgErr.ConstraintName == k.index
	}
	var liteErr *sqlitedriver.Error
	if errors.As(err, &liteErr) {
		if liteErr.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && liteErr.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return false
		}
		// The message is "constraint failed: UNIQUE constraint failed: users.email (2067)".
		const marker = "UNIQUE constraint failed: "
		msg := liteErr.Error()
		i := strings.Index(msg, marker)
		if i < 0 {
			return false
		}
		cols, _, _ := strings.Cut(msg[i+len(marker):], " (")
		return cols == k.columns
	}
	return false
}

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgForeignKeyViolation
	}
	var liteErr *sqlitedriver.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// isUnavailable reports whether err says the database could not be reached or
// stopped answering, as opposed to rejecting the statement.
func isUnavailable(err error) bool {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		liteErr    *sqlitedriver.Error
		netErr     net.Error
	)
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case pgTooManyConnections, pgAdminShutdown, pgCrashShutdown, pgCannotConnectNow:
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // class 08: connection exception
	case errors.As(err, &liteErr):
		switch liteErr.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &connectErr),
		errors.As(err, &netErr),
		pgconn.Timeout(err):
		return true
	}
	// Last resort for drivers that only say it in words.
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "sql: database is closed")
}
