package provider

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func authorized(t *testing.T, now time.Time, lifetime time.Duration) *Authorization {
	t.Helper()
	p, err := New(uuid.New(), uuid.New(), "sandbox", "x", now)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthorization(p, uuid.New(), NewState(), now.Add(StateTTL), now)
	a.Grant(Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: now.Add(lifetime)}, now)
	return a
}

func TestRefreshDueWithinWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, 30*time.Minute)
	if a.RefreshDue(now.Add(25*time.Minute-time.Microsecond), 5*time.Minute) {
		t.Error("due before the window")
	}
	if !a.RefreshDue(now.Add(25*time.Minute), 5*time.Minute) {
		t.Error("not due at the window's start")
	}
}

// A token that lives less than the window is due at half its life, not at once:
// otherwise it would be refreshed on every background pass.
func TestRefreshDueAtHalfLifeForShortTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, 5*time.Minute)
	if a.RefreshDue(now, 5*time.Minute) || a.RefreshDue(now.Add(150*time.Second-time.Microsecond), 5*time.Minute) {
		t.Error("a fresh short-lived token is due")
	}
	if !a.RefreshDue(now.Add(150*time.Second), 5*time.Minute) {
		t.Error("not due at half its life")
	}
	owner := uuid.New()
	if err := a.ClaimRefresh(owner, now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	later := now.Add(150 * time.Second)
	a.Refreshed(owner, Credentials{AccessToken: "b", ExpiresAt: later.Add(5 * time.Minute)}, later)
	if a.RefreshDue(later.Add(time.Minute), 5*time.Minute) {
		t.Error("due again right after a refresh")
	}
}

func TestRefreshNotDueWithoutRefreshToken(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Minute)
	a.Revoke(now)
	if a.RefreshDue(now.Add(time.Hour), time.Minute) {
		t.Error("a revoked authorization is due")
	}
}

// A new consent takes the refresh lease away from a refresh of the old grant, so
// that refresh's result cannot overwrite the new credentials.
func TestGrantDropsAStaleRefreshLease(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	old := uuid.New()
	if err := a.ClaimRefresh(old, now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a.Grant(Credentials{AccessToken: "new", RefreshToken: "new-r", ExpiresAt: now.Add(time.Hour)}, now)
	if a.HoldsLease(old) {
		t.Error("the old refresh still holds the lease")
	}
}

func TestSnapshotDoesNotShareTheStateHash(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p, _ := New(uuid.New(), uuid.New(), "sandbox", "x", now)
	st := NewState()
	a := NewAuthorization(p, uuid.New(), st, now.Add(StateTTL), now)
	snap := a.Snapshot()
	if err := a.ConsumeState(st.Value, now); err != nil {
		t.Fatal(err)
	}
	if HashState(st.Value) != [32]byte(snap.StateHash) {
		t.Error("consuming the state changed an earlier snapshot")
	}
}
