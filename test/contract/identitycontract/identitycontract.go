// Package identitycontract is the contract test suite of the identity application's
// storage ports (Users, Sessions, OneTimeTokens). Every implementation, the
// in-memory fake as much as the SQL adapter, runs the same suite, so a use-case
// test that passes against the fake means the same against the database.
package identitycontract

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	adminapp "github.com/dashtam/dashtam/application/admin"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Store is what the suite tests: the identity storage ports in one value.
type Store interface {
	identityapp.Users
	identityapp.Sessions
	identityapp.OneTimeTokens
	identityapp.Retention
	// The operators' view of users (application/admin).
	adminapp.Users
}

// base is the suite's clock: a fixed instant, in UTC, with a sub-second part that
// survives microsecond storage.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

const ttl = time.Hour

// errBoom is what the suite's closures return to make an update fail.
var errBoom = errors.New("boom (from the test's closure)")

// Run runs the suite: each of its tests as a subtest of t, on the store newStore
// returns when called from that subtest. newStore must return an empty store of
// its own each time.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

// tests are the suite's cases, in the order they run: what each proves, and
// the function that proves it on a store of its own.
var tests = []struct {
	name string
	test func(t *testing.T, st Store)
}{
	{"created user can be read by id and by email", createdUserReadsBackByIDAndEmail},
	{"taken email is ErrEmailTaken and nothing of the losing create is stored", takenEmailStoresNothingOfTheLosingCreate},
	{"unknown ids are ErrNotFound and closures are not called", unknownIDsAreNotFound},
	{"PurgeExpired deletes ended sessions, expired one-time tokens and never-verified accounts past their cutoffs, and nothing else", purgeDeletesOnlyWhatEnded},
	{"session or one-time token of an unknown user is ErrNotFound", sessionOrTokenOfUnknownUserIsNotFound},
	{"VoidOneTimeTokens uses up the user's unused tokens of that purpose, and no other", voidUsesUpOnlyTheUsersUnusedTokensOfThePurpose},
	{"CountOneTimeTokens counts the user's tokens of a purpose created from a time on, used or not", countCountsTheUsersTokensOfAPurposeSince},
	{"update user persists every change including zero values", updateUserPersistsZeroValues},
	{"ListUsers is newest first (ties by id), pages by offset and keyset, filters by email, role, status and created_after", listUsersFiltersAndPages},
	{"AdministerUser counts the active admins, saves role and status, and fn error saves nothing", administerUserCountsAdminsAndSaves},
	{"two concurrent AdministerUser demotions guarded by the admin count leave one admin", concurrentDemotionsLeaveOneAdmin},
	{"update user fn error aborts and saves nothing", updateUserFnErrorSavesNothing},
	{"entities passed in or handed out are copies", entitiesAreCopies},
	{"session round trip keeps every field to the microsecond", sessionRoundTripKeepsEveryField},
	{"session validity is the session's owner, expiry and revocation", sessionValidityMatchesTheSession},
	{"session validity follows every revocation at once", sessionValidityFollowsRevocationAtOnce},
	{"times are stored in UTC to the microsecond", timesAreStoredInUTCToTheMicrosecond},
	{"list active sessions is newest first, paginated, with a total, without revoked or expired ones", listActiveSessionsPagesNewestFirst},
	{"update session persists changes and fn error aborts", updateSessionPersistsOrAborts},
	{"revoke user sessions keeps the given session and touches nothing else", revokeUserSessionsKeepsTheGivenOne},
	{"rotate refresh token: success chain uses the old token and the new one works", rotateUsesTheOldTokenAndTheNewOneWorks},
	{"rotate refresh token: reuse revokes the session and the revocation is persisted", rotateReuseRevokesTheSession},
	{"rotate refresh token commits the closure's changes even when it returns an error", rotateCommitsDespiteTheClosureError},
	{"rotate refresh token with an unknown digest is ErrInvalidRefreshToken", rotateUnknownDigestIsInvalid},
	{"concurrent rotation of one token by 8 goroutines succeeds exactly once", concurrentRotationSucceedsOnce},
	{"consume one-time token: success uses the token and saves the user", consumeUsesTheTokenAndSavesTheUser},
	{"consume one-time token: a second consume fails", consumeTwiceFails},
	{"consume one-time token: fn error leaves the token unused and the user unchanged", consumeFnErrorChangesNothing},
	{"consume one-time token with an unknown digest is ErrInvalidOneTimeToken", consumeUnknownDigestIsInvalid},
	{"created one-time token round trips with every field", createdOneTimeTokenRoundTrips},
}

func createdUserReadsBackByIDAndEmail(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")

	byID, err := st.UserByID(t.Context(), u.ID())
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	assertUser(t, byID, u)
	byEmail, err := st.UserByEmail(t.Context(), u.Email())
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	assertUser(t, byEmail, u)
}

func takenEmailStoresNothingOfTheLosingCreate(t *testing.T, st Store) {
	first, _, firstToken := createUser(t, st, "ada@example.com")

	second, err := identity.NewUser(newID(t), first.Email(), "Impostor", "hash-2", base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	err = st.CreateUser(t.Context(), second, identityapp.VerificationMail{UserID: second.ID()})
	if !errors.Is(err, identity.ErrEmailTaken) {
		t.Fatalf("CreateUser with a taken email: got %v, want ErrEmailTaken", err)
	}
	if _, err := st.UserByID(t.Context(), second.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("losing user: UserByID got %v, want ErrNotFound", err)
	}
	byEmail, err := st.UserByEmail(t.Context(), first.Email())
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, byEmail, first)
	if _, err := peekOneTimeToken(t, st, firstToken); err != nil {
		t.Errorf("winning user's verification token: %v", err)
	}
}

