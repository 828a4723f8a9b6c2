package identity_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// --- Registration and email verification ---

func TestRegisterReportsEveryInvalidFieldAtOnce(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Register(h.ctx, identityapp.RegisterInput{Email: "not-an-email", Password: "short", Name: "   "})
	got := fieldCodes(t, err)
	want := map[string]string{"email": "invalid_format", "password": "too_short", "name": "required"}
	if len(got) != len(want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
	for f, c := range want {
		if got[f] != c {
			t.Errorf("field %s: code %q, want %q (all: %v)", f, got[f], c, got)
		}
	}
	if n := h.hasher.hashes.Load(); n != 0 {
		t.Errorf("invalid registration hashed the password %d times", n)
	}
	if n := len(h.mail()); n != 0 {
		t.Errorf("invalid registration sent %d emails", n)
	}
}

func TestRegisterRejectsCommonPassword(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Register(h.ctx, identityapp.RegisterInput{Email: "alice@example.com", Password: "password1", Name: "Alice"})
	if got := fieldCodes(t, err); len(got) != 1 || got["password"] != "too_common" {
		t.Fatalf("fields = %v, want password/too_common only", got)
	}
}

func TestRegisterNormalisesEmailAndName(t *testing.T) {
	h := newHarness(t)
	u, _ := h.register("  Alice@Example.COM ", alicePassword, "  Alice  ")
	if u.Email().String() != "alice@example.com" || u.Name() != "Alice" {
		t.Fatalf("registered %q / %q, want alice@example.com / Alice", u.Email(), u.Name())
	}
	email, _ := identity.ParseEmail("alice@example.com")
	stored, err := h.store.UserByEmail(h.ctx, email)
	if err != nil || stored.ID() != u.ID() {
		t.Fatalf("UserByEmail(normalised) = %v, %v; want the new user", stored, err)
	}
	if stored.IsEmailVerified() || !stored.CreatedAt().Equal(start) {
		t.Fatalf("new user verified %v, created %v; want unverified, created %v", stored.IsEmailVerified(), stored.CreatedAt(), start)
	}
	if stored.PasswordHash() == alicePassword || !strings.HasPrefix(stored.PasswordHash(), "$fake-sha256$") {
		t.Fatalf("stored password hash %q is not the hasher's output", stored.PasswordHash())
	}
	// Any capitalisation logs in.
	h.login("ALICE@example.com", alicePassword)
}

func TestRegisterMailsVerificationLinkUnderPublicBaseURL(t *testing.T) {
	h := newHarness(t)
	u, token := h.register("Alice@Example.com", alicePassword, "Alice")
	msgs := h.mail()
	if len(msgs) != 1 {
		t.Fatalf("sent %d emails, want 1", len(msgs))
	}
	msg := msgs[0]
	if msg.To != "alice@example.com" {
		t.Errorf("To = %q, want the normalised address", msg.To)
	}
	if !strings.Contains(msg.Text, publicBaseURL+"/verify-email?token="+token+"\n") {
		t.Errorf("text lacks the verification link with token %q:\n%s", token, msg.Text)
	}
	if strings.Contains(msg.Text, alicePassword) || strings.Contains(msg.Subject, token) {
		t.Errorf("email leaks the password or carries the token in the subject")
	}
	// The mailed token is the one stored for this user.
	verified, err := h.svc.VerifyEmail(h.ctx, token)
	if err != nil || verified.ID() != u.ID() {
		t.Fatalf("VerifyEmail(mailed token) = %v, %v; want the registered user", verified, err)
	}
}

// Hardening item 9: registering an address that has an account answers
// exactly as for a new one (a user that is never stored), changes nothing of
// the account, and mails the owner instead of the registrant.
func TestRegisteringAnExistingEmailAnswersLikeANewOneAndMailsTheOwner(t *testing.T) {
	h := newHarness(t)
	first := h.registerAlice()
	sent := len(h.mail())
	hashes := h.hasher.hashes.Load()
	got, err := h.svc.Register(h.ctx, identityapp.RegisterInput{Email: " ALICE@example.com", Password: bobPassword, Name: "Impostor"})
	if err != nil {
		t.Fatalf("Register of a taken address = %v, want the answer of a new one", err)
	}
	if got.ID() == first.ID() || got.Email().String() != "alice@example.com" || got.Name() != "Impostor" || got.IsEmailVerified() {
		t.Errorf("answer = %s %s %q verified=%v, want a fresh unverified user like a new registration's",
			got.ID(), got.Email(), got.Name(), got.IsEmailVerified())
	}
	if n := h.hasher.hashes.Load() - hashes; n != 1 {
		t.Errorf("hashed %d passwords, want 1 as for a new address (same time)", n)
	}
	if _, err := h.store.UserByID(h.ctx, got.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the answer's user was stored: %v", err)
	}
	msgs := h.mail()[sent:]
	if len(msgs) != 1 || msgs[0].To != "alice@example.com" || !strings.Contains(msgs[0].Subject, "tried to register") ||
		strings.Contains(msgs[0].Text, "Impostor") || strings.Contains(msgs[0].Text, "token=") {
		t.Errorf("mails after the attempt = %+v, want one notice to the owner, without the registrant's text or a token", msgs)
	}
	if got := h.user(first.ID()); got.Name() != "Alice" {
		t.Errorf("first account renamed to %q", got.Name())
	}
	if _, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: bobPassword}); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Errorf("duplicate registration's password logs in: %v", err)
	}
}

