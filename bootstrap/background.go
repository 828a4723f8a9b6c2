package bootstrap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dashtam/dashtam/adapters/clock"
	"github.com/dashtam/dashtam/adapters/jobs"
	"github.com/dashtam/dashtam/adapters/persistence"
	auditapp "github.com/dashtam/dashtam/application/audit"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	eventsapp "github.com/dashtam/dashtam/application/events"
	exportsapp "github.com/dashtam/dashtam/application/exports"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/application/institutionhooks"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	webhooksapp "github.com/dashtam/dashtam/application/webhooks"
)

// The job engine's fixed limits. How long a job may run (JOB_TIMEOUT) and
// when a job whose instance died is rescued (JOB_RESCUE_AFTER) are
// configuration.
const (
	jobConcurrency     = 10
	jobPollInterval    = time.Second
	idempotencyCleanup = time.Hour
	identityRetention  = time.Hour
	eventRetention     = time.Hour
	auditRetention     = 24 * time.Hour
	// webhookDeliveryCleanup is how often the recorded institution webhook
	// deliveries older than webhookDeliveryRetention are deleted: long
	// after any duplicate could arrive (Plaid retries for a day), long
	// enough to look into what an institution sent.
	webhookDeliveryCleanup   = time.Hour
	webhookDeliveryRetention = 30 * 24 * time.Hour
	// webhookLogRetention is how long the finished deliveries to clients'
	// webhook endpoints (their delivery log) are kept, deleted hourly.
	webhookLogRetention = 30 * 24 * time.Hour
	// syncSchedulePass is how often the scheduler looks for providers due
	// for a sync (SYNC_INTERVAL is how often each one is synced).
	syncSchedulePass = time.Minute
	// exportRetention is how often the chunks of downloaded and expired
	// exports, and the rows of exports finished 30 days ago, are deleted.
	exportRetention = 15 * time.Minute
)

// tokenRefreshPass is one pass of the background token refresh
// (Connections.RefreshDue).
type tokenRefreshPass struct{}

func (tokenRefreshPass) Kind() string { return "token_refresh" }

// identityRetentionPass deletes the sessions, one-time tokens and
// never-verified accounts whose retention ended (identity.Service.PurgeExpired).
type identityRetentionPass struct{}

func (identityRetentionPass) Kind() string { return "identity_retention" }

// idempotencyCleanupPass deletes the expired idempotency records.
type idempotencyCleanupPass struct{}

func (idempotencyCleanupPass) Kind() string { return "idempotency_cleanup" }

// webhookDeliveryCleanupPass deletes the old institution webhook deliveries.
type webhookDeliveryCleanupPass struct{}

func (webhookDeliveryCleanupPass) Kind() string { return "webhook_delivery_cleanup" }

// webhookLogCleanupPass deletes the old finished deliveries to clients'
// webhook endpoints.
type webhookLogCleanupPass struct{}

func (webhookLogCleanupPass) Kind() string { return "webhook_log_cleanup" }

// jobParts are the job engine and the pool it alone uses (SQLite; nil on
// Postgres, where it shares the service's pool).
type jobParts struct {
	engine *jobs.Engine
	// dashboard is River's web UI over the engine's jobs, served to admins
	// at httpapi.JobsDashboardPath.
	dashboard *jobs.Dashboard
	pool      *sql.DB
}

// lateQueue is the JobQueue the stores are built with. It forwards to the job
// engine, which is built after them (its workers call the use cases the
// stores serve); enqueueing before buildJobs has set it is an error.
type lateQueue struct{ engine *jobs.Engine }

// EnqueueTx enqueues job on the engine, in tx.
func (q *lateQueue) EnqueueTx(ctx context.Context, tx *sql.Tx, job jobsapp.Job) (bool, error) {
	if q.engine == nil {
		return false, fmt.Errorf("enqueue %s: the job engine is not built yet", job.Kind())
	}
	return q.engine.EnqueueTx(ctx, tx, job)
}

