package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

type authorizationJSON struct {
	Status           string     `json:"status"`
	IsAuthorized     bool       `json:"is_authorized"`
	AuthorizedAt     *time.Time `json:"authorized_at"`
	TokenExpiresAt   *time.Time `json:"token_expires_at"`
	RefreshExpiresAt *time.Time `json:"refresh_expires_at"`
	RefreshedAt      *time.Time `json:"refreshed_at"`
}

type startJSON struct {
	Flow             string `json:"flow"`
	AuthorizationURL string `json:"authorization_url"`
	LinkToken        string `json:"link_token"`
	State            string `json:"state"`
}

// pathOf strips scheme and host, so a URL meant for a browser can be replayed
// against the in-process handler.
func pathOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func startAuthorization(t *testing.T, h *apitest.Harness, token, providerID string) startJSON {
	t.Helper()
	var s startJSON
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + providerID + "/authorization", Token: token}).Expect(t, 201)
	res.JSON(t, &s)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	return s
}

// sandboxCallback follows the sandbox consent page and returns the callback path
// it redirects to.
func sandboxCallback(t *testing.T, h *apitest.Harness, authorizationURL string) string {
	t.Helper()
	res := h.Do(apitest.Request{Method: "GET", Path: pathOf(t, authorizationURL)}).Expect(t, http.StatusFound)
	return pathOf(t, res.Header.Get("Location"))
}

type relayJSON struct {
	ProviderID   string `json:"provider_id"`
	State        string `json:"state"`
	Code         string `json:"code"`
	CompleteWith string `json:"complete_with"`
}

