package erasure_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/erasure"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// store is an erasure.Store over a map of users. It records the context
// each erasure ran with.
type store struct {
	users  map[uuid.UUID]*identity.User
	ctxErr []error
}

func (s *store) UserByID(_ context.Context, id uuid.UUID) (*identity.User, error) {
	if u, ok := s.users[id]; ok {
		return u, nil
	}
	return nil, domain.ErrNotFound
}

func (s *store) EraseUser(ctx context.Context, id uuid.UUID, _ time.Time, check func(*identity.User, int) error) (erasure.Erased, error) {
	s.ctxErr = append(s.ctxErr, ctx.Err())
	u, ok := s.users[id]
	if !ok {
		return erasure.Erased{}, domain.ErrNotFound
	}
	admins := 0
	for _, o := range s.users {
		if o.IsAdmin() && !o.IsDisabled() {
			admins++
		}
	}
	if err := check(u, admins); err != nil {
		return erasure.Erased{}, err
	}
	delete(s.users, id)
	return erasure.Erased{Providers: 1}, nil
}

// passwords accepts "right" for every hash.
type passwords struct{}

func (passwords) Verify(_ context.Context, password, _ string) (bool, bool, error) {
	return password == "right", false, nil
}

// admins is what application/admin says of a caller: the store's active
// admins are admins.
type admins struct{ s *store }

func (a admins) RequireAdmin(_ context.Context, p identityapp.Principal, _ string) error {
	if u, ok := a.s.users[p.UserID]; ok && u.IsAdmin() && !u.IsDisabled() {
		return nil
	}
	return identity.ErrNotAdmin
}

type auditor struct{ entries []audit.Entry }

func (a *auditor) Record(_ context.Context, e audit.Entry) { a.entries = append(a.entries, e) }

type clock struct{}

func (clock) Now() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) }

type harness struct {
	store *store
	audit *auditor
	svc   *erasure.Service
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s := &store{users: map[uuid.UUID]*identity.User{}}
	a := &auditor{}
	return &harness{store: s, audit: a, svc: erasure.NewService(s, s, passwords{}, admins{s}, clock{}, a)}
}

func (h *harness) user(t *testing.T, email string, role identity.Role) identityapp.Principal {
	t.Helper()
	addr, err := identity.ParseEmail(email)
	if err != nil {
		t.Fatal(err)
	}
	u, err := identity.NewUser(uuid.Must(uuid.NewV7()), addr, "Someone", "hash", clock{}.Now())
	if err != nil {
		t.Fatal(err)
	}
	u.SetRole(role, clock{}.Now())
	h.store.users[u.ID()] = u
	return identityapp.Principal{UserID: u.ID(), SessionID: uuid.Must(uuid.NewV7())}
}

func (h *harness) lastEntry(t *testing.T) audit.Entry {
	t.Helper()
	if len(h.audit.entries) == 0 {
		t.Fatal("nothing audited")
	}
	return h.audit.entries[len(h.audit.entries)-1]
}

// A wrong password deletes nothing and is a validation error on
// current_password, audited as a refused deletion; the right one deletes
// the account, audited with the user as actor and subject.
func TestDeletingOneselfTakesTheCurrentPassword(t *testing.T) {
	h := newHarness(t)
	ann := h.user(t, "ann@example.com", identity.RoleUser)

	_, err := h.svc.DeleteOwnAccount(t.Context(), ann, "wrong")
	if ve, ok := errors.AsType[*domain.ValidationError](err); !ok || len(ve.Fields) != 1 || ve.Fields[0].Field != "current_password" {
		t.Fatalf("a wrong password: %v, want a validation error on current_password", err)
	}
	if _, ok := h.store.users[ann.UserID]; !ok {
		t.Fatal("a wrong password deleted the account")
	}
	if e := h.lastEntry(t); e.Action != audit.ActionDeletion || e.Outcome != audit.Failure || e.Actor != ann.UserID {
		t.Errorf("audited %+v, want a refused deletion by ann", e)
	}

	if _, err := h.svc.DeleteOwnAccount(t.Context(), ann, "right"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.store.users[ann.UserID]; ok {
		t.Error("the account is still there")
	}
	if e := h.lastEntry(t); e.Action != audit.ActionDeletion || e.Outcome != audit.Success || e.Actor != ann.UserID || e.Subject != audit.UserSubject(ann.UserID) {
		t.Errorf("audited %+v, want ann's deletion of herself", e)
	}
}

// Only an active admin deletes another user, at the version If-Match names
// when it names one; the last active admin cannot be deleted, by themself or
// anyone; with another admin, they can.
func TestAdminsDeleteUsersButNotTheLastAdmin(t *testing.T) {
	h := newHarness(t)
	root := h.user(t, "root@example.com", identity.RoleAdmin)
	bob := h.user(t, "bob@example.com", identity.RoleUser)

	if _, err := h.svc.DeleteUser(t.Context(), bob, root.UserID, nil); !errors.Is(err, identity.ErrNotAdmin) {
		t.Errorf("a user deleting the admin: %v, want ErrNotAdmin", err)
	}
	if _, err := h.svc.DeleteUser(t.Context(), root, root.UserID, nil); !errors.Is(err, identity.ErrLastAdmin) || !errors.Is(err, domain.ErrConflict) {
		t.Errorf("the last admin deleting themself: %v, want ErrLastAdmin", err)
	}
	if _, err := h.svc.DeleteOwnAccount(t.Context(), root, "right"); !errors.Is(err, identity.ErrLastAdmin) {
		t.Errorf("the last admin deleting their own account: %v, want ErrLastAdmin", err)
	}
	if len(h.store.users) != 2 {
		t.Fatalf("%d users left after refused deletions, want 2", len(h.store.users))
	}

	current := admin.Version(h.store.users[bob.UserID])
	if _, err := h.svc.DeleteUser(t.Context(), root, bob.UserID, []int64{current - 1}); !errors.Is(err, domain.ErrPreconditionFailed) {
		t.Errorf("deleting with a stale If-Match: %v, want a failed precondition", err)
	}
	if _, ok := h.store.users[bob.UserID]; !ok {
		t.Fatal("a stale If-Match deleted the user")
	}
	if _, err := h.svc.DeleteUser(t.Context(), root, bob.UserID, []int64{current}); err != nil {
		t.Fatal(err)
	}
	if e := h.lastEntry(t); e.Actor != root.UserID || e.Subject != audit.UserSubject(bob.UserID) || e.Outcome != audit.Success {
		t.Errorf("audited %+v, want root's deletion of bob", e)
	}
	if _, err := h.svc.DeleteUser(t.Context(), root, bob.UserID, nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("deleting bob twice: %v, want not found", err)
	}

	second := h.user(t, "second@example.com", identity.RoleAdmin)
	if _, err := h.svc.DeleteUser(t.Context(), second, root.UserID, nil); err != nil {
		t.Errorf("an admin deleting another admin: %v", err)
	}
}

// A client that hangs up does not stop a deletion it started: the store runs
// with a context that outlives the request's.
func TestADeletionOutlivesItsRequest(t *testing.T) {
	h := newHarness(t)
	ann := h.user(t, "ann@example.com", identity.RoleUser)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.svc.DeleteOwnAccount(ctx, ann, "right"); err != nil {
		t.Fatal(err)
	}
	if len(h.store.ctxErr) != 1 || h.store.ctxErr[0] != nil {
		t.Errorf("the erasure ran with context errors %v, want a live context", h.store.ctxErr)
	}
}
