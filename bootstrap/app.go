// Package bootstrap is the composition root: it reads the configuration, builds
// every adapter and use case explicitly (no globals, no init registries), wires
// them together and runs the server or a CLI sub-command.
package bootstrap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dashtam/dashtam/adapters/accesstoken"
	"github.com/dashtam/dashtam/adapters/clock"
	"github.com/dashtam/dashtam/adapters/email"
	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/adapters/password"
	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/adapters/providers/instrumented"
	"github.com/dashtam/dashtam/adapters/ratelimit"
	"github.com/dashtam/dashtam/adapters/vault"
	"github.com/dashtam/dashtam/adapters/webhookhttp"
	"github.com/dashtam/dashtam/application"
	adminapp "github.com/dashtam/dashtam/application/admin"
	auditapp "github.com/dashtam/dashtam/application/audit"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	"github.com/dashtam/dashtam/application/erasure"
	eventsapp "github.com/dashtam/dashtam/application/events"
	exportsapp "github.com/dashtam/dashtam/application/exports"
	financeapp "github.com/dashtam/dashtam/application/finance"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/application/institutionhooks"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	webhooksapp "github.com/dashtam/dashtam/application/webhooks"
	"github.com/dashtam/dashtam/domain/datasync"
)

// Overrides swaps outside services for fakes in component and end-to-end tests,
// keeping the real database and HTTP stack. Zero fields mean "the real one".
type Overrides struct {
	Mailer identityapp.Mailer
	Clock  providersapp.Clock
	// Hasher replaces argon2id, whose cost only slows component tests down.
	Hasher identityapp.PasswordHasher
	// JobPollInterval replaces how often the job engine looks for new jobs
	// (a second), so in-process tests see a mail's job run sooner.
	JobPollInterval time.Duration
}

// App is the assembled service.
type App struct {
	Config   Config
	Log      *slog.Logger
	DB       *persistence.DB
	Identity *identityapp.Service
	// Sessions is the identity store; its WatchSessions runs in the background.
	Sessions *persistence.IdentityStore
	// Connections runs the provider authorization use cases, including the
	// background refresh pass.
	Connections    *providersapp.Connections
	Authorizations *persistence.AuthorizationStore
	// Finance stores the financial data the API reads (and tests seed).
	Finance     *persistence.FinanceStore
	Idempotency *persistence.IdempotencyStore
	// Admin runs the operators' use cases, the users sub-command's too.
	Admin *adminapp.Service
	// Handler serves everything: the API (API) and, to admins, the jobs
	// dashboard.
	Handler http.Handler
	// API is the router of the API alone, whose routes the OpenAPI document
	// lists.
	API http.Handler
	// MetricsHandler serves the Prometheus metrics, for METRICS_ADDR.
	MetricsHandler http.Handler

	limiter *ratelimit.Limiters
	jobs    *jobParts      // started by StartBackground
	hub     *eventsapp.Hub // its poller runs in StartBackground
	// webhooks' dispatcher runs in StartBackground.
	webhooks *webhooksapp.Service
}