// arrive is the browser arriving at a callback: it gets the values to relay
// and nothing is completed.
func arrive(t *testing.T, h *apitest.Harness, callback string) relayJSON {
	t.Helper()
	var r relayJSON
	res := h.Do(apitest.Request{Method: "GET", Path: callback}).Expect(t, 200)
	res.JSON(t, &r)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("callback Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	return r
}

// relay is the client that started the flow completing it with what the
// callback handed over, under its user's bearer.
func relay(t *testing.T, h *apitest.Harness, token string, r relayJSON, status int) *apitest.Response {
	t.Helper()
	return h.Do(apitest.Request{Method: "POST", Path: r.CompleteWith, Token: token,
		Body: map[string]any{"state": r.State, "code": r.Code}}).Expect(t, status)
}

// complete is arrive then relay, expecting the grant to land.
func complete(t *testing.T, h *apitest.Harness, token, callback string) authorizationJSON {
	t.Helper()
	var a authorizationJSON
	relay(t, h, token, arrive(t, h, callback), 200).JSON(t, &a)
	return a
}

// The whole sandbox journey of issue 5 in-process: connect, callback, status,
// refresh, revoke.
func TestSandboxAuthorizationJourney(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	token := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, token, "Sandbox")
	base := "/api/v1/providers/" + p.ID + "/authorization"

	h.Do(apitest.Request{Method: "GET", Path: base, Token: token}).Expect(t, 404)
	s := startAuthorization(t, h, token, p.ID)
	if s.Flow != "redirect" || !strings.HasPrefix(s.AuthorizationURL, "http://dashtam.test/sandbox/oauth/authorize?") {
		t.Fatalf("start = %+v", s)
	}
	var a authorizationJSON
	h.Do(apitest.Request{Method: "GET", Path: base, Token: token}).Expect(t, 200).JSON(t, &a)
	if a.Status != "pending" || a.IsAuthorized {
		t.Errorf("before the callback: %+v", a)
	}

	callback := sandboxCallback(t, h, s.AuthorizationURL)
	if !strings.HasPrefix(callback, "/api/v1/oauth/sandbox/callback?") {
		t.Fatalf("callback = %q", callback)
	}
	r := arrive(t, h, callback)
	if r.ProviderID != p.ID || r.State == "" || r.Code == "" || r.CompleteWith != base+"/callback" {
		t.Fatalf("the callback handed over %+v", r)
	}
	h.Do(apitest.Request{Method: "GET", Path: base, Token: token}).Expect(t, 200).JSON(t, &a)
	if a.Status != "pending" {
		t.Fatalf("the callback alone changed the authorization: %+v", a)
	}
	relay(t, h, token, r, 200).JSON(t, &a)
	if a.Status != "active" || !a.IsAuthorized || a.TokenExpiresAt == nil || a.AuthorizedAt == nil {
		t.Fatalf("after the relay: %+v", a)
	}
	var prov providerJSON
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + p.ID, Token: token}).Expect(t, 200).JSON(t, &prov)
	if prov.ConnectionStatus != "active" {
		t.Errorf("provider connection_status = %q", prov.ConnectionStatus)
	}

	var refreshed struct {
		TokenExpiresAt *time.Time `json:"token_expires_at"`
		RefreshedAt    time.Time  `json:"refreshed_at"`
	}
	h.Do(apitest.Request{Method: "PATCH", Path: base, Token: token}).Expect(t, 200).JSON(t, &refreshed)
	if refreshed.RefreshedAt.IsZero() || refreshed.TokenExpiresAt == nil {
		t.Errorf("refresh = %+v", refreshed)
	}

	h.Do(apitest.Request{Method: "DELETE", Path: base, Token: token}).Expect(t, 204)
	h.Do(apitest.Request{Method: "GET", Path: base, Token: token}).Expect(t, 200).JSON(t, &a)
	if a.Status != "revoked" || a.IsAuthorized || a.TokenExpiresAt != nil {
		t.Errorf("after revoke: %+v", a)
	}
	h.Do(apitest.Request{Method: "PATCH", Path: base, Token: token}).Expect(t, 409)
	assertNoSecretsLogged(t, h, token)

	// Every call to the sandbox was timed: start, callback, refresh, revoke.
	metrics := string(h.Do(apitest.Request{Method: "GET", Path: "/metrics"}).Expect(t, 200).Body)
	for _, op := range []string{"begin", "complete", "refresh", "revoke"} {
		want := `provider_call_duration_seconds_count{operation="` + op + `",outcome="ok",provider="sandbox"} 1`
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A replayed, expired, foreign or forged state is 400 and changes nothing,
// whether it arrives at a callback or is relayed; each has its own problem
// code (hardening item 4: an expired and a replayed code are told apart).
func TestAuthorizationStateAttacks(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Now().UTC())
	h := apitest.New(t, apitest.Options{Clock: clock})
	alice := verifiedUser(t, h, "alice@example.com")
	bob := verifiedUser(t, h, "bob@example.com")
	pa, _ := createProvider(t, h, alice, "Alice sandbox")
	pb, _ := createProvider(t, h, bob, "Bob sandbox")
	status := func(token, id string) string {
		var a authorizationJSON
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + id + "/authorization", Token: token}).Expect(t, 200).JSON(t, &a)
		return a.Status
	}
	problem := func(res *apitest.Response, want string) {
		t.Helper()
		if got := res.Problem(t).Code; got != want {
			t.Errorf("problem code %q, want %q", got, want)
		}
	}

	t.Run("forged state", func(t *testing.T) {
		startAuthorization(t, h, alice, pa.ID)
		problem(h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/sandbox/callback?code=C0.x%40&state=forged"}).Expect(t, 400), "INVALID_AUTHORIZATION_STATE")
		problem(relay(t, h, alice, relayJSON{CompleteWith: "/api/v1/providers/" + pa.ID + "/authorization/callback", State: "forged", Code: "C0.x@"}, 400), "INVALID_AUTHORIZATION_STATE")
		if status(alice, pa.ID) != "pending" {
			t.Error("a forged state changed the authorization")
		}
	})
	t.Run("state of another user's provider on this provider's callback", func(t *testing.T) {
		sb := startAuthorization(t, h, bob, pb.ID)
		cb, _ := url.Parse(sandboxCallback(t, h, sb.AuthorizationURL))
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + pa.ID + "/authorization/callback?" + cb.RawQuery}).Expect(t, 400)
		problem(relay(t, h, alice, relayJSON{CompleteWith: "/api/v1/providers/" + pa.ID + "/authorization/callback",
			State: cb.Query().Get("state"), Code: cb.Query().Get("code")}, 400), "INVALID_AUTHORIZATION_STATE")
		if status(bob, pb.ID) != "pending" || status(alice, pa.ID) != "pending" {
			t.Error("a foreign state changed an authorization")
		}
		// Bob's own per-provider callback still works with it: nothing was used up.
		r := arrive(t, h, "/api/v1/providers/"+pb.ID+"/authorization/callback?"+cb.RawQuery)
		if r.ProviderID != pb.ID {
			t.Errorf("relay = %+v, want Bob's provider", r)
		}
	})
	t.Run("replayed state", func(t *testing.T) {
		s := startAuthorization(t, h, alice, pa.ID)
		cb := sandboxCallback(t, h, s.AuthorizationURL)
		r := arrive(t, h, cb)
		arrive(t, h, cb) // the callback alone uses nothing up
		relay(t, h, alice, r, 200)
		problem(relay(t, h, alice, r, 400), "AUTHORIZATION_ALREADY_USED")
		problem(h.Do(apitest.Request{Method: "GET", Path: cb}).Expect(t, 400), "AUTHORIZATION_ALREADY_USED")
		if status(alice, pa.ID) != "active" {
			t.Error("a replay changed the authorization")
		}
	})
	t.Run("state of a replaced attempt", func(t *testing.T) {
		first := startAuthorization(t, h, bob, pb.ID)
		cb := sandboxCallback(t, h, first.AuthorizationURL)
		r := arrive(t, h, cb)
		startAuthorization(t, h, bob, pb.ID)
		problem(h.Do(apitest.Request{Method: "GET", Path: cb}).Expect(t, 400), "INVALID_AUTHORIZATION_STATE")
		problem(relay(t, h, bob, r, 400), "INVALID_AUTHORIZATION_STATE")
	})
	t.Run("expired state", func(t *testing.T) {
		s := startAuthorization(t, h, bob, pb.ID)
		cb := sandboxCallback(t, h, s.AuthorizationURL)
		r := arrive(t, h, cb)
		clock.Advance(10*time.Minute + time.Second)
		problem(h.Do(apitest.Request{Method: "GET", Path: cb}).Expect(t, 400), "AUTHORIZATION_EXPIRED")
		problem(relay(t, h, bob, r, 400), "AUTHORIZATION_EXPIRED")
	})
	t.Run("state at another provider type's fixed callback", func(t *testing.T) {
		s := startAuthorization(t, h, bob, pb.ID)
		cb, _ := url.Parse(sandboxCallback(t, h, s.AuthorizationURL))
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/schwab/callback?" + cb.RawQuery}).Expect(t, 400)
	})
	t.Run("a relay needs exactly one of code and public_token", func(t *testing.T) {
		path := "/api/v1/providers/" + pb.ID + "/authorization/callback"
		for _, body := range []map[string]any{
			{"state": "x"},
			{"state": "x", "code": "c", "public_token": "p"},
		} {
			h.Do(apitest.Request{Method: "POST", Path: path, Token: bob, Body: body}).Expect(t, 422)
		}
	})
	t.Run("missing state is 422", func(t *testing.T) {
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/sandbox/callback?code=x"}).Expect(t, 422)
	})
	t.Run("another user cannot start, read, refresh, revoke or complete", func(t *testing.T) {
		for _, m := range []string{"POST", "GET", "PATCH", "DELETE"} {
			h.Do(apitest.Request{Method: m, Path: "/api/v1/providers/" + pa.ID + "/authorization", Token: bob}).Expect(t, 404)
		}
		relay(t, h, bob, relayJSON{CompleteWith: "/api/v1/providers/" + pa.ID + "/authorization/callback", State: "x", Code: "c"}, 404)
		if status(alice, pa.ID) != "active" {
			t.Error("bob changed alice's authorization")
		}
	})
}

