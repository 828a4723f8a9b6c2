package provider

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
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

// t0 is a whole second, so the boundaries below are exact.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pending is a provider's first authorization attempt, started at t0, with
// the state it was started with.
func pending(t *testing.T) (*Authorization, State) {
	t.Helper()
	p, err := New(uuid.New(), uuid.New(), "sandbox", "x", t0)
	if err != nil {
		t.Fatal(err)
	}
	st := NewState()
	return NewAuthorization(p, uuid.New(), st, t0.Add(StateTTL), t0), st
}

// inStatus returns an authorization in status s, as each transition leaves
// it, with no lease held.
func inStatus(t *testing.T, s AuthorizationStatus) *Authorization {
	t.Helper()
	a, _ := pending(t)
	switch s {
	case AuthorizationPending:
	case AuthorizationNotConnected:
		a.EndAttempt(a.AttemptID(), t0)
	case AuthorizationActive:
		a.Grant(Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: t0.Add(time.Hour)}, t0)
	case AuthorizationReauthorizationRequired:
		a.Grant(Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: t0.Add(time.Hour)}, t0)
		a.RequireReauthorization(t0)
	case AuthorizationRevoked:
		a.Revoke(t0)
	default:
		t.Fatalf("no way to reach status %v", s)
	}
	if a.Status() != s {
		t.Fatalf("set-up reached %v, want %v", a.Status(), s)
	}
	return a
}

// unchanged fails unless a's stored form is still before.
func unchanged(t *testing.T, what string, a *Authorization, before AuthorizationSnapshot) {
	t.Helper()
	if after := a.Snapshot(); !reflect.DeepEqual(after, before) {
		t.Errorf("%s changed the authorization:\n got %+v\nwant %+v", what, after, before)
	}
}

func TestNewAuthorizationIsPendingWithItsFirstAttempt(t *testing.T) {
	p, err := New(uuid.New(), uuid.New(), "sandbox", "x", t0)
	if err != nil {
		t.Fatal(err)
	}
	attempt, st := uuid.New(), NewState()
	a := NewAuthorization(p, attempt, st, t0.Add(StateTTL), t0)
	if a.Status() != AuthorizationPending || a.IsAuthorized() {
		t.Errorf("status %v, authorized %v; want pending, not authorized", a.Status(), a.IsAuthorized())
	}
	if a.ProviderID() != p.ID() || a.UserID() != p.UserID() {
		t.Errorf("belongs to provider %s of user %s, want %s of %s", a.ProviderID(), a.UserID(), p.ID(), p.UserID())
	}
	if a.AttemptID() != attempt || !a.StateExpiresAt().Equal(t0.Add(StateTTL)) {
		t.Errorf("attempt %s expiring %v, want %s expiring %v", a.AttemptID(), a.StateExpiresAt(), attempt, t0.Add(StateTTL))
	}
	if !a.Credentials().IsZero() || !a.AuthorizedAt().IsZero() || !a.RefreshedAt().IsZero() {
		t.Errorf("a new authorization holds credentials %+v, authorized %v, refreshed %v", a.Credentials(), a.AuthorizedAt(), a.RefreshedAt())
	}
	if s := a.Snapshot(); !s.CreatedAt.Equal(t0) || !s.UpdatedAt.Equal(t0) || [32]byte(s.StateHash) != st.Hash {
		t.Errorf("snapshot %+v: want created and updated at %v with the state's hash", s, t0)
	}
}

