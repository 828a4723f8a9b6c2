package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/dashtam/dashtam/adapters/persistence"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/test/dbtest"
)

// probe is a job whose worker the test decides.
type probe struct {
	N int `json:"n"`
}

func (probe) Kind() string { return "test_probe" }

// singleProbe is a SingleFlight job, like a provider's sync.
type singleProbe struct {
	ProviderID string `json:"provider_id"`
}

func (singleProbe) Kind() string  { return "test_single_probe" }
func (singleProbe) SingleFlight() {}

// database is a migrated database and the pool an engine works it with.
type database struct {
	db      *persistence.DB
	dialect Dialect
}

// eachDialect runs test on SQLite, and on Postgres when TEST_DATABASE_URL is
// set (failing under CI=true when it is not).
func eachDialect(t *testing.T, test func(t *testing.T, d database)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, database{db: dbtest.SQLite(t), dialect: SQLite})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, database{db: dbtest.Postgres(t), dialect: Postgres})
	})
}

// pool returns the connections an engine works with: a single-connection pool
// of its own on SQLite, as bootstrap gives it; the service's pool on Postgres.
func (d database) pool(t *testing.T) *sql.DB {
	t.Helper()
	if d.dialect == Postgres {
		return d.db.SQL
	}
	pool, err := d.db.OpenSingleConnPool(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	return pool
}

// newTestEngine builds an engine polling often, with tune's changes to
// River's configuration.
func newTestEngine(t *testing.T, d database, w *Workers, tune func(*river.Config)) *Engine {
	t.Helper()
	e, err := newEngine(d.dialect, d.pool(t), Config{
		Workers:      w,
		Concurrency:  4,
		PollInterval: 50 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, func(c *river.Config) {
		c.FetchCooldown = 10 * time.Millisecond
		c.TestOnly = true
		tune(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func noTuning(*river.Config) {}

// start starts e and stops it when the test ends, before its database closes.
func start(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// enqueue enqueues job in a transaction of the service's pool and commits it.
func enqueue(t *testing.T, d database, e *Engine, job jobsapp.Job) (joined bool) {
	t.Helper()
	ctx := context.Background()
	tx, err := d.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	joined, err = e.EnqueueTx(ctx, tx, job)
	if err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return joined
}

// jobsOf lists the jobs of kind, oldest first.
func jobsOf(t *testing.T, e *Engine, kind string) []*rivertype.JobRow {
	t.Helper()
	res, err := e.client.JobList(context.Background(), river.NewJobListParams().Kinds(kind).First(100))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForState waits until the only job of kind is in state.
func waitForState(t *testing.T, e *Engine, kind string, state rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	var job *rivertype.JobRow
	waitFor(t, "a "+kind+" job "+string(state), func() bool {
		jobs := jobsOf(t, e, kind)
		if len(jobs) != 1 {
			return false
		}
		job = jobs[0]
		return job.State == state
	})
	return job
}

func TestEnqueuedJobRunsWithItsArguments(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		got := make(chan int, 1)
		w := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, w, func(_ context.Context, p probe) error { got <- p.N; return nil })
		e := newTestEngine(t, d, w, noTuning)
		start(t, e)

		if joined := enqueue(t, d, e, probe{N: 42}); joined {
			t.Fatal("a plain job joined another")
		}
		select {
		case n := <-got:
			if n != 42 {
				t.Fatalf("worker got %d, want 42", n)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the job did not run")
		}
		waitForState(t, e, probe{}.Kind(), rivertype.JobStateCompleted)
	})
}

func TestJobOfRolledBackTransactionDoesNotExist(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		w := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, w, func(context.Context, probe) error { return nil })
		e := newTestEngine(t, d, w, noTuning)
		ctx := context.Background()
		tx, err := d.db.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.EnqueueTx(ctx, tx, probe{N: 1}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if jobs := jobsOf(t, e, probe{}.Kind()); len(jobs) != 0 {
			t.Fatalf("%d jobs after rollback, want none", len(jobs))
		}
	})
}

// A second SingleFlight job with the same arguments joins the first while it
// is queued or running; other arguments, or a first one that has finished,
// make a new job.
func TestSingleFlightJoinsActiveJob(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		running, release := make(chan string, 2), make(chan struct{})
		w := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, w, func(_ context.Context, p singleProbe) error {
			running <- p.ProviderID
			<-release
			return nil
		})
		e := newTestEngine(t, d, w, noTuning)
		kind := singleProbe{}.Kind()

		if enqueue(t, d, e, singleProbe{ProviderID: "p1"}) {
			t.Fatal("the first job joined another")
		}
		if !enqueue(t, d, e, singleProbe{ProviderID: "p1"}) {
			t.Fatal("a second job for p1 did not join the queued one")
		}
		if enqueue(t, d, e, singleProbe{ProviderID: "p2"}) {
			t.Fatal("a job for p2 joined p1's")
		}
		if n := len(jobsOf(t, e, kind)); n != 2 {
			t.Fatalf("%d jobs, want 2 (p1 and p2)", n)
		}

		start(t, e)
		<-running
		<-running
		if !enqueue(t, d, e, singleProbe{ProviderID: "p1"}) {
			t.Fatal("a job for p1 did not join the running one")
		}
		close(release)
		waitFor(t, "both jobs completed", func() bool {
			for _, j := range jobsOf(t, e, kind) {
				if j.State != rivertype.JobStateCompleted {
					return false
				}
			}
			return true
		})
		if enqueue(t, d, e, singleProbe{ProviderID: "p1"}) {
			t.Fatal("a job for p1 joined one that had finished")
		}
	})
}

// Stop lets a running job finish: its context is not cancelled and it is
// completed before Stop returns.
func TestStopWaitsForRunningJob(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		running, release := make(chan struct{}), make(chan struct{})
		var finished atomic.Bool
		w := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, w, func(ctx context.Context, _ probe) error {
			close(running)
			<-release
			if ctx.Err() != nil {
				return ctx.Err()
			}
			finished.Store(true)
			return nil
		})
		e := newTestEngine(t, d, w, noTuning)
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		enqueue(t, d, e, probe{})
		<-running

		// Released a moment after Stop begins: a Stop that did not wait
		// would return first, with the job unfinished.
		time.AfterFunc(200*time.Millisecond, func() { close(release) })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if !finished.Load() {
			t.Fatal("Stop returned before the running job finished")
		}
		if jobs := jobsOf(t, e, probe{}.Kind()); jobs[0].State != rivertype.JobStateCompleted {
			t.Fatalf("job %s after a graceful stop, want completed", jobs[0].State)
		}
	})
}

