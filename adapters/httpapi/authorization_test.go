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
	h.Do(apitest.Request{Method: "GET", Path: callback}).Expect(t, 200).JSON(t, &a)
	if a.Status != "active" || !a.IsAuthorized || a.TokenExpiresAt == nil || a.AuthorizedAt == nil {
		t.Fatalf("after the callback: %+v", a)
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

// A replayed, expired, foreign or forged state is 400 and changes nothing.
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

	t.Run("forged state", func(t *testing.T) {
		startAuthorization(t, h, alice, pa.ID)
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/sandbox/callback?code=C0.x%40&state=forged"}).Expect(t, 400)
		if status(alice, pa.ID) != "pending" {
			t.Error("a forged state changed the authorization")
		}
	})
	t.Run("state of another user's provider on this provider's callback", func(t *testing.T) {
		sb := startAuthorization(t, h, bob, pb.ID)
		cb, _ := url.Parse(sandboxCallback(t, h, sb.AuthorizationURL))
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + pa.ID + "/authorization/callback?" + cb.RawQuery}).Expect(t, 400)
		if status(bob, pb.ID) != "pending" || status(alice, pa.ID) != "pending" {
			t.Error("a foreign state changed an authorization")
		}
		// Bob's own per-provider callback still works with it: nothing was used up.
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + pb.ID + "/authorization/callback?" + cb.RawQuery}).Expect(t, 200)
	})
	t.Run("replayed state", func(t *testing.T) {
		s := startAuthorization(t, h, alice, pa.ID)
		cb := sandboxCallback(t, h, s.AuthorizationURL)
		h.Do(apitest.Request{Method: "GET", Path: cb}).Expect(t, 200)
		h.Do(apitest.Request{Method: "GET", Path: cb}).Expect(t, 400)
		if status(alice, pa.ID) != "active" {
			t.Error("a replay changed the authorization")
		}
	})
	t.Run("state of a replaced attempt", func(t *testing.T) {
		first := startAuthorization(t, h, bob, pb.ID)
		cb := sandboxCallback(t, h, first.AuthorizationURL)
		startAuthorization(t, h, bob, pb.ID)
		h.Do(apitest.Request{Method: "GET", Path: cb}).Expect(t, 400)
	})
	t.Run("expired state", func(t *testing.T) {
		s := startAuthorization(t, h, bob, pb.ID)
		cb := sandboxCallback(t, h, s.AuthorizationURL)
		clock.Advance(10*time.Minute + time.Second)
		h.Do(apitest.Request{Method: "GET", Path: cb}).Expect(t, 400)
	})
	t.Run("state at another provider type's fixed callback", func(t *testing.T) {
		s := startAuthorization(t, h, bob, pb.ID)
		cb, _ := url.Parse(sandboxCallback(t, h, s.AuthorizationURL))
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/schwab/callback?" + cb.RawQuery}).Expect(t, 400)
	})
	t.Run("missing code or state is 422", func(t *testing.T) {
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/sandbox/callback?state=x"}).Expect(t, 422)
	})
	t.Run("another user cannot start, read, refresh or revoke", func(t *testing.T) {
		for _, m := range []string{"POST", "GET", "PATCH", "DELETE"} {
			h.Do(apitest.Request{Method: m, Path: "/api/v1/providers/" + pa.ID + "/authorization", Token: bob}).Expect(t, 404)
		}
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
	var a authorizationJSON
	h.Do(apitest.Request{Method: "GET", Path: pathOf(t, loc)}).Expect(t, 200).JSON(t, &a)
	if a.Status != "active" {
		t.Fatalf("after the callback: %+v", a)
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
// browser there (303) with the outcome merged into the page's own query
// string, instead of appending a second "?".
func TestAuthorizationResultURLKeepsItsOwnQuery(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{
		"AUTHORIZATION_RESULT_URL": "https://app.example/connections?tab=banks&status=stale",
	}})
	token := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, token, "Sandbox")
	callback := sandboxCallback(t, h, startAuthorization(t, h, token, p.ID).AuthorizationURL)

	for _, tc := range []struct {
		name, path string
		want       url.Values
	}{
		{"granted", callback, url.Values{"tab": {"banks"}, "provider_id": {p.ID}, "status": {"active"}}},
		{"replayed", callback, url.Values{"tab": {"banks"}, "status": {"stale"}, "error": {"AUTHORIZATION_ALREADY_USED"}}},
	} {
		res := h.Do(apitest.Request{Method: "GET", Path: tc.path}).Expect(t, http.StatusSeeOther)
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatalf("%s: Location %q: %v", tc.name, res.Header.Get("Location"), err)
		}
		if loc.Scheme != "https" || loc.Host != "app.example" || loc.Path != "/connections" || !reflect.DeepEqual(loc.Query(), tc.want) {
			t.Errorf("%s: Location %s, want https://app.example/connections with %v", tc.name, loc, tc.want)
		}
	}
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
