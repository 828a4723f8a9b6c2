package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

var (
	t0         = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	refreshTTL = 7 * 24 * time.Hour
)

// newTestSession starts a session at t0 with its first refresh token.
func newTestSession(t *testing.T) (*Session, *RefreshToken) {
	t.Helper()
	s := NewSession(uuid.New(), uuid.New(), "test-agent", "192.0.2.1", t0, refreshTTL)
	_, h := NewOpaqueToken()
	return s, NewRefreshToken(h, s.ID(), t0, refreshTTL)
}

func TestNewSessionLivesAsLongAsItsRefreshToken(t *testing.T) {
	s, first := newTestSession(t)
	if !s.CreatedAt().Equal(t0) || !s.LastUsedAt().Equal(t0) {
		t.Fatalf("created %v, last used %v, want both %v", s.CreatedAt(), s.LastUsedAt(), t0)
	}
	if !s.ExpiresAt().Equal(t0.Add(refreshTTL)) || !first.ExpiresAt().Equal(s.ExpiresAt()) {
		t.Fatalf("session expires %v, first token %v, want both %v", s.ExpiresAt(), first.ExpiresAt(), t0.Add(refreshTTL))
	}
	if !s.RevokedAt().IsZero() || s.RevokeReason() != "" {
		t.Fatalf("new session is revoked (%v, %q)", s.RevokedAt(), s.RevokeReason())
	}
}

func TestNewSessionTruncatesUserAgentAndIPOnRuneBoundary(t *testing.T) {
	ua := strings.Repeat("a", maxUserAgentLength-1) + "é" // é straddles the limit
	s := NewSession(uuid.New(), uuid.New(), ua, strings.Repeat("1", 100), t0, refreshTTL)
	if got := s.UserAgent(); got != strings.Repeat("a", maxUserAgentLength-1) {
		t.Fatalf("user agent cut to %d bytes (%q...), want %d bytes without a split rune", len(got), got[len(got)-4:], maxUserAgentLength-1)
	}
	if got := len(s.IPAddress()); got != maxIPLength {
		t.Fatalf("IP cut to %d bytes, want %d", got, maxIPLength)
	}
}