// Starting again replaces the attempt in flight. An active grant stays active
// and usable until the new consent completes; any other status goes back to
// pending.
func TestStartAttemptKeepsAnActiveGrantAndMakesAnyOtherStatusPending(t *testing.T) {
	for _, tc := range []struct {
		from, want     AuthorizationStatus
		keepsGrantUsed bool
	}{
		{AuthorizationPending, AuthorizationPending, false},
		{AuthorizationActive, AuthorizationActive, true},
		{AuthorizationReauthorizationRequired, AuthorizationPending, false},
		{AuthorizationRevoked, AuthorizationPending, false},
	} {
		t.Run(tc.from.String(), func(t *testing.T) {
			a := inStatus(t, tc.from)
			credsBefore := a.Credentials()
			attempt, st, later := uuid.New(), NewState(), t0.Add(time.Minute)
			a.StartAttempt(attempt, st, later.Add(StateTTL), later)
			if a.Status() != tc.want {
				t.Errorf("status %v, want %v", a.Status(), tc.want)
			}
			if a.IsAuthorized() != tc.keepsGrantUsed || !reflect.DeepEqual(a.Credentials(), credsBefore) {
				t.Errorf("authorized %v with %+v, want %v with the credentials it had (%+v)", a.IsAuthorized(), a.Credentials(), tc.keepsGrantUsed, credsBefore)
			}
			if a.AttemptID() != attempt || !a.StateExpiresAt().Equal(later.Add(StateTTL)) || !a.Snapshot().UpdatedAt.Equal(later) {
				t.Errorf("attempt %s expiring %v updated %v; want %s expiring %v updated %v",
					a.AttemptID(), a.StateExpiresAt(), a.Snapshot().UpdatedAt, attempt, later.Add(StateTTL), later)
			}
			if err := a.ConsumeState(st.Value, later); err != nil {
				t.Errorf("the new attempt's state: %v", err)
			}
		})
	}
}

func TestStartAttemptInvalidatesTheReplacedState(t *testing.T) {
	a, first := pending(t)
	a.StartAttempt(uuid.New(), NewState(), t0.Add(StateTTL), t0)
	if err := a.ConsumeState(first.Value, t0); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("the replaced state: %v, want ErrInvalidState", err)
	}
}

