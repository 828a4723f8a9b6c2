package plaid_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/plaid"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// hookConnector is a connector on the fake's clock, so a delivery's age is
// what the test makes it.
func hookConnector(t *testing.T, fake *plaidfake.Server) *plaid.Connector {
	t.Helper()
	return connect(t, fake, func(c *plaid.Config) { c.Now = fake.Clock().Now })
}

func verify(c *plaid.Connector, d *plaidfake.Delivery) (providers.WebhookNotice, error) {
	return c.VerifyWebhook(context.Background(), d.Header, d.Body)
}

// A delivery the fake signs verifies and says what it asks for; the key is
// fetched once and then served from the cache.
func TestVerifyWebhookAcceptsSignedDeliveriesAndReadsTheirAction(t *testing.T) {
	fake := startFake(t)
	c := hookConnector(t, fake)
	expires := fake.Clock().Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name string
		d    *plaidfake.Delivery
		want providers.WebhookAction
		code string
	}{
		{"sync updates", fake.SyncUpdatesAvailable("item-1"), providers.WebhookSync, "SYNC_UPDATES_AVAILABLE"},
		{"holdings", fake.HoldingsUpdate("item-1"), providers.WebhookSync, "DEFAULT_UPDATE"},
		{"login required", fake.ItemLoginRequired("item-1"), providers.WebhookReauthorize, "ERROR"},
		{"login repaired", fake.LoginRepaired("item-1"), providers.WebhookRepaired, "LOGIN_REPAIRED"},
		{"pending expiration", fake.PendingExpiration("item-1", expires), providers.WebhookExpiring, "PENDING_EXPIRATION"},
	} {
		n, err := verify(c, tc.d)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n.Action != tc.want || n.ExternalID != "item-1" || n.Code != tc.code || !n.SignedAt.Equal(fake.Clock().Now().Truncate(time.Second)) {
			t.Errorf("%s: notice %+v, want action %s for item-1 signed now", tc.name, n, tc.want)
		}
		if tc.want == providers.WebhookExpiring && !n.ExpiresAt.Equal(expires) {
			t.Errorf("pending expiration at %s, want %s", n.ExpiresAt, expires)
		}
	}
	if n := fake.Calls(plaidfake.PathWebhookKeyGet); n != 1 {
		t.Errorf("the key was fetched %d times for 5 deliveries, want once (cached by kid)", n)
	}
}

// Every way of faking a delivery is ErrWebhookSignature: a forged signature,
// a body altered after signing, a token older than 5 minutes or from the
// future, alg none or HS256, an unknown kid, no header at all.
func TestVerifyWebhookRefusesForgedStaleAndTamperedDeliveries(t *testing.T) {
	fake := startFake(t)
	c := hookConnector(t, fake)
	now := fake.Clock().Now()
	noHeader := fake.SyncUpdatesAvailable("item-1")
	noHeader.Header.Del(plaid.HeaderVerification)
	for name, d := range map[string]*plaidfake.Delivery{
		"forged signature":      fake.SyncUpdatesAvailable("item-1", plaidfake.Forged()),
		"altered body":          fake.SyncUpdatesAvailable("item-1").Tamper(),
		"6 minutes old":         fake.SyncUpdatesAvailable("item-1", plaidfake.SignedAt(now.Add(-6*time.Minute))),
		"from the future":       fake.SyncUpdatesAvailable("item-1", plaidfake.SignedAt(now.Add(2*time.Minute))),
		"alg none":              fake.SyncUpdatesAvailable("item-1", plaidfake.WithAlg("none")),
		"alg HS256":             fake.SyncUpdatesAvailable("item-1", plaidfake.WithAlg("HS256")),
		"unknown kid":           fake.SyncUpdatesAvailable("item-1", plaidfake.WithKeyID("kid-made-up")),
		"no Plaid-Verification": noHeader,
	} {
		_, err := verify(c, d)
		if !errors.Is(err, providers.ErrWebhookSignature) || !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("%s: err = %v, want ErrWebhookSignature", name, err)
			continue
		}
		if jwt := d.Header.Get(plaid.HeaderVerification); (jwt != "" && strings.Contains(err.Error(), jwt)) || strings.Contains(err.Error(), fake.Config().Secret) {
			t.Errorf("%s: the error quotes a secret: %v", name, err)
		}
	}
	// A 4-minute-old one is still fresh.
	if _, err := verify(c, fake.SyncUpdatesAvailable("item-1", plaidfake.SignedAt(now.Add(-4*time.Minute)))); err != nil {
		t.Errorf("a 4-minute-old delivery: %v", err)
	}
}

