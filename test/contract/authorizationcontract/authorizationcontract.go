// Package authorizationcontract is the contract test suite of the providers
// application's Authorizations port. Every implementation, the in-memory fake as
// much as the SQL adapter on SQLite and Postgres, runs the same suite, so a
// use-case test that passes against the fake means the same against the
// database.
//
// What only the SQL adapter can show (credentials are ciphertext at rest, bound
// to their row, and survive a key rotation) is tested next to it, in
// adapters/persistence.
package authorizationcontract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/contract/providercontract"
)

// Harness is one store under test, the provider store it shares its providers
// with, and the means to create the users those providers belong to.
type Harness struct {
	Store providersapp.Authorizations
	// Providers stores the providers Store authorizes: the same database, or, for
	// the in-memory fake, the provider store the fake was built on.
	Providers providersapp.Repository
	// NewUser stores a new user and returns its id. A SQL store needs real users,
	// because providers reference them (UsersVia makes them); nil means any fresh
	// id will do, as for the in-memory fake.
	NewUser func(ctx context.Context) (uuid.UUID, error)
}

// UsersVia returns a Harness.NewUser that registers each user through users
// (the provider contract kit's, since providers need the same owners).
func UsersVia(users identityapp.Users) func(ctx context.Context) (uuid.UUID, error) {
	return providercontract.UsersVia(users)
}

// base is the suite's clock: a fixed instant, in UTC, with a sub-second part that
// survives microsecond storage.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// local is a zone other than UTC, for times the stores must convert.
var local = time.FixedZone("UTC+5", 5*3600)

// errBoom is what the suite's closures return to make an update fail.
var errBoom = errors.New("boom (from the test's closure)")

// Run runs the suite: each of its tests as a subtest of t, on the harness
// newHarness returns when called from that subtest. newHarness must return a
// harness on empty stores of its own each time.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHarness(t)) })
	}
}

// tests are the suite's cases, in the order they run: what each proves, and
// the function that proves it on a harness of its own.
var tests = []struct {
	name string
	test func(t *testing.T, h Harness)
}{
	{"the first update gets nil and inserts the authorization it returns, with the provider's status", firstUpdateInsertsWithTheProvidersStatus},
	{"every field round-trips, in UTC to the microsecond, by provider and by state, on insert and on update", everyFieldRoundTrips},
	{"stored entities are copies: changing one read or saved does not change the store", storedEntitiesAreCopies},
	{"fn's error aborts the provider's and the authorization's changes, on insert and on update", fnErrorAbortsEveryChange},
	{"the provider's status, version and updated_at are saved with the authorization", providerIsSavedWithTheAuthorization},
	{"fn may return nil: only the provider is saved", nilAuthorizationSavesOnlyTheProvider},
	{"UpdateAuthorization returns the provider and authorization as stored, or the current authorization when fn returns nil", updateAuthorizationReturnsWhatItStored},
	{"a rename onto a taken alias inside the closure is ErrAliasTaken and saves nothing", renameOntoTakenAliasSavesNothing},
	{"an authorization of another provider, or scopes that cannot be stored, are refused and save nothing", foreignOrUnstorableAuthorizationIsRefused},
	{"unknown ids are ErrNotFound, and fn is not called", unknownIDsAreNotFound},
	{"AuthorizationByState finds the attempt in flight and a used-up state (a replay), not a replaced one", byStateFindsTheAttemptInFlightAndAUsedStateButNotAReplacedOne},
	{"ClaimDueRefreshes claims only active, refreshable, due authorizations whose lease is free or ran out", claimTakesOnlyDueAuthorizationsWithAFreeLease},
	{"ClaimDueRefreshes takes at most limit, the soonest expiring first", claimTakesAtMostLimitSoonestFirst},
	{"two claimers at the same moment get disjoint sets: every due authorization is claimed exactly once", concurrentClaimersGetDisjointSets},
	{"a claimed lease is the domain's lease: another owner cannot take it until it runs out", claimedLeaseHoldsUntilItRunsOut},
	{"deleting the provider deletes its authorization", deletingTheProviderDeletesItsAuthorization},
}

