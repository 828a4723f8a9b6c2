// Package jobs runs the service's background work on River
// (github.com/riverqueue/river), the durable job engine, on Postgres or on the
// embedded SQLite database. River's types stay in this package: use cases see
// application/jobs, bootstrap registers workers and periodic jobs through
// Workers and Periodic, and the persistence adapter inserts jobs in its own
// transactions through EnqueueTx.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	jobsapp "github.com/dashtam/dashtam/application/jobs"
)

// Dialect names the database River runs on.
type Dialect string

// Supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Config is what the engine runs and how.
type Config struct {
	// Workers does the work of each kind of job.
	Workers *Workers
	// Periodic are the jobs enqueued on a schedule: by one instance, River's
	// elected leader, however many run.
	Periodic []Periodic
	// Concurrency is how many jobs one instance works at once.
	Concurrency int
	// JobTimeout cancels a job's context after this long; the job is retried.
	JobTimeout time.Duration
	// RescueStuckJobsAfter is how long a job may stay running before it is
	// taken for dead (its instance crashed) and retried. It must exceed
	// JobTimeout, or a slow job would run twice at once.
	RescueStuckJobsAfter time.Duration
	// FinishedRetention is how long the records of completed and cancelled
	// jobs are kept, FailedRetention those of jobs that failed for good
	// (River's defaults, 24 hours and 7 days, when zero). River's leader
	// deletes older ones every 30 seconds.
	FinishedRetention, FailedRetention time.Duration
	// PollInterval is how often an instance looks for new jobs. On Postgres
	// it is the delay before a new job starts: the database/sql driver does
	// not LISTEN.
	PollInterval time.Duration
	Log          *slog.Logger
}

// Periodic is a job enqueued every Interval by the elected instance, the first
// time when it is elected. Each run is one attempt: a failed run is not
// retried, the next one is due at the interval anyway. A run that outlasts the
// interval overlaps the next, so the work must be safe to run twice at once
// (the token refresh claims its rows with leases).
type Periodic struct {
	Interval time.Duration
	Job      jobsapp.Job
}

// Engine enqueues and works jobs. Start it once; Stop it before the database
// closes.
type Engine struct {
	client *river.Client[*sql.Tx]
	log    *slog.Logger
}

// New builds an engine over pool, the connections River works with. On
// SQLite, pool must hold one connection (River's SQLite driver wants it so;
// see docs/operations.md); its jobs can still be enqueued in transactions of
// the service's own pool.
func New(dialect Dialect, pool *sql.DB, cfg Config) (*Engine, error) {
	return newEngine(dialect, pool, cfg, func(*river.Config) {})
}

// newEngine is New with a last say on River's configuration, for tests.
func newEngine(dialect Dialect, pool *sql.DB, cfg Config, tune func(*river.Config)) (*Engine, error) {
	if cfg.Workers == nil {
		return nil, errors.New("jobs: no workers")
	}
	driver, err := newDriver(dialect, pool)
	if err != nil {
		return nil, err
	}
	rc := &river.Config{
		Queues:                      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Concurrency}},
		Workers:                     cfg.Workers.river,
		PeriodicJobs:                periodicJobs(cfg.Periodic),
		JobTimeout:                  cfg.JobTimeout,
		RescueStuckJobsAfter:        cfg.RescueStuckJobsAfter,
		CompletedJobRetentionPeriod: cfg.FinishedRetention,
		CancelledJobRetentionPeriod: cfg.FinishedRetention,
		DiscardedJobRetentionPeriod: cfg.FailedRetention,
		FetchPollInterval:           cfg.PollInterval,
		Logger:                      cfg.Log.With("component", "jobs"),
	}
	tune(rc)
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &Engine{client: client, log: cfg.Log}, nil
}

// newDriver picks River's driver for dialect. On Postgres it is the
// database/sql driver, not pgx's: GORM runs its transactions as *sql.Tx, and
// only a driver over database/sql can insert a job inside one.
func newDriver(dialect Dialect, pool *sql.DB) (riverdriver.Driver[*sql.Tx], error) {
	switch dialect {
	case Postgres:
		return riverdatabasesql.New(pool), nil
	case SQLite:
		return riversqlite.New(pool), nil
	default:
		return nil, fmt.Errorf("jobs: unknown dialect %q", dialect)
	}
}

