package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// Helpers shared by the provider journeys, the scale-out, fault and soak tests.

// generousRateLimits lifts the rate limits (ulule/limiter syntax) far above
// anything a test sends, so that only the behaviour under test decides the
// answers. Rate limiting is raised, never switched off.
var generousRateLimits = map[string]string{
	"RATE_LIMIT_AUTH":       "1000000-M",
	"RATE_LIMIT_READ":       "1000000-M",
	"RATE_LIMIT_WRITE":      "1000000-M",
	"RATE_LIMIT_REFRESH":    "1000000-M",
	"RATE_LIMIT_REFRESH_IP": "1000000-M",
	"RATE_LIMIT_WEBHOOK":    "1000000-M",
	"RATE_LIMIT_ADMIN":      "1000000-M",
	// The institution call budgets too: the scale-out test connects and
	// refreshes hundreds of grants of one provider type in one minute.
	"PROVIDER_CALL_BUDGET":      "1000000",
	"PROVIDER_TYPE_CALL_BUDGET": "1000000",
}

// merged returns the union of layers; later layers win.
func merged(layers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, l := range layers {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}

// clusterPublicBaseURL is the PUBLIC_BASE_URL every instance of a test cluster
// shares (the JWT issuer and audience, the origin of emailed links and of the
// sandbox's consent page). Nothing listens there: a test replays such a URL's
// path and query against whichever instance it chooses, as a load balancer in
// front of the cluster would.
const clusterPublicBaseURL = "http://dashtam.test"

// clusterEnv is the environment the instances of one deployment share: one
// database, one pair of keyrings and one PUBLIC_BASE_URL.
func clusterEnv(databaseURL string) map[string]string {
	return merged(sharedKeys(), generousRateLimits, map[string]string{
		"DATABASE_URL":    databaseURL,
		"PUBLIC_BASE_URL": clusterPublicBaseURL,
		// No grace: the cluster's refresh race proves that one of two
		// presentations of a token wins and the other is theft.
		"REFRESH_REUSE_GRACE": "0s",
	})
}

// postgresSchemaURL returns the URL of a fresh, empty Postgres schema (dropped
// when the test ends). The test is skipped when TEST_DATABASE_URL is unset, and
// fails instead under CI=true.
func postgresSchemaURL(t *testing.T) string {
	t.Helper()
	_, u := dbtest.PostgresWithURL(t)
	return u
}

// verifiedSession registers a on in, verifies the email with the link from the
// development mail log line and logs in.
func verifiedSession(t *testing.T, in *Instance, a account) tokenPair {
	t.Helper()
	register(t, in, a)
	mail := in.waitForMail(t, a.Email)
	verifyEmail(t, in, a, verificationToken(t, in, mail.str("body")))
	return login(t, in, a)
}

// requestURI returns the path and query of an absolute URL, so that a URL meant
// for a browser (a callback on the registered host, a consent page on
// PUBLIC_BASE_URL) can be replayed against one instance's own address.
func requestURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	return u.RequestURI(), nil
}

