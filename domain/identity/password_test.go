package identity

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dashtam/dashtam/domain"
)

func TestValidatePassword(t *testing.T) {
	// A filler that is certainly not on the list; its length is controlled per case.
	uncommon := func(n int) string { return strings.Repeat("x", n-1) + "!" }

	tests := []struct {
		name     string
		field    string
		password string
		wantCode string // "" means valid
	}{
		{name: "empty is too short", field: "password", password: "", wantCode: "too_short"},
		{name: "7 characters is too short", field: "password", password: uncommon(7), wantCode: "too_short"},
		{name: "8 characters is accepted", field: "password", password: uncommon(8)},
		{name: "128 characters is accepted", field: "password", password: uncommon(128)},
		{name: "129 characters is too long", field: "password", password: uncommon(129), wantCode: "too_long"},
		{name: "field name comes from the caller", field: "new_password", password: "short", wantCode: "too_short"},

		// Runes, not bytes: "é" is 2 bytes, "€" 3, "🔑" 4.
		{name: "7 two-byte runes (14 bytes) is too short", field: "password", password: strings.Repeat("é", 7), wantCode: "too_short"},
		{name: "8 two-byte runes is accepted", field: "password", password: strings.Repeat("é", 8)},
		{name: "7 four-byte runes (28 bytes) is too short", field: "password", password: strings.Repeat("🔑", 7), wantCode: "too_short"},
		{name: "128 three-byte runes (384 bytes) is accepted", field: "password", password: strings.Repeat("€", 128)},
		{name: "129 three-byte runes is too long", field: "password", password: strings.Repeat("€", 129), wantCode: "too_long"},
		{name: "128 four-byte runes is accepted", field: "password", password: strings.Repeat("🔑", 128)},
		{name: "mixed scripts passphrase is accepted", field: "password", password: "correct 馬 battery ñ staple"},

		// No composition rules: all-lowercase, all-digits and spaces are fine.
		{name: "lowercase letters only is accepted", field: "password", password: "purplemonkeydishwasher"},
		{name: "spaces are allowed", field: "password", password: "four words with spaces"},

		{name: "most common 8+ password is rejected", field: "password", password: "password", wantCode: "too_common"},
		{name: "common password with other case is rejected", field: "password", password: "PassWord", wantCode: "too_common"},
		{name: "common digits are rejected", field: "new_password", password: "12345678", wantCode: "too_common"},
		{name: "common keyboard walk is rejected", field: "password", password: "qwertyuiop", wantCode: "too_common"},
		{name: "common phrase is rejected", field: "password", password: "ILoveYou", wantCode: "too_common"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.field, tt.password)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("ValidatePassword(%d runes) = %v, want nil", utf8.RuneCountInString(tt.password), err)
				}
				return
			}
			var verr *domain.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("ValidatePassword() = %v (%T), want *domain.ValidationError", err, err)
			}
			if len(verr.Fields) != 1 {
				t.Fatalf("got %d field errors, want 1: %v", len(verr.Fields), verr)
			}
			f := verr.Fields[0]
			if f.Field != tt.field || f.Code != tt.wantCode {
				t.Errorf("field error = {%q, %q}, want {%q, %q}", f.Field, f.Code, tt.field, tt.wantCode)
			}
			if f.Message == "" {
				t.Error("field error has no message")
			}
			if tt.password != "" && strings.Contains(f.Message, tt.password) {
				t.Errorf("message %q repeats the password", f.Message)
			}
		})
	}
}

func TestCommonPasswordListIsClean(t *testing.T) {
	set := commonPasswords()
	if len(set) < 10000 {
		t.Fatalf("common password list has %d entries, want at least 10000", len(set))
	}
	if len(commonPasswordList) > 1<<20 {
		t.Errorf("embedded list is %d bytes, want under 1 MiB", len(commonPasswordList))
	}
	lines := strings.Split(strings.TrimSuffix(commonPasswordList, "\n"), "\n")
	if len(lines) != len(set) {
		t.Errorf("list has %d lines but %d distinct entries: duplicates or blank lines", len(lines), len(set))
	}
	for _, p := range lines {
		n := utf8.RuneCountInString(p)
		if n < PasswordMinLength || n > PasswordMaxLength {
			t.Errorf("entry %q has %d characters, outside the accepted range so it can never match", p, n)
		}
		if p != strings.ToLower(p) {
			t.Errorf("entry %q is not lowercase, so the case-insensitive lookup would miss it", p)
		}
		if strings.TrimSpace(p) != p {
			t.Errorf("entry %q has surrounding whitespace", p)
		}
	}
}

func BenchmarkValidatePassword(b *testing.B) {
	commonPasswords() // exclude the one-time load
	for b.Loop() {
		_ = ValidatePassword("password", "Correct Horse Battery Staple")
	}
}