func TestVerifyEmailWorksOnce(t *testing.T) {
	h := newHarness(t)
	u, token := h.register("alice@example.com", alicePassword, "Alice")
	h.clock.Advance(time.Hour)
	verifiedAt := h.clock.Now()
	got, err := h.svc.VerifyEmail(h.ctx, token)
	if err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	if !got.IsEmailVerified() || !got.EmailVerifiedAt().Equal(verifiedAt) {
		t.Fatalf("returned user verified at %v, want %v", got.EmailVerifiedAt(), verifiedAt)
	}
	if stored := h.user(u.ID()); !stored.EmailVerifiedAt().Equal(verifiedAt) {
		t.Fatalf("stored user verified at %v, want %v", stored.EmailVerifiedAt(), verifiedAt)
	}

	h.clock.Advance(time.Minute)
	if _, err := h.svc.VerifyEmail(h.ctx, token); !errors.Is(err, identity.ErrInvalidOneTimeToken) || !errors.Is(err, domain.ErrInvalidRequest) {
		t.Fatalf("second VerifyEmail = %v, want ErrInvalidOneTimeToken", err)
	}
	if stored := h.user(u.ID()); !stored.EmailVerifiedAt().Equal(verifiedAt) {
		t.Fatalf("second use moved verification time to %v", stored.EmailVerifiedAt())
	}
}

func TestVerifyEmailTokenExpiresAfter24Hours(t *testing.T) {
	t.Run("one microsecond before 24h works", func(t *testing.T) {
		h := newHarness(t)
		_, token := h.register("alice@example.com", alicePassword, "Alice")
		h.clock.Advance(24*time.Hour - time.Microsecond)
		if _, err := h.svc.VerifyEmail(h.ctx, token); err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
	})
	t.Run("at 24h is ErrInvalidOneTimeToken", func(t *testing.T) {
		h := newHarness(t)
		u, token := h.register("alice@example.com", alicePassword, "Alice")
		h.clock.Advance(24 * time.Hour)
		if _, err := h.svc.VerifyEmail(h.ctx, token); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
			t.Fatalf("VerifyEmail = %v, want ErrInvalidOneTimeToken", err)
		}
		if h.user(u.ID()).IsEmailVerified() {
			t.Fatal("expired token verified the email")
		}
	})
}

func TestVerifyEmailRejectsUnknownAndPasswordResetTokens(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	if _, err := h.svc.VerifyEmail(h.ctx, "not-a-token"); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("unknown token: err = %v, want ErrInvalidOneTimeToken", err)
	}
	reset := h.requestReset("alice@example.com")
	if _, err := h.svc.VerifyEmail(h.ctx, reset); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("reset token as verification: err = %v, want ErrInvalidOneTimeToken", err)
	}
	if h.user(u.ID()).IsEmailVerified() {
		t.Fatal("a reset token verified the email through VerifyEmail")
	}
	// The refused attempt did not burn the reset token.
	if err := h.svc.ResetPassword(h.ctx, reset, newPassword); err != nil {
		t.Fatalf("ResetPassword after the refused attempt: %v", err)
	}
}

func TestResendVerificationMailsOnlyWhileUnverified(t *testing.T) {
	h := newHarness(t)
	u, first := h.register("alice@example.com", alicePassword, "Alice")
	p := h.principal(h.login("alice@example.com", alicePassword)) // unverified accounts may log in

	if err := h.svc.ResendVerification(h.ctx, p); err != nil {
		t.Fatalf("ResendVerification: %v", err)
	}
	msgs := h.mail()
	if len(msgs) != 2 || msgs[1].To != "alice@example.com" {
		t.Fatalf("emails = %+v, want a second one to alice@example.com", msgs)
	}
	second := h.linkToken(msgs[1], "/verify-email")
	if second == first {
		t.Fatal("resend mailed the same token again")
	}
	if _, err := h.svc.VerifyEmail(h.ctx, second); err != nil {
		t.Fatalf("VerifyEmail(resent token): %v", err)
	}
	if !h.user(u.ID()).IsEmailVerified() {
		t.Fatal("resent token did not verify the email")
	}

	if err := h.svc.ResendVerification(h.ctx, p); err != nil {
		t.Fatalf("ResendVerification when verified: %v", err)
	}
	if n := len(h.mail()); n != 2 {
		t.Fatalf("verified account got another email (%d in all)", n)
	}
}

// --- Login ---

func TestLoginStartsASession(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	if g.AccessToken == "" || len(g.RefreshToken) != 43 || g.ExpiresIn != accessTTL {
		t.Fatalf("grant: access %q, refresh %q, expires in %v", g.AccessToken, g.RefreshToken, g.ExpiresIn)
	}
	s := h.session(g.Session.ID())
	if s.UserID() != u.ID() || s.UserAgent() != "test-agent" || s.IPAddress() != "192.0.2.1" ||
		!s.CreatedAt().Equal(start) || !s.ExpiresAt().Equal(start.Add(refreshTTL)) {
		t.Fatalf("stored session = user %v, UA %q, IP %q, created %v, expires %v",
			s.UserID(), s.UserAgent(), s.IPAddress(), s.CreatedAt(), s.ExpiresAt())
	}
	if p := h.principal(g); p.UserID != u.ID() || p.SessionID != s.ID() {
		t.Fatalf("principal = %+v, want user %v session %v", p, u.ID(), s.ID())
	}
}

func TestLoginFailuresAreIdenticalAndCostOneHashVerify(t *testing.T) {
	for _, tt := range []struct{ name, email, password string }{
		{"unknown email", "nobody@example.com", alicePassword},
		{"wrong password", "alice@example.com", wrongPassword},
		{"malformed email", "not an email", alicePassword},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			u := h.registerAlice()
			h.hasher.hashes.Store(0)
			h.hasher.verifies.Store(0)

			_, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: tt.email, Password: tt.password})
			if err != identity.ErrInvalidCredentials { //nolint:errorlint // the very same error value, not merely one that wraps it
				t.Fatalf("err = %v, want exactly ErrInvalidCredentials", err)
			}
			if n := h.hasher.verifies.Load(); n != 1 {
				t.Errorf("Verify called %d times, want exactly 1 (equal work for every failure)", n)
			}
			if n := h.hasher.hashes.Load(); n != 0 {
				t.Errorf("Hash called %d times on a failed login", n)
			}
			if page, _ := h.svc.ListSessions(h.ctx, identityapp.Principal{UserID: u.ID()}, 1, 10); page.Total != 0 {
				t.Errorf("failed login created %d sessions", page.Total)
			}
		})
	}
}

