package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// TestSchwabJourneyAgainstFakeSchwab is the Schwab journey of
// adapters/httpapi/authorization_test.go at binary level: the binary is
// configured for Schwab only through the SCHWAB_* variables, pointing at the
// fake (its token endpoint through a recording tap). A person registers,
// verifies the email with the link from the log, logs in, adds a schwab
// provider, starts the authorization, consents at the fake, whose page sends
// the browser to the registered https callback (replayed here against the
// binary's own address, as a browser behind the registered host would arrive),
// refreshes, and revokes. Then the whole log is searched for every secret of the
// journey: none may be there.
func TestSchwabJourneyAgainstFakeSchwab(t *testing.T) {
	t.Parallel()
	sch := startSchwab(t, schwabfake.Config{})
	in := startInstance(t, sch.Env())
	a := newAccount()
	secrets := []secret{
		{name: "password", value: a.Password},
		{name: "Schwab client secret", value: sch.Fake.Config().ClientSecret},
	}

	user := verifiedSession(t, in, a)
	secrets = append(secrets,
		secret{name: "access token", value: user.Access},
		secret{name: "refresh token", value: user.Refresh})

	// The catalog offers Schwab, configured by the environment alone.
	_, schwabType := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/provider-types/schwab", nil, "")
	if schwabType["key"] != "schwab" {
		t.Fatalf("GET /provider-types/schwab = %v", schwabType)
	}

	id := createProvider(t, in, user.Access, "schwab", "Brokerage")
	base := authorizationPath(id)
	in.expect(t, http.StatusNotFound, http.MethodGet, base, nil, user.Access)

	authURL, err := startAuthorizationE(in, user.Access, id)
	if err != nil {
		t.Fatal(err)
	}
	au, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := au.Query()
	if !strings.HasPrefix(authURL, sch.Fake.AuthURL()+"?") || q.Get("client_id") != sch.Fake.Config().ClientID ||
		q.Get("redirect_uri") != schwabfake.DefaultRedirectURL || q.Get("response_type") != "code" || q.Get("state") == "" {
		t.Fatalf("authorization_url = %s: want the fake's authorize endpoint with client_id, the registered redirect_uri, response_type=code and a state", authURL)
	}
	state := q.Get("state")
	secrets = append(secrets, secret{name: "OAuth state", value: state})
	if pending := authorizationOf(t, in, user.Access, id); pending["status"] != "pending" || pending["is_authorized"] != false {
		t.Errorf("before the callback: %v, want pending", pending)
	}

	// Consent: the fake sends the browser to the registered https callback with
	// ?code=C0...%40&session=...&state=...
	callback, err := redirectTarget(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(callback, schwabfake.DefaultRedirectURL+"?") || !strings.Contains(callback, "%40") || !strings.Contains(callback, "&session=") {
		t.Fatalf("consent redirected to %q: want the registered callback with a %%40-encoded code and a session", callback)
	}
	cb, _ := url.Parse(callback)
	code := cb.Query().Get("code")
	rawCode, _, _ := strings.Cut(strings.TrimPrefix(cb.RawQuery, "code="), "&")
	secrets = append(secrets, secret{name: "authorization code", value: code}, secret{name: "authorization code (as sent)", value: rawCode})

	// The callback hands code and state over and completes nothing: the client
	// relays them with its user's bearer (hardening item 1).
	active, err := arriveAndRelayE(in, in, callback, user.Access)
	if err != nil {
		t.Fatal(err)
	}
	expires, ok := timeField(t, active, "token_expires_at")
	if !ok || active["is_authorized"] != true {
		t.Fatalf("after the callback: %v, want authorized with token_expires_at", active)
	}
	if _, ok := timeField(t, active, "authorized_at"); !ok {
		t.Errorf("after the callback: authorized_at is null")
	}
	if d := time.Until(expires); d < 25*time.Minute || d > 31*time.Minute {
		t.Errorf("token_expires_at is %v from now, want about Schwab's 30 minutes", d.Round(time.Second))
	}
	reqs := sch.Fake.TokenRequests()
	if len(reqs) != 1 || reqs[0].Form.Get("grant_type") != "authorization_code" || reqs[0].Code() != code || !reqs[0].BasicAuth {
		t.Fatalf("the fake's token endpoint saw %d requests (first: %+v); want one code exchange with the code decoded exactly once and Basic auth", len(reqs), reqs)
	}
	if !strings.HasSuffix(code, "@") {
		t.Fatalf("code %q: want the fake's C0....@ shape", code)
	}
	_, provider := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers/"+id, nil, user.Access)
	if provider["connection_status"] != "active" {
		t.Errorf("provider connection_status = %v, want active", provider["connection_status"])
	}
	// A replayed callback or relay changes nothing, and says it was a replay.
	uri, _ := requestURI(callback)
	for _, replay := range []struct {
		method, path string
		body         any
		token        string
	}{
		{http.MethodGet, uri, nil, ""},
		{http.MethodPost, base + "/callback", map[string]string{"state": state, "code": code}, user.Access},
	} {
		_, problem := in.expect(t, http.StatusBadRequest, replay.method, replay.path, replay.body, replay.token)
		if problem["code"] != "AUTHORIZATION_ALREADY_USED" {
			t.Errorf("replayed %s %s: problem %v, want code AUTHORIZATION_ALREADY_USED", replay.method, replay.path, problem)
		}
	}

	got := authorizationOf(t, in, user.Access, id)
	if got["status"] != "active" {
		t.Fatalf("GET authorization = %v, want active", got)
	}
	if e, _ := timeField(t, got, "token_expires_at"); !e.Equal(expires) {
		t.Errorf("GET authorization: token_expires_at %v, want %v as the callback said", e, expires)
	}

	// Refresh now: a new expiry.
	header, refreshed := in.expect(t, http.StatusOK, http.MethodPatch, base, nil, user.Access)
	if !strings.Contains(header.Get("Cache-Control"), "no-store") {
		t.Errorf("PATCH authorization: Cache-Control %q, want no-store", header.Get("Cache-Control"))
	}
	newExpires, ok := timeField(t, refreshed, "token_expires_at")
	if !ok || !newExpires.After(expires) {
		t.Errorf("PATCH authorization: token_expires_at %v, want one after %v", newExpires, expires)
	}
	if _, ok := timeField(t, refreshed, "refreshed_at"); !ok {
		t.Errorf("PATCH authorization: refreshed_at is null")
	}
	if _, refreshes := sch.grants(); refreshes != 1 {
		t.Errorf("the fake saw %d refresh grants, want 1", refreshes)
	}
	got = authorizationOf(t, in, user.Access, id)
	if e, _ := timeField(t, got, "token_expires_at"); !e.Equal(newExpires) {
		t.Errorf("after PATCH, GET says token_expires_at %v, want %v", e, newExpires)
	}

	// Revoke.
	in.expect(t, http.StatusNoContent, http.MethodDelete, base, nil, user.Access)
	got = authorizationOf(t, in, user.Access, id)
	if got["status"] != "revoked" || got["is_authorized"] != false || got["token_expires_at"] != nil {
		t.Errorf("after DELETE: %v, want revoked, not authorized, token_expires_at null", got)
	}
	_, provider = in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers/"+id, nil, user.Access)
	if provider["connection_status"] != "revoked" {
		t.Errorf("after DELETE: provider connection_status = %v, want revoked", provider["connection_status"])
	}
	in.expect(t, http.StatusConflict, http.MethodPatch, base, nil, user.Access)

	stopCleanly(t, in)
	issued := sch.Tap.Issued()
	if len(issued) < 5 { // access, refresh and id token at the exchange; access and id token (at least) at the refresh
		t.Fatalf("the tap recorded %d issued tokens, want at least 5", len(issued))
	}
	for i, v := range issued {
		secrets = append(secrets, secret{name: fmt.Sprintf("Schwab-issued token #%d", i+1), value: v})
	}
	secrets = append(secrets, devKeySecrets(t, in.DataDir)...)
	assertLogsKeepSecrets(t, in, secrets)
}

// TestProviderTimeoutAnswers504 lets the fake Schwab hang past PROVIDER_TIMEOUT:
// the refresh answers 504 PROVIDER_TIMEOUT within about that budget (not after
// REQUEST_TIMEOUT), the authorization is left as it was, and the next refresh
// after the institution recovers works.
func TestProviderTimeoutAnswers504(t *testing.T) {
	t.Parallel()
	const budget = 500 * time.Millisecond
	sch := startSchwab(t, schwabfake.Config{})
	in := startInstance(t, merged(sch.Env(), map[string]string{"PROVIDER_TIMEOUT": budget.String()}))
	user := verifiedSession(t, in, newAccount())
	id := createProvider(t, in, user.Access, "schwab", "Brokerage")
	if err := connectSchwabE(in, in, user.Access, id); err != nil {
		t.Fatal(err)
	}
	before := authorizationOf(t, in, user.Access, id)

	sch.Fake.SetFault(fakekit.Slow(30 * time.Second).OnPath(schwabfake.PathToken))
	var slowest time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, problem := in.expect(t, http.StatusGatewayTimeout, http.MethodPatch, authorizationPath(id), nil, user.Access)
		took := time.Since(start)
		slowest = max(slowest, took)
		if problem["code"] != "PROVIDER_TIMEOUT" {
			t.Errorf("problem code = %v, want PROVIDER_TIMEOUT", problem["code"])
		}
		if took < budget {
			t.Errorf("answered 504 after %v, before the %v budget ran out", took, budget)
		}
		// About the budget: generous for a loaded two-core machine, far below the
		// 15 s REQUEST_TIMEOUT and the fake's 30 s hang.
		if took > budget+2500*time.Millisecond {
			t.Errorf("answered 504 after %v, want about the %v budget", took, budget)
		}
	}
	t.Logf("504 after at most %v with PROVIDER_TIMEOUT=%v", slowest.Round(time.Millisecond), budget)
	after := authorizationOf(t, in, user.Access, id)
	if after["status"] != "active" || after["token_expires_at"] != before["token_expires_at"] {
		t.Errorf("a timed-out refresh changed the authorization: before %v, after %v", before, after)
	}

	sch.Fake.ClearFault()
	in.expect(t, http.StatusOK, http.MethodPatch, authorizationPath(id), nil, user.Access)
}

