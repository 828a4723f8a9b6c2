// Package sandbox is Dashtam's built-in development institution, so the whole
// connect -> callback -> refresh -> revoke journey runs with no credentials.
//
// It has two parts built from the same Config:
//   - Institution, an http.Handler that plays the institution: a consent page
//     that redirects straight back with a code, and a token endpoint that
//     speaks like Schwab's (HTTP Basic client auth, short lifetimes, a refresh
//     lifetime counted from consent);
//   - Connector, the ordinary OAuth 2.0 redirect connector (package oauth2x)
//     pointed at that Institution, whose token calls are served in-process.
//     It is also a providers.DataConnector: each grant reaches a generated
//     ledger of accounts, holdings and transactions, or fails, as the sandbox
//     user chosen at consent (UserGood and the others) says.
//
// Codes and tokens are stateless and tamper-evident (HMAC-SHA256 under
// Config.Secret, expiry inside), so several instances of the service sharing
// the secret accept each other's codes and tokens.
package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"
)

// Defaults applied when Config leaves a field at its zero value.
const (
	DefaultPrefix     = "/sandbox/oauth"
	DefaultAccessTTL  = 5 * time.Minute
	DefaultRefreshTTL = time.Hour
	// CodeTTL is how long an authorization code can be exchanged.
	CodeTTL = 60 * time.Second
	// ClientID is the client identifier the sandbox connector presents.
	ClientID = "dashtam-sandbox"
	// MinSecretBytes is the shortest Config.Secret accepted.
	MinSecretBytes = 32
)

// Config configures both the Institution and the Connector. Give every instance
// of the service the same Secret so they accept each other's codes and tokens.
type Config struct {
	// PublicBaseURL is where browsers reach this service, for example
	// "http://localhost:8080"; the authorization URL is
	// PublicBaseURL + Prefix + "/authorize".
	PublicBaseURL string
	// RedirectURL is the callback the consent page sends the browser back to
	// (the service's fixed /oauth/sandbox/callback route). Like a real
	// institution, the sandbox only accepts this exact value.
	RedirectURL string
	// Prefix is the path the Institution is mounted under (DefaultPrefix when
	// empty). It starts with "/" and has no trailing "/".
	Prefix string
	// Secret keys the HMAC over codes and tokens; at least MinSecretBytes long.
	Secret []byte
	// AccessTTL is the access token lifetime (DefaultAccessTTL when zero).
	AccessTTL time.Duration
	// RefreshTTL is the refresh token lifetime counted from consent
	// (DefaultRefreshTTL when zero); like Schwab's, refreshing does not extend
	// it, so the re-authorization path can be tried in development.
	RefreshTTL time.Duration
	// Timeout bounds each in-process token call (10 s when zero).
	Timeout time.Duration
	// MaxResponseBytes caps each token answer (1 MiB when zero).
	MaxResponseBytes int64
	// Now tells the time; time.Now when nil.
	Now func() time.Time
	// DataTimeOffset moves the ledger's clock, and only it, forward: data
	// calls answer as the institution would this much later, so a
	// developer (or an end-to-end test) sees pending transactions post,
	// corrections and removals without waiting days. Tokens and codes keep
	// Now. Zero in normal use; development only (SANDBOX_TIME_OFFSET).
	DataTimeOffset time.Duration
}

// settings is a validated Config with its derived values.
type settings struct {
	Config
	authURL      string
	tokenURL     string
	clientSecret string
	macKey       []byte
}

func (cfg Config) settings() (settings, error) {
	if len(cfg.Secret) < MinSecretBytes {
		return settings{}, errors.New("sandbox: Secret must be at least 32 bytes")
	}
	base, err := url.Parse(cfg.PublicBaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return settings{}, errors.New("sandbox: PublicBaseURL must be an absolute http(s) URL")
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || u.Scheme == "" || u.Host == "" {
		return settings{}, errors.New("sandbox: RedirectURL must be an absolute URL")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/") {
		return settings{}, errors.New(`sandbox: Prefix must start with "/" and not end with "/"`)
	}
	if cfg.AccessTTL < 0 || cfg.RefreshTTL < 0 {
		return settings{}, errors.New("sandbox: AccessTTL and RefreshTTL must not be negative")
	}
	if cfg.DataTimeOffset < 0 {
		return settings{}, errors.New("sandbox: DataTimeOffset must not be negative")
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	root := strings.TrimRight(cfg.PublicBaseURL, "/") + cfg.Prefix
	return settings{
		Config:       cfg,
		authURL:      root + "/authorize",
		tokenURL:     root + "/token",
		clientSecret: hex.EncodeToString(derive(cfg.Secret, "client secret")),
		macKey:       derive(cfg.Secret, "token mac key"),
	}, nil
}

// derive gives each use of the secret its own key.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dashtam sandbox v1: " + purpose))
	return m.Sum(nil)
}
