package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

// Hardening item 1 (account-linking CSRF, RFC 9700 §4.7): Mallory starts
// connecting her own provider and sends its authorization URL to Victor.
// Victor consents at the institution, which sends his browser back to the
// callback with a code and Mallory's state. Nothing Victor's browser or client
// can do connects Mallory's provider: the callback (GET or a link scanner's
// HEAD) exchanges nothing, Victor's bearer cannot complete Mallory's attempt,
// and none of it uses the attempt up.
func TestHardeningItem1CompletionIsBoundToTheUserWhoStartedIt(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	mallory := verifiedUser(t, h, "mallory@example.com")
	victor := verifiedUser(t, h, "victor@example.com")
	bait, _ := createProvider(t, h, mallory, "Bait")
	own, _ := createProvider(t, h, victor, "Mine")
	status := func(token, id string) string {
		t.Helper()
		var a authorizationJSON
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + id + "/authorization", Token: token}).Expect(t, 200).JSON(t, &a)
		return a.Status
	}

	s := startAuthorization(t, h, mallory, bait.ID)
	startAuthorization(t, h, victor, own.ID)
	callback := sandboxCallback(t, h, s.AuthorizationURL) // Victor's browser after consenting
	cb, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	state, code := cb.Query().Get("state"), cb.Query().Get("code")

	h.Do(apitest.Request{Method: "HEAD", Path: callback}).Expect(t, 200)
	page := h.Do(apitest.Request{Method: "GET", Path: callback, Header: map[string]string{"Accept": "text/html,*/*;q=0.8"}}).Expect(t, 200)
	if ct := page.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(page.Body), state) {
		t.Errorf("a browser asking for HTML got %q: %s", ct, page.Body)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("the HTML answer's Content-Security-Policy is %q, want default-src 'none'", csp)
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + bait.ID + "/authorization/callback?" + cb.RawQuery}).Expect(t, 200)
	if got := status(mallory, bait.ID); got != "pending" {
		t.Fatalf("after Victor's browser arrived at the callback, Mallory's provider is %q, want still pending", got)
	}

	relay := map[string]any{"state": state, "code": code}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + bait.ID + "/authorization/callback", Token: victor, Body: relay}).Expect(t, http.StatusNotFound)
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + own.ID + "/authorization/callback", Token: victor, Body: relay}).Expect(t, http.StatusBadRequest)
	if got := res.Problem(t).Code; got != "INVALID_AUTHORIZATION_STATE" {
		t.Errorf("Mallory's state on Victor's provider: problem code %q, want INVALID_AUTHORIZATION_STATE", got)
	}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + bait.ID + "/authorization/callback", Body: relay}).Expect(t, http.StatusUnauthorized)
	if got, mine := status(mallory, bait.ID), status(victor, own.ID); got != "pending" || mine != "pending" {
		t.Fatalf("after Victor's relays: Mallory's provider %q, Victor's %q; want both still pending", got, mine)
	}

	// Nothing was used up: the attempt's owner can still complete it (which
	// only Mallory's own client, holding the code, could).
	var a authorizationJSON
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + bait.ID + "/authorization/callback", Token: mallory, Body: relay}).Expect(t, 200).JSON(t, &a)
	if a.Status != "active" {
		t.Errorf("the owner's relay: %+v, want active", a)
	}
}
