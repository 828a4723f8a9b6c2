package persistence_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/jobs"
	"github.com/dashtam/dashtam/adapters/persistence"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/contract/synccontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

func TestSyncStoreSQLite(t *testing.T) {
	synccontract.Run(t, func(t *testing.T) synccontract.Harness {
		return syncHarness(t, dbtest.SQLite(t))
	})
}

func TestSyncStorePostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	synccontract.Run(t, func(t *testing.T) synccontract.Harness {
		return syncHarness(t, dbtest.Postgres(t))
	})
}

func syncHarness(t *testing.T, db *persistence.DB) synccontract.Harness {
	users := persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})
	return synccontract.Harness{
		SetUserDisabled: func(ctx context.Context, userID uuid.UUID, disabled bool) error {
			status := identity.UserActive
			if disabled {
				status = identity.UserDisabled
			}
			_, err := users.AdministerUser(ctx, userID, func(u *identity.User, _ int) error {
				u.SetStatus(status, time.Now())
				return nil
			})
			return err
		},
		Store:          persistence.NewSyncStore(db, syncEngine(t, db)),
		Providers:      persistence.NewProviderStore(db),
		Authorizations: persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1"))),
		NewUser:        synccontract.UsersVia(persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})),
		SyncJobs: func(ctx context.Context, providerID uuid.UUID) ([]datasyncapp.SyncJob, error) {
			return syncJobs(ctx, db, providerID)
		},
	}
}

// syncEngine is a job engine, not started, that knows the sync job: the
// jobs a store enqueues on it stay queued, for syncJobs to count.
func syncEngine(t *testing.T, db *persistence.DB) *jobs.Engine {
	t.Helper()
	w := jobs.NewWorkers(slog.New(slog.DiscardHandler))
	if err := jobs.Register(w, func(context.Context, datasyncapp.SyncJob) error { return nil }); err != nil {
		t.Fatal(err)
	}
	dialect, pool := jobs.Postgres, db.SQL
	if db.Dialect == persistence.SQLite {
		var err error
		if pool, err = db.OpenSingleConnPool(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pool.Close() })
		dialect = jobs.SQLite
	}
	engine, err := jobs.New(dialect, pool, jobs.Config{Workers: w, Concurrency: 1, PollInterval: time.Second,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return engine
}

// syncJobs returns the sync jobs committed to River's table for providerID.
func syncJobs(ctx context.Context, db *persistence.DB, providerID uuid.UUID) ([]datasyncapp.SyncJob, error) {
	// River's SQLite driver keeps args as SQLite's binary JSON: json() makes
	// it text.
	query := "SELECT json(args) FROM river_job WHERE kind = ?"
	if db.Dialect == persistence.Postgres {
		query = "SELECT args FROM river_job WHERE kind = $1"
	}
	rows, err := db.SQL.QueryContext(ctx, query, datasyncapp.SyncJob{}.Kind())
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []datasyncapp.SyncJob
	for rows.Next() {
		var args []byte
		if err := rows.Scan(&args); err != nil {
			return nil, err
		}
		var job datasyncapp.SyncJob
		if err := json.Unmarshal(args, &job); err != nil {
			return nil, err
		}
		if job.ProviderID == providerID {
			out = append(out, job)
		}
	}
	return out, rows.Err()
}

// A sync's update and a page of the same provider's transactions, at once,
// both succeed: the first upsert of the provider's state row by each must
// not leave them waiting on each other (both take the provider's row first).
func TestSyncUpdateAndTransactionPageOfOneProviderBothSucceed(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			syncs, st := persistence.NewSyncStore(db, syncEngine(t, db)), persistence.NewFinanceStore(db)
			a := ingestAccount(t, db, st)
			page := ingestTransactions(t, a, 3)
			s, _, err := syncs.Begin(t.Context(), datasync.New(uuid.New(), a.ProviderID(), datasync.TriggerManual, time.Now()),
				datasyncapp.SyncJob{ProviderID: a.ProviderID()})
			if err != nil {
				t.Fatal(err)
			}
			var called sync.WaitGroup
			called.Add(2)
			bothCalled := make(chan struct{})
			go func() { called.Wait(); close(bothCalled) }()
			hold := func() {
				called.Done()
				select {
				case <-bothCalled:
				case <-time.After(200 * time.Millisecond):
				}
			}
			var wg sync.WaitGroup
			var updateErr, pageErr error
			wg.Go(func() {
				_, updateErr = syncs.UpdateSync(context.Background(), s.ID(), func(s *datasync.Sync, st *datasyncapp.State) error {
					hold()
					st.NextSyncAt = time.Now()
					return s.Start(time.Now())
				})
			})
			wg.Go(func() {
				_, pageErr = st.StoreTransactionPage(context.Background(), a.ProviderID(), financeapp.TransactionPageWrite{
					Batches: []financeapp.TransactionBatch{{AccountID: a.ID(), InstitutionIDs: []string{"x"},
						Apply: func([]*finance.Transaction) ([]*finance.Transaction, error) { hold(); return page, nil }}},
					Resume: []byte("cursor"),
				})
			})
			wg.Wait()
			if updateErr != nil || pageErr != nil {
				t.Fatalf("UpdateSync: %v; StoreTransactionPage: %v; want both to succeed", updateErr, pageErr)
			}
			resume, err := st.TransactionResume(t.Context(), a.ProviderID())
			state, err2 := syncs.ProviderState(t.Context(), a.ProviderID())
			if err != nil || err2 != nil || string(resume) != "cursor" || state.NextSyncAt.IsZero() {
				t.Errorf("after both: resume %q (%v), state %+v (%v); want both saved", resume, err, state, err2)
			}
		})
	}
}

// Every method reports a database it cannot use as domain.ErrUnavailable, so
// the API answers 503 and a job retries, and calls no closure.
func TestSyncStoreUnavailableDatabase(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st := persistence.NewSyncStore(db, failingQueue{})
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			ctx, id := t.Context(), uuid.New()
			calls := map[string]func() error{
				"Begin": func() error {
					_, _, err := st.Begin(ctx, datasync.New(id, id, datasync.TriggerManual, time.Now()), datasyncapp.SyncJob{SyncID: id})
					return err
				},
				"SyncByID": func() error { _, err := st.SyncByID(ctx, id); return err },
				"ListSyncs": func() error {
					_, err := st.ListSyncs(ctx, datasyncapp.SyncQuery{ProviderID: id, Limit: 10})
					return err
				},
				"UpdateSync": func() error {
					_, err := st.UpdateSync(ctx, id, func(*datasync.Sync, *datasyncapp.State) error {
						t.Error("closure called although the database is unavailable")
						return nil
					})
					return err
				},
				"ProviderState": func() error { _, err := st.ProviderState(ctx, id); return err },
				"DueProviders":  func() error { _, err := st.DueProviders(ctx, time.Now(), 10); return err },
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, domain.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", name, err)
				}
			}
		})
	}
}