// Build opens the database (migrating it when AUTO_MIGRATE is on) and assembles
// every adapter and use case, in the order they depend on one another:
// identity, the metrics, the rate-limit store, providers (whose connector
// calls the metrics time and the store budgets), the HTTP stack in front of
// them all, then the job engine with the work it
// runs in the background (the stores enqueue on it through lateQueue). Close releases what it opened.
func Build(ctx context.Context, cfg Config, log *slog.Logger, o Overrides) (_ *App, err error) {
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()

	var clk providersapp.Clock = clock.System{}
	if o.Clock != nil {
		clk = o.Clock
	}
	// The stores enqueue the jobs their changes call for on the job engine,
	// which is built last: its workers call the use cases built on the stores.
	queue := &lateQueue{}
	auditLog := auditapp.NewService(persistence.NewAuditStore(db), clk, log, cfg.AuditRetention)
	id, err := buildIdentity(ctx, cfg, log, o, db, clk, queue, auditLog)
	if err != nil {
		return nil, err
	}
	metrics, err := buildMetrics(auditLog)
	if err != nil {
		return nil, err
	}
	limiter, err := buildLimiter(cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = limiter.Close()
		}
	}()
	pr, err := buildProviders(cfg, log, db, id.store, clk, metrics, limiter, queue)
	if err != nil {
		return nil, err
	}
	financeStore := persistence.NewFinanceStore(db)
	sync := buildSync(cfg, log, clk, pr, financeStore)
	pr.providers.RecordTo(auditLog)
	pr.connections.RecordTo(auditLog)
	sync.syncs.RecordTo(auditLog)
	eventStore := persistence.NewEventStore(db)
	events := eventsapp.NewService(eventStore, clk, cfg.EventRetention)
	// The poll's pause is real time whatever clock the use cases run on.
	hub := eventsapp.NewHub(eventStore, eventsapp.HubConfig{PollInterval: cfg.EventStreamPoll,
		MaxStreamsPerUser: cfg.EventStreamsPerUser, Wait: clock.System{}.Sleep})
	deliveries := persistence.NewDeliveryStore(db, queue)
	hooks := institutionhooks.New(institutionhooks.Deps{Verifiers: pr.webhooks, Deliveries: deliveries,
		Grants: pr.authorizations, Connections: pr.connections, Syncs: sync.syncs, Expiry: pr.connections, Clock: clk, Log: log})
	webhookStore := persistence.NewWebhookStore(db, pr.cipher, queue)
	webhooks := buildWebhooks(cfg, log, webhookStore, eventStore, clk)
	exports := exportsapp.New(exportsapp.Deps{Store: persistence.NewExportStore(db, queue), Source: persistence.NewExportSource(db),
		Clock: clk, Audit: auditLog, Log: log}, exportsapp.Config{TTL: cfg.ExportTTL})
	admin := adminapp.NewService(id.store, id.store, pr.providerStore, clk, auditLog, auditLog)
	app := application.App{Identity: id.service, Providers: pr.providers, Connections: pr.connections,
		Finance: financeapp.NewQueries(financeStore, pr.providerStore), Syncs: sync.syncs, InstitutionHooks: hooks,
		Admin: admin, Events: events, Audit: auditLog, EventStream: hub, Webhooks: webhooks, Exports: exports,
		Erasure: erasure.NewService(persistence.NewErasureStore(id.store, pr.authorizations, log), id.store, id.hasher, admin, clk, auditLog)}
	web, err := buildHTTP(cfg, log, db, clk, app, pr.sandboxInstitution, metrics, limiter)
	if err != nil {
		return nil, err
	}
	background, err := buildJobs(ctx, cfg, log, db, queue, jobWork{identity: id.service, connections: pr.connections, idempotency: web.idempotency,
		engine: sync.engine, scheduler: sync.scheduler, hooks: hooks, deliveries: deliveries, events: events, audit: auditLog,
		webhooks: webhooks, webhookLog: webhookStore, exports: exports},
		cmp.Or(o.JobPollInterval, jobPollInterval))
	if err != nil {
		return nil, err
	}
	if background.dashboard, err = background.engine.Dashboard(httpapi.JobsDashboardPath, log); err != nil {
		return nil, errors.Join(err, background.close())
	}
	handler := httpapi.AdminOnly(app, log, httpapi.JobsDashboardPath, background.dashboard, web.handler)
	return &App{Config: cfg, Log: log, DB: db, Identity: id.service, Sessions: id.store, Connections: pr.connections,
		Authorizations: pr.authorizations, Finance: financeStore, Idempotency: web.idempotency, Admin: app.Admin, limiter: limiter,
		Handler: handler, API: web.handler, MetricsHandler: metrics.Handler(), jobs: background, hub: hub, webhooks: webhooks}, nil
}

// openDatabase opens the database and, when AUTO_MIGRATE is on, brings its
// schema up to date.
func openDatabase(ctx context.Context, cfg Config, log *slog.Logger) (*persistence.DB, error) {
	db, err := persistence.Open(ctx, persistence.Options{URL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath()})
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if err := db.MigrateUp(ctx, log); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return db, nil
}

// identityParts are the accounts and sessions use cases and their store, which
// the provider use cases share.
type identityParts struct {
	service *identityapp.Service
	store   *persistence.IdentityStore
	hasher  identityapp.PasswordHasher
}