// jobWork are the use cases the background jobs call.
type jobWork struct {
	identity    *identityapp.Service
	connections *providersapp.Connections
	idempotency *persistence.IdempotencyStore
	engine      *datasyncapp.Engine
	scheduler   *datasyncapp.Scheduler
	hooks       *institutionhooks.Service
	deliveries  *persistence.DeliveryStore
	events      *eventsapp.Service
	audit       *auditapp.Service
	webhooks    *webhooksapp.Service
	webhookLog  *persistence.WebhookStore
	exports     *exportsapp.Service
}

// buildJobs assembles the job engine with every worker and periodic job the
// service has, and points queue at it.
func buildJobs(ctx context.Context, cfg Config, log *slog.Logger, db *persistence.DB, queue *lateQueue, work jobWork,
	pollInterval time.Duration,
) (_ *jobParts, err error) {
	w := jobs.NewWorkers(log)
	if err := errors.Join(
		jobs.Register(w, func(ctx context.Context, _ tokenRefreshPass) error { return refreshTokens(ctx, log, work.connections) }),
		jobs.Register(w, func(ctx context.Context, _ idempotencyCleanupPass) error {
			return deleteExpiredIdempotency(ctx, log, work.idempotency)
		}),
		jobs.Register(w, work.identity.DeliverVerification),
		jobs.Register(w, work.identity.DeliverPasswordReset),
		jobs.Register(w, work.identity.DeliverRegistrationAttempt),
		jobs.Register(w, func(ctx context.Context, _ identityRetentionPass) error {
			counts, err := work.identity.PurgeExpired(ctx)
			if counts != (identityapp.RetentionCounts{}) {
				log.InfoContext(ctx, "expired identity records deleted", "sessions", counts.Sessions,
					"one_time_tokens", counts.OneTimeTokens, "unverified_users", counts.Users)
			}
			return err
		}),
		jobs.Register(w, func(ctx context.Context, job eventsapp.PurgeJob) error {
			n, err := work.events.Purge(ctx, job)
			if n > 0 {
				log.InfoContext(ctx, "events past retention deleted", "deleted", n)
			}
			return err
		}),
		jobs.Register(w, func(ctx context.Context, job auditapp.PurgeJob) error {
			n, err := work.audit.Purge(ctx, job)
			if n > 0 {
				log.InfoContext(ctx, "audit entries past retention deleted", "deleted", n)
			}
			return err
		}),
		jobs.Register(w, work.connections.RevokeSetAside),
		jobs.Register(w, work.engine.Run),
		jobs.Register(w, work.hooks.Act),
		jobs.Register(w, work.webhooks.Deliver),
		jobs.Register(w, func(ctx context.Context, _ webhookLogCleanupPass) error {
			n, err := work.webhookLog.DeleteDeliveriesBefore(ctx, time.Now().Add(-webhookLogRetention))
			if n > 0 {
				log.InfoContext(ctx, "old webhook deliveries deleted", "deleted", n)
			}
			return err
		}),
		jobs.Register(w, func(ctx context.Context, _ webhookDeliveryCleanupPass) error {
			n, err := work.deliveries.DeleteReceivedBefore(ctx, time.Now().Add(-webhookDeliveryRetention))
			if n > 0 {
				log.InfoContext(ctx, "old institution webhook deliveries deleted", "deleted", n)
			}
			return err
		}),
		jobs.Register(w, work.exports.Run),
		jobs.Register(w, func(ctx context.Context, job exportsapp.PurgeJob) error {
			chunks, rows, err := work.exports.Purge(ctx, job)
			if chunks+rows > 0 {
				log.InfoContext(ctx, "downloaded, expired and old exports deleted", "chunks", chunks, "exports", rows)
			}
			return err
		}),
		jobs.Register(w, func(ctx context.Context, _ datasyncapp.ScheduleJob) error {
			begun, joined, err := work.scheduler.Pass(ctx)
			if begun+joined > 0 {
				log.InfoContext(ctx, "sync schedule pass", "begun", begun, "joined", joined)
			}
			return err
		}),
	); err != nil {
		return nil, err
	}
	parts := &jobParts{}
	dialect, pool := jobs.Postgres, db.SQL
	if db.Dialect == persistence.SQLite {
		// River's SQLite driver wants a pool of one connection of its own.
		if parts.pool, err = db.OpenSingleConnPool(ctx); err != nil {
			return nil, err
		}
		dialect, pool = jobs.SQLite, parts.pool
	}
	parts.engine, err = jobs.New(dialect, pool, jobs.Config{
		Workers: w,
		Periodic: []jobs.Periodic{
			{Interval: cfg.TokenRefreshInterval, Job: tokenRefreshPass{}},
			{Interval: idempotencyCleanup, Job: idempotencyCleanupPass{}},
			{Interval: identityRetention, Job: identityRetentionPass{}},
			{Interval: eventRetention, Job: eventsapp.PurgeJob{}},
			{Interval: auditRetention, Job: auditapp.PurgeJob{}},
			{Interval: syncSchedulePass, Job: datasyncapp.ScheduleJob{}},
			{Interval: webhookDeliveryCleanup, Job: webhookDeliveryCleanupPass{}},
			{Interval: webhookDeliveryCleanup, Job: webhookLogCleanupPass{}},
			{Interval: exportRetention, Job: exportsapp.PurgeJob{}},
		},
		Concurrency:          jobConcurrency,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.JobRescueAfter,
		FinishedRetention:    cfg.JobRetention,
		FailedRetention:      cfg.JobFailedRetention,
		PollInterval:         pollInterval,
		Log:                  log,
	})
	if err != nil {
		return nil, errors.Join(err, parts.close())
	}
	queue.engine = parts.engine
	return parts, nil
}