func schwabHarness(t *testing.T) (*apitest.Harness, *schwabfake.Server, *fakeclock.Clock) {
	t.Helper()
	clock := fakeclock.New(time.Now().UTC().Truncate(time.Second))
	fake := schwabfake.New(schwabfake.Config{Clock: clock})
	t.Cleanup(fake.Close)
	h := apitest.New(t, apitest.Options{Clock: clock, Env: map[string]string{
		"SCHWAB_CLIENT_ID":     fake.Config().ClientID,
		"SCHWAB_CLIENT_SECRET": fake.Config().ClientSecret,
		"SCHWAB_REDIRECT_URL":  fake.Config().RedirectURL,
		"SCHWAB_AUTH_URL":      fake.AuthURL(),
		"SCHWAB_TOKEN_URL":     fake.TokenURL(),
		"SCHWAB_API_BASE_URL":  fake.APIBaseURL(),
		"PROVIDER_TIMEOUT":     "300ms",
	}})
	return h, fake, clock
}

// connectSchwab runs the redirect flow against the fake Schwab, the way a browser
// would: the fake's consent page redirects to the registered callback URL.
func connectSchwab(t *testing.T, h *apitest.Harness, fake *schwabfake.Server, token, providerID string) {
	t.Helper()
	s := startAuthorization(t, h, token, providerID)
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(s.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	loc := res.Header.Get("Location")
	if !strings.Contains(loc, "%40") {
		t.Fatalf("fake Schwab's callback %q has no %%40-encoded code", loc)
	}
	if a := complete(t, h, token, pathOf(t, loc)); a.Status != "active" {
		t.Fatalf("after the relay: %+v", a)
	}
}

func TestSchwabAuthorization(t *testing.T) {
	t.Parallel()
	h, fake, clock := schwabHarness(t)
	token := verifiedUser(t, h, "ann@example.com")
	var p providerJSON
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "schwab", "alias": "Brokerage"}}).Expect(t, 201).JSON(t, &p)
	base := "/api/v1/providers/" + p.ID + "/authorization"
	connectSchwab(t, h, fake, token, p.ID)

	t.Run("the code with %40 reached Schwab decoded exactly once", func(t *testing.T) {
		reqs := fake.TokenRequests()
		code := reqs[len(reqs)-1].Code()
		if !strings.HasSuffix(code, "@") || strings.Contains(code, "%") {
			t.Errorf("code at the token endpoint = %q", code)
		}
	})
	t.Run("the token columns hold no token", func(t *testing.T) {
		var n int64
		h.App.DB.Gorm.Raw("SELECT COUNT(*) FROM authorizations WHERE access_token_ct IS NOT NULL").Scan(&n)
		if n != 1 {
			t.Fatalf("%d encrypted rows", n)
		}
	})
	t.Run("institution failures are 502/504 and store nothing", func(t *testing.T) {
		var before authorizationJSON
		h.Do(apitest.Request{Method: "GET", Path: base, Token: token}).Expect(t, 200).JSON(t, &before)
		for fault, want := range map[string]struct {
			f      fakekit.Fault
			status int
		}{
			"slow":      {fakekit.Slow(2 * time.Second), 504},
			"500":       {fakekit.Status500(), 502},
			"malformed": {fakekit.Malformed(), 502},
			"huge":      {fakekit.Huge(), 502},
		} {
			t.Run(fault, func(t *testing.T) {
				fake.SetFault(want.f)
				defer fake.ClearFault()
				start := time.Now()
				res := h.Do(apitest.Request{Method: "PATCH", Path: base, Token: token}).Expect(t, want.status)
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("took %v, over the 300ms budget", took)
				}
				if body := string(res.Body); strings.Contains(body, "error_description") || strings.Contains(strings.ToLower(body), "schwab") {
					t.Errorf("institution text leaked: %s", body)
				}
				var after authorizationJSON
				h.Do(apitest.Request{Method: "GET", Path: base, Token: token}).Expect(t, 200).JSON(t, &after)
				if after.Status != "active" || !after.TokenExpiresAt.Equal(*before.TokenExpiresAt) {
					t.Errorf("a failed refresh changed the authorization: %+v", after)
				}
			})
		}
	})
	t.Run("refresh after 7 days from consent needs re-authorization", func(t *testing.T) {
		h.Do(apitest.Request{Method: "PATCH", Path: base, Token: token}).Expect(t, 200)
		clock.Advance(7*24*time.Hour + time.Minute)
		token = login(t, h, "ann@example.com", pw).AccessToken // a week later, a new login
		calls := fake.Calls(schwabfake.PathToken)
		res := h.Do(apitest.Request{Method: "PATCH", Path: base, Token: token}).Expect(t, 409)
		if res.Problem(t).Code != "REAUTHORIZATION_REQUIRED" {
			t.Errorf("problem = %s", res.Body)
		}
		if fake.Calls(schwabfake.PathToken) != calls {
			t.Error("Schwab was called past the 7-day cap")
		}
		var a authorizationJSON
		h.Do(apitest.Request{Method: "GET", Path: base, Token: token}).Expect(t, 200).JSON(t, &a)
		if a.Status != "reauthorization_required" || a.IsAuthorized {
			t.Errorf("status = %+v", a)
		}
		// Consenting again makes it active.
		connectSchwab(t, h, fake, token, p.ID)
	})
	t.Run("invalid_grant on refresh needs re-authorization", func(t *testing.T) {
		fake.SetFault(schwabfake.InvalidGrant())
		defer fake.ClearFault()
		h.Do(apitest.Request{Method: "PATCH", Path: base, Token: token}).Expect(t, 409)
	})
	t.Run("a code Schwab refuses is AUTHORIZATION_CODE_REJECTED and uses the attempt up", func(t *testing.T) {
		s := startAuthorization(t, h, token, p.ID)
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(s.AuthorizationURL)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		r := arrive(t, h, pathOf(t, res.Header.Get("Location")))
		good := r.Code
		r.Code = "C0.expired@"
		if got := relay(t, h, token, r, 400).Problem(t).Code; got != "AUTHORIZATION_CODE_REJECTED" {
			t.Errorf("a refused code: problem code %q, want AUTHORIZATION_CODE_REJECTED", got)
		}
		r.Code = good
		if got := relay(t, h, token, r, 400).Problem(t).Code; got != "AUTHORIZATION_ALREADY_USED" {
			t.Errorf("the state again: problem code %q, want AUTHORIZATION_ALREADY_USED", got)
		}
	})
	assertNoSecretsLogged(t, h, token, fake.Config().ClientSecret)
}

