package bootstrap

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func key(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

func TestDevelopmentStartsWithNothingSet(t *testing.T) {
	cfg, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Env != EnvDevelopment || cfg.HTTPAddr != "127.0.0.1:8080" || cfg.DatabaseURL != "" || !cfg.AutoMigrate {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.PublicBaseURL != "http://127.0.0.1:8080" {
		t.Errorf("PublicBaseURL = %q", cfg.PublicBaseURL)
	}
}

// In production every missing secret is reported, each by its variable name.
func TestProductionRequiresEverySecret(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{"APP_ENV": "production"}))
	if err == nil {
		t.Fatal("production started without secrets")
	}
	for _, name := range []string{"DATABASE_URL", "JWT_SIGNING_KEYS", "TOKEN_ENCRYPTION_KEYS", "SMTP_URL", "PUBLIC_BASE_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	_, err = LoadConfig(env(map[string]string{
		"APP_ENV": "production", "DATABASE_URL": "postgres://db/x", "JWT_SIGNING_KEYS": "k1:" + key(32),
		"TOKEN_ENCRYPTION_KEYS": "k1:" + key(32), "SMTP_URL": "smtps://u:p@mail:465", "PUBLIC_BASE_URL": "https://api.example.com",
	}))
	if err != nil {
		t.Fatalf("complete production config rejected: %v", err)
	}
}

func TestInvalidValuesNameTheirVariable(t *testing.T) {
	secret := key(16)
	cases := map[string]map[string]string{
		"APP_ENV":               {"APP_ENV": "staging"},
		"AUTO_MIGRATE":          {"AUTO_MIGRATE": "perhaps"},
		"LOG_LEVEL":             {"LOG_LEVEL": "loud"},
		"PUBLIC_BASE_URL":       {"PUBLIC_BASE_URL": "ftp://x"},
		"DATABASE_URL":          {"DATABASE_URL": "mysql://x"},
		"SMTP_URL":              {"SMTP_URL": "http://mail"},
		"REQUEST_TIMEOUT":       {"REQUEST_TIMEOUT": "-3s"},
		"SESSION_CACHE_TTL":     {"SESSION_CACHE_TTL": "2h"},
		"JWT_SIGNING_KEYS":      {"JWT_SIGNING_KEYS": "k1:" + secret},
		"TOKEN_ENCRYPTION_KEYS": {"TOKEN_ENCRYPTION_KEYS": "k1:" + key(31)},
		"JOB_TIMEOUT":           {"JOB_TIMEOUT": "soon"},
		"SANDBOX_TIME_OFFSET":   {"SANDBOX_TIME_OFFSET": "-1h"},
		"PROVIDER_CALL_BUDGET":  {"PROVIDER_CALL_BUDGET": "-1"},
		// Below the 30 days the audit table refuses to delete.
		"AUDIT_RETENTION":    {"AUDIT_RETENTION": "24h"},
		"RATE_LIMIT_REFRESH": {"RATE_LIMIT_REFRESH": "0-M"},
		"EXPORT_TTL":         {"EXPORT_TTL": "10s"},
		// Below the calls a sync run makes before it commits anything.
		"PROVIDER_TYPE_CALL_BUDGET": {"PROVIDER_TYPE_CALL_BUDGET": "3"},
		// A rescue before the timeout would run a live job twice at once.
		"JOB_RESCUE_AFTER": {"JOB_TIMEOUT": "20m", "JOB_RESCUE_AFTER": "15m"},
	}
	for name, vars := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(env(vars))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %s", err, name)
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("error echoes the secret")
			}
		})
	}
}

