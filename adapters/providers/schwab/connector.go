// Package schwab connects Charles Schwab (Trader API) accounts through Schwab's
// OAuth 2.0 authorization-code flow and reads their accounts, positions and
// transactions. The wire facts it follows are in PROVIDERS.md: client
// credentials as HTTP Basic, no PKCE, codes containing '@' that live about 30
// seconds, 30-minute access tokens and a refresh token that dies 7 days after
// the original consent however often it is used; accounts named by their
// hashValue, transactions read by date windows of at most 60 days with full
// timestamps, split when a window comes back with Schwab's 3,000-row cap.
package schwab

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/oauth2x"
	"github.com/dashtam/dashtam/application/providers"
)

// Schwab's production endpoints, used when Config leaves them empty.
const (
	DefaultAuthURL  = "https://api.schwabapi.com/v1/oauth/authorize"
	DefaultTokenURL = "https://api.schwabapi.com/v1/oauth/token"
)

// RefreshLifetime is how long a Schwab refresh token works, counted from the
// user's original consent. Refreshing does not extend it.
const RefreshLifetime = 7 * 24 * time.Hour

// Config configures the Schwab connector.
type Config struct {
	// ClientID is the app key and ClientSecret the app secret from the Schwab
	// developer portal. They are sent as HTTP Basic credentials only.
	ClientID     string
	ClientSecret string
	// RedirectURL is the callback registered with Schwab; it must be https and
	// match the registered value exactly.
	RedirectURL string
	// AuthURL and TokenURL default to Schwab's production endpoints; tests point
	// them at a fake.
	AuthURL  string
	TokenURL string
	// APIBaseURL is the Trader API the data calls go to
	// (DefaultAPIBaseURL when empty); tests point it at a fake.
	APIBaseURL string
	// Timeout bounds each call to Schwab (10 s when zero).
	Timeout time.Duration
	// MaxResponseBytes caps each answer from Schwab's token endpoint (1 MiB
	// when zero).
	MaxResponseBytes int64
	// MaxDataResponseBytes caps each answer of a data endpoint
	// (DefaultMaxDataResponseBytes when zero): a window of 3,000 activities
	// is megabytes long.
	MaxDataResponseBytes int64
	// RowCap is how many activities Schwab returns at most for one
	// transactions request (DefaultRowCap when zero); an answer this long is
	// split and read again.
	RowCap int
	// Now tells the time; time.Now when nil.
	Now func() time.Time
	// HTTPClient is an optional base client (for its transport, proxies, TLS).
	HTTPClient *http.Client
}

// Connector implements providers.Connector for Charles Schwab. It is safe for
// concurrent use.
type Connector struct {
	flow   *oauth2x.Connector
	api    *api
	rowCap int
}

var _ providers.Connector = (*Connector)(nil)

// New validates cfg and returns a Schwab connector.
func New(cfg Config) (*Connector, error) {
	if cfg.AuthURL == "" {
		cfg.AuthURL = DefaultAuthURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || u.Scheme != "https" {
		return nil, errors.New("schwab connector: RedirectURL must be an https URL (Schwab refuses others)")
	}
	flow, err := oauth2x.New(oauth2x.Config{
		Type: providers.ProviderType{
			Key:  "schwab",
			Name: "Charles Schwab",
			Flow: providers.FlowRedirect,
			// Capabilities name what the data half (data.go) fetches.
			Capabilities: []string{providers.CapabilityAccounts, providers.CapabilityHoldings,
				providers.CapabilityTransactions},
			CanRefresh: true,
		},
		ClientID:         cfg.ClientID,
		ClientSecret:     cfg.ClientSecret,
		AuthURL:          cfg.AuthURL,
		TokenURL:         cfg.TokenURL,
		RedirectURL:      cfg.RedirectURL,
		RefreshLifetime:  RefreshLifetime,
		Timeout:          cfg.Timeout,
		MaxResponseBytes: cfg.MaxResponseBytes,
		Now:              cfg.Now,
		HTTPClient:       cfg.HTTPClient,
	})
	if err != nil {
		return nil, err
	}
	data, err := newAPI(cfg)
	if err != nil {
		return nil, err
	}
	rowCap := cfg.RowCap
	if rowCap <= 0 {
		rowCap = DefaultRowCap
	}
	return &Connector{flow: flow, api: data, rowCap: rowCap}, nil
}

// Type describes Schwab for the catalog: key "schwab", redirect flow,
// refreshable.
func (c *Connector) Type() providers.ProviderType { return c.flow.Type() }

// Begin returns Schwab's authorization URL carrying req.State. It makes no call.
func (c *Connector) Begin(ctx context.Context, req providers.BeginRequest) (providers.BeginResult, error) {
	return c.flow.Begin(ctx, req)
}

// Complete exchanges the code from Schwab's callback (already decoded once, so
// it ends in '@', not "%40") for tokens. RefreshExpiresAt is the consent time
// plus RefreshLifetime.
func (c *Connector) Complete(ctx context.Context, code string) (providers.Tokens, error) {
	return c.flow.Complete(ctx, code)
}

// Refresh trades the refresh token for new tokens, or returns
// domain.ErrReauthorizationRequired once the 7-day lifetime from consent has
// passed (without calling Schwab) or when Schwab answers 400 or 401.
func (c *Connector) Refresh(ctx context.Context, current providers.Tokens) (providers.Tokens, error) {
	return c.flow.Refresh(ctx, current)
}

// Revoke returns nil: Schwab has no known revocation endpoint, so the tokens
// are only wiped locally.
func (c *Connector) Revoke(ctx context.Context, current providers.Tokens) error {
	return c.flow.Revoke(ctx, current)
}
