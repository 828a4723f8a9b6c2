// Package apitest drives the real HTTP stack in-process for tests: it builds the
// service through bootstrap (real router, middleware, use cases and database, with
// mail captured and cheap password hashing) and validates every response against
// the OpenAPI document, failing the test on any mismatch.
package apitest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/dashtam/dashtam/adapters/httpapi"
	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/bootstrap"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/fakes/fakehash"
	"github.com/dashtam/dashtam/test/testlog"
)

// Options tune the harness.
type Options struct {
	// Postgres runs against TEST_DATABASE_URL (skipping, or failing under CI,
	// without it) instead of a fresh SQLite file.
	Postgres bool
	// Env overrides configuration variables.
	Env map[string]string
	// Clock replaces the real clock.
	Clock providersapp.Clock
}

// Harness is one running service and the tools to talk to it.
type Harness struct {
	t      testing.TB
	App    *bootstrap.App
	Mail   *Outbox
	Logs   *testlog.Buffer
	spec   *openapi3.T
	router routers.Router
}

// New builds a service for the test.
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	env := map[string]string{"DATA_DIR": t.TempDir(), "PUBLIC_BASE_URL": "http://dashtam.test", "LOG_LEVEL": "debug",
		// Raised, never off: tests of the limits themselves set their own.
		"RATE_LIMIT_AUTH": "100000-M", "RATE_LIMIT_READ": "100000-M", "RATE_LIMIT_WRITE": "100000-M",
		"RATE_LIMIT_REFRESH": "100000-M", "RATE_LIMIT_REFRESH_IP": "100000-M", "RATE_LIMIT_ADMIN": "100000-M"}
	if o.Postgres {
		_, url := dbtest.PostgresWithURL(t)
		env["DATABASE_URL"] = url
	}
	for k, v := range o.Env {
		env[k] = v
	}
	logs := &testlog.Buffer{}
	cfg, log, err := bootstrap.Setup(func(k string) string { return env[k] }, logs)
	if err != nil {
		t.Fatal(err)
	}
	outbox := &Outbox{}
	unlock := func() {}
	if env["DATABASE_URL"] != "" { // Build migrates it
		unlock = dbtest.LockPostgresMigrations()
	}
	app, err := bootstrap.Build(context.Background(), cfg, log, bootstrap.Overrides{
		Mailer: outbox, Clock: o.Clock, Hasher: fakehash.Hasher{}, JobPollInterval: jobPollInterval,
	})
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	// The background work runs as in the service: mail is sent by jobs.
	background, err := app.StartBackground(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = background.Stop(ctx)
	})
	spec, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	// Match paths only, whatever host the test request names.
	doc := *spec.Doc
	doc.Servers = nil
	router, err := legacy.NewRouter(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return &Harness{t: t, App: app, Mail: outbox, Logs: logs, spec: spec.Doc, router: router}
}

// For returns a harness on the same service that reports its failures to t.
// Fuzz targets and property checks build the service once and give each input
// its own t, since a failure must be reported to the input that caused it.
func (h *Harness) For(t testing.TB) *Harness {
	c := *h
	c.t = t
	return &c
}

// Request is one request to send.
type Request struct {
	Method string
	Path   string
	// Body is sent as JSON unless it is a string or []byte (sent as is).
	Body        any
	ContentType string // default application/json when there is a body
	Token       string // bearer token
	Header      map[string]string
}

// Response is what came back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req through the real handler and validates the response against the
// OpenAPI document.
func (h *Harness) Do(req Request) *Response {
	h.t.Helper()
	var body io.Reader
	contentType := req.ContentType
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(js)
	}
	if body != nil && contentType == "" {
		contentType = "application/json"
	}
	r := httptest.NewRequest(req.Method, req.Path, body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.App.Handler.ServeHTTP(w, r)
	res := &Response{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
	if r.Method == http.MethodHead {
		res.Body = nil // what net/http's server sends for HEAD
	}
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(res.Body))
		if err != nil {
			h.t.Fatalf("%s %s: gzip body: %v", req.Method, req.Path, err)
		}
		if res.Body, err = io.ReadAll(zr); err != nil {
			h.t.Fatalf("%s %s: gzip body: %v", req.Method, req.Path, err)
		}
	}
	h.validate(r, res)
	return res
}