// A job still running at Stop's deadline is cancelled and handed back to the
// queue, available at once to any instance, not lost and not failed.
func TestStopHandsBackJobRunningAtDeadline(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		running := make(chan struct{})
		w := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, w, func(ctx context.Context, _ probe) error {
			close(running)
			<-ctx.Done()
			return ctx.Err()
		})
		e := newTestEngine(t, d, w, noTuning)
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		enqueue(t, d, e, probe{})
		<-running

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		job := jobsOf(t, e, probe{}.Kind())[0]
		if job.State != rivertype.JobStateAvailable || len(job.Errors) != 0 {
			t.Fatalf("job %s with %d errors after the deadline, want available with none", job.State, len(job.Errors))
		}
	})
}

// A job whose instance died while running it (its worker never returns, and
// the instance never reports again) is rescued once RescueStuckJobsAfter has
// passed, and completed by another instance.
func TestJobOfDeadInstanceIsRescuedByAnother(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		const rescueAfter = time.Second
		kind := probe{}.Kind()

		running, hang := make(chan struct{}), make(chan struct{})
		dying := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, dying, func(context.Context, probe) error {
			close(running)
			<-hang // ignores its context, as a dead process would
			return errors.New("too late")
		})
		// Not a leader candidate, so that the survivor leads (and rescues)
		// at once: a dead leader's leadership would first have to expire.
		dead := newTestEngine(t, d, dying, func(c *river.Config) { c.LeaderElectionDisabled = true })
		if err := dead.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			close(hang)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = dead.Stop(ctx)
		})
		enqueue(t, d, dead, probe{})
		<-running
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = dead.client.StopAndCancel(ctx) // it cannot: the job hangs

		stuck := waitForState(t, dead, kind, rivertype.JobStateRunning)
		waitFor(t, "the job to be stuck longer than RescueStuckJobsAfter", func() bool {
			return time.Since(*stuck.AttemptedAt) > rescueAfter
		})

		done := make(chan struct{})
		healthy := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, healthy, func(context.Context, probe) error { close(done); return nil })
		survivor := newTestEngine(t, d, healthy, func(c *river.Config) {
			c.JobTimeout = rescueAfter / 2
			c.RescueStuckJobsAfter = rescueAfter
		})
		start(t, survivor)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the stuck job was not rescued and run again")
		}
		job := waitForState(t, survivor, kind, rivertype.JobStateCompleted)
		if job.Attempt != 2 || len(job.AttemptedBy) != 2 || job.AttemptedBy[0] == job.AttemptedBy[1] {
			t.Fatalf("job completed at attempt %d by %v, want attempt 2 by two instances", job.Attempt, job.AttemptedBy)
		}
	})
}

func mustRegister[J jobsapp.Job](t *testing.T, w *Workers, work func(context.Context, J) error) {
	t.Helper()
	if err := Register(w, work); err != nil {
		t.Fatal(err)
	}
}