func updateAuthorizationReturnsWhatItStored(t *testing.T, h Harness) {
	p := newProvider(t, h)
	changedAt := base.Add(time.Minute).In(time.FixedZone("UTC-3", -3*3600)).Add(321 * time.Nanosecond)
	want := activeSnapshot(p, base.Add(time.Hour))
	gotP, gotA, err := h.Store.UpdateAuthorization(t.Context(), p.ID(), func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
		a := provider.RehydrateAuthorization(want)
		p.FollowAuthorization(a, changedAt)
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
	stored := mustProvider(t, h, p.ID())
	if gotP.Status() != provider.StatusActive || gotP.Version() != stored.Version() || !gotP.UpdatedAt().Equal(stored.UpdatedAt()) ||
		gotP.UpdatedAt().Location() != time.UTC || !gotP.UpdatedAt().Equal(storedTime(changedAt)) {
		t.Errorf("returned provider %s v%d updated %v; stored v%d updated %v; want the stored one, in UTC to the microsecond",
			gotP.Status(), gotP.Version(), gotP.UpdatedAt(), stored.Version(), stored.UpdatedAt())
	}
	assertSnapshot(t, gotA.Snapshot(), mustAuthorization(t, h, p.ID()).Snapshot())
	assertSnapshot(t, gotA.Snapshot(), want)

	// fn returning nil saves no authorization: the current one comes back.
	_, gotA, err = h.Store.UpdateAuthorization(t.Context(), p.ID(), func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
		return nil, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization returning nil: %v", err)
	}
	if gotA == nil {
		t.Fatal("UpdateAuthorization returning nil: got no authorization, want the current one")
	}
	assertSnapshot(t, gotA.Snapshot(), want)

	// With no authorization at all, none comes back.
	other := newProvider(t, h)
	gotP, gotA, err = h.Store.UpdateAuthorization(t.Context(), other.ID(), func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
		return nil, nil
	})
	if err != nil || gotA != nil || gotP.ID() != other.ID() {
		t.Errorf("no authorization: got provider %v, authorization %v, %v; want the provider, nil, nil", gotP, gotA, err)
	}
}

