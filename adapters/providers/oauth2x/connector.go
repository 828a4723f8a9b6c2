// Package oauth2x is the one implementation of the OAuth 2.0 authorization-code
// flow that redirect connectors share. It wraps golang.org/x/oauth2 with what
// the library lacks: an injectable clock, a refresh lifetime counted from the
// original consent, the httpx limits, and classification of every failure into
// the domain's provider error kinds.
//
// A redirect connector (schwab, sandbox) is a thin package that fills a Config
// with its institution's endpoints and ProviderType and forwards the
// providers.Connector methods to a *Connector.
package oauth2x

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// Config describes one institution's authorization-code flow.
type Config struct {
	// Type is what Connector.Type reports; Type.Key prefixes error text.
	Type providers.ProviderType
	// ClientID and ClientSecret are sent as HTTP Basic credentials to the token
	// endpoint, never in the body.
	ClientID     string
	ClientSecret string
	// AuthURL is where the user's browser is sent to consent.
	AuthURL string
	// TokenURL is the endpoint codes and refresh tokens are exchanged at.
	TokenURL string
	// RedirectURL is the callback registered with the institution; it is sent
	// both in the authorization URL and in the code exchange.
	RedirectURL string
	// RefreshLifetime is how long the refresh token works counted from the
	// original consent (Schwab: 7 days); refreshing does not extend it. Zero
	// means the institution does not say, and Tokens.RefreshExpiresAt stays zero.
	RefreshLifetime time.Duration
	// Timeout bounds each call (httpx.DefaultTimeout when zero).
	Timeout time.Duration
	// MaxResponseBytes caps each answer (httpx.DefaultMaxResponseBytes when zero).
	MaxResponseBytes int64
	// Now tells the time; time.Now when nil.
	Now func() time.Time
	// HTTPClient is the base client whose transport is used; optional.
	HTTPClient *http.Client
}

// Connector implements providers.Connector for an authorization-code
// institution. It is safe for concurrent use.
type Connector struct {
	typ             providers.ProviderType
	oauth           *oauth2.Config
	client          *http.Client
	now             func() time.Time
	refreshLifetime time.Duration
	clientSecret    string
}

var _ providers.Connector = (*Connector)(nil)

// New validates cfg and returns a Connector. Errors name the missing or
// invalid Config field and are meant for startup, not for API clients.
func New(cfg Config) (*Connector, error) {
	if cfg.Type.Key == "" {
		return nil, errors.New("oauth2x: Type.Key is required")
	}
	required := []struct{ name, value string }{
		{"ClientID", cfg.ClientID},
		{"ClientSecret", cfg.ClientSecret},
	}
	for _, f := range required {
		if f.value == "" {
			return nil, fmt.Errorf("%s connector: %s is required", cfg.Type.Key, f.name)
		}
	}
	for _, f := range []struct{ name, value string }{
		{"AuthURL", cfg.AuthURL},
		{"TokenURL", cfg.TokenURL},
		{"RedirectURL", cfg.RedirectURL},
	} {
		if err := checkAbsoluteURL(f.value); err != nil {
			return nil, fmt.Errorf("%s connector: %s %w", cfg.Type.Key, f.name, err)
		}
	}
	if cfg.RefreshLifetime < 0 {
		return nil, fmt.Errorf("%s connector: RefreshLifetime must not be negative", cfg.Type.Key)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	typ := cfg.Type
	typ.Capabilities = slices.Clone(typ.Capabilities)
	return &Connector{
		typ: typ,
		oauth: &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURL,
			Endpoint: oauth2.Endpoint{
				AuthURL:  cfg.AuthURL,
				TokenURL: cfg.TokenURL,
				// Explicit, so the library never probes by retrying with the
				// secret in the body.
				AuthStyle: oauth2.AuthStyleInHeader,
			},
		},
		client:          httpx.NewClient(cfg.HTTPClient, cfg.Timeout, cfg.MaxResponseBytes),
		now:             now,
		refreshLifetime: cfg.RefreshLifetime,
		clientSecret:    cfg.ClientSecret,
	}, nil
}

// Type returns the configured provider type.
func (c *Connector) Type() providers.ProviderType {
	typ := c.typ
	typ.Capabilities = slices.Clone(c.typ.Capabilities)
	return typ
}

// Begin returns the authorization URL for req.State:
// AuthURL?client_id&redirect_uri&response_type=code&state. It makes no call.
func (c *Connector) Begin(_ context.Context, req providers.BeginRequest) (providers.BeginResult, error) {
	if req.State == "" {
		return providers.BeginResult{}, httpx.Fail(domain.ErrInvalidRequest, c.op("begin"), "empty state", nil)
	}
	return providers.BeginResult{AuthorizationURL: c.oauth.AuthCodeURL(req.State)}, nil
}

