package httpapi_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
)

// declineURL is the callback the institution sends the browser to when the
// user declines: the registered callback with error and state, no code.
func declineURL(t *testing.T, h *apitest.Harness, authorizationURL, institutionError string) string {
	t.Helper()
	cb, err := url.Parse(sandboxCallback(t, h, authorizationURL))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"error": {institutionError}, "error_description": {"The user said no <script>"}, "state": {cb.Query().Get("state")}}
	return cb.Path + "?" + q.Encode()
}

// Hardening item 4: the institution sends the browser back with
// ?error=access_denied&state=... (the user declined). The attempt ends
// cleanly: the provider returns to the status it had before the attempt, the
// answer says AUTHORIZATION_DECLINED (never a 422 saying code is required),
// the institution's description is not echoed, and the state is used up. A
// link scanner's HEAD ends nothing.
func TestHardeningItem4ADeclineEndsTheAttemptCleanly(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	token := verifiedUser(t, h, "ann@example.com")
	fresh, _ := createProvider(t, h, token, "Never connected")
	connected, _ := createProvider(t, h, token, "Connected")
	complete(t, h, token, sandboxCallback(t, h, startAuthorization(t, h, token, connected.ID).AuthorizationURL))
	providerStatus := func(id string) string {
		t.Helper()
		var p providerJSON
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + id, Token: token}).Expect(t, 200).JSON(t, &p)
		return p.ConnectionStatus
	}

	for _, tc := range []struct {
		p          providerJSON
		before     string
		authStatus string
	}{
		{fresh, "not_connected", "not_connected"},
		{connected, "active", "active"},
	} {
		declined := declineURL(t, h, startAuthorization(t, h, token, tc.p.ID).AuthorizationURL, "access_denied")
		h.Do(apitest.Request{Method: "HEAD", Path: declined}).Expect(t, 200)
		if tc.before == "not_connected" && providerStatus(tc.p.ID) != "pending" {
			t.Errorf("%s: a HEAD of the decline ended the attempt", tc.p.Alias)
		}
		var relay struct {
			ProviderID       string  `json:"provider_id"`
			State            string  `json:"state"`
			Code             *string `json:"code"`
			Error            string  `json:"error"`
			InstitutionError string  `json:"institution_error"`
		}
		res := h.Do(apitest.Request{Method: "GET", Path: declined}).Expect(t, 200)
		res.JSON(t, &relay)
		if relay.ProviderID != tc.p.ID || relay.Error != "AUTHORIZATION_DECLINED" || relay.InstitutionError != "access_denied" || relay.Code != nil {
			t.Errorf("%s: the decline answered %s", tc.p.Alias, res.Body)
		}
		if strings.Contains(string(res.Body), "said no") {
			t.Errorf("%s: the institution's description was echoed: %s", tc.p.Alias, res.Body)
		}
		if got := providerStatus(tc.p.ID); got != tc.before {
			t.Errorf("%s: provider %q after the decline, want %q as before the attempt", tc.p.Alias, got, tc.before)
		}
		var a authorizationJSON
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + tc.p.ID + "/authorization", Token: token}).Expect(t, 200).JSON(t, &a)
		if a.Status != tc.authStatus {
			t.Errorf("%s: authorization %+v, want %s", tc.p.Alias, a, tc.authStatus)
		}
		if got := h.Do(apitest.Request{Method: "GET", Path: declined}).Expect(t, 400).Problem(t).Code; got != "AUTHORIZATION_ALREADY_USED" {
			t.Errorf("%s: the decline again: problem %q, want AUTHORIZATION_ALREADY_USED", tc.p.Alias, got)
		}
	}

	t.Run("another error from the institution is AUTHORIZATION_FAILED", func(t *testing.T) {
		failed := declineURL(t, h, startAuthorization(t, h, token, fresh.ID).AuthorizationURL, "temporarily_unavailable")
		res := h.Do(apitest.Request{Method: "GET", Path: failed}).Expect(t, 200)
		if body := string(res.Body); !strings.Contains(body, `"error":"AUTHORIZATION_FAILED"`) || !strings.Contains(body, `"institution_error":"temporarily_unavailable"`) {
			t.Errorf("answer %s", body)
		}
		if got := providerStatus(fresh.ID); got != "not_connected" {
			t.Errorf("provider %q, want not_connected", got)
		}
	})
	t.Run("an error that is not an RFC 6749 code is not echoed", func(t *testing.T) {
		odd := declineURL(t, h, startAuthorization(t, h, token, fresh.ID).AuthorizationURL, `bad"<b>`+strings.Repeat("x", 80))
		res := h.Do(apitest.Request{Method: "GET", Path: odd}).Expect(t, 200)
		if body := string(res.Body); !strings.Contains(body, `"institution_error":"invalid"`) || strings.Contains(body, "<b>") {
			t.Errorf("answer %s", body)
		}
	})
	t.Run("a decline with a forged state is 400 and ends nothing", func(t *testing.T) {
		startAuthorization(t, h, token, fresh.ID)
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/sandbox/callback?error=access_denied&state=forged"}).Expect(t, 400)
		if got := res.Problem(t).Code; got != "INVALID_AUTHORIZATION_STATE" {
			t.Errorf("problem %q", got)
		}
		if got := providerStatus(fresh.ID); got != "pending" {
			t.Errorf("provider %q, want still pending", got)
		}
	})
	t.Run("neither code nor error is 422 naming code", func(t *testing.T) {
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/oauth/sandbox/callback?state=x"}).Expect(t, 422)
		if p := res.Problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "code" {
			t.Errorf("problem %+v", p)
		}
	})
}