func firstUpdateInsertsWithTheProvidersStatus(t *testing.T, h Harness) {
	p := newProvider(t, h)
	state := provider.NewState()
	attempt := newID(t)
	var calls int
	err := updateAuthorization(t, h, p.ID(), func(got *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		calls++
		if a != nil {
			t.Errorf("fn got authorization %s, want nil: none exists yet", a.ProviderID())
		}
		if got.ID() != p.ID() {
			t.Errorf("fn got provider %s, want %s", got.ID(), p.ID())
		}
		a = provider.NewAuthorization(got, attempt, state, base.Add(provider.StateTTL), base)
		got.FollowAuthorization(a, base)
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
	if calls != 1 {
		t.Fatalf("fn called %d times, want 1", calls)
	}
	got := mustAuthorization(t, h, p.ID())
	want := provider.AuthorizationSnapshot{
		ProviderID: p.ID(), UserID: p.UserID(), Status: provider.AuthorizationPending, AttemptID: attempt,
		StateHash: state.Hash[:], StateExpiresAt: base.Add(provider.StateTTL), PriorStatus: provider.AuthorizationNotConnected,
		CreatedAt: base, UpdatedAt: base,
	}
	assertSnapshot(t, got.Snapshot(), want)
	if st := mustProvider(t, h, p.ID()).Status(); st != provider.StatusPending {
		t.Errorf("provider status %s, want pending", st)
	}
}

func everyFieldRoundTrips(t *testing.T, h Harness) {
	p := newProvider(t, h)
	first := fullSnapshot(t, p, 0)
	put(t, h, provider.RehydrateAuthorization(first))
	assertSnapshot(t, mustAuthorization(t, h, p.ID()).Snapshot(), first)
	byState, err := h.Store.AuthorizationByState(t.Context(), [32]byte(first.StateHash))
	if err != nil {
		t.Fatalf("AuthorizationByState: %v", err)
	}
	assertSnapshot(t, byState.Snapshot(), first)

	// Every field changed, saved over the first.
	second := fullSnapshot(t, p, 1)
	second.Status = provider.AuthorizationReauthorizationRequired
	put(t, h, provider.RehydrateAuthorization(second))
	assertSnapshot(t, mustAuthorization(t, h, p.ID()).Snapshot(), second)

	// And every optional field back to its zero value.
	empty := provider.AuthorizationSnapshot{ProviderID: p.ID(), UserID: p.UserID(), Status: provider.AuthorizationRevoked,
		CreatedAt: first.CreatedAt, UpdatedAt: first.UpdatedAt.Add(time.Hour)}
	put(t, h, provider.RehydrateAuthorization(empty))
	assertSnapshot(t, mustAuthorization(t, h, p.ID()).Snapshot(), empty)
	for _, hash := range [][]byte{first.StateHash, second.StateHash} {
		if _, err := h.Store.AuthorizationByState(t.Context(), [32]byte(hash)); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("AuthorizationByState of a state no longer in flight: got %v, want ErrNotFound", err)
		}
	}
}

func storedEntitiesAreCopies(t *testing.T, h Harness) {
	p := newProvider(t, h)
	s := fullSnapshot(t, p, 0)
	saved := provider.RehydrateAuthorization(s)
	put(t, h, saved)
	// Revoke zeroes the state digest in place: a store that kept a slice of it
	// would see its stored digest change.
	saved.Revoke(base.Add(time.Hour))
	read := mustAuthorization(t, h, p.ID())
	read.Revoke(base.Add(time.Hour))
	assertSnapshot(t, mustAuthorization(t, h, p.ID()).Snapshot(), s)
}

func fnErrorAbortsEveryChange(t *testing.T, h Harness) {
	p := newProvider(t, h)
	err := updateAuthorization(t, h, p.ID(), func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
		a := provider.NewAuthorization(p, newID(t), provider.NewState(), base.Add(provider.StateTTL), base)
		p.SetStatus(provider.StatusPending, base.Add(time.Minute))
		return a, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateAuthorization: got %v, want the closure's error", err)
	}
	if _, err := h.Store.AuthorizationByProvider(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a failed insert stored an authorization: got %v, want ErrNotFound", err)
	}
	assertProviderUnchanged(t, h, p)

	s := activeSnapshot(p, base.Add(time.Hour))
	put(t, h, provider.RehydrateAuthorization(s))
	before := mustProvider(t, h, p.ID())
	err = updateAuthorization(t, h, p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		a.RequireReauthorization(base.Add(time.Minute))
		p.FollowAuthorization(a, base.Add(time.Minute))
		return a, fmt.Errorf("wrapped: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateAuthorization: got %v, want the closure's error", err)
	}
	assertSnapshot(t, mustAuthorization(t, h, p.ID()).Snapshot(), s)
	assertProviderUnchanged(t, h, before)
}

func providerIsSavedWithTheAuthorization(t *testing.T, h Harness) {
	p := newProvider(t, h)
	put(t, h, provider.NewAuthorization(p, newID(t), provider.NewState(), base.Add(provider.StateTTL), base))
	before := mustProvider(t, h, p.ID())
	grantedAt := base.Add(time.Minute).In(local).Add(789 * time.Nanosecond)
	creds := provider.Credentials{AccessToken: "at-1", RefreshToken: "rt-1", ExpiresAt: base.Add(time.Hour), Scopes: []string{"api"}}
	err := updateAuthorization(t, h, p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		a.Grant(creds, grantedAt)
		p.FollowAuthorization(a, grantedAt)
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
	got := mustProvider(t, h, p.ID())
	if got.Status() != provider.StatusActive || got.Version() <= before.Version() ||
		!got.UpdatedAt().Equal(storedTime(grantedAt)) {
		t.Errorf("provider after the grant: status %s, version %d (was %d), updated_at %v; want active, a higher version, %v",
			got.Status(), got.Version(), before.Version(), got.UpdatedAt(), storedTime(grantedAt))
	}
	a := mustAuthorization(t, h, p.ID())
	if !a.IsAuthorized() || a.Credentials().AccessToken != "at-1" || !a.AuthorizedAt().Equal(storedTime(grantedAt)) {
		t.Errorf("authorization after the grant: authorized %v, access token %q, authorized at %v",
			a.IsAuthorized(), a.Credentials().AccessToken, a.AuthorizedAt())
	}
}

func nilAuthorizationSavesOnlyTheProvider(t *testing.T, h Harness) {
	p := newProvider(t, h)
	err := updateAuthorization(t, h, p.ID(), func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
		p.SetStatus(provider.StatusRevoked, base.Add(time.Minute))
		return nil, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
	if st := mustProvider(t, h, p.ID()).Status(); st != provider.StatusRevoked {
		t.Errorf("provider status %s, want revoked", st)
	}
	if _, err := h.Store.AuthorizationByProvider(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AuthorizationByProvider: got %v, want ErrNotFound", err)
	}
}

func renameOntoTakenAliasSavesNothing(t *testing.T, h Harness) {
	p := newProvider(t, h)
	other := mustNewProvider(t, p.UserID(), "Other")
	if err := h.Providers.CreateProvider(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	err := updateAuthorization(t, h, p.ID(), func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
		if err := p.Rename("OTHER", base.Add(time.Minute)); err != nil {
			return nil, err
		}
		return provider.NewAuthorization(p, newID(t), provider.NewState(), base.Add(provider.StateTTL), base), nil
	})
	if !errors.Is(err, provider.ErrAliasTaken) {
		t.Fatalf("UpdateAuthorization: got %v, want ErrAliasTaken", err)
	}
	assertProviderUnchanged(t, h, p)
	if _, err := h.Store.AuthorizationByProvider(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AuthorizationByProvider: got %v, want ErrNotFound", err)
	}
}

func foreignOrUnstorableAuthorizationIsRefused(t *testing.T, h Harness) {
	p, q := newProvider(t, h), newProvider(t, h)
	s := activeSnapshot(p, base.Add(time.Hour))
	put(t, h, provider.RehydrateAuthorization(s))
	foreign := provider.RehydrateAuthorization(activeSnapshot(q, base.Add(time.Hour)))
	spaced := activeSnapshot(p, base.Add(time.Hour))
	spaced.Credentials.Scopes = []string{"read write"}
	empty := activeSnapshot(p, base.Add(time.Hour))
	empty.Credentials.Scopes = []string{"read", ""}
	for name, a := range map[string]*provider.Authorization{
		"another provider's":   foreign,
		"a scope with a space": provider.RehydrateAuthorization(spaced),
		"an empty scope":       provider.RehydrateAuthorization(empty),
	} {
		err := updateAuthorization(t, h, p.ID(), func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
			p.SetStatus(provider.StatusRevoked, base.Add(time.Minute))
			return a, nil
		})
		if err == nil || errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalidRequest) {
			t.Errorf("returning %s authorization: got %v, want an internal error", name, err)
		}
	}
	assertSnapshot(t, mustAuthorization(t, h, p.ID()).Snapshot(), s)
	assertProviderUnchanged(t, h, p)
	if _, err := h.Store.AuthorizationByProvider(t.Context(), q.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the other provider got an authorization: %v", err)
	}
}

func unknownIDsAreNotFound(t *testing.T, h Harness) {
	p := newProvider(t, h)
	if _, err := h.Store.AuthorizationByProvider(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AuthorizationByProvider of a provider without one: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.AuthorizationByProvider(t.Context(), newID(t)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AuthorizationByProvider of an unknown provider: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.AuthorizationByState(t.Context(), provider.NewState().Hash); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AuthorizationByState of an unknown state: got %v, want ErrNotFound", err)
	}
	err := updateAuthorization(t, h, newID(t), func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
		t.Error("fn called for an unknown provider")
		return nil, nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateAuthorization of an unknown provider: got %v, want ErrNotFound", err)
	}
}

func byStateFindsTheAttemptInFlightAndAUsedStateButNotAReplacedOne(t *testing.T, h Harness) {
	p, q := newProvider(t, h), newProvider(t, h)
	first, other := provider.NewState(), provider.NewState()
	put(t, h, provider.NewAuthorization(p, newID(t), first, base.Add(provider.StateTTL), base))
	put(t, h, provider.NewAuthorization(q, newID(t), other, base.Add(provider.StateTTL), base))

	if got := mustByState(t, h, first); got.ProviderID() != p.ID() {
		t.Fatalf("AuthorizationByState found provider %s, want %s", got.ProviderID(), p.ID())
	}
	if got := mustByState(t, h, other); got.ProviderID() != q.ID() {
		t.Fatalf("AuthorizationByState found provider %s, want %s", got.ProviderID(), q.ID())
	}
	// An expired state is still found: the domain, not the store, refuses it.
	if got := mustByState(t, h, first); !got.StateExpiresAt().Equal(base.Add(provider.StateTTL)) {
		t.Errorf("state expires at %v, want %v", got.StateExpiresAt(), base.Add(provider.StateTTL))
	}

	second, secondAttempt := provider.NewState(), newID(t)
	update(t, h, p.ID(), func(_ *provider.Provider, a *provider.Authorization) error {
		a.StartAttempt(secondAttempt, second, base.Add(time.Minute+provider.StateTTL), base.Add(time.Minute))
		return nil
	})
	if _, err := h.Store.AuthorizationByState(t.Context(), first.Hash); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a replaced state: got %v, want ErrNotFound", err)
	}
	mustByState(t, h, second)

	update(t, h, p.ID(), func(_ *provider.Provider, a *provider.Authorization) error {
		return a.ConsumeState(second.Value, base.Add(2*time.Minute))
	})
	// A used-up state is still found, so that the domain can tell a replay
	// from a forgery (provider.ErrStateUsed).
	if got := mustByState(t, h, second); !errors.Is(got.CheckState(second.Value, base.Add(2*time.Minute)), provider.ErrStateUsed) {
		t.Errorf("a used-up state found %+v, which does not say it was used", got.Snapshot())
	}
	// The attempt stays in flight, its state used (no expiry), until its grant lands.
	if got := mustAuthorization(t, h, p.ID()); got.AttemptID() != secondAttempt || !got.StateExpiresAt().IsZero() {
		t.Errorf("after ConsumeState: attempt %s, state expires %v; want attempt %s with no state expiry", got.AttemptID(), got.StateExpiresAt(), secondAttempt)
	}
	mustByState(t, h, other)
}

// claimTakesOnlyDueAuthorizationsWithAFreeLease checks which authorizations one
// claim takes, and what it leaves.
func claimTakesOnlyDueAuthorizationsWithAFreeLease(t *testing.T, h Harness) {
	// now and dueBefore carry sub-microsecond parts: the stores compare stored
	// (whole-microsecond) times with them exactly.
	now := base.Add(500 * time.Nanosecond)
	dueBefore := base.Add(5*time.Minute + 500*time.Nanosecond)
	until := base.Add(time.Minute)
	owner, other := newID(t), newID(t)
	cases := []struct {
		name  string
		edit  func(s *provider.AuthorizationSnapshot)
		claim bool
	}{
		{"due, lease free", func(s *provider.AuthorizationSnapshot) {}, true},
		{"expired long ago", func(s *provider.AuthorizationSnapshot) { s.Credentials.ExpiresAt = base.Add(-24 * time.Hour) }, true},
		{"expires in the last microsecond before dueBefore", func(s *provider.AuthorizationSnapshot) {
			s.Credentials.ExpiresAt = base.Add(5 * time.Minute)
		}, true},
		{"lease ran out", func(s *provider.AuthorizationSnapshot) { s.LeaseOwner, s.LeaseUntil = other, base.Add(-time.Second) }, true},
		{"lease runs out now", func(s *provider.AuthorizationSnapshot) { s.LeaseOwner, s.LeaseUntil = other, base }, true},
		{"lease held by another", func(s *provider.AuthorizationSnapshot) {
			s.LeaseOwner, s.LeaseUntil = other, base.Add(time.Microsecond)
		}, false},
		{"lease held by the claimer itself", func(s *provider.AuthorizationSnapshot) { s.LeaseOwner, s.LeaseUntil = owner, base.Add(time.Second) }, false},
		{"expires at dueBefore's microsecond and after", func(s *provider.AuthorizationSnapshot) {
			s.Credentials.ExpiresAt = base.Add(5*time.Minute + time.Microsecond)
		}, false},
		{"not due", func(s *provider.AuthorizationSnapshot) { s.Credentials.ExpiresAt = base.Add(time.Hour) }, false},
		{"no refresh token", func(s *provider.AuthorizationSnapshot) { s.Credentials.RefreshToken = "" }, false},
		{"no expiry", func(s *provider.AuthorizationSnapshot) { s.Credentials.ExpiresAt = time.Time{} }, false},
		{"pending", func(s *provider.AuthorizationSnapshot) { s.Status = provider.AuthorizationPending }, false},
		{"reauthorization required", func(s *provider.AuthorizationSnapshot) { s.Status = provider.AuthorizationReauthorizationRequired }, false},
		{"revoked", func(s *provider.AuthorizationSnapshot) { s.Status = provider.AuthorizationRevoked }, false},
	}
	before := map[uuid.UUID]provider.AuthorizationSnapshot{}
	names := map[uuid.UUID]string{}
	var want []uuid.UUID
	for _, c := range cases {
		p := newProvider(t, h)
		s := activeSnapshot(p, base.Add(time.Minute))
		c.edit(&s)
		put(t, h, provider.RehydrateAuthorization(s))
		before[p.ID()], names[p.ID()] = s, c.name
		if c.claim {
			want = append(want, p.ID())
		}
	}
	slices.SortFunc(want, func(a, b uuid.UUID) int {
		if c := before[a].Credentials.ExpiresAt.Compare(before[b].Credentials.ExpiresAt); c != 0 {
			return c
		}
		return bytes.Compare(a[:], b[:])
	})

	got := claim(t, h, owner, now, dueBefore, until, 100)
	if !slices.Equal(providerIDs(got), want) {
		gotNames, wantNames := make([]string, len(got)), make([]string, len(want))
		for i, a := range got {
			gotNames[i] = names[a.ProviderID()]
		}
		for i, id := range want {
			wantNames[i] = names[id]
		}
		t.Fatalf("claimed %q\nwant %q (soonest expiring first)", gotNames, wantNames)
	}
	for _, a := range got {
		w := before[a.ProviderID()]
		w.LeaseOwner, w.LeaseUntil = owner, until
		assertSnapshot(t, a.Snapshot(), w)
		assertSnapshot(t, mustAuthorization(t, h, a.ProviderID()).Snapshot(), w)
	}
	for id, s := range before {
		if !slices.Contains(want, id) {
			assertSnapshot(t, mustAuthorization(t, h, id).Snapshot(), s)
		}
	}
}

func claimTakesAtMostLimitSoonestFirst(t *testing.T, h Harness) {
	now := base
	ids := make([]uuid.UUID, 5)
	for i := range ids {
		p := newProvider(t, h)
		ids[i] = p.ID()
		// Inserted in the reverse order of expiry.
		put(t, h, provider.RehydrateAuthorization(activeSnapshot(p, now.Add(time.Duration(5-i)*time.Second))))
	}
	slices.Reverse(ids)
	until := now.Add(time.Minute)
	if got := claim(t, h, newID(t), now, now.Add(time.Hour), until, 0); len(got) != 0 {
		t.Errorf("limit 0 claimed %d", len(got))
	}
	var claimed []uuid.UUID
	for _, limit := range []int{2, 2, 10, 10} {
		got := claim(t, h, newID(t), now, now.Add(time.Hour), until, limit)
		if len(got) > limit {
			t.Fatalf("limit %d claimed %d", limit, len(got))
		}
		claimed = append(claimed, providerIDs(got)...)
	}
	if !slices.Equal(claimed, ids) {
		t.Errorf("claimed in the order\n%v\nwant the order of expiry\n%v", claimed, ids)
	}
}

func concurrentClaimersGetDisjointSets(t *testing.T, h Harness) {
	now := base
	const rows, limit, rounds = 20, 15, 3
	for round := range rounds {
		due := map[uuid.UUID]bool{}
		for i := range rows {
			p := newProvider(t, h)
			put(t, h, provider.RehydrateAuthorization(activeSnapshot(p, now.Add(time.Duration(i)*time.Millisecond))))
			due[p.ID()] = true
		}
		owners := [2]uuid.UUID{newID(t), newID(t)}
		var (
			got  [2][]*provider.Authorization
			errs [2]error
			wg   sync.WaitGroup
		)
		start := make(chan struct{})
		for i := range owners {
			wg.Go(func() {
				<-start
				got[i], errs[i] = h.Store.ClaimDueRefreshes(context.Background(), owners[i], now, now.Add(time.Hour), now.Add(time.Minute), limit)
			})
		}
		close(start)
		wg.Wait()
		seen := map[uuid.UUID]int{}
		for i := range owners {
			if errs[i] != nil {
				t.Fatalf("round %d, claimer %d: %v", round, i, errs[i])
			}
			for _, a := range got[i] {
				seen[a.ProviderID()]++
				if !due[a.ProviderID()] {
					t.Errorf("round %d: claimed %s, which was not due", round, a.ProviderID())
				}
				if stored := mustAuthorization(t, h, a.ProviderID()); !stored.HoldsLease(owners[i]) {
					t.Errorf("round %d: %s was returned to claimer %d but its stored lease is another's", round, a.ProviderID(), i)
				}
			}
		}
		for id := range due {
			if seen[id] != 1 {
				t.Errorf("round %d: %s claimed %d times, want exactly once (claimers got %d and %d)",
					round, id, seen[id], len(got[0]), len(got[1]))
			}
		}
	}
}

func claimedLeaseHoldsUntilItRunsOut(t *testing.T, h Harness) {
	p := newProvider(t, h)
	put(t, h, provider.RehydrateAuthorization(activeSnapshot(p, base.Add(time.Minute))))
	owner, other := newID(t), newID(t)
	until := base.Add(time.Minute)
	if got := claim(t, h, owner, base, base.Add(time.Hour), until, 1); len(got) != 1 || !got[0].HoldsLease(owner) {
		t.Fatalf("claim returned %d authorizations, want 1 held by the owner", len(got))
	}
	err := updateAuthorization(t, h, p.ID(), func(_ *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		return a, a.ClaimRefresh(other, base.Add(time.Second), base.Add(time.Hour))
	})
	if !errors.Is(err, provider.ErrRefreshInProgress) {
		t.Errorf("ClaimRefresh by another owner under the lease: got %v, want ErrRefreshInProgress", err)
	}
	if got := claim(t, h, other, base.Add(time.Second), base.Add(time.Hour), base.Add(time.Hour), 1); len(got) != 0 {
		t.Errorf("a second claim under the lease took it")
	}
	if got := claim(t, h, other, until, base.Add(time.Hour), until.Add(time.Minute), 1); len(got) != 1 || !got[0].HoldsLease(other) {
		t.Errorf("a claim once the lease ran out: got %d authorizations, want it held by the other owner", len(got))
	}
}

func deletingTheProviderDeletesItsAuthorization(t *testing.T, h Harness) {
	p, kept := newProvider(t, h), newProvider(t, h)
	s := fullSnapshot(t, p, 0)
	s.LeaseOwner, s.LeaseUntil = uuid.Nil, time.Time{}
	s.Credentials.ExpiresAt = base
	put(t, h, provider.RehydrateAuthorization(s))
	keptSnap := activeSnapshot(kept, base.Add(time.Hour))
	put(t, h, provider.RehydrateAuthorization(keptSnap))
	if err := h.Providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatalf("DeleteProvider: %v", err)
	}
	if _, err := h.Store.AuthorizationByProvider(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AuthorizationByProvider: got %v, want ErrNotFound", err)
	}
	if _, err := h.Store.AuthorizationByState(t.Context(), [32]byte(s.StateHash)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("AuthorizationByState: got %v, want ErrNotFound", err)
	}
	if got := claim(t, h, newID(t), base.Add(time.Hour), base.Add(2*time.Hour), base.Add(2*time.Hour), 10); !slices.Equal(providerIDs(got), []uuid.UUID{kept.ID()}) {
		t.Errorf("claim after the delete got %v, want only the kept provider %s", providerIDs(got), kept.ID())
	}
	err := updateAuthorization(t, h, p.ID(), func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
		t.Error("fn called for a deleted provider")
		return nil, nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateAuthorization of a deleted provider: got %v, want ErrNotFound", err)
	}
}