func unknownIDsAreNotFound(t *testing.T, st Store) {
	createUser(t, st, "ada@example.com") // so the store is not simply empty
	unknown := newID(t)
	email := mustEmail(t, "nobody@example.com")
	ctx := t.Context()

	if _, err := st.UserByID(ctx, unknown); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UserByID: got %v, want ErrNotFound", err)
	}
	if _, err := st.UserByEmail(ctx, email); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UserByEmail: got %v, want ErrNotFound", err)
	}
	if _, err := st.SessionByID(ctx, unknown); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SessionByID: got %v, want ErrNotFound", err)
	}
	err := st.UpdateUser(ctx, unknown, func(*identity.User) error {
		t.Error("UpdateUser called fn for an unknown user")
		return nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateUser: got %v, want ErrNotFound", err)
	}
	err = st.UpdateSession(ctx, unknown, func(*identity.Session) error {
		t.Error("UpdateSession called fn for an unknown session")
		return nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateSession: got %v, want ErrNotFound", err)
	}
	items, total, err := st.ListActiveSessions(ctx, unknown, base, 0, 10)
	if err != nil || len(items) != 0 || total != 0 {
		t.Errorf("ListActiveSessions of an unknown user: got %d items, total %d, err %v; want none", len(items), total, err)
	}
}

func sessionOrTokenOfUnknownUserIsNotFound(t *testing.T, st Store) {
	unknown := newID(t)
	s := identity.NewSession(newID(t), unknown, "ua", "192.0.2.1", base, ttl)
	_, h := identity.NewOpaqueToken()
	if err := st.CreateSession(t.Context(), s, identity.NewRefreshToken(h, s.ID(), base, ttl)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("CreateSession: got %v, want ErrNotFound", err)
	}
	if _, err := st.SessionByID(t.Context(), s.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the failed session was stored: SessionByID got %v", err)
	}
	_, h = identity.NewOpaqueToken()
	err := st.CreateOneTimeToken(t.Context(), identity.NewOneTimeToken(h, unknown, identity.PurposePasswordReset, base))
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("CreateOneTimeToken: got %v, want ErrNotFound", err)
	}
}

