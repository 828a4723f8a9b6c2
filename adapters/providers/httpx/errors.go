package httpx

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/dashtam/dashtam/domain"
)

// maxDetail bounds how much institution-provided text an error carries.
const maxDetail = 300

// redacted replaces every secret found in an error's text.
const redacted = "[redacted]"

// Error is a classified provider failure. Its text is built only from values the
// connector chose to show (an operation name and a redacted detail), never from
// the cause's own text, so tokens, codes and secrets cannot leak into logs
// through it. The cause is still reachable with errors.Is and errors.As.
type Error struct {
	// Kind is one of the domain's provider error kinds, such as
	// domain.ErrProviderUnavailable.
	Kind error
	// Op names what failed, for example "schwab: exchange code".
	Op string
	// Detail is a short, redacted description of what the institution said.
	Detail string
	// Cause is the underlying error, if any. Its text is not part of Error().
	Cause error
}

// Error returns "<kind>: <op>: <detail>", leaving out empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// Fail builds an *Error of the given kind. detail is truncated and every secret
// in it (and its URL-encoded form) is replaced, so callers can pass institution
// text such as an error_description without checking it themselves.
func Fail(kind error, op, detail string, cause error, secrets ...string) error {
	return &Error{Kind: kind, Op: op, Detail: Redact(detail, secrets...), Cause: cause}
}

// ClassifyTransport turns an error from http.Client.Do (or anything that wraps
// one) into an *Error: a timeout or deadline becomes domain.ErrProviderTimeout,
// everything else (refused connection, oversized body, cancelled context)
// domain.ErrProviderUnavailable. The detail names the cause in general terms
// only; the cause's text, which holds the request URL, is not repeated.
func ClassifyTransport(op string, err error) error {
	switch {
	case IsTimeout(err):
		return &Error{Kind: domain.ErrProviderTimeout, Op: op, Detail: "no answer within the time limit", Cause: err}
	case errors.Is(err, ErrResponseTooLarge):
		return &Error{Kind: domain.ErrProviderUnavailable, Op: op, Detail: "answer exceeds the size cap", Cause: err}
	case errors.Is(err, ErrRedirect):
		return &Error{Kind: domain.ErrProviderUnavailable, Op: op, Detail: "answered with a redirect, not followed", Cause: err}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: domain.ErrProviderUnavailable, Op: op, Detail: "call cancelled", Cause: err}
	default:
		return &Error{Kind: domain.ErrProviderUnavailable, Op: op, Detail: "transport failure: " + transportReason(err), Cause: err}
	}
}

// IsTimeout reports whether err is a deadline or a network timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transportReason describes a transport failure without the request URL.
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + " failed"
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return "name resolution failed"
	}
	return "request failed"
}

// Redact returns s, truncated, with every non-empty secret and its URL-encoded
// forms replaced by "[redacted]".
func Redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			s = strings.ReplaceAll(s, form, redacted)
		}
	}
	if len(s) > maxDetail {
		s = strings.ToValidUTF8(s[:maxDetail], "") + "..."
	}
	return s
}
