package provider

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// RequireRepair keeps the credentials, unusable; RequireReauthorization
// wipes them.
func TestRequireRepairKeepsTheCredentialsUnusable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	held := a.Credentials()
	a.RequireRepair(now)
	if a.Status() != AuthorizationReauthorizationRequired || a.IsAuthorized() || !reflect.DeepEqual(a.Credentials(), held) {
		t.Errorf("after RequireRepair: %v, authorized %v, %+v", a.Status(), a.IsAuthorized(), a.Credentials())
	}
	if got, ok := a.RepairableCredentials(); !ok || !reflect.DeepEqual(got, held) {
		t.Errorf("RepairableCredentials = %+v, %v; want the credentials held", got, ok)
	}
	if err := a.ClaimRefresh(uuid.New(), now, now.Add(time.Minute)); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("ClaimRefresh of kept credentials: %v, want ErrNotAuthorized", err)
	}

	b := authorized(t, now, time.Hour)
	b.RequireReauthorization(now)
	if _, ok := b.RepairableCredentials(); ok || !b.Credentials().IsZero() {
		t.Errorf("after RequireReauthorization: %+v repairable %v, want wiped", b.Credentials(), ok)
	}
	if _, ok := authorized(t, now, time.Hour).RepairableCredentials(); ok {
		t.Error("an active grant is repairable")
	}
}

// startRepair has a, waiting for its repair, start a repair attempt.
func startRepair(t *testing.T, a *Authorization, now time.Time) (uuid.UUID, State) {
	t.Helper()
	attempt, state := uuid.New(), NewState()
	a.StartAttempt(attempt, state, now.Add(StateTTL), now)
	if err := a.SetAttemptBegun(attempt, AttemptBegun{Repair: true, LinkToken: "link", LinkExpiresAt: now.Add(4 * time.Hour)}); err != nil {
		t.Fatalf("SetAttemptBegun: %v", err)
	}
	return attempt, state
}

func TestRestoreAttemptKeepsTheCredentialsAndActivates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	held := a.Credentials()
	a.RequireRepair(now)
	attempt, state := startRepair(t, a, now)
	if err := a.RestoreAttempt(attempt, now); !errors.Is(err, ErrInvalidState) {
		t.Errorf("restoring before the state was used: %v, want ErrInvalidState", err)
	}
	later := now.Add(time.Minute)
	if err := a.ConsumeState(state.Value, later); err != nil {
		t.Fatal(err)
	}
	if err := a.RestoreAttempt(uuid.New(), later); !errors.Is(err, ErrInvalidState) {
		t.Errorf("restoring another attempt: %v, want ErrInvalidState", err)
	}
	if err := a.RestoreAttempt(attempt, later); err != nil {
		t.Fatalf("RestoreAttempt: %v", err)
	}
	if !a.IsAuthorized() || !reflect.DeepEqual(a.Credentials(), held) || !a.AuthorizedAt().Equal(later) ||
		a.AttemptID() != uuid.Nil || a.AttemptBegun() != (AttemptBegun{}) {
		t.Errorf("restored: %v %+v at %v, attempt %s %+v", a.Status(), a.Credentials(), a.AuthorizedAt(), a.AttemptID(), a.AttemptBegun())
	}
}

// A new consent's attempt is not restored, and a repair needs something to
// repair.
func TestRestoreAttemptOnlyRestoresARepair(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	a.RequireRepair(now)
	attempt, state := uuid.New(), NewState()
	a.StartAttempt(attempt, state, now.Add(StateTTL), now)
	if err := a.ConsumeState(state.Value, now); err != nil {
		t.Fatal(err)
	}
	if err := a.RestoreAttempt(attempt, now); !errors.Is(err, ErrInvalidState) {
		t.Errorf("restoring a new consent's attempt: %v, want ErrInvalidState", err)
	}

	revoked := authorized(t, now, time.Hour)
	revoked.Revoke(now)
	attempt = uuid.New()
	revoked.StartAttempt(attempt, NewState(), now.Add(StateTTL), now)
	if err := revoked.SetAttemptBegun(attempt, AttemptBegun{Repair: true}); !errors.Is(err, ErrInvalidState) {
		t.Errorf("a repair of nothing: %v, want ErrInvalidState", err)
	}
}

func TestReusableBegunOfTheAttemptInFlightOnly(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	a.RequireRepair(now)
	attempt, state := startRepair(t, a, now)
	margin := time.Hour
	if b, ok := a.ReusableBegun(now.Add(2*time.Hour), margin, true); !ok || b.LinkToken != "link" {
		t.Errorf("ReusableBegun with the state expired but the token valid = %+v, %v; want the link token", b, ok)
	}
	if _, ok := a.ReusableBegun(now.Add(3*time.Hour), margin, true); ok {
		t.Error("reused with only the margin left")
	}
	if _, ok := a.ReusableBegun(now, margin, false); ok {
		t.Error("a repair's link token reused for a new consent")
	}
	if err := a.ConsumeState(state.Value, now); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.ReusableBegun(now, margin, true); ok {
		t.Error("reused after its state was used")
	}
	a.EndAttempt(attempt, now)
	if a.AttemptBegun() != (AttemptBegun{}) {
		t.Errorf("an ended attempt keeps %+v", a.AttemptBegun())
	}
}

// A grant that needs the user while a new consent is in flight does not
// return to active when that attempt, or the repair that replaces it, ends
// without a grant.
func TestAnAttemptEndingAfterRequireRepairReturnsToReauthorizationRequired(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	consent := uuid.New()
	a.StartAttempt(consent, NewState(), now.Add(StateTTL), now)
	a.RequireRepair(now)
	repair, _ := startRepair(t, a, now)
	if !a.EndAttempt(repair, now) || a.Status() != AuthorizationReauthorizationRequired {
		t.Errorf("after the repair ended: %v, want reauthorization_required", a.Status())
	}
	if _, ok := a.RepairableCredentials(); !ok {
		t.Error("the credentials are no longer repairable")
	}
}

// Repaired (Plaid's LOGIN_REPAIRED) makes an authorization waiting for its
// repair active again with the credentials it kept; anything else is left
// as it is: active already, wiped by RequireReauthorization, or pending with
// a repair attempt in flight.
func TestRepairedRestoresOnlyAGrantWaitingForItsRepair(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	held := a.Credentials()
	if a.Repaired(now) {
		t.Error("Repaired changed an active authorization")
	}
	a.RequireRepair(now)
	later := now.Add(time.Minute)
	if !a.Repaired(later) || a.Status() != AuthorizationActive || !a.IsAuthorized() ||
		!reflect.DeepEqual(a.Credentials(), held) || !a.AuthorizedAt().Equal(later) {
		t.Errorf("after Repaired: %v, authorized %v, consent %v; want active with the credentials held", a.Status(), a.IsAuthorized(), a.AuthorizedAt())
	}
	if a.Repaired(later) {
		t.Error("Repaired twice changed it twice")
	}

	wiped := authorized(t, now, time.Hour)
	wiped.RequireReauthorization(now)
	if wiped.Repaired(later) || wiped.Status() != AuthorizationReauthorizationRequired {
		t.Errorf("Repaired restored wiped credentials: %v", wiped.Status())
	}

	pending := authorized(t, now, time.Hour)
	pending.RequireRepair(now)
	startRepair(t, pending, now)
	if pending.Repaired(later) || pending.Status() != AuthorizationPending {
		t.Errorf("Repaired changed a repair in flight: %v", pending.Status())
	}
}