// With a front end configured, a decline sends the browser there (303) with
// the outcome and what the institution said, the page's own query kept.
func TestHardeningItem4ADeclineRedirectsToTheFrontEnd(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{
		"AUTHORIZATION_RESULT_URL": "https://app.example/connections?tab=banks",
	}})
	token := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, token, "Sandbox")
	declined := declineURL(t, h, startAuthorization(t, h, token, p.ID).AuthorizationURL, "access_denied")
	state := must(url.ParseQuery(strings.SplitN(declined, "?", 2)[1])).Get("state")
	res := h.Do(apitest.Request{Method: "GET", Path: declined}).Expect(t, http.StatusSeeOther)
	loc := must(url.Parse(res.Header.Get("Location")))
	want := url.Values{"tab": {"banks"}, "provider_id": {p.ID}, "state": {state}, "error": {"AUTHORIZATION_DECLINED"}, "institution_error": {"access_denied"}}
	if loc.Host != "app.example" || !reflect.DeepEqual(loc.Query(), want) {
		t.Errorf("Location %s, want the front end with %v", loc, want)
	}
	var got providerJSON
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + p.ID, Token: token}).Expect(t, 200).JSON(t, &got)
	if got.ConnectionStatus != "not_connected" {
		t.Errorf("provider %q after the decline, want not_connected", got.ConnectionStatus)
	}
}

// A client told of the institution's error itself (a front end registered as
// the redirect target, or a link SDK the user left) ends the attempt with the
// relay: only the owner can, and the status returns to what it was.
func TestHardeningItem4TheOwnerRelaysADecline(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	ann := verifiedUser(t, h, "ann@example.com")
	bob := verifiedUser(t, h, "bob@example.com")
	p, _ := createProvider(t, h, ann, "Sandbox")
	cb := must(url.Parse(sandboxCallback(t, h, startAuthorization(t, h, ann, p.ID).AuthorizationURL)))
	path := "/api/v1/providers/" + p.ID + "/authorization/callback"
	body := map[string]any{"state": cb.Query().Get("state"), "error": "access_denied"}
	h.Do(apitest.Request{Method: "POST", Path: path, Token: bob, Body: body}).Expect(t, 404)
	var a authorizationJSON
	h.Do(apitest.Request{Method: "POST", Path: path, Token: ann, Body: body}).Expect(t, 200).JSON(t, &a)
	if a.Status != "not_connected" || a.IsAuthorized {
		t.Errorf("after the relayed decline: %+v, want not_connected", a)
	}
	body["code"] = cb.Query().Get("code")
	h.Do(apitest.Request{Method: "POST", Path: path, Token: ann, Body: body}).Expect(t, 422) // error and code
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Hardening item 4: an expired and a replayed code (with its state) are told
// apart in the problem body, at the callback and at the relay; the old
// answer was INVALID_REQUEST for both.
func TestHardeningItem4ExpiredAndReplayedCodesHaveTheirOwnProblemCodes(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Now().UTC())
	h := apitest.New(t, apitest.Options{Clock: clock})
	token := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, token, "Sandbox")
	code := func(res *apitest.Response) string { t.Helper(); return res.Problem(t).Code }

	expired := sandboxCallback(t, h, startAuthorization(t, h, token, p.ID).AuthorizationURL)
	r := arrive(t, h, expired)
	clock.Advance(10*time.Minute + time.Second)
	if got := code(h.Do(apitest.Request{Method: "GET", Path: expired}).Expect(t, 400)); got != "AUTHORIZATION_EXPIRED" {
		t.Errorf("an expired callback: %q, want AUTHORIZATION_EXPIRED", got)
	}
	if got := code(relay(t, h, token, r, 400)); got != "AUTHORIZATION_EXPIRED" {
		t.Errorf("an expired relay: %q, want AUTHORIZATION_EXPIRED", got)
	}

	token = login(t, h, "ann@example.com", pw).AccessToken // the clock moved past the access token
	replayed := sandboxCallback(t, h, startAuthorization(t, h, token, p.ID).AuthorizationURL)
	r = arrive(t, h, replayed)
	relay(t, h, token, r, 200)
	if got := code(relay(t, h, token, r, 400)); got != "AUTHORIZATION_ALREADY_USED" {
		t.Errorf("a replayed relay: %q, want AUTHORIZATION_ALREADY_USED", got)
	}
	if got := code(h.Do(apitest.Request{Method: "GET", Path: replayed}).Expect(t, 400)); got != "AUTHORIZATION_ALREADY_USED" {
		t.Errorf("a replayed callback: %q, want AUTHORIZATION_ALREADY_USED", got)
	}
}
