package bootstrap

import (
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
	registry, _, err := buildRegistry(cfg, time.Now, ignoreCalls{})
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