func TestLoginSuccessCostsOneHashVerifyWithoutRehash(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	before := h.user(u.ID()).PasswordHash()
	h.hasher.hashes.Store(0)
	h.login("alice@example.com", alicePassword)
	if v, hs := h.hasher.verifies.Load(), h.hasher.hashes.Load(); v != 1 || hs != 0 {
		t.Fatalf("Verify %d, Hash %d times; want 1, 0", v, hs)
	}
	if h.user(u.ID()).PasswordHash() != before {
		t.Fatal("hash changed although no re-hash was needed")
	}
}

func TestLoginRehashesWhenHasherAsks(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	before := h.user(u.ID()).PasswordHash()
	h.clock.Advance(time.Hour)
	h.hasher.hashes.Store(0)
	h.hasher.needsRehash.Store(true)

	h.login("alice@example.com", alicePassword)
	if n := h.hasher.hashes.Load(); n != 1 {
		t.Fatalf("Hash called %d times, want 1 (the re-hash)", n)
	}
	after := h.user(u.ID())
	if after.PasswordHash() == before {
		t.Fatal("stored hash unchanged after a login that needed a re-hash")
	}
	if !after.UpdatedAt().Equal(start.Add(time.Hour)) {
		t.Fatalf("updated at %v, want %v", after.UpdatedAt(), start.Add(time.Hour))
	}
	// The new hash is of the same password.
	h.hasher.needsRehash.Store(false)
	h.login("alice@example.com", alicePassword)
	if _, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: wrongPassword}); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("wrong password after re-hash: %v", err)
	}
}

// --- Refresh ---

func TestRefreshRotationChain(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	sessionID := g.Session.ID()
	seen := map[string]bool{g.RefreshToken: true}
	for i := range 4 {
		h.clock.Advance(6 * 24 * time.Hour) // within each token's 7 days
		next := h.refresh(g.RefreshToken)
		if seen[next.RefreshToken] || len(next.RefreshToken) != 43 {
			t.Fatalf("rotation %d returned refresh token %q (repeated or malformed)", i, next.RefreshToken)
		}
		seen[next.RefreshToken] = true
		if next.Session.ID() != sessionID || next.AccessToken == g.AccessToken || next.ExpiresIn != accessTTL {
			t.Fatalf("rotation %d: session %v, same access token %v, expires in %v",
				i, next.Session.ID(), next.AccessToken == g.AccessToken, next.ExpiresIn)
		}
		if p := h.principal(next); p.UserID != u.ID() || p.SessionID != sessionID {
			t.Fatalf("rotation %d: principal %+v", i, p)
		}
		g = next
	}
	now := h.clock.Now()
	s := h.session(sessionID)
	// Refresh slid the expiry, up to the session's absolute lifetime.
	want := s.CreatedAt().Add(identityapp.DefaultSessionMaxLifetime)
	if !s.ExpiresAt().Equal(want) || !s.LastUsedAt().Equal(now) || !s.IsActive(now) {
		t.Fatalf("after 24 days of rotation the session expires %v, last used %v; want %v (its login plus %v), %v",
			s.ExpiresAt(), s.LastUsedAt(), want, identityapp.DefaultSessionMaxLifetime, now)
	}
}

func TestRefreshReuseRevokesTheSession(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	g1 := h.login("alice@example.com", alicePassword)
	other := h.login("alice@example.com", alicePassword) // another device, unaffected
	h.clock.Advance(time.Minute)
	g2 := h.refresh(g1.RefreshToken)

	h.clock.Advance(time.Minute)
	_, err := h.svc.Refresh(h.ctx, g1.RefreshToken) // the thief, or the victim, replays
	if !errors.Is(err, identity.ErrRefreshTokenReused) {
		t.Fatalf("replayed refresh: err = %v, want ErrRefreshTokenReused", err)
	}
	mustBeUnauthenticated(t, "replayed refresh", err)

	s := h.session(g1.Session.ID())
	if s.RevokeReason() != identity.RevokedRefreshReuse || !s.RevokedAt().Equal(h.clock.Now()) {
		t.Fatalf("session revoked at %v for %q, want now for %q", s.RevokedAt(), s.RevokeReason(), identity.RevokedRefreshReuse)
	}
	// Both parties are out: the legitimate new refresh token and every access
	// token of the session fail.
	_, err = h.svc.Refresh(h.ctx, g2.RefreshToken)
	mustBeUnauthenticated(t, "refresh with the successor token", err)
	for name, access := range map[string]string{"first": g1.AccessToken, "rotated": g2.AccessToken} {
		if _, err := h.svc.Authenticate(h.ctx, access); !errors.Is(err, identity.ErrSessionInactive) {
			t.Fatalf("%s access token after reuse: err = %v, want ErrSessionInactive", name, err)
		}
	}
	// The other session lives on.
	h.principal(other)
	h.refresh(other.RefreshToken)

	// The reuse is logged, without any token.
	logs := h.logs.String()
	if !strings.Contains(logs, "reuse") || !strings.Contains(logs, g1.Session.ID().String()) {
		t.Errorf("reuse not logged with the session id:\n%s", logs)
	}
	for _, secret := range []string{g1.RefreshToken, g2.RefreshToken, g1.AccessToken, g2.AccessToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("a token appears in the logs:\n%s", logs)
		}
	}
}

func TestRefreshConcurrentUseOfOneTokenSucceedsOnce(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	for i := range errs {
		wg.Go(func() { _, errs[i] = h.svc.Refresh(h.ctx, g.RefreshToken) })
	}
	wg.Wait()
	ok, reused := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, identity.ErrRefreshTokenReused):
			reused++
		}
	}
	if ok != 1 || reused != 1 {
		t.Fatalf("results %v: want one success and one reuse", errs)
	}
	if h.session(g.Session.ID()).RevokeReason() != identity.RevokedRefreshReuse {
		t.Fatal("session not revoked after the double use")
	}
}

