package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// CORS policy. Browsers send the access token in the Authorization header, not a
// cookie, so credentialed requests (Access-Control-Allow-Credentials) are never
// allowed, and the allowed origin is always echoed exactly, never "*".
var (
	corsAllowMethods = strings.Join([]string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
	}, ", ")
	corsAllowHeaders = strings.Join([]string{
		"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match",
		"If-Modified-Since", headerRequestID,
	}, ", ")
	corsExposeHeaders = strings.Join([]string{
		headerRequestID, headerRateLimit, headerRateRemaining, headerRateReset, headerRetryAfter,
		"Link", "X-Total-Count", "ETag", "Location", headerIdempotencyReplay, headerSyncJoined, "Content-Disposition",
	}, ", ")
)

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
// Chromium caps it at 7200; ten minutes keeps policy changes quick to apply.
const corsMaxAge = 600

// cors applies the cross-origin policy for the exact origins allowed. With no
// allowed origins it does nothing at all: no CORS header is ever sent.
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered here and goes no further: 204 with the allowed methods and headers
// for an allowed origin, a 403 problem for any other (so the refusal is visible
// in the browser's network panel and in the access log). Other requests from an
// allowed origin get Access-Control-Allow-Origin and the exposed headers; from
// any other origin they get no CORS header, and the browser hides the answer.
//
// It must run before authenticate and rateLimit: preflights carry no token and
// are not counted.
func cors(allowed []string, log *slog.Logger) gin.HandlerFunc {
	if len(allowed) == 0 {
		return func(c *gin.Context) { c.Next() }
	}
	origins := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		origins[o] = true
	}
	return func(c *gin.Context) {
		h := c.Writer.Header()
		// Answers differ by origin, so caches must key on it, for every origin.
		h.Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		preflight := c.Request.Method == http.MethodOptions && origin != "" &&
			c.GetHeader("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !origins[origin] {
				writeProblem(c, log, errOriginNotAllowed)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
			h.Set("Cache-Control", "no-store")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		if origin != "" && origins[origin] {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		c.Next()
	}
}

// ParseAllowedOrigins checks ALLOWED_ORIGINS entries and returns them in the
// form browsers send in the Origin header: scheme://host[:port], lower case, no
// path and no trailing slash. "*", "null" and anything with a path, query or
// credentials are refused, each error naming the entry.
func ParseAllowedOrigins(entries []string) ([]string, error) {
	out := make([]string, 0, len(entries))
	for _, raw := range entries {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		u, err := url.Parse(e)
		if err == nil && u.User != nil {
			e = u.Redacted() // never echo a password
		}
		switch {
		case e == "*":
			return nil, fmt.Errorf("origin %q: list the exact origins, a wildcard is not allowed", e)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return nil, fmt.Errorf("origin %q must look like https://app.example.com", e)
		case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(e, "?"):
			return nil, fmt.Errorf("origin %q must be scheme://host[:port], without a path, query or credentials", e)
		case strings.Contains(u.Host, "*"):
			return nil, fmt.Errorf("origin %q: wildcards are not allowed", e)
		}
		host := strings.ToLower(u.Host)
		// Browsers leave out the scheme's default port.
		if (u.Scheme == "https" && strings.HasSuffix(host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(host, ":80")) {
			host = host[:strings.LastIndexByte(host, ':')]
		}
		out = append(out, strings.ToLower(u.Scheme)+"://"+host)
	}
	return out, nil
}
