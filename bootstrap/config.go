package bootstrap

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/dashtam/dashtam/adapters/accesstoken"
	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/adapters/logging"
	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/adapters/providers/plaid"
	"github.com/dashtam/dashtam/adapters/ratelimit"
	auditapp "github.com/dashtam/dashtam/application/audit"
	eventsapp "github.com/dashtam/dashtam/application/events"
	exportsapp "github.com/dashtam/dashtam/application/exports"
	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	webhooksapp "github.com/dashtam/dashtam/application/webhooks"
)

// Environment names.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Key is one entry of a keyring variable ("id:base64,id:base64"; first is primary).
type Key struct {
	ID     string
	Secret []byte
}

// Config is the service's typed configuration, read from the environment
// (variables documented in README.md and .env.example).
type Config struct {
	Env            string
	HTTPAddr       string
	DataDir        string
	DatabaseURL    string // empty: embedded SQLite under DataDir
	AutoMigrate    bool
	PublicBaseURL  string
	LogLevel       slog.Level
	TrustedProxies []string
	// MetricsAddr, when set, serves GET /metrics on a listener of its own,
	// for an internal network. MetricsToken, when set, lets the public
	// listener serve it to a bearer of the token; in production the public
	// listener serves it to nobody else (404). DocsEnabled serves the
	// documentation pages (/docs, /redoc; default: not in production).
	// EmailLinkBaseURL is the front end the links in emails point at
	// (<it>/verify-email?token=..., <it>/reset-password?token=...); unset,
	// they point at PUBLIC_BASE_URL, whose binary serves minimal pages.
	EmailLinkBaseURL string
	MetricsAddr      string
	MetricsToken     string
	DocsEnabled      bool
	SMTPURL          string // empty: emails are logged (development only)
	SMTPFrom         string
	// SMTPRequireTLS refuses an smtp:// server that does not offer STARTTLS
	// (default: on in production).
	SMTPRequireTLS bool
	AccessTokenTTL time.Duration
	// SessionMaxLifetime is a session's absolute life, however often it is
	// refreshed; RefreshReuseGrace how long a just-rotated refresh token may
	// be presented again without revoking its session.
	SessionMaxLifetime time.Duration
	RefreshReuseGrace  time.Duration
	// SessionCacheTTL bounds how long an instance trusts what it read of a
	// session's validity (0: read it on every request). Default: 1s on SQLite,
	// 0 on Postgres (docs/operations.md).
	SessionCacheTTL time.Duration
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration

	// SandboxEnabled offers the built-in sandbox institution (default: on in
	// development, off in production).
	SandboxEnabled bool
	// SandboxTimeOffset runs the sandbox's data clock ahead of the real one
	// (SANDBOX_TIME_OFFSET, development only), so pending transactions post
	// without waiting days.
	SandboxTimeOffset time.Duration
	// AuthorizationResultURL is the front-end page redirect callbacks send the
	// browser to, with the code and state to relay (or the institution's
	// error); empty: the callbacks answer with them (JSON, or HTML to a browser).
	AuthorizationResultURL string
	// TokenRefreshWindow: provider tokens expiring within it are refreshed ahead
	// of time; TokenRefreshInterval is how often the background pass runs.
	TokenRefreshWindow   time.Duration
	TokenRefreshInterval time.Duration
	// SyncInterval is how often each connected provider is synced
	// (SYNC_INTERVAL), give or take 10%.
	SyncInterval time.Duration
	// EventRetention is how long events are kept (EVENT_RETENTION): how far
	// back GET /events and a stream's resume reach.
	EventRetention time.Duration
	// AuditRetention is how long the audit log keeps its entries
	// (AUDIT_RETENTION, at least 30 days: the tables refuse to delete
	// anything younger).
	AuditRetention time.Duration
	// ExportTTL is how long a finished data export can be downloaded
	// (EXPORT_TTL); the document is deleted after its one download or then.
	ExportTTL time.Duration
	// EventStreamHeartbeat is how often an event stream sends a comment and
	// re-checks its caller (EVENT_STREAM_HEARTBEAT); EventStreamPoll how
	// often each instance reads the log for new events to fan out
	// (EVENT_STREAM_POLL_INTERVAL); EventStreamsPerUser how many streams one
	// user may hold on one instance (EVENT_STREAMS_PER_USER).
	EventStreamHeartbeat time.Duration
	EventStreamPoll      time.Duration
	EventStreamsPerUser  int
	// WebhookAllowLoopback lets webhook endpoints at loopback addresses
	// (http://127.0.0.1:...) receive deliveries, for local development
	// (WEBHOOK_ALLOW_LOOPBACK; refused in production). WebhookDispatch is
	// how often the event log is read for new deliveries
	// (WEBHOOK_DISPATCH_INTERVAL).
	WebhookAllowLoopback bool
	WebhookDispatch      time.Duration
	// ProviderTimeout bounds every call to an institution.
	ProviderTimeout time.Duration
	// ProviderCallBudget is how many calls one grant may make to its
	// institution per minute, and ProviderTypeCallBudget how many all the
	// grants of one provider type may make together, on every instance
	// (PROVIDER_CALL_BUDGET, PROVIDER_TYPE_CALL_BUDGET; 0: unlimited).
	ProviderCallBudget, ProviderTypeCallBudget int
	// JobTimeout cancels a background job's attempt after this long
	// (JOB_TIMEOUT); the job is retried, a sync from its last commit.
	JobTimeout time.Duration
	// JobRescueAfter is how long a job may stay running before it is taken
	// for dead (its instance crashed) and run again by any instance
	// (JOB_RESCUE_AFTER). It is longer than JobTimeout, so a job still
	// running is never rescued and run twice.
	JobRescueAfter time.Duration
	// JobRetention is how long the job engine keeps its records of jobs
	// that finished (completed or cancelled), and JobFailedRetention of
	// jobs that failed for good (JOB_RETENTION, JOB_FAILED_RETENTION): what
	// operators see in the jobs dashboard, and the longest a deleted
	// user's ids linger in job arguments.
	JobRetention, JobFailedRetention time.Duration

	// RedisURL selects the shared rate-limit store; empty: in-process memory.
	RedisURL string
	// RateLimitPrefix starts every rate-limit key, so deployments can share one
	// Redis.
	RateLimitPrefix string
	// RateLimitAuth, RateLimitRefresh (per session), RateLimitRefreshIP (the
	// refresh tier's per-IP backstop), RateLimitRead, RateLimitWrite and
	// RateLimitAdmin (every admin route, per admin) are the tiers' rates in
	// ulule/limiter syntax ("5-M").
	RateLimitAuth, RateLimitRefresh, RateLimitRefreshIP, RateLimitRead, RateLimitWrite, RateLimitAdmin string
	// RateLimitWebhook limits the institutions' webhooks per client IP.
	RateLimitWebhook string
	// AllowedOrigins are the browser origins CORS admits.
	AllowedOrigins []string
	Schwab         SchwabConfig
	Plaid          PlaidConfig

	JWTSigningKeys      []Key
	TokenEncryptionKeys []Key
	// DevKeysFile is set when the keys above came from the generated development
	// key file rather than the environment.
	DevKeysFile string
}

