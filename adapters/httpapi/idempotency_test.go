package httpapi_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/test/dbtest"
)

// The router is given the persistence adapter's store in production; that
// adapter does not import this package, so the check that it fits is here.
var _ httpapi.IdempotencyStore = (*persistence.IdempotencyStore)(nil)

// idemServer is an engine with recovery, fake authentication and the
// idempotency middleware over a real database, and handlers that count their
// side effects.
type idemServer struct {
	h       http.Handler
	effects atomic.Int64
	// entered receives a value when a handler asked to block (X-Test-Block)
	// starts; release lets it finish.
	entered chan struct{}
	release chan struct{}
	clock   *testClock
}

// testClock is the middleware's clock; tests move it forward.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// idemDatabases runs a test over SQLite and, with TEST_DATABASE_URL, Postgres,
// in parallel. Parallel Postgres migrations take turns (see
// dbtest.LockPostgresMigrations).
func idemDatabases(t *testing.T, run func(t *testing.T, open func(testing.TB) *persistence.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		run(t, dbtest.SQLite)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dbtest.PostgresURL(t)
		run(t, dbtest.Postgres)
	})
}

func newIdemServer(t *testing.T, db *persistence.DB) *idemServer {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	s := &idemServer{
		entered: make(chan struct{}, 16),
		release: make(chan struct{}),
		clock:   &testClock{now: time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)},
	}
	r := newEngine(t, log, nil,
		httpapi.RecoveryMiddleware(log),
		fakeAuth(),
		httpapi.IdempotencyMiddleware(persistence.NewIdempotencyStore(db), log, s.clock.Now, 0, 0),
	)
	create := func(c *gin.Context) {
		body, _ := io.ReadAll(c.Request.Body)
		if c.GetHeader("X-Test-Block") != "" {
			s.entered <- struct{}{}
			<-s.release
		}
		if c.GetHeader("X-Test-Panic") != "" {
			panic("handler bug")
		}
		if c.GetHeader("X-Test-Fail") != "" {
			httpapi.WriteProblem(c, log, fmt.Errorf("database exploded"))
			return
		}
		n := s.effects.Add(1)
		if c.GetHeader("X-Test-Conflict") != "" {
			c.Header("Cache-Control", "no-store")
			c.Data(http.StatusConflict, "application/problem+json", []byte(`{"status":409,"code":"CONFLICT"}`))
			return
		}
		c.Header("Location", fmt.Sprintf("/api/v1/providers/%d", n))
		c.Header("ETag", fmt.Sprintf(`"v%d"`, n))
		c.Header("Cache-Control", "private, no-cache")
		c.Header("X-Handler-Only", "not replayed")
		c.Data(http.StatusCreated, "application/json; charset=utf-8", fmt.Appendf(nil, `{"n":%d,"body":%q}`, n, body))
	}
	r.POST("/api/v1/providers", create)
	r.POST("/api/v1/users", create)
	r.PATCH("/api/v1/providers/:provider_id", create)
	r.PUT("/api/v1/providers/:provider_id", create)
	r.POST("/api/v1/providers/:provider_id/authorization", func(c *gin.Context) {
		n := s.effects.Add(1)
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusCreated, gin.H{"state": fmt.Sprint("secret-state-", n)})
	})
	r.POST("/api/v1/sessions", func(c *gin.Context) {
		n := s.effects.Add(1)
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusCreated, gin.H{"access_token": fmt.Sprint("token-", n)})
	})
	s.h = r
	return s
}

func (s *idemServer) post(path, key, body string, header ...string) *httptest.ResponseRecorder {
	return s.send("POST", path, key, body, header...)
}

// send sends a request as user 1 (header pairs may override).
func (s *idemServer) send(method, path, key, body string, header ...string) *httptest.ResponseRecorder {
	h := map[string]string{headerTestUser: testUser(1)}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return do(s.h, req{method: method, path: path, body: body, header: h})
}