func updateUserPersistsZeroValues(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	verifiedAt, renamedAt, rehashedAt := base.Add(time.Minute), base.Add(2*time.Minute), base.Add(3*time.Minute)

	update(t, st, u.ID(), func(u *identity.User) error { u.VerifyEmail(verifiedAt); return nil })
	update(t, st, u.ID(), func(u *identity.User) error { return u.Rename("Ada King", renamedAt) })
	// An empty hash is a zero value: a store that skips zero fields keeps the old one.
	update(t, st, u.ID(), func(u *identity.User) error { u.SetPasswordHash("", rehashedAt); return nil })

	got, err := st.UserByID(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	want := identity.RehydrateUser(identity.UserSnapshot{ID: u.ID(), Email: u.Email(), Name: "Ada King", EmailVerifiedAt: verifiedAt, CreatedAt: u.CreatedAt(), UpdatedAt: rehashedAt})
	assertUser(t, got, want)
}

func updateUserFnErrorSavesNothing(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	err := st.UpdateUser(t.Context(), u.ID(), func(u *identity.User) error {
		u.VerifyEmail(base.Add(time.Minute))
		if err := u.Rename("Changed", base.Add(time.Minute)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateUser: got %v, want fn's error", err)
	}
	got, err := st.UserByID(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, got, u)
}

func entitiesAreCopies(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	_ = u.Rename("Changed after create", base.Add(time.Minute))

	got, err := st.UserByID(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name() != "Ada" {
		t.Fatalf("changing the created user changed the stored one: name %q", got.Name())
	}
	_ = got.Rename("Changed after read", base.Add(time.Minute))
	var kept *identity.User
	update(t, st, u.ID(), func(u *identity.User) error { kept = u; return nil })
	_ = kept.Rename("Changed after update", base.Add(time.Minute))

	got, err = st.UserByID(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name() != "Ada" {
		t.Fatalf("changing a handed-out user changed the stored one: name %q", got.Name())
	}
}

func sessionRoundTripKeepsEveryField(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	active := identity.NewSession(newID(t), u.ID(), "Mozilla/5.0 (X11)", "2001:db8::1", base, ttl)
	revoked := identity.RehydrateSession(identity.SessionSnapshot{ID: newID(t), UserID: u.ID(), UserAgent: "curl/8.0", IPAddress: "192.0.2.7", CreatedAt: base.Add(time.Second), LastUsedAt: base.Add(2 * time.Second), ExpiresAt: base.Add(ttl), RevokedAt: base.Add(3 * time.Second), RevokeReason: identity.RevokedLogout})
	for _, s := range []*identity.Session{active, revoked} {
		createSession(t, st, s)
		got, err := st.SessionByID(t.Context(), s.ID())
		if err != nil {
			t.Fatal(err)
		}
		assertSession(t, got, s)
	}
}

func sessionValidityMatchesTheSession(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	active := identity.NewSession(newID(t), u.ID(), "ua", "192.0.2.1", base, ttl)
	revoked := identity.RehydrateSession(identity.SessionSnapshot{ID: newID(t), UserID: u.ID(), UserAgent: "ua", IPAddress: "192.0.2.1", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(ttl), RevokedAt: base.Add(3 * time.Second), RevokeReason: identity.RevokedLogout})
	for _, s := range []*identity.Session{active, revoked} {
		createSession(t, st, s)
		got, err := st.SessionValidity(t.Context(), s.ID())
		if err != nil {
			t.Fatal(err)
		}
		if got != s.Validity() {
			t.Errorf("validity %+v, want %+v", got, s.Validity())
		}
	}
	if _, err := st.SessionValidity(t.Context(), newID(t)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
}

// Stores may cache validity (the persistence store does, for a second);
// a change must still show on the very next read.
func sessionValidityFollowsRevocationAtOnce(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	now := base.Add(time.Minute)
	validity := func(s *identity.Session) identity.SessionValidity {
		t.Helper()
		got, err := st.SessionValidity(t.Context(), s.ID())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	one := identity.NewSession(newID(t), u.ID(), "ua", "ip", base, ttl)
	two := identity.NewSession(newID(t), u.ID(), "ua", "ip", base, ttl)
	for _, s := range []*identity.Session{one, two} {
		createSession(t, st, s)
		if !validity(s).IsActive(now) {
			t.Fatal("a new session is not active")
		}
	}
	if err := st.UpdateSession(t.Context(), one.ID(), func(s *identity.Session) error {
		s.Revoke(now, identity.RevokedLogout)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if validity(one).IsActive(now) {
		t.Error("UpdateSession revoked the session, but its validity still says active")
	}
	if !validity(two).IsActive(now) {
		t.Error("revoking one session made another inactive")
	}
	if err := st.RevokeUserSessions(t.Context(), u.ID(), uuid.Nil, now, identity.RevokedPasswordReset); err != nil {
		t.Fatal(err)
	}
	if validity(two).IsActive(now) {
		t.Error("RevokeUserSessions revoked the session, but its validity still says active")
	}
}

func timesAreStoredInUTCToTheMicrosecond(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	local := time.Date(2030, time.March, 4, 10, 6, 7, 123456789, time.FixedZone("UTC+5", 5*3600))
	s := identity.NewSession(newID(t), u.ID(), "ua", "ip", local, ttl)
	createSession(t, st, s)
	got, err := st.SessionByID(t.Context(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	want := local.UTC().Truncate(time.Microsecond)
	if !got.CreatedAt().Equal(want) || got.CreatedAt().Location() != time.UTC {
		t.Errorf("created at: got %v, want %v", got.CreatedAt(), want)
	}
	if !got.ExpiresAt().Equal(want.Add(ttl)) || got.ExpiresAt().Location() != time.UTC {
		t.Errorf("expires at: got %v, want %v", got.ExpiresAt(), want.Add(ttl))
	}
}

func listActiveSessionsPagesNewestFirst(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	other, _, _ := createUser(t, st, "grace@example.com")
	now := base.Add(10 * time.Minute)

	var active []*identity.Session
	for _, created := range []time.Duration{0, time.Minute, 2 * time.Minute, 2 * time.Minute, 3 * time.Minute} {
		s := identity.NewSession(newRandomID(t), u.ID(), "ua", "ip", base.Add(created), ttl)
		createSession(t, st, s)
		active = append(active, s)
	}
	// Newest first; equal creation times by id, descending.
	slices.SortFunc(active, func(a, b *identity.Session) int {
		if c := b.CreatedAt().Compare(a.CreatedAt()); c != 0 {
			return c
		}
		aID, bID := a.ID(), b.ID()
		return bytes.Compare(bID[:], aID[:])
	})
	revoked := identity.NewSession(newID(t), u.ID(), "ua", "ip", base.Add(4*time.Minute), ttl)
	revoked.Revoke(base.Add(5*time.Minute), identity.RevokedLogout)
	createSession(t, st, revoked)
	// Expires exactly at now: already expired.
	createSession(t, st, identity.NewSession(newID(t), u.ID(), "ua", "ip", base.Add(-ttl), ttl+10*time.Minute))
	createSession(t, st, identity.NewSession(newID(t), other.ID(), "ua", "ip", base.Add(5*time.Minute), ttl))

	var pages [][]*identity.Session
	for _, offset := range []int{0, 2, 4, 6} {
		items, total, err := st.ListActiveSessions(t.Context(), u.ID(), now, offset, 2)
		if err != nil {
			t.Fatalf("ListActiveSessions(offset %d): %v", offset, err)
		}
		if total != int64(len(active)) {
			t.Errorf("offset %d: total %d, want %d", offset, total, len(active))
		}
		pages = append(pages, items)
	}
	wantPages := [][]*identity.Session{active[0:2], active[2:4], active[4:5], {}}
	if len(pages) != len(wantPages) {
		t.Fatalf("got %d pages, want %d", len(pages), len(wantPages))
	}
	for i := range wantPages {
		if got, want := ids(pages[i]), ids(wantPages[i]); !slices.Equal(got, want) {
			t.Errorf("page %d: got ids %v, want %v", i, got, want)
			continue
		}
		for j := range pages[i] {
			assertSession(t, pages[i][j], wantPages[i][j])
		}
	}
}

func updateSessionPersistsOrAborts(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	s := identity.NewSession(newID(t), u.ID(), "ua", "ip", base, ttl)
	createSession(t, st, s)

	err := st.UpdateSession(t.Context(), s.ID(), func(s *identity.Session) error {
		s.Revoke(base.Add(time.Minute), identity.RevokedByUser)
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateSession: got %v, want fn's error", err)
	}
	assertStoredSession(t, st, s)

	err = st.UpdateSession(t.Context(), s.ID(), func(s *identity.Session) error {
		s.Revoke(base.Add(2*time.Minute), identity.RevokedByUser)
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	s.Revoke(base.Add(2*time.Minute), identity.RevokedByUser)
	assertStoredSession(t, st, s)
}

func revokeUserSessionsKeepsTheGivenOne(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	other, _, _ := createUser(t, st, "grace@example.com")
	now := base.Add(10 * time.Minute)

	revokeMe := identity.NewSession(newID(t), u.ID(), "ua", "ip", base, ttl)
	keep := identity.NewSession(newID(t), u.ID(), "ua", "ip", base, ttl)
	alreadyRevoked := identity.NewSession(newID(t), u.ID(), "ua", "ip", base, ttl)
	alreadyRevoked.Revoke(base.Add(time.Minute), identity.RevokedLogout)
	expired := identity.NewSession(newID(t), u.ID(), "ua", "ip", base.Add(-ttl), ttl)
	othersSession := identity.NewSession(newID(t), other.ID(), "ua", "ip", base, ttl)
	for _, s := range []*identity.Session{revokeMe, keep, alreadyRevoked, expired, othersSession} {
		createSession(t, st, s)
	}

	if err := st.RevokeUserSessions(t.Context(), u.ID(), keep.ID(), now, identity.RevokedPasswordChange); err != nil {
		t.Fatalf("RevokeUserSessions: %v", err)
	}
	revokeMe.Revoke(now, identity.RevokedPasswordChange)
	for _, s := range []*identity.Session{revokeMe, keep, alreadyRevoked, expired, othersSession} {
		assertStoredSession(t, st, s)
	}

	later := now.Add(time.Minute)
	if err := st.RevokeUserSessions(t.Context(), u.ID(), uuid.Nil, later, identity.RevokedPasswordReset); err != nil {
		t.Fatalf("RevokeUserSessions(uuid.Nil): %v", err)
	}
	keep.Revoke(later, identity.RevokedPasswordReset)
	for _, s := range []*identity.Session{revokeMe, keep, alreadyRevoked, expired, othersSession} {
		assertStoredSession(t, st, s)
	}
}

func rotateUsesTheOldTokenAndTheNewOneWorks(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	s := identity.NewSession(newID(t), u.ID(), "ua", "ip", base, ttl)
	_, h1 := identity.NewOpaqueToken()
	first := identity.NewRefreshToken(h1, s.ID(), base, ttl)
	if err := st.CreateSession(t.Context(), s, first); err != nil {
		t.Fatal(err)
	}

	// The first token comes back as it was stored.
	got, err := peekRefreshToken(t, st, h1)
	if err != nil {
		t.Fatal(err)
	}
	assertRefreshToken(t, got, first)

	at1, at2 := base.Add(10*time.Minute), base.Add(20*time.Minute)
	h2 := rotate(t, st, h1, at1)
	assertStoredSession(t, st, identity.RehydrateSession(identity.SessionSnapshot{ID: s.ID(), UserID: u.ID(), UserAgent: "ua", IPAddress: "ip", CreatedAt: base, LastUsedAt: at1, ExpiresAt: at1.Add(ttl)}))
	h3 := rotate(t, st, h2, at2)
	assertStoredSession(t, st, identity.RehydrateSession(identity.SessionSnapshot{ID: s.ID(), UserID: u.ID(), UserAgent: "ua", IPAddress: "ip", CreatedAt: base, LastUsedAt: at2, ExpiresAt: at2.Add(ttl)}))

	for _, want := range []*identity.RefreshToken{
		identity.RehydrateRefreshToken(identity.RefreshTokenSnapshot{Hash: h1, SessionID: s.ID(), IssuedAt: base, ExpiresAt: base.Add(ttl), UsedAt: at1}),
		identity.RehydrateRefreshToken(identity.RefreshTokenSnapshot{Hash: h2, SessionID: s.ID(), IssuedAt: at1, ExpiresAt: at1.Add(ttl), UsedAt: at2}),
		identity.RehydrateRefreshToken(identity.RefreshTokenSnapshot{Hash: h3, SessionID: s.ID(), IssuedAt: at2, ExpiresAt: at2.Add(ttl)}),
	} {
		got, err := peekRefreshToken(t, st, want.Hash())
		if err != nil {
			t.Fatal(err)
		}
		assertRefreshToken(t, got, want)
	}
}

func rotateReuseRevokesTheSession(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	s, h1 := createSessionWithToken(t, st, u.ID())
	h2 := rotate(t, st, h1, base.Add(10*time.Minute))

	reusedAt := base.Add(15 * time.Minute)
	err := st.RotateRefreshToken(t.Context(), h1, rotateAt(reusedAt))
	if !errors.Is(err, identity.ErrRefreshTokenReused) {
		t.Fatalf("presenting a rotated token: got %v, want ErrRefreshTokenReused", err)
	}
	got, err := st.SessionByID(t.Context(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !got.RevokedAt().Equal(reusedAt) || got.RevokeReason() != identity.RevokedRefreshReuse {
		t.Fatalf("session after reuse: revoked at %v for %q, want %v for %q",
			got.RevokedAt(), got.RevokeReason(), reusedAt, identity.RevokedRefreshReuse)
	}
	if err := st.RotateRefreshToken(t.Context(), h2, rotateAt(reusedAt.Add(time.Minute))); !errors.Is(err, identity.ErrInvalidRefreshToken) {
		t.Errorf("the latest token of a revoked session: got %v, want ErrInvalidRefreshToken", err)
	}
}

func rotateCommitsDespiteTheClosureError(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	s, h1 := createSessionWithToken(t, st, u.ID())
	at := base.Add(10 * time.Minute)
	_, h2 := identity.NewOpaqueToken()

	err := st.RotateRefreshToken(t.Context(), h1, func(p *identity.RefreshToken, s *identity.Session) (*identity.RefreshToken, error) {
		next, err := s.Rotate(p, h2, at, identity.Rotation{TTL: ttl})
		if err != nil {
			return nil, err
		}
		return next, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("RotateRefreshToken: got %v, want the closure's error", err)
	}
	assertStoredSession(t, st, identity.RehydrateSession(identity.SessionSnapshot{ID: s.ID(), UserID: u.ID(), UserAgent: "ua", IPAddress: "ip", CreatedAt: base, LastUsedAt: at, ExpiresAt: at.Add(ttl)}))
	for _, want := range []*identity.RefreshToken{
		identity.RehydrateRefreshToken(identity.RefreshTokenSnapshot{Hash: h1, SessionID: s.ID(), IssuedAt: base, ExpiresAt: base.Add(ttl), UsedAt: at}),
		identity.RehydrateRefreshToken(identity.RefreshTokenSnapshot{Hash: h2, SessionID: s.ID(), IssuedAt: at, ExpiresAt: at.Add(ttl)}),
	} {
		got, err := peekRefreshToken(t, st, want.Hash())
		if err != nil {
			t.Fatalf("token %x: %v", want.Hash(), err)
		}
		assertRefreshToken(t, got, want)
	}
}

func rotateUnknownDigestIsInvalid(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	createSessionWithToken(t, st, u.ID())
	_, unknown := identity.NewOpaqueToken()
	err := st.RotateRefreshToken(t.Context(), unknown, func(*identity.RefreshToken, *identity.Session) (*identity.RefreshToken, error) {
		t.Error("rotate called for an unknown digest")
		return nil, nil
	})
	if !errors.Is(err, identity.ErrInvalidRefreshToken) {
		t.Fatalf("got %v, want ErrInvalidRefreshToken", err)
	}
}

func concurrentRotationSucceedsOnce(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	s, h1 := createSessionWithToken(t, st, u.ID())
	at := base.Add(10 * time.Minute)

	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = st.RotateRefreshToken(t.Context(), h1, rotateAt(at))
		})
	}
	close(start)
	wg.Wait()

	var ok, reused int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, identity.ErrRefreshTokenReused):
			reused++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || reused != n-1 {
		t.Fatalf("%d succeeded and %d saw the token used; want 1 and %d", ok, reused, n-1)
	}
	got, err := st.SessionByID(t.Context(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokeReason() != identity.RevokedRefreshReuse {
		t.Errorf("session revoke reason %q, want %q", got.RevokeReason(), identity.RevokedRefreshReuse)
	}
}

func consumeUsesTheTokenAndSavesTheUser(t *testing.T, st Store) {
	u, verification, h := createUser(t, st, "ada@example.com")
	at := base.Add(time.Hour)

	got, err := peekOneTimeToken(t, st, h)
	if err != nil {
		t.Fatal(err)
	}
	assertOneTimeToken(t, got, verification)

	if err := st.ConsumeOneTimeToken(t.Context(), h, verify(at)); err != nil {
		t.Fatalf("ConsumeOneTimeToken: %v", err)
	}
	stored, err := st.UserByID(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, stored, identity.RehydrateUser(identity.UserSnapshot{ID: u.ID(), Email: u.Email(), Name: u.Name(), PasswordHash: u.PasswordHash(), EmailVerifiedAt: at, CreatedAt: u.CreatedAt(), UpdatedAt: at}))
	got, err = peekOneTimeToken(t, st, h)
	if err != nil {
		t.Fatal(err)
	}
	assertOneTimeToken(t, got, identity.RehydrateOneTimeToken(identity.OneTimeTokenSnapshot{Hash: h, UserID: u.ID(), Purpose: identity.PurposeEmailVerification, CreatedAt: verification.CreatedAt(), ExpiresAt: verification.ExpiresAt(), UsedAt: at}))
}

func consumeTwiceFails(t *testing.T, st Store) {
	_, _, h := createUser(t, st, "ada@example.com")
	if err := st.ConsumeOneTimeToken(t.Context(), h, verify(base.Add(time.Hour))); err != nil {
		t.Fatalf("first consume: %v", err)
	}
	if err := st.ConsumeOneTimeToken(t.Context(), h, verify(base.Add(2*time.Hour))); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("second consume: got %v, want ErrInvalidOneTimeToken", err)
	}
}

func consumeFnErrorChangesNothing(t *testing.T, st Store) {
	u, verification, h := createUser(t, st, "ada@example.com")
	err := st.ConsumeOneTimeToken(t.Context(), h, func(tok *identity.OneTimeToken, u *identity.User) error {
		if err := verify(base.Add(time.Hour))(tok, u); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("ConsumeOneTimeToken: got %v, want fn's error", err)
	}
	stored, err := st.UserByID(t.Context(), u.ID())
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, stored, u)
	got, err := peekOneTimeToken(t, st, h)
	if err != nil {
		t.Fatal(err)
	}
	assertOneTimeToken(t, got, verification)
	if err := st.ConsumeOneTimeToken(t.Context(), h, verify(base.Add(2*time.Hour))); err != nil {
		t.Fatalf("consume after the failed one: %v", err)
	}
}

func consumeUnknownDigestIsInvalid(t *testing.T, st Store) {
	createUser(t, st, "ada@example.com")
	_, unknown := identity.NewOpaqueToken()
	err := st.ConsumeOneTimeToken(t.Context(), unknown, func(*identity.OneTimeToken, *identity.User) error {
		t.Error("fn called for an unknown digest")
		return nil
	})
	if !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("got %v, want ErrInvalidOneTimeToken", err)
	}
}

func createdOneTimeTokenRoundTrips(t *testing.T, st Store) {
	u, _, _ := createUser(t, st, "ada@example.com")
	_, h := identity.NewOpaqueToken()
	reset := identity.NewOneTimeToken(h, u.ID(), identity.PurposePasswordReset, base.Add(time.Minute))
	if err := st.CreateOneTimeToken(t.Context(), reset); err != nil {
		t.Fatalf("CreateOneTimeToken: %v", err)
	}
	got, err := peekOneTimeToken(t, st, h)
	if err != nil {
		t.Fatal(err)
	}
	assertOneTimeToken(t, got, reset)
}

func voidUsesUpOnlyTheUsersUnusedTokensOfThePurpose(t *testing.T, st Store) {
	ada, verification, _ := createUser(t, st, "ada@example.com")
	bob, _, _ := createUser(t, st, "bob@example.com")
	newToken := func(u *identity.User, purpose identity.Purpose, at time.Time) *identity.OneTimeToken {
		t.Helper()
		_, h := identity.NewOpaqueToken()
		tok := identity.NewOneTimeToken(h, u.ID(), purpose, at)
		if err := st.CreateOneTimeToken(t.Context(), tok); err != nil {
			t.Fatalf("CreateOneTimeToken: %v", err)
		}
		return tok
	}
	first := newToken(ada, identity.PurposePasswordReset, base)
	expired := newToken(ada, identity.PurposePasswordReset, base.Add(-24*time.Hour))
	used := newToken(ada, identity.PurposePasswordReset, base)
	usedAt := base.Add(time.Second)
	if err := st.ConsumeOneTimeToken(t.Context(), used.Hash(), func(tok *identity.OneTimeToken, _ *identity.User) error {
		return tok.Consume(identity.PurposePasswordReset, usedAt)
	}); err != nil {
		t.Fatalf("ConsumeOneTimeToken: %v", err)
	}
	bobs := newToken(bob, identity.PurposePasswordReset, base)

	voidedAt := base.Add(time.Minute)
	if err := st.VoidOneTimeTokens(t.Context(), ada.ID(), identity.PurposePasswordReset, voidedAt); err != nil {
		t.Fatalf("VoidOneTimeTokens: %v", err)
	}
	for _, tc := range []struct {
		name   string
		tok    *identity.OneTimeToken
		usedAt time.Time
	}{
		{"an unused reset token", first, voidedAt},
		{"an expired reset token", expired, voidedAt},
		{"a used reset token keeps its first use", used, usedAt},
		{"another user's reset token", bobs, time.Time{}},
		{"a token of another purpose", verification, time.Time{}},
	} {
		got, err := peekOneTimeToken(t, st, tc.tok.Hash())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !got.UsedAt().Equal(tc.usedAt) {
			t.Errorf("%s: used at %v, want %v", tc.name, got.UsedAt(), tc.usedAt)
		}
	}
}

func countCountsTheUsersTokensOfAPurposeSince(t *testing.T, st Store) {
	ada, _, _ := createUser(t, st, "ada@example.com") // one verification token, created at base
	bob, _, _ := createUser(t, st, "bob@example.com")
	for i, u := range []*identity.User{ada, ada, bob} {
		_, h := identity.NewOpaqueToken()
		tok := identity.NewOneTimeToken(h, u.ID(), identity.PurposeEmailVerification, base.Add(time.Duration(i+1)*time.Hour))
		if err := st.CreateOneTimeToken(t.Context(), tok); err != nil {
			t.Fatalf("CreateOneTimeToken: %v", err)
		}
	}
	_, h := identity.NewOpaqueToken()
	if err := st.CreateOneTimeToken(t.Context(), identity.NewOneTimeToken(h, ada.ID(), identity.PurposePasswordReset, base)); err != nil {
		t.Fatalf("CreateOneTimeToken: %v", err)
	}
	if err := st.VoidOneTimeTokens(t.Context(), ada.ID(), identity.PurposeEmailVerification, base.Add(3*time.Hour)); err != nil {
		t.Fatalf("VoidOneTimeTokens: %v", err)
	}
	for _, tc := range []struct {
		since time.Time
		want  int
	}{
		{base, 3},                                     // the registration's and two more, one of them used
		{base.Add(time.Nanosecond), 2},                // the bound is inclusive, to the microsecond as stored
		{base.Add(time.Hour), 2},                      // created exactly then
		{base.Add(2*time.Hour + time.Microsecond), 0}, // none after
	} {
		got, err := st.CountOneTimeTokens(t.Context(), ada.ID(), identity.PurposeEmailVerification, tc.since)
		if err != nil || got != tc.want {
			t.Errorf("CountOneTimeTokens since %v = %d, %v; want %d", tc.since, got, err, tc.want)
		}
	}
}

// createUser stores a new user named Ada and a verification token of theirs,
// created at base (as the job CreateUser enqueues would), and returns them with
// the token's digest.
func createUser(t *testing.T, st Store, email string) (*identity.User, *identity.OneTimeToken, identity.TokenHash) {
	t.Helper()
	u, err := identity.NewUser(newID(t), mustEmail(t, email), "Ada", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(t.Context(), u, identityapp.VerificationMail{UserID: u.ID()}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	_, h := identity.NewOpaqueToken()
	verification := identity.NewOneTimeToken(h, u.ID(), identity.PurposeEmailVerification, base)
	if err := st.CreateOneTimeToken(t.Context(), verification); err != nil {
		t.Fatalf("CreateOneTimeToken: %v", err)
	}
	return u, verification, h
}

func createSession(t *testing.T, st Store, s *identity.Session) {
	t.Helper()
	_, h := identity.NewOpaqueToken()
	if err := st.CreateSession(t.Context(), s, identity.NewRefreshToken(h, s.ID(), s.CreatedAt(), ttl)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

// createSessionWithToken stores a session created at base with user agent "ua"
// and IP "ip", and returns it with its first refresh token's digest.
func createSessionWithToken(t *testing.T, st Store, userID uuid.UUID) (*identity.Session, identity.TokenHash) {
	t.Helper()
	s := identity.NewSession(newID(t), userID, "ua", "ip", base, ttl)
	_, h := identity.NewOpaqueToken()
	if err := st.CreateSession(t.Context(), s, identity.NewRefreshToken(h, s.ID(), base, ttl)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s, h
}

// rotateAt is the closure the identity service passes: the domain's rotation at
// now, to a fresh token.
func rotateAt(now time.Time) func(*identity.RefreshToken, *identity.Session) (*identity.RefreshToken, error) {
	_, next := identity.NewOpaqueToken()
	return func(p *identity.RefreshToken, s *identity.Session) (*identity.RefreshToken, error) {
		return s.Rotate(p, next, now, identity.Rotation{TTL: ttl})
	}
}

// rotate rotates h at now, which must succeed, and returns the new digest.
func rotate(t *testing.T, st Store, h identity.TokenHash, now time.Time) identity.TokenHash {
	t.Helper()
	var next identity.TokenHash
	err := st.RotateRefreshToken(t.Context(), h, func(p *identity.RefreshToken, s *identity.Session) (*identity.RefreshToken, error) {
		tok, err := rotateAt(now)(p, s)
		if tok != nil {
			next = tok.Hash()
		}
		return tok, err
	})
	if err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	return next
}

// peekRefreshToken returns the stored refresh token with digest h, changing nothing.
func peekRefreshToken(t *testing.T, st Store, h identity.TokenHash) (*identity.RefreshToken, error) {
	t.Helper()
	var got *identity.RefreshToken
	err := st.RotateRefreshToken(t.Context(), h, func(p *identity.RefreshToken, _ *identity.Session) (*identity.RefreshToken, error) {
		got = p
		return nil, nil
	})
	return got, err
}

// errPeek aborts a consume that only looks.
var errPeek = errors.New("peek")

// peekOneTimeToken returns the stored one-time token with digest h, changing nothing.
func peekOneTimeToken(t *testing.T, st Store, h identity.TokenHash) (*identity.OneTimeToken, error) {
	t.Helper()
	var got *identity.OneTimeToken
	err := st.ConsumeOneTimeToken(t.Context(), h, func(tok *identity.OneTimeToken, _ *identity.User) error {
		got = tok
		return errPeek
	})
	if errors.Is(err, errPeek) {
		return got, nil
	}
	return nil, err
}

// verify is the closure of the email-verification use case, at now.
func verify(now time.Time) func(*identity.OneTimeToken, *identity.User) error {
	return func(tok *identity.OneTimeToken, u *identity.User) error {
		if err := tok.Consume(identity.PurposeEmailVerification, now); err != nil {
			return err
		}
		u.VerifyEmail(now)
		return nil
	}
}

func update(t *testing.T, st Store, id uuid.UUID, fn func(*identity.User) error) {
	t.Helper()
	if err := st.UpdateUser(t.Context(), id, fn); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
}

func assertStoredSession(t *testing.T, st Store, want *identity.Session) {
	t.Helper()
	got, err := st.SessionByID(t.Context(), want.ID())
	if err != nil {
		t.Fatalf("SessionByID(%s): %v", want.ID(), err)
	}
	assertSession(t, got, want)
}

func assertUser(t *testing.T, got, want *identity.User) {
	t.Helper()
	if got.ID() != want.ID() || got.Email() != want.Email() || got.Name() != want.Name() ||
		got.PasswordHash() != want.PasswordHash() || !got.EmailVerifiedAt().Equal(want.EmailVerifiedAt()) ||
		got.Role() != want.Role() || got.Status() != want.Status() ||
		!got.CreatedAt().Equal(want.CreatedAt()) || !got.UpdatedAt().Equal(want.UpdatedAt()) {
		t.Errorf("user differs\n got: %s\nwant: %s", describeUser(got), describeUser(want))
	}
}

func describeUser(u *identity.User) string {
	return fmtFields(u.ID(), u.Email(), u.Name(), u.PasswordHash(), u.EmailVerifiedAt(), u.Role(), u.Status(), u.CreatedAt(), u.UpdatedAt())
}

func assertSession(t *testing.T, got, want *identity.Session) {
	t.Helper()
	if got.ID() != want.ID() || got.UserID() != want.UserID() || got.UserAgent() != want.UserAgent() ||
		got.IPAddress() != want.IPAddress() || !got.CreatedAt().Equal(want.CreatedAt()) ||
		!got.LastUsedAt().Equal(want.LastUsedAt()) || !got.ExpiresAt().Equal(want.ExpiresAt()) ||
		!got.RevokedAt().Equal(want.RevokedAt()) || got.RevokeReason() != want.RevokeReason() {
		t.Errorf("session differs\n got: %s\nwant: %s", describeSession(got), describeSession(want))
	}
}

func describeSession(s *identity.Session) string {
	return fmtFields(s.ID(), s.UserID(), s.UserAgent(), s.IPAddress(), s.CreatedAt(), s.LastUsedAt(),
		s.ExpiresAt(), s.RevokedAt(), s.RevokeReason())
}

func assertRefreshToken(t *testing.T, got, want *identity.RefreshToken) {
	t.Helper()
	if got.Hash() != want.Hash() || got.SessionID() != want.SessionID() || !got.IssuedAt().Equal(want.IssuedAt()) ||
		!got.ExpiresAt().Equal(want.ExpiresAt()) || !got.UsedAt().Equal(want.UsedAt()) {
		t.Errorf("refresh token differs\n got: %s\nwant: %s",
			fmtFields(got.Hash(), got.SessionID(), got.IssuedAt(), got.ExpiresAt(), got.UsedAt()),
			fmtFields(want.Hash(), want.SessionID(), want.IssuedAt(), want.ExpiresAt(), want.UsedAt()))
	}
}

func assertOneTimeToken(t *testing.T, got, want *identity.OneTimeToken) {
	t.Helper()
	if got.Hash() != want.Hash() || got.UserID() != want.UserID() || got.Purpose() != want.Purpose() ||
		!got.CreatedAt().Equal(want.CreatedAt()) || !got.ExpiresAt().Equal(want.ExpiresAt()) || !got.UsedAt().Equal(want.UsedAt()) {
		t.Errorf("one-time token differs\n got: %s\nwant: %s",
			fmtFields(got.Hash(), got.UserID(), got.Purpose(), got.CreatedAt(), got.ExpiresAt(), got.UsedAt()),
			fmtFields(want.Hash(), want.UserID(), want.Purpose(), want.CreatedAt(), want.ExpiresAt(), want.UsedAt()))
	}
}

func ids(sessions []*identity.Session) []uuid.UUID {
	out := make([]uuid.UUID, len(sessions))
	for i, s := range sessions {
		out[i] = s.ID()
	}
	return out
}

func mustEmail(t *testing.T, raw string) identity.Email {
	t.Helper()
	e, err := identity.ParseEmail(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// newID returns a time-ordered id, as the service makes them.
func newID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newRandomID returns a random id, so ties in ordering are not decided by creation order.
func newRandomID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fmtFields formats entity fields for a failure message, times to the nanosecond.
func fmtFields(vs ...any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		switch v := v.(type) {
		case time.Time:
			parts[i] = v.Format(time.RFC3339Nano)
		case identity.TokenHash:
			parts[i] = fmt.Sprintf("%x…", v[:6])
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(parts, " | ")
}

func purgeDeletesOnlyWhatEnded(t *testing.T, st Store) {
	cutoff := base.Add(60 * 24 * time.Hour)
	// Users: verified long ago (kept), never verified long ago (deleted, with
	// its session and token), never verified just before the cutoff's edge
	// (kept: registered after it).
	verified, _, verifiedToken := createUser(t, st, "verified@example.com")
	if err := st.UpdateUser(t.Context(), verified.ID(), func(u *identity.User) error { u.VerifyEmail(base); return nil }); err != nil {
		t.Fatal(err)
	}
	stale, _, staleToken := createUser(t, st, "stale@example.com")
	staleSession := identity.NewSession(newID(t), stale.ID(), "ua", "ip", cutoff.Add(-time.Hour), ttl)
	createSession(t, st, staleSession)
	recent, err := identity.NewUser(newID(t), mustEmail(t, "recent@example.com"), "Ada", "hash", cutoff.Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(t.Context(), recent, identityapp.VerificationMail{UserID: recent.ID()}); err != nil {
		t.Fatal(err)
	}
	// Sessions of the verified user: expired before the cutoff (deleted),
	// revoked before it (deleted), expiring at the cutoff's microsecond
	// (kept: not before it), live (kept).
	expired := identity.NewSession(newID(t), verified.ID(), "ua", "ip", cutoff.Add(-2*ttl), ttl)
	revoked := identity.NewSession(newID(t), verified.ID(), "ua", "ip", cutoff.Add(-2*ttl), 100*ttl)
	edge := identity.NewSession(newID(t), verified.ID(), "ua", "ip", cutoff.Add(-ttl), ttl)
	live := identity.NewSession(newID(t), verified.ID(), "ua", "ip", cutoff, ttl)
	for _, s := range []*identity.Session{expired, revoked, edge, live} {
		createSession(t, st, s)
	}
	if err := st.UpdateSession(t.Context(), revoked.ID(), func(s *identity.Session) error {
		s.Revoke(cutoff.Add(-time.Minute), identity.RevokedLogout)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A reset token that expires after the token cutoff (kept).
	_, freshToken := identity.NewOpaqueToken()
	if err := st.CreateOneTimeToken(t.Context(), identity.NewOneTimeToken(freshToken, verified.ID(), identity.PurposePasswordReset, cutoff)); err != nil {
		t.Fatal(err)
	}

	counts, err := st.PurgeExpired(t.Context(), identityapp.RetentionCutoffs{
		SessionsEndedBefore: cutoff, TokensExpiredBefore: cutoff, UnverifiedCreatedBefore: cutoff,
	})
	if err != nil {
		t.Fatalf("PurgeExpired: %v", err)
	}
	// The verified user's verification token, made at base, expired long
	// before the cutoff; the stale user's went with the user.
	if want := (identityapp.RetentionCounts{Users: 1, Sessions: 2, OneTimeTokens: 1}); counts != want {
		t.Errorf("counts = %+v, want %+v", counts, want)
	}
	for name, id := range map[string]uuid.UUID{"verified user": verified.ID(), "recent unverified user": recent.ID()} {
		if _, err := st.UserByID(t.Context(), id); err != nil {
			t.Errorf("%s: %v, want kept", name, err)
		}
	}
	if _, err := st.UserByID(t.Context(), stale.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("never-verified user past the cutoff: %v, want deleted", err)
	}
	for name, s := range map[string]*identity.Session{"expired": expired, "revoked": revoked, "stale user's": staleSession} {
		if _, err := st.SessionByID(t.Context(), s.ID()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s session: %v, want deleted", name, err)
		}
	}
	for name, s := range map[string]*identity.Session{"edge": edge, "live": live} {
		if _, err := st.SessionByID(t.Context(), s.ID()); err != nil {
			t.Errorf("%s session: %v, want kept", name, err)
		}
	}
	for name, h := range map[string]identity.TokenHash{"verified user's old": verifiedToken, "stale user's": staleToken} {
		if _, err := peekOneTimeToken(t, st, h); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
			t.Errorf("%s token: %v, want deleted", name, err)
		}
	}
	if _, err := peekOneTimeToken(t, st, freshToken); err != nil {
		t.Errorf("fresh token: %v, want kept", err)
	}
}