// Start starts working jobs and, on the elected instance, enqueueing the
// periodic ones and rescuing jobs whose instance died. Only Stop stops the
// engine: River takes the end of Start's context for a hard stop, which would
// cancel running jobs at the first signal instead of letting them finish.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops taking jobs and waits until ctx ends for the running ones to
// finish. Jobs still running then have their contexts cancelled and are
// handed back: a job that returns is available again at once, to any
// instance; one that does not is rescued once RescueStuckJobsAfter has passed.
func (e *Engine) Stop(ctx context.Context) error {
	err := e.client.Stop(ctx)
	if err == nil || ctx.Err() == nil {
		return err
	}
	e.log.Warn("jobs still running at the shutdown deadline; cancelling them; they go back to the queue")
	hardCtx, cancel := context.WithTimeout(context.Background(), hardStopTimeout)
	defer cancel()
	if err := e.client.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}

// hardStopTimeout is how long Stop waits, after cancelling the jobs still
// running, for them to return.
const hardStopTimeout = 5 * time.Second

// EnqueueTx enqueues job in tx, a transaction of the service's own, so that
// the job exists if and only if tx commits. joined is true when a
// SingleFlight job joined one already queued or running.
func (e *Engine) EnqueueTx(ctx context.Context, tx *sql.Tx, job jobsapp.Job) (joined bool, err error) {
	res, err := e.client.InsertTx(ctx, tx, job, insertOpts(job))
	if err != nil {
		return false, fmt.Errorf("jobs: enqueue %s: %w", job.Kind(), err)
	}
	return res.UniqueSkippedAsDuplicate, nil
}

// activeStates are the states in which a SingleFlight job is joined rather
// than doubled: every state but finished ones.
var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable,
	rivertype.JobStatePending,
	rivertype.JobStateRetryable,
	rivertype.JobStateRunning,
	rivertype.JobStateScheduled,
}

// insertOpts are River's options for job: unique by kind and arguments while
// active when it is SingleFlight, River's defaults otherwise.
func insertOpts(job jobsapp.Job) *river.InsertOpts {
	if _, ok := job.(jobsapp.SingleFlight); ok {
		return &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
	}
	return nil
}

func periodicJobs(periodic []Periodic) []*river.PeriodicJob {
	out := make([]*river.PeriodicJob, len(periodic))
	for i, p := range periodic {
		out[i] = river.NewPeriodicJob(
			river.PeriodicInterval(p.Interval),
			func() (river.JobArgs, *river.InsertOpts) { return p.Job, &river.InsertOpts{MaxAttempts: 1} },
			&river.PeriodicJobOpts{ID: p.Job.Kind(), RunOnStart: true},
		)
	}
	return out
}

// Workers holds the worker of each kind of job, registered explicitly by
// the composition root.
type Workers struct {
	river *river.Workers
	log   *slog.Logger
}

// NewWorkers returns an empty set of workers that log their failures to log.
func NewWorkers(log *slog.Logger) *Workers { return &Workers{river: river.NewWorkers(), log: log} }

// Register makes work the worker of jobs of type J. A second worker for one
// kind is an error. work's error fails this attempt, and is logged; River
// retries the job with backoff, up to its attempt limit. A *jobsapp.RetryAfter
// is no failure: the job is snoozed (River's JobSnooze) for its delay, and
// the attempt does not count.
func Register[J jobsapp.Job](w *Workers, work func(context.Context, J) error) error {
	err := river.AddWorkerSafely(w.river, river.WorkFunc(func(ctx context.Context, job *river.Job[J]) error {
		err := work(ctx, job.Args)
		if ra, ok := errors.AsType[*jobsapp.RetryAfter](err); ok {
			return river.JobSnooze(max(ra.Delay, 0))
		}
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "background job failed", "job", job.Kind, "attempt", job.Attempt, "error", err.Error())
		}
		return err
	}))
	if err != nil {
		return fmt.Errorf("jobs: register %s: %w", (*new(J)).Kind(), err)
	}
	return nil
}