// Same key and body twice: one side effect, and the retry gets the first answer
// byte for byte (status, replayed headers, body) plus Idempotency-Replay: true,
// under its own request id.
func TestIdempotentRetryReplaysTheFirstAnswer(t *testing.T) {
	t.Parallel()
	idemDatabases(t, func(t *testing.T, open func(testing.TB) *persistence.DB) {
		s := newIdemServer(t, open(t))
		first := s.post("/api/v1/providers", "key-1", `{"alias":"Main"}`)
		if first.Code != http.StatusCreated || first.Header().Get("Idempotency-Replay") != "" {
			t.Fatalf("first: %d, Idempotency-Replay %q", first.Code, first.Header().Get("Idempotency-Replay"))
		}
		s.clock.Add(23 * time.Hour)
		second := s.post("/api/v1/providers", "key-1", `{"alias":"Main"}`)
		if n := s.effects.Load(); n != 1 {
			t.Fatalf("%d side effects, want 1", n)
		}
		if second.Code != first.Code || second.Body.String() != first.Body.String() {
			t.Errorf("replay %d %q, want %d %q", second.Code, second.Body, first.Code, first.Body)
		}
		for _, name := range []string{"Content-Type", "Location", "ETag", "Cache-Control"} {
			if got, want := second.Header().Values(name), first.Header().Values(name); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("replayed %s %q, want %q", name, got, want)
			}
		}
		if second.Header().Get("Idempotency-Replay") != "true" {
			t.Error("replay lacks Idempotency-Replay: true")
		}
		if second.Header().Get("X-Handler-Only") != "" {
			t.Error("a header outside the replayed set was replayed")
		}
		if id := second.Header().Get("X-Request-ID"); id == "" || id == first.Header().Get("X-Request-ID") {
			t.Errorf("replay X-Request-ID %q: want the retry's own id", id)
		}
	})
}

// Two requests with one key at the same moment: one side effect. While the first
// runs, the second gets 409 IDEMPOTENCY_IN_PROGRESS; afterwards, the replay.
func TestIdempotencyConcurrentRequests(t *testing.T) {
	t.Parallel()
	idemDatabases(t, func(t *testing.T, open func(testing.TB) *persistence.DB) {
		t.Run("second while the first runs", func(t *testing.T) {
			s := newIdemServer(t, open(t))
			done := make(chan *httptest.ResponseRecorder)
			go func() { done <- s.post("/api/v1/providers", "key-c", `{"alias":"A"}`, "X-Test-Block", "1") }()
			<-s.entered
			busy := s.post("/api/v1/providers", "key-c", `{"alias":"A"}`)
			problemOf(t, busy, http.StatusConflict, "IDEMPOTENCY_IN_PROGRESS")
			if busy.Header().Get("Retry-After") == "" {
				t.Error("409 in progress lacks Retry-After")
			}
			close(s.release)
			first := <-done
			if first.Code != http.StatusCreated {
				t.Fatalf("first: %d %s", first.Code, first.Body)
			}
			replay := s.post("/api/v1/providers", "key-c", `{"alias":"A"}`)
			if replay.Body.String() != first.Body.String() || replay.Header().Get("Idempotency-Replay") != "true" {
				t.Errorf("after the first finished: %d %s", replay.Code, replay.Body)
			}
			if n := s.effects.Load(); n != 1 {
				t.Errorf("%d side effects, want 1", n)
			}
		})
		t.Run("many at once", func(t *testing.T) {
			s := newIdemServer(t, open(t))
			close(s.release)
			const n = 12
			var wg sync.WaitGroup
			results := make([]*httptest.ResponseRecorder, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = s.post("/api/v1/providers", "key-many", `{"alias":"A"}`)
				}()
			}
			close(start)
			wg.Wait()
			if got := s.effects.Load(); got != 1 {
				t.Fatalf("%d side effects, want 1", got)
			}
			var body string
			for _, w := range results {
				switch w.Code {
				case http.StatusCreated:
					if body != "" && w.Body.String() != body {
						t.Errorf("two different answers: %s and %s", body, w.Body)
					}
					body = w.Body.String()
				case http.StatusConflict:
					problemOf(t, w, http.StatusConflict, "IDEMPOTENCY_IN_PROGRESS")
				default:
					t.Errorf("unexpected %d %s", w.Code, w.Body)
				}
			}
		})
	})
}

