// Package eventcontract is the contract test suite of the event log: the
// events each store writes with its changes, in the same transaction (a
// failed change writes none), with ids unique and increasing, and the
// events application's Log port that reads and purges them. The in-memory
// fakes and the SQL adapter on SQLite and Postgres run the same suite.
package eventcontract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	eventsapp "github.com/dashtam/dashtam/application/events"
	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// Harness is the stores under test, all on one event log (Log).
type Harness struct {
	Log            eventsapp.Log
	Users          identityapp.Users
	Sessions       identityapp.Sessions
	Providers      providersapp.Repository
	Authorizations providersapp.Authorizations
	Syncs          datasyncapp.Store
}

// Run runs the suite: each test as a subtest of t, on the harness newHarness
// returns when called from that subtest, on empty stores of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHarness(t)) })
	}
}

var tests = []struct {
	name string
	test func(t *testing.T, h Harness)
}{
	{"a session's creation and revocation are written with its user, ids ascending", sessionEventsAreWritten},
	{"RevokeUserSessions writes one session.revoked per session it revokes, none for one already revoked", bulkRevocationWritesOnePerSession},
	{"a failed UpdateSession, UpdateSync or UpdateAuthorization writes no event", failedWritesWriteNoEvent},
	{"a sync's start and end and a grant are written with the provider's user", syncAndGrantEventsAreWritten},
	{"a password change is written, a re-hash is not", passwordChangeIsWritten},
	{"ListEvents: only the user's, after an id, of the types asked, at most limit", listEventsFilters},
	{"concurrent writers get unique ids, and every event is written once", concurrentWritersGetUniqueIDs},
	{"PurgeEvents deletes the events that occurred before the cutoff, and only those", purgeDeletesOldEvents},
}

// base is the suite's clock: a fixed instant in UTC with a sub-second part
// that survives microsecond storage.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

var errBoom = errors.New("boom (from the test's closure)")

func newUser(t *testing.T, h Harness) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	email, err := identity.ParseEmail("user-" + id.String() + "@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := identity.NewUser(id, email, "Event Owner", "hash", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Users.CreateUser(t.Context(), u, identityapp.VerificationMail{UserID: id}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return id
}

func newSession(t *testing.T, h Harness, user uuid.UUID) *identity.Session {
	t.Helper()
	s := identity.NewSession(uuid.Must(uuid.NewV7()), user, "agent", "192.0.2.1", base, time.Hour)
	_, hash := identity.NewOpaqueToken()
	if err := h.Sessions.CreateSession(t.Context(), s, identity.NewRefreshToken(hash, s.ID(), base, time.Hour)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s
}

func newProvider(t *testing.T, h Harness, user uuid.UUID) *provider.Provider {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	p, err := provider.New(id, user, "schwab", "Schwab "+id.String(), base)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Providers.CreateProvider(t.Context(), p); err != nil {
		t.Fatalf("CreateProvider: %v", err)
	}
	return p
}

// userEvents reads every event of user.
func userEvents(t *testing.T, h Harness, user uuid.UUID) []event.Logged {
	t.Helper()
	evs, err := h.Log.ListEvents(t.Context(), eventsapp.Query{UserID: user, Limit: 1000})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	return evs
}

func types(evs []event.Logged) []event.Type {
	out := make([]event.Type, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func data(t *testing.T, e event.Logged) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("event %d data %q: %v", e.ID, e.Data, err)
	}
	return d
}

func wantTypes(t *testing.T, evs []event.Logged, want ...event.Type) {
	t.Helper()
	if got := types(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("ids not ascending: %d after %d", evs[i].ID, evs[i-1].ID)
		}
	}
}