// SchwabConfig configures the Charles Schwab connector; it is offered when the
// client id and secret are set.
type SchwabConfig struct {
	ClientID, ClientSecret, RedirectURL, AuthURL, TokenURL string
	// APIBaseURL is the Trader API the data calls go to (SCHWAB_API_BASE_URL;
	// empty: Schwab's production API).
	APIBaseURL string
}

// PlaidConfig configures the Plaid connector; it is offered when the client id
// and secret are set.
type PlaidConfig struct {
	ClientID, Secret, BaseURL string
	Products                  []string
	// WebhookURL (PLAID_WEBHOOK_URL) is where Plaid sends the items'
	// webhooks: this service's /api/v1/webhooks/plaid as Plaid reaches it.
	// Every link token carries it; empty, Plaid sends none.
	WebhookURL string
}

// SQLitePath is the embedded database file.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "dashtam.db") }

// Production reports whether APP_ENV=production.
func (c Config) Production() bool { return c.Env == EnvProduction }

// LoadConfig reads and validates the configuration. Every problem is reported
// at once, each naming its variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	r := &envReader{getenv: getenv}
	var c Config
	loadService(r, &c)
	loadHTTP(r, &c)
	loadDatabase(r, &c)
	loadEmail(r, &c)
	loadProviders(r, &c)
	loadJobs(r, &c)
	loadRateLimits(r, &c)
	loadKeys(r, &c)
	if c.Production() {
		requireProductionSecrets(r)
	}
	return c, r.err()
}