// The same key with another request (body, or path under the same route) is 422
// IDEMPOTENCY_KEY_REUSED naming the header, and changes nothing.
func TestIdempotencyKeyReusedWithAnotherRequest(t *testing.T) {
	t.Parallel()
	idemDatabases(t, func(t *testing.T, open func(testing.TB) *persistence.DB) {
		s := newIdemServer(t, open(t))
		s.post("/api/v1/providers", "key-r", `{"alias":"A"}`)
		for name, w := range map[string]*httptest.ResponseRecorder{
			"another body":             s.post("/api/v1/providers", "key-r", `{"alias":"B"}`),
			"same body, other spacing": s.post("/api/v1/providers", "key-r", `{"alias": "A"}`),
			"another query":            s.post("/api/v1/providers?x=1", "key-r", `{"alias":"A"}`),
		} {
			t.Run(name, func(t *testing.T) {
				p := problemOf(t, w, http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
				if len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
					t.Errorf("errors %+v, want one naming Idempotency-Key", p.Errors)
				}
			})
		}
		s.send("PATCH", "/api/v1/providers/p1", "key-p", `{"alias":"A"}`)
		problemOf(t, s.send("PATCH", "/api/v1/providers/p2", "key-p", `{"alias":"A"}`), http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
		if n := s.effects.Load(); n != 2 {
			t.Errorf("%d side effects, want 2", n)
		}
	})
}

// Keys are scoped to the caller: another user's (or another anonymous IP's)
// identical key is another record.
func TestIdempotencyKeysAreScopedToTheCaller(t *testing.T) {
	t.Parallel()
	s := newIdemServer(t, dbtest.SQLite(t))
	a := s.post("/api/v1/providers", "shared", `{"alias":"A"}`)
	b := s.post("/api/v1/providers", "shared", `{"alias":"A"}`, headerTestUser, testUser(2))
	if b.Header().Get("Idempotency-Replay") != "" || b.Body.String() == a.Body.String() {
		t.Errorf("user 2 got user 1's answer: %s", b.Body)
	}
	anon := func(ip string) *httptest.ResponseRecorder {
		return do(s.h, req{method: "POST", path: "/api/v1/users", body: `{"email":"a@example.com"}`, remoteAddr: ip + ":1",
			header: map[string]string{"Idempotency-Key": "shared"}})
	}
	c := anon("198.51.100.1")
	d := anon("198.51.100.2")
	if d.Header().Get("Idempotency-Replay") != "" || c.Code != http.StatusCreated || d.Code != http.StatusCreated {
		t.Errorf("anonymous callers from two IPs share a key: %d, %d %v", c.Code, d.Code, d.Header())
	}
	if e := anon("198.51.100.1"); e.Header().Get("Idempotency-Replay") != "true" {
		t.Error("the same anonymous IP does not get its replay")
	}
	if n := s.effects.Load(); n != 4 {
		t.Errorf("%d side effects, want 4", n)
	}
}

// Answers of 500 and above are not stored, so a retry runs again; nor is a
// claim left behind by a panicking handler.
func TestIdempotencyDoesNotStoreServerErrors(t *testing.T) {
	t.Parallel()
	s := newIdemServer(t, dbtest.SQLite(t))
	problemOf(t, s.post("/api/v1/providers", "key-5", `{"alias":"A"}`, "X-Test-Fail", "1"), http.StatusInternalServerError, "INTERNAL_ERROR")
	problemOf(t, s.post("/api/v1/providers", "key-5", `{"alias":"A"}`, "X-Test-Panic", "1"), http.StatusInternalServerError, "INTERNAL_ERROR")
	ok := s.post("/api/v1/providers", "key-5", `{"alias":"A"}`)
	if ok.Code != http.StatusCreated || ok.Header().Get("Idempotency-Replay") != "" {
		t.Fatalf("retry after 500s: %d %s", ok.Code, ok.Body)
	}
	if replay := s.post("/api/v1/providers", "key-5", `{"alias":"A"}`); replay.Header().Get("Idempotency-Replay") != "true" {
		t.Error("the successful retry was not stored")
	}
	if n := s.effects.Load(); n != 1 {
		t.Errorf("%d side effects, want 1", n)
	}
}

// Client errors are outcomes too: replayed as they were.
func TestIdempotencyReplaysClientErrors(t *testing.T) {
	t.Parallel()
	s := newIdemServer(t, dbtest.SQLite(t))
	first := s.post("/api/v1/providers", "key-4", `{"alias":"A"}`, "X-Test-Conflict", "1")
	second := s.post("/api/v1/providers", "key-4", `{"alias":"A"}`, "X-Test-Conflict", "1")
	if first.Code != http.StatusConflict || second.Code != http.StatusConflict || second.Body.String() != first.Body.String() ||
		second.Header().Get("Idempotency-Replay") != "true" || second.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("4xx replay: %d %s %v", second.Code, second.Body, second.Header())
	}
	if n := s.effects.Load(); n != 1 {
		t.Errorf("%d side effects, want 1", n)
	}
}

