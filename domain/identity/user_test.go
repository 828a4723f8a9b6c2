package identity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
)

func TestValidateName(t *testing.T) {
	for _, tt := range []struct {
		name, raw, want, code string
	}{
		{name: "plain", raw: "Alice", want: "Alice"},
		{name: "trimmed", raw: "  Alice Liddell \t", want: "Alice Liddell"},
		{name: "one character", raw: "A", want: "A"},
		{name: "100 ascii characters", raw: strings.Repeat("a", 100), want: strings.Repeat("a", 100)},
		{name: "100 multibyte characters (300 bytes)", raw: strings.Repeat("€", 100), want: strings.Repeat("€", 100)},
		{name: "100 characters plus surrounding spaces", raw: "  " + strings.Repeat("a", 100) + "  ", want: strings.Repeat("a", 100)},
		{name: "empty", raw: "", code: "required"},
		{name: "only whitespace", raw: " \t\n ", code: "required"},
		{name: "101 characters", raw: strings.Repeat("a", 101), code: "too_long"},
		{name: "101 multibyte characters", raw: strings.Repeat("é", 101), code: "too_long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateName(tt.raw)
			if tt.code == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ValidateName = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var verr *domain.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != "name" || verr.Fields[0].Code != tt.code {
				t.Fatalf("ValidateName = %q, %v; want a name/%s validation error", got, err, tt.code)
			}
		})
	}
}

func TestNewUserIsUnverifiedWithTrimmedName(t *testing.T) {
	email, _ := ParseEmail("alice@example.com")
	u, err := NewUser(uuid.New(), email, "  Alice ", "hash", t0)
	if err != nil {
		t.Fatalf("NewUser: %v", err)
	}
	if u.Name() != "Alice" || u.IsEmailVerified() || !u.CreatedAt().Equal(t0) || !u.UpdatedAt().Equal(t0) {
		t.Fatalf("user = name %q, verified %v, created %v, updated %v", u.Name(), u.IsEmailVerified(), u.CreatedAt(), u.UpdatedAt())
	}
	if !errors.Is(u.RequireVerifiedEmail(), ErrEmailNotVerified) {
		t.Fatalf("RequireVerifiedEmail = %v, want ErrEmailNotVerified", u.RequireVerifiedEmail())
	}
	if _, err := NewUser(uuid.New(), Email{}, "Alice", "hash", t0); err == nil {
		t.Fatal("NewUser accepted a zero email")
	}
	if _, err := NewUser(uuid.New(), email, " ", "hash", t0); err == nil {
		t.Fatal("NewUser accepted a blank name")
	}
}

func TestVerifyEmailKeepsTheFirstTime(t *testing.T) {
	email, _ := ParseEmail("alice@example.com")
	u, _ := NewUser(uuid.New(), email, "Alice", "hash", t0)
	first := t0.Add(time.Hour)
	u.VerifyEmail(first)
	u.VerifyEmail(t0.Add(2 * time.Hour))
	if !u.EmailVerifiedAt().Equal(first) || !u.UpdatedAt().Equal(first) {
		t.Fatalf("verified %v, updated %v; want both %v", u.EmailVerifiedAt(), u.UpdatedAt(), first)
	}
	if err := u.RequireVerifiedEmail(); err != nil {
		t.Fatalf("RequireVerifiedEmail: %v", err)
	}
}

func TestRenameValidatesAndKeepsTheOldNameOnError(t *testing.T) {
	email, _ := ParseEmail("alice@example.com")
	u, _ := NewUser(uuid.New(), email, "Alice", "hash", t0)
	if err := u.Rename("   ", t0.Add(time.Hour)); err == nil {
		t.Fatal("Rename accepted a blank name")
	}
	if u.Name() != "Alice" || !u.UpdatedAt().Equal(t0) {
		t.Fatalf("failed rename changed the user: %q, updated %v", u.Name(), u.UpdatedAt())
	}
	if err := u.Rename(" Alicia ", t0.Add(time.Hour)); err != nil || u.Name() != "Alicia" || !u.UpdatedAt().Equal(t0.Add(time.Hour)) {
		t.Fatalf("Rename = %v; name %q, updated %v", err, u.Name(), u.UpdatedAt())
	}
}

// Hardening item 16: a display name holds no invisible formatting characters.
func TestNameRejectsUnicodeFormatCharacters(t *testing.T) {
	for _, name := range []string{"Ann\u202Eeb", "Ann\u200B", "\uFEFFAnn", "Ann\u2067x", "Ann \xff"} {
		if _, err := ValidateName(name); err == nil {
			t.Errorf("ValidateName(%q) accepted it", name)
		}
	}
	if got, err := ValidateName("José Ñúñez"); err != nil || got != "José Ñúñez" {
		t.Errorf("ValidateName of ordinary accented text = %q, %v", got, err)
	}
}
