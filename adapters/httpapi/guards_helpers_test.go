package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/httpapi"
	identityapp "github.com/dashtam/dashtam/application/identity"
)

// The guards' tests build a small engine configured like NewRouter (trusted
// proxies, 404/405 problems) with the middleware under test and stand-in
// handlers, because the router's wiring is done at integration.

// headerTestUser authenticates a test request as the user it names, standing in
// for the authenticate middleware.
const headerTestUser = "X-Test-User"

// fakeAuth sets the principal named by X-Test-User, if any.
func fakeAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if id, err := uuid.Parse(c.GetHeader(headerTestUser)); err == nil {
			httpapi.SetPrincipal(c, identityapp.Principal{UserID: id, SessionID: uuid.New()})
		}
		c.Next()
	}
}

// newEngine returns an engine that trusts X-Forwarded-For only from trusted,
// with requestID first and then middleware.
func newEngine(t *testing.T, log *slog.Logger, trusted []string, middleware ...gin.HandlerFunc) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(trusted); err != nil {
		t.Fatal(err)
	}
	if len(trusted) == 0 {
		r.ForwardedByClientIP = false
	}
	r.Use(httpapi.RequestIDMiddleware())
	r.Use(middleware...)
	r.NoRoute(func(c *gin.Context) { httpapi.WriteProblem(c, log, httpapi.ErrRouteNotFound) })
	return r
}

// req is one test request.
type req struct {
	method, path string
	body         string
	remoteAddr   string // default 192.0.2.10:40000
	header       map[string]string
}

func do(h http.Handler, rq req) *httptest.ResponseRecorder {
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	if rq.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = "192.0.2.10:40000"
	if rq.remoteAddr != "" {
		r.RemoteAddr = rq.remoteAddr
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// problemOf checks that w is a problem document of status and code that matches
// the OpenAPI document's Problem schema and names the response's request id, and
// returns it.
func problemOf(t *testing.T, w *httptest.ResponseRecorder, status int, code string) problemBody {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var v any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("problem body is not JSON: %v", err)
	}
	if err := problemSchema(t).VisitJSON(v); err != nil {
		t.Errorf("problem body does not match the Problem schema: %v", err)
	}
	var p problemBody
	_ = json.Unmarshal(w.Body.Bytes(), &p)
	if p.Code != code || p.Status != status {
		t.Errorf("problem code %q status %d, want %q %d", p.Code, p.Status, code, status)
	}
	if p.RequestID == "" || p.RequestID != w.Header().Get("X-Request-ID") {
		t.Errorf("problem request_id %q, X-Request-ID %q", p.RequestID, w.Header().Get("X-Request-ID"))
	}
	return p
}

type problemBody struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field, Code, Message string
	} `json:"errors"`
}

var (
	specOnce sync.Once
	spec     *httpapi.Spec
	specErr  error
)

func problemSchema(t *testing.T) *openapi3.Schema {
	t.Helper()
	specOnce.Do(func() { spec, specErr = httpapi.LoadSpec() })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return spec.Doc.Components.Schemas["Problem"].Value
}

// logBuffer collects log lines from concurrent requests.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}
