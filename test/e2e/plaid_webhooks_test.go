package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// TestPlaidWebhooksThroughTheBinary: the binary, with PLAID_WEBHOOK_URL set
// (which every link token carries to the fake), receives webhooks the fake
// signs with its P-256 key at POST /api/v1/webhooks/plaid: a
// SYNC_UPDATES_AVAILABLE delivered twice starts one sync; forged, stale,
// tampered and alg-none deliveries are 401 and start nothing; an
// ITEM_LOGIN_REQUIRED error makes the provider reauthorization_required and
// LOGIN_REPAIRED makes it active again; PENDING_EXPIRATION is
// provider.consent_expiring in the event log. No
// secret reaches the log.
func TestPlaidWebhooksThroughTheBinary(t *testing.T) {
	t.Parallel()
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	const hookURL = "https://dashtam.example/api/v1/webhooks/plaid"
	in := startInstance(t, merged(generousRateLimits, map[string]string{"PLAID_CLIENT_ID": fake.Config().ClientID,
		"PLAID_SECRET": fake.Config().Secret, "PLAID_BASE_URL": fake.URL, "PLAID_WEBHOOK_URL": hookURL}))
	a := newAccount()
	user := verifiedSession(t, in, a)
	id := createProvider(t, in, user.Access, "plaid", "Bank")
	_, started := in.expect(t, http.StatusCreated, http.MethodPost, authorizationPath(id), nil, user.Access)
	link, _ := started["link_token"].(string)
	state, _ := started["state"].(string)
	public, err := fake.FinishLink(link)
	if err != nil {
		t.Fatal(err)
	}
	in.expect(t, http.StatusOK, http.MethodPost, authorizationPath(id)+"/callback",
		map[string]string{"state": state, "public_token": public}, user.Access)
	if reqs := fake.LinkTokenRequests(); len(reqs) != 1 || reqs[0].Webhook != hookURL {
		t.Errorf("the link token was created with webhook %q, want PLAID_WEBHOOK_URL", reqs[len(reqs)-1].Webhook)
	}
	first, _ := syncsOf(t, in, user.Access, id)[0]["id"].(string)
	awaitSync(t, in, user.Access, first, "succeeded", time.Minute)
	items := fake.ItemIDs()
	if len(items) != 1 {
		t.Fatalf("the fake holds %d items, want 1", len(items))
	}
	item := items[0]
	hook := in.BaseURL + "/api/v1/webhooks/plaid"
	fire := func(name string, d *plaidfake.Delivery, want int) {
		t.Helper()
		status, err := d.Fire(t.Context(), hook)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if status != want {
			t.Fatalf("%s: HTTP %d, want %d", name, status, want)
		}
	}

	// Refused: nothing starts.
	now := fake.Clock().Now()
	fire("forged", fake.SyncUpdatesAvailable(item, plaidfake.Forged()), http.StatusUnauthorized)
	fire("tampered", fake.SyncUpdatesAvailable(item).Tamper(), http.StatusUnauthorized)
	fire("6 minutes old", fake.SyncUpdatesAvailable(item, plaidfake.SignedAt(now.Add(-6*time.Minute))), http.StatusUnauthorized)
	fire("alg none", fake.SyncUpdatesAvailable(item, plaidfake.WithAlg("none")), http.StatusUnauthorized)
	fire("forged login required", fake.ItemLoginRequired(item, plaidfake.Forged()), http.StatusUnauthorized)

	// Delivered twice, one sync.
	d := fake.SyncUpdatesAvailable(item)
	fire("sync updates", d, http.StatusOK)
	fire("sync updates again", d, http.StatusOK)
	var webhookSyncs []map[string]any
	waitUntil(t, time.Minute, "a sync triggered by the webhook", func() bool {
		webhookSyncs = webhookSyncs[:0]
		for _, s := range syncsOf(t, in, user.Access, id) {
			if s["trigger"] == "webhook" {
				webhookSyncs = append(webhookSyncs, s)
			}
		}
		return len(webhookSyncs) > 0
	})
	syncID, _ := webhookSyncs[0]["id"].(string)
	awaitSync(t, in, user.Access, syncID, "succeeded", time.Minute)
	if all := syncsOf(t, in, user.Access, id); len(all) != 2 {
		t.Errorf("%d syncs after the grant and a webhook delivered twice (and five refused), want 2", len(all))
	}

	status := func() string {
		_, p := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers/"+id, nil, user.Access)
		s, _ := p["connection_status"].(string)
		return s
	}
	fire("login required", fake.ItemLoginRequired(item), http.StatusOK)
	waitUntil(t, time.Minute, "reauthorization_required", func() bool { return status() == "reauthorization_required" })
	fire("login repaired", fake.LoginRepaired(item, plaidfake.SignedAt(now.Add(time.Second))), http.StatusOK)
	waitUntil(t, time.Minute, "active again", func() bool { return status() == "active" })
	// Both changes are in the event log, written with them (docs/events.md).
	var connections []string
	for _, e := range allPages(t, in, user.Access, "/api/v1/events?type=provider.connected,provider.reauthorization_required&limit=100") {
		if d, _ := e["data"].(map[string]any); d["provider_id"] == id {
			connections = append(connections, e["type"].(string))
		}
	}
	if want := []string{"provider.connected", "provider.reauthorization_required", "provider.connected"}; !slices.Equal(connections, want) {
		t.Errorf("the provider's connection events %v, want %v", connections, want)
	}
	expires := now.Add(7 * 24 * time.Hour)
	fire("pending expiration", fake.PendingExpiration(item, expires), http.StatusOK)
	// ... is provider.consent_expiring in the event log, with when it ends.
	waitUntil(t, time.Minute, "provider.consent_expiring in the event log", func() bool {
		for _, e := range allPages(t, in, user.Access, "/api/v1/events?type=provider.consent_expiring&limit=100") {
			d, _ := e["data"].(map[string]any)
			at, _ := d["expires_at"].(string)
			ts, err := time.Parse(time.RFC3339, at)
			if d["provider_id"] == id && err == nil && ts.Equal(expires.Truncate(time.Second)) {
				return true
			}
		}
		return false
	})

	assertLogsKeepSecrets(t, in, []secret{
		{name: "password", value: a.Password},
		{name: "Plaid secret", value: fake.Config().Secret},
		{name: "public token", value: public},
		{name: "link token", value: link},
		{name: "access token", value: user.Access},
		{name: "Plaid-Verification", value: d.Header.Get("Plaid-Verification")},
		{name: "item id", value: item},
	})
}