func TestConsumeStateAcceptsOnlyTheAttemptsStateBeforeItExpires(t *testing.T) {
	expires := t0.Add(StateTTL)
	for _, tc := range []struct {
		name  string
		state func(right State) string
		at    time.Time
		// usedBefore: the state was used up once already.
		usedBefore bool
		before     func(a *Authorization) // what happened to the attempt first
		ok         bool
		// want is the error refused states get: ErrInvalidState unless said.
		want error
	}{
		{name: "the right state at once", at: t0, ok: true},
		{name: "the right state a microsecond before it expires", at: expires.Add(-time.Microsecond), ok: true},
		{name: "the right state at the instant it expires", at: expires, want: ErrStateExpired},
		{name: "the right state after it expired", at: expires.Add(time.Hour), want: ErrStateExpired},
		{name: "another state", state: func(State) string { return NewState().Value }, at: t0},
		{name: "an empty state", state: func(State) string { return "" }, at: t0},
		{name: "the state's digest instead of the state", at: t0, state: func(right State) string {
			return string(right.Hash[:])
		}},
		{name: "a replayed state", at: t0, usedBefore: true, want: ErrStateUsed},
		{name: "a replayed state after its attempt expired", at: expires.Add(time.Hour), usedBefore: true, want: ErrStateUsed},
		{name: "no attempt in flight", at: t0, before: func(a *Authorization) { a.Revoke(t0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, right := pending(t)
			value := right.Value
			if tc.state != nil {
				value = tc.state(right)
			}
			if tc.usedBefore {
				if err := a.ConsumeState(right.Value, t0); err != nil {
					t.Fatalf("first use: %v", err)
				}
			}
			if tc.before != nil {
				tc.before(a)
			}
			before := a.Snapshot()
			err := a.ConsumeState(value, tc.at)
			if tc.ok {
				if err != nil {
					t.Fatalf("ConsumeState: %v", err)
				}
				if !a.StateExpiresAt().IsZero() || !a.Snapshot().UpdatedAt.Equal(tc.at) {
					t.Errorf("after use: state expires %v, updated %v; want no expiry, updated %v", a.StateExpiresAt(), a.Snapshot().UpdatedAt, tc.at)
				}
				if a.AttemptID() != before.AttemptID {
					t.Errorf("after use: attempt %s, want %s still in flight until its grant lands", a.AttemptID(), before.AttemptID)
				}
				if err := a.ConsumeState(value, tc.at); !errors.Is(err, ErrStateUsed) {
					t.Errorf("second use: %v, want ErrStateUsed", err)
				}
				return
			}
			want := tc.want
			if want == nil {
				want = ErrInvalidState
			}
			if !errors.Is(err, ErrInvalidState) || !errors.Is(err, domain.ErrInvalidRequest) {
				t.Fatalf("ConsumeState: %v, want ErrInvalidState (an invalid request)", err)
			}
			specific := errors.Is(err, ErrStateUsed) || errors.Is(err, ErrStateExpired)
			if !errors.Is(err, want) || (tc.want == nil && specific) {
				t.Errorf("ConsumeState: %v, want %v", err, want)
			}
			if check := RehydrateAuthorization(before).CheckState(value, tc.at); !errors.Is(check, want) {
				t.Errorf("CheckState: %v, want %v", check, want)
			}
			unchanged(t, "a refused state", a, before)
		})
	}
}

// A grant lands only on the attempt it belongs to (SECURITY.md): one revoked or
// replaced while its grant was being exchanged is refused, and nothing changes.
func TestGrantAttemptLandsOnlyOnTheAttemptItBelongsTo(t *testing.T) {
	creds := Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: t0.Add(time.Hour)}
	at := t0.Add(time.Minute)
	for _, tc := range []struct {
		name string
		// meanwhile happens after the state of attempt was used and returns the
		// attempt id to grant.
		meanwhile func(a *Authorization, attempt uuid.UUID) uuid.UUID
		ok        bool
	}{
		{name: "nothing happened", ok: true, meanwhile: func(_ *Authorization, attempt uuid.UUID) uuid.UUID { return attempt }},
		{name: "the attempt was revoked", meanwhile: func(a *Authorization, attempt uuid.UUID) uuid.UUID {
			a.Revoke(t0)
			return attempt
		}},
		{name: "a newer attempt started", meanwhile: func(a *Authorization, attempt uuid.UUID) uuid.UUID {
			a.StartAttempt(uuid.New(), NewState(), t0.Add(StateTTL), t0)
			return attempt
		}},
		{name: "a newer attempt started and its state was used", meanwhile: func(a *Authorization, attempt uuid.UUID) uuid.UUID {
			st := NewState()
			a.StartAttempt(uuid.New(), st, t0.Add(StateTTL), t0)
			if err := a.ConsumeState(st.Value, t0); err != nil {
				panic(err)
			}
			return attempt
		}},
		{name: "the attempt was granted already", meanwhile: func(a *Authorization, attempt uuid.UUID) uuid.UUID {
			if err := a.GrantAttempt(attempt, Credentials{AccessToken: "first"}, t0); err != nil {
				panic(err)
			}
			return attempt
		}},
		{name: "no attempt named", meanwhile: func(*Authorization, uuid.UUID) uuid.UUID { return uuid.Nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, st := pending(t)
			attempt := a.AttemptID()
			if err := a.ConsumeState(st.Value, t0); err != nil {
				t.Fatal(err)
			}
			grant := tc.meanwhile(a, attempt)
			before := a.Snapshot()
			err := a.GrantAttempt(grant, creds, at)
			if !tc.ok {
				mustBeInvalidState(t, err)
				unchanged(t, "a refused grant", a, before)
				return
			}
			if err != nil {
				t.Fatalf("GrantAttempt: %v", err)
			}
			if !a.IsAuthorized() || !reflect.DeepEqual(a.Credentials(), creds) || !a.AuthorizedAt().Equal(at) {
				t.Errorf("%v with %+v authorized %v, want active with the grant at %v", a.Status(), a.Credentials(), a.AuthorizedAt(), at)
			}
			if a.AttemptID() != uuid.Nil {
				t.Errorf("attempt %s still in flight after its grant landed", a.AttemptID())
			}
		})
	}
}

