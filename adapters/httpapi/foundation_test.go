package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/clock"
	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/faultproxy"
)

// Every route the router serves is documented, and every documented operation is
// served: the document cannot drift from the code.
func TestRoutesMatchDocument(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	spec, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	documented := spec.Operations()
	var served []string
	for _, r := range h.App.API.(*gin.Engine).Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	// HEAD is served for every GET operation, and only for those.
	for _, op := range spec.Operations() {
		if path, ok := strings.CutPrefix(op, "GET "); ok {
			documented = append(documented, "HEAD "+path)
		}
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("documented but not served: %s", op)
		}
	}
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("served but not documented: %s", r)
		}
	}
	if len(served) == 0 {
		t.Fatal("no routes")
	}
}

// Each error the HTTP layer promises, produced by a real request, as a problem
// document that matches the OpenAPI document (the harness validates every response).
func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	valid := map[string]any{"email": "ann@example.com", "password": "correct horse battery", "name": "Ann"}
	cases := []struct {
		name     string
		req      apitest.Request
		status   int
		code     string
		fields   []string
		checkRes func(t *testing.T, res *apitest.Response)
	}{
		{name: "unknown route 404", req: apitest.Request{Method: "GET", Path: "/api/v1/nowhere"}, status: 404, code: "ROUTE_NOT_FOUND"},
		{name: "wrong method 405 with Allow", req: apitest.Request{Method: "PUT", Path: "/api/v1/users"}, status: 405, code: "METHOD_NOT_ALLOWED",
			checkRes: func(t *testing.T, res *apitest.Response) {
				if allow := res.Header.Get("Allow"); !strings.Contains(allow, "POST") {
					t.Errorf("Allow = %q, want it to list POST", allow)
				}
			}},
		{name: "malformed JSON 400", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: `{"email": "ann@`}, status: 400, code: "MALFORMED_JSON"},
		{name: "empty body 400", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: "", ContentType: "application/json"}, status: 400, code: "MALFORMED_JSON"},
		{name: "non-JSON body 415", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: "email=ann", ContentType: "application/x-www-form-urlencoded"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "missing content type 415", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: `{}`, ContentType: " "}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "oversized body 413", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: `{"name":"` + strings.Repeat("a", 300<<10) + `"}`}, status: 413, code: "BODY_TOO_LARGE"},
		{name: "validation 422 names each field", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "ann@example.com", "password": "short", "name": strings.Repeat("n", 101)}},
			status: 422, code: "VALIDATION_ERROR", fields: []string{"password", "name"}},
		{name: "missing fields 422", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{}}, status: 422, code: "VALIDATION_ERROR", fields: []string{"email", "password", "name"}},
		{name: "unknown JSON field 422", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: merge(valid, map[string]any{"user_id": "0193", "email_verified": true})},
			status: 422, code: "VALIDATION_ERROR", fields: []string{"user_id", "email_verified"}},
		{name: "domain validation 422", req: apitest.Request{Method: "POST", Path: "/api/v1/users", Body: merge(valid, map[string]any{"email": "not-an-email"})}, status: 422, code: "VALIDATION_ERROR", fields: []string{"email"}},
		{name: "invalid bearer token 401", req: apitest.Request{Method: "GET", Path: "/api/v1/sessions?per_page=500", Token: "x"}, status: 401, code: "INVALID_TOKEN"},
		{name: "missing bearer token 401", req: apitest.Request{Method: "GET", Path: "/api/v1/users/me"}, status: 401, code: "AUTHENTICATION_REQUIRED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.Do(tc.req).Expect(t, tc.status)
			p := res.Problem(t)
			if p.Code != tc.code {
				t.Errorf("code %q, want %q", p.Code, tc.code)
			}
			if !strings.HasPrefix(p.Type, "/problems/") || p.Title == "" {
				t.Errorf("problem type %q / title %q", p.Type, p.Title)
			}
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Field)
			}
			for _, f := range tc.fields {
				if !slices.Contains(got, f) {
					t.Errorf("errors %v do not name field %q", got, f)
				}
			}
			if tc.checkRes != nil {
				tc.checkRes(t, res)
			}
		})
	}
}

