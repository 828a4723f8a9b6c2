package identity

import (
	"errors"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/domain"
)

func TestParseEmailNormalises(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{"alice@example.com", "alice@example.com"},
		{"Alice@Example.COM", "alice@example.com"},
		{"  bob@example.com\t\n", "bob@example.com"},
		{" MiXeD.Case+Tag@Sub.Example.Org ", "mixed.case+tag@sub.example.org"},
	} {
		got, err := ParseEmail(tt.raw)
		if err != nil {
			t.Errorf("ParseEmail(%q): %v", tt.raw, err)
			continue
		}
		if got.String() != tt.want || got.IsZero() {
			t.Errorf("ParseEmail(%q) = %q, want %q", tt.raw, got.String(), tt.want)
		}
	}
}

func TestParseEmailDifferentCaseIsTheSameEmail(t *testing.T) {
	a, _ := ParseEmail("Carol@Example.com")
	b, _ := ParseEmail("carol@example.COM")
	if a != b {
		t.Fatalf("%q != %q", a, b)
	}
}

func TestParseEmailRejects(t *testing.T) {
	long := strings.Repeat("a", 243) + "@example.com" // 255 bytes
	for _, tt := range []struct {
		name, raw, code string
	}{
		{"empty", "", "required"},
		{"only spaces", "   \t", "required"},
		{"longer than 254", long, "too_long"},
		{"no at sign", "alice.example.com", "invalid_format"},
		{"no local part", "@example.com", "invalid_format"},
		{"no domain", "alice@", "invalid_format"},
		{"two at signs", "alice@@example.com", "invalid_format"},
		{"domain without a dot", "alice@localhost", "invalid_format"},
		{"display name form", "Alice <alice@example.com>", "invalid_format"},
		{"angle brackets", "<alice@example.com>", "invalid_format"},
		{"two addresses", "alice@example.com, bob@example.com", "invalid_format"},
		{"inner space", "ali ce@example.com", "invalid_format"},
		{"header injection", "alice@example.com\r\nBcc: eve@example.com", "invalid_format"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEmail(tt.raw)
			var verr *domain.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("ParseEmail(%q) = %q, %v; want a *domain.ValidationError", tt.raw, got.String(), err)
			}
			if len(verr.Fields) != 1 || verr.Fields[0].Field != "email" || verr.Fields[0].Code != tt.code {
				t.Fatalf("fields = %+v, want one email/%s", verr.Fields, tt.code)
			}
			if !got.IsZero() {
				t.Fatalf("rejected email returned a value %q", got.String())
			}
		})
	}
}

func TestParseEmailAcceptsMaximumLength(t *testing.T) {
	raw := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 57) + ".com"
	if len(raw) != 254 {
		t.Fatalf("test address is %d bytes, want 254", len(raw))
	}
	if _, err := ParseEmail(raw); err != nil {
		t.Fatalf("ParseEmail(254 bytes): %v", err)
	}
}

// Hardening item 16: an address whose domain is an IP literal is refused.
func TestEmailWithAnIPLiteralDomainIsRefused(t *testing.T) {
	for _, raw := range []string{"a@[127.0.0.1]", "a@127.0.0.1", "a@[IPv6:::1]", "a@169.254.169.254", "a@10.0.0.1"} {
		if _, err := ParseEmail(raw); err == nil {
			t.Errorf("ParseEmail(%q) accepted it", raw)
		}
	}
	for _, raw := range []string{"a@example.com", "a@mail.1example.io", "a@123.example.org"} {
		if _, err := ParseEmail(raw); err != nil {
			t.Errorf("ParseEmail(%q) = %v, want it accepted", raw, err)
		}
	}
}