// Hardening item 11: twenty parallel refreshes of one token (a client's
// retries, its tabs) all succeed within the grace and leave the user logged
// in; the same token presented after the grace still revokes the session.
func TestTwentyParallelRefreshesOfOneTokenLeaveTheUserLoggedIn(t *testing.T) {
	h := newHarnessWith(t, identityapp.Config{RefreshTTL: refreshTTL, PublicBaseURL: publicBaseURL, RefreshReuseGrace: 5 * time.Second})
	h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	var (
		wg     sync.WaitGroup
		grants [20]identityapp.Grant
		errs   [20]error
	)
	for i := range errs {
		wg.Go(func() { grants[i], errs[i] = h.svc.Refresh(h.ctx, g.RefreshToken) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("refresh %d of 20: %v, want success within the grace", i+1, err)
		}
	}
	if s := h.session(g.Session.ID()); !s.IsActive(h.clock.Now()) {
		t.Fatalf("session revoked (%q) by parallel refreshes within the grace", s.RevokeReason())
	}
	h.principal(grants[19])
	h.refresh(grants[7].RefreshToken) // any of them carries on the session

	h.clock.Advance(5*time.Second + time.Millisecond)
	if _, err := h.svc.Refresh(h.ctx, g.RefreshToken); !errors.Is(err, identity.ErrRefreshTokenReused) {
		t.Fatalf("the first token after the grace: %v, want ErrRefreshTokenReused", err)
	}
	if h.session(g.Session.ID()).RevokeReason() != identity.RevokedRefreshReuse {
		t.Fatal("reuse after the grace did not revoke the session")
	}
}

func TestRefreshUnknownTokenIsInvalid(t *testing.T) {
	h := newHarness(t)
	for _, tok := range []string{"", "garbage", strings.Repeat("A", 43)} {
		if _, err := h.svc.Refresh(h.ctx, tok); !errors.Is(err, identity.ErrInvalidRefreshToken) {
			t.Fatalf("Refresh(%q) = %v, want ErrInvalidRefreshToken", tok, err)
		}
	}
}

func TestRefreshTokenExpiryBoundary(t *testing.T) {
	t.Run("one microsecond before 7 days works", func(t *testing.T) {
		h := newHarness(t)
		h.registerAlice()
		g := h.login("alice@example.com", alicePassword)
		h.clock.Advance(refreshTTL - time.Microsecond)
		h.principal(h.refresh(g.RefreshToken))
	})
	t.Run("exactly at 7 days is invalid", func(t *testing.T) {
		h := newHarness(t)
		h.registerAlice()
		g := h.login("alice@example.com", alicePassword)
		h.clock.Advance(refreshTTL)
		if _, err := h.svc.Refresh(h.ctx, g.RefreshToken); !errors.Is(err, identity.ErrInvalidRefreshToken) {
			t.Fatalf("Refresh = %v, want ErrInvalidRefreshToken", err)
		}
		// Refusing an expired token is not theft: the session is not revoked.
		if s := h.session(g.Session.ID()); !s.RevokedAt().IsZero() {
			t.Fatalf("expired refresh revoked the session (%q)", s.RevokeReason())
		}
	})
}

// --- Authenticate ---

func TestAuthenticateRejectsRevokedSession(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	if err := h.store.RevokeUserSessions(h.ctx, u.ID(), uuid.Nil, h.clock.Now(), identity.RevokedByUser); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Authenticate(h.ctx, g.AccessToken); !errors.Is(err, identity.ErrSessionInactive) {
		t.Fatalf("err = %v, want ErrSessionInactive", err)
	}
}

func TestAuthenticateRejectsExpiredSession(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	g := h.login("alice@example.com", alicePassword)
	h.clock.Advance(refreshTTL)
	// A perfectly valid access token minted now for the expired session.
	access, _, err := h.tokens.Issue(u.ID(), g.Session.ID(), h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Authenticate(h.ctx, access); !errors.Is(err, identity.ErrSessionInactive) {
		t.Fatalf("err = %v, want ErrSessionInactive", err)
	}
}

func TestAuthenticateRejectsSessionOfAnotherUser(t *testing.T) {
	h := newHarness(t)
	alice := h.registerAlice()
	h.registerBob()
	bobs := h.login("bob@example.com", bobPassword)
	// A validly signed token naming Alice but Bob's session.
	access, _, err := h.tokens.Issue(alice.ID(), bobs.Session.ID(), h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Authenticate(h.ctx, access); !errors.Is(err, identity.ErrSessionInactive) {
		t.Fatalf("err = %v, want ErrSessionInactive", err)
	}
}

func TestAuthenticateRejectsUnknownSessionAndGarbage(t *testing.T) {
	h := newHarness(t)
	alice := h.registerAlice()
	access, _, err := h.tokens.Issue(alice.ID(), uuid.New(), h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Authenticate(h.ctx, access); !errors.Is(err, identity.ErrSessionInactive) {
		t.Fatalf("unknown session: err = %v, want ErrSessionInactive", err)
	}
	_, err = h.svc.Authenticate(h.ctx, "not.a.jwt")
	mustBeUnauthenticated(t, "garbage token", err)
}

func TestAccessTokenExpiresAfter30MinutesPlusLeeway(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	g := h.login("alice@example.com", alicePassword)

	h.clock.Advance(accessTTL + accessLeeway - time.Microsecond)
	h.principal(g)

	h.clock.Advance(time.Microsecond)
	_, err := h.svc.Authenticate(h.ctx, g.AccessToken)
	mustBeUnauthenticated(t, "access token at 30 min + leeway", err)
	// The session itself is fine: a refresh gets a working token.
	h.principal(h.refresh(g.RefreshToken))
}

// --- Sessions ---

func TestLogoutRevokesOnlyTheCurrentSession(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	current := h.login("alice@example.com", alicePassword)
	other := h.login("alice@example.com", alicePassword)
	h.clock.Advance(time.Minute)

	if err := h.svc.Logout(h.ctx, h.principal(current)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	s := h.session(current.Session.ID())
	if s.RevokeReason() != identity.RevokedLogout || !s.RevokedAt().Equal(h.clock.Now()) {
		t.Fatalf("current session revoked at %v for %q, want now for %q", s.RevokedAt(), s.RevokeReason(), identity.RevokedLogout)
	}
	if _, err := h.svc.Authenticate(h.ctx, current.AccessToken); !errors.Is(err, identity.ErrSessionInactive) {
		t.Fatalf("access token after logout: err = %v, want ErrSessionInactive", err)
	}
	if _, err := h.svc.Refresh(h.ctx, current.RefreshToken); !errors.Is(err, identity.ErrInvalidRefreshToken) {
		t.Fatalf("refresh after logout: err = %v, want ErrInvalidRefreshToken", err)
	}
	if h.session(current.Session.ID()).RevokeReason() != identity.RevokedLogout {
		t.Fatal("refresh after logout changed the revoke reason")
	}

	if s := h.session(other.Session.ID()); !s.IsActive(h.clock.Now()) {
		t.Fatalf("other session revoked (%q)", s.RevokeReason())
	}
	h.principal(other)
	h.refresh(other.RefreshToken)
}

func TestListSessionsNewestFirstPaginatedWithoutRevoked(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	h.registerBob()
	h.login("bob@example.com", bobPassword) // never listed for Alice

	var ids []uuid.UUID // oldest first
	var current identityapp.Grant
	for range 5 {
		current = h.login("alice@example.com", alicePassword)
		ids = append(ids, current.Session.ID())
		h.clock.Advance(time.Minute)
	}
	p := h.principal(current)
	if err := h.svc.RevokeSession(h.ctx, p, ids[2]); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	want := []uuid.UUID{ids[4], ids[3], ids[1], ids[0]} // newest first, revoked gone

	var got []uuid.UUID
	for page := 1; page <= 3; page++ {
		res, err := h.svc.ListSessions(h.ctx, p, page, 2)
		if err != nil {
			t.Fatalf("ListSessions page %d: %v", page, err)
		}
		if res.Total != 4 {
			t.Fatalf("page %d: total %d, want 4", page, res.Total)
		}
		if wantLen := min(2, max(0, 4-(page-1)*2)); len(res.Items) != wantLen {
			t.Fatalf("page %d: %d items, want %d", page, len(res.Items), wantLen)
		}
		for _, s := range res.Items {
			if s.UserID() != p.UserID {
				t.Fatalf("page %d lists another user's session", page)
			}
			got = append(got, s.ID())
		}
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("listed %v, want %v (newest first)", got, want)
		}
	}
}

func TestGetSessionOfAnotherUserIsNotFound(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	h.registerBob()
	alice := h.login("alice@example.com", alicePassword)
	bob := h.principal(h.login("bob@example.com", bobPassword))

	if s, err := h.svc.GetSession(h.ctx, bob, alice.Session.ID()); !errors.Is(err, domain.ErrNotFound) || s != nil {
		t.Fatalf("GetSession(another user's) = %v, %v; want nil, ErrNotFound", s, err)
	}
	if _, err := h.svc.GetSession(h.ctx, bob, uuid.New()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("GetSession(missing) = %v, want ErrNotFound", err)
	}
	// The owner sees it.
	s, err := h.svc.GetSession(h.ctx, h.principal(alice), alice.Session.ID())
	if err != nil || s.ID() != alice.Session.ID() {
		t.Fatalf("GetSession(own) = %v, %v", s, err)
	}
}

func TestRevokeSessionOfAnotherUserIsNotFoundAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	h.registerBob()
	alice := h.login("alice@example.com", alicePassword)
	bob := h.principal(h.login("bob@example.com", bobPassword))
	before := h.session(alice.Session.ID())

	h.clock.Advance(time.Minute)
	if err := h.svc.RevokeSession(h.ctx, bob, alice.Session.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("RevokeSession(another user's) = %v, want ErrNotFound", err)
	}
	after := h.session(alice.Session.ID())
	if !after.RevokedAt().IsZero() || after.RevokeReason() != "" || !after.ExpiresAt().Equal(before.ExpiresAt()) {
		t.Fatalf("Alice's session changed: revoked %v for %q", after.RevokedAt(), after.RevokeReason())
	}
	h.principal(alice)
	h.refresh(alice.RefreshToken)
}

func TestRevokeSessionOfOwnOtherSessionIsRevokedByUser(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	current := h.login("alice@example.com", alicePassword)
	other := h.login("alice@example.com", alicePassword)
	p := h.principal(current)
	if err := h.svc.RevokeSession(h.ctx, p, other.Session.ID()); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if r := h.session(other.Session.ID()).RevokeReason(); r != identity.RevokedByUser {
		t.Fatalf("reason %q, want %q", r, identity.RevokedByUser)
	}
	h.principal(current)
	// A revoked session is gone for the owner too.
	if _, err := h.svc.GetSession(h.ctx, p, other.Session.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("GetSession(revoked) = %v, want ErrNotFound", err)
	}
	if err := h.svc.RevokeSession(h.ctx, p, other.Session.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("RevokeSession(revoked) = %v, want ErrNotFound", err)
	}
}

// --- Passwords ---

func TestChangePasswordWrongCurrentIsValidationErrorAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	current := h.login("alice@example.com", alicePassword)
	other := h.login("alice@example.com", alicePassword)
	hash := h.user(u.ID()).PasswordHash()

	err := h.svc.ChangePassword(h.ctx, h.principal(current), wrongPassword, newPassword)
	if got := fieldCodes(t, err); len(got) != 1 || got["current_password"] == "" {
		t.Fatalf("fields = %v, want current_password only", got)
	}
	if h.user(u.ID()).PasswordHash() != hash {
		t.Fatal("password changed despite a wrong current password")
	}
	h.principal(other)
	h.login("alice@example.com", alicePassword)
}

func TestChangePasswordValidatesNewPassword(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	p := h.principal(h.login("alice@example.com", alicePassword))
	for _, tt := range []struct{ next, code string }{{"short", "too_short"}, {"password123", "too_common"}} {
		err := h.svc.ChangePassword(h.ctx, p, alicePassword, tt.next)
		if got := fieldCodes(t, err); got["new_password"] != tt.code {
			t.Fatalf("ChangePassword(%q): fields %v, want new_password/%s", tt.next, got, tt.code)
		}
	}
	h.login("alice@example.com", alicePassword)
}

func TestChangePasswordRevokesOtherSessionsKeepsCurrent(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	h.registerBob()
	current := h.login("alice@example.com", alicePassword)
	others := []identityapp.Grant{h.login("alice@example.com", alicePassword), h.login("alice@example.com", alicePassword)}
	bob := h.login("bob@example.com", bobPassword)
	h.clock.Advance(time.Minute)

	if err := h.svc.ChangePassword(h.ctx, h.principal(current), alicePassword, newPassword); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	h.principal(current)
	h.refresh(current.RefreshToken)
	for i, g := range others {
		s := h.session(g.Session.ID())
		if s.RevokeReason() != identity.RevokedPasswordChange || !s.RevokedAt().Equal(h.clock.Now()) {
			t.Fatalf("other session %d: revoked %v for %q, want now for %q", i, s.RevokedAt(), s.RevokeReason(), identity.RevokedPasswordChange)
		}
		if _, err := h.svc.Authenticate(h.ctx, g.AccessToken); !errors.Is(err, identity.ErrSessionInactive) {
			t.Fatalf("other session %d access: err = %v, want ErrSessionInactive", i, err)
		}
		if _, err := h.svc.Refresh(h.ctx, g.RefreshToken); !errors.Is(err, identity.ErrInvalidRefreshToken) {
			t.Fatalf("other session %d refresh: err = %v, want ErrInvalidRefreshToken", i, err)
		}
	}
	h.principal(bob) // another user's sessions are untouched

	if !h.user(u.ID()).UpdatedAt().Equal(h.clock.Now()) {
		t.Fatal("user's updated time not moved")
	}
	if _, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword}); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("old password: err = %v, want ErrInvalidCredentials", err)
	}
	h.principal(h.login("alice@example.com", newPassword))
}