// loadService reads what the whole process shares: the environment, the log
// level and the access-token lifetime.
func loadService(r *envReader, c *Config) {
	c.Env = r.get("APP_ENV", EnvDevelopment)
	if c.Env != EnvDevelopment && c.Env != EnvProduction {
		r.bad("APP_ENV", "must be development or production")
	}
	var err error
	if c.LogLevel, err = logging.ParseLevel(r.get("LOG_LEVEL", "info")); err != nil {
		r.bad("LOG_LEVEL", "must be debug, info, warn or error")
	}
	c.AccessTokenTTL = r.duration("ACCESS_TOKEN_TTL", accesstoken.DefaultTTL)
	c.SessionMaxLifetime = r.duration("SESSION_MAX_LIFETIME", identityapp.DefaultSessionMaxLifetime)
	c.RefreshReuseGrace = r.durationUpTo("REFRESH_REUSE_GRACE", DefaultRefreshReuseGrace, time.Minute, "no grace")
}

// loadHTTP reads the listener, the public origin and the limits of each
// request.
func loadHTTP(r *envReader, c *Config) {
	c.HTTPAddr = r.get("HTTP_ADDR", "127.0.0.1:8080")
	c.RequestTimeout = r.duration("REQUEST_TIMEOUT", httpapi.DefaultRequestTimeout)
	c.ShutdownTimeout = r.duration("SHUTDOWN_TIMEOUT", 20*time.Second)
	if raw := r.get("TRUSTED_PROXIES", ""); raw != "" {
		c.TrustedProxies = splitList(raw)
	}
	c.PublicBaseURL = strings.TrimRight(r.get("PUBLIC_BASE_URL", "http://"+c.HTTPAddr), "/")
	if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.bad("PUBLIC_BASE_URL", "must be an absolute http(s) URL")
	}
	c.MetricsAddr = r.get("METRICS_ADDR", "")
	c.MetricsToken = r.get("METRICS_TOKEN", "")
	if c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		r.bad("METRICS_TOKEN", "must be at least 32 characters (openssl rand -base64 32)")
	}
	c.DocsEnabled = r.boolean("DOCS_ENABLED", !c.Production())
	c.EmailLinkBaseURL = strings.TrimRight(r.get("EMAIL_LINK_BASE_URL", ""), "/")
	if c.EmailLinkBaseURL != "" {
		if u, err := url.Parse(c.EmailLinkBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.bad("EMAIL_LINK_BASE_URL", "must be an absolute http(s) URL")
		}
	}
	if origins, err := httpapi.ParseAllowedOrigins(splitList(r.get("ALLOWED_ORIGINS", ""))); err != nil {
		r.bad("ALLOWED_ORIGINS", "%v", err)
	} else {
		c.AllowedOrigins = origins
	}
}

// loadDatabase reads where the data lives and how much of it an instance may
// cache.
func loadDatabase(r *envReader, c *Config) {
	c.DataDir = r.get("DATA_DIR", "./data")
	c.DatabaseURL = r.get("DATABASE_URL", "")
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		r.bad("DATABASE_URL", "must be a postgres:// URL (unset it to use the embedded SQLite database)")
	}
	c.AutoMigrate = r.boolean("AUTO_MIGRATE", true)
	// The cache is exact on the embedded SQLite database (one process drops
	// what it changes); on Postgres another instance learns of a revocation a
	// few milliseconds after it commits, so there it is the operator's choice.
	if c.DatabaseURL == "" {
		c.SessionCacheTTL = persistence.DefaultSessionCacheTTL
	}
	c.SessionCacheTTL = r.durationUpTo("SESSION_CACHE_TTL", c.SessionCacheTTL, time.Minute, "no cache")
}

// loadEmail reads how mail leaves the service.
func loadEmail(r *envReader, c *Config) {
	c.SMTPURL = r.get("SMTP_URL", "")
	c.SMTPFrom = r.get("SMTP_FROM", "Dashtam <no-reply@dashtam.local>")
	c.SMTPRequireTLS = r.boolean("SMTP_REQUIRE_TLS", c.Production())
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") {
			r.bad("SMTP_URL", "must be an smtp:// or smtps:// URL")
		}
	}
}

// DefaultSyncInterval is SYNC_INTERVAL's default: how often every connected
// provider's data is synced, give or take 10%.
const DefaultSyncInterval = 4 * time.Hour

// DefaultRefreshReuseGrace is REFRESH_REUSE_GRACE's default: long enough for a
// client to retry a refresh whose answer it lost, short enough that a thief
// racing the owner is still caught on the owner's next refresh.
const DefaultRefreshReuseGrace = 5 * time.Second

