package plaid_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/plaid"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/contract/connectorkit"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

func TestContract(t *testing.T) {
	fake := startFake(t)
	connectorkit.Run(t, connectorkit.Harness{
		New: func(t *testing.T, o connectorkit.Options) providers.Connector {
			return connect(t, fake, func(c *plaid.Config) {
				c.Timeout, c.MaxResponseBytes, c.Now = o.Timeout, o.MaxResponseBytes, o.Now
			})
		},
		Grant:    func(t *testing.T, _ providers.Connector) string { return mint(t, fake) },
		SetFault: fake.SetFault,
		Secrets:  []string{fake.Config().Secret},
	})
}

func startFake(t *testing.T) *plaidfake.Server {
	t.Helper()
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	return fake
}

func connect(t *testing.T, fake *plaidfake.Server, edit func(*plaid.Config)) *plaid.Connector {
	t.Helper()
	cfg := plaid.Config{
		ClientID:   fake.Config().ClientID,
		Secret:     fake.Config().Secret,
		BaseURL:    fake.URL,
		ClientName: "Dashtam",
		Products:   []string{"transactions"},
		Timeout:    time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := plaid.New(cfg)
	if err != nil {
		t.Fatalf("plaid.New: %v", err)
	}
	return c
}

func mint(t *testing.T, fake *plaidfake.Server) string {
	t.Helper()
	tok, err := fake.CreatePublicToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func complete(t *testing.T, fake *plaidfake.Server, c *plaid.Connector) providers.Tokens {
	t.Helper()
	tok, err := c.Complete(context.Background(), mint(t, fake))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return tok
}

func TestTypeDescribesPlaid(t *testing.T) {
	c := connect(t, startFake(t), nil)
	got := c.Type()
	if got.Key != "plaid" || got.Name != "Plaid" || got.Flow != providers.FlowLinkToken || got.CanRefresh {
		t.Errorf("Type() = %+v", got)
	}
	if want := []string{providers.CapabilityAccounts, providers.CapabilityTransactions}; !slices.Equal(got.Capabilities, want) {
		t.Errorf("Capabilities with the transactions product = %v, want %v", got.Capabilities, want)
	}
	withInvestments := connect(t, startFake(t), func(c *plaid.Config) { c.Products = []string{"transactions", "investments"} })
	if want := []string{providers.CapabilityAccounts, providers.CapabilityHoldings, providers.CapabilityTransactions}; !slices.Equal(withInvestments.Type().Capabilities, want) {
		t.Errorf("Capabilities with investments too = %v, want %v", withInvestments.Type().Capabilities, want)
	}
}

func TestBeginCreatesALinkTokenForTheUser(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, func(c *plaid.Config) { c.RedirectURI = "https://app.dashtam.test/plaid-oauth" })
	user := uuid.New()
	res, err := c.Begin(context.Background(), providers.BeginRequest{State: "s", UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.LinkToken, "link-") {
		t.Errorf("LinkToken = %q", res.LinkToken)
	}
	if want := fake.Clock().Now().Add(4 * time.Hour).Truncate(time.Second); !res.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want Plaid's expiration %v", res.ExpiresAt, want)
	}
	reqs := fake.LinkTokenRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d link token requests", len(reqs))
	}
	r := reqs[0]
	if r.User.ClientUserID != user.String() || r.ClientName != "Dashtam" || r.Language != "en" ||
		!slices.Equal(r.CountryCodes, []string{"US"}) || !slices.Equal(r.Products, []string{"transactions"}) ||
		r.RedirectURI != "https://app.dashtam.test/plaid-oauth" {
		t.Errorf("link token request = %+v", r)
	}
}

func TestBeginWithoutAUserIsInvalid(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	_, err := c.Begin(context.Background(), providers.BeginRequest{State: "s"})
	if !errors.Is(err, domain.ErrInvalidRequest) {
		t.Errorf("got %v, want ErrInvalidRequest", err)
	}
	if fake.Calls(plaidfake.PathLinkTokenCreate) != 0 {
		t.Error("Begin called Plaid without a user")
	}
}

func TestCompleteReturnsANonExpiringAccessTokenAndItemID(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	tok := complete(t, fake, c)
	if tok.AccessToken == "" || tok.ExternalID == "" {
		t.Errorf("Tokens = %+v, want access token and item id", tok)
	}
	if tok.RefreshToken != "" || !tok.ExpiresAt.IsZero() || !tok.RefreshExpiresAt.IsZero() {
		t.Errorf("Tokens = %+v, want no refresh token and no expiry", tok)
	}
}

func TestExpiredPublicTokenIsInvalid(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	public := mint(t, fake)
	fake.Clock().Advance(30 * time.Minute)
	_, err := c.Complete(context.Background(), public)
	if !errors.Is(err, domain.ErrInvalidRequest) {
		t.Fatalf("got %v, want ErrInvalidRequest", err)
	}
	if strings.Contains(err.Error(), public) {
		t.Errorf("error text %q quotes the public token", err)
	}
}