func TestRequestPasswordResetForUnknownEmailMailsNothing(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	before := len(h.mail())
	if err := h.svc.RequestPasswordReset(h.ctx, "nobody@example.com"); err != nil {
		t.Fatalf("RequestPasswordReset(unknown) = %v, want nil", err)
	}
	if n := len(h.mail()) - before; n != 0 {
		t.Fatalf("sent %d emails for an unknown address", n)
	}
}

// The request only enqueues: a reset for a known address and one for an
// unknown address do the same work, one job each, and send nothing; the job
// decides whether there is anyone to mail.
func TestPasswordResetRequestsDoTheSameWorkForKnownAndUnknownAddresses(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	before := len(h.mail())
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		sent := len(h.mailer.messages())
		if err := h.svc.RequestPasswordReset(h.ctx, email); err != nil {
			t.Fatalf("RequestPasswordReset(%s) = %v", email, err)
		}
		queued := h.jobs.Take()
		if len(queued) != 1 || queued[0] != (identityapp.PasswordResetMail{Email: email}) {
			t.Fatalf("RequestPasswordReset(%s) enqueued %v, want one PasswordResetMail", email, queued)
		}
		if n := len(h.mailer.messages()) - sent; n != 0 {
			t.Fatalf("RequestPasswordReset(%s) sent %d emails in the request, want none", email, n)
		}
		if err := h.svc.DeliverPasswordReset(h.ctx, queued[0].(identityapp.PasswordResetMail)); err != nil {
			t.Fatalf("DeliverPasswordReset(%s): %v", email, err)
		}
	}
	if msgs := h.mailer.messages()[before:]; len(msgs) != 1 || msgs[0].To != "alice@example.com" {
		t.Fatalf("the jobs sent %v, want one email, to alice", msgs)
	}
}

