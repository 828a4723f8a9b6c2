package persistence_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	identityapp "github.com/dashtam/dashtam/application/identity"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/contract/identitycontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

func TestIdentityStoreSQLite(t *testing.T) {
	identitycontract.Run(t, func(t *testing.T) identitycontract.Store {
		return persistence.NewIdentityStore(dbtest.SQLite(t), persistence.DefaultSessionCacheTTL, discardJobs{})
	})
}

// The contract holds with the session cache on, as the service runs the store.
func TestIdentityStorePostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	identitycontract.Run(t, func(t *testing.T) identitycontract.Store {
		return watchedStore(t, dbtest.Postgres(t), persistence.DefaultSessionCacheTTL)
	})
}

// watchedStore is an identity store on db whose session listener runs until
// the test ends, and is connected.
func watchedStore(t testing.TB, db *persistence.DB, ttl time.Duration) *persistence.IdentityStore {
	t.Helper()
	st := persistence.NewIdentityStore(db, ttl, discardJobs{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.WatchSessions(ctx, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the session listener to connect", func() bool { return persistence.SessionCacheOn(st) })
	return st
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Every method reports a database it cannot use as domain.ErrUnavailable, so the
// API answers 503 rather than 500, and calls no closure.
func TestIdentityStoreUnavailableDatabase(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *persistence.DB{
		"sqlite":   dbtest.SQLite,
		"postgres": dbtest.Postgres,
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st := persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			assertAllUnavailable(t, st)
		})
	}
	t.Run("deadline exceeded", func(t *testing.T) {
		st := persistence.NewIdentityStore(dbtest.SQLite(t), persistence.DefaultSessionCacheTTL, discardJobs{})
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		if _, err := st.UserByID(ctx, uuid.New()); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	})
}

func assertAllUnavailable(t *testing.T, st *persistence.IdentityStore) {
	t.Helper()
	ctx := t.Context()
	now := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	email, _ := identity.ParseEmail("ada@example.com")
	u, err := identity.NewUser(uuid.New(), email, "Ada", "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	_, h := identity.NewOpaqueToken()
	s := identity.NewSession(uuid.New(), u.ID(), "ua", "ip", now, time.Hour)
	notCalled := func() { t.Error("closure called although the database is unavailable") }

	calls := map[string]func() error{
		"CreateUser": func() error {
			return st.CreateUser(ctx, u, identityapp.VerificationMail{UserID: u.ID()})
		},
		"UserByID":    func() error { _, err := st.UserByID(ctx, u.ID()); return err },
		"UserByEmail": func() error { _, err := st.UserByEmail(ctx, email); return err },
		"UpdateUser": func() error {
			return st.UpdateUser(ctx, u.ID(), func(*identity.User) error { notCalled(); return nil })
		},
		"CreateSession": func() error {
			return st.CreateSession(ctx, s, identity.NewRefreshToken(h, s.ID(), now, time.Hour))
		},
		"SessionByID": func() error { _, err := st.SessionByID(ctx, s.ID()); return err },
		"ListActiveSessions": func() error {
			_, _, err := st.ListActiveSessions(ctx, u.ID(), now, 0, 10)
			return err
		},
		"UpdateSession": func() error {
			return st.UpdateSession(ctx, s.ID(), func(*identity.Session) error { notCalled(); return nil })
		},
		"RevokeUserSessions": func() error {
			return st.RevokeUserSessions(ctx, u.ID(), uuid.Nil, now, identity.RevokedPasswordReset)
		},
		"RotateRefreshToken": func() error {
			return st.RotateRefreshToken(ctx, h, func(*identity.RefreshToken, *identity.Session) (*identity.RefreshToken, error) {
				notCalled()
				return nil, nil
			})
		},
		"CreateOneTimeToken": func() error {
			return st.CreateOneTimeToken(ctx, identity.NewOneTimeToken(h, u.ID(), identity.PurposePasswordReset, now))
		},
		"ConsumeOneTimeToken": func() error {
			return st.ConsumeOneTimeToken(ctx, h, func(*identity.OneTimeToken, *identity.User) error { notCalled(); return nil })
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, domain.ErrUnavailable) {
			t.Errorf("%s: got %v, want ErrUnavailable", name, err)
		}
	}
}

// discardJobs is the JobQueue of the tests that do not look at jobs: it
// accepts each job and enqueues nothing.
type discardJobs struct{}

func (discardJobs) EnqueueTx(context.Context, *sql.Tx, jobsapp.Job) (bool, error) { return false, nil }

// failingJobs refuses every job, as a job engine whose table is gone would.
type failingJobs struct{}

var errEnqueue = errors.New("enqueue refused (from the test's queue)")

func (failingJobs) EnqueueTx(context.Context, *sql.Tx, jobsapp.Job) (bool, error) {
	return false, errEnqueue
}

// A new user and the job that mails their verification link commit together:
// when the job cannot be enqueued, the user is not stored either.
func TestCreateUserStoresNothingWhenItsMailCannotBeEnqueued(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *persistence.DB{"SQLite": dbtest.SQLite, "Postgres": dbtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			if name == "Postgres" {
				dbtest.PostgresURL(t)
			}
			st := persistence.NewIdentityStore(open(t), persistence.DefaultSessionCacheTTL, failingJobs{})
			email, err := identity.ParseEmail("ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			u, err := identity.NewUser(uuid.New(), email, "Ada", "hash", time.Now().UTC())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CreateUser(t.Context(), u, identityapp.VerificationMail{UserID: u.ID()}); !errors.Is(err, errEnqueue) {
				t.Fatalf("CreateUser: got %v, want the queue's error", err)
			}
			if _, err := st.UserByEmail(t.Context(), email); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("UserByEmail after the failed create: got %v, want ErrNotFound (nothing stored)", err)
			}
		})
	}
}
