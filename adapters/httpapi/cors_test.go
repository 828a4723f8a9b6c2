package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/dashtam/dashtam/adapters/httpapi"
)

const appOrigin = "https://app.example.com"

// corsEngine installs CORS before the rate limiter, as the router does, with
// a recording limiter to prove that preflights are not counted.
func corsEngine(t *testing.T, origins []string) (*gin.Engine, *recordingLimiter) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	rec := &recordingLimiter{}
	r := newEngine(t, log, nil, httpapi.CORSMiddleware(origins, log), httpapi.RateLimitMiddleware(rec, log, maxBody, nil))
	r.GET("/api/v1/providers", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"items": []string{}}) })
	r.POST("/api/v1/providers", func(c *gin.Context) { c.JSON(http.StatusCreated, gin.H{}) })
	r.NoMethod(func(c *gin.Context) { c.AbortWithStatus(http.StatusMethodNotAllowed) })
	return r, rec
}

func preflight(h http.Handler, origin string) *httptest.ResponseRecorder {
	return do(h, req{method: "OPTIONS", path: "/api/v1/providers", header: map[string]string{
		"Origin":                         origin,
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
	}})
}

func TestCORSPreflightFromAnAllowedOrigin(t *testing.T) {
	t.Parallel()
	h, rec := corsEngine(t, []string{appOrigin, "http://localhost:5173"})
	w := preflight(h, appOrigin)
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("preflight: %d %q", w.Code, w.Body)
	}
	hd := w.Header()
	if got := hd.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Errorf("Allow-Origin %q, want the exact origin", got)
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if !slices.Contains(splitList(hd.Get("Access-Control-Allow-Methods")), m) {
			t.Errorf("Allow-Methods %q lacks %s", hd.Get("Access-Control-Allow-Methods"), m)
		}
	}
	for _, name := range []string{"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match", "X-Request-ID"} {
		if !slices.Contains(splitList(hd.Get("Access-Control-Allow-Headers")), name) {
			t.Errorf("Allow-Headers %q lacks %s", hd.Get("Access-Control-Allow-Headers"), name)
		}
	}
	if hd.Get("Access-Control-Max-Age") == "" {
		t.Error("no Access-Control-Max-Age")
	}
	if hd.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed: the API uses bearer tokens, not cookies")
	}
	if !slices.Contains(hd.Values("Vary"), "Origin") {
		t.Errorf("Vary %q lacks Origin", hd.Values("Vary"))
	}
	if w.Header().Get("X-Request-ID") == "" {
		t.Error("preflight lacks X-Request-ID")
	}
	// Repeated preflights are neither authenticated nor counted.
	for range 3 {
		preflight(h, appOrigin)
	}
	if keys := rec.taken(); len(keys) != 0 {
		t.Errorf("preflights were rate limited: %v", keys)
	}
	if w := preflight(h, "http://localhost:5173"); w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("second allowed origin: %d %v", w.Code, w.Header())
	}
}

// A preflight from another origin is refused with a 403 problem and no CORS
// header, so the browser blocks the request.
func TestCORSPreflightFromADisallowedOrigin(t *testing.T) {
	t.Parallel()
	h, _ := corsEngine(t, []string{appOrigin})
	for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com", "null"} {
		w := preflight(h, origin)
		problemOf(t, w, http.StatusForbidden, "ORIGIN_NOT_ALLOWED")
		for name := range w.Header() {
			if strings.HasPrefix(name, "Access-Control-") {
				t.Errorf("%s: refused preflight carries %s", origin, name)
			}
		}
	}
}

// Actual requests: an allowed origin gets its origin echoed and the exposed
// headers; any other origin gets no CORS header (but the answer, which the
// browser hides); Vary: Origin is on both.
func TestCORSActualRequests(t *testing.T) {
	t.Parallel()
	h, _ := corsEngine(t, []string{appOrigin})
	w := do(h, req{method: "GET", path: "/api/v1/providers", header: map[string]string{"Origin": appOrigin}})
	if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("allowed origin: %d %v", w.Code, w.Header())
	}
	exposed := splitList(w.Header().Get("Access-Control-Expose-Headers"))
	for _, name := range []string{"X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
		"Retry-After", "Link", "X-Total-Count", "ETag", "Location", "Idempotency-Replay", "Content-Disposition"} {
		if !slices.Contains(exposed, name) {
			t.Errorf("Expose-Headers %q lacks %s", exposed, name)
		}
	}
	if !slices.Contains(w.Header().Values("Vary"), "Origin") {
		t.Error("no Vary: Origin")
	}
	w = do(h, req{method: "GET", path: "/api/v1/providers", header: map[string]string{"Origin": "https://evil.example.com"}})
	if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Access-Control-Expose-Headers") != "" {
		t.Errorf("other origin: %d %v", w.Code, w.Header())
	}
	if !slices.Contains(w.Header().Values("Vary"), "Origin") {
		t.Error("no Vary: Origin for another origin")
	}
	// Errors carry CORS headers too, so a browser client can read its 4xx.
	w = do(h, req{method: "GET", path: "/api/v1/nowhere", header: map[string]string{"Origin": appOrigin}})
	if w.Code != http.StatusNotFound || w.Header().Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("404 from an allowed origin: %d %v", w.Code, w.Header())
	}
}

// Without ALLOWED_ORIGINS there is no CORS at all: no header on any answer, and
// an OPTIONS request is just a method the resource does not support.
func TestCORSDisabledWithoutOrigins(t *testing.T) {
	t.Parallel()
	h, _ := corsEngine(t, nil)
	w := preflight(h, appOrigin)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("preflight without CORS: %d", w.Code)
	}
	w2 := do(h, req{method: "GET", path: "/api/v1/providers", header: map[string]string{"Origin": appOrigin}})
	for _, res := range []*httptest.ResponseRecorder{w, w2} {
		for name := range res.Header() {
			if strings.HasPrefix(name, "Access-Control-") || name == "Vary" {
				t.Errorf("CORS disabled, yet %s: %v", name, res.Header().Values(name))
			}
		}
	}
}

func TestParseAllowedOrigins(t *testing.T) {
	t.Parallel()
	got, err := httpapi.ParseAllowedOrigins([]string{" https://App.Example.com ", "http://localhost:5173", "https://a.example.com:443", "http://b.example.com:80/", "", "https://c.example.com:8443"})
	want := []string{"https://app.example.com", "http://localhost:5173", "https://a.example.com", "http://b.example.com", "https://c.example.com:8443"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"*", "null", "app.example.com", "ftp://app.example.com", "https://app.example.com/path",
		"https://user:pw@app.example.com", "https://*.example.com", "https://app.example.com?x=1", "https://"} {
		if _, err := httpapi.ParseAllowedOrigins([]string{bad}); err == nil {
			t.Errorf("accepted %q", bad)
		} else if strings.Contains(bad, "pw@") && strings.Contains(err.Error(), "pw") {
			t.Errorf("error reveals credentials: %v", err)
		}
	}
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