// Complete exchanges an authorization code for tokens. code must be exactly what
// the institution issued, decoded once from the callback's query string; it is
// form-encoded once more on the way out and nothing else. The consent time
// (Now, read before the call) starts the refresh lifetime. A code the
// institution rejects (used, expired, unknown) is domain.ErrInvalidRequest.
func (c *Connector) Complete(ctx context.Context, code string) (providers.Tokens, error) {
	op := c.op("exchange code")
	if code == "" {
		return providers.Tokens{}, httpx.Fail(domain.ErrInvalidRequest, op, "empty authorization code", nil)
	}
	consent := c.now()
	tok, err := c.oauth.Exchange(c.withClient(ctx), code)
	if err != nil {
		return providers.Tokens{}, c.classify(op, err, exchangeRejection, code)
	}
	t := c.tokens(tok, consent)
	if c.refreshLifetime > 0 {
		t.RefreshExpiresAt = consent.Add(c.refreshLifetime)
	}
	return t, nil
}

// Refresh trades current.RefreshToken for new tokens. When
// current.RefreshExpiresAt has passed it returns domain.ErrReauthorizationRequired
// without calling the institution; so does any 400 or 401 from the token
// endpoint, since OAuth servers answer that way for a dead refresh token
// (invalid_grant, invalid_client, unsupported_token_type). The refresh token
// that comes back is returned (the current one when none does), and
// RefreshExpiresAt, Scopes and ExternalID are kept unless the answer replaces
// them: refreshing never extends the lifetime counted from consent.
func (c *Connector) Refresh(ctx context.Context, current providers.Tokens) (providers.Tokens, error) {
	op := c.op("refresh")
	if current.RefreshToken == "" {
		return providers.Tokens{}, httpx.Fail(domain.ErrReauthorizationRequired, op, "no refresh token held", nil)
	}
	now := c.now()
	if !current.RefreshExpiresAt.IsZero() && !now.Before(current.RefreshExpiresAt) {
		return providers.Tokens{}, httpx.Fail(domain.ErrReauthorizationRequired, op, "refresh lifetime since consent has ended", nil)
	}
	src := c.oauth.TokenSource(c.withClient(ctx), &oauth2.Token{RefreshToken: current.RefreshToken})
	tok, err := src.Token()
	if err != nil {
		return providers.Tokens{}, c.classify(op, err, refreshRejection, current.RefreshToken, current.AccessToken)
	}
	t := c.tokens(tok, now)
	if t.RefreshToken == "" {
		t.RefreshToken = current.RefreshToken
	}
	if len(t.Scopes) == 0 {
		t.Scopes = slices.Clone(current.Scopes)
	}
	t.RefreshExpiresAt = current.RefreshExpiresAt
	t.ExternalID = current.ExternalID
	return t, nil
}

// Revoke returns nil: the flows this package serves have no revocation
// endpoint, so revoking means wiping the tokens locally, which the application
// does either way.
func (c *Connector) Revoke(context.Context, providers.Tokens) error {
	return nil
}

func (c *Connector) op(what string) string {
	return c.typ.Key + ": " + what
}

// withClient makes golang.org/x/oauth2 use the limited client for this call.
func (c *Connector) withClient(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.client)
}

// tokens converts a token response; lifetimes count from now.
func (c *Connector) tokens(tok *oauth2.Token, now time.Time) providers.Tokens {
	t := providers.Tokens{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
	}
	if tok.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if scope, ok := tok.Extra("scope").(string); ok {
		t.Scopes = strings.Fields(scope)
	}
	return t
}

// rejection decides the kind of a token endpoint's refusal.
type rejection func(status int, code string) error

// exchangeRejection: a refused code is the caller's problem (start again),
// refused client credentials or a server failure are ours or the institution's.
func exchangeRejection(status int, code string) error {
	switch {
	case code == "invalid_client" || code == "unauthorized_client" || status == http.StatusUnauthorized:
		return domain.ErrProviderUnavailable
	case code == "invalid_grant" || status == http.StatusBadRequest:
		return domain.ErrInvalidRequest
	default:
		return domain.ErrProviderUnavailable
	}
}

// refreshRejection: any 400 or 401 (or a grant error code on another status)
// means the refresh token is dead and the user must consent again.
func refreshRejection(status int, code string) error {
	switch {
	case status == http.StatusBadRequest || status == http.StatusUnauthorized:
		return domain.ErrReauthorizationRequired
	case code == "invalid_grant" || code == "invalid_client" || code == "unsupported_token_type":
		return domain.ErrReauthorizationRequired
	default:
		return domain.ErrProviderUnavailable
	}
}

// classify turns an error from golang.org/x/oauth2 into an *httpx.Error.
// secrets are redacted from any institution text kept in the detail.
func (c *Connector) classify(op string, err error, reject rejection, secrets ...string) error {
	secrets = append(secrets, c.clientSecret)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		detail := fmt.Sprintf("token endpoint answered %d", status)
		if re.ErrorCode != "" {
			detail += " " + re.ErrorCode
		}
		if re.ErrorDescription != "" {
			detail += ": " + re.ErrorDescription
		}
		return httpx.Fail(reject(status, re.ErrorCode), op, detail, err, secrets...)
	}
	var ue *url.Error
	if errors.As(err, &ue) || httpx.IsTimeout(err) || errors.Is(err, context.Canceled) {
		return httpx.ClassifyTransport(op, err)
	}
	// Anything else is an answer we could not use: malformed JSON, a missing
	// access_token. The library's text may quote the answer, so only the
	// cause keeps it, out of the error's text.
	return httpx.Fail(domain.ErrProviderUnavailable, op, "unusable token response", err)
}

func checkAbsoluteURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("must be an absolute http(s) URL")
	}
	return nil
}
