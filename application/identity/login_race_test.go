package identity_test

import (
	"errors"
	"testing"

	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
)

// A login verifies the password, then re-hashes it. If the password is reset in
// between, the re-hash must not write a hash of the old password over the new one:
// that would undo the reset that was meant to lock the attacker out.
func TestLoginRehashDoesNotUndoAPasswordResetDuringLogin(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	token := h.requestReset("alice@example.com")
	h.hasher.needsRehash.Store(true)
	reset := func() {
		if err := h.svc.ResetPassword(h.ctx, token, newPassword); err != nil {
			t.Errorf("ResetPassword during login: %v", err)
		}
	}
	h.hasher.afterVerify.Store(&reset)

	_, _ = h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword})
	h.hasher.needsRehash.Store(false)

	if _, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: newPassword}); err != nil {
		t.Errorf("password set by the reset no longer logs in: %v", err)
	}
	if _, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword}); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Errorf("old password logs in again after the reset: err = %v", err)
	}
}

// SECURITY.md: a password reset revokes sessions. A login whose password check
// passed just before the reset must not hand out a session that outlives it.
func TestLoginRacingAPasswordResetLeavesNoActiveSession(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	token := h.requestReset("alice@example.com")
	reset := func() {
		if err := h.svc.ResetPassword(h.ctx, token, newPassword); err != nil {
			t.Errorf("ResetPassword during login: %v", err)
		}
	}
	h.hasher.afterVerify.Store(&reset)

	g, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword})
	if err != nil {
		return // refusing the login is a correct outcome
	}
	if _, err := h.svc.Authenticate(h.ctx, g.AccessToken); err == nil {
		t.Fatal("a login with the old password, verified before a reset, has an active session after it")
	}
}