func TestGrantAttemptRefusesAnAttemptWhoseStateWasNotUsed(t *testing.T) {
	a, _ := pending(t)
	before := a.Snapshot()
	mustBeInvalidState(t, a.GrantAttempt(a.AttemptID(), Credentials{AccessToken: "a"}, t0))
	unchanged(t, "granting an attempt whose state was not used", a, before)
}

func mustBeInvalidState(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidState) {
		t.Fatalf("err = %v, want ErrInvalidState", err)
	}
}

func TestGrantMakesTheAuthorizationActiveFromScratch(t *testing.T) {
	a := inStatus(t, AuthorizationActive)
	owner := uuid.New()
	if err := a.ClaimRefresh(owner, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a.Refreshed(owner, Credentials{AccessToken: "a2", ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(time.Minute))
	granted := t0.Add(time.Hour)
	creds := Credentials{AccessToken: "new", RefreshToken: "new-r", ExpiresAt: granted.Add(30 * time.Minute),
		Scopes: []string{"read"}, ExternalID: "item-2"}
	a.Grant(creds, granted)
	if a.Status() != AuthorizationActive || !a.IsAuthorized() {
		t.Errorf("status %v, authorized %v; want active and authorized", a.Status(), a.IsAuthorized())
	}
	if !reflect.DeepEqual(a.Credentials(), creds) {
		t.Errorf("credentials %+v, want exactly the granted %+v", a.Credentials(), creds)
	}
	if !a.AuthorizedAt().Equal(granted) || !a.RefreshedAt().IsZero() {
		t.Errorf("authorized %v, refreshed %v; want authorized %v and never refreshed since", a.AuthorizedAt(), a.RefreshedAt(), granted)
	}
}

func TestGrantOfAnEmptyTokenIsNotAuthorized(t *testing.T) {
	a, _ := pending(t)
	a.Grant(Credentials{}, t0)
	if a.IsAuthorized() {
		t.Error("an active authorization without tokens counts as authorized")
	}
}

func TestClaimRefresh(t *testing.T) {
	me, other := uuid.New(), uuid.New()
	until := t0.Add(time.Minute)
	for _, tc := range []struct {
		name      string
		status    AuthorizationStatus
		heldBy    uuid.UUID // the lease held before, until `until`
		at        time.Time
		wantErr   error
		wantOwner uuid.UUID
	}{
		{name: "a free lease is taken", status: AuthorizationActive, at: t0, wantOwner: me},
		{name: "another owner's live lease is refused", status: AuthorizationActive, heldBy: other, at: until.Add(-time.Microsecond),
			wantErr: ErrRefreshInProgress, wantOwner: other},
		{name: "another owner's lease is taken over the instant it runs out", status: AuthorizationActive, heldBy: other, at: until, wantOwner: me},
		{name: "another owner's expired lease is taken over", status: AuthorizationActive, heldBy: other, at: until.Add(time.Hour), wantOwner: me},
		{name: "the owner claims again and extends it", status: AuthorizationActive, heldBy: me, at: t0.Add(30 * time.Second), wantOwner: me},
		{name: "pending is not authorized", status: AuthorizationPending, at: t0, wantErr: ErrNotAuthorized},
		{name: "reauthorization required is not authorized", status: AuthorizationReauthorizationRequired, at: t0, wantErr: ErrNotAuthorized},
		{name: "revoked is not authorized", status: AuthorizationRevoked, at: t0, wantErr: ErrNotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := inStatus(t, tc.status)
			if tc.heldBy != uuid.Nil {
				if err := a.ClaimRefresh(tc.heldBy, t0, until); err != nil {
					t.Fatal(err)
				}
			}
			before := a.Snapshot()
			newUntil := tc.at.Add(time.Minute)
			err := a.ClaimRefresh(me, tc.at, newUntil)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, domain.ErrConflict) {
					t.Fatalf("ClaimRefresh: %v, want %v (a conflict)", err, tc.wantErr)
				}
				unchanged(t, "a refused claim", a, before)
			} else if err != nil {
				t.Fatalf("ClaimRefresh: %v", err)
			}
			if got := a.Snapshot(); got.LeaseOwner != tc.wantOwner {
				t.Errorf("lease owner %s, want %s", got.LeaseOwner, tc.wantOwner)
			} else if tc.wantErr == nil && !got.LeaseUntil.Equal(newUntil) {
				t.Errorf("lease until %v, want %v", got.LeaseUntil, newUntil)
			}
			if tc.wantOwner != uuid.Nil && !a.HoldsLease(tc.wantOwner) {
				t.Errorf("HoldsLease(%s) = false", tc.wantOwner)
			}
			if a.HoldsLease(uuid.New()) {
				t.Error("a stranger holds the lease")
			}
		})
	}
}

