package admin_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	adminapp "github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain/identity"
)

func (h *harness) lastAudit() audit.Entry {
	h.t.Helper()
	all := h.audit.All()
	if len(all) == 0 {
		h.t.Fatal("no audit entry was written")
	}
	return all[len(all)-1]
}

func TestANonAdminCallingAnAdminUseCaseIsAuditedAndNotFound(t *testing.T) {
	h := newHarness(t)
	h.ctx = audit.WithRequest(h.ctx, audit.Request{ID: "req-7", ClientIP: "192.0.2.9"})
	_, mallory := h.user("mallory@example.com", identity.RoleUser)
	if _, err := h.svc.GetUser(h.ctx, mallory, mallory.UserID); !errors.Is(err, identity.ErrNotAdmin) {
		t.Fatalf("err = %v, want ErrNotAdmin", err)
	}
	e := h.lastAudit()
	if e.Action != audit.ActionAdminDenied || e.Actor != mallory.UserID || e.Outcome != audit.Failure || e.Reason != "not_admin" ||
		e.Subject != (audit.Subject{Type: audit.SubjectAdminOperation, ID: "get_user"}) || e.RequestID != "req-7" || e.ClientIP != "192.0.2.9" {
		t.Fatalf("entry = %+v", e)
	}
	if _, err := h.svc.ListAuditEvents(h.ctx, mallory, audit.Query{Limit: 10}); !errors.Is(err, identity.ErrNotAdmin) {
		t.Fatalf("a non-admin read the audit log: %v", err)
	}
	if got := h.lastAudit().Subject.ID; got != "list_audit_events" {
		t.Fatalf("denied subject = %q", got)
	}
}

func TestAdminWritesAreAuditedWithTheAdminAsActor(t *testing.T) {
	h := newHarness(t)
	h.ctx = audit.WithRequest(h.ctx, audit.Request{ID: "req-8"})
	_, root := h.user("root@example.com", identity.RoleAdmin)
	bob, _ := h.user("bob@example.com", identity.RoleUser)
	disabled := identity.UserDisabled
	if _, err := h.svc.UpdateUser(h.ctx, root, bob.ID(), adminapp.UpdateUserInput{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	e := h.lastAudit()
	if e.Action != audit.ActionAdminUserUpdate || e.Actor != root.UserID || e.Subject != audit.UserSubject(bob.ID()) ||
		e.Outcome != audit.Success || e.RequestID != "req-8" {
		t.Fatalf("entry = %+v", e)
	}
	demote := identity.RoleUser
	if _, err := h.svc.UpdateUser(h.ctx, root, root.UserID, adminapp.UpdateUserInput{Role: &demote}); !errors.Is(err, identity.ErrLastAdmin) {
		t.Fatalf("err = %v, want ErrLastAdmin", err)
	}
	if e := h.lastAudit(); e.Action != audit.ActionAdminUserUpdate || e.Outcome != audit.Failure || e.Reason != "last_admin" {
		t.Fatalf("entry = %+v", e)
	}
	if err := h.svc.RevokeUserSessions(h.ctx, root, bob.ID()); err != nil {
		t.Fatal(err)
	}
	if e := h.lastAudit(); e.Action != audit.ActionAdminSessionsRevoke || e.Actor != root.UserID || e.Subject != audit.UserSubject(bob.ID()) {
		t.Fatalf("entry = %+v", e)
	}
	if _, err := h.svc.SetRole(h.ctx, "bob@example.com", identity.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if e := h.lastAudit(); e.Action != audit.ActionAdminRoleSet || e.Actor != uuid.Nil || e.Subject != audit.UserSubject(bob.ID()) {
		t.Fatalf("entry = %+v", e)
	}

	page, err := h.svc.ListAuditEvents(h.ctx, root, audit.Query{Limit: 10, Action: audit.ActionAdminUserUpdate})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 {
		t.Fatalf("listed %d admin.user_update entries, want 2", len(page.Entries))
	}
}