// loadProviders reads which institutions are offered and how their tokens are
// kept fresh. It needs the environment and the public origin read first.
func loadProviders(r *envReader, c *Config) {
	c.SandboxEnabled = r.boolean("SANDBOX_ENABLED", c.Env != EnvProduction)
	if raw := r.get("SANDBOX_TIME_OFFSET", ""); raw != "" {
		c.SandboxTimeOffset = r.duration("SANDBOX_TIME_OFFSET", 0)
		if c.Env == EnvProduction {
			r.bad("SANDBOX_TIME_OFFSET", "is a development setting; unset it when APP_ENV=production")
		}
	}
	c.AuthorizationResultURL = r.get("AUTHORIZATION_RESULT_URL", "")
	if c.AuthorizationResultURL != "" {
		if u, err := httpapi.ParseResultURL(c.AuthorizationResultURL); err != nil {
			r.bad("AUTHORIZATION_RESULT_URL", "%v", err)
		} else if c.Env == EnvProduction && u.Scheme != "https" {
			r.bad("AUTHORIZATION_RESULT_URL", "must be an https URL when APP_ENV=production")
		}
	}
	c.TokenRefreshWindow = r.duration("TOKEN_REFRESH_WINDOW", providersapp.DefaultRefreshWindow)
	c.TokenRefreshInterval = r.duration("TOKEN_REFRESH_INTERVAL", 30*time.Second)
	c.SyncInterval = r.duration("SYNC_INTERVAL", DefaultSyncInterval)
	c.EventRetention = r.duration("EVENT_RETENTION", eventsapp.DefaultRetention)
	if c.EventRetention < time.Hour {
		r.bad("EVENT_RETENTION", "must be at least 1h: clients resume from the events kept")
	}
	c.AuditRetention = r.duration("AUDIT_RETENTION", auditapp.DefaultRetention)
	if c.AuditRetention < auditapp.MinRetention {
		r.bad("AUDIT_RETENTION", "must be at least 720h (30 days): the audit log refuses to delete younger entries")
	}
	c.ExportTTL = r.duration("EXPORT_TTL", exportsapp.DefaultTTL)
	if c.ExportTTL < time.Minute {
		r.bad("EXPORT_TTL", "must be at least 1m: the user needs time to download the export")
	}
	c.EventStreamHeartbeat = r.duration("EVENT_STREAM_HEARTBEAT", httpapi.DefaultStreamHeartbeat)
	c.EventStreamPoll = r.duration("EVENT_STREAM_POLL_INTERVAL", eventsapp.DefaultPollInterval)
	if c.EventStreamPoll > time.Second {
		r.bad("EVENT_STREAM_POLL_INTERVAL", "must be at most 1s: an event reaches every instance's streams within it")
	}
	c.EventStreamsPerUser = r.count("EVENT_STREAMS_PER_USER", eventsapp.DefaultMaxStreamsPerUser)
	if c.EventStreamsPerUser < 1 {
		r.bad("EVENT_STREAMS_PER_USER", "must be at least 1")
	}
	c.WebhookAllowLoopback = r.boolean("WEBHOOK_ALLOW_LOOPBACK", false)
	if c.WebhookAllowLoopback && c.Production() {
		r.bad("WEBHOOK_ALLOW_LOOPBACK", "is a development setting; unset it when APP_ENV=production")
	}
	c.WebhookDispatch = r.duration("WEBHOOK_DISPATCH_INTERVAL", webhooksapp.DefaultDispatchInterval)
	if c.WebhookDispatch <= 0 || c.WebhookDispatch > time.Minute {
		r.bad("WEBHOOK_DISPATCH_INTERVAL", "must be between 1ms and 1m")
	}
	c.ProviderTimeout = r.duration("PROVIDER_TIMEOUT", httpx.DefaultTimeout)
	c.ProviderCallBudget = r.count("PROVIDER_CALL_BUDGET", DefaultProviderCallBudget)
	c.ProviderTypeCallBudget = r.count("PROVIDER_TYPE_CALL_BUDGET", DefaultProviderTypeCallBudget)
	for name, n := range map[string]int{"PROVIDER_CALL_BUDGET": c.ProviderCallBudget, "PROVIDER_TYPE_CALL_BUDGET": c.ProviderTypeCallBudget} {
		if n > 0 && n < MinProviderCallBudget {
			r.bad(name, "must be 0 (unlimited) or at least %d calls a minute: a sync run makes several calls before it commits anything, "+
				"so a smaller budget would postpone it for ever", MinProviderCallBudget)
		}
	}
	c.Schwab = SchwabConfig{
		ClientID:     r.get("SCHWAB_CLIENT_ID", ""),
		ClientSecret: r.get("SCHWAB_CLIENT_SECRET", ""),
		RedirectURL:  r.get("SCHWAB_REDIRECT_URL", c.PublicBaseURL+"/api/v1/oauth/schwab/callback"),
		AuthURL:      r.get("SCHWAB_AUTH_URL", ""),
		TokenURL:     r.get("SCHWAB_TOKEN_URL", ""),
		APIBaseURL:   r.get("SCHWAB_API_BASE_URL", ""),
	}
	if (c.Schwab.ClientID == "") != (c.Schwab.ClientSecret == "") {
		r.bad("SCHWAB_CLIENT_SECRET", "SCHWAB_CLIENT_ID and SCHWAB_CLIENT_SECRET go together")
	}
	// Schwab itself (no SCHWAB_AUTH_URL pointing at a fake) redirects only to
	// an https callback registered in its developer portal.
	if c.Schwab.ClientID != "" && c.Schwab.ClientSecret != "" && c.Schwab.AuthURL == "" && !strings.HasPrefix(c.Schwab.RedirectURL, "https://") {
		r.bad("SCHWAB_REDIRECT_URL", "Schwab redirects only to an https callback registered in its developer portal, and %q is not https; "+
			"in development, reach this service through an https tunnel (cloudflared, ngrok or ssh -R) and set SCHWAB_REDIRECT_URL "+
			"to https://<tunnel host>/api/v1/oauth/schwab/callback (see README.md, Connecting Schwab)", c.Schwab.RedirectURL)
	}
	c.Plaid = PlaidConfig{
		ClientID:   r.get("PLAID_CLIENT_ID", ""),
		Secret:     r.get("PLAID_SECRET", ""),
		BaseURL:    r.get("PLAID_BASE_URL", plaid.SandboxURL),
		Products:   splitList(r.get("PLAID_PRODUCTS", "transactions")),
		WebhookURL: r.get("PLAID_WEBHOOK_URL", ""),
	}
	if w := c.Plaid.WebhookURL; w != "" {
		u, err := url.Parse(w)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			r.bad("PLAID_WEBHOOK_URL", "%q is not an absolute http(s) URL", w)
		case c.Production() && u.Scheme != "https":
			r.bad("PLAID_WEBHOOK_URL", "must be https in production, not %q", w)
		}
	}
	if (c.Plaid.ClientID == "") != (c.Plaid.Secret == "") {
		r.bad("PLAID_SECRET", "PLAID_CLIENT_ID and PLAID_SECRET go together")
	}
}