// Registration stores the user and enqueues the mail; the request itself
// sends nothing, so a slow mail server never slows it down.
func TestRegisterLeavesTheVerificationMailToAJob(t *testing.T) {
	h := newHarness(t)
	u, err := h.svc.Register(h.ctx, identityapp.RegisterInput{Email: "alice@example.com", Password: alicePassword, Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.mailer.messages()); n != 0 {
		t.Fatalf("Register sent %d emails itself, want none", n)
	}
	queued := h.jobs.Take()
	if len(queued) != 1 || queued[0] != (identityapp.VerificationMail{UserID: u.ID()}) {
		t.Fatalf("Register enqueued %v, want one VerificationMail for the new user", queued)
	}
}

// A delivery that fails is returned, so the job engine retries it, and the
// message is not logged (it carries a token).
func TestAFailedMailDeliveryFailsTheJob(t *testing.T) {
	h := newHarness(t)
	u, err := h.svc.Register(h.ctx, identityapp.RegisterInput{Email: "alice@example.com", Password: alicePassword, Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	h.mailer.fail = errors.New("smtp: connection refused")
	if err := h.svc.DeliverVerification(h.ctx, identityapp.VerificationMail{UserID: u.ID()}); err == nil {
		t.Fatal("DeliverVerification with a failing mailer = nil, want its error (so the job is retried)")
	}
	if strings.Contains(h.logs.String(), "token=") {
		t.Errorf("the failure log carries the link:\n%s", h.logs.String())
	}
}

func TestRequestPasswordResetMailsLinkUnderPublicBaseURL(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	token := h.requestReset("  ALICE@example.com ")
	msgs := h.mail()
	last := msgs[len(msgs)-1]
	if last.To != "alice@example.com" || !strings.Contains(last.Text, publicBaseURL+"/reset-password?token="+token) {
		t.Fatalf("reset email to %q:\n%s", last.To, last.Text)
	}
}

func TestResetPasswordTokenExpiresAfterOneHour(t *testing.T) {
	t.Run("one microsecond before 1h works", func(t *testing.T) {
		h := newHarness(t)
		h.registerAlice()
		token := h.requestReset("alice@example.com")
		h.clock.Advance(time.Hour - time.Microsecond)
		if err := h.svc.ResetPassword(h.ctx, token, newPassword); err != nil {
			t.Fatalf("ResetPassword: %v", err)
		}
	})
	t.Run("at 1h is ErrInvalidOneTimeToken and changes nothing", func(t *testing.T) {
		h := newHarness(t)
		u := h.registerAlice()
		g := h.login("alice@example.com", alicePassword)
		token := h.requestReset("alice@example.com")
		hash := h.user(u.ID()).PasswordHash()
		h.clock.Advance(time.Hour)
		if err := h.svc.ResetPassword(h.ctx, token, newPassword); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
			t.Fatalf("ResetPassword = %v, want ErrInvalidOneTimeToken", err)
		}
		after := h.user(u.ID())
		if after.PasswordHash() != hash || after.IsEmailVerified() {
			t.Fatal("expired reset token changed the user")
		}
		if s := h.session(g.Session.ID()); !s.IsActive(h.clock.Now()) {
			t.Fatalf("expired reset token revoked the session (%q)", s.RevokeReason())
		}
		h.login("alice@example.com", alicePassword)
	})
}

func TestResetPasswordWorksOnceRevokesAllSessionsAndVerifiesEmail(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	h.registerBob()
	sessions := []identityapp.Grant{h.login("alice@example.com", alicePassword), h.login("alice@example.com", alicePassword)}
	bob := h.login("bob@example.com", bobPassword)
	token := h.requestReset("alice@example.com")
	h.clock.Advance(10 * time.Minute)

	if err := h.svc.ResetPassword(h.ctx, token, newPassword); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	now := h.clock.Now()
	after := h.user(u.ID())
	if !after.EmailVerifiedAt().Equal(now) {
		t.Fatalf("email verified at %v, want %v", after.EmailVerifiedAt(), now)
	}
	for i, g := range sessions {
		s := h.session(g.Session.ID())
		if s.RevokeReason() != identity.RevokedPasswordReset || !s.RevokedAt().Equal(now) {
			t.Fatalf("session %d: revoked %v for %q, want now for %q", i, s.RevokedAt(), s.RevokeReason(), identity.RevokedPasswordReset)
		}
		if _, err := h.svc.Authenticate(h.ctx, g.AccessToken); !errors.Is(err, identity.ErrSessionInactive) {
			t.Fatalf("session %d after reset: err = %v, want ErrSessionInactive", i, err)
		}
	}
	h.principal(bob)
	if _, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: alicePassword}); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("old password: err = %v, want ErrInvalidCredentials", err)
	}
	fresh := h.login("alice@example.com", newPassword)

	// Second use: refused, and its password is not set, and nothing is revoked.
	const another = "saffron-heron-willow-63"
	if err := h.svc.ResetPassword(h.ctx, token, another); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("second ResetPassword = %v, want ErrInvalidOneTimeToken", err)
	}
	if _, err := h.svc.Login(h.ctx, identityapp.LoginInput{Email: "alice@example.com", Password: another}); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("second reset's password logs in: %v", err)
	}
	h.principal(fresh)
}

