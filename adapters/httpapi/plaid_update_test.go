package httpapi_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// Plaid update mode through the API: a provider whose item needs the user
// (ITEM_LOGIN_REQUIRED during a sync) starts an authorization with a link
// token made with the item's access token, a second click gets the same link
// token without asking Plaid again, and relaying the public token restores
// the provider with no exchange: the access token stays the same.
func TestPlaidUpdateModeRestoresTheItemWithoutAnExchange(t *testing.T) {
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
	relay := func(s startJSON, public string) authorizationJSON {
		t.Helper()
		var a authorizationJSON
		h.Do(apitest.Request{Method: "POST", Path: base + "/callback", Token: token,
			Body: map[string]any{"state": s.State, "public_token": public}}).Expect(t, 200).JSON(t, &a)
		return a
	}
	finish := func(linkToken string) string {
		t.Helper()
		public, err := fake.FinishLink(linkToken)
		if err != nil {
			t.Fatal(err)
		}
		return public
	}

	s := startAuthorization(t, h, token, p.ID)
	relay(s, finish(s.LinkToken))
	id := uuid.MustParse(p.ID)
	stored, err := h.App.Authorizations.AuthorizationByProvider(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	grant := stored.Credentials()

	// A sync finds the item needs the user (what the sync engine records).
	if err := h.App.Connections.RequireReauthorization(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	var got providerJSON
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + p.ID, Token: token}).Expect(t, 200).JSON(t, &got)
	if got.ConnectionStatus != "reauthorization_required" {
		t.Fatalf("provider %s, want reauthorization_required", got.ConnectionStatus)
	}

	creates := fake.Calls(plaidfake.PathLinkTokenCreate)
	repair := startAuthorization(t, h, token, p.ID)
	again := startAuthorization(t, h, token, p.ID)
	if n := fake.Calls(plaidfake.PathLinkTokenCreate) - creates; n != 1 {
		t.Errorf("two clicks created %d link tokens, want one", n)
	}
	if again.LinkToken != repair.LinkToken || again.State == repair.State {
		t.Errorf("the second click got another link token or the same state")
	}
	reqs := fake.LinkTokenRequests()
	if last := reqs[len(reqs)-1]; last.AccessToken != grant.AccessToken || len(last.Products) != 0 {
		t.Errorf("the link token was not made for update mode (access token %t, products %q)", last.AccessToken == grant.AccessToken, last.Products)
	}

	swaps := fake.Calls(plaidfake.PathPublicTokenSwap)
	a := relay(again, finish(again.LinkToken))
	if a.Status != "active" || !a.IsAuthorized {
		t.Errorf("after update mode: %+v, want active", a)
	}
	if n := fake.Calls(plaidfake.PathPublicTokenSwap) - swaps; n != 0 {
		t.Errorf("%d public token exchanges in update mode, want none", n)
	}
	if fake.ItemRepairs(grant.ExternalID) != 1 {
		t.Errorf("the item was repaired %d times, want once", fake.ItemRepairs(grant.ExternalID))
	}
	stored, err = h.App.Authorizations.AuthorizationByProvider(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Credentials().AccessToken != grant.AccessToken || stored.Credentials().ExternalID != grant.ExternalID {
		t.Error("the access token changed in update mode")
	}
	assertNoSecretsLogged(t, h, token, fake.Config().Secret, grant.AccessToken, repair.LinkToken)
}