func TestReleaseRefreshFreesOnlyTheOwnersLease(t *testing.T) {
	a := inStatus(t, AuthorizationActive)
	owner := uuid.New()
	if err := a.ClaimRefresh(owner, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	before := a.Snapshot()
	a.ReleaseRefresh(uuid.New())
	unchanged(t, "a release by another owner", a, before)
	if err := a.ClaimRefresh(uuid.New(), t0, t0.Add(time.Minute)); !errors.Is(err, ErrRefreshInProgress) {
		t.Fatalf("after another owner's release, a third party's claim: %v, want ErrRefreshInProgress", err)
	}

	a.ReleaseRefresh(owner)
	if a.HoldsLease(owner) {
		t.Error("the owner still holds the lease it released")
	}
	if err := a.ClaimRefresh(uuid.New(), t0, t0.Add(time.Minute)); err != nil {
		t.Errorf("claim after release: %v", err)
	}
	if !reflect.DeepEqual(a.Credentials(), before.Credentials) || a.Status() != AuthorizationActive {
		t.Error("releasing the lease changed the grant")
	}
}

// The institution may resend only the access token: what it did not resend is
// kept; what it did replaces the old value.
func TestRefreshedKeepsWhatTheInstitutionDidNotResend(t *testing.T) {
	old := Credentials{AccessToken: "a1", RefreshToken: "r1", ExpiresAt: t0.Add(30 * time.Minute),
		RefreshExpiresAt: t0.Add(7 * 24 * time.Hour), Scopes: []string{"read", "trade"}, ExternalID: "item-1"}
	at := t0.Add(25 * time.Minute)
	for _, tc := range []struct {
		name      string
		resent    Credentials
		wantCreds Credentials
	}{
		{
			name:   "only a new access token",
			resent: Credentials{AccessToken: "a2", ExpiresAt: at.Add(30 * time.Minute)},
			wantCreds: Credentials{AccessToken: "a2", RefreshToken: "r1", ExpiresAt: at.Add(30 * time.Minute),
				RefreshExpiresAt: old.RefreshExpiresAt, Scopes: old.Scopes, ExternalID: "item-1"},
		},
		{
			name: "everything anew",
			resent: Credentials{AccessToken: "a2", RefreshToken: "r2", ExpiresAt: at.Add(30 * time.Minute),
				RefreshExpiresAt: at.Add(24 * time.Hour), Scopes: []string{"read"}, ExternalID: "item-2"},
			wantCreds: Credentials{AccessToken: "a2", RefreshToken: "r2", ExpiresAt: at.Add(30 * time.Minute),
				RefreshExpiresAt: at.Add(24 * time.Hour), Scopes: []string{"read"}, ExternalID: "item-2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := pending(t)
			a.Grant(old, t0)
			owner := uuid.New()
			if err := a.ClaimRefresh(owner, at, at.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			a.Refreshed(owner, tc.resent, at)
			if !reflect.DeepEqual(a.Credentials(), tc.wantCreds) {
				t.Errorf("credentials %+v, want %+v", a.Credentials(), tc.wantCreds)
			}
			if !a.RefreshedAt().Equal(at) || !a.AuthorizedAt().Equal(t0) || a.Status() != AuthorizationActive {
				t.Errorf("refreshed %v, authorized %v, status %v; want refreshed %v, still authorized at %v, active",
					a.RefreshedAt(), a.AuthorizedAt(), a.Status(), at, t0)
			}
			if a.HoldsLease(owner) {
				t.Error("the lease is still held after the refresh landed")
			}
		})
	}
}

func TestRequireReauthorizationWipesTheGrant(t *testing.T) {
	a := inStatus(t, AuthorizationActive)
	owner := uuid.New()
	if err := a.ClaimRefresh(owner, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	a.RequireReauthorization(at)
	if a.Status() != AuthorizationReauthorizationRequired || a.IsAuthorized() || !a.Credentials().IsZero() {
		t.Errorf("status %v, authorized %v, credentials %+v; want reauthorization_required with nothing held",
			a.Status(), a.IsAuthorized(), a.Credentials())
	}
	if a.HoldsLease(owner) || !a.Snapshot().UpdatedAt.Equal(at) {
		t.Errorf("lease kept (%v) or updated_at %v, want the lease free and updated at %v", a.HoldsLease(owner), a.Snapshot().UpdatedAt, at)
	}
	if a.RefreshDue(at.Add(time.Hour), time.Minute) {
		t.Error("a grant that needs reauthorization is due for refresh")
	}
}

func TestRevokeWipesTheGrantAndEndsTheAttempt(t *testing.T) {
	a, st := pending(t)
	a.Grant(Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: t0.Add(time.Hour)}, t0)
	a.StartAttempt(uuid.New(), st, t0.Add(StateTTL), t0) // a new consent in flight
	owner := uuid.New()
	if err := a.ClaimRefresh(owner, t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	a.Revoke(at)
	if a.Status() != AuthorizationRevoked || a.IsAuthorized() || !a.Credentials().IsZero() {
		t.Errorf("status %v, authorized %v, credentials %+v; want revoked with nothing held", a.Status(), a.IsAuthorized(), a.Credentials())
	}
	if a.AttemptID() != uuid.Nil || !a.StateExpiresAt().IsZero() || a.Snapshot().StateHash != nil {
		t.Errorf("attempt %s expiring %v still in flight", a.AttemptID(), a.StateExpiresAt())
	}
	if err := a.ConsumeState(st.Value, at); !errors.Is(err, ErrInvalidState) {
		t.Errorf("the attempt's state after a revoke: %v, want ErrInvalidState", err)
	}
	if a.HoldsLease(owner) {
		t.Error("a refresh keeps its lease through a revoke")
	}
}

func TestParseAuthorizationStatusRoundTrips(t *testing.T) {
	statuses := AuthorizationStatuses()
	if len(statuses) != 5 {
		t.Fatalf("%d statuses, want 5", len(statuses))
	}
	for _, s := range statuses {
		got, err := ParseAuthorizationStatus(s.String())
		if err != nil || got != s {
			t.Errorf("ParseAuthorizationStatus(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Active", " active", "not connected", "unknown"} {
		if got, err := ParseAuthorizationStatus(bad); err == nil {
			t.Errorf("ParseAuthorizationStatus(%q) = %v, want an error", bad, got)
		}
	}
}

func TestConnectionStatusIsTheProviderStatusOfTheSameName(t *testing.T) {
	want := map[AuthorizationStatus]Status{
		AuthorizationNotConnected:            StatusNotConnected,
		AuthorizationPending:                 StatusPending,
		AuthorizationActive:                  StatusActive,
		AuthorizationReauthorizationRequired: StatusReauthorizationRequired,
		AuthorizationRevoked:                 StatusRevoked,
	}
	for _, s := range AuthorizationStatuses() {
		if got := s.ConnectionStatus(); got != want[s] || got.IsZero() {
			t.Errorf("%v.ConnectionStatus() = %v, want %v", s, got, want[s])
		}
	}
}

func TestAuthorizationSnapshotRoundTrips(t *testing.T) {
	st := NewState()
	s := AuthorizationSnapshot{
		ProviderID: uuid.New(), UserID: uuid.New(), Status: AuthorizationActive,
		AttemptID: uuid.New(), StateHash: st.Hash[:], StateExpiresAt: t0.Add(StateTTL),
		Credentials: Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: t0.Add(time.Hour),
			RefreshExpiresAt: t0.Add(24 * time.Hour), Scopes: []string{"read", "trade"}, ExternalID: "item"},
		AuthorizedAt: t0.Add(-time.Hour), RefreshedAt: t0.Add(-time.Minute),
		LeaseOwner: uuid.New(), LeaseUntil: t0.Add(time.Minute),
		CreatedAt: t0.Add(-2 * time.Hour), UpdatedAt: t0,
	}
	a := RehydrateAuthorization(s)
	if got := a.Snapshot(); !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if err := a.ConsumeState(st.Value, t0); err != nil {
		t.Errorf("the rehydrated attempt's state: %v", err)
	}
	// Neither side shares the scopes slice.
	s.Credentials.Scopes[0] = "changed"
	if a.Credentials().Scopes[0] != "read" {
		t.Error("changing the snapshot changed the authorization")
	}
	a.Credentials().Scopes[1] = "changed"
	if a.Snapshot().Credentials.Scopes[1] != "trade" {
		t.Error("changing Credentials() changed the authorization")
	}
}

// An attempt whose state was used is stored with the state's digest and no
// expiry (so a replay is recognised) and with its id, which its grant must
// match.
func TestAUsedAttemptIsStoredWithItsStateMarkedUsed(t *testing.T) {
	a, st := pending(t)
	if err := a.ConsumeState(st.Value, t0); err != nil {
		t.Fatal(err)
	}
	s := a.Snapshot()
	if !bytes.Equal(s.StateHash, st.Hash[:]) || !s.StateExpiresAt.IsZero() || s.AttemptID != a.AttemptID() || s.AttemptID == uuid.Nil {
		t.Fatalf("snapshot has state hash %x expiring %v for attempt %s; want the used state's digest, no expiry and the attempt", s.StateHash, s.StateExpiresAt, s.AttemptID)
	}
	back := RehydrateAuthorization(s)
	if err := back.CheckState(st.Value, t0); !errors.Is(err, ErrStateUsed) {
		t.Errorf("the used state after storage: %v, want ErrStateUsed", err)
	}
	if err := back.GrantAttempt(s.AttemptID, Credentials{AccessToken: "a"}, t0); err != nil {
		t.Errorf("granting the rehydrated attempt: %v", err)
	}
	if err := back.CheckState(st.Value, t0); !errors.Is(err, ErrStateUsed) {
		t.Errorf("the state after its grant landed: %v, want ErrStateUsed", err)
	}
}

func TestNewStateIsRandomAndStoredByItsDigest(t *testing.T) {
	a, b := NewState(), NewState()
	if a.Value == b.Value || len(a.Value) != 43 {
		t.Fatalf("states %q and %q: want two different 43-character values", a.Value, b.Value)
	}
	if a.Hash != HashState(a.Value) || a.Hash == HashState(b.Value) {
		t.Error("a state's hash is not the digest of its value")
	}
}

// settled brings an authorization to status s the way the use cases do, with
// no attempt in flight.
func settled(t *testing.T, s AuthorizationStatus) *Authorization {
	t.Helper()
	a, st := pending(t)
	grant := func() {
		if err := a.ConsumeState(st.Value, t0); err != nil {
			t.Fatal(err)
		}
		if err := a.GrantAttempt(a.AttemptID(), Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: t0.Add(time.Hour)}, t0); err != nil {
			t.Fatal(err)
		}
	}
	switch s {
	case AuthorizationNotConnected:
		if err := a.Decline(st.Value, t0); err != nil {
			t.Fatal(err)
		}
	case AuthorizationActive:
		grant()
	case AuthorizationReauthorizationRequired:
		grant()
		a.RequireReauthorization(t0)
	case AuthorizationRevoked:
		a.Revoke(t0)
	default:
		t.Fatalf("no way to settle in status %v", s)
	}
	if a.Status() != s || a.AttemptID() != uuid.Nil {
		t.Fatalf("set-up reached %v with attempt %s, want %v with none", a.Status(), a.AttemptID(), s)
	}
	return a
}

// Hardening item 4: an attempt the institution ends with an error (the user
// declined) or whose exchange failed returns the status to what it was
// before the attempt; an active grant stays active; using its state again
// reads as a replay.
func TestEndingAnAttemptRestoresTheStatusBeforeIt(t *testing.T) {
	for _, before := range []AuthorizationStatus{AuthorizationNotConnected, AuthorizationActive,
		AuthorizationReauthorizationRequired, AuthorizationRevoked} {
		t.Run(before.String(), func(t *testing.T) {
			a := settled(t, before)
			creds := a.Credentials()
			first, second := NewState(), NewState()
			a.StartAttempt(uuid.New(), first, t0.Add(StateTTL), t0)
			a.StartAttempt(uuid.New(), second, t0.Add(StateTTL), t0) // started again: still the same "before"
			if want := map[bool]AuthorizationStatus{true: AuthorizationActive, false: AuthorizationPending}[before == AuthorizationActive]; a.Status() != want {
				t.Fatalf("during the attempt: %v, want %v", a.Status(), want)
			}
			at := t0.Add(time.Minute)
			if err := a.Decline(second.Value, at); err != nil {
				t.Fatalf("Decline: %v", err)
			}
			if a.Status() != before || a.AttemptID() != uuid.Nil || !reflect.DeepEqual(a.Credentials(), creds) || !a.Snapshot().UpdatedAt.Equal(at) {
				t.Errorf("after the decline: %v, attempt %s, %+v; want %v, no attempt, the credentials before", a.Status(), a.AttemptID(), a.Credentials(), before)
			}
			if err := a.CheckState(second.Value, at); !errors.Is(err, ErrStateUsed) {
				t.Errorf("the declined state again: %v, want ErrStateUsed", err)
			}
			if err := a.Decline(second.Value, at); !errors.Is(err, ErrStateUsed) {
				t.Errorf("declining again: %v, want ErrStateUsed", err)
			}
		})
	}
}

func TestDeclineRefusesAStateThatIsNotTheAttemptsAndEndsAnExpiredOne(t *testing.T) {
	a, st := pending(t)
	before := a.Snapshot()
	for _, v := range []string{"", NewState().Value} {
		if err := a.Decline(v, t0); !errors.Is(err, ErrInvalidState) {
			t.Errorf("Decline(%q): %v, want ErrInvalidState", v, err)
		}
	}
	unchanged(t, "refused declines", a, before)
	if err := a.Decline(st.Value, t0.Add(time.Hour)); err != nil || a.Status() != AuthorizationNotConnected {
		t.Errorf("declining an expired attempt: %v, status %v; want it ended, not connected", err, a.Status())
	}
}

func TestEndAttemptLeavesANewerAttemptAndARefusalRecordedMeanwhile(t *testing.T) {
	a, st := pending(t)
	old := a.AttemptID()
	if err := a.ConsumeState(st.Value, t0); err != nil {
		t.Fatal(err)
	}
	a.StartAttempt(uuid.New(), NewState(), t0.Add(StateTTL), t0)
	before := a.Snapshot()
	if a.EndAttempt(old, t0) || a.EndAttempt(uuid.Nil, t0) {
		t.Error("ended an attempt that is no longer in flight")
	}
	unchanged(t, "ending a superseded attempt", a, before)

	b := settled(t, AuthorizationActive)
	b.StartAttempt(uuid.New(), NewState(), t0.Add(StateTTL), t0)
	b.RequireReauthorization(t0) // the old grant's refresh was refused meanwhile
	if !b.EndAttempt(b.AttemptID(), t0) || b.Status() != AuthorizationReauthorizationRequired {
		t.Errorf("after ending the attempt: %v, want the refusal kept (reauthorization_required)", b.Status())
	}
}