func TestResetPasswordRejectsVerificationTokenAndWeakPassword(t *testing.T) {
	h := newHarness(t)
	u, verification := h.register("alice@example.com", alicePassword, "Alice")
	if err := h.svc.ResetPassword(h.ctx, verification, newPassword); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("verification token as reset: err = %v, want ErrInvalidOneTimeToken", err)
	}
	token := h.requestReset("alice@example.com")
	if got := fieldCodes(t, h.svc.ResetPassword(h.ctx, token, "short")); got["new_password"] != "too_short" {
		t.Fatalf("fields %v, want new_password/too_short", got)
	}
	if h.user(u.ID()).IsEmailVerified() {
		t.Fatal("refused resets verified the email")
	}
	// Neither refusal used up a token.
	if _, err := h.svc.VerifyEmail(h.ctx, verification); err != nil {
		t.Fatalf("VerifyEmail after refused reset: %v", err)
	}
	if err := h.svc.ResetPassword(h.ctx, token, newPassword); err != nil {
		t.Fatalf("ResetPassword after a refused weak password: %v", err)
	}
}

// --- Profile ---

func TestUpdateProfileValidatesName(t *testing.T) {
	h := newHarness(t)
	u := h.registerAlice()
	p := h.principal(h.login("alice@example.com", alicePassword))
	h.clock.Advance(time.Minute)

	for _, bad := range []string{"", "   ", strings.Repeat("x", 101)} {
		if _, err := h.svc.UpdateProfile(h.ctx, p, identityapp.UpdateProfileInput{Name: &bad}); fieldCodes(t, err)["name"] == "" {
			t.Fatalf("UpdateProfile(%q): %v, want a name validation error", bad, err)
		}
	}
	if got := h.user(u.ID()); got.Name() != "Alice" || !got.UpdatedAt().Equal(start) {
		t.Fatalf("refused updates changed the user: %q, updated %v", got.Name(), got.UpdatedAt())
	}

	name := "  Alicia  "
	got, err := h.svc.UpdateProfile(h.ctx, p, identityapp.UpdateProfileInput{Name: &name})
	if err != nil || got.Name() != "Alicia" {
		t.Fatalf("UpdateProfile = %v, %v; want name Alicia", got, err)
	}
	if stored := h.user(u.ID()); stored.Name() != "Alicia" || !stored.UpdatedAt().Equal(h.clock.Now()) {
		t.Fatalf("stored %q updated %v", stored.Name(), stored.UpdatedAt())
	}

	// No fields: nothing changes.
	got, err = h.svc.UpdateProfile(h.ctx, p, identityapp.UpdateProfileInput{})
	if err != nil || got.Name() != "Alicia" {
		t.Fatalf("empty UpdateProfile = %v, %v", got, err)
	}
	if profile, err := h.svc.Profile(h.ctx, p); err != nil || profile.Name() != "Alicia" {
		t.Fatalf("Profile = %v, %v", profile, err)
	}
}

