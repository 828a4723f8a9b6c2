package bootstrap

import (
	"context"
	"testing"
	"time"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// SCHWAB_API_BASE_URL is where the Schwab connector's data calls go, so an
// environment pointing it at a fake reads the fake's accounts.
func TestSchwabAPIBaseURLIsWhereTheDataCallsGo(t *testing.T) {
	fake := schwabfake.New(schwabfake.Config{})
	t.Cleanup(fake.Close)
	cfg, err := LoadConfig(env(map[string]string{"JWT_SIGNING_KEYS": "k1:" + key(32),
		"SCHWAB_CLIENT_ID": "id", "SCHWAB_CLIENT_SECRET": "secret", "SCHWAB_AUTH_URL": fake.AuthURL(),
		"SCHWAB_TOKEN_URL": fake.TokenURL(), "SCHWAB_API_BASE_URL": fake.APIBaseURL(),
		"SCHWAB_REDIRECT_URL": "https://dashtam.test/api/v1/oauth/schwab/callback"}))
	if err != nil {
		t.Fatal(err)
	}
	registry, _, err := buildRegistry(cfg, time.Now, ignoreCalls{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := registry.Connector("schwab")
	data, ok := c.(providersapp.DataConnector)
	if !ok {
		t.Fatal("the registered Schwab connector has no data half")
	}
	accounts, err := data.Accounts(context.Background(), providersapp.Tokens{AccessToken: fake.IssueAccessToken()})
	if err != nil || len(accounts) != len(fake.Accounts()) {
		t.Fatalf("Accounts = %d, %v; want the fake's %d", len(accounts), err, len(fake.Accounts()))
	}
}
