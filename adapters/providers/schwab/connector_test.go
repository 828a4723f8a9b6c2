package schwab_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/schwab"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/contract/connectorkit"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

func TestContract(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	connectorkit.Run(t, connectorkit.Harness{
		New: func(t *testing.T, o connectorkit.Options) providers.Connector {
			return connect(t, fake, func(c *schwab.Config) {
				c.Timeout, c.MaxResponseBytes, c.Now = o.Timeout, o.MaxResponseBytes, o.Now
			})
		},
		Grant:    connectorkit.FollowAuthorization,
		SetFault: fake.SetFault,
		Secrets:  []string{fake.Config().ClientSecret},
	})
}

func startFake(t *testing.T, cfg schwabfake.Config) *schwabfake.Server {
	t.Helper()
	fake := schwabfake.New(cfg)
	t.Cleanup(fake.Close)
	return fake
}

// connect builds a connector for fake; edit adjusts the config.
func connect(t *testing.T, fake *schwabfake.Server, edit func(*schwab.Config)) *schwab.Connector {
	t.Helper()
	fc := fake.Config()
	cfg := schwab.Config{
		ClientID:     fc.ClientID,
		ClientSecret: fc.ClientSecret,
		RedirectURL:  fc.RedirectURL,
		AuthURL:      fake.AuthURL(),
		TokenURL:     fake.TokenURL(),
		Timeout:      time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := schwab.New(cfg)
	if err != nil {
		t.Fatalf("schwab.New: %v", err)
	}
	return c
}

// withClock makes the connector read clock.
func withClock(clock *fakeclock.Clock) func(*schwab.Config) {
	return func(c *schwab.Config) { c.Now = clock.Now }
}

func TestTypeDescribesSchwab(t *testing.T) {
	c := connect(t, startFake(t, schwabfake.Config{}), nil)
	got := c.Type()
	if got.Key != "schwab" || got.Name != "Charles Schwab" || got.Flow != providers.FlowRedirect || !got.CanRefresh {
		t.Errorf("Type() = %+v", got)
	}
	want := []string{providers.CapabilityAccounts, providers.CapabilityHoldings, providers.CapabilityTransactions}
	if !slices.Equal(got.Capabilities, want) {
		t.Errorf("Capabilities = %v, want %v: the data half fetches all three", got.Capabilities, want)
	}
}

func TestAuthorizationURLHasExactlyTheDocumentedParameters(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	c := connect(t, fake, nil)
	res, err := c.Begin(context.Background(), providers.BeginRequest{State: "s1", UserID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(res.AuthorizationURL)
	if got := u.Scheme + "://" + u.Host + u.Path; got != fake.AuthURL() {
		t.Errorf("authorization endpoint %q, want %q", got, fake.AuthURL())
	}
	want := url.Values{
		"client_id":     {fake.Config().ClientID},
		"redirect_uri":  {fake.Config().RedirectURL},
		"response_type": {"code"},
		"state":         {"s1"},
	}
	if got := u.Query(); got.Encode() != want.Encode() {
		t.Errorf("query = %v, want %v (no PKCE, no scope)", got, want)
	}
	if fake.Calls(schwabfake.PathAuthorize)+fake.Calls(schwabfake.PathToken) != 0 {
		t.Error("Begin called Schwab")
	}
}

func TestCodeWithEncodedAtSignIsDecodedExactlyOnce(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	c := connect(t, fake, nil)
	res, err := c.Begin(context.Background(), providers.BeginRequest{State: "s", UserID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	loc := followOnce(t, res.AuthorizationURL)
	if !strings.Contains(loc.RawQuery, "%40") || !strings.Contains(loc.RawQuery, "session=") {
		t.Fatalf("fake callback %q should carry the code with %%40 and a session", loc.RawQuery)
	}
	code := loc.Query().Get("code") // decoded once, as the HTTP layer does
	if !strings.HasSuffix(code, "@") {
		t.Fatalf("decoded code %q should end in '@'", code)
	}

	if _, err := c.Complete(context.Background(), code); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	reqs := fake.TokenRequests()
	last := reqs[len(reqs)-1]
	if last.Code() != code {
		t.Errorf("Schwab received code %q, want %q", last.Code(), code)
	}
	if strings.Contains(last.RawBody, "%2540") || !strings.Contains(last.RawBody, "%40") {
		t.Errorf("body %q should form-encode '@' once as %%40", last.RawBody)
	}
	if got := last.Form.Get("grant_type"); got != "authorization_code" {
		t.Errorf("grant_type = %q", got)
	}
	if got := last.Form.Get("redirect_uri"); got != fake.Config().RedirectURL {
		t.Errorf("redirect_uri = %q", got)
	}
}

func TestClientCredentialsTravelAsBasicAuthOnly(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	c := connect(t, fake, nil)
	tok := complete(t, c)
	if _, err := c.Refresh(context.Background(), tok); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	for _, r := range fake.TokenRequests() {
		if !r.BasicAuth || r.BasicUser != fake.Config().ClientID {
			t.Errorf("%s request without Basic client auth", r.Form.Get("grant_type"))
		}
		if r.Form.Has("client_id") || r.Form.Has("client_secret") || strings.Contains(r.RawBody, fake.Config().ClientSecret) {
			t.Errorf("%s request carries client credentials in the body: %q", r.Form.Get("grant_type"), r.RawBody)
		}
	}
}

func TestTokensCountFromTheConnectorsClock(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := connect(t, fake, withClock(clock))
	tok := complete(t, c)
	consent := clock.Now()
	if want := consent.Add(30 * time.Minute); !tok.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v (expires_in 1800)", tok.ExpiresAt, want)
	}
	if want := consent.Add(7 * 24 * time.Hour); !tok.RefreshExpiresAt.Equal(want) {
		t.Errorf("RefreshExpiresAt = %v, want consent + 7 days = %v", tok.RefreshExpiresAt, want)
	}
	if !slices.Equal(tok.Scopes, []string{"api"}) {
		t.Errorf("Scopes = %v, want [api]", tok.Scopes)
	}
}

func TestRefreshSevenDaysAfterConsentNeedsReauthorizationWithoutACall(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := connect(t, fake, withClock(clock))
	tok := complete(t, c)

	// Refreshing on day 3 works and does not move the cap.
	clock.Advance(3 * 24 * time.Hour)
	refreshed, err := c.Refresh(context.Background(), tok)
	if err != nil {
		t.Fatalf("Refresh on day 3: %v", err)
	}
	if !refreshed.RefreshExpiresAt.Equal(tok.RefreshExpiresAt) {
		t.Fatalf("refreshing moved the cap from %v to %v", tok.RefreshExpiresAt, refreshed.RefreshExpiresAt)
	}

	clock.Advance(4 * 24 * time.Hour) // exactly 7 days after consent
	before := fake.Calls(schwabfake.PathToken)
	_, err = c.Refresh(context.Background(), refreshed)
	if !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Fatalf("Refresh at consent + 7 days: %v, want ErrReauthorizationRequired", err)
	}
	if after := fake.Calls(schwabfake.PathToken); after != before {
		t.Errorf("Refresh past the cap called Schwab %d time(s)", after-before)
	}
}

func TestSchwabsOwnSevenDayCapMeansReauthorization(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	c := connect(t, fake, nil)
	tok := complete(t, c)
	tok.RefreshExpiresAt = time.Time{} // the connector does not know the cap
	fake.Clock().Advance(7*24*time.Hour + time.Second)
	_, err := c.Refresh(context.Background(), tok)
	if !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Fatalf("Refresh of a refresh token Schwab expired: %v, want ErrReauthorizationRequired", err)
	}
}

func TestRefreshReturnsTheRefreshTokenThatComesBack(t *testing.T) {
	fake := startFake(t, schwabfake.Config{RotateRefreshTokens: true})
	c := connect(t, fake, nil)
	old := complete(t, c)
	tok, err := c.Refresh(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == old.RefreshToken {
		t.Fatalf("Refresh returned refresh token %q, want the rotated one", tok.RefreshToken)
	}
	if _, err := c.Refresh(context.Background(), old); !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Errorf("the retired refresh token: %v, want ErrReauthorizationRequired", err)
	}
	if _, err := c.Refresh(context.Background(), tok); err != nil {
		t.Errorf("the rotated refresh token: %v", err)
	}
}

func TestRefreshKeepsTheRefreshTokenWhenNoneComesBack(t *testing.T) {
	fake := startFake(t, schwabfake.Config{OmitRefreshTokenOnRefresh: true})
	c := connect(t, fake, nil)
	old := complete(t, c)
	tok, err := c.Refresh(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != old.RefreshToken {
		t.Errorf("RefreshToken = %q, want the current one kept", tok.RefreshToken)
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	c := connect(t, fake, nil)
	ctx := context.Background()

	t.Run("InvalidGrantOnExchangeIsInvalidRequest", func(t *testing.T) {
		code := connectorkit.FollowAuthorization(t, c)
		fake.SetFault(schwabfake.InvalidGrant())
		defer fake.ClearFault()
		if _, err := c.Complete(ctx, code); !errors.Is(err, domain.ErrInvalidRequest) {
			t.Errorf("got %v, want ErrInvalidRequest", err)
		}
	})
	t.Run("InvalidGrantOnRefreshIsReauthorization", func(t *testing.T) {
		tok := complete(t, c)
		fake.SetFault(schwabfake.InvalidGrant())
		defer fake.ClearFault()
		if _, err := c.Refresh(ctx, tok); !errors.Is(err, domain.ErrReauthorizationRequired) {
			t.Errorf("got %v, want ErrReauthorizationRequired", err)
		}
	})
	t.Run("ExpiredCodeIsInvalidRequest", func(t *testing.T) {
		code := connectorkit.FollowAuthorization(t, c)
		fake.Clock().Advance(31 * time.Second)
		_, err := c.Complete(ctx, code)
		if !errors.Is(err, domain.ErrInvalidRequest) {
			t.Errorf("got %v, want ErrInvalidRequest", err)
		}
		if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), url.QueryEscape(code)) {
			t.Errorf("error text %q quotes the code", err)
		}
	})
	t.Run("WrongClientSecret", func(t *testing.T) {
		bad := connect(t, fake, func(c *schwab.Config) { c.ClientSecret = "wrong-secret-value" })
		code := connectorkit.FollowAuthorization(t, bad)
		_, err := bad.Complete(ctx, code)
		if !errors.Is(err, domain.ErrProviderUnavailable) {
			t.Errorf("exchange with refused client credentials: %v, want ErrProviderUnavailable", err)
		}
		// Schwab answers a dead refresh token with invalid_client too, so on
		// refresh any 401 means re-authorization.
		tok := complete(t, c)
		if _, err := bad.Refresh(ctx, tok); !errors.Is(err, domain.ErrReauthorizationRequired) {
			t.Errorf("refresh with refused client credentials: %v, want ErrReauthorizationRequired", err)
		}
		if err != nil && strings.Contains(err.Error(), "wrong-secret-value") {
			t.Errorf("error text %q holds the client secret", err)
		}
	})
}

func TestRevokeIsANoOp(t *testing.T) {
	fake := startFake(t, schwabfake.Config{})
	c := connect(t, fake, nil)
	tok := complete(t, c)
	fake.ResetCalls()
	if err := c.Revoke(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if fake.Calls(schwabfake.PathToken) != 0 {
		t.Error("Revoke called Schwab")
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	valid := schwab.Config{ClientID: "id", ClientSecret: "secret", RedirectURL: "https://x.test/cb"}
	if _, err := schwab.New(valid); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, edit := range map[string]func(*schwab.Config){
		"no client id":       func(c *schwab.Config) { c.ClientID = "" },
		"no client secret":   func(c *schwab.Config) { c.ClientSecret = "" },
		"http redirect":      func(c *schwab.Config) { c.RedirectURL = "http://x.test/cb" },
		"no redirect":        func(c *schwab.Config) { c.RedirectURL = "" },
		"relative token url": func(c *schwab.Config) { c.TokenURL = "/token" },
	} {
		cfg := valid
		edit(&cfg)
		if _, err := schwab.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func complete(t *testing.T, c *schwab.Connector) providers.Tokens {
	t.Helper()
	tok, err := c.Complete(context.Background(), connectorkit.FollowAuthorization(t, c))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return tok
}

// followOnce requests u without following the redirect and returns Location.
func followOnce(t *testing.T, u string) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no Location (HTTP %d): %v", resp.StatusCode, err)
	}
	return loc
}
