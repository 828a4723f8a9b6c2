package e2e

import (
	"net/http"
	"net/url"
	"testing"
)

// TestHardeningItem4ADeclineEndsTheAttemptAgainstTheBinary: the user declines
// at the institution, which sends the browser back to the fixed callback with
// ?error=access_denied&state=... and no code. Against the binary (its own
// SQLite, migrated): the answer says AUTHORIZATION_DECLINED, never a 422
// about code; the provider is back to not_connected; the same URL again is a
// replay; and a new attempt then connects as usual.
func TestHardeningItem4ADeclineEndsTheAttemptAgainstTheBinary(t *testing.T) {
	t.Parallel()
	in := startInstance(t, nil)
	user := verifiedSession(t, in, newAccount())
	id := createProvider(t, in, user.Access, "sandbox", "Sandbox")

	authURL, err := startAuthorizationE(in, user.Access, id)
	if err != nil {
		t.Fatal(err)
	}
	au, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	declined := "/api/v1/oauth/sandbox/callback?" + url.Values{"error": {"access_denied"}, "state": {au.Query().Get("state")}}.Encode()
	_, relay := in.expect(t, http.StatusOK, http.MethodGet, declined, nil, "")
	if relay["error"] != "AUTHORIZATION_DECLINED" || relay["institution_error"] != "access_denied" || relay["provider_id"] != id || relay["code"] != nil {
		t.Errorf("the decline answered %v", relay)
	}
	_, p := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers/"+id, nil, user.Access)
	if p["connection_status"] != "not_connected" {
		t.Errorf("provider %v after the decline, want not_connected as before the attempt", p["connection_status"])
	}
	if got := authorizationOf(t, in, user.Access, id); got["status"] != "not_connected" || got["is_authorized"] != false {
		t.Errorf("authorization %v after the decline, want not_connected", got)
	}
	_, problem := in.expect(t, http.StatusBadRequest, http.MethodGet, declined, nil, "")
	if problem["code"] != "AUTHORIZATION_ALREADY_USED" {
		t.Errorf("the decline again: %v, want AUTHORIZATION_ALREADY_USED", problem)
	}

	authURL, err = startAuthorizationE(in, user.Access, id)
	if err != nil {
		t.Fatal(err)
	}
	uri, err := requestURI(authURL)
	if err != nil {
		t.Fatal(err)
	}
	callback, err := redirectTarget(in.BaseURL + uri)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := arriveAndRelayE(in, in, callback, user.Access); err != nil {
		t.Fatalf("connecting after the decline: %v", err)
	}
}
