// Package httpx is the outbound HTTP plumbing every provider connector shares: a
// client with a timeout and a response-size cap, and the classification of
// failures into the domain's provider error kinds with text that is safe to log.
//
// Connectors build their client with NewClient and turn every failure into an
// *Error (through Fail or ClassifyTransport), so a new connector gets the same
// limits and the same error vocabulary without writing any of it again.
package httpx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Limits that apply when a connector's configuration leaves them at zero.
const (
	// DefaultTimeout bounds one outbound call, from dialing to the last byte read.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxResponseBytes bounds the body of one institution answer.
	DefaultMaxResponseBytes int64 = 1 << 20
)

// ErrRedirect is the cause when an institution answers with a redirect: the
// client never follows one, since following a 307 or 308 would send the same
// body (a refresh token, a client secret) to whatever host the answer names.
// Connectors classify it as domain.ErrProviderUnavailable.
var ErrRedirect = errors.New("the institution answered with a redirect, which is not followed")

// ErrResponseTooLarge is the cause when an institution's answer is longer than
// the configured cap. Connectors classify it as domain.ErrProviderUnavailable.
var ErrResponseTooLarge = errors.New("response body exceeds the size cap")

// NewClient returns an HTTP client for talking to one institution. It copies base
// (http.DefaultClient when nil) so the caller's client is never modified, sets
// Timeout (DefaultTimeout when zero or negative), wraps the transport in a
// LimitTransport capped at maxBytes (DefaultMaxResponseBytes when zero or
// negative), and refuses to follow redirects (ErrRedirect).
func NewClient(base *http.Client, timeout time.Duration, maxBytes int64) *http.Client {
	if base == nil {
		base = http.DefaultClient
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	c := *base
	c.Timeout = timeout
	c.Transport = &LimitTransport{Base: base.Transport, MaxBytes: maxBytes}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return ErrRedirect }
	return &c
}

// LimitTransport is an http.RoundTripper that refuses answers whose body is
// longer than MaxBytes.
//
// It reads the body through a limiting reader inside RoundTrip and hands the
// caller an in-memory copy, instead of returning a body that fails later while
// being read. The reason is error classification: some clients, notably
// golang.org/x/oauth2, format body-read errors with %v, which would lose both
// ErrResponseTooLarge and a deadline hit while reading the body. Failing inside
// RoundTrip makes both surface from http.Client.Do as a wrapped, inspectable
// error. Reading eagerly costs at most MaxBytes of memory per call.
type LimitTransport struct {
	// Base performs the request; http.DefaultTransport when nil.
	Base http.RoundTripper
	// MaxBytes is the largest body accepted.
	MaxBytes int64
}

// RoundTrip performs req with the base transport and buffers at most MaxBytes of
// the answer, failing with ErrResponseTooLarge beyond that.
func (t *LimitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.ContentLength > t.MaxBytes {
		return nil, fmt.Errorf("%w: declared length %d, cap %d", ErrResponseTooLarge, resp.ContentLength, t.MaxBytes)
	}
	body, err := io.ReadAll(&limitedReader{r: resp.Body, remaining: t.MaxBytes})
	if err != nil {
		if errors.Is(err, ErrResponseTooLarge) {
			return nil, fmt.Errorf("%w: cap %d", ErrResponseTooLarge, t.MaxBytes)
		}
		return nil, fmt.Errorf("reading response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// limitedReader reads at most remaining bytes from r and fails with
// ErrResponseTooLarge if r has more, unlike io.LimitReader, which would
// silently truncate.
type limitedReader struct {
	r         io.Reader
	remaining int64
}

// Read reads from r, failing once more than the allowed bytes arrive.
func (l *limitedReader) Read(p []byte) (int, error) {
	if l.remaining < 0 {
		return 0, ErrResponseTooLarge
	}
	// Ask for one byte more than allowed, so an answer of exactly the cap
	// passes and one byte more is detected.
	if int64(len(p)) > l.remaining+1 {
		p = p[:l.remaining+1]
	}
	n, err := l.r.Read(p)
	l.remaining -= int64(n)
	if l.remaining < 0 {
		return n + int(l.remaining), ErrResponseTooLarge
	}
	return n, err
}