// Jobs and the service's own writes share the database: on SQLite they take
// turns through one write lock, River on its single connection, the service
// on its pool. Each change is written with its job in one transaction, each
// job writes again when it runs, and other writers write meanwhile: nothing
// fails, nothing is retried, nothing is lost.
func TestJobsAndServiceWritesContend(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		const jobs, writers, writes = 60, 4, 40
		ctx := context.Background()
		if err := d.db.Gorm.Exec("CREATE TABLE contention (who VARCHAR(16) NOT NULL, n INTEGER NOT NULL)").Error; err != nil {
			t.Fatal(err)
		}
		write := func(tx interface {
			ExecContext(context.Context, string, ...any) (sql.Result, error)
		}, who string, n int) error {
			_, err := tx.ExecContext(ctx, d.rebind("INSERT INTO contention (who, n) VALUES (?, ?)"), who, n)
			return err
		}
		w := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, w, func(ctx context.Context, p probe) error {
			return inTx(ctx, d.db.SQL, func(tx *sql.Tx) error { return write(tx, "job", p.N) })
		})
		e := newTestEngine(t, d, w, noTuning)
		start(t, e)

		began := time.Now()
		errs := make(chan error, writers+1)
		for i := range writers {
			go func() {
				for n := range writes {
					if err := inTx(ctx, d.db.SQL, func(tx *sql.Tx) error { return write(tx, "writer", i*writes+n) }); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		go func() {
			for n := range jobs {
				err := inTx(ctx, d.db.SQL, func(tx *sql.Tx) error {
					if err := write(tx, "change", n); err != nil {
						return err
					}
					_, err := e.EnqueueTx(ctx, tx, probe{N: n})
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
		for range writers + 1 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "every job completed", func() bool {
			done := 0
			for _, j := range jobsOf(t, e, probe{}.Kind()) {
				if j.State == rivertype.JobStateCompleted {
					done++
				}
			}
			return done == jobs
		})
		t.Logf("%d changes with their jobs and %d other writes, all done in %s", jobs, writers*writes, time.Since(began))
		for _, j := range jobsOf(t, e, probe{}.Kind()) {
			if j.Attempt != 1 {
				t.Fatalf("job %d took %d attempts: %v", j.ID, j.Attempt, j.Errors)
			}
		}
		var rows int64
		if err := d.db.Gorm.Table("contention").Count(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if want := int64(2*jobs + writers*writes); rows != want {
			t.Fatalf("%d rows written, want %d", rows, want)
		}
	})
}

// inTx runs body in a transaction of pool and commits it.
func inTx(ctx context.Context, pool *sql.DB, body func(*sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := body(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// rebind turns ? placeholders into Postgres' $1, $2 ...
func (d database) rebind(query string) string {
	if d.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tick is a periodic job.
type tick struct{}

func (tick) Kind() string { return "test_tick" }

// A periodic job is enqueued by the elected instance only: two instances
// enqueue it once per interval between them, not once each.
func TestPeriodicJobRunsOnceAcrossInstances(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		const interval, runs = 200 * time.Millisecond, 10
		var worked atomic.Int64
		instance := func() *Engine {
			w := NewWorkers(slog.New(slog.DiscardHandler))
			mustRegister(t, w, func(context.Context, tick) error { worked.Add(1); return nil })
			return newTestEngine(t, d, w, func(c *river.Config) {
				c.PeriodicJobs = periodicJobs([]Periodic{{Interval: interval, Job: tick{}}})
			})
		}
		began := time.Now()
		a, b := instance(), instance()
		start(t, a)
		start(t, b)
		waitFor(t, "periodic runs", func() bool { return worked.Load() >= runs })
		elapsed := time.Since(began)

		// One scheduler enqueues one job when elected and one per interval
		// (with one more of slack for the jobs enqueued since); two would
		// enqueue twice as many.
		enqueued := len(jobsOf(t, a, tick{}.Kind()))
		t.Logf("%d periodic jobs enqueued in %s", enqueued, elapsed)
		if most := int(elapsed/interval) + 3; enqueued > most {
			t.Fatalf("%d periodic jobs enqueued in %s, at most %d expected of a single scheduler", enqueued, elapsed, most)
		}
	})
}

// A worker's RetryAfter postpones its job by the delay (snoozed, River's
// scheduled state) instead of failing it: no error is recorded, and the job
// runs again, with the same arguments, once the delay has passed.
func TestRetryAfterSnoozesTheJob(t *testing.T) {
	eachDialect(t, func(t *testing.T, d database) {
		var runs atomic.Int32
		w := NewWorkers(slog.New(slog.DiscardHandler))
		mustRegister(t, w, func(_ context.Context, p probe) error {
			if runs.Add(1) == 1 {
				return fmt.Errorf("institution busy: %w", &jobsapp.RetryAfter{Delay: time.Hour})
			}
			return nil
		})
		e := newTestEngine(t, d, w, noTuning)
		start(t, e)
		enqueue(t, d, e, probe{N: 7})
		job := waitForState(t, e, probe{}.Kind(), rivertype.JobStateScheduled)
		if len(job.Errors) != 0 {
			t.Errorf("a postponed job recorded errors %+v", job.Errors)
		}
		if wait := time.Until(job.ScheduledAt); wait < 50*time.Minute {
			t.Errorf("the job is scheduled %s from now, want about the hour asked for", wait)
		}
		if runs.Load() != 1 {
			t.Errorf("the job ran %d times before its delay, want once", runs.Load())
		}
	})
}
