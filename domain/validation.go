package domain

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError describes one invalid input field. Field is the JSON name (or query
// parameter name) as the client sent it; Code is a stable machine-readable reason
// such as "required", "too_long" or "invalid".
type FieldError struct {
	Field   string
	Code    string
	Message string
}

// ValidationError is returned when input breaks one or more rules. It carries every
// field problem found, not just the first.
type ValidationError struct {
	Fields []FieldError
}

// NewValidationError builds a ValidationError for a single field.
func NewValidationError(field, code, message string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Code: code, Message: message}}}
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// Add records another field problem.
func (e *ValidationError) Add(field, code, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Code: code, Message: message})
}

// Merge adds the field problems of err when it is (or wraps) a ValidationError,
// so a validator can check several things and report every problem at once.
// Other errors are not field problems and are left to the caller.
func (e *ValidationError) Merge(err error) {
	var v *ValidationError
	if errors.As(err, &v) {
		e.Fields = append(e.Fields, v.Fields...)
	}
}

// OrNil returns e when it holds at least one field problem, and nil otherwise, so a
// validator can collect problems and `return v.OrNil()`.
func (e *ValidationError) OrNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// HasControl reports whether s holds a control character (NUL, newline, escape
// ...), which no display name or alias needs and some stores cannot hold.
func HasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// HasHiddenText reports whether s is not valid UTF-8 or holds a control
// character or a Unicode format character: the bidi overrides and isolates
// (which make "Savings‮gnikcehC" display as another name), zero-width
// characters and the byte-order mark. A display name or alias needs none of
// them, and with them two names that look the same are different strings.
func HasHiddenText(s string) bool {
	return !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}) >= 0
}