func sessionEventsAreWritten(t *testing.T, h Harness) {
	user := newUser(t, h)
	s := newSession(t, h, user)
	if err := h.Sessions.UpdateSession(t.Context(), s.ID(), func(s *identity.Session) error {
		s.Revoke(base.Add(time.Minute), identity.RevokedLogout)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	evs := userEvents(t, h, user)
	wantTypes(t, evs, event.SessionCreated, event.SessionRevoked)
	for _, e := range evs {
		if e.UserID != user || data(t, e)["session_id"] != s.ID().String() {
			t.Errorf("event %+v: want user %s and session %s", e, user, s.ID())
		}
	}
	if !evs[0].OccurredAt.Equal(base) || !evs[1].OccurredAt.Equal(base.Add(time.Minute)) {
		t.Errorf("occurred at %v and %v, want %v and %v", evs[0].OccurredAt, evs[1].OccurredAt, base, base.Add(time.Minute))
	}
	if evs[0].ID < 1 {
		t.Errorf("first id %d, want positive", evs[0].ID)
	}
}

func bulkRevocationWritesOnePerSession(t *testing.T, h Harness) {
	user := newUser(t, h)
	keep, a, b, already := newSession(t, h, user), newSession(t, h, user), newSession(t, h, user), newSession(t, h, user)
	if err := h.Sessions.UpdateSession(t.Context(), already.ID(), func(s *identity.Session) error {
		s.Revoke(base, identity.RevokedLogout)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := len(userEvents(t, h, user))
	if err := h.Sessions.RevokeUserSessions(t.Context(), user, keep.ID(), base.Add(time.Second), identity.RevokedPasswordChange); err != nil {
		t.Fatal(err)
	}
	added := userEvents(t, h, user)[before:]
	wantTypes(t, added, event.SessionRevoked, event.SessionRevoked)
	var got []string
	for _, e := range added {
		d := data(t, e)
		if d["reason"] != string(identity.RevokedPasswordChange) {
			t.Errorf("reason %v, want %s", d["reason"], identity.RevokedPasswordChange)
		}
		got = append(got, d["session_id"].(string))
	}
	slices.Sort(got)
	want := []string{a.ID().String(), b.ID().String()}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("revoked sessions %v, want %v", got, want)
	}
}

func failedWritesWriteNoEvent(t *testing.T, h Harness) {
	user := newUser(t, h)
	s := newSession(t, h, user)
	p := newProvider(t, h, user)
	sy := datasync.New(uuid.Must(uuid.NewV7()), p.ID(), datasync.TriggerManual, base)
	if _, _, err := h.Syncs.Begin(t.Context(), sy, datasyncapp.SyncJob{SyncID: sy.ID(), ProviderID: p.ID()}); err != nil {
		t.Fatal(err)
	}
	before := userEvents(t, h, user)

	if err := h.Sessions.UpdateSession(t.Context(), s.ID(), func(s *identity.Session) error {
		s.Revoke(base, identity.RevokedLogout)
		return errBoom
	}); !errors.Is(err, errBoom) {
		t.Fatalf("UpdateSession: %v, want errBoom", err)
	}
	if _, err := h.Syncs.UpdateSync(t.Context(), sy.ID(), func(s *datasync.Sync, _ *datasyncapp.State) error {
		if err := s.Start(base); err != nil {
			return err
		}
		return errBoom
	}); !errors.Is(err, errBoom) {
		t.Fatalf("UpdateSync: %v, want errBoom", err)
	}
	if _, _, err := h.Authorizations.UpdateAuthorization(t.Context(), p.ID(),
		func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
			a := provider.NewAuthorization(p, uuid.Must(uuid.NewV7()), provider.NewState(), base.Add(time.Hour), base)
			a.Grant(provider.Credentials{AccessToken: "a"}, base)
			return a, errBoom
		}); !errors.Is(err, errBoom) {
		t.Fatalf("UpdateAuthorization: %v, want errBoom", err)
	}
	if after := userEvents(t, h, user); !reflect.DeepEqual(types(after), types(before)) {
		t.Errorf("failed writes wrote events: %v, before %v", types(after), types(before))
	}
	// The next successful write takes an id after every earlier one.
	if err := h.Sessions.UpdateSession(t.Context(), s.ID(), func(s *identity.Session) error {
		s.Revoke(base, identity.RevokedLogout)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	after := userEvents(t, h, user)
	if len(after) != len(before)+1 || after[len(after)-1].ID <= before[len(before)-1].ID {
		t.Errorf("events after a success: %v", types(after))
	}
}

func syncAndGrantEventsAreWritten(t *testing.T, h Harness) {
	user := newUser(t, h)
	p := newProvider(t, h, user)
	if _, _, err := h.Authorizations.UpdateAuthorization(t.Context(), p.ID(),
		func(p *provider.Provider, _ *provider.Authorization) (*provider.Authorization, error) {
			a := provider.NewAuthorization(p, uuid.Must(uuid.NewV7()), provider.NewState(), base.Add(time.Hour), base)
			a.Grant(provider.Credentials{AccessToken: "secret-access", RefreshToken: "secret-refresh"}, base)
			return a, nil
		}); err != nil {
		t.Fatal(err)
	}
	sy := datasync.New(uuid.Must(uuid.NewV7()), p.ID(), datasync.TriggerManual, base)
	if _, _, err := h.Syncs.Begin(t.Context(), sy, datasyncapp.SyncJob{SyncID: sy.ID(), ProviderID: p.ID()}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func(*datasync.Sync) error{
		func(s *datasync.Sync) error { return s.Start(base.Add(time.Second)) },
		func(s *datasync.Sync) error { return s.Finish(nil, base.Add(2*time.Second)) },
	} {
		if _, err := h.Syncs.UpdateSync(t.Context(), sy.ID(), func(s *datasync.Sync, _ *datasyncapp.State) error {
			return step(s)
		}); err != nil {
			t.Fatal(err)
		}
	}
	evs := userEvents(t, h, user)
	wantTypes(t, evs, event.ProviderConnected, event.SyncStarted, event.SyncCompleted)
	if d := data(t, evs[0]); d["provider_id"] != p.ID().String() {
		t.Errorf("provider.connected data %v, want the provider's id", d)
	}
	for _, e := range evs {
		if bytes.Contains(e.Data, []byte("secret-access")) || bytes.Contains(e.Data, []byte("secret-refresh")) {
			t.Errorf("%s carries a token: %s", e.Type, e.Data)
		}
	}
	if d := data(t, evs[2]); d["sync_id"] != sy.ID().String() || d["status"] != "succeeded" || d["results"] == nil {
		t.Errorf("sync.completed data %v, want the sync's id, status and results", d)
	}
}

func passwordChangeIsWritten(t *testing.T, h Harness) {
	user := newUser(t, h)
	for _, change := range []func(*identity.User){
		func(u *identity.User) { u.SetPasswordHash("rehash", base) },
		func(u *identity.User) { u.ChangePassword("new", base) },
	} {
		if err := h.Users.UpdateUser(t.Context(), user, func(u *identity.User) error {
			change(u)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	wantTypes(t, userEvents(t, h, user), event.PasswordChanged)
}

func listEventsFilters(t *testing.T, h Harness) {
	user, other := newUser(t, h), newUser(t, h)
	s1 := newSession(t, h, user)
	newSession(t, h, other)
	s2 := newSession(t, h, user)
	if err := h.Sessions.UpdateSession(t.Context(), s1.ID(), func(s *identity.Session) error {
		s.Revoke(base, identity.RevokedLogout)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	all := userEvents(t, h, user)
	wantTypes(t, all, event.SessionCreated, event.SessionCreated, event.SessionRevoked)
	if data(t, all[1])["session_id"] != s2.ID().String() {
		t.Fatalf("second event %s, want s2's creation", all[1].Data)
	}
	ctx := t.Context()
	page, err := h.Log.ListEvents(ctx, eventsapp.Query{UserID: user, After: all[0].ID, Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != all[1].ID {
		t.Errorf("after the first, limit 1: %v, %v; want the second", page, err)
	}
	revoked, err := h.Log.ListEvents(ctx, eventsapp.Query{UserID: user, Types: []event.Type{event.SessionRevoked}, Limit: 10})
	if err != nil || len(revoked) != 1 || revoked[0].ID != all[2].ID {
		t.Errorf("session.revoked only: %v, %v", types(revoked), err)
	}
	none, err := h.Log.ListEvents(ctx, eventsapp.Query{UserID: user, After: all[2].ID, Limit: 10})
	if err != nil || len(none) != 0 {
		t.Errorf("after the last: %v, %v; want none", types(none), err)
	}
	if evs := userEvents(t, h, uuid.Must(uuid.NewV7())); len(evs) != 0 {
		t.Errorf("an unknown user has events %v", types(evs))
	}
}

func concurrentWritersGetUniqueIDs(t *testing.T, h Harness) {
	const n = 12
	user := newUser(t, h)
	sessions := make([]*identity.Session, n)
	for i := range sessions {
		sessions[i] = newSession(t, h, user)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, s := range sessions {
		wg.Go(func() {
			errs <- h.Sessions.UpdateSession(context.WithoutCancel(t.Context()), s.ID(), func(s *identity.Session) error {
				s.Revoke(base, identity.RevokedByUser)
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	revoked, err := h.Log.ListEvents(t.Context(), eventsapp.Query{UserID: user, Types: []event.Type{event.SessionRevoked}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range revoked {
		if i > 0 && e.ID <= revoked[i-1].ID {
			t.Fatalf("ids not strictly ascending: %d after %d", e.ID, revoked[i-1].ID)
		}
		seen[data(t, e)["session_id"].(string)] = true
	}
	if len(revoked) != n || len(seen) != n {
		t.Errorf("%d session.revoked events for %d sessions (%d distinct), want %d", len(revoked), n, len(seen), n)
	}
}

func purgeDeletesOldEvents(t *testing.T, h Harness) {
	user := newUser(t, h)
	s := newSession(t, h, user) // session.created at base
	if err := h.Sessions.UpdateSession(t.Context(), s.ID(), func(s *identity.Session) error {
		s.Revoke(base.Add(time.Hour), identity.RevokedLogout)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n, err := h.Log.PurgeEvents(t.Context(), base.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PurgeEvents = %d, %v; want 1", n, err)
	}
	wantTypes(t, userEvents(t, h, user), event.SessionRevoked)
}
