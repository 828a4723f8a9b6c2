// Package schwabfake is an httptest fake of Charles Schwab's OAuth endpoints
// that reproduces the quirks in PROVIDERS.md exactly:
//   - the token endpoint requires HTTP Basic client credentials (401
//     invalid_client otherwise) and refuses credentials in the body;
//   - codes look like "C0.<random>@", so the callback carries "%40" and the
//     code must be decoded exactly once;
//   - codes are single use and live 30 seconds;
//   - refresh tokens die 7 days after the original consent, however often
//     they are used;
//   - errors are {"error", "error_description"};
//   - /authorize redirects back with ?code=...%40&session=<uuid>&state=....
//
// Error descriptions deliberately quote the code or token they refuse, as some
// real servers do, so tests prove connectors keep such text out of errors.
//
// The fake has its own manual clock (Clock) and records every token request
// (TokenRequests). It also serves the Trader API's data endpoints with seeded,
// scriptable accounts, positions and activity (see data.go). It is safe for
// concurrent use.
package schwabfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
)

// Paths served by the fake, as on api.schwabapi.com.
const (
	PathAuthorize = "/v1/oauth/authorize"
	PathToken     = "/v1/oauth/token"
)

// Defaults applied when Config leaves a field at its zero value.
const (
	DefaultClientID     = "fake-app-key"
	DefaultClientSecret = "fake-app-secret-DO-NOT-LEAK"
	DefaultRedirectURL  = "https://dashtam.test/api/v1/oauth/schwab/callback"
	DefaultCodeTTL      = 30 * time.Second
	DefaultAccessTTL    = 30 * time.Minute
	DefaultRefreshTTL   = 7 * 24 * time.Hour
)

// Config configures a fake.
type Config struct {
	// ClientID and ClientSecret are the registered app key and secret.
	ClientID     string
	ClientSecret string
	// RedirectURL is the registered callback; /authorize accepts only this
	// exact value.
	RedirectURL string
	// Clock is the fake's own clock (a new one stopped at time.Now when nil).
	Clock *fakeclock.Clock
	// CodeTTL, AccessTTL and RefreshTTL are the lifetimes of codes, access
	// tokens and refresh tokens (counted from consent).
	CodeTTL    time.Duration
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// RotateRefreshTokens makes each refresh return a new refresh token and
	// retire the old one; by default the same refresh token comes back.
	RotateRefreshTokens bool
	// OmitRefreshTokenOnRefresh leaves refresh_token out of refresh answers.
	OmitRefreshTokenOnRefresh bool
}

// TokenRequest is one request the token endpoint received, as it arrived.
type TokenRequest struct {
	// RawBody is the form body before decoding.
	RawBody string
	// Form is the decoded body.
	Form url.Values
	// BasicAuth reports whether an Authorization: Basic header was present, and
	// BasicUser is its (form-decoded) user part.
	BasicAuth bool
	BasicUser string
}

// Code is the decoded authorization code the request carried.
func (r TokenRequest) Code() string { return r.Form.Get("code") }

type codeGrant struct {
	consent  time.Time
	expires  time.Time
	redirect string
	used     bool
}

type refreshGrant struct {
	consent time.Time
	expires time.Time
}

// Server is a running fake. Its embedded Instrument counts calls per path and
// switches failure modes.
type Server struct {
	*fakekit.Instrument
	// URL is the fake's base URL, like "https://api.schwabapi.com".
	URL string

	cfg   Config
	clock *fakeclock.Clock
	srv   *httptest.Server

	mu       sync.Mutex
	codes    map[string]*codeGrant
	refresh  map[string]*refreshGrant
	requests []TokenRequest
	// access holds every access token issued, with its expiry.
	access map[string]time.Time
	data   dataState
}

// New starts a fake. Call Close when done.
func New(cfg Config) *Server {
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = DefaultClientSecret
	}
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = DefaultRedirectURL
	}
	if cfg.Clock == nil {
		cfg.Clock = fakeclock.New(time.Now())
	}
	if cfg.CodeTTL == 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	s := &Server{
		Instrument: &fakekit.Instrument{},
		cfg:        cfg,
		clock:      cfg.Clock,
		codes:      make(map[string]*codeGrant),
		refresh:    make(map[string]*refreshGrant),
		access:     make(map[string]time.Time),
	}
	s.seedData()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathAuthorize, s.authorize)
	mux.HandleFunc("POST "+PathToken, s.token)
	s.routeData(mux)
	s.srv = httptest.NewServer(s.Wrap(mux))
	s.URL = s.srv.URL
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// Config returns the fake's effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// AuthURL is the fake's authorization endpoint.
func (s *Server) AuthURL() string { return s.URL + PathAuthorize }

// TokenURL is the fake's token endpoint.
func (s *Server) TokenURL() string { return s.URL + PathToken }

// Clock returns the fake's clock; advance it to expire codes and tokens.
func (s *Server) Clock() *fakeclock.Clock { return s.clock }