func TestSessionIsActiveUntilJustBeforeExpiry(t *testing.T) {
	s, _ := newTestSession(t)
	exp := s.ExpiresAt()
	for _, tt := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"at creation", t0, true},
		{"one microsecond before expiry", exp.Add(-time.Microsecond), true},
		{"exactly at expiry", exp, false},
		{"after expiry", exp.Add(time.Microsecond), false},
	} {
		if got := s.IsActive(tt.now); got != tt.want {
			t.Errorf("%s: IsActive = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSessionIsInactiveOnceRevoked(t *testing.T) {
	s, _ := newTestSession(t)
	s.Revoke(t0.Add(time.Minute), RevokedLogout)
	// Revocation is not time-bound: even instants before it see the session
	// revoked, so no request racing a logout can slip through.
	for _, now := range []time.Time{t0, t0.Add(time.Minute), t0.Add(time.Hour)} {
		if s.IsActive(now) {
			t.Errorf("revoked session is active at %v", now)
		}
	}
}

func TestRevokeKeepsTheFirstReasonAndTime(t *testing.T) {
	s, _ := newTestSession(t)
	first := t0.Add(time.Minute)
	s.Revoke(first, RevokedRefreshReuse)
	s.Revoke(t0.Add(time.Hour), RevokedLogout)
	if s.RevokeReason() != RevokedRefreshReuse || !s.RevokedAt().Equal(first) {
		t.Fatalf("revoked %v for %q, want %v for %q", s.RevokedAt(), s.RevokeReason(), first, RevokedRefreshReuse)
	}
}

func TestRotateSlidesExpiryAndMarksThePresentedTokenUsed(t *testing.T) {
	s, presented := newTestSession(t)
	now := t0.Add(3 * 24 * time.Hour)
	_, nextHash := NewOpaqueToken()

	next, err := s.Rotate(presented, nextHash, now, Rotation{TTL: refreshTTL})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if next.Hash() != nextHash || next.SessionID() != s.ID() {
		t.Fatalf("next token has hash %x, session %v; want %x, %v", next.Hash(), next.SessionID(), nextHash, s.ID())
	}
	if !next.IssuedAt().Equal(now) || !next.ExpiresAt().Equal(now.Add(refreshTTL)) {
		t.Fatalf("next token issued %v, expires %v; want %v, %v", next.IssuedAt(), next.ExpiresAt(), now, now.Add(refreshTTL))
	}
	if !next.UsedAt().IsZero() {
		t.Fatalf("next token already used at %v", next.UsedAt())
	}
	if !presented.UsedAt().Equal(now) {
		t.Fatalf("presented token used at %v, want %v", presented.UsedAt(), now)
	}
	if !s.ExpiresAt().Equal(next.ExpiresAt()) {
		t.Fatalf("session expires %v, want the new token's %v", s.ExpiresAt(), next.ExpiresAt())
	}
	if !s.LastUsedAt().Equal(now) {
		t.Fatalf("session last used %v, want %v", s.LastUsedAt(), now)
	}
	if !s.IsActive(t0.Add(refreshTTL)) {
		t.Fatal("session expired at its original expiry despite the rotation")
	}
}

func TestRotateChainEachTokenWorksOnce(t *testing.T) {
	s, tok := newTestSession(t)
	now := t0
	for i := range 5 {
		now = now.Add(6 * 24 * time.Hour) // each hop just inside the previous token's life
		_, h := NewOpaqueToken()
		next, err := s.Rotate(tok, h, now, Rotation{TTL: refreshTTL})
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		tok = next
	}
	if !s.IsActive(now) || !s.ExpiresAt().Equal(now.Add(refreshTTL)) {
		t.Fatalf("after the chain the session expires %v (active %v), want %v", s.ExpiresAt(), s.IsActive(now), now.Add(refreshTTL))
	}
}

func TestRotateReuseRevokesTheSession(t *testing.T) {
	s, presented := newTestSession(t)
	_, h1 := NewOpaqueToken()
	next, err := s.Rotate(presented, h1, t0.Add(time.Minute), Rotation{TTL: refreshTTL})
	if err != nil {
		t.Fatalf("first Rotate: %v", err)
	}

	reuseAt := t0.Add(2 * time.Minute)
	_, h2 := NewOpaqueToken()
	got, err := s.Rotate(presented, h2, reuseAt, Rotation{TTL: refreshTTL})
	if !errors.Is(err, ErrRefreshTokenReused) {
		t.Fatalf("reuse: err = %v, want ErrRefreshTokenReused", err)
	}
	if got != nil {
		t.Fatalf("reuse returned a new token %+v", got)
	}
	if s.IsActive(reuseAt) || s.RevokeReason() != RevokedRefreshReuse || !s.RevokedAt().Equal(reuseAt) {
		t.Fatalf("session after reuse: active %v, revoked %v for %q; want revoked at %v for %q",
			s.IsActive(reuseAt), s.RevokedAt(), s.RevokeReason(), reuseAt, RevokedRefreshReuse)
	}

	// The legitimate successor is now useless too.
	_, h3 := NewOpaqueToken()
	if _, err := s.Rotate(next, h3, reuseAt.Add(time.Minute), Rotation{TTL: refreshTTL}); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("successor after reuse: err = %v, want ErrInvalidRefreshToken", err)
	}
}

func TestRotateReuseOfAnExpiredTokenStillRevokes(t *testing.T) {
	s, presented := newTestSession(t)
	_, h := NewOpaqueToken()
	if _, err := s.Rotate(presented, h, t0.Add(time.Minute), Rotation{TTL: refreshTTL}); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	late := t0.Add(refreshTTL + time.Hour) // past the presented token's own expiry
	_, h2 := NewOpaqueToken()
	if _, err := s.Rotate(presented, h2, late, Rotation{TTL: refreshTTL}); !errors.Is(err, ErrRefreshTokenReused) {
		t.Fatalf("err = %v, want ErrRefreshTokenReused", err)
	}
	if s.RevokeReason() != RevokedRefreshReuse {
		t.Fatalf("revoke reason %q, want %q", s.RevokeReason(), RevokedRefreshReuse)
	}
}

func TestRotateRefreshTokenExpiryBoundary(t *testing.T) {
	for _, tt := range []struct {
		name    string
		at      time.Duration
		wantErr error
	}{
		{"one microsecond before expiry is valid", refreshTTL - time.Microsecond, nil},
		{"exactly at expiry is invalid", refreshTTL, ErrInvalidRefreshToken},
		{"after expiry is invalid", refreshTTL + time.Hour, ErrInvalidRefreshToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, presented := newTestSession(t)
			before := s.ExpiresAt()
			_, h := NewOpaqueToken()
			next, err := s.Rotate(presented, h, t0.Add(tt.at), Rotation{TTL: refreshTTL})
			if tt.wantErr == nil {
				if err != nil || next == nil {
					t.Fatalf("Rotate = %v, %v; want a new token", next, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || next != nil {
				t.Fatalf("Rotate = %v, %v; want nil, %v", next, err, tt.wantErr)
			}
			if !presented.UsedAt().IsZero() || !s.ExpiresAt().Equal(before) || !s.RevokedAt().IsZero() {
				t.Fatalf("refused rotation changed state: token used %v, session expires %v (was %v), revoked %v",
					presented.UsedAt(), s.ExpiresAt(), before, s.RevokedAt())
			}
		})
	}
}

func TestRotateTokenOfAnotherSessionIsInvalid(t *testing.T) {
	s, _ := newTestSession(t)
	_, foreign := newTestSession(t)
	_, h := NewOpaqueToken()
	if next, err := s.Rotate(foreign, h, t0.Add(time.Minute), Rotation{TTL: refreshTTL}); !errors.Is(err, ErrInvalidRefreshToken) || next != nil {
		t.Fatalf("Rotate = %v, %v; want nil, ErrInvalidRefreshToken", next, err)
	}
	if !foreign.UsedAt().IsZero() || !s.RevokedAt().IsZero() {
		t.Fatalf("foreign token used %v, session revoked %v; want neither", foreign.UsedAt(), s.RevokedAt())
	}

	// Even a used token of another session is not "reuse" of this one: it must
	// not let anyone revoke a session they do not hold.
	foreign = RehydrateRefreshToken(RefreshTokenSnapshot{Hash: foreign.Hash(), SessionID: foreign.SessionID(),
		IssuedAt: t0, ExpiresAt: t0.Add(refreshTTL), UsedAt: t0})
	if _, err := s.Rotate(foreign, h, t0.Add(time.Minute), Rotation{TTL: refreshTTL}); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("used foreign token: err = %v, want ErrInvalidRefreshToken", err)
	}
	if !s.RevokedAt().IsZero() {
		t.Fatalf("a foreign token revoked the session (%q)", s.RevokeReason())
	}
}

func TestRotateOnInactiveSessionIsInvalid(t *testing.T) {
	t.Run("revoked", func(t *testing.T) {
		s, presented := newTestSession(t)
		s.Revoke(t0.Add(time.Minute), RevokedLogout)
		_, h := NewOpaqueToken()
		if next, err := s.Rotate(presented, h, t0.Add(2*time.Minute), Rotation{TTL: refreshTTL}); !errors.Is(err, ErrInvalidRefreshToken) || next != nil {
			t.Fatalf("Rotate = %v, %v; want nil, ErrInvalidRefreshToken", next, err)
		}
		if !presented.UsedAt().IsZero() || s.RevokeReason() != RevokedLogout {
			t.Fatalf("token used %v, reason %q; want unused and %q", presented.UsedAt(), s.RevokeReason(), RevokedLogout)
		}
	})
	t.Run("expired session with a still valid token", func(t *testing.T) {
		s, _ := newTestSession(t)
		_, h := NewOpaqueToken()
		// A token that outlives its session (as storage could hold after a
		// shorter TTL) must not revive it.
		long := NewRefreshToken(h, s.ID(), t0, 2*refreshTTL)
		_, h2 := NewOpaqueToken()
		if next, err := s.Rotate(long, h2, t0.Add(refreshTTL), Rotation{TTL: refreshTTL}); !errors.Is(err, ErrInvalidRefreshToken) || next != nil {
			t.Fatalf("Rotate = %v, %v; want nil, ErrInvalidRefreshToken", next, err)
		}
	})
}

// What a client sends in a header is stored as valid UTF-8 without control
// characters, cut on a rune boundary.
func TestNewSessionCleansHeaderText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Mozilla/5.0", "Mozilla/5.0"},
		{"Caf\xe9", "Caf\uFFFD"},
		{"a\x00b\tc\x7fd", "abcd"},
		{strings.Repeat("é", 300), strings.Repeat("é", 256)}, // 512 bytes, never half a rune
	} {
		s := NewSession(uuid.New(), uuid.New(), tc.in, tc.in, t0, refreshTTL)
		if s.UserAgent() != tc.want || !utf8.ValidString(s.IPAddress()) || len(s.IPAddress()) > 64 {
			t.Errorf("NewSession(%q): user agent %q, ip %q; want user agent %q", tc.in, s.UserAgent(), s.IPAddress(), tc.want)
		}
	}
}