// validate fails the test when res does not match the document: the operation's
// documented status, headers and body schema; or, for a request that matches no
// operation (404, 405), the Problem schema.
func (h *Harness) validate(r *http.Request, res *Response) {
	h.t.Helper()
	if res.Header.Get("X-Request-ID") == "" {
		h.t.Errorf("%s %s: response has no X-Request-ID", r.Method, r.URL.Path)
	}
	find := r
	if r.Method == http.MethodHead { // HEAD is the GET operation without a body
		find = r.Clone(r.Context())
		find.Method = http.MethodGet
	}
	route, params, err := h.router.FindRoute(find)
	if err != nil {
		if r.Method == http.MethodOptions && res.Status == http.StatusNoContent {
			return // OPTIONS and CORS preflights answer every route, undocumented
		}
		h.validateProblem(r, res)
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 res.Status,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(res.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if !isJSON(res.Header.Get("Content-Type")) || r.Method == http.MethodHead {
		// HTML pages and documentation assets: status and headers are checked, the
		// body has no schema to check.
		input.Options.ExcludeResponseBody = true
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		h.t.Errorf("%s %s -> %d does not match the OpenAPI document: %v\nbody: %s", r.Method, r.URL.Path, res.Status, err, clip(res.Body))
	}
	// Error statuses of API operations are problems; the probes' 503 bodies are
	// documented as their own schemas and were checked above.
	if res.Status >= 400 && res.Header.Get("Content-Type") == "application/problem+json" && r.Method != http.MethodHead {
		h.validateProblem(r, res)
	}
}

func (h *Harness) validateProblem(r *http.Request, res *Response) {
	h.t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		h.t.Errorf("%s %s -> %d: Content-Type %q, want application/problem+json", r.Method, r.URL.Path, res.Status, ct)
		return
	}
	var v any
	if err := json.Unmarshal(res.Body, &v); err != nil {
		h.t.Errorf("%s %s -> %d: problem body is not JSON: %v", r.Method, r.URL.Path, res.Status, err)
		return
	}
	schema := h.spec.Components.Schemas["Problem"].Value
	if err := schema.VisitJSON(v); err != nil {
		h.t.Errorf("%s %s -> %d: problem body does not match the Problem schema: %v", r.Method, r.URL.Path, res.Status, err)
	}
	var p struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(res.Body, &p)
	if p.Status != res.Status {
		h.t.Errorf("%s %s: problem status %d, HTTP status %d", r.Method, r.URL.Path, p.Status, res.Status)
	}
	// A replayed answer (Idempotency-Replay) is the first request's, request id
	// included; the header names the retry.
	if p.RequestID != res.Header.Get("X-Request-ID") && res.Header.Get("Idempotency-Replay") != "true" {
		h.t.Errorf("%s %s: problem request_id %q differs from X-Request-ID %q", r.Method, r.URL.Path, p.RequestID, res.Header.Get("X-Request-ID"))
	}
}

// JSON decodes the response body into v.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem is the decoded problem body.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field, Code, Message string
	} `json:"errors"`
}

// Problem decodes the response as a problem.
func (r *Response) Problem(t testing.TB) Problem {
	t.Helper()
	var p Problem
	r.JSON(t, &p)
	return p
}

// Expect fails the test unless the status is want.
func (r *Response) Expect(t testing.TB, want int) *Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Body)
	}
	return r
}

// Outbox is a Mailer that keeps what it is asked to send.
type Outbox struct {
	mu   sync.Mutex
	msgs []identityapp.Message
}

// Send records msg.
func (o *Outbox) Send(_ context.Context, msg identityapp.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, msg)
	return nil
}

// Messages returns what was sent to addr, oldest first.
func (o *Outbox) Messages(addr string) []identityapp.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []identityapp.Message
	for _, m := range o.msgs {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

var tokenInLink = regexp.MustCompile(`[?&]token=([A-Za-z0-9_%-]+)`)

// jobPollInterval is how often the harness's job engine looks for jobs, and
// mailWait how long LastToken waits for the job that sends a mail.
const (
	jobPollInterval = 100 * time.Millisecond
	mailWait        = 10 * time.Second
)

// Await returns what was sent to addr once it is at least n messages, waiting
// up to mailWait for the jobs that send them.
func (o *Outbox) Await(t testing.TB, addr string, n int) []identityapp.Message {
	t.Helper()
	for deadline := time.Now().Add(mailWait); ; time.Sleep(20 * time.Millisecond) {
		if msgs := o.Messages(addr); len(msgs) >= n || time.Now().After(deadline) {
			return msgs
		}
	}
}

// LastToken returns the token in the newest email to addr whose subject
// contains subject, waiting up to mailWait for a job to send one.
func (o *Outbox) LastToken(t testing.TB, addr, subject string) string {
	t.Helper()
	for deadline := time.Now().Add(mailWait); ; time.Sleep(20 * time.Millisecond) {
		msgs := o.Messages(addr)
		for i := len(msgs) - 1; i >= 0; i-- {
			if strings.Contains(msgs[i].Subject, subject) {
				if m := tokenInLink.FindStringSubmatch(msgs[i].Text); m != nil {
					return m[1]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q email with a token to %s within %v", subject, addr, mailWait)
			return ""
		}
	}
}

// clip shortens a body for a failure message.
func clip(b []byte) string {
	const n = 600
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

func isJSON(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}
