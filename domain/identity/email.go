package identity

import (
	"net/mail"
	"strings"

	"github.com/dashtam/dashtam/domain"
)

// Email is a normalised email address: trimmed and lower-cased, so that one person
// cannot register twice with different capitalisation.
type Email struct{ s string }

const maxEmailLength = 254

// ParseEmail validates and normalises raw. The error is a *domain.ValidationError for
// field "email".
func ParseEmail(raw string) (Email, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return Email{}, domain.NewValidationError("email", "required", "Email is required.")
	}
	if len(s) > maxEmailLength {
		return Email{}, domain.NewValidationError("email", "too_long", "Email must be at most 254 characters.")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || !hasHostName(s[strings.LastIndexByte(s, '@')+1:]) {
		return Email{}, domain.NewValidationError("email", "invalid_format", "Email must be an address like name@example.com.")
	}
	return Email{s: s}, nil
}

// hasHostName reports whether host is a host name with a top-level domain,
// not an IP literal: "[192.0.2.1]" and "192.0.2.1" are refused (mail to an
// address of the requester's choosing is how a server is made to probe a
// network), and a top-level domain is never all digits.
func hasHostName(host string) bool {
	dot := strings.LastIndexByte(host, '.')
	if dot < 0 || strings.HasPrefix(host, "[") {
		return false
	}
	return strings.ContainsFunc(host[dot+1:], func(r rune) bool { return r < '0' || r > '9' })
}

// String returns the normalised address.
func (e Email) String() string { return e.s }

// IsZero reports whether e is the zero Email.
func (e Email) IsZero() bool { return e.s == "" }