// buildIdentity assembles the identity use cases: mail, password hashing,
// access tokens and the identity store.
func buildIdentity(ctx context.Context, cfg Config, log *slog.Logger, o Overrides, db *persistence.DB, clk identityapp.Clock,
	queue persistence.JobQueue, auditor identityapp.Auditor,
) (*identityParts, error) {
	mailer, err := buildMailer(cfg, log, o)
	if err != nil {
		return nil, err
	}
	// As many hashes at once as there are cores: argon2id is CPU-bound, so more
	// at once only hold more memory without more logins per second
	// (docs/performance.md).
	var hasher identityapp.PasswordHasher = password.New(password.DefaultParams, 0)
	if o.Hasher != nil {
		hasher = o.Hasher
	}
	tokens, err := accesstoken.New(accesstoken.Config{
		Keys:     accessKeys(cfg.JWTSigningKeys),
		Issuer:   cfg.PublicBaseURL,
		Audience: cfg.PublicBaseURL + "/api",
		TTL:      cfg.AccessTokenTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("JWT_SIGNING_KEYS: %w", err)
	}
	store := persistence.NewIdentityStore(db, cfg.SessionCacheTTL, queue)
	ids, err := identityapp.NewService(ctx, identityapp.Config{
		PublicBaseURL: cmp.Or(cfg.EmailLinkBaseURL, cfg.PublicBaseURL), SessionMaxLifetime: cfg.SessionMaxLifetime, RefreshReuseGrace: cfg.RefreshReuseGrace,
	}, identityapp.Deps{
		Users:         store,
		Sessions:      store,
		OneTimeTokens: store,
		Retention:     store,
		Hasher:        hasher,
		Tokens:        tokens,
		Mailer:        mailer,
		Jobs:          persistence.NewJobStore(db, queue),
		Clock:         clk,
		Log:           log,
		Audit:         auditor,
	})
	if err != nil {
		return nil, err
	}
	return &identityParts{service: ids, store: store, hasher: hasher}, nil
}

// providerParts are the provider use cases, the encrypted authorization store
// and the sandbox institution's pages (nil when the sandbox is off).
type providerParts struct {
	providers          *providersapp.Service
	connections        *providersapp.Connections
	providerStore      *persistence.ProviderStore
	authorizations     *persistence.AuthorizationStore
	syncStore          *persistence.SyncStore
	sandboxInstitution http.Handler
	// webhooks are the connectors that receive webhooks, by provider key.
	webhooks map[string]providersapp.WebhookVerifier
	// cipher encrypts secrets at rest (TOKEN_ENCRYPTION_KEYS).
	cipher *vault.Keyring
}

// buildMetrics registers the service's metrics, with the Go runtime's and the
// process's, on a registry of the app's own (never Prometheus' global one).
func buildMetrics(auditLog *auditapp.Service) (*httpapi.Metrics, error) {
	promRegistry := prometheus.NewRegistry()
	promRegistry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "dashtam_audit_write_failures_total",
			Help: "Audit entries that could not be written (the action stood; docs/operations.md, Audit log).",
		}, func() float64 { return float64(auditLog.WriteFailures()) }))
	return httpapi.NewMetrics(promRegistry)
}

