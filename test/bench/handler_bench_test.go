package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"

	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/bootstrap"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/fakes/fakehash"
)

// BenchmarkHandler measures the real service's handler in process, without the
// network: the router with all its middleware, the use cases and the database,
// as bootstrap builds them (access log to a file at LOG_LEVEL=info), for the
// read scenarios of `make bench`. Its ns/op and allocs/op are the quickest way to
// see what a change to the hot path is worth, and -cpuprofile shows where the
// time goes:
//
//	go test -run '^$' -bench BenchmarkHandler -benchmem -cpu 1 ./test/bench/
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench 'BenchmarkHandler/postgres' -benchmem -cpu 1 -cpuprofile cpu.out ./test/bench/
//
// Argon2id is replaced by a cheap hasher (logins only happen during setup).
func BenchmarkHandler(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			s := newService(b, db == "postgres")
			offset := fmt.Sprintf("/api/v1/providers?page=%d&per_page=20", benchProviders/2/20+1)
			for _, c := range []struct{ name, target string }{
				{"get_provider", "/api/v1/providers/" + s.ids[len(s.ids)/2]},
				{"cursor_page_20", "/api/v1/providers?limit=20&cursor=" + url.QueryEscape(s.cursor)},
				{"offset_page_20", offset},
			} {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					start := processCPU()
					for b.Loop() {
						s.get(b, c.target)
					}
					// CPU time per request: steadier than ns/op on a busy machine.
					b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
				})
			}
		})
	}
}

const benchProviders = 200

type service struct {
	handler http.Handler
	access  string
	ids     []string
	cursor  string // after row benchProviders/2, newest first
}

// mailbox keeps the last verification token.
type mailbox struct {
	mu    sync.Mutex
	token string
}

var tokenInLink = regexp.MustCompile(`[?&]token=([^\s&]+)`)

func (m *mailbox) Send(_ context.Context, msg identityapp.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := tokenInLink.FindStringSubmatch(msg.Text); t != nil {
		m.token, _ = url.QueryUnescape(t[1])
	}
	return nil
}

func newService(b *testing.B, postgres bool) *service {
	b.Helper()
	dir := b.TempDir()
	env := map[string]string{
		"DATA_DIR":         dir,
		"PUBLIC_BASE_URL":  "http://dashtam.bench",
		"LOG_LEVEL":        "info",
		"RATE_LIMIT_AUTH":  "1000000000-M",
		"RATE_LIMIT_READ":  "1000000000-M",
		"RATE_LIMIT_WRITE": "1000000000-M",
	}
	if postgres {
		_, u := dbtest.PostgresWithURL(b)
		env["DATABASE_URL"] = u
	}
	logFile, err := os.Create(filepath.Join(dir, "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = logFile.Close() })
	cfg, log, err := bootstrap.Setup(func(k string) string { return env[k] }, logFile)
	if err != nil {
		b.Fatal(err)
	}
	mail := &mailbox{}
	app, err := bootstrap.Build(context.Background(), cfg, log, bootstrap.Overrides{Mailer: mail, Hasher: fakehash.Hasher{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Close() })
	background, err := app.StartBackground(context.Background()) // the session listener and jobs, as serve runs them
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = background.Stop(context.Background()) })
	s := &service{handler: app.Handler}

	const email, password = "bench@example.com", "Bench-Passw0rd-1234"
	s.send(b, http.MethodPost, "/api/v1/users", map[string]string{"email": email, "password": password, "name": "Bench"}, http.StatusCreated, nil)
	s.send(b, http.MethodPost, "/api/v1/email-verifications", map[string]string{"token": mail.token}, http.StatusOK, nil)
	var g struct {
		AccessToken string `json:"access_token"`
	}
	s.send(b, http.MethodPost, "/api/v1/sessions", map[string]string{"email": email, "password": password}, http.StatusCreated, &g)
	s.access = g.AccessToken
	for i := range benchProviders {
		var p struct {
			ID string `json:"id"`
		}
		s.send(b, http.MethodPost, "/api/v1/providers", map[string]string{"provider_key": "sandbox", "alias": fmt.Sprintf("seed-%04d", i)}, http.StatusCreated, &p)
		s.ids = append(s.ids, p.ID)
	}
	path := "/api/v1/providers?limit=20"
	for range benchProviders / 2 / 20 {
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		s.send(b, http.MethodGet, path, nil, http.StatusOK, &page)
		s.cursor = page.NextCursor
		path = "/api/v1/providers?limit=20&cursor=" + url.QueryEscape(page.NextCursor)
	}
	return s
}

// send makes one request through the handler and decodes the answer into out.
func (s *service) send(b *testing.B, method, target string, body any, want int, out any) {
	b.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if s.access != "" {
		r.Header.Set("Authorization", "Bearer "+s.access)
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	if w.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, target, w.Code, want, w.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			b.Fatal(err)
		}
	}
}

// processCPU is the CPU time the process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func (s *service) get(b *testing.B, target string) {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Authorization", "Bearer "+s.access)
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: status %d: %s", target, w.Code, w.Body.String())
	}
}