// Defaults of PROVIDER_CALL_BUDGET and PROVIDER_TYPE_CALL_BUDGET (calls per
// minute): a sync makes one call per kind of data and one per page of
// transactions, so a grant's first sync of a few thousand transactions stays
// well within its budget; operators set the type's budget to the quota the
// institution gives the application (docs/financial-data.md).
const (
	DefaultProviderCallBudget     = 120
	DefaultProviderTypeCallBudget = 1200
	// MinProviderCallBudget is the smallest budget that is not 0 (unlimited).
	MinProviderCallBudget = 10
)

// Defaults of JOB_TIMEOUT and JOB_RESCUE_AFTER. The longest job is a sync
// of a large provider, which commits as it goes: a timeout ends only the
// attempt, and the retry resumes from the last commit.
const (
	DefaultJobTimeout     = 10 * time.Minute
	DefaultJobRescueAfter = 15 * time.Minute
	// River's own defaults.
	DefaultJobRetention       = 24 * time.Hour
	DefaultJobFailedRetention = 7 * 24 * time.Hour
)

// loadJobs reads the background job engine's limits: how long one attempt
// may run, and after how long a job whose instance died is rescued.
func loadJobs(r *envReader, c *Config) {
	c.JobTimeout = r.duration("JOB_TIMEOUT", DefaultJobTimeout)
	c.JobRescueAfter = r.duration("JOB_RESCUE_AFTER", DefaultJobRescueAfter)
	if c.JobRescueAfter <= c.JobTimeout {
		r.bad("JOB_RESCUE_AFTER", "must be longer than JOB_TIMEOUT (%v), or a job still running would be rescued and run twice at once", c.JobTimeout)
	}
	c.JobRetention = r.duration("JOB_RETENTION", DefaultJobRetention)
	c.JobFailedRetention = r.duration("JOB_FAILED_RETENTION", DefaultJobFailedRetention)
	for name, d := range map[string]time.Duration{"JOB_RETENTION": c.JobRetention, "JOB_FAILED_RETENTION": c.JobFailedRetention} {
		if d <= 0 {
			r.bad(name, "must be positive")
		}
	}
}