// buildProviders assembles the provider use cases over the configured
// connectors, each reporting its calls to calls and charging them to the
// budgets kept in limiter, with provider tokens encrypted at rest.
func buildProviders(cfg Config, log *slog.Logger, db *persistence.DB, store *persistence.IdentityStore, clk providersapp.Clock,
	calls instrumented.Observer, limiter *ratelimit.Limiters, queue persistence.JobQueue,
) (*providerParts, error) {
	registry, built, err := buildRegistry(cfg, clk.Now, calls, budgetCounter{limiter})
	if err != nil {
		return nil, err
	}
	cipher, err := vault.New(vaultKeys(cfg.TokenEncryptionKeys))
	if err != nil {
		return nil, fmt.Errorf("TOKEN_ENCRYPTION_KEYS: %w", err)
	}
	providerStore := persistence.NewProviderStore(db)
	syncStore := persistence.NewSyncStore(db, queue)
	// A grant begins the provider's first sync in its own transaction.
	// A revocation the institution cannot take now is kept for a job.
	authorizations := persistence.NewAuthorizationStore(db, cipher, persistence.WithFirstSync(syncStore,
		func(providerID uuid.UUID, now time.Time) (*datasync.Sync, jobsapp.Job) {
			return datasyncapp.FirstSync(providerID, now)
		}), persistence.WithSetAside(queue))
	providers := providersapp.NewService(providerStore, authorizations, store, registry, clk, log)
	connections := providersapp.NewConnections(providerStore, authorizations, store, registry, clk, providersapp.ConnectionsConfig{
		RefreshWindow: cfg.TokenRefreshWindow,
		// Longer than one institution call can take, with room for the database.
		LeaseTTL: 2*cfg.ProviderTimeout + 10*time.Second,
	}, log)
	var sandboxInstitution http.Handler
	if built.sandbox != nil {
		sandboxInstitution = built.sandbox.Institution()
	}
	return &providerParts{providers: providers, connections: connections, providerStore: providerStore,
		authorizations: authorizations, syncStore: syncStore, sandboxInstitution: sandboxInstitution,
		webhooks: built.webhooks, cipher: cipher}, nil
}

// listCursorSecret keys the API's list cursors, which webhook deliveries
// carry too (a transactions.changed event's changes-feed cursor).
func listCursorSecret(cfg Config) []byte { return deriveKey(cfg, "list cursors") }

// buildWebhooks assembles the webhooks to clients' servers: endpoints whose
// secrets are encrypted like provider tokens, and the sender that enforces
// the SSRF policy (https and public addresses only in production; loopback
// too in development with WEBHOOK_ALLOW_LOOPBACK).
func buildWebhooks(cfg Config, log *slog.Logger, store *persistence.WebhookStore, events *persistence.EventStore, clk providersapp.Clock,
) *webhooksapp.Service {
	client := webhookhttp.New(webhookhttp.Config{Policy: webhookhttp.Policy{RequireHTTPS: cfg.Production(), AllowLoopback: cfg.WebhookAllowLoopback}})
	return webhooksapp.New(webhooksapp.Deps{Endpoints: store, Deliveries: store, Events: events, Guard: client, Sender: client,
		Clock: clk, Log: log, Render: httpapi.EventData(listCursorSecret(cfg))}, webhooksapp.Config{})
}

// syncParts are the use cases that keep providers' data in sync: the syncs
// resource, and the engine and scheduler the background jobs run.
type syncParts struct {
	syncs     *datasyncapp.Syncs
	engine    *datasyncapp.Engine
	scheduler *datasyncapp.Scheduler
}

// The scheduler's limits: how many due providers one pass begins, and how long
// a sync may stay in flight before it is taken for abandoned (far beyond the
// longest sync, institutions' Retry-After postponements included).
const (
	schedulerBatch = 100
	syncStaleAfter = 6 * time.Hour
)

// buildSync assembles the sync use cases over the provider parts' stores.
func buildSync(cfg Config, log *slog.Logger, clk providersapp.Clock, pr *providerParts, finance *persistence.FinanceStore) syncParts {
	return syncParts{
		syncs:     datasyncapp.NewSyncs(pr.providerStore, pr.authorizations, pr.syncStore, clk, cfg.SyncInterval),
		engine:    datasyncapp.NewEngine(pr.syncStore, finance, pr.connections, clk, cfg.SyncInterval, log),
		scheduler: datasyncapp.NewScheduler(pr.syncStore, clk, cfg.SyncInterval, schedulerBatch, syncStaleAfter),
	}
}

// httpParts are the HTTP handler and what it holds that the app must clean
// up: the idempotency records.
type httpParts struct {
	handler     http.Handler
	idempotency *persistence.IdempotencyStore
}

