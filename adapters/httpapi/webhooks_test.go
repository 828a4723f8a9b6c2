package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/application/institutionhooks"
	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

const plaidWebhookPath = "/api/v1/webhooks/plaid"

type receiptJSON struct {
	DeliveryID string `json:"delivery_id"`
	Duplicate  bool   `json:"duplicate"`
}

// plaidHarness is a service offering Plaid against the fake, with a user
// whose Plaid provider is linked and whose first sync finished: it returns
// the user's token, the provider's id and the item's id.
func plaidHarness(t *testing.T, opts apitest.Options) (*apitest.Harness, *plaidfake.Server, string, string, string) {
	t.Helper()
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	opts.Env = map[string]string{
		"PLAID_CLIENT_ID": fake.Config().ClientID,
		"PLAID_SECRET":    fake.Config().Secret,
		"PLAID_BASE_URL":  fake.URL,
	}
	h := apitest.New(t, opts)
	token := verifiedUser(t, h, "ann@example.com")
	var p providerJSON
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: token, Body: map[string]any{"provider_key": "plaid", "alias": "Bank"}}).Expect(t, 201).JSON(t, &p)
	s := startAuthorization(t, h, token, p.ID)
	public, err := fake.FinishLink(s.LinkToken)
	if err != nil {
		t.Fatal(err)
	}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + p.ID + "/authorization/callback", Token: token,
		Body: map[string]any{"state": s.State, "public_token": public}}).Expect(t, 200)
	firstSync(t, h, token, p.ID)
	a, err := h.App.Authorizations.AuthorizationByProvider(t.Context(), uuid.MustParse(p.ID))
	if err != nil {
		t.Fatal(err)
	}
	return h, fake, token, p.ID, a.Credentials().ExternalID
}

// deliver posts a fake delivery to the webhook route.
func deliver(t *testing.T, h *apitest.Harness, d *plaidfake.Delivery, want int) receiptJSON {
	t.Helper()
	res := h.Do(apitest.Request{Method: "POST", Path: plaidWebhookPath, Body: d.Body,
		Header: map[string]string{"Plaid-Verification": d.Header.Get("Plaid-Verification")}}).Expect(t, want)
	var r receiptJSON
	if want == 200 {
		res.JSON(t, &r)
	}
	return r
}

// awaitOutcome waits for the delivery's job to act, and returns the outcome.
func awaitOutcome(t *testing.T, h *apitest.Harness, id string) string {
	t.Helper()
	store := persistence.NewDeliveryStore(h.App.DB, nil)
	var outcome string
	waitFor(t, 30*time.Second, func() bool {
		d, err := store.DeliveryByID(context.Background(), uuid.MustParse(id))
		if err != nil {
			t.Fatal(err)
		}
		outcome = d.Outcome
		return outcome != institutionhooks.OutcomeReceived
	})
	return outcome
}

func syncsOf(t *testing.T, h *apitest.Harness, token, providerID string) []syncBody {
	t.Helper()
	var list syncListBody
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + providerID + "/syncs", Token: token}).Expect(t, 200).JSON(t, &list)
	return list.Items
}

func statusOf(t *testing.T, h *apitest.Harness, token, providerID string) string {
	t.Helper()
	var p providerJSON
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/providers/" + providerID, Token: token}).Expect(t, 200).JSON(t, &p)
	return p.ConnectionStatus
}

// A signed SYNC_UPDATES_AVAILABLE starts one sync of the provider holding
// the item, triggered by the webhook; the same delivery twice is recorded
// as a duplicate and still starts one.
func TestPlaidWebhookSyncUpdatesAvailableStartsOneSync(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts apitest.Options) {
		h, fake, token, providerID, item := plaidHarness(t, opts)
		d := fake.SyncUpdatesAvailable(item)
		first := deliver(t, h, d, 200)
		again := deliver(t, h, d, 200)
		if first.Duplicate || !again.Duplicate || again.DeliveryID == first.DeliveryID {
			t.Fatalf("receipts %+v then %+v, want a first delivery then its duplicate", first, again)
		}
		if got := awaitOutcome(t, h, first.DeliveryID); got != institutionhooks.OutcomeSyncStarted {
			t.Errorf("the first delivery's outcome is %q, want %q", got, institutionhooks.OutcomeSyncStarted)
		}
		if got := awaitOutcome(t, h, again.DeliveryID); got != institutionhooks.OutcomeDuplicate {
			t.Errorf("the copy's outcome is %q, want %q", got, institutionhooks.OutcomeDuplicate)
		}
		webhook := 0
		for _, s := range syncsOf(t, h, token, providerID) {
			if s.Trigger == "webhook" {
				webhook++
				awaitSync(t, h, token, s.Links.Self, func(s syncBody) bool { return s.FinishedAt != nil })
			}
		}
		if webhook != 1 {
			t.Errorf("%d syncs triggered by the webhook delivered twice, want 1", webhook)
		}
		assertNoSecretsLogged(t, h, token, fake.Config().Secret, d.Header.Get("Plaid-Verification"), item)
	})
}

