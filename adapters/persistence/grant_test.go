package persistence_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	jobsapp "github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

// firstSync is the composition root's FirstSync: an authorization-triggered
// sync with its job.
func firstSync(providerID uuid.UUID, now time.Time) (*datasync.Sync, jobsapp.Job) {
	id := uuid.New()
	return datasync.New(id, providerID, datasync.TriggerAuthorization, now), datasyncapp.SyncJob{SyncID: id, ProviderID: providerID}
}

// grantStores are an authorization store that begins the first sync of each
// grant on syncs.
func grantStores(t *testing.T, db *persistence.DB, queue persistence.JobQueue) (*persistence.AuthorizationStore, *persistence.SyncStore) {
	syncs := persistence.NewSyncStore(db, queue)
	return persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1")), persistence.WithFirstSync(syncs, firstSync)), syncs
}

func listSyncs(t *testing.T, syncs *persistence.SyncStore, providerID uuid.UUID) []*datasync.Sync {
	t.Helper()
	got, err := syncs.ListSyncs(t.Context(), datasyncapp.SyncQuery{ProviderID: providerID, Limit: 10})
	if err != nil {
		t.Fatalf("ListSyncs: %v", err)
	}
	return got
}

// changeAuthorization runs change on p's stored authorization (a pending one
// when there is none) and saves it.
func changeAuthorization(t *testing.T, st *persistence.AuthorizationStore, p *provider.Provider,
	change func(*provider.Authorization, time.Time),
) (*provider.Authorization, error) {
	t.Helper()
	now := time.Now()
	_, a, err := st.UpdateAuthorization(t.Context(), p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			a = provider.NewAuthorization(p, uuid.New(), provider.NewState(), now.Add(provider.StateTTL), now)
		}
		change(a, now)
		p.FollowAuthorization(a, now)
		return a, nil
	})
	return a, err
}

func grant(a *provider.Authorization, now time.Time) {
	a.Grant(provider.Credentials{AccessToken: "access", RefreshToken: "refresh", ExpiresAt: now.Add(time.Hour)}, now)
}

// A granted authorization begins its provider's first sync in the same
// transaction: the grant, the sync and its job are there together. Saves of
// an authorization that was active already begin none, and a grant after a
// re-authorization begins a new one once the last has finished.
func TestGrantBeginsTheFirstSync(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st, syncs := grantStores(t, db, syncEngine(t, db))
			p := newStoredProvider(t, db)
			if _, err := changeAuthorization(t, st, p, func(*provider.Authorization, time.Time) {}); err != nil {
				t.Fatal(err)
			}
			if got := listSyncs(t, syncs, p.ID()); len(got) != 0 {
				t.Fatalf("a pending authorization began %d syncs, want none", len(got))
			}
			a, err := changeAuthorization(t, st, p, grant)
			if err != nil || a.Status() != provider.AuthorizationActive {
				t.Fatalf("the grant: %v, %v", a, err)
			}
			got := listSyncs(t, syncs, p.ID())
			if len(got) != 1 || got[0].Trigger() != datasync.TriggerAuthorization || got[0].Status() != datasync.StatusQueued ||
				!got[0].CreatedAt().Equal(a.AuthorizedAt()) {
				t.Fatalf("syncs after the grant: %+v, want one queued authorization sync created at the grant", got)
			}
			jobs, err := syncJobs(t.Context(), db, p.ID())
			if err != nil || len(jobs) != 1 || jobs[0].SyncID != got[0].ID() {
				t.Fatalf("sync jobs after the grant: %+v, %v; want the sync's one", jobs, err)
			}

			// Active already: a refresh, or a grant landing again, begins nothing.
			for _, change := range []func(*provider.Authorization, time.Time){
				func(a *provider.Authorization, now time.Time) {
					a.Refreshed(uuid.Nil, provider.Credentials{AccessToken: "new", ExpiresAt: now.Add(time.Hour)}, now)
				},
				grant,
			} {
				if _, err := changeAuthorization(t, st, p, change); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(listSyncs(t, syncs, p.ID())); n != 1 {
				t.Errorf("%d syncs after saves of an active authorization, want still 1", n)
			}

			finishSync(t, syncs, got[0].ID())
			if _, err := changeAuthorization(t, st, p, func(a *provider.Authorization, now time.Time) { a.RequireReauthorization(now) }); err != nil {
				t.Fatal(err)
			}
			if _, err := changeAuthorization(t, st, p, grant); err != nil {
				t.Fatal(err)
			}
			again := listSyncs(t, syncs, p.ID())
			if len(again) != 2 || again[0].ID() == got[0].ID() || again[0].Status() != datasync.StatusQueued {
				t.Errorf("syncs after a re-authorization and a new grant: %d, want a new queued one", len(again))
			}
		})
	}
}

func finishSync(t *testing.T, syncs *persistence.SyncStore, id uuid.UUID) {
	t.Helper()
	_, err := syncs.UpdateSync(t.Context(), id, func(s *datasync.Sync, _ *datasyncapp.State) error {
		now := time.Now()
		return errors.Join(s.Start(now), s.Finish(nil, now))
	})
	if err != nil {
		t.Fatalf("UpdateSync: %v", err)
	}
}

// failingQueue refuses every job, as a job table that cannot be written.
type failingQueue struct{}

var errQueueDown = errors.New("the job queue refused the job")

func (failingQueue) EnqueueTx(context.Context, *sql.Tx, jobsapp.Job) (bool, error) {
	return false, errQueueDown
}

// A grant whose first sync cannot be enqueued is not saved either: the
// authorization stays pending, and no sync exists.
func TestGrantRollsBackWhenItsSyncCannotBeEnqueued(t *testing.T) {
	for name, open := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st, syncs := grantStores(t, db, failingQueue{})
			p := newStoredProvider(t, db)
			if _, err := changeAuthorization(t, st, p, func(*provider.Authorization, time.Time) {}); err != nil {
				t.Fatal(err)
			}
			if _, err := changeAuthorization(t, st, p, grant); !errors.Is(err, errQueueDown) {
				t.Fatalf("the grant: got %v, want the queue's error", err)
			}
			a, err := st.AuthorizationByProvider(t.Context(), p.ID())
			if err != nil || a.Status() != provider.AuthorizationPending || !a.Credentials().IsZero() {
				t.Errorf("the authorization after the failed grant: %v, %v; want it pending, without credentials", a, err)
			}
			if got := mustProviderOf(t, db, p.ID()); got.Status() != provider.StatusPending {
				t.Errorf("the provider after the failed grant is %s, want pending", got.Status())
			}
			if got := listSyncs(t, syncs, p.ID()); len(got) != 0 {
				t.Errorf("%d syncs after the failed grant, want none", len(got))
			}
		})
	}
}
