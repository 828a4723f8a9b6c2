package identity_test

import (
	"errors"
	"testing"

	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
)

// disable disables the user as an operator does: the status, then every
// session of the user.
func (h *harness) disable(u *identity.User) {
	h.t.Helper()
	if err := h.store.UpdateUser(h.ctx, u.ID(), func(u *identity.User) error {
		u.SetStatus(identity.UserDisabled, h.clock.Now())
		return nil
	}); err != nil {
		h.t.Fatalf("disable: %v", err)
	}
	if err := h.store.RevokeUserSessions(h.ctx, u.ID(), [16]byte{}, h.clock.Now(), identity.RevokedUserDisabled); err != nil {
		h.t.Fatalf("revoke sessions: %v", err)
	}
}

func TestADisabledUserCannotLogInButAWrongPasswordSaysNothingOfIt(t *testing.T) {
	h := newHarness(t)
	h.disable(h.registerAlice())
	_, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword})
	if !errors.Is(err, identity.ErrUserDisabled) {
		t.Errorf("login of a disabled user with the right password: %v, want ErrUserDisabled", err)
	}
	_, err = h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: wrongPassword})
	if !errors.Is(err, identity.ErrInvalidCredentials) || errors.Is(err, identity.ErrUserDisabled) {
		t.Errorf("login of a disabled user with a wrong password: %v, want only ErrInvalidCredentials", err)
	}
}

func TestADisabledUserCannotRefreshNorUseTheirAccessToken(t *testing.T) {
	h := newHarness(t)
	alice := h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	h.disable(alice)
	if _, err := h.svc.Refresh(h.ctx, g.RefreshToken); !errors.Is(err, identity.ErrInvalidRefreshToken) {
		t.Errorf("refresh after disabling: %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := h.svc.Authenticate(h.ctx, g.AccessToken); !errors.Is(err, identity.ErrSessionInactive) {
		t.Errorf("access token after disabling: %v, want ErrSessionInactive", err)
	}
}

func TestEnablingAUserRestoresLoginButNotTheOldSessions(t *testing.T) {
	h := newHarness(t)
	alice := h.registerAlice()
	old := h.login("alice@example.com", alicePassword)
	h.disable(alice)
	if err := h.store.UpdateUser(h.ctx, alice.ID(), func(u *identity.User) error {
		u.SetStatus(identity.UserActive, h.clock.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.login("alice@example.com", alicePassword)
	if _, err := h.svc.Authenticate(h.ctx, old.AccessToken); err == nil {
		t.Error("a session from before the user was disabled works again after enabling")
	}
}

// An operator disabling the account while a login is hashing its password:
// the login must not hand out a session that outlives the disabling.
func TestLoginRacingADisableLeavesNoActiveSession(t *testing.T) {
	h := newHarness(t)
	alice := h.registerAlice()
	disable := func() { h.disable(alice) }
	h.hasher.afterVerify.Store(&disable)

	g, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword})
	if err == nil {
		if _, err := h.svc.Authenticate(h.ctx, g.AccessToken); err == nil {
			t.Fatal("a login verified just before the user was disabled has an active session after it")
		}
	}
	if h.user(alice.ID()).Status() != identity.UserDisabled {
		t.Fatal("the disabling did not happen during the login")
	}
}