// Made-up kids cannot make the connector hammer Plaid: fetches of keys not
// in the cache are bounded per minute, and the bound frees up as time goes.
func TestVerifyWebhookBoundsTheFetchesOfUnknownKeys(t *testing.T) {
	fake := startFake(t)
	c := hookConnector(t, fake)
	for i := range 50 {
		d := fake.SyncUpdatesAvailable("item-1", plaidfake.WithKeyID("kid-forged-"+string(rune('a'+i%26))+strings.Repeat("x", i)))
		if _, err := verify(c, d); !errors.Is(err, providers.ErrWebhookSignature) {
			t.Fatalf("forged kid %d: %v", i, err)
		}
	}
	if n := fake.Calls(plaidfake.PathWebhookKeyGet); n > 10 {
		t.Errorf("50 made-up kids made %d key fetches, want at most 10 a minute", n)
	}
	fake.Clock().Advance(time.Minute)
	if _, err := verify(c, fake.SyncUpdatesAvailable("item-1")); err != nil {
		t.Errorf("the real key a minute later: %v", err)
	}
}

// A key Plaid reports expired is refused, once the cached copy is fetched
// again.
func TestVerifyWebhookRefusesAnExpiredKey(t *testing.T) {
	fake := startFake(t)
	c := hookConnector(t, fake)
	fake.ExpireWebhookKey(fake.Clock().Now().Add(-time.Second))
	if _, err := verify(c, fake.SyncUpdatesAvailable("item-1")); !errors.Is(err, providers.ErrWebhookSignature) {
		t.Errorf("a delivery signed with an expired key: %v, want ErrWebhookSignature", err)
	}
}

// Plaid's /link/token/create gets the configured webhook URL.
func TestBeginSendsTheWebhookURL(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, func(c *plaid.Config) { c.WebhookURL = "https://dashtam.example/api/v1/webhooks/plaid" })
	complete(t, fake, c)
	if _, err := c.Begin(context.Background(), providers.BeginRequest{State: "s", UserID: [16]byte{1}}); err != nil {
		t.Fatal(err)
	}
	reqs := fake.LinkTokenRequests()
	if got := reqs[len(reqs)-1].Webhook; got != "https://dashtam.example/api/v1/webhooks/plaid" {
		t.Errorf("webhook = %q", got)
	}
}

// Plaid failing to serve the key is Plaid unavailable (the delivery is
// answered 502 and Plaid retries it), not a forgery; the key is fetched
// again once Plaid is back.
func TestVerifyWebhookWithPlaidDownIsUnavailable(t *testing.T) {
	fake := startFake(t)
	c := hookConnector(t, fake)
	fake.SetFault(fakekit.Status500().OnPath(plaidfake.PathWebhookKeyGet))
	_, err := verify(c, fake.SyncUpdatesAvailable("item-1"))
	if !errors.Is(err, domain.ErrProviderUnavailable) || errors.Is(err, providers.ErrWebhookSignature) {
		t.Fatalf("err = %v, want ErrProviderUnavailable", err)
	}
	fake.ClearFault()
	if _, err := verify(c, fake.SyncUpdatesAvailable("item-1")); err != nil {
		t.Errorf("after Plaid is back: %v", err)
	}
}