// TestHardeningItem1PhishedAuthorizationURLConnectsNothing is the phishing
// scenario of hardening item 1 against the real binary and the fake Schwab:
// Mallory starts connecting her own provider and sends its authorization_url to
// Victor, who consents. Schwab sends Victor's browser back to the registered
// callback with a code and Mallory's state; a link scanner probes the URL with
// HEAD; Victor's client relays code and state with Victor's bearer. Mallory's
// provider stays unconnected, no code reaches Schwab's token endpoint, and the
// attempt was not used up (its owner could still complete it).
func TestHardeningItem1PhishedAuthorizationURLConnectsNothing(t *testing.T) {
	t.Parallel()
	sch := startSchwab(t, schwabfake.Config{})
	in := startInstance(t, sch.Env())
	mallory := verifiedSession(t, in, newAccount())
	victor := verifiedSession(t, in, newAccount())
	bait := createProvider(t, in, mallory.Access, "schwab", "Bait")
	own := createProvider(t, in, victor.Access, "schwab", "Mine")

	authURL, err := startAuthorizationE(in, mallory.Access, bait)
	if err != nil {
		t.Fatal(err)
	}
	callback, err := redirectTarget(authURL) // Victor consents at Schwab
	if err != nil {
		t.Fatal(err)
	}
	uri, err := requestURI(callback)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodHead, in.BaseURL+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := noRedirects.Do(req) // a link scanner
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	_, handed := in.expect(t, http.StatusOK, http.MethodGet, uri, nil, "") // Victor's browser
	relay := map[string]any{"state": handed["state"], "code": handed["code"]}
	in.expect(t, http.StatusNotFound, http.MethodPost, authorizationPath(bait)+"/callback", relay, victor.Access)
	_, problem := in.expect(t, http.StatusBadRequest, http.MethodPost, authorizationPath(own)+"/callback", relay, victor.Access)
	if problem["code"] != "INVALID_AUTHORIZATION_STATE" {
		t.Errorf("Mallory's state relayed to Victor's provider: %v, want INVALID_AUTHORIZATION_STATE", problem)
	}

	_, p := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers/"+bait, nil, mallory.Access)
	if p["connection_status"] != "pending" {
		t.Errorf("Mallory's provider is %v after Victor's browser and client, want pending (unconnected)", p["connection_status"])
	}
	if reqs := sch.Fake.TokenRequests(); len(reqs) != 0 {
		t.Errorf("%d requests reached Schwab's token endpoint, want none", len(reqs))
	}
	// The attempt was not used up: the same relay under Mallory's bearer would
	// complete it, which is what her own client does with her own consent.
	if got := authorizationOf(t, in, mallory.Access, bait); got["status"] != "pending" {
		t.Errorf("Mallory's authorization is %v, want pending", got)
	}
	if _, err := arriveAndRelayE(in, in, callback, mallory.Access); err != nil {
		t.Errorf("the owner's relay after the refused ones: %v", err)
	}
}