func TestPlaidAuthorization(t *testing.T) {
	t.Parallel()
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	h := apitest.New(t, apitest.Options{Env: map[string]string{
		"PLAID_CLIENT_ID": fake.Config().ClientID,
		"PLAID_SECRET":    fake.Config().Secret,
		"PLAID_BASE_URL":  fake.URL,
	}})
	token := verifiedUser(t, h, "ann@example.com")
	var p providerJSON
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "plaid", "alias": "Bank"}}).Expect(t, 201).JSON(t, &p)
	base := "/api/v1/providers/" + p.ID + "/authorization"

	s := startAuthorization(t, h, token, p.ID)
	if s.Flow != "link_token" || s.LinkToken == "" || s.State == "" {
		t.Fatalf("start = %+v", s)
	}
	public, err := fake.CreatePublicToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.Do(apitest.Request{Method: "POST", Path: base + "/callback", Token: token, Body: map[string]any{"state": "forged", "public_token": public}}).Expect(t, 400)
	var a authorizationJSON
	h.Do(apitest.Request{Method: "POST", Path: base + "/callback", Token: token, Body: map[string]any{"state": s.State, "public_token": public}}).Expect(t, 200).JSON(t, &a)
	if a.Status != "active" || !a.IsAuthorized || a.TokenExpiresAt != nil {
		t.Fatalf("after the link: %+v", a)
	}
	h.Do(apitest.Request{Method: "POST", Path: base + "/callback", Token: token, Body: map[string]any{"state": s.State, "public_token": public}}).Expect(t, 400)
	res := h.Do(apitest.Request{Method: "PATCH", Path: base, Token: token}).Expect(t, 409)
	if res.Problem(t).Code != "NOT_SUPPORTED" {
		t.Errorf("problem = %s", res.Body)
	}
	removes := fake.Calls("/item/remove")
	h.Do(apitest.Request{Method: "DELETE", Path: base, Token: token}).Expect(t, 204)
	if fake.Calls("/item/remove") != removes+1 {
		t.Error("DELETE did not call /item/remove")
	}
	assertNoSecretsLogged(t, h, token, fake.Config().Secret, public)
}