// Hardening item 11: a retried refresh (the just-rotated token presented again
// within the grace) is rotated again instead of revoking the session; after
// the grace, counted from the first rotation, reuse still revokes it.
func TestARetriedRefreshWithinTheGraceDoesNotRevokeTheSession(t *testing.T) {
	r := Rotation{TTL: refreshTTL, ReuseGrace: 5 * time.Second}
	s, presented := newTestSession(t)
	first := t0.Add(time.Minute)
	_, h1 := NewOpaqueToken()
	if _, err := s.Rotate(presented, h1, first, r); err != nil {
		t.Fatalf("first Rotate: %v", err)
	}
	for _, after := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second} {
		_, h := NewOpaqueToken()
		next, err := s.Rotate(presented, h, first.Add(after), r)
		if err != nil || next == nil || !s.IsActive(first.Add(after)) {
			t.Fatalf("retry %v after the rotation: %v (active %v), want a new token and the session kept", after, err, s.IsActive(first.Add(after)))
		}
	}
	if !presented.UsedAt().Equal(first) {
		t.Errorf("retries moved the token's rotation time to %v, want the first, %v", presented.UsedAt(), first)
	}
	_, h := NewOpaqueToken()
	late := first.Add(5*time.Second + time.Microsecond)
	if _, err := s.Rotate(presented, h, late, r); !errors.Is(err, ErrRefreshTokenReused) || s.IsActive(late) {
		t.Fatalf("reuse after the grace: err = %v, active %v; want ErrRefreshTokenReused and the session revoked", err, s.IsActive(late))
	}
}

// Hardening item 12: refresh slides a session's expiry, but never past its
// creation plus MaxLifetime.
func TestRefreshNeverExtendsASessionPastItsAbsoluteLifetime(t *testing.T) {
	r := Rotation{TTL: refreshTTL, MaxLifetime: 2 * refreshTTL}
	s, presented := newTestSession(t)
	end := s.CreatedAt().Add(r.MaxLifetime)
	now := t0
	for now.Add(refreshTTL / 2).Before(end) {
		now = now.Add(refreshTTL / 2)
		_, h := NewOpaqueToken()
		next, err := s.Rotate(presented, h, now, r)
		if err != nil {
			t.Fatalf("Rotate at %v: %v", now, err)
		}
		if next.ExpiresAt().After(end) || s.ExpiresAt().After(end) {
			t.Fatalf("at %v the token expires %v and the session %v, past the absolute end %v", now, next.ExpiresAt(), s.ExpiresAt(), end)
		}
		presented = next
	}
	_, h := NewOpaqueToken()
	if _, err := s.Rotate(presented, h, end, r); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("refresh at the absolute end: %v, want ErrInvalidRefreshToken", err)
	}
}