// Requests the middleware leaves alone: no key, other methods, the operations
// that mint tokens (never stored), and successful answers marked no-store.
func TestIdempotencyPassThrough(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		method, path string
		key          string
	}{
		{"no key", "POST", "/api/v1/providers", ""},
		{"PUT is idempotent anyway", "PUT", "/api/v1/providers/p1", "k"},
		{"login carries tokens", "POST", "/api/v1/sessions", "k"},
		{"login ignores even a malformed key", "POST", "/api/v1/sessions", strings.Repeat("x", 300)},
		{"a no-store answer (OAuth state) is not kept", "POST", "/api/v1/providers/p1/authorization", "k"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newIdemServer(t, dbtest.SQLite(t))
			a := s.send(tc.method, tc.path, tc.key, `{"alias":"A"}`)
			b := s.send(tc.method, tc.path, tc.key, `{"alias":"A"}`)
			if a.Code >= 300 || b.Code >= 300 || b.Header().Get("Idempotency-Replay") != "" {
				t.Fatalf("%d, %d (replay %q)", a.Code, b.Code, b.Header().Get("Idempotency-Replay"))
			}
			if n := s.effects.Load(); n != 2 {
				t.Errorf("%d side effects, want 2", n)
			}
		})
	}
}

// A key must be one header of 1 to 255 printable ASCII characters; anything
// else is a 422 naming the header.
func TestIdempotencyKeyFormat(t *testing.T) {
	t.Parallel()
	s := newIdemServer(t, dbtest.SQLite(t))
	for name, keys := range map[string][]string{
		"empty":        {""},
		"too long":     {strings.Repeat("k", 256)},
		"not ASCII":    {"clé"},
		"control char": {"a\x01b"},
		"two keys":     {"a", "b"},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/providers", strings.NewReader(`{}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set(headerTestUser, testUser(1))
			r.Header["Idempotency-Key"] = keys
			w := httptest.NewRecorder()
			s.h.ServeHTTP(w, r)
			p := problemOf(t, w, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
			if len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
				t.Errorf("errors %+v", p.Errors)
			}
		})
	}
	if w := s.post("/api/v1/providers", strings.Repeat("k", 255), `{}`); w.Code != http.StatusCreated {
		t.Errorf("a 255-character key: %d", w.Code)
	}
	if w := s.post("/api/v1/providers", "0193a5b0-7c1e-7000-8000-000000000001 ~!", `{}`); w.Code != http.StatusCreated {
		t.Errorf("a key of printable ASCII: %d", w.Code)
	}
	if n := s.effects.Load(); n != 2 {
		t.Errorf("%d side effects, want 2", n)
	}
}

// After 24 hours a key is forgotten: the same request runs again.
func TestIdempotencyRecordsExpire(t *testing.T) {
	t.Parallel()
	s := newIdemServer(t, dbtest.SQLite(t))
	s.post("/api/v1/providers", "key-e", `{"alias":"A"}`)
	s.clock.Add(24 * time.Hour)
	w := s.post("/api/v1/providers", "key-e", `{"alias":"B"}`)
	if w.Code != http.StatusCreated || w.Header().Get("Idempotency-Replay") != "" {
		t.Fatalf("after 24h: %d %s", w.Code, w.Body)
	}
	if n := s.effects.Load(); n != 2 {
		t.Errorf("%d side effects, want 2", n)
	}
}

// A database that cannot be reached makes keyed requests 503, without running
// the handler.
func TestIdempotencyStoreDown(t *testing.T) {
	t.Parallel()
	db := dbtest.SQLite(t)
	s := newIdemServer(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	problemOf(t, s.post("/api/v1/providers", "key-d", `{"alias":"A"}`), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if n := s.effects.Load(); n != 0 {
		t.Errorf("%d side effects, want 0", n)
	}
}
