package persistence_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/dbtest"
)

// Two instances on one Postgres: a revocation made through one reaches the
// other's session cache when it commits, not when the entry's TTL runs out (the
// TTL here is an hour), and still does after the listener's connection was
// killed and came back.
func TestSessionCacheFollowsOtherInstances(t *testing.T) {
	dbA, url := dbtest.PostgresWithURL(t)
	if err := dbA.MigrateUp(t.Context(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	dbB, err := persistence.Open(t.Context(), persistence.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dbB.Close() })
	a := watchedStore(t, dbA, time.Hour)
	b := watchedStore(t, dbB, time.Hour)

	email, _ := identity.ParseEmail("ada@example.com")
	now := time.Now().UTC()
	u, err := identity.NewUser(uuid.New(), email, "Ada", "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CreateUser(t.Context(), u, identityapp.VerificationMail{UserID: u.ID()}); err != nil {
		t.Fatal(err)
	}
	newSession := func() *identity.Session {
		s := identity.NewSession(uuid.New(), u.ID(), "ua", "ip", now, time.Hour)
		_, h := identity.NewOpaqueToken()
		if err := a.CreateSession(t.Context(), s, identity.NewRefreshToken(h, s.ID(), now, time.Hour)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	activeOnB := func(s *identity.Session) bool {
		v, err := b.SessionValidity(t.Context(), s.ID())
		if err != nil {
			t.Fatal(err)
		}
		return v.IsActive(time.Now())
	}
	// revokeSeenByB revokes s through a and waits until b says so.
	revokeSeenByB := func(s *identity.Session) time.Duration {
		if !activeOnB(s) { // b now caches it as active, for an hour
			t.Fatal("a new session is not active on b")
		}
		start := time.Now()
		if err := a.UpdateSession(t.Context(), s.ID(), func(s *identity.Session) error {
			s.Revoke(time.Now(), identity.RevokedLogout)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "b to see the revocation", func() bool { return !activeOnB(s) })
		return time.Since(start)
	}

	t.Logf("revocation reached the other instance %v after the revoking call began", revokeSeenByB(newSession()))

	// Kill every session listener (other tests' instances reconnect too: that
	// is the property under test), wait for ours to come back, and revoke again.
	var killedAt time.Time
	if err := dbA.SQL.QueryRowContext(t.Context(), "SELECT clock_timestamp()").Scan(&killedAt); err != nil {
		t.Fatal(err)
	}
	if _, err := dbA.SQL.ExecContext(t.Context(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
		persistence.SessionListenerName); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both listeners to reconnect", func() bool {
		var n int
		if err := dbA.SQL.QueryRowContext(t.Context(),
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND backend_start > $2",
			persistence.SessionListenerName, killedAt).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n >= 2 && persistence.SessionCacheOn(a) && persistence.SessionCacheOn(b)
	})
	t.Logf("after the listeners were killed and came back: %v", revokeSeenByB(newSession()))
}
