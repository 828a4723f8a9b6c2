// Package plaid connects bank accounts through Plaid Link (the link-token flow)
// and reads their data (data.go, transactions.go), with a small hand-written
// JSON client for the endpoints both need.
// The official SDK is large generated code whose import path changes often;
// these endpoints are stable and simple (see PROVIDERS.md).
package plaid

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// Plaid's hosts, for Config.BaseURL.
const (
	SandboxURL    = "https://sandbox.plaid.com"
	ProductionURL = "https://production.plaid.com"
)

// linkTokenLifetime is used when Plaid's answer has no parseable expiration.
const linkTokenLifetime = 4 * time.Hour

// Config configures the Plaid connector.
type Config struct {
	// ClientID and Secret are Plaid API keys; they travel in each JSON body.
	ClientID string
	Secret   string
	// BaseURL is SandboxURL, ProductionURL or a test server's URL.
	BaseURL string
	// ClientName is the application name Link shows to the user.
	ClientName string
	// Products are the Plaid products Link asks consent for, such as
	// "transactions"; they are also reported as the connector's capabilities.
	Products []string
	// CountryCodes limits the institutions Link offers (["US"] when empty).
	CountryCodes []string
	// Language is Link's display language ("en" when empty).
	Language string
	// RedirectURI is the OAuth redirect page registered with Plaid for
	// institutions that use OAuth inside Link; optional.
	RedirectURI string
	// WebhookURL is where Plaid sends the items' webhooks (Dashtam's
	// POST /api/v1/webhooks/plaid), set on every link token it creates;
	// optional (empty: Plaid sends none, and syncs run on the schedule only).
	WebhookURL string
	// Timeout bounds each call to Plaid (10 s when zero).
	Timeout time.Duration
	// MaxResponseBytes caps each answer from Plaid (1 MiB when zero).
	MaxResponseBytes int64
	// Now tells the time; time.Now when nil.
	Now func() time.Time
	// HTTPClient is an optional base client (for its transport, proxies, TLS).
	HTTPClient *http.Client
}

// Connector implements providers.Connector for Plaid. It is safe for concurrent
// use.
type Connector struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	// hookKeys caches Plaid's webhook verification keys (webhook.go).
	hookKeys webhookKeys
}

var _ providers.Connector = (*Connector)(nil)