// loadRateLimits reads the rate-limit tiers and where their counters live.
func loadRateLimits(r *envReader, c *Config) {
	c.RedisURL = r.get("REDIS_URL", "")
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		r.bad("REDIS_URL", "must be a redis:// or rediss:// URL")
	}
	c.RateLimitPrefix = r.get("RATE_LIMIT_PREFIX", ratelimit.DefaultPrefix)
	for _, v := range []struct {
		name string
		dst  *string
		def  string
	}{
		{"RATE_LIMIT_AUTH", &c.RateLimitAuth, "5-M"}, {"RATE_LIMIT_REFRESH", &c.RateLimitRefresh, "30-M"},
		{"RATE_LIMIT_REFRESH_IP", &c.RateLimitRefreshIP, "300-M"},
		{"RATE_LIMIT_READ", &c.RateLimitRead, "100-M"}, {"RATE_LIMIT_WRITE", &c.RateLimitWrite, "30-M"},
		{"RATE_LIMIT_WEBHOOK", &c.RateLimitWebhook, "600-M"},
		{"RATE_LIMIT_ADMIN", &c.RateLimitAdmin, "10-M"},
	} {
		*v.dst = r.get(v.name, v.def)
		if err := ratelimit.CheckRate(*v.dst); err != nil {
			r.bad(v.name, "must be a rate like 5-M (limit-period, period S, M, H or D)")
		}
	}
}

// loadKeys reads the two keyrings. Unset, they stay empty here and development
// fills them from the generated key file (ensureDevKeys).
func loadKeys(r *envReader, c *Config) {
	c.JWTSigningKeys = parseKeyring("JWT_SIGNING_KEYS", r.getenv("JWT_SIGNING_KEYS"), 32, 0, r.bad)
	c.TokenEncryptionKeys = parseKeyring("TOKEN_ENCRYPTION_KEYS", r.getenv("TOKEN_ENCRYPTION_KEYS"), 32, 32, r.bad)
}

// requireProductionSecrets reports every variable production may not leave to
// a development default.
func requireProductionSecrets(r *envReader) {
	for _, name := range []string{"DATABASE_URL", "JWT_SIGNING_KEYS", "TOKEN_ENCRYPTION_KEYS", "SMTP_URL", "PUBLIC_BASE_URL"} {
		if r.get(name, "") == "" {
			r.bad(name, "is required when APP_ENV=production")
		}
	}
}

var keyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// parseKeyring parses "id:base64[,id:base64...]". Secrets must decode to at least
// minLen bytes (and exactly exactLen when it is not 0). Error messages name the
// variable and the entry's position, never the secret.
func parseKeyring(name, raw string, minLen, exactLen int, bad func(string, string, ...any)) []Key {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	var keys []Key
	seen := map[string]bool{}
	for i, entry := range splitList(raw) {
		id, secret, ok := strings.Cut(entry, ":")
		if !ok || !keyID.MatchString(id) {
			bad(name, "entry %d must look like key-id:base64-secret (id of 1-32 letters, digits, - or _)", i+1)
			continue
		}
		if seen[id] {
			bad(name, "key id %q appears twice", id)
			continue
		}
		seen[id] = true
		b, err := base64.StdEncoding.DecodeString(secret)
		if err != nil {
			bad(name, "key %q is not valid base64", id)
			continue
		}
		if len(b) < minLen || (exactLen > 0 && len(b) != exactLen) {
			want := fmt.Sprintf("at least %d", minLen)
			if exactLen > 0 {
				want = fmt.Sprintf("exactly %d", exactLen)
			}
			bad(name, "key %q must decode to %s bytes (try: openssl rand -base64 32)", id, want)
			continue
		}
		keys = append(keys, Key{ID: id, Secret: b})
	}
	return keys
}

func splitList(raw string) []string {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
