package bootstrap

import (
	"slices"
	"testing"
	"time"

	providersapp "github.com/dashtam/dashtam/application/providers"
)

type ignoreCalls struct{}

func (ignoreCalls) ObserveProviderCall(string, string, error, time.Duration) {}

// The registry wraps every connector for metrics; the sync engine must still
// find the sandbox's data half in it, and the catalog must say so.
func TestRegistryKeepsTheSandboxsDataHalf(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{"JWT_SIGNING_KEYS": "k1:" + key(32)}))
	if err != nil {
		t.Fatal(err)
	}
	registry, _, err := buildRegistry(cfg, time.Now, ignoreCalls{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := registry.Connector("sandbox")
	if !ok {
		t.Fatal("no sandbox in the development registry")
	}
	if _, ok := c.(providersapp.DataConnector); !ok {
		t.Error("the registered sandbox connector has no data half")
	}
	if got := c.Type().Capabilities; len(got) != 3 {
		t.Errorf("sandbox capabilities %v, want accounts, holdings and transactions", got)
	}
}

// The catalog names exactly what each configured connector fetches: every
// capability for a connector with a data half (its three DataConnector
// methods are accounts, holdings and transactions), none for one that only
// authorizes, so a client never offers data that is not fetched.
func TestCatalogCapabilitiesAreWhatEachConnectorFetches(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{"JWT_SIGNING_KEYS": "k1:" + key(32),
		"SCHWAB_CLIENT_ID": "id", "SCHWAB_CLIENT_SECRET": "secret", "SCHWAB_AUTH_URL": "https://schwab.test/auth",
		"SCHWAB_TOKEN_URL": "https://schwab.test/token", "SCHWAB_REDIRECT_URL": "https://dashtam.test/api/v1/oauth/schwab/callback", "PLAID_CLIENT_ID": "id", "PLAID_SECRET": "secret",
		"PLAID_PRODUCTS": "transactions,investments"})) // Plaid fetches holdings with the investments product only
	if err != nil {
		t.Fatal(err)
	}
	registry, _, err := buildRegistry(cfg, time.Now, ignoreCalls{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{providersapp.CapabilityAccounts, providersapp.CapabilityHoldings, providersapp.CapabilityTransactions}
	types := registry.Types()
	if len(types) != 3 {
		t.Fatalf("catalog = %+v, want sandbox, schwab and plaid", types)
	}
	for _, typ := range types {
		c, _ := registry.Connector(typ.Key)
		_, fetches := c.(providersapp.DataConnector)
		got := slices.Sorted(slices.Values(typ.Capabilities))
		if fetches && !slices.Equal(got, all) || !fetches && len(got) != 0 {
			t.Errorf("%s: capabilities %v, data half %v", typ.Key, got, fetches)
		}
	}
}