// New validates cfg and returns a Plaid connector.
func New(cfg Config) (*Connector, error) {
	for _, f := range []struct{ name, value string }{
		{"ClientID", cfg.ClientID},
		{"Secret", cfg.Secret},
		{"ClientName", cfg.ClientName},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("plaid connector: %s is required", f.name)
		}
	}
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("plaid connector: BaseURL must be an absolute http(s) URL")
	}
	if cfg.WebhookURL != "" {
		if u, err := url.Parse(cfg.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("plaid connector: WebhookURL must be an absolute http(s) URL")
		}
	}
	if len(cfg.Products) == 0 {
		return nil, errors.New("plaid connector: Products must name at least one product")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.Products = slices.Clone(cfg.Products)
	cfg.CountryCodes = slices.Clone(cfg.CountryCodes)
	if len(cfg.CountryCodes) == 0 {
		cfg.CountryCodes = []string{"US"}
	}
	if cfg.Language == "" {
		cfg.Language = "en"
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Connector{
		cfg:    cfg,
		client: httpx.NewClient(cfg.HTTPClient, cfg.Timeout, cfg.MaxResponseBytes),
		now:    now,
	}, nil
}

// Type describes Plaid for the catalog: key "plaid", link-token flow, not
// refreshable, repairing its items in place (Link's update mode).
// Capabilities name what the configured products let the data half fetch
// (see capabilities in data.go).
func (c *Connector) Type() providers.ProviderType {
	return providers.ProviderType{
		Key:          "plaid",
		Name:         "Plaid",
		Flow:         providers.FlowLinkToken,
		Capabilities: c.capabilities(),
		CanRefresh:   false,
		// ITEM_LOGIN_REQUIRED and its kin are repaired by Link in update
		// mode; the access token stays the same.
		RepairsInPlace: true,
	}
}

// Begin creates a Link token for req.UserID (Plaid's client_user_id). The state
// is not sent to Plaid: the application hands it to the client next to the
// link token and checks it when the public token comes back. With
// req.Current, the link token is for Link's update mode: created with the
// item's access_token and no products, it repairs that item, whose access
// token stays the same (the public token Link then gives needs no exchange).
func (c *Connector) Begin(ctx context.Context, req providers.BeginRequest) (providers.BeginResult, error) {
	const op = "plaid: create link token"
	if req.UserID == uuid.Nil {
		return providers.BeginResult{}, httpx.Fail(domain.ErrInvalidRequest, op, "empty user id", nil)
	}
	in := linkTokenCreateRequest{
		credentials:  c.credentials(),
		ClientName:   c.cfg.ClientName,
		Language:     c.cfg.Language,
		CountryCodes: c.cfg.CountryCodes,
		User:         linkUser{ClientUserID: req.UserID.String()},
		Products:     c.cfg.Products,
		RedirectURI:  c.cfg.RedirectURI,
		Webhook:      c.cfg.WebhookURL,
	}
	secrets := []string(nil)
	if req.Current.AccessToken != "" {
		in.AccessToken, in.Products = req.Current.AccessToken, nil
		secrets = append(secrets, req.Current.AccessToken)
	}
	var out linkTokenCreateResponse
	if err := c.call(ctx, op, "/link/token/create", in, &out, secrets...); err != nil {
		return providers.BeginResult{}, err
	}
	if out.LinkToken == "" {
		return providers.BeginResult{}, httpx.Fail(domain.ErrProviderUnavailable, op, "answer without link_token", nil)
	}
	expires, err := time.Parse(time.RFC3339, out.Expiration)
	if err != nil {
		expires = c.now().Add(linkTokenLifetime)
	}
	return providers.BeginResult{LinkToken: out.LinkToken, ExpiresAt: expires}, nil
}

// Complete exchanges a public token from Link for the item's access token,
// which never expires and has no refresh token; ExternalID is the item_id. A
// public token Plaid refuses (used, expired, malformed) is
// domain.ErrInvalidRequest.
func (c *Connector) Complete(ctx context.Context, publicToken string) (providers.Tokens, error) {
	const op = "plaid: exchange public token"
	if publicToken == "" {
		return providers.Tokens{}, httpx.Fail(domain.ErrInvalidRequest, op, "empty public token", nil)
	}
	in := publicTokenExchangeRequest{credentials: c.credentials(), PublicToken: publicToken}
	var out publicTokenExchangeResponse
	if err := c.call(ctx, op, "/item/public_token/exchange", in, &out, publicToken); err != nil {
		return providers.Tokens{}, err
	}
	if out.AccessToken == "" {
		return providers.Tokens{}, httpx.Fail(domain.ErrProviderUnavailable, op, "answer without access_token", nil)
	}
	return providers.Tokens{AccessToken: out.AccessToken, ExternalID: out.ItemID}, nil
}

// Refresh returns domain.ErrNotSupported without calling Plaid: Plaid access
// tokens do not expire, and a broken item is repaired by running Link again in
// update mode.
func (c *Connector) Refresh(context.Context, providers.Tokens) (providers.Tokens, error) {
	return providers.Tokens{}, httpx.Fail(domain.ErrNotSupported, "plaid: refresh", "Plaid access tokens cannot be refreshed", nil)
}

// Revoke removes the item at Plaid (/item/remove), which also stops billing for
// it. An item Plaid no longer has (ITEM_NOT_FOUND) counts as removed; without
// an access token there is nothing to remove.
func (c *Connector) Revoke(ctx context.Context, current providers.Tokens) error {
	const op = "plaid: remove item"
	if current.AccessToken == "" {
		return nil
	}
	in := itemRemoveRequest{credentials: c.credentials(), AccessToken: current.AccessToken}
	err := c.call(ctx, op, "/item/remove", in, &itemRemoveResponse{}, current.AccessToken)
	var apiErr *apiError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == "ITEM_NOT_FOUND" {
		return nil
	}
	return err
}

func (c *Connector) credentials() credentials {
	return credentials{ClientID: c.cfg.ClientID, Secret: c.cfg.Secret}
}