// noRedirects is an HTTP client that reports redirects instead of following
// them, the way a test plays the browser step by step.
var noRedirects = &http.Client{
	Timeout:       requestTimeout,
	Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// redirectTarget GETs rawURL and returns the Location of its 302 answer.
func redirectTarget(rawURL string) (string, error) {
	resp, err := noRedirects.Get(rawURL)
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("GET %s: status %d, want 302; body: %s", rawURL, resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("GET %s: 302 without Location", rawURL)
	}
	return loc, nil
}

// createProviderE adds a provider; it may be called from any goroutine.
func createProviderE(in *Instance, token, key, alias string) (string, error) {
	status, _, body, err := in.request(http.MethodPost, "/api/v1/providers", map[string]string{"provider_key": key, "alias": alias}, token)
	if err != nil {
		return "", err
	}
	id, _ := body["id"].(string)
	if status != http.StatusCreated || id == "" {
		return "", fmt.Errorf("POST /api/v1/providers: status %d, want 201 with an id; body %v", status, body)
	}
	return id, nil
}

// createProvider adds a provider and returns its id.
func createProvider(t *testing.T, in *Instance, token, key, alias string) string {
	t.Helper()
	id, err := createProviderE(in, token, key, alias)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// authorizationPath is the authorization sub-resource of provider id.
func authorizationPath(id string) string { return "/api/v1/providers/" + id + "/authorization" }

// startAuthorizationE starts a redirect flow and returns its authorization_url.
func startAuthorizationE(in *Instance, token, providerID string) (string, error) {
	status, header, body, err := in.request(http.MethodPost, authorizationPath(providerID), nil, token)
	if err != nil {
		return "", err
	}
	u, _ := body["authorization_url"].(string)
	if status != http.StatusCreated || body["flow"] != "redirect" || u == "" {
		return "", fmt.Errorf("start authorization of %s: status %d, body %v; want 201 with a redirect flow", providerID, status, body)
	}
	if cc := header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		return "", fmt.Errorf("start authorization: Cache-Control %q, want no-store", cc)
	}
	return u, nil
}

// arriveAndRelayE replays a callback URL against arrive, as the institution's
// consent page sent the browser there, which hands over what to relay and
// completes nothing; then relays code and state to relay as the client that
// started the flow does, under the bearer token. It returns the decoded answer
// of the relay, which must be 200 with an active authorization.
func arriveAndRelayE(arrive, relay *Instance, callbackURL, token string) (map[string]any, error) {
	uri, err := requestURI(callbackURL)
	if err != nil {
		return nil, err
	}
	status, header, handed, err := arrive.request(http.MethodGet, uri, nil, "")
	if err != nil {
		return nil, err
	}
	to, _ := handed["complete_with"].(string)
	if status != http.StatusOK || !strings.HasPrefix(to, "/api/v1/providers/") || handed["code"] == nil || handed["state"] == nil {
		return nil, fmt.Errorf("callback: status %d, body %v; want 200 with code, state and complete_with", status, handed)
	}
	if cc := header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		return nil, fmt.Errorf("callback: Cache-Control %q, want no-store", cc)
	}
	status, _, body, err := relay.request(http.MethodPost, to, map[string]any{"state": handed["state"], "code": handed["code"]}, token)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK || body["status"] != "active" {
		return nil, fmt.Errorf("relay to %s: status %d, body %v; want 200 and an active authorization", to, status, body)
	}
	return body, nil
}

// connectSchwabE runs the whole Schwab redirect flow for one provider: start on
// in, consent at the fake (which redirects to the registered https callback),
// arrive with that callback's path and query at arrive, and relay what it
// handed over to in with the user's token.
func connectSchwabE(in, arrive *Instance, token, providerID string) error {
	authURL, err := startAuthorizationE(in, token, providerID)
	if err != nil {
		return err
	}
	loc, err := redirectTarget(authURL)
	if err != nil {
		return fmt.Errorf("consent at fake Schwab: %w", err)
	}
	if !strings.HasPrefix(loc, schwabfake.DefaultRedirectURL+"?") {
		return fmt.Errorf("fake Schwab redirected to %q, not to the registered callback", loc)
	}
	_, err = arriveAndRelayE(arrive, in, loc, token)
	return err
}

// authorizationOf GETs a provider's authorization and fails the test unless it
// answers 200.
func authorizationOf(t *testing.T, in *Instance, token, providerID string) map[string]any {
	t.Helper()
	_, body := in.expect(t, http.StatusOK, http.MethodGet, authorizationPath(providerID), nil, token)
	return body
}

// timeField parses an RFC 3339 timestamp field; ok is false when it is null or
// missing.
func timeField(t *testing.T, body map[string]any, key string) (time.Time, bool) {
	t.Helper()
	raw, present := body[key]
	if !present || raw == nil {
		return time.Time{}, false
	}
	s, isString := raw.(string)
	if !isString {
		t.Fatalf("%s = %v, want an RFC 3339 string", key, raw)
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s = %q: %v", key, s, err)
	}
	return ts, true
}