// A bad environment is reported in one round: every bad variable, once each,
// from every group of settings.
func TestSeveralBadVariablesReportedTogether(t *testing.T) {
	bad := map[string]string{
		"APP_ENV":              "staging",
		"REQUEST_TIMEOUT":      "soon",
		"DATABASE_URL":         "mysql://x",
		"SMTP_URL":             "http://mail",
		"TOKEN_REFRESH_WINDOW": "-5m",
		"SCHWAB_CLIENT_ID":     "only-the-id",
		"RATE_LIMIT_READ":      "lots",
		"JWT_SIGNING_KEYS":     "k1:" + key(16),
	}
	_, err := LoadConfig(env(bad))
	if err == nil {
		t.Fatal("a bad environment was accepted")
	}
	for name := range bad {
		if name == "SCHWAB_CLIENT_ID" {
			name = "SCHWAB_CLIENT_SECRET" // the pair is reported under the secret
		}
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(bad) {
		t.Errorf("want %d problems, one per variable, got: %v", len(bad), err)
	}
}

func TestSessionCacheTTL(t *testing.T) {
	for raw, want := range map[string]time.Duration{"": time.Second, "0": 0, "250ms": 250 * time.Millisecond} {
		cfg, err := LoadConfig(env(map[string]string{"SESSION_CACHE_TTL": raw}))
		if err != nil {
			t.Fatalf("SESSION_CACHE_TTL=%q: %v", raw, err)
		}
		if cfg.SessionCacheTTL != want {
			t.Errorf("SESSION_CACHE_TTL=%q: %v, want %v", raw, cfg.SessionCacheTTL, want)
		}
	}
	pg, err := LoadConfig(env(map[string]string{"DATABASE_URL": "postgres://db/dashtam"}))
	if err != nil {
		t.Fatal(err)
	}
	if pg.SessionCacheTTL != 0 {
		t.Errorf("on Postgres the session cache defaults to %v, want off", pg.SessionCacheTTL)
	}
	if _, err := LoadConfig(env(map[string]string{"SESSION_CACHE_TTL": "-1s"})); err == nil {
		t.Error("a negative SESSION_CACHE_TTL was accepted")
	}
}

func TestKeyringOrderAndDuplicates(t *testing.T) {
	cfg, err := LoadConfig(env(map[string]string{"JWT_SIGNING_KEYS": "new:" + key(32) + ", old:" + key(48)}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.JWTSigningKeys) != 2 || cfg.JWTSigningKeys[0].ID != "new" || len(cfg.JWTSigningKeys[1].Secret) != 48 {
		t.Errorf("keys = %+v", cfg.JWTSigningKeys)
	}
	if _, err := LoadConfig(env(map[string]string{"JWT_SIGNING_KEYS": "a:" + key(32) + ",a:" + key(32)})); err == nil {
		t.Error("duplicate key ids accepted")
	}
}

// Development keys are generated once into DATA_DIR (0600) and reused after.
func TestDevKeysGeneratedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := LoadConfig(env(map[string]string{"DATA_DIR": dir}))
	generated, err := ensureDevKeys(&cfg)
	if err != nil || !generated {
		t.Fatalf("first start: generated=%v err=%v", generated, err)
	}
	info, err := os.Stat(filepath.Join(dir, devKeysFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
	first := cfg.JWTSigningKeys[0].Secret

	cfg2, _ := LoadConfig(env(map[string]string{"DATA_DIR": dir}))
	generated, err = ensureDevKeys(&cfg2)
	if err != nil || generated {
		t.Fatalf("second start: generated=%v err=%v", generated, err)
	}
	if string(cfg2.JWTSigningKeys[0].Secret) != string(first) || len(cfg2.TokenEncryptionKeys[0].Secret) != 32 {
		t.Error("second start did not reuse the keys")
	}
}

// Hardening item 7: AUTHORIZATION_RESULT_URL is checked at start-up; a page
// with a query string of its own is fine.
func TestAuthorizationResultURLIsValidatedAtStartUp(t *testing.T) {
	for raw, wantErr := range map[string]string{
		"https://app.example/connected?tab=banks": "",
		"http://localhost:3000/connected":         "",
		"/connected":                              "absolute http(s) URL",
		"javascript:alert(1)":                     "absolute http(s) URL",
		"https://user:pw@app.example/connected":   "user information",
		"https://app.example/connected#done":      "fragment",
	} {
		_, err := LoadConfig(env(map[string]string{"AUTHORIZATION_RESULT_URL": raw}))
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%q: %v", raw, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), "AUTHORIZATION_RESULT_URL") || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%q: error %v, want AUTHORIZATION_RESULT_URL ... %s", raw, err, wantErr)
		}
	}
	_, err := LoadConfig(env(map[string]string{"APP_ENV": "production", "AUTHORIZATION_RESULT_URL": "http://app.example/connected"}))
	if err == nil || !strings.Contains(err.Error(), "AUTHORIZATION_RESULT_URL: must be an https URL") {
		t.Errorf("production with an http page: %v", err)
	}
}

// Hardening item 18: production SMTP requires TLS unless the operator says
// otherwise; development does not.
func TestProductionSMTPRequiresTLSByDefault(t *testing.T) {
	prod := map[string]string{
		"APP_ENV": "production", "DATABASE_URL": "postgres://db/x", "JWT_SIGNING_KEYS": "k1:" + key(32),
		"TOKEN_ENCRYPTION_KEYS": "k1:" + key(32), "SMTP_URL": "smtp://u:p@mail:587", "PUBLIC_BASE_URL": "https://api.example.com",
	}
	for _, tc := range []struct {
		name string
		set  map[string]string
		want bool
	}{
		{"development", nil, false},
		{"production", prod, true},
		{"production, turned off", merge(prod, map[string]string{"SMTP_REQUIRE_TLS": "false"}), false},
		{"development, turned on", map[string]string{"SMTP_REQUIRE_TLS": "true"}, true},
	} {
		cfg, err := LoadConfig(env(tc.set))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cfg.SMTPRequireTLS != tc.want {
			t.Errorf("%s: SMTPRequireTLS = %v, want %v", tc.name, cfg.SMTPRequireTLS, tc.want)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Hardening item 22: enabling Schwab itself with an http callback is refused
// with an explanation of how to get an https one; a fake Schwab (tests) may
// use http.
func TestSchwabWithAnHTTPCallbackExplainsTheHTTPSTunnel(t *testing.T) {
	_, err := LoadConfig(env(map[string]string{"SCHWAB_CLIENT_ID": "id", "SCHWAB_CLIENT_SECRET": "secret"}))
	if err == nil || !strings.Contains(err.Error(), "SCHWAB_REDIRECT_URL") || !strings.Contains(err.Error(), "https tunnel") {
		t.Fatalf("Schwab with the default http callback: %v, want an error explaining the https tunnel", err)
	}
	for name, set := range map[string]map[string]string{
		"https callback": {"SCHWAB_CLIENT_ID": "id", "SCHWAB_CLIENT_SECRET": "secret", "SCHWAB_REDIRECT_URL": "https://t.example/api/v1/oauth/schwab/callback"},
		"fake Schwab":    {"SCHWAB_CLIENT_ID": "id", "SCHWAB_CLIENT_SECRET": "secret", "SCHWAB_AUTH_URL": "http://127.0.0.1:9/authorize"},
	} {
		if _, err := LoadConfig(env(set)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Hardening item 17: production serves no documentation pages unless told to,
// and a metrics token must be long enough to be a secret.
func TestProductionHidesDocsAndMetricsTokensAreLong(t *testing.T) {
	prod := map[string]string{
		"APP_ENV": "production", "DATABASE_URL": "postgres://db/x", "JWT_SIGNING_KEYS": "k1:" + key(32),
		"TOKEN_ENCRYPTION_KEYS": "k1:" + key(32), "SMTP_URL": "smtps://u:p@mail:465", "PUBLIC_BASE_URL": "https://api.example.com",
	}
	cfg, err := LoadConfig(env(prod))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DocsEnabled || cfg.MetricsToken != "" {
		t.Errorf("production defaults: docs %v, metrics token %q; want no docs, no token (metrics 404 on the public listener)", cfg.DocsEnabled, cfg.MetricsToken)
	}
	if cfg, err := LoadConfig(env(merge(prod, map[string]string{"DOCS_ENABLED": "true"}))); err != nil || !cfg.DocsEnabled {
		t.Errorf("DOCS_ENABLED=true in production: %v, %v", cfg.DocsEnabled, err)
	}
	if dev, err := LoadConfig(env(nil)); err != nil || !dev.DocsEnabled {
		t.Errorf("development: docs %v, %v; want served", dev.DocsEnabled, err)
	}
	if _, err := LoadConfig(env(map[string]string{"METRICS_TOKEN": "short"})); err == nil || !strings.Contains(err.Error(), "METRICS_TOKEN") {
		t.Errorf("a short METRICS_TOKEN: %v, want an error naming it", err)
	}
}

// The job limits default to a 10-minute attempt and a 15-minute rescue, and
// can be set shorter (the end-to-end tests rescue within seconds) as long as
// the rescue comes after the timeout.
func TestJobTimeoutAndRescue(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(nil))
	if err != nil || c.JobTimeout != DefaultJobTimeout || c.JobRescueAfter != DefaultJobRescueAfter {
		t.Fatalf("defaults = %v, %v, %v", c.JobTimeout, c.JobRescueAfter, err)
	}
	c, err = LoadConfig(env(map[string]string{"JOB_TIMEOUT": "3s", "JOB_RESCUE_AFTER": "4s"}))
	if err != nil || c.JobTimeout != 3*time.Second || c.JobRescueAfter != 4*time.Second {
		t.Fatalf("short = %v, %v, %v", c.JobTimeout, c.JobRescueAfter, err)
	}
	if _, err := LoadConfig(env(map[string]string{"JOB_TIMEOUT": "3s", "JOB_RESCUE_AFTER": "3s"})); err == nil {
		t.Error("a rescue equal to the timeout was accepted")
	}
}

func TestAuditRetention(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(nil))
	if err != nil || c.AuditRetention != 365*24*time.Hour {
		t.Fatalf("default = %v, %v", c.AuditRetention, err)
	}
	c, err = LoadConfig(env(map[string]string{"AUDIT_RETENTION": "720h"}))
	if err != nil || c.AuditRetention != 720*time.Hour {
		t.Fatalf("30 days = %v, %v", c.AuditRetention, err)
	}
}

// SANDBOX_TIME_OFFSET moves only the development sandbox's data clock, and
// production refuses it.
func TestSandboxTimeOffsetIsDevelopmentOnly(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(map[string]string{"SANDBOX_TIME_OFFSET": "96h"}))
	if err != nil || c.SandboxTimeOffset != 96*time.Hour {
		t.Fatalf("development = %v, %v", c.SandboxTimeOffset, err)
	}
	_, err = LoadConfig(env(map[string]string{"APP_ENV": "production", "SANDBOX_TIME_OFFSET": "96h"}))
	if err == nil || !strings.Contains(err.Error(), "SANDBOX_TIME_OFFSET") {
		t.Errorf("production accepted SANDBOX_TIME_OFFSET: %v", err)
	}
}

// The institution call budgets default to a per-grant and an app-wide budget
// a minute, each a rate-limit tier; 0 switches one off (no tier).
func TestProviderCallBudgets(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(nil))
	if err != nil || c.ProviderCallBudget != DefaultProviderCallBudget || c.ProviderTypeCallBudget != DefaultProviderTypeCallBudget {
		t.Fatalf("defaults = %d, %d, %v", c.ProviderCallBudget, c.ProviderTypeCallBudget, err)
	}
	tiers := providerBudgetTiers(c)
	if tiers[tierProviderCall] != "120-M" || tiers[tierProviderTypeCall] != "1200-M" {
		t.Errorf("default tiers = %v", tiers)
	}
	c, err = LoadConfig(env(map[string]string{"PROVIDER_CALL_BUDGET": "0", "PROVIDER_TYPE_CALL_BUDGET": "50"}))
	if err != nil {
		t.Fatal(err)
	}
	tiers, bc := providerBudgetTiers(c), budgetConfig(c)
	if len(tiers) != 1 || tiers[tierProviderTypeCall] != "50-M" || bc.ProviderTier != "" || bc.TypeTier != tierProviderTypeCall {
		t.Errorf("with the per-grant budget off: tiers %v, config %+v", tiers, bc)
	}
}

// WEBHOOK_ALLOW_LOOPBACK lets development deliver to http://127.0.0.1, and
// production refuses to start with it.
func TestWebhookAllowLoopbackIsDevelopmentOnly(t *testing.T) {
	t.Parallel()
	c, err := LoadConfig(env(map[string]string{"WEBHOOK_ALLOW_LOOPBACK": "true"}))
	if err != nil || !c.WebhookAllowLoopback {
		t.Fatalf("development = %v, %v", c.WebhookAllowLoopback, err)
	}
	_, err = LoadConfig(env(map[string]string{"APP_ENV": "production", "WEBHOOK_ALLOW_LOOPBACK": "true"}))
	if err == nil || !strings.Contains(err.Error(), "WEBHOOK_ALLOW_LOOPBACK") {
		t.Errorf("production accepted WEBHOOK_ALLOW_LOOPBACK: %v", err)
	}
}

func TestExportTTL(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil || c.ExportTTL != 24*time.Hour {
		t.Fatalf("default = %v, %v", c.ExportTTL, err)
	}
	c, err = LoadConfig(env(map[string]string{"EXPORT_TTL": "2h"}))
	if err != nil || c.ExportTTL != 2*time.Hour {
		t.Fatalf("2h = %v, %v", c.ExportTTL, err)
	}
}
