package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
)

// lastAudit returns the newest audit entry, failing when there is none.
func (h *harness) lastAudit() audit.Entry {
	h.t.Helper()
	all := h.audit.All()
	if len(all) == 0 {
		h.t.Fatal("no audit entry was written")
	}
	return all[len(all)-1]
}

// wantAudit checks e's action, actor, subject, outcome and reason, and that
// it carries the request on the harness's context.
func wantAudit(t *testing.T, e audit.Entry, action audit.Action, actor uuid.UUID, subject audit.Subject, outcome audit.Outcome, reason string) {
	t.Helper()
	if e.Action != action || e.Actor != actor || e.Subject != subject || e.Outcome != outcome || e.Reason != reason {
		t.Fatalf("audit entry = %+v, want %s by %s on %v, %s %q", e, action, actor, subject, outcome, reason)
	}
	if e.RequestID != "req-42" || e.ClientIP != "198.51.100.7" || e.UserAgent != "audit-agent" {
		t.Fatalf("audit entry request = %q %q %q, want the context's", e.RequestID, e.ClientIP, e.UserAgent)
	}
	if e.ID == uuid.Nil || e.OccurredAt.IsZero() {
		t.Fatalf("audit entry has no id or time: %+v", e)
	}
}

func auditedHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.ctx = audit.WithRequest(h.ctx, audit.Request{ID: "req-42", ClientIP: "198.51.100.7", UserAgent: "audit-agent"})
	return h
}

func TestLoginsAreAuditedWithTheirOutcome(t *testing.T) {
	h := auditedHarness(t)
	alice := h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	wantAudit(t, h.lastAudit(), audit.ActionLogin, alice.ID(), audit.UserSubject(alice.ID()), audit.Success, "")
	if g.Session == nil {
		t.Fatal("no session")
	}

	_, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: wrongPassword})
	mustBeUnauthenticated(t, "wrong password", err)
	wantAudit(t, h.lastAudit(), audit.ActionLogin, uuid.Nil, audit.UserSubject(alice.ID()), audit.Failure, "invalid_credentials")

	_, err = h.svc.Login(h.ctx, identityapp.LoginInput{Email: "Nobody@Example.com", Password: wrongPassword})
	mustBeUnauthenticated(t, "unknown email", err)
	e := h.lastAudit()
	wantAudit(t, e, audit.ActionLogin, uuid.Nil, audit.Subject{Type: audit.SubjectEmailHash, ID: audit.EmailHash("nobody@example.com")},
		audit.Failure, "invalid_credentials")
	if strings.Contains(strings.ToLower(e.Subject.ID), "nobody") {
		t.Fatalf("the unknown address is in the entry: %+v", e)
	}

	if err := h.store.UpdateUser(h.ctx, alice.ID(), func(u *identity.User) error {
		u.SetStatus(identity.UserDisabled, h.clock.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword})
	mustBeUnauthenticated(t, "disabled", err)
	wantAudit(t, h.lastAudit(), audit.ActionLogin, uuid.Nil, audit.UserSubject(alice.ID()), audit.Failure, "user_disabled")
}

func TestLogoutSessionRevokeAndPasswordChangeAreAudited(t *testing.T) {
	h := auditedHarness(t)
	alice := h.registerAlice()
	current := h.principal(h.login("alice@example.com", alicePassword))
	other := h.login("alice@example.com", alicePassword)

	if err := h.svc.RevokeSession(h.ctx, current, other.Session.ID()); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, h.lastAudit(), audit.ActionSessionRevoke, alice.ID(), audit.Of(audit.SubjectSession, other.Session.ID()), audit.Success, "")
	if err := h.svc.RevokeSession(h.ctx, current, uuid.New()); err == nil {
		t.Fatal("revoking an unknown session succeeded")
	}
	wantAudit(t, h.lastAudit(), audit.ActionSessionRevoke, alice.ID(), h.lastAudit().Subject, audit.Failure, "not_found")

	if err := h.svc.ChangePassword(h.ctx, current, wrongPassword, newPassword); err == nil {
		t.Fatal("a wrong current password was accepted")
	}
	wantAudit(t, h.lastAudit(), audit.ActionPasswordChange, alice.ID(), audit.UserSubject(alice.ID()), audit.Failure, "invalid_input")
	if err := h.svc.ChangePassword(h.ctx, current, alicePassword, newPassword); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, h.lastAudit(), audit.ActionPasswordChange, alice.ID(), audit.UserSubject(alice.ID()), audit.Success, "")

	if err := h.svc.Logout(h.ctx, current); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, h.lastAudit(), audit.ActionLogout, alice.ID(), audit.Of(audit.SubjectSession, current.SessionID), audit.Success, "")
}

