package identity

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestPurposeTTL(t *testing.T) {
	if got := PurposeEmailVerification.TTL(); got != 24*time.Hour {
		t.Errorf("email verification TTL = %v, want 24h", got)
	}
	if got := PurposePasswordReset.TTL(); got != time.Hour {
		t.Errorf("password reset TTL = %v, want 1h", got)
	}
}

func TestParsePurposeRoundTrips(t *testing.T) {
	for _, p := range []Purpose{PurposeEmailVerification, PurposePasswordReset} {
		got, err := ParsePurpose(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePurpose(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	for _, s := range []string{"", "EMAIL_VERIFICATION", "login"} {
		if _, err := ParsePurpose(s); err == nil {
			t.Errorf("ParsePurpose(%q) succeeded, want an error", s)
		}
	}
}

func TestOneTimeTokenConsumeBoundaries(t *testing.T) {
	for _, purpose := range []Purpose{PurposeEmailVerification, PurposePasswordReset} {
		ttl := purpose.TTL()
		for _, tt := range []struct {
			name  string
			at    time.Duration
			valid bool
		}{
			{"at creation", 0, true},
			{"one microsecond before expiry", ttl - time.Microsecond, true},
			{"exactly at expiry", ttl, false},
			{"after expiry", ttl + time.Second, false},
		} {
			t.Run(purpose.String()+"/"+tt.name, func(t *testing.T) {
				_, h := NewOpaqueToken()
				tok := NewOneTimeToken(h, uuid.New(), purpose, t0)
				if !tok.ExpiresAt().Equal(t0.Add(ttl)) {
					t.Fatalf("expires %v, want %v", tok.ExpiresAt(), t0.Add(ttl))
				}
				now := t0.Add(tt.at)
				err := tok.Consume(purpose, now)
				if tt.valid {
					if err != nil {
						t.Fatalf("Consume: %v", err)
					}
					if !tok.UsedAt().Equal(now) {
						t.Fatalf("used at %v, want %v", tok.UsedAt(), now)
					}
					return
				}
				if !errors.Is(err, ErrInvalidOneTimeToken) {
					t.Fatalf("Consume = %v, want ErrInvalidOneTimeToken", err)
				}
				if !tok.UsedAt().IsZero() {
					t.Fatalf("refused token marked used at %v", tok.UsedAt())
				}
			})
		}
	}
}

func TestOneTimeTokenWrongPurposeIsInvalid(t *testing.T) {
	for _, tt := range []struct{ issued, presented Purpose }{
		{PurposeEmailVerification, PurposePasswordReset},
		{PurposePasswordReset, PurposeEmailVerification},
	} {
		_, h := NewOpaqueToken()
		tok := NewOneTimeToken(h, uuid.New(), tt.issued, t0)
		if err := tok.Consume(tt.presented, t0.Add(time.Minute)); !errors.Is(err, ErrInvalidOneTimeToken) {
			t.Errorf("%s token consumed as %s: err = %v, want ErrInvalidOneTimeToken", tt.issued, tt.presented, err)
		}
		if !tok.UsedAt().IsZero() {
			t.Errorf("%s token marked used by a wrong-purpose attempt", tt.issued)
		}
		// The refused attempt does not burn the token.
		if err := tok.Consume(tt.issued, t0.Add(time.Minute)); err != nil {
			t.Errorf("%s token after a wrong-purpose attempt: %v", tt.issued, err)
		}
	}
}

func TestOneTimeTokenSecondUseIsInvalid(t *testing.T) {
	for _, purpose := range []Purpose{PurposeEmailVerification, PurposePasswordReset} {
		_, h := NewOpaqueToken()
		tok := NewOneTimeToken(h, uuid.New(), purpose, t0)
		first := t0.Add(time.Minute)
		if err := tok.Consume(purpose, first); err != nil {
			t.Fatalf("%s: first Consume: %v", purpose, err)
		}
		if err := tok.Consume(purpose, t0.Add(2*time.Minute)); !errors.Is(err, ErrInvalidOneTimeToken) {
			t.Fatalf("%s: second Consume = %v, want ErrInvalidOneTimeToken", purpose, err)
		}
		if !tok.UsedAt().Equal(first) {
			t.Fatalf("%s: used at %v, want the first use %v", purpose, tok.UsedAt(), first)
		}
	}
}

// A voided token no longer works; a used one keeps the time of its use.
func TestOneTimeTokenVoid(t *testing.T) {
	_, h := NewOpaqueToken()
	tok := NewOneTimeToken(h, uuid.New(), PurposePasswordReset, t0)
	tok.Void(t0.Add(time.Second))
	if !tok.UsedAt().Equal(t0.Add(time.Second)) {
		t.Fatalf("used at %v, want %v", tok.UsedAt(), t0.Add(time.Second))
	}
	if err := tok.Consume(PurposePasswordReset, t0.Add(2*time.Second)); !errors.Is(err, ErrInvalidOneTimeToken) {
		t.Fatalf("Consume after Void: %v, want ErrInvalidOneTimeToken", err)
	}
	tok.Void(t0.Add(time.Minute))
	if !tok.UsedAt().Equal(t0.Add(time.Second)) {
		t.Fatalf("a second Void moved the use to %v", tok.UsedAt())
	}
}
