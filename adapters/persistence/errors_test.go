package persistence

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Real SQLite driver errors, produced by breaking real constraints.
func sqliteErrors(t *testing.T) (unique, otherUnique, foreignKey error) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, Options{SQLitePath: filepath.Join(t.TempDir(), "errors.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	g := db.Gorm.WithContext(ctx)
	for _, stmt := range []string{
		"CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL)",
		"CREATE UNIQUE INDEX users_email_key ON users (email)",
		"CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id))",
		"INSERT INTO users (id, email) VALUES ('u1', 'ada@example.com')",
	} {
		if err := g.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	unique = g.Exec("INSERT INTO users (id, email) VALUES ('u2', 'ada@example.com')").Error
	otherUnique = g.Exec("INSERT INTO users (id, email) VALUES ('u1', 'grace@example.com')").Error
	foreignKey = g.Exec("INSERT INTO sessions (id, user_id) VALUES ('s1', 'nobody')").Error
	for _, err := range []error{unique, otherUnique, foreignKey} {
		if err == nil {
			t.Fatal("a constraint violation did not fail")
		}
	}
	return unique, otherUnique, foreignKey
}

// A real refused connection, from a port nothing listens on.
func refusedConnection(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		_ = conn.Close(ctx)
		t.Skip("something listens on 127.0.0.1:1")
	}
	return err
}

func TestDBError(t *testing.T) {
	sqliteUnique, sqliteOtherUnique, sqliteForeignKey := sqliteErrors(t)
	errOther := errors.New("ERROR: syntax error at or near \"SELEC\"")

	tests := []struct {
		name string
		err  error
		want error // errors.Is(got, want)
		same bool  // got must be err itself
	}{
		{name: "record not found is ErrNotFound", err: gorm.ErrRecordNotFound, want: domain.ErrNotFound},
		{name: "postgres foreign key violation is ErrNotFound", err: &pgconn.PgError{Code: "23503", ConstraintName: "sessions_user_id_fkey"}, want: domain.ErrNotFound},
		{name: "sqlite foreign key violation is ErrNotFound", err: sqliteForeignKey, want: domain.ErrNotFound},
		{name: "postgres unique violation of the email is the caller's error", err: &pgconn.PgError{Code: "23505", ConstraintName: "users_email_key"}, want: identity.ErrEmailTaken},
		{name: "sqlite unique violation of the email is the caller's error", err: sqliteUnique, want: identity.ErrEmailTaken},
		{name: "postgres unique violation of another index is unchanged", err: &pgconn.PgError{Code: "23505", ConstraintName: "users_pkey"}, same: true},
		{name: "sqlite unique violation of another index is unchanged", err: sqliteOtherUnique, same: true},
		{name: "deadline exceeded is ErrUnavailable", err: fmt.Errorf("query: %w", context.DeadlineExceeded), want: domain.ErrUnavailable},
		{name: "bad connection is ErrUnavailable", err: driver.ErrBadConn, want: domain.ErrUnavailable},
		{name: "refused connection is ErrUnavailable", err: refusedConnection(t), want: domain.ErrUnavailable},
		{name: "net error is ErrUnavailable", err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, want: domain.ErrUnavailable},
		{name: "postgres shutting down is ErrUnavailable", err: &pgconn.PgError{Code: "57P01"}, want: domain.ErrUnavailable},
		{name: "postgres connection failure is ErrUnavailable", err: &pgconn.PgError{Code: "08006"}, want: domain.ErrUnavailable},
		{name: "connection refused in words is ErrUnavailable", err: errors.New("dial tcp 10.0.0.1:5432: connect: connection refused"), want: domain.ErrUnavailable},
		{name: "canceled is unchanged", err: context.Canceled, same: true},
		{name: "other postgres error is unchanged", err: &pgconn.PgError{Code: "42601"}, same: true},
		{name: "other error is unchanged", err: errOther, same: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dbError("do something", tc.err, emailTaken)
			if tc.same {
				if got != tc.err { //nolint:errorlint // the very same error must come back, not one wrapping it
					t.Fatalf("got %v, want the error unchanged", got)
				}
				return
			}
			if !errors.Is(got, tc.want) {
				t.Fatalf("got %v, want errors.Is %v", got, tc.want)
			}
			if errors.Is(tc.want, domain.ErrUnavailable) && !errors.Is(got, tc.err) {
				t.Errorf("got %v, which lost its cause %v", got, tc.err)
			}
		})
	}

	t.Run("nil is nil", func(t *testing.T) {
		if got := dbError("do something", nil, emailTaken); got != nil {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("unique violation without a matching key is unchanged", func(t *testing.T) {
		err := &pgconn.PgError{Code: "23505", ConstraintName: "users_email_key"}
		if got := dbError("do something", err); got != error(err) { //nolint:errorlint // unchanged means the very same value
			t.Fatalf("got %v, want the error unchanged", got)
		}
	})
}