// assertNoSecretsLogged fails if any of the secrets, or any provider token the
// service holds, appears in the log.
func assertNoSecretsLogged(t *testing.T, h *apitest.Harness, secrets ...string) {
	t.Helper()
	logs := h.Logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log contains a secret (%d chars)", len(s))
		}
	}
	for _, word := range []string{"access_token\":\"", "refresh_token\":\"", "public-sandbox", "access-sandbox"} {
		if strings.Contains(logs, word) {
			t.Errorf("the log contains %q", word)
		}
	}
}

// Hardening item 7: with AUTHORIZATION_RESULT_URL set, the callback sends the
// browser there (303) with what to relay merged into the page's own query
// string, instead of appending a second "?"; and item 1: it completes nothing.
func TestAuthorizationResultURLKeepsItsOwnQuery(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{
		"AUTHORIZATION_RESULT_URL": "https://app.example/connections?tab=banks&status=stale",
	}})
	token := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, token, "Sandbox")
	callback := sandboxCallback(t, h, startAuthorization(t, h, token, p.ID).AuthorizationURL)
	cb, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	state, code := cb.Query().Get("state"), cb.Query().Get("code")

	arrive := func(name string, want url.Values) {
		t.Helper()
		res := h.Do(apitest.Request{Method: "GET", Path: callback}).Expect(t, http.StatusSeeOther)
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatalf("%s: Location %q: %v", name, res.Header.Get("Location"), err)
		}
		if loc.Scheme != "https" || loc.Host != "app.example" || loc.Path != "/connections" || !reflect.DeepEqual(loc.Query(), want) {
			t.Errorf("%s: Location %s, want https://app.example/connections with %v", name, loc, want)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control = %q", name, res.Header.Get("Cache-Control"))
		}
	}
	handOver := url.Values{"tab": {"banks"}, "status": {"stale"}, "provider_id": {p.ID}, "state": {state}, "code": {code}}
	arrive("arrived", handOver)
	arrive("arrived again", handOver) // nothing was used up
	var a authorizationJSON
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + p.ID + "/authorization/callback", Token: token,
		Body: map[string]any{"state": state, "code": code}}).Expect(t, 200).JSON(t, &a)
	if a.Status != "active" {
		t.Fatalf("after the relay: %+v", a)
	}
	arrive("replayed", url.Values{"tab": {"banks"}, "status": {"stale"}, "error": {"AUTHORIZATION_ALREADY_USED"}})
}

// A developer picks the sandbox user by adding login_hint to the consent URL:
// the document declares it, so it passes validation; a user the sandbox does
// not have is refused.
func TestSandboxConsentAcceptsALoginHint(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	token := verifiedUser(t, h, "hint@example.com")
	p, _ := createProvider(t, h, token, "Sandbox")
	s := startAuthorization(t, h, token, p.ID)
	callback := sandboxCallback(t, h, s.AuthorizationURL+"&login_hint=user_large")
	if !strings.HasPrefix(callback, "/api/v1/oauth/sandbox/callback?") {
		t.Fatalf("callback = %q", callback)
	}
	h.Do(apitest.Request{Method: "GET", Path: pathOf(t, s.AuthorizationURL+"&login_hint=nobody")}).Expect(t, 422)
}