func TestEmailVerificationAndPasswordResetAreAudited(t *testing.T) {
	h := auditedHarness(t)
	alice, verify := h.register("alice@example.com", alicePassword, "Alice")
	if _, err := h.svc.VerifyEmail(h.ctx, verify); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, h.lastAudit(), audit.ActionEmailVerify, alice.ID(), audit.UserSubject(alice.ID()), audit.Success, "")
	if _, err := h.svc.VerifyEmail(h.ctx, verify); err == nil {
		t.Fatal("a used verification token was accepted")
	}
	wantAudit(t, h.lastAudit(), audit.ActionEmailVerify, uuid.Nil, audit.UserSubject(uuid.Nil), audit.Failure, "invalid_token")

	reset := h.requestReset("alice@example.com")
	if err := h.svc.ResetPassword(h.ctx, reset, newPassword); err != nil {
		t.Fatal(err)
	}
	wantAudit(t, h.lastAudit(), audit.ActionPasswordReset, alice.ID(), audit.UserSubject(alice.ID()), audit.Success, "")
	if err := h.svc.ResetPassword(h.ctx, reset, newPassword); err == nil {
		t.Fatal("a used reset token was accepted")
	}
	wantAudit(t, h.lastAudit(), audit.ActionPasswordReset, uuid.Nil, audit.UserSubject(uuid.Nil), audit.Failure, "invalid_token")
}

// A journey through every audited identity action leaves no password, token
// or address in any entry.
func TestAuditEntriesHoldNoSecret(t *testing.T) {
	h := auditedHarness(t)
	_, verify := h.register("alice@example.com", alicePassword, "Alice")
	if _, err := h.svc.VerifyEmail(h.ctx, verify); err != nil {
		t.Fatal(err)
	}
	g := h.login("alice@example.com", alicePassword)
	_, _ = h.svc.Login(h.ctx, identityapp.LoginInput{Email: "ghost@example.com", Password: wrongPassword})
	reset := h.requestReset("alice@example.com")
	if err := h.svc.ResetPassword(h.ctx, reset, newPassword); err != nil {
		t.Fatal(err)
	}
	secrets := []string{alicePassword, newPassword, wrongPassword, verify, reset, g.AccessToken, g.RefreshToken,
		"alice@example.com", "ghost@example.com"}
	for _, e := range h.audit.All() {
		line := strings.Join([]string{string(e.Action), e.Subject.Type, e.Subject.ID, e.Reason, e.RequestID, e.ClientIP, e.UserAgent}, "|")
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("audit entry %s holds a secret: %q", e.Action, line)
			}
		}
	}
	if len(h.audit.All()) < 4 {
		t.Fatalf("the journey wrote %d audit entries", len(h.audit.All()))
	}
}

// An entry the store cannot write is logged and counted; the action stands.
func TestAFailingAuditStoreDoesNotFailTheAction(t *testing.T) {
	h := auditedHarness(t)
	h.registerAlice()
	h.audit.Fail = errors.New("disk full")
	h.login("alice@example.com", alicePassword)
	if !strings.Contains(h.logs.String(), "audit entry not written") {
		t.Fatalf("the failure was not logged: %s", h.logs.String())
	}
}