func TestRefreshIsNotSupportedAndCallsNothing(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	tok := complete(t, fake, c)
	fake.ResetCalls()
	_, err := c.Refresh(context.Background(), tok)
	if !errors.Is(err, domain.ErrNotSupported) {
		t.Errorf("got %v, want ErrNotSupported", err)
	}
	for _, p := range []string{plaidfake.PathLinkTokenCreate, plaidfake.PathPublicTokenSwap, plaidfake.PathItemRemove} {
		if fake.Calls(p) != 0 {
			t.Errorf("Refresh called %s", p)
		}
	}
}

func TestRevokeRemovesTheItem(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	tok := complete(t, fake, c)
	if err := c.Revoke(context.Background(), tok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got := fake.Calls(plaidfake.PathItemRemove); got != 1 {
		t.Errorf("/item/remove called %d times, want 1", got)
	}
	if !fake.ItemRemoved(tok.ExternalID) {
		t.Error("the item was not removed")
	}
	// Plaid retires the access token with the item.
	err := c.Revoke(context.Background(), tok)
	if !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Errorf("Revoke with a retired access token: %v, want ErrReauthorizationRequired", err)
	}
	if err != nil && strings.Contains(err.Error(), tok.AccessToken) {
		t.Errorf("error text %q quotes the access token", err)
	}
}

func TestRevokeOfAnItemPlaidNoLongerHasSucceeds(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	tok := complete(t, fake, c)
	fake.SetFault(plaidfake.Error(http.StatusBadRequest, "ITEM_ERROR", "ITEM_NOT_FOUND", "the item you requested cannot be found"))
	if err := c.Revoke(context.Background(), tok); err != nil {
		t.Errorf("Revoke: %v, want nil", err)
	}
}

func TestRevokeWithoutAnAccessTokenCallsNothing(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	if err := c.Revoke(context.Background(), providers.Tokens{}); err != nil {
		t.Fatal(err)
	}
	if fake.Calls(plaidfake.PathItemRemove) != 0 {
		t.Error("Revoke called /item/remove without a token")
	}
}

func TestErrorsAreClassifiedByTypeAndCodeNotStatus(t *testing.T) {
	cases := []struct {
		name   string
		status int
		typ    string
		code   string
		want   error
	}{
		{"item login required", http.StatusBadRequest, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", domain.ErrReauthorizationRequired},
		{"item login required on a 500", http.StatusInternalServerError, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", domain.ErrReauthorizationRequired},
		{"error body on a 200", http.StatusOK, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", domain.ErrReauthorizationRequired},
		{"invalid public token", http.StatusBadRequest, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", domain.ErrInvalidRequest},
		{"invalid access token", http.StatusBadRequest, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", domain.ErrReauthorizationRequired},
		{"bad api keys", http.StatusBadRequest, "INVALID_INPUT", "INVALID_API_KEYS", domain.ErrProviderUnavailable},
		{"invalid request", http.StatusBadRequest, "INVALID_REQUEST", "MISSING_FIELDS", domain.ErrProviderUnavailable},
		{"rate limit", http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", domain.ErrProviderUnavailable},
		{"api error", http.StatusInternalServerError, "API_ERROR", "INTERNAL_SERVER_ERROR", domain.ErrProviderUnavailable},
		{"institution down", http.StatusBadRequest, "INSTITUTION_ERROR", "INSTITUTION_DOWN", domain.ErrProviderUnavailable},
		{"unknown type", http.StatusBadRequest, "SOMETHING_NEW", "WHATEVER", domain.ErrProviderUnavailable},
	}
	fake := startFake(t)
	c := connect(t, fake, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			public := mint(t, fake)
			fake.SetFault(plaidfake.Error(tc.status, tc.typ, tc.code, "public token "+public+" refused"))
			defer fake.ClearFault()
			_, err := c.Complete(context.Background(), public)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Errorf("error text %q should name the Plaid code for the logs", err)
			}
			if strings.Contains(err.Error(), public) || strings.Contains(err.Error(), fake.Config().Secret) {
				t.Errorf("error text %q holds a token or the secret", err)
			}
		})
	}
}

func TestStatusWithoutPlaidErrorBodyIsUnavailable(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	fake.SetFault(fakekit.Reply(http.StatusBadGateway, "text/html", "<html>bad gateway</html>"))
	_, err := c.Begin(context.Background(), providers.BeginRequest{State: "s", UserID: uuid.New()})
	if !errors.Is(err, domain.ErrProviderUnavailable) {
		t.Errorf("got %v, want ErrProviderUnavailable", err)
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	valid := plaid.Config{ClientID: "id", Secret: "s", BaseURL: plaid.SandboxURL, ClientName: "Dashtam", Products: []string{"transactions"}}
	if _, err := plaid.New(valid); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, edit := range map[string]func(*plaid.Config){
		"no client id":   func(c *plaid.Config) { c.ClientID = "" },
		"no secret":      func(c *plaid.Config) { c.Secret = "" },
		"no base url":    func(c *plaid.Config) { c.BaseURL = "" },
		"no client name": func(c *plaid.Config) { c.ClientName = "" },
		"no products":    func(c *plaid.Config) { c.Products = nil },
	} {
		cfg := valid
		edit(&cfg)
		if _, err := plaid.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
