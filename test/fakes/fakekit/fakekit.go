// Package fakekit holds what every institution fake shares: a per-path call
// counter and switchable failure modes (slow, 500, malformed
// JSON, huge body, a canned error reply). A fake puts an *Instrument in front of
// its routes and embeds it, so tests call fake.SetFault(fakekit.Slow(d)) and
// fake.Calls(path) on any fake the same way.
package fakekit

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HugeBodyBytes is the size of the body Huge sends: above the connectors'
// default 1 MiB cap, so it is oversized for any configuration that keeps it.
const HugeBodyBytes = 2 << 20

// Fault is a way for a fake to misbehave. The zero Fault means "behave".
type Fault struct {
	delay       time.Duration
	status      int
	contentType string
	body        string
	huge        bool
	location    string
	path        string
}

// Slow delays each answer by d, then answers normally. The delay ends early
// when the client gives up, so a test server can close promptly.
func Slow(d time.Duration) Fault { return Fault{delay: d} }

// Status500 answers 500 with a plain-text body.
func Status500() Fault {
	return Reply(http.StatusInternalServerError, "text/plain; charset=utf-8", "internal server error\n")
}

// Malformed answers 200 with JSON cut off in the middle.
func Malformed() Fault {
	return Reply(http.StatusOK, "application/json", `{"access_token": "`)
}

// Huge answers 200 with HugeBodyBytes of valid JSON, streamed without a
// Content-Length, so only a reading cap can stop it.
func Huge() Fault { return Fault{huge: true} }

// Redirect answers 307 Temporary Redirect to location, which asks a client
// that follows it to send the same request, body and all, there.
func Redirect(location string) Fault {
	return Fault{status: http.StatusTemporaryRedirect, contentType: "text/plain; charset=utf-8", location: location}
}

// Reply answers with a fixed status, content type and body, such as an
// institution's error JSON.
func Reply(status int, contentType, body string) Fault {
	return Fault{status: status, contentType: contentType, body: body}
}

// OnPath returns a copy of f that applies only to requests for path; other
// requests behave normally.
func (f Fault) OnPath(path string) Fault {
	f.path = path
	return f
}

// Instrument counts requests per path and applies the current Fault. It is safe
// for concurrent use; the zero value is ready to use.
type Instrument struct {
	mu    sync.Mutex
	calls map[string]int
	fault Fault
}

// SetFault makes every following request (or those for the fault's path) fail
// as f says, until ClearFault or another SetFault.
func (in *Instrument) SetFault(f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fault = f
}

// ClearFault makes the fake behave again.
func (in *Instrument) ClearFault() { in.SetFault(Fault{}) }

// Calls returns how many requests reached path, faulted ones included.
func (in *Instrument) Calls(path string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[path]
}

// ResetCalls sets every counter back to zero.
func (in *Instrument) ResetCalls() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls = nil
}

// Wrap returns next behind the counter and the fault switch.
func (in *Instrument) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		if in.calls == nil {
			in.calls = make(map[string]int)
		}
		in.calls[r.URL.Path]++
		f := in.fault
		in.mu.Unlock()

		if f.path != "" && f.path != r.URL.Path {
			f = Fault{}
		}
		if f.delay > 0 {
			// Read the body first: only then does net/http watch the
			// connection and cancel the request's context when the client
			// gives up, which lets the delay end early.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			t := time.NewTimer(f.delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case f.huge:
			writeHuge(w, r)
		case f.status != 0:
			if f.location != "" {
				w.Header().Set("Location", f.location)
			}
			w.Header().Set("Content-Type", f.contentType)
			w.WriteHeader(f.status)
			_, _ = w.Write([]byte(f.body))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// writeHuge streams {"padding":"xxx..."} of HugeBodyBytes in chunks, stopping
// early when the client goes away.
func writeHuge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	chunk := strings.Repeat("x", 32<<10)
	written, _ := w.Write([]byte(`{"padding":"`))
	for written < HugeBodyBytes-2 && r.Context().Err() == nil {
		n, err := w.Write([]byte(chunk))
		if err != nil {
			return
		}
		written += n
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	_, _ = w.Write([]byte(`"}`))
}