func newProvider(t *testing.T, h Harness) *provider.Provider {
	t.Helper()
	user := newID(t)
	if h.NewUser != nil {
		var err error
		if user, err = h.NewUser(t.Context()); err != nil {
			t.Fatalf("NewUser: %v", err)
		}
	}
	p := mustNewProvider(t, user, "My Schwab")
	if err := h.Providers.CreateProvider(t.Context(), p); err != nil {
		t.Fatalf("CreateProvider: %v", err)
	}
	return p
}

func mustNewProvider(t *testing.T, user uuid.UUID, alias string) *provider.Provider {
	t.Helper()
	p, err := provider.New(newID(t), user, "schwab", alias, base)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// updateAuthorization runs the store's UpdateAuthorization for the provider
// with fn and returns its error. Every test but the one of what it returns
// (updateAuthorizationReturnsWhatItStored) reaches the method through here.
func updateAuthorization(t *testing.T, h Harness, providerID uuid.UUID,
	fn func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error),
) error {
	t.Helper()
	_, _, err := h.Store.UpdateAuthorization(t.Context(), providerID, fn)
	return err
}

// put saves a as its provider's authorization, whatever is stored.
func put(t *testing.T, h Harness, a *provider.Authorization) {
	t.Helper()
	err := updateAuthorization(t, h, a.ProviderID(), func(*provider.Provider, *provider.Authorization) (*provider.Authorization, error) {
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization (put): %v", err)
	}
}

// update changes the stored authorization with fn.
func update(t *testing.T, h Harness, providerID uuid.UUID, fn func(*provider.Provider, *provider.Authorization) error) {
	t.Helper()
	err := updateAuthorization(t, h, providerID, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			return nil, errors.New("no authorization to update")
		}
		return a, fn(p, a)
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
}

func claim(t *testing.T, h Harness, owner uuid.UUID, now, dueBefore, until time.Time, limit int) []*provider.Authorization {
	t.Helper()
	got, err := h.Store.ClaimDueRefreshes(t.Context(), owner, now, dueBefore, until, limit)
	if err != nil {
		t.Fatalf("ClaimDueRefreshes: %v", err)
	}
	return got
}

func mustAuthorization(t *testing.T, h Harness, providerID uuid.UUID) *provider.Authorization {
	t.Helper()
	a, err := h.Store.AuthorizationByProvider(t.Context(), providerID)
	if err != nil {
		t.Fatalf("AuthorizationByProvider(%s): %v", providerID, err)
	}
	return a
}

func mustByState(t *testing.T, h Harness, s provider.State) *provider.Authorization {
	t.Helper()
	a, err := h.Store.AuthorizationByState(t.Context(), s.Hash)
	if err != nil {
		t.Fatalf("AuthorizationByState: %v", err)
	}
	return a
}

func mustProvider(t *testing.T, h Harness, id uuid.UUID) *provider.Provider {
	t.Helper()
	p, err := h.Providers.ProviderByID(t.Context(), id)
	if err != nil {
		t.Fatalf("ProviderByID(%s): %v", id, err)
	}
	return p
}

func assertProviderUnchanged(t *testing.T, h Harness, want *provider.Provider) {
	t.Helper()
	got := mustProvider(t, h, want.ID())
	if got.Status() != want.Status() || got.Version() != want.Version() || got.Alias() != want.Alias() ||
		!got.UpdatedAt().Equal(storedTime(want.UpdatedAt())) {
		t.Errorf("provider changed: status %s, version %d, alias %q, updated %v; want %s, %d, %q, %v",
			got.Status(), got.Version(), got.Alias(), got.UpdatedAt(),
			want.Status(), want.Version(), want.Alias(), storedTime(want.UpdatedAt()))
	}
}

// activeSnapshot is an active authorization of p, due at expiresAt, with no
// attempt in flight and no lease.
func activeSnapshot(p *provider.Provider, expiresAt time.Time) provider.AuthorizationSnapshot {
	return provider.AuthorizationSnapshot{
		ProviderID: p.ID(), UserID: p.UserID(), Status: provider.AuthorizationActive,
		Credentials: provider.Credentials{
			AccessToken: "access-" + p.ID().String(), RefreshToken: "refresh-" + p.ID().String(),
			ExpiresAt: expiresAt, Scopes: []string{"api"},
		},
		AuthorizedAt: base.Add(-time.Hour), CreatedAt: base.Add(-time.Hour), UpdatedAt: base.Add(-time.Hour),
	}
}

// fullSnapshot is an authorization of p with every field set, times in another
// zone and with nanoseconds; variant makes each field differ.
func fullSnapshot(t *testing.T, p *provider.Provider, variant int) provider.AuthorizationSnapshot {
	t.Helper()
	v := time.Duration(variant)
	at := func(d time.Duration) time.Time { return base.Add(d + v*time.Hour).In(local).Add(789 * time.Nanosecond) }
	state := provider.NewState()
	return provider.AuthorizationSnapshot{
		ProviderID: p.ID(), UserID: p.UserID(), Status: provider.AuthorizationActive,
		AttemptID: newID(t), StateHash: state.Hash[:], StateExpiresAt: at(10 * time.Minute),
		PriorStatus: provider.AuthorizationStatuses()[variant%len(provider.AuthorizationStatuses())],
		Begun: provider.AttemptBegun{Repair: variant%2 == 0, LinkToken: fmt.Sprintf("link-token-%d-%s", variant, p.ID()),
			LinkExpiresAt: at(4 * time.Hour)},
		Credentials: provider.Credentials{
			AccessToken:      fmt.Sprintf("access-token-%d-ünïcode-%s", variant, p.ID()),
			RefreshToken:     fmt.Sprintf("refresh-token-%d-%s", variant, p.ID()),
			ExpiresAt:        at(30 * time.Minute),
			RefreshExpiresAt: at(7 * 24 * time.Hour),
			Scopes:           []string{"api", fmt.Sprintf("accounts:read:%d", variant), "trading"},
			ExternalID:       fmt.Sprintf("item-%d-%s", variant, p.ID()),
		},
		AuthorizedAt: at(-time.Hour), RefreshedAt: at(-time.Minute),
		LeaseOwner: newID(t), LeaseUntil: at(time.Minute),
		CreatedAt: at(-2 * time.Hour), UpdatedAt: at(-time.Second),
	}
}

// assertSnapshot compares every field of got with want as a store keeps it:
// times in UTC to the microsecond, no scopes as nil.
func assertSnapshot(t *testing.T, got, want provider.AuthorizationSnapshot) {
	t.Helper()
	type field struct {
		name      string
		got, want any
	}
	fields := []field{
		{"ProviderID", got.ProviderID, want.ProviderID},
		{"UserID", got.UserID, want.UserID},
		{"Status", got.Status.String(), want.Status.String()},
		{"AttemptID", got.AttemptID, want.AttemptID},
		{"StateHash", fmt.Sprintf("%x", got.StateHash), fmt.Sprintf("%x", want.StateHash)},
		{"PriorStatus", got.PriorStatus.String(), want.PriorStatus.String()},
		{"Begun.Repair", got.Begun.Repair, want.Begun.Repair},
		{"Begun.LinkToken", got.Begun.LinkToken, want.Begun.LinkToken},
		{"AccessToken", got.Credentials.AccessToken, want.Credentials.AccessToken},
		{"RefreshToken", got.Credentials.RefreshToken, want.Credentials.RefreshToken},
		{"Scopes", fmt.Sprintf("%q", got.Credentials.Scopes), fmt.Sprintf("%q", want.Credentials.Scopes)},
		{"ExternalID", got.Credentials.ExternalID, want.Credentials.ExternalID},
		{"LeaseOwner", got.LeaseOwner, want.LeaseOwner},
	}
	if (got.Credentials.Scopes == nil) != (len(want.Credentials.Scopes) == 0) {
		fields = append(fields, field{"Scopes (nil when none)", got.Credentials.Scopes == nil, len(want.Credentials.Scopes) == 0})
	}
	times := []struct {
		name      string
		got, want time.Time
	}{
		{"StateExpiresAt", got.StateExpiresAt, want.StateExpiresAt},
		{"Begun.LinkExpiresAt", got.Begun.LinkExpiresAt, want.Begun.LinkExpiresAt},
		{"ExpiresAt", got.Credentials.ExpiresAt, want.Credentials.ExpiresAt},
		{"RefreshExpiresAt", got.Credentials.RefreshExpiresAt, want.Credentials.RefreshExpiresAt},
		{"AuthorizedAt", got.AuthorizedAt, want.AuthorizedAt},
		{"RefreshedAt", got.RefreshedAt, want.RefreshedAt},
		{"LeaseUntil", got.LeaseUntil, want.LeaseUntil},
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
	}
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	for _, tm := range times {
		w := storedTime(tm.want)
		if !tm.got.Equal(w) || tm.got.IsZero() != w.IsZero() {
			t.Errorf("%s = %v, want %v", tm.name, tm.got, w)
		}
		if !tm.got.IsZero() && tm.got.Location() != time.UTC {
			t.Errorf("%s = %v is not in UTC", tm.name, tm.got)
		}
	}
}

func providerIDs(as []*provider.Authorization) []uuid.UUID {
	out := make([]uuid.UUID, len(as))
	for i, a := range as {
		out[i] = a.ProviderID()
	}
	return out
}

// storedTime is t as the stores keep it: UTC, to the microsecond, zero as zero.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// newID returns a time-ordered id, as the service makes them.
func newID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new id: %v", err)
	}
	return id
}