// A panic deep inside a use case becomes a 500 problem that hides the cause; the
// log keeps it, and the service goes on serving.
func TestPanicRecoveredInto500(t *testing.T) {
	t.Parallel()
	clk := &armedClock{}
	h := apitest.New(t, apitest.Options{Clock: clk})
	clk.armed.Store(true)
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users",
		Body: map[string]any{"email": "ann@example.com", "password": "correct horse battery", "name": "Ann"}}).Expect(t, 500)
	if p := res.Problem(t); p.Code != "INTERNAL_ERROR" || strings.Contains(string(res.Body), "clock exploded") {
		t.Errorf("500 body leaks or is wrong: %s", res.Body)
	}
	if !strings.Contains(h.Logs.String(), "clock exploded") {
		t.Error("the panic was not logged")
	}
	clk.armed.Store(false)
	h.Do(apitest.Request{Method: "GET", Path: "/healthz"}).Expect(t, 200)
}

// An unexpected error (here: a table vanished) is a 500 whose body hides the cause
// and whose log line, under the same request id, keeps it.
func TestUnexpectedErrorHiddenFrom500Body(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	if err := h.App.DB.Gorm.Exec("DROP TABLE users").Error; err != nil {
		t.Fatal(err)
	}
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "bob@example.com", "password": "correct horse battery", "name": "Bob"},
		Header: map[string]string{"X-Request-ID": "req-500-check"}}).Expect(t, 500)
	if strings.Contains(string(res.Body), "no such table") {
		t.Errorf("500 body leaks the cause: %s", res.Body)
	}
	var found bool
	for _, line := range strings.Split(h.Logs.String(), "\n") {
		if strings.Contains(line, `"request_id":"req-500-check"`) && strings.Contains(line, "no such table") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line with the request id and the cause:\n%s", h.Logs.String())
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	t.Run("sane client id is echoed", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/nowhere", Header: map[string]string{"X-Request-ID": "abc-123.X:y_z"}})
		if got := res.Header.Get("X-Request-ID"); got != "abc-123.X:y_z" {
			t.Errorf("X-Request-ID = %q", got)
		}
		if p := res.Problem(t); p.RequestID != "abc-123.X:y_z" {
			t.Errorf("problem request_id = %q", p.RequestID)
		}
	})
	t.Run("insane client id is replaced", func(t *testing.T) {
		for _, bad := range []string{"has space", strings.Repeat("a", 129), "quote\"d", "new\nline"} {
			res := h.Do(apitest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-ID": bad}})
			if got := res.Header.Get("X-Request-ID"); got == bad || got == "" {
				t.Errorf("X-Request-ID %q kept or dropped: %q", bad, got)
			}
		}
	})
	t.Run("generated when absent and logged", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "GET", Path: "/healthz"})
		id := res.Header.Get("X-Request-ID")
		if id == "" || !strings.Contains(h.Logs.String(), `"request_id":"`+id+`"`) {
			t.Errorf("generated id %q not in the access log", id)
		}
	})
}

// The access log has one structured line per request with the route template, and
// neither a bearer token nor a password ever reaches the log.
func TestAccessLogKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	const secretPassword = "Sup3r-Secret-Pa55phrase"
	const secretBearer = "eyJhbGciOiJIUzI1NiJ9.secret-bearer-value.sig"
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "ann@example.com", "password": secretPassword, "name": "Ann"}}).Expect(t, 201)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ann@example.com", "password": secretPassword}}).Expect(t, 201)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ann@example.com", "password": secretPassword + "x"}}).Expect(t, 401)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: secretBearer}).Expect(t, 401)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/sessions/0193a1b2-0000-7000-8000-000000000000?x=" + url.QueryEscape(secretPassword), Token: secretBearer}).Expect(t, 401)
	logs := h.Logs.String()
	for _, secret := range []string{secretPassword, secretBearer, "secret-bearer-value"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
	var sawTemplate bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" {
			for _, k := range []string{"request_id", "method", "route", "status", "latency_ms", "bytes"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("access log line lacks %q: %s", k, line)
				}
			}
			if rec["route"] == "/api/v1/sessions/:session_id" {
				sawTemplate = true
			}
		}
	}
	if !sawTemplate {
		t.Error("access log does not use the route template")
	}
}