// TokenRequests returns every request the token endpoint received, oldest
// first, faulted ones excluded.
func (s *Server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.requests...)
}

// InvalidGrant is a fault that makes the token endpoint refuse every grant with
// 400 invalid_grant.
func InvalidGrant() fakekit.Fault {
	return fakekit.Reply(http.StatusBadRequest, "application/json",
		`{"error":"invalid_grant","error_description":"grant refused"}`).OnPath(PathToken)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("client_id") != s.cfg.ClientID:
		http.Error(w, "invalid client_id", http.StatusBadRequest)
		return
	case q.Get("redirect_uri") != s.cfg.RedirectURL:
		http.Error(w, "redirect_uri does not match the registered callback", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code":
		http.Error(w, "unsupported response_type", http.StatusBadRequest)
		return
	}
	now := s.clock.Now()
	code := "C0." + random() + "@"
	s.mu.Lock()
	s.codes[code] = &codeGrant{consent: now, expires: now.Add(s.cfg.CodeTTL), redirect: q.Get("redirect_uri")}
	s.mu.Unlock()

	// Encoded by hand in Schwab's order; the '@' goes out as %40.
	back := s.cfg.RedirectURL + "?code=" + url.QueryEscape(code) + "&session=" + uuid.NewString()
	if state := q.Get("state"); state != "" {
		back += "&state=" + url.QueryEscape(state)
	}
	http.Redirect(w, r, back, http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable body")
		return
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "body is not form-encoded")
		return
	}
	user, pass, basic := r.BasicAuth()
	// Per RFC 6749 section 2.3.1 Basic credentials are form-encoded first.
	user, _ = url.QueryUnescape(user)
	pass, _ = url.QueryUnescape(pass)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, TokenRequest{RawBody: string(raw), Form: form, BasicAuth: basic, BasicUser: user})

	switch {
	case !basic || user != s.cfg.ClientID || pass != s.cfg.ClientSecret:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	case form.Has("client_secret") || form.Has("client_id"):
		oauthError(w, http.StatusBadRequest, "invalid_request", "client credentials belong in the Authorization header")
		return
	}
	now := s.clock.Now()
	switch form.Get("grant_type") {
	case "authorization_code":
		s.exchangeCode(w, form, now)
	case "refresh_token":
		s.refreshToken(w, form, now)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type")
	}
}

// exchangeCode runs with s.mu held.
func (s *Server) exchangeCode(w http.ResponseWriter, form url.Values, now time.Time) {
	code := form.Get("code")
	g, ok := s.codes[code]
	switch {
	case !ok || g.used:
		oauthError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("authorization code %s is invalid or already used", code))
		return
	case !now.Before(g.expires):
		g.used = true
		oauthError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("authorization code %s has expired", code))
		return
	case form.Get("redirect_uri") != g.redirect:
		g.used = true
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	}
	g.used = true
	rt := "RT." + random() + "@"
	s.refresh[rt] = &refreshGrant{consent: g.consent, expires: g.consent.Add(s.cfg.RefreshTTL)}
	s.writeTokens(w, rt)
}

// refreshToken runs with s.mu held.
func (s *Server) refreshToken(w http.ResponseWriter, form url.Values, now time.Time) {
	rt := form.Get("refresh_token")
	g, ok := s.refresh[rt]
	switch {
	case !ok:
		oauthError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("refresh token %s is invalid", rt))
		return
	case !now.Before(g.expires):
		oauthError(w, http.StatusBadRequest, "unsupported_token_type", "refresh token expired: consent again")
		return
	}
	if s.cfg.RotateRefreshTokens {
		delete(s.refresh, rt)
		rt = "RT." + random() + "@"
		s.refresh[rt] = g
	}
	if s.cfg.OmitRefreshTokenOnRefresh {
		rt = ""
	}
	s.writeTokens(w, rt)
}

// writeTokens answers with a new access token and, when refreshToken is not
// empty, that refresh token.
func (s *Server) writeTokens(w http.ResponseWriter, refreshToken string) {
	access := "I0." + random() + "@"
	s.access[access] = s.clock.Now().Add(s.cfg.AccessTTL)
	body := map[string]any{
		"access_token": access,
		"id_token":     fakeJWT(),
		"expires_in":   int(s.cfg.AccessTTL / time.Second),
		"token_type":   "Bearer",
		"scope":        "api",
	}
	if refreshToken != "" {
		body["refresh_token"] = refreshToken
	}
	writeJSON(w, http.StatusOK, body)
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// fakeJWT is shaped like Schwab's id_token; nobody verifies it.
func fakeJWT() string {
	enc := base64.RawURLEncoding.EncodeToString
	return strings.Join([]string{
		enc([]byte(`{"alg":"RS256","typ":"JWT"}`)),
		enc([]byte(`{"sub":"fake-schwab-user"}`)),
		random(),
	}, ".")
}
