// Package budgeted charges every call a provider connector makes to its
// institution against two budgets, and refuses the call, without making it,
// once either is spent:
//
//   - the grant's own budget (per provider: its tokens' grant, or the user
//     beginning an attempt), so that one provider cannot use up what all share;
//   - the institution's app-wide budget (per provider type: every Schwab
//     call of every instance counts against one Schwab budget), which
//     protects the quota the institution gives the whole application.
//
// The counts live in the rate-limit store (memory, or Redis when REDIS_URL is
// set, so every instance shares them), through the Counter port. A refused
// call returns a *providers.BudgetExhaustedError, which is a
// *providers.RetryAfterError: a sync job is postponed until the budget's
// window ends, never failed, and the API answers 503 with Retry-After.
//
// Bootstrap wraps each connector with Wrap as it builds the registry, around
// the instrumented one, so a refused call is not timed as an institution call.
package budgeted

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/dashtam/dashtam/application/providers"
)

// Budget names, as BudgetExhaustedError.Budget reports them.
const (
	BudgetProvider     = "provider"
	BudgetProviderType = "provider_type"
)

// Counter counts calls per key in fixed windows, one window length per tier
// (the rate-limit store, *ratelimit.Limiters, through bootstrap).
type Counter interface {
	// Take counts one call against key in tier. allowed is false when the call
	// went over the tier's limit; reset is when the key's window ends. An error
	// means the store could not be reached and nothing was counted.
	Take(ctx context.Context, tier, key string) (allowed bool, reset time.Time, err error)
}

// Config says which of the Counter's tiers hold the two budgets.
type Config struct {
	// ProviderTier is the tier of each grant's budget; empty: unlimited.
	ProviderTier string
	// TypeTier is the tier of each provider type's app-wide budget; empty:
	// unlimited.
	TypeTier string
	// Now is the clock the store's windows run on, to turn a window's end into
	// a wait.
	Now func() time.Time
}

// Wrap returns next charging each of its institution calls to counter's
// budgets. When next also has a data half, the result is a *DataConnector,
// so the sync engine's type assertion finds it through the wrapper; otherwise
// it is a *Connector. With neither budget configured, next is returned as it is.
//
// When the store cannot be reached, calls are let through: the budgets guard
// a quota, and an outage of the store must not stop every sync (/api/health
// reports the store).
func Wrap(next providers.Connector, counter Counter, cfg Config) providers.Connector {
	if cfg.ProviderTier == "" && cfg.TypeTier == "" {
		return next
	}
	c := &Connector{next: next, key: next.Type().Key, counter: counter, cfg: cfg}
	if data, ok := next.(providers.DataConnector); ok {
		return &DataConnector{Connector: c, data: data}
	}
	return c
}

// Connector is a providers.Connector whose calls are charged to budgets first.
type Connector struct {
	next    providers.Connector
	key     string
	counter Counter
	cfg     Config
}

var _ providers.Connector = (*Connector)(nil)

// Type describes the wrapped connector. It calls no institution.
func (c *Connector) Type() providers.ProviderType { return c.next.Type() }

// Begin is charged to the beginning user's budget: there is no grant yet.
func (c *Connector) Begin(ctx context.Context, req providers.BeginRequest) (providers.BeginResult, error) {
	if err := c.charge(ctx, "user:"+req.UserID.String()); err != nil {
		return providers.BeginResult{}, err
	}
	return c.next.Begin(ctx, req)
}

// Complete is charged to the budget of the grant it exchanges.
func (c *Connector) Complete(ctx context.Context, grant string) (providers.Tokens, error) {
	if err := c.charge(ctx, digest("code", grant)); err != nil {
		return providers.Tokens{}, err
	}
	return c.next.Complete(ctx, grant)
}

// Refresh is charged to the grant's budget.
func (c *Connector) Refresh(ctx context.Context, current providers.Tokens) (providers.Tokens, error) {
	if err := c.charge(ctx, grantKey(current)); err != nil {
		return providers.Tokens{}, err
	}
	return c.next.Refresh(ctx, current)
}

// Revoke is charged to the grant's budget.
func (c *Connector) Revoke(ctx context.Context, current providers.Tokens) error {
	if err := c.charge(ctx, grantKey(current)); err != nil {
		return err
	}
	return c.next.Revoke(ctx, current)
}

// DataConnector is a Connector whose wrapped connector also has a data half,
// whose calls are charged the same way.
type DataConnector struct {
	*Connector
	data providers.DataConnector
}

var _ providers.DataConnector = (*DataConnector)(nil)

// Accounts is charged to the grant's budget.
func (c *DataConnector) Accounts(ctx context.Context, tokens providers.Tokens) ([]providers.AccountRecord, error) {
	if err := c.charge(ctx, grantKey(tokens)); err != nil {
		return nil, err
	}
	return c.data.Accounts(ctx, tokens)
}

// Holdings is charged to the grant's budget.
func (c *DataConnector) Holdings(ctx context.Context, tokens providers.Tokens) (providers.HoldingsAnswer, error) {
	if err := c.charge(ctx, grantKey(tokens)); err != nil {
		return providers.HoldingsAnswer{}, err
	}
	return c.data.Holdings(ctx, tokens)
}

// Transactions is charged to the grant's budget, one page at a time.
func (c *DataConnector) Transactions(ctx context.Context, tokens providers.Tokens, resume []byte) (providers.TransactionPage, error) {
	if err := c.charge(ctx, grantKey(tokens)); err != nil {
		return providers.TransactionPage{}, err
	}
	return c.data.Transactions(ctx, tokens, resume)
}

// charge counts one call against the provider budget of subject, then, when
// that one allows it, against the provider type's app-wide budget (a call
// already refused does not spend the shared budget). It returns a
// *providers.BudgetExhaustedError when either is spent.
func (c *Connector) charge(ctx context.Context, subject string) error {
	if c.cfg.ProviderTier != "" {
		if err := c.take(ctx, c.cfg.ProviderTier, c.key+":"+subject, BudgetProvider); err != nil {
			return err
		}
	}
	if c.cfg.TypeTier != "" {
		return c.take(ctx, c.cfg.TypeTier, c.key, BudgetProviderType)
	}
	return nil
}

func (c *Connector) take(ctx context.Context, tier, key, budget string) error {
	allowed, reset, err := c.counter.Take(ctx, tier, key)
	if err != nil || allowed {
		return nil // a store outage lets the call through (see Wrap)
	}
	return &providers.BudgetExhaustedError{Budget: budget, Delay: max(reset.Sub(c.cfg.Now()), time.Second)}
}

// grantKey names the grant tokens belong to, without revealing them: the
// institution's id for the connection when it gives one (Plaid's item), or
// else a digest of the refresh token, which lives as long as the grant
// (Schwab keeps it for seven days), or of the access token when there is no
// refresh token.
func grantKey(t providers.Tokens) string {
	switch {
	case t.ExternalID != "":
		return digest("external", t.ExternalID)
	case t.RefreshToken != "":
		return digest("refresh", t.RefreshToken)
	}
	return digest("access", t.AccessToken)
}

// digest is the hex of the first 128 bits of SHA-256 over kind and value, so
// no token or id is kept in the store in clear.
func digest(kind, value string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + value))
	return kind + ":" + hex.EncodeToString(sum[:16])
}