// HEAD works on every GET route with the GET's authentication; OPTIONS answers
// with Allow; large bodies are gzipped for clients that accept it.
func TestHeadOptionsAndCompression(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	res := h.Do(apitest.Request{Method: "HEAD", Path: "/api/health"}).Expect(t, 200)
	if res.Header.Get("Content-Type") == "" || res.Header.Get("X-Request-ID") == "" {
		t.Errorf("HEAD headers %v", res.Header)
	}
	h.Do(apitest.Request{Method: "HEAD", Path: "/api/v1/users/me"}).Expect(t, 401)

	res = h.Do(apitest.Request{Method: "OPTIONS", Path: "/api/v1/users/me"}).Expect(t, 204)
	for _, m := range []string{"GET", "PATCH", "OPTIONS"} {
		if !strings.Contains(res.Header.Get("Allow"), m) {
			t.Errorf("Allow = %q lacks %s", res.Header.Get("Allow"), m)
		}
	}

	big := h.Do(apitest.Request{Method: "GET", Path: "/openapi.json", Header: map[string]string{"Accept-Encoding": "gzip"}}).Expect(t, 200)
	if big.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(big.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("large body not gzipped: %v", big.Header)
	}
	small := h.Do(apitest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"Accept-Encoding": "gzip"}}).Expect(t, 200)
	if small.Header.Get("Content-Encoding") != "" {
		t.Error("a small body was gzipped")
	}
	plain := h.Do(apitest.Request{Method: "GET", Path: "/openapi.json"}).Expect(t, 200)
	if plain.Header.Get("Content-Encoding") != "" {
		t.Error("gzipped for a client that did not ask")
	}
}

func TestOperationalEndpoints(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	var health struct {
		Status   string
		Services map[string]string
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/health"}).Expect(t, 200).JSON(t, &health)
	if health.Status != "ok" || health.Services["database"] != "up" {
		t.Errorf("health = %+v", health)
	}
	h.Do(apitest.Request{Method: "GET", Path: "/healthz"}).Expect(t, 200)
	h.Do(apitest.Request{Method: "GET", Path: "/readyz"}).Expect(t, 200)
	res := h.Do(apitest.Request{Method: "GET", Path: "/api/health"})
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("nosniff missing")
	}

	t.Run("openapi.json is a valid OpenAPI document", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "GET", Path: "/openapi.json"}).Expect(t, 200)
		doc, err := openapi3.NewLoader().LoadFromData(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if doc.Paths.Find("/api/v1/users") == nil {
			t.Error("served document lacks /api/v1/users")
		}
	})

	t.Run("docs pages load only bundled assets", func(t *testing.T) {
		external := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
		assetRef := regexp.MustCompile(`(?:src|href)="(/docs/assets/[^"]+)"`)
		for _, page := range []string{"/docs", "/redoc"} {
			res := h.Do(apitest.Request{Method: "GET", Path: page}).Expect(t, 200)
			if external.Match(res.Body) {
				t.Errorf("%s references an external URL", page)
			}
			refs := assetRef.FindAllStringSubmatch(string(res.Body), -1)
			if len(refs) == 0 {
				t.Errorf("%s references no bundled asset", page)
			}
			for _, ref := range refs {
				a := h.Do(apitest.Request{Method: "GET", Path: ref[1]}).Expect(t, 200)
				if len(a.Body) < 100 {
					t.Errorf("%s is suspiciously small", ref[1])
				}
			}
		}
		h.Do(apitest.Request{Method: "GET", Path: "/docs/assets/..%2Fdocsui.go"}).Expect(t, 404)
		h.Do(apitest.Request{Method: "GET", Path: "/docs/assets/nope.js"}).Expect(t, 404)
	})
}

// Readiness follows the database: cut the link to Postgres and /readyz turns 503
// within a few seconds; restore it and /readyz is 200 again, with no restart.
func TestReadinessFollowsPostgres(t *testing.T) {
	t.Parallel()
	_, schemaURL := dbtest.PostgresWithURL(t)
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"DATABASE_URL": u.String()}})
	h.Do(apitest.Request{Method: "GET", Path: "/readyz"}).Expect(t, 200)

	proxy.Cut()
	waitFor(t, 5*time.Second, func() bool {
		return h.Do(apitest.Request{Method: "GET", Path: "/readyz"}).Status == http.StatusServiceUnavailable
	})
	var health struct{ Services map[string]string }
	h.Do(apitest.Request{Method: "GET", Path: "/api/health"}).Expect(t, 503).JSON(t, &health)
	if health.Services["database"] != "down" {
		t.Errorf("health services = %v", health.Services)
	}
	// A request that needs the database fails promptly with a 503 problem.
	start := time.Now()
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ann@example.com", "password": "whatever-it-is"}}).Expect(t, 503)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("503 took %v", took)
	}

	proxy.Restore()
	waitFor(t, 10*time.Second, func() bool {
		return h.Do(apitest.Request{Method: "GET", Path: "/readyz"}).Status == http.StatusOK
	})
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": "ann@example.com", "password": "correct horse battery", "name": "Ann"}}).Expect(t, 201)
}

func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// armedClock panics when armed; it waits like the system clock.
type armedClock struct {
	clock.System
	armed atomic.Bool
}

func (c *armedClock) Now() time.Time {
	if c.armed.Load() {
		panic("clock exploded")
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