// schwabSetup is a fake Schwab behind a recording tap.
type schwabSetup struct {
	Fake *schwabfake.Server
	Tap  *tokenTap
}

// startSchwab starts a fake Schwab configured with cfg, and a tap in front of its
// token endpoint (see tokenTap). Both stop when the test ends.
func startSchwab(t testing.TB, cfg schwabfake.Config) *schwabSetup {
	t.Helper()
	fake := schwabfake.New(cfg)
	t.Cleanup(fake.Close)
	tap := &tokenTap{upstream: fake.TokenURL(), client: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32}}}
	srv := httptest.NewServer(tap)
	tap.URL = srv.URL
	t.Cleanup(srv.Close)
	return &schwabSetup{Fake: fake, Tap: tap}
}

// Env configures the binary's Schwab connector, and only it, through the SCHWAB_*
// variables: the fake's credentials, its registered https redirect URL, its
// authorization endpoint, (through the tap) its token endpoint, and its data
// API.
func (s *schwabSetup) Env() map[string]string {
	cfg := s.Fake.Config()
	return map[string]string{
		"SCHWAB_CLIENT_ID":     cfg.ClientID,
		"SCHWAB_CLIENT_SECRET": cfg.ClientSecret,
		"SCHWAB_REDIRECT_URL":  cfg.RedirectURL,
		"SCHWAB_AUTH_URL":      s.Fake.AuthURL(),
		"SCHWAB_TOKEN_URL":     s.Tap.URL + schwabfake.PathToken,
		"SCHWAB_API_BASE_URL":  s.Fake.APIBaseURL(),
	}
}

// grants counts the requests the fake's token endpoint received by grant type.
func (s *schwabSetup) grants() (codes, refreshes int) {
	for _, r := range s.Fake.TokenRequests() {
		switch r.Form.Get("grant_type") {
		case "authorization_code":
			codes++
		case "refresh_token":
			refreshes++
		}
	}
	return codes, refreshes
}

// tokenTap sits between the binary and the fake's token endpoint. It forwards
// every request unchanged (method, body, Authorization and Content-Type
// headers, the caller's cancellation) and every answer unchanged, and records
// each token the institution hands out, so a test can prove that none of them
// reaches the log. When RefreshExpiresIn is set, it replaces expires_in in the
// answers to refresh grants (see TestScaleOutBackgroundRefreshExactlyOnce).
type tokenTap struct {
	URL string
	// RefreshExpiresIn, when positive, is the expires_in (seconds) that answers to
	// refresh grants carry instead of the fake's own. Set it before use.
	RefreshExpiresIn int

	upstream string
	client   *http.Client

	mu     sync.Mutex
	issued []string
}

// Issued returns every access, refresh and id token handed out so far.
func (tp *tokenTap) Issued() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]string(nil), tp.issued...)
}

func (tp *tokenTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqBody, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "tap: read request", http.StatusBadGateway)
		return
	}
	up, err := http.NewRequestWithContext(r.Context(), r.Method, tp.upstream, strings.NewReader(string(reqBody)))
	if err != nil {
		http.Error(w, "tap: "+err.Error(), http.StatusBadGateway)
		return
	}
	for _, h := range []string{"Authorization", "Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			up.Header.Set(h, v)
		}
	}
	resp, err := tp.client.Do(up)
	if err != nil {
		if r.Context().Err() != nil {
			return // the binary gave up; so do we
		}
		http.Error(w, "tap: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return
	}
	if resp.StatusCode == http.StatusOK {
		var answer map[string]any
		if json.Unmarshal(body, &answer) == nil {
			tp.mu.Lock()
			for _, k := range []string{"access_token", "refresh_token", "id_token"} {
				if v, ok := answer[k].(string); ok && v != "" {
					tp.issued = append(tp.issued, v)
				}
			}
			tp.mu.Unlock()
			form, _ := url.ParseQuery(string(reqBody))
			if tp.RefreshExpiresIn > 0 && form.Get("grant_type") == "refresh_token" {
				answer["expires_in"] = tp.RefreshExpiresIn
				if b, err := json.Marshal(answer); err == nil {
					body = b
				}
			}
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
