package persistence_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/dashtam/dashtam/adapters/jobs"
	"github.com/dashtam/dashtam/adapters/persistence"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/test/dbtest"
)

// The job engine is the persistence adapter's JobQueue, and JobStore the use
// cases' Enqueuer.
var (
	_ persistence.JobQueue = (*jobs.Engine)(nil)
	_ jobsapp.Enqueuer     = (*persistence.JobStore)(nil)
)

// noted is a job whose worker reports its argument.
type noted struct {
	N int `json:"n"`
}

func (noted) Kind() string { return "test_noted" }

// syncLike is a SingleFlight job, as a provider's sync will be.
type syncLike struct {
	ProviderID string `json:"provider_id"`
}

func (syncLike) Kind() string  { return "test_sync_like" }
func (syncLike) SingleFlight() {}

func TestJobsSQLite(t *testing.T) {
	runJobsSuite(t, dbtest.SQLite, func(t *testing.T, db *persistence.DB) *sql.DB {
		pool, err := db.OpenSingleConnPool(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pool.Close() })
		return pool
	})
}

func TestJobsPostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	runJobsSuite(t, dbtest.Postgres, func(_ *testing.T, db *persistence.DB) *sql.DB { return db.SQL })
}

// jobsFixture is a migrated database with a running engine whose worker
// reports each noted job's argument on ran.
type jobsFixture struct {
	db     *persistence.DB
	engine *jobs.Engine
	ran    chan int
}

func runJobsSuite(t *testing.T, open func(testing.TB) *persistence.DB, enginePool func(*testing.T, *persistence.DB) *sql.DB) {
	setup := func(t *testing.T) jobsFixture {
		t.Helper()
		db := open(t)
		if err := db.Gorm.Exec("CREATE TABLE changes (n INTEGER NOT NULL)").Error; err != nil {
			t.Fatal(err)
		}
		ran := make(chan int, 10)
		w := jobs.NewWorkers(slog.New(slog.DiscardHandler))
		if err := jobs.Register(w, func(_ context.Context, j noted) error { ran <- j.N; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := jobs.Register(w, func(context.Context, syncLike) error { return nil }); err != nil {
			t.Fatal(err)
		}
		dialect := jobs.SQLite
		if db.Dialect == persistence.Postgres {
			dialect = jobs.Postgres
		}
		engine, err := jobs.New(dialect, enginePool(t, db), jobs.Config{
			Workers: w, Concurrency: 2, PollInterval: 100 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		return jobsFixture{db: db, engine: engine, ran: ran}
	}
	for name, test := range map[string]func(*testing.T, jobsFixture){
		"JobCommitsWithItsChangeAndRuns":      testJobCommitsWithItsChangeAndRuns,
		"JobRollsBackWithItsChange":           testJobRollsBackWithItsChange,
		"EnqueueAloneJoinsQueuedSingleFlight": testEnqueueAloneJoinsQueuedSingleFlight,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, setup(t))
		})
	}
}

func insertChange(n int) func(tx *gorm.DB) error {
	return func(tx *gorm.DB) error { return tx.Exec("INSERT INTO changes (n) VALUES (?)", n).Error }
}

func countChanges(t *testing.T, db *persistence.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm.Table("changes").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func countJobs(t *testing.T, db *persistence.DB, kind string) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm.Table("river_job").Where("kind = ?", kind).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func startEngine(t *testing.T, e *jobs.Engine) {
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

func testJobCommitsWithItsChangeAndRuns(t *testing.T, f jobsFixture) {
	ctx := context.Background()
	if err := persistence.ChangeWithJob(ctx, f.db, f.engine, noted{N: 7}, insertChange(7)); err != nil {
		t.Fatal(err)
	}
	if changes, queued := countChanges(t, f.db), countJobs(t, f.db, noted{}.Kind()); changes != 1 || queued != 1 {
		t.Fatalf("%d changes and %d jobs after commit, want 1 and 1", changes, queued)
	}
	startEngine(t, f.engine)
	select {
	case n := <-f.ran:
		if n != 7 {
			t.Fatalf("the job ran with %d, want 7", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the committed job did not run")
	}
}

func testJobRollsBackWithItsChange(t *testing.T, f jobsFixture) {
	ctx := context.Background()
	refused := errors.New("refused by the domain")
	err := persistence.ChangeWithJob(ctx, f.db, f.engine, noted{N: 8}, func(tx *gorm.DB) error {
		if err := insertChange(8)(tx); err != nil {
			return err
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v, want the closure's own error", err)
	}
	if changes, queued := countChanges(t, f.db), countJobs(t, f.db, noted{}.Kind()); changes != 0 || queued != 0 {
		t.Fatalf("%d changes and %d jobs after rollback, want none", changes, queued)
	}
}

func testEnqueueAloneJoinsQueuedSingleFlight(t *testing.T, f jobsFixture) {
	ctx := context.Background()
	store := persistence.NewJobStore(f.db, f.engine)
	for i, want := range []bool{false, true} {
		joined, err := store.Enqueue(ctx, syncLike{ProviderID: "p1"})
		if err != nil {
			t.Fatal(err)
		}
		if joined != want {
			t.Fatalf("enqueue %d: joined = %v, want %v", i+1, joined, want)
		}
	}
	if n := countJobs(t, f.db, syncLike{}.Kind()); n != 1 {
		t.Fatalf("%d sync jobs queued, want 1", n)
	}
}