// buildLimiter opens the rate-limit store (memory, or Redis when REDIS_URL is
// set) with the HTTP tiers and the institution call budgets
// (providerBudgetTiers).
func buildLimiter(cfg Config, log *slog.Logger) (*ratelimit.Limiters, error) {
	tiers := map[string]string{
		httpapi.TierAuth: cfg.RateLimitAuth, httpapi.TierRefresh: cfg.RateLimitRefresh, httpapi.TierRefreshIP: cfg.RateLimitRefreshIP,
		httpapi.TierRead: cfg.RateLimitRead, httpapi.TierWrite: cfg.RateLimitWrite, httpapi.TierWebhook: cfg.RateLimitWebhook,
		httpapi.TierAdmin: cfg.RateLimitAdmin,
	}
	maps.Copy(tiers, providerBudgetTiers(cfg))
	limiter, err := ratelimit.New(ratelimit.Config{Tiers: tiers, RedisURL: cfg.RedisURL, Prefix: cfg.RateLimitPrefix})
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	ratelimit.RouteRedisLogs(log)
	return limiter, nil
}

// buildHTTP assembles the HTTP stack in front of the use cases: rate limits
// (counted in limiter), idempotency records and the router the OpenAPI
// document drives, serving metrics on GET /metrics.
func buildHTTP(cfg Config, log *slog.Logger, db *persistence.DB, clk providersapp.Clock, app application.App,
	sandboxInstitution http.Handler, metrics *httpapi.Metrics, limiter *ratelimit.Limiters,
) (*httpParts, error) {
	idempotencyStore := persistence.NewIdempotencyStore(db)

	spec, err := httpapi.LoadSpec()
	if err != nil {
		return nil, err
	}
	router, err := httpapi.NewRouter(httpapi.Deps{
		App:                    app,
		AuthorizationResultURL: cfg.AuthorizationResultURL,
		SandboxInstitution:     sandboxInstitution,
		CursorSecret:           listCursorSecret(cfg),
		DeviceTokenSecret:      deriveKey(cfg, "device tokens"),
		Checks: []httpapi.Check{
			{Name: "database", Probe: db.Ping, Required: true},
			httpapi.RateLimitStoreCheck(limiter),
		},
		Limiter:           limiter,
		Idempotency:       idempotencyStore,
		IdempotencySecret: deriveKey(cfg, "idempotency fingerprints"),
		AllowedOrigins:    cfg.AllowedOrigins,
		Metrics:           metrics,
		MetricsPublic:     !cfg.Production() || cfg.MetricsToken != "",
		MetricsToken:      cfg.MetricsToken,
		DocsEnabled:       cfg.DocsEnabled,
		AccountPages:      cfg.EmailLinkBaseURL == "",
		Log:               log,
		Version:           Version,
		Now:               clk.Now,
		RequestTimeout:    cfg.RequestTimeout,
		StreamHeartbeat:   cfg.EventStreamHeartbeat,
		TrustedProxies:    cfg.TrustedProxies,
	}, spec)
	if err != nil {
		return nil, err
	}
	return &httpParts{handler: router, idempotency: idempotencyStore}, nil
}

// Close releases the database, the job engine's own connections and the
// rate-limit store. Stop the background work first.
func (a *App) Close() error { return errors.Join(a.limiter.Close(), a.jobs.close(), a.DB.Close()) }

func buildMailer(cfg Config, log *slog.Logger, o Overrides) (identityapp.Mailer, error) {
	switch {
	case o.Mailer != nil:
		return o.Mailer, nil
	case cfg.SMTPURL != "":
		var opts []email.Option
		if cfg.SMTPRequireTLS {
			opts = append(opts, email.WithRequireTLS())
		}
		m, err := email.NewSMTP(cfg.SMTPURL, cfg.SMTPFrom, opts...)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		return m, nil
	case cfg.Production():
		return nil, errors.New("SMTP_URL: is required when APP_ENV=production")
	default:
		return email.NewLog(log.With("component", "mailer")), nil
	}
}

func vaultKeys(keys []Key) []vault.Key {
	out := make([]vault.Key, len(keys))
	for i, k := range keys {
		out[i] = vault.Key{ID: k.ID, Secret: k.Secret}
	}
	return out
}

func accessKeys(keys []Key) []accesstoken.Key {
	out := make([]accesstoken.Key, len(keys))
	for i, k := range keys {
		out[i] = accesstoken.Key{ID: k.ID, Secret: k.Secret}
	}
	return out
}
