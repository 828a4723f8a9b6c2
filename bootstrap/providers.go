package bootstrap

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/budgeted"
	"github.com/dashtam/dashtam/adapters/providers/instrumented"
	"github.com/dashtam/dashtam/adapters/providers/plaid"
	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	"github.com/dashtam/dashtam/adapters/providers/schwab"
	"github.com/dashtam/dashtam/adapters/ratelimit"
	providersapp "github.com/dashtam/dashtam/application/providers"
)

// buildRegistry builds the provider registry from configuration: one explicit
// entry per connector, each offered only when it is configured, each
// reporting its calls to calls (the provider_call_duration_seconds metric),
// and each charging them to the institution call budgets counted in budgets
// (budgeted.Wrap; a call over budget is refused before it is timed; nil
// budgets counts none).
// Adding a provider means adding one block here (docs/adding-a-provider.md).
// The connectors that receive webhooks are also returned as they are, by
// key: verifying a delivery is no call to budget or time.
func buildRegistry(cfg Config, now func() time.Time, calls instrumented.Observer, budgets budgeted.Counter,
) (*providersapp.Registry, builtConnectors, error) {
	var connectors []providersapp.Connector
	var sb *sandbox.Connector
	hooks := map[string]providersapp.WebhookVerifier{}
	if cfg.SandboxEnabled {
		c, err := sandbox.New(sandbox.Config{
			PublicBaseURL:  cfg.PublicBaseURL,
			RedirectURL:    cfg.PublicBaseURL + "/api/v1/oauth/sandbox/callback",
			Secret:         deriveKey(cfg, "sandbox institution"),
			Timeout:        cfg.ProviderTimeout,
			Now:            now,
			DataTimeOffset: cfg.SandboxTimeOffset,
		})
		if err != nil {
			return nil, builtConnectors{}, fmt.Errorf("sandbox provider: %w", err)
		}
		connectors, sb = append(connectors, c), c
	}
	if cfg.Schwab.ClientID != "" {
		c, err := schwab.New(schwab.Config{
			ClientID: cfg.Schwab.ClientID, ClientSecret: cfg.Schwab.ClientSecret, RedirectURL: cfg.Schwab.RedirectURL,
			AuthURL: cfg.Schwab.AuthURL, TokenURL: cfg.Schwab.TokenURL, APIBaseURL: cfg.Schwab.APIBaseURL,
			Timeout: cfg.ProviderTimeout, Now: now,
		})
		if err != nil {
			return nil, builtConnectors{}, fmt.Errorf("SCHWAB_*: %w", err)
		}
		connectors = append(connectors, c)
	}
	if cfg.Plaid.ClientID != "" {
		c, err := plaid.New(plaid.Config{
			ClientID: cfg.Plaid.ClientID, Secret: cfg.Plaid.Secret, BaseURL: cfg.Plaid.BaseURL,
			ClientName: "Dashtam", Products: cfg.Plaid.Products, Timeout: cfg.ProviderTimeout, Now: now,
			// A /transactions/sync page of 500 transactions, at 1 to 2 KB each
			// as Plaid writes them, passes the 1 MiB default.
			MaxResponseBytes: plaidMaxResponseBytes,
			WebhookURL:       cfg.Plaid.WebhookURL,
		})
		if err != nil {
			return nil, builtConnectors{}, fmt.Errorf("PLAID_*: %w", err)
		}
		connectors = append(connectors, c)
		hooks[c.Type().Key] = c
	}
	for i, c := range connectors {
		connectors[i] = instrumented.Wrap(c, calls)
		if budgets != nil {
			connectors[i] = budgeted.Wrap(connectors[i], budgets, budgetConfig(cfg))
		}
	}
	registry, err := providersapp.NewRegistry(connectors...)
	return registry, builtConnectors{sandbox: sb, webhooks: hooks}, err
}

// builtConnectors are what buildRegistry built beside the registry: the
// sandbox connector (nil when it is off), for its institution pages, and the
// connectors that receive webhooks, by provider key.
type builtConnectors struct {
	sandbox  *sandbox.Connector
	webhooks map[string]providersapp.WebhookVerifier
}

// deriveKey derives a purpose-specific secret from the primary JWT signing key,
// so each purpose gets its own key without another variable to manage.
// Rotating the primary JWT key also rotates these: list cursors and sandbox codes
// issued before stop working, and a request retried with an Idempotency-Key from
// before the rotation is refused as a different request until its record expires.
func deriveKey(cfg Config, purpose string) []byte {
	mac := hmac.New(sha256.New, cfg.JWTSigningKeys[0].Secret)
	mac.Write([]byte("dashtam derived key: " + purpose))
	return mac.Sum(nil)
}

// plaidMaxResponseBytes caps one Plaid answer: room for a page of 500
// transactions or investment transactions with their securities.
const plaidMaxResponseBytes = 8 << 20

// The rate-limit store's tiers that hold the institution call budgets: one
// window a minute per grant (PROVIDER_CALL_BUDGET) and per provider type
// (PROVIDER_TYPE_CALL_BUDGET).
const (
	tierProviderCall     = "provider_call"
	tierProviderTypeCall = "provider_type_call"
)

// providerBudgetTiers are the rate-limit tiers of the budgets that are set
// (0 is unlimited: no tier).
func providerBudgetTiers(cfg Config) map[string]string {
	tiers := map[string]string{}
	if cfg.ProviderCallBudget > 0 {
		tiers[tierProviderCall] = fmt.Sprintf("%d-M", cfg.ProviderCallBudget)
	}
	if cfg.ProviderTypeCallBudget > 0 {
		tiers[tierProviderTypeCall] = fmt.Sprintf("%d-M", cfg.ProviderTypeCallBudget)
	}
	return tiers
}

// budgetConfig names the tiers of the budgets that are set. The store's
// windows run on the real clock, so the waits do too.
func budgetConfig(cfg Config) budgeted.Config {
	bc := budgeted.Config{Now: time.Now}
	if cfg.ProviderCallBudget > 0 {
		bc.ProviderTier = tierProviderCall
	}
	if cfg.ProviderTypeCallBudget > 0 {
		bc.TypeTier = tierProviderTypeCall
	}
	return bc
}

// budgetCounter is the rate-limit store as the budgets' Counter.
type budgetCounter struct{ limiters *ratelimit.Limiters }

func (b budgetCounter) Take(ctx context.Context, tier, key string) (bool, time.Time, error) {
	res, err := b.limiters.Take(ctx, tier, key)
	return res.Allowed, res.Reset, err
}