// A signed ITEM_LOGIN_REQUIRED makes the provider reauthorization_required;
// LOGIN_REPAIRED makes it active again; an ITEM ERROR signed before the
// repair but delivered after it changes nothing.
func TestPlaidWebhookLoginRequiredThenRepaired(t *testing.T) {
	t.Parallel()
	h, fake, token, providerID, item := plaidHarness(t, apitest.Options{})
	now := fake.Clock().Now()

	r := deliver(t, h, fake.ItemLoginRequired(item), 200)
	if got := awaitOutcome(t, h, r.DeliveryID); got != institutionhooks.OutcomeReauthorization {
		t.Fatalf("outcome %q", got)
	}
	if got := statusOf(t, h, token, providerID); got != "reauthorization_required" {
		t.Fatalf("after ITEM_LOGIN_REQUIRED the provider is %s, want reauthorization_required", got)
	}
	// The item keeps its access token for update mode.
	a, err := h.App.Authorizations.AuthorizationByProvider(t.Context(), uuid.MustParse(providerID))
	if err != nil || a.Credentials().AccessToken == "" {
		t.Fatalf("the credentials were not kept for the repair: %v", err)
	}

	r = deliver(t, h, fake.LoginRepaired(item, plaidfake.SignedAt(now.Add(time.Second))), 200)
	if got := awaitOutcome(t, h, r.DeliveryID); got != institutionhooks.OutcomeRepaired {
		t.Fatalf("outcome %q", got)
	}
	if got := statusOf(t, h, token, providerID); got != "active" {
		t.Fatalf("after LOGIN_REPAIRED the provider is %s, want active", got)
	}

	// An older ITEM ERROR arriving late (its body differs: another error code).
	late := fake.Sign([]byte(`{"webhook_type":"ITEM","webhook_code":"ERROR","item_id":"`+item+
		`","error":{"error_type":"ITEM_ERROR","error_code":"ITEM_LOCKED"}}`), plaidfake.SignedAt(now.Add(-time.Minute)))
	r = deliver(t, h, late, 200)
	if got := awaitOutcome(t, h, r.DeliveryID); got != institutionhooks.OutcomeSuperseded {
		t.Errorf("a late ITEM ERROR's outcome is %q, want %q", got, institutionhooks.OutcomeSuperseded)
	}
	if got := statusOf(t, h, token, providerID); got != "active" {
		t.Errorf("after a late ITEM ERROR the provider is %s, want still active", got)
	}
}

// A forged signature, a body altered after signing, a 6-minute-old token,
// alg none or HS256, an unknown kid and no header at all: 401; a signed body
// over the size cap: 413. Nothing recorded, nothing enqueued, no sync, no
// status change.
func TestPlaidWebhookRefusesForgedStaleAndTamperedDeliveries(t *testing.T) {
	t.Parallel()
	h, fake, token, providerID, item := plaidHarness(t, apitest.Options{})
	now := fake.Clock().Now()
	before := len(syncsOf(t, h, token, providerID))
	noHeader := fake.ItemLoginRequired(item)
	noHeader.Header.Del("Plaid-Verification")
	for name, d := range map[string]*plaidfake.Delivery{
		"forged signature":      fake.ItemLoginRequired(item, plaidfake.Forged()),
		"altered body":          fake.ItemLoginRequired(item).Tamper(),
		"6 minutes old":         fake.ItemLoginRequired(item, plaidfake.SignedAt(now.Add(-6*time.Minute))),
		"alg none":              fake.ItemLoginRequired(item, plaidfake.WithAlg("none")),
		"alg HS256":             fake.ItemLoginRequired(item, plaidfake.WithAlg("HS256")),
		"unknown kid":           fake.ItemLoginRequired(item, plaidfake.WithKeyID("kid-unknown")),
		"no Plaid-Verification": noHeader,
		"forged sync":           fake.SyncUpdatesAvailable(item, plaidfake.Forged()),
	} {
		res := h.Do(apitest.Request{Method: "POST", Path: plaidWebhookPath, Body: d.Body,
			Header: map[string]string{"Plaid-Verification": d.Header.Get("Plaid-Verification")}}).Expect(t, 401)
		if code := res.Problem(t).Code; code != "INVALID_WEBHOOK_SIGNATURE" {
			t.Errorf("%s: problem %q, want INVALID_WEBHOOK_SIGNATURE", name, code)
		}
	}
	// A signed body beyond the cap on request bodies is 413, unread.
	huge := fake.Sign([]byte(`{"webhook_type":"ITEM","webhook_code":"ERROR","item_id":"` + item + `","pad":"` +
		strings.Repeat("x", 300<<10) + `"}`))
	h.Do(apitest.Request{Method: "POST", Path: plaidWebhookPath, Body: huge.Body,
		Header: map[string]string{"Plaid-Verification": huge.Header.Get("Plaid-Verification")}}).Expect(t, 413)

	var recorded int64
	if err := h.App.DB.Gorm.Table("institution_webhook_deliveries").Count(&recorded).Error; err != nil {
		t.Fatal(err)
	}
	var enqueued int64
	if err := h.App.DB.Gorm.Table("river_job").Where("kind = ?", institutionhooks.ActJob{}.Kind()).Count(&enqueued).Error; err != nil {
		t.Fatal(err)
	}
	if recorded != 0 || enqueued != 0 {
		t.Errorf("refused deliveries recorded %d rows and enqueued %d jobs, want none", recorded, enqueued)
	}
	if got := statusOf(t, h, token, providerID); got != "active" {
		t.Errorf("the provider is %s after refused deliveries, want active", got)
	}
	if n := len(syncsOf(t, h, token, providerID)); n != before {
		t.Errorf("%d syncs after refused deliveries, want %d", n, before)
	}
}