// close closes the engine's own pool, if it has one.
func (p *jobParts) close() error {
	if p.pool == nil {
		return nil
	}
	return p.pool.Close()
}

func refreshTokens(ctx context.Context, log *slog.Logger, connections *providersapp.Connections) error {
	refreshed, failed, err := connections.RefreshDue(ctx)
	if refreshed+failed > 0 {
		log.InfoContext(ctx, "background token refresh", "refreshed", refreshed, "failed", failed)
	}
	return err
}

func deleteExpiredIdempotency(ctx context.Context, log *slog.Logger, idempotency *persistence.IdempotencyStore) error {
	n, err := idempotency.DeleteExpired(ctx, time.Now())
	if n > 0 {
		log.InfoContext(ctx, "expired idempotency records deleted", "deleted", n)
	}
	return err
}

// Background is the app's background work while it runs: the job engine and
// the session watcher.
type Background struct {
	engine      *jobs.Engine
	stopWatcher context.CancelFunc
	stopHub     context.CancelFunc
	watcher     sync.WaitGroup
}

// StartBackground starts the app's background work: the job engine (the
// periodic token refresh and idempotency clean-up among its jobs) and, on
// Postgres, listening for session changes made by other instances. Stop it
// before closing the app.
func (app *App) StartBackground(ctx context.Context) (*Background, error) {
	if err := app.jobs.engine.Start(ctx); err != nil {
		return nil, err
	}
	if err := app.jobs.dashboard.Start(ctx); err != nil {
		return nil, errors.Join(err, app.jobs.engine.Stop(ctx))
	}
	watchCtx, stop := context.WithCancel(ctx)
	hubCtx, stopHub := context.WithCancel(ctx)
	b := &Background{engine: app.jobs.engine, stopWatcher: stop, stopHub: stopHub}
	b.watcher.Go(func() { app.Sessions.WatchSessions(watchCtx, app.Log) })
	b.watcher.Go(func() { app.hub.Run(hubCtx) })
	// Every instance runs the webhook dispatcher; the dispatch mark's lock
	// lets one at a time read and fan out the new events.
	b.watcher.Go(func() { app.webhooks.RunDispatcher(hubCtx, app.Config.WebhookDispatch, clock.System{}.Sleep) })
	return b, nil
}

// Stop stops the background work. Running jobs may finish until ctx ends;
// those still running then are handed back to the queue (jobs.Engine.Stop).
func (b *Background) Stop(ctx context.Context) error {
	b.stopHub() // first: its streams end, so the HTTP server's shutdown need not wait for them
	err := b.engine.Stop(ctx)
	b.stopWatcher()
	b.watcher.Wait()
	if err != nil {
		return fmt.Errorf("background work: %w", err)
	}
	return nil
}
