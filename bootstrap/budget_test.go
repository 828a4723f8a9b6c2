package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/dashtam/dashtam/adapters/providers/budgeted"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/test/redistest"
)

// countingConnector is an authorization-only connector of type key that counts
// the calls that reach it.
type countingConnector struct {
	key   string
	calls int
}

func (c *countingConnector) Type() providersapp.ProviderType {
	return providersapp.ProviderType{Key: c.key}
}

func (c *countingConnector) Begin(context.Context, providersapp.BeginRequest) (providersapp.BeginResult, error) {
	c.calls++
	return providersapp.BeginResult{}, nil
}

func (c *countingConnector) Complete(context.Context, string) (providersapp.Tokens, error) {
	c.calls++
	return providersapp.Tokens{}, nil
}

func (c *countingConnector) Refresh(_ context.Context, t providersapp.Tokens) (providersapp.Tokens, error) {
	c.calls++
	return t, nil
}

func (c *countingConnector) Revoke(context.Context, providersapp.Tokens) error {
	c.calls++
	return nil
}

// Two instances, each with its own rate-limit store on one Redis, share a
// provider type's app-wide budget: what one spends, the other cannot.
func TestInstancesShareTheProviderTypeBudgetInRedis(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{"JWT_SIGNING_KEYS": "k1:" + key(32),
		"REDIS_URL": redistest.URL(t), "RATE_LIMIT_PREFIX": redistest.Prefix(t), "PROVIDER_TYPE_CALL_BUDGET": "10"}))
	if err != nil {
		t.Fatal(err)
	}
	instance := func() (*countingConnector, providersapp.Connector) {
		limiter, err := buildLimiter(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = limiter.Close() })
		next := &countingConnector{key: "acme"}
		return next, budgeted.Wrap(next, budgetCounter{limiter}, budgetConfig(cfg))
	}
	nextA, a := instance()
	nextB, b := instance()
	ctx := context.Background()
	for i := range 10 {
		c := a // six calls on one instance, four on the other, each for its own grant
		if i%5 >= 3 {
			c = b
		}
		if _, err := c.Refresh(ctx, providersapp.Tokens{RefreshToken: fmt.Sprint("grant-", i)}); err != nil {
			t.Fatalf("call %d within the shared budget: %v", i, err)
		}
	}
	_, err = b.Refresh(ctx, providersapp.Tokens{RefreshToken: "grant-10"})
	var spent *providersapp.BudgetExhaustedError
	if !errors.As(err, &spent) || spent.Budget != budgeted.BudgetProviderType || spent.Delay <= 0 {
		t.Fatalf("eleventh call across the instances: %v, want the provider type's budget exhausted", err)
	}
	if nextA.calls != 6 || nextB.calls != 4 {
		t.Errorf("the institution saw %d and %d calls, want 6 and 4", nextA.calls, nextB.calls)
	}
}
