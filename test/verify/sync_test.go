package verify

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	verifyclient "github.com/dashtam/dashtam/test/verify/client"
)

// connectSandbox authorizes the provider at the sandbox institution through
// the generated client: start, follow the authorization_url as the browser
// would, land on the fixed callback.
func connectSandbox(t *testing.T, c *verifyclient.ClientWithResponses, httpClient *http.Client, providerID uuid.UUID, auth verifyclient.RequestEditorFn) {
	t.Helper()
	ctx := context.Background()
	start, err := c.StartAuthorizationWithResponse(ctx, providerID, nil, auth)
	expect(t, "POST /providers/{id}/authorization", start, err, http.StatusCreated)
	started := exact[verifyclient.AuthorizationStart](t, "authorization start", start.Body)
	consent, err := httpClient.Get(deref(started.AuthorizationUrl))
	if err != nil {
		t.Fatal(err)
	}
	_ = consent.Body.Close()
	back, err := url.Parse(consent.Header.Get("Location"))
	if err != nil || consent.StatusCode != http.StatusFound {
		t.Fatalf("GET authorization_url -> %d %q", consent.StatusCode, consent.Header.Get("Location"))
	}
	handed, err := c.ReceiveAuthorizationCallbackByTypeWithResponse(ctx, "sandbox",
		&verifyclient.ReceiveAuthorizationCallbackByTypeParams{Code: ptr(back.Query().Get("code")), State: back.Query().Get("state")})
	expect(t, "GET /oauth/sandbox/callback", handed, err, http.StatusOK)
	relay := exact[verifyclient.AuthorizationCallbackRelay](t, "callback relay", handed.Body)
	done, err := c.CompleteAuthorizationWithResponse(ctx, relay.ProviderId, nil,
		verifyclient.CompleteAuthorizationJSONRequestBody{State: relay.State, Code: relay.Code}, auth)
	expect(t, "POST /providers/{id}/authorization/callback", done, err, http.StatusOK)
}

// The syncs and holdings through the generated client, each response
// validated against the served document and decoded exactly into the
// generated types: the grant's first sync in the history, a manual sync with
// its Location and Sync-Joined, the status monitor, a 409 on cancelling a
// finished sync, the provider's freshness, and the holdings it stored.
func TestSyncsAndHoldingsWithGeneratedClient(t *testing.T) {
	t.Parallel()
	svc := startService(t)
	transport := newContractTransport(t, servedDocument(t, svc.URL))
	httpClient := &http.Client{Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c, err := verifyclient.NewClientWithResponses(svc.URL, verifyclient.WithHTTPClient(httpClient))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const email, password = "syncs@example.com", "a long syncing passphrase"
	reg, err := c.RegisterUserWithResponse(ctx, nil, verifyclient.RegisterUserJSONRequestBody{Email: email, Password: password, Name: "Syncs"})
	expect(t, "POST /users", reg, err, http.StatusCreated)
	verified, err := c.VerifyEmailWithResponse(ctx, nil, verifyclient.VerifyEmailJSONRequestBody{Token: svc.H.Mail.LastToken(t, email, "Verify")})
	expect(t, "POST /email-verifications", verified, err, http.StatusOK)
	login, err := c.CreateSessionWithResponse(ctx, verifyclient.CreateSessionJSONRequestBody{Email: email, Password: password})
	expect(t, "POST /sessions", login, err, http.StatusCreated)
	auth := bearer(exact[verifyclient.TokenGrant](t, "login", login.Body).AccessToken)
	created, err := c.CreateProviderWithResponse(ctx, nil, verifyclient.CreateProviderJSONRequestBody{ProviderKey: "sandbox", Alias: "Bank"}, auth)
	expect(t, "POST /providers", created, err, http.StatusCreated)
	prov := exact[verifyclient.Provider](t, "provider", created.Body)

	notConnected, err := c.StartSyncWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "POST /providers/{id}/syncs (not connected)", notConnected, err, http.StatusConflict)
	if p := exact[verifyclient.Problem](t, "problem", notConnected.Body); p.Code != "PROVIDER_NOT_CONNECTED" {
		t.Fatalf("problem = %+v", p)
	}
	connectSandbox(t, c, httpClient, prov.Id, auth)

	await := func(id uuid.UUID) verifyclient.Sync {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := c.GetSyncWithResponse(ctx, id, auth)
			expect(t, "GET /syncs/{id}", got, err, http.StatusOK)
			s := exact[verifyclient.Sync](t, "sync", got.Body)
			if s.FinishedAt != nil {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("sync %s still %s", id, s.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	history, err := c.ListProviderSyncsWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "GET /providers/{id}/syncs", history, err, http.StatusOK)
	first := exact[verifyclient.SyncList](t, "syncs", history.Body)
	if len(first.Items) != 1 || first.Items[0].Trigger != verifyclient.SyncTriggerAuthorization {
		t.Fatalf("history = %+v", first)
	}
	if s := await(first.Items[0].Id); s.Status != verifyclient.SyncStatusSucceeded {
		t.Fatalf("first sync = %+v", s)
	}

	started, err := c.StartSyncWithResponse(ctx, prov.Id, &verifyclient.StartSyncParams{IdempotencyKey: ptr("sync-now-1")}, auth)
	expect(t, "POST /providers/{id}/syncs", started, err, http.StatusAccepted)
	manual := exact[verifyclient.Sync](t, "sync", started.Body)
	if started.HTTPResponse.Header.Get("Location") != "/api/v1/syncs/"+manual.Id.String() ||
		started.HTTPResponse.Header.Get("Sync-Joined") != "false" || manual.Trigger != verifyclient.SyncTriggerManual {
		t.Fatalf("POST = %+v %v", manual, started.HTTPResponse.Header)
	}
	done := await(manual.Id)
	cancel, err := c.CancelSyncWithResponse(ctx, done.Id, auth)
	expect(t, "DELETE /syncs/{id} (finished)", cancel, err, http.StatusConflict)

	got, err := c.GetProviderWithResponse(ctx, prov.Id, nil, auth)
	expect(t, "GET /providers/{id}", got, err, http.StatusOK)
	if p := exact[verifyclient.Provider](t, "provider", got.Body); p.LastSyncedAt == nil || p.DataAsOf == nil ||
		p.UnderscoreLinks == nil || p.UnderscoreLinks.Syncs != "/api/v1/providers/"+prov.Id.String()+"/syncs" {
		t.Fatalf("provider = %+v", p)
	}

	holdings, err := c.ListHoldingsWithResponse(ctx, &verifyclient.ListHoldingsParams{Limit: ptr[int32](100)}, auth)
	expect(t, "GET /holdings", holdings, err, http.StatusOK)
	hl := exact[verifyclient.HoldingList](t, "holdings", holdings.Body)
	if len(hl.Items) == 0 || hl.HasMore || hl.Items[0].Quantity == "" || hl.Items[0].MarketValue == "" {
		t.Fatalf("holdings = %+v", hl)
	}
	if transport.checked < 14 {
		t.Fatalf("only %d responses were validated", transport.checked)
	}
}
