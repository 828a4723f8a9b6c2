package admin_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	adminapp "github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/application/audit"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type harness struct {
	t     *testing.T
	ctx   context.Context
	svc   *adminapp.Service
	store *memory.IdentityStore
	clock *fakeclock.Clock
	audit *memory.AuditLog
}

func newHarness(t *testing.T) *harness {
	store := memory.NewIdentityStore(&memory.JobQueue{})
	clock := fakeclock.New(start)
	auditLog := memory.NewAuditLog()
	auditor := audit.NewService(auditLog, clock, nil, 0)
	return &harness{t: t, ctx: t.Context(), store: store, clock: clock, audit: auditLog,
		svc: adminapp.NewService(store, store, memory.NewProviderStore(), clock, auditor, auditor)}
}

// user stores a user with role and a session of theirs, and returns the
// user and the principal of that session.
func (h *harness) user(email string, role identity.Role) (*identity.User, identityapp.Principal) {
	h.t.Helper()
	e, err := identity.ParseEmail(email)
	if err != nil {
		h.t.Fatal(err)
	}
	u, err := identity.NewUser(uuid.Must(uuid.NewV7()), e, "Someone", "hash", h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	u.SetRole(role, h.clock.Now())
	if err := h.store.CreateUser(h.ctx, u, nopJob{}); err != nil {
		h.t.Fatal(err)
	}
	sess := identity.NewSession(uuid.Must(uuid.NewV7()), u.ID(), "ua", "192.0.2.1", h.clock.Now(), time.Hour)
	_, hash := identity.NewOpaqueToken()
	if err := h.store.CreateSession(h.ctx, sess, identity.NewRefreshToken(hash, sess.ID(), h.clock.Now(), time.Hour)); err != nil {
		h.t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	return u, identityapp.Principal{UserID: u.ID(), SessionID: sess.ID()}
}

type nopJob struct{}

func (nopJob) Kind() string { return "nop" }

func ptr[T any](v T) *T { return &v }

func (h *harness) activeSessions(id uuid.UUID) int64 {
	h.t.Helper()
	_, n, err := h.store.ListActiveSessions(h.ctx, id, h.clock.Now(), 0, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// Every admin use case refuses a caller who is not an active admin with
// ErrNotAdmin (a not-found), and changes nothing.
func TestEveryUseCaseRefusesNonAdmins(t *testing.T) {
	h := newHarness(t)
	h.user("root@example.com", identity.RoleAdmin)
	victim, _ := h.user("victim@example.com", identity.RoleUser)
	_, plain := h.user("plain@example.com", identity.RoleUser)
	disabledAdmin, disabledP := h.user("gone@example.com", identity.RoleAdmin)
	if _, err := h.store.AdministerUser(h.ctx, disabledAdmin.ID(), func(u *identity.User, _ int) error {
		u.SetStatus(identity.UserDisabled, h.clock.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	unknown := identityapp.Principal{UserID: uuid.New(), SessionID: uuid.New()}
	for name, p := range map[string]identityapp.Principal{"a user": plain, "a disabled admin": disabledP, "an unknown caller": unknown} {
		calls := map[string]error{}
		_, calls["ListUsers"] = h.svc.ListUsers(h.ctx, p, adminapp.UserQuery{Limit: 10}, false)
		_, calls["GetUser"] = h.svc.GetUser(h.ctx, p, victim.ID())
		_, calls["UpdateUser"] = h.svc.UpdateUser(h.ctx, p, victim.ID(), adminapp.UpdateUserInput{Status: ptr(identity.UserDisabled)})
		_, calls["ListUserSessions"] = h.svc.ListUserSessions(h.ctx, p, victim.ID(), 1, 10)
		_, calls["ListUserProviders"] = h.svc.ListUserProviders(h.ctx, p, victim.ID(), 1, 10)
		calls["RevokeUserSessions"] = h.svc.RevokeUserSessions(h.ctx, p, victim.ID())
		calls["RequireAdmin"] = h.svc.RequireAdmin(h.ctx, p, "jobs_dashboard")
		for call, err := range calls {
			if !errors.Is(err, identity.ErrNotAdmin) || !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("%s: %s = %v, want ErrNotAdmin (a not-found)", name, call, err)
			}
		}
	}
	if u, _ := h.store.UserByID(h.ctx, victim.ID()); u.IsDisabled() || h.activeSessions(victim.ID()) != 1 {
		t.Error("a refused call changed the victim")
	}
}

func TestDisablingAUserRevokesEverySessionOfTheirs(t *testing.T) {
	h := newHarness(t)
	_, root := h.user("root@example.com", identity.RoleAdmin)
	bob, _ := h.user("bob@example.com", identity.RoleUser)
	u, err := h.svc.UpdateUser(h.ctx, root, bob.ID(), adminapp.UpdateUserInput{Status: ptr(identity.UserDisabled)})
	if err != nil || !u.IsDisabled() {
		t.Fatalf("UpdateUser = %v, %v", u, err)
	}
	if n := h.activeSessions(bob.ID()); n != 0 {
		t.Errorf("bob has %d active sessions after being disabled", n)
	}
	if n := h.activeSessions(root.UserID); n != 1 {
		t.Errorf("the admin's own sessions were touched: %d active", n)
	}
}

func TestTheLastActiveAdminCannotBeDisabledOrDemoted(t *testing.T) {
	h := newHarness(t)
	root, p := h.user("root@example.com", identity.RoleAdmin)
	for name, in := range map[string]adminapp.UpdateUserInput{
		"disable": {Status: ptr(identity.UserDisabled)},
		"demote":  {Role: ptr(identity.RoleUser)},
	} {
		if _, err := h.svc.UpdateUser(h.ctx, p, root.ID(), in); !errors.Is(err, identity.ErrLastAdmin) || !errors.Is(err, domain.ErrConflict) {
			t.Errorf("%s the last admin: %v, want ErrLastAdmin (a conflict)", name, err)
		}
	}
	if _, err := h.svc.SetRole(h.ctx, "root@example.com", identity.RoleUser); !errors.Is(err, identity.ErrLastAdmin) {
		t.Errorf("the CLI revoking the last admin: %v, want ErrLastAdmin", err)
	}
	if u, _ := h.store.UserByID(h.ctx, root.ID()); !u.IsAdmin() || u.IsDisabled() || h.activeSessions(root.ID()) != 1 {
		t.Error("a refused change of the last admin changed them")
	}
	// Re-stating what they are is no change, and allowed.
	if _, err := h.svc.UpdateUser(h.ctx, p, root.ID(), adminapp.UpdateUserInput{Role: ptr(identity.RoleAdmin), Status: ptr(identity.UserActive)}); err != nil {
		t.Errorf("a no-op change of the last admin: %v", err)
	}
}

// Two admins demoting each other at once: one wins, the other is refused
// (the store counts the admins under their locks), so one admin remains.
func TestTwoAdminsDemotingEachOtherLeaveOne(t *testing.T) {
	h := newHarness(t)
	a, pa := h.user("a@example.com", identity.RoleAdmin)
	b, pb := h.user("b@example.com", identity.RoleAdmin)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		_, errs[0] = h.svc.UpdateUser(h.ctx, pa, b.ID(), adminapp.UpdateUserInput{Role: ptr(identity.RoleUser)})
	})
	wg.Go(func() {
		_, errs[1] = h.svc.UpdateUser(h.ctx, pb, a.ID(), adminapp.UpdateUserInput{Role: ptr(identity.RoleUser)})
	})
	wg.Wait()
	page, err := h.svc.ListUsers(h.ctx, pa, adminapp.UserQuery{Limit: 10, Filter: adminapp.UserFilter{Role: identity.RoleAdmin}}, false)
	if errors.Is(err, identity.ErrNotAdmin) {
		page, err = h.svc.ListUsers(h.ctx, pb, adminapp.UserQuery{Limit: 10, Filter: adminapp.UserFilter{Role: identity.RoleAdmin}}, false)
	}
	if err != nil || page.Total != 1 {
		t.Errorf("admins left: %d (%v); the two demotions returned %v", page.Total, err, errs)
	}
}

func TestADemotedAdminLosesAccessOnTheNextCall(t *testing.T) {
	h := newHarness(t)
	_, root := h.user("root@example.com", identity.RoleAdmin)
	second, p2 := h.user("second@example.com", identity.RoleAdmin)
	if _, err := h.svc.GetUser(h.ctx, p2, root.UserID); err != nil {
		t.Fatalf("second admin before demotion: %v", err)
	}
	if _, err := h.svc.UpdateUser(h.ctx, root, second.ID(), adminapp.UpdateUserInput{Role: ptr(identity.RoleUser)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.GetUser(h.ctx, p2, root.UserID); !errors.Is(err, identity.ErrNotAdmin) {
		t.Errorf("demoted admin's next call: %v, want ErrNotAdmin", err)
	}
}

func TestUpdateUserWithAStaleIfMatchChangesNothing(t *testing.T) {
	h := newHarness(t)
	_, root := h.user("root@example.com", identity.RoleAdmin)
	bob, _ := h.user("bob@example.com", identity.RoleUser)
	stale := adminapp.Version(bob) - 1
	_, err := h.svc.UpdateUser(h.ctx, root, bob.ID(), adminapp.UpdateUserInput{Status: ptr(identity.UserDisabled), IfMatch: []int64{stale}})
	if !errors.Is(err, domain.ErrPreconditionFailed) {
		t.Errorf("stale If-Match: %v, want ErrPreconditionFailed", err)
	}
	if u, _ := h.store.UserByID(h.ctx, bob.ID()); u.IsDisabled() || h.activeSessions(bob.ID()) != 1 {
		t.Error("a stale If-Match changed the user")
	}
	if _, err := h.svc.UpdateUser(h.ctx, root, bob.ID(), adminapp.UpdateUserInput{Status: ptr(identity.UserDisabled), IfMatch: []int64{adminapp.Version(bob)}}); err != nil {
		t.Errorf("current If-Match: %v", err)
	}
}

func TestSetRoleGrantsAndRevokesByEmail(t *testing.T) {
	h := newHarness(t)
	h.user("root@example.com", identity.RoleAdmin)
	h.user("bob@example.com", identity.RoleUser)
	if u, err := h.svc.SetRole(h.ctx, " BOB@example.com", identity.RoleAdmin); err != nil || !u.IsAdmin() {
		t.Fatalf("grant: %v, %v", u, err)
	}
	if u, err := h.svc.SetRole(h.ctx, "bob@example.com", identity.RoleUser); err != nil || u.IsAdmin() {
		t.Fatalf("revoke: %v, %v", u, err)
	}
	if _, err := h.svc.SetRole(h.ctx, "nobody@example.com", identity.RoleAdmin); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown email: %v, want ErrNotFound", err)
	}
}

func TestListUsersPagesWithCursorsAndFilters(t *testing.T) {
	h := newHarness(t)
	_, root := h.user("root@example.com", identity.RoleAdmin)
	for i := range 5 {
		h.user(fmt.Sprintf("m%d@example.com", i), identity.RoleUser)
	}
	var seen []string
	q := adminapp.UserQuery{Limit: 2}
	for {
		page, err := h.svc.ListUsers(h.ctx, root, q, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.Items {
			seen = append(seen, u.Email().String())
		}
		if !page.HasMore {
			break
		}
		q.After = &page.Next
	}
	want := "[m4@example.com m3@example.com m2@example.com m1@example.com m0@example.com root@example.com]"
	if fmt.Sprint(seen) != want {
		t.Errorf("cursor pages = %v, want %v", seen, want)
	}
	page, err := h.svc.ListUsers(h.ctx, root, adminapp.UserQuery{Limit: 10, Filter: adminapp.UserFilter{Email: "M3"}}, false)
	if err != nil || page.Total != 1 || page.Items[0].Email().String() != "m3@example.com" {
		t.Errorf("email filter: %v, %v", page, err)
	}
	if _, err := h.svc.ListUsers(h.ctx, root, adminapp.UserQuery{Limit: 101}, false); err == nil {
		t.Error("a page of 101 was accepted")
	}
}