// Hardening item 8: once a reset link set the password, the account's other
// reset links stop working, so an older link (say, in a mailbox an attacker
// reads) cannot undo it; another account's links are untouched.
func TestPasswordResetInvalidatesTheOtherResetLinks(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	h.registerBob()
	older := h.requestReset("alice@example.com")
	used := h.requestReset("alice@example.com")
	bobs := h.requestReset("bob@example.com")
	h.clock.Advance(time.Minute)

	if err := h.svc.ResetPassword(h.ctx, used, newPassword); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if err := h.svc.ResetPassword(h.ctx, older, "another-fine-password-55"); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("the older link after a reset: err = %v, want ErrInvalidOneTimeToken", err)
	}
	h.login("alice@example.com", newPassword)
	if err := h.svc.ResetPassword(h.ctx, bobs, newPassword); err != nil {
		t.Fatalf("Bob's link: %v, want it to still work", err)
	}
}

// Hardening item 8: changing the password voids every outstanding reset link.
func TestPasswordChangeInvalidatesOutstandingResetLinks(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	link := h.requestReset("alice@example.com")
	current := h.login("alice@example.com", alicePassword)
	h.clock.Advance(time.Minute)

	if err := h.svc.ChangePassword(h.ctx, h.principal(current), alicePassword, newPassword); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if err := h.svc.ResetPassword(h.ctx, link, "another-fine-password-55"); !errors.Is(err, identity.ErrInvalidOneTimeToken) {
		t.Fatalf("a reset link from before the change: err = %v, want ErrInvalidOneTimeToken", err)
	}
	h.login("alice@example.com", newPassword)
}

// Hardening item 13: an address nobody has proven to own gets at most five
// verification mails a day (the registration's included), quietly, and more
// again the next day.
func TestVerificationMailsAreCappedPerAddressPerDay(t *testing.T) {
	h := newHarness(t)
	h.register("alice@example.com", alicePassword, "Alice")
	p := h.principal(h.login("alice@example.com", alicePassword))
	for range 6 {
		h.clock.Advance(time.Hour)
		if err := h.svc.ResendVerification(h.ctx, p); err != nil {
			t.Fatalf("ResendVerification: %v", err)
		}
	}
	if n := len(h.mail()); n != 5 {
		t.Fatalf("%d verification mails in 6 hours, want 5", n)
	}
	h.clock.Advance(19*time.Hour + time.Microsecond) // the registration's mail is a day old
	if err := h.svc.ResendVerification(h.ctx, p); err != nil {
		t.Fatalf("ResendVerification: %v", err)
	}
	if n := len(h.mail()); n != 6 {
		t.Fatalf("%d verification mails after a day, want a 6th", n)
	}
}

// Hardening item 13: the verification mail goes to an address not yet proven
// to be the user's, so it carries nothing the user typed (their name).
func TestVerificationMailCarriesNoUserText(t *testing.T) {
	h := newHarness(t)
	h.register("alice@example.com", alicePassword, "Win a prize at evil.example")
	msgs := h.mail()
	if len(msgs) != 1 || strings.Contains(msgs[0].Text, "prize") || strings.Contains(msgs[0].Subject, "prize") {
		t.Fatalf("verification mail %+v carries the user's name", msgs)
	}
}

// Hardening item 12: the retention job deletes a never-verified account once
// UnverifiedAccountRetention has passed since it registered, and ended
// sessions once SessionRetention has passed since they ended; a verified
// account and its live session stay.
func TestRetentionDeletesNeverVerifiedAccountsAndEndedSessionsAfterTheirTime(t *testing.T) {
	h := newHarness(t)
	stale, _ := h.register("stale@example.com", alicePassword, "Stale")
	alice, token := h.register("alice@example.com", alicePassword, "Alice")
	if _, err := h.svc.VerifyEmail(h.ctx, token); err != nil {
		t.Fatal(err)
	}
	old := h.login("alice@example.com", alicePassword)
	if err := h.svc.Logout(h.ctx, h.principal(old)); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(identityapp.UnverifiedAccountRetention - time.Second)
	// The verification tokens (expired after a day) are long past their week.
	if counts, err := h.svc.PurgeExpired(h.ctx); err != nil || counts != (identityapp.RetentionCounts{OneTimeTokens: 2}) {
		t.Fatalf("PurgeExpired a second early: %+v, %v; want only the two expired verification tokens deleted", counts, err)
	}
	live := h.login("alice@example.com", alicePassword)
	h.clock.Advance(2 * time.Second)
	counts, err := h.svc.PurgeExpired(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Users != 1 || counts.Sessions != 1 {
		t.Errorf("counts = %+v, want the never-verified user and the logged-out session", counts)
	}
	if _, err := h.store.UserByID(h.ctx, stale.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("never-verified account after its retention: %v, want deleted", err)
	}
	if _, err := h.store.UserByID(h.ctx, alice.ID()); err != nil {
		t.Errorf("verified account: %v, want kept", err)
	}
	h.principal(live)
}
