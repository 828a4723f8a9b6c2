// Package synccontract is the contract test suite of what the sync engine
// stores through: the datasync application's Store port, and the parts of the
// finance application's Writes port that only the engine uses (transaction
// pages with their resume state, securities, holdings). The in-memory fakes
// and the SQL adapter on SQLite and Postgres run the same suite, so a
// use-case test that passes against the fakes means the same against the
// database.
package synccontract

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

// Harness is the stores under test, on one database (or, for the fakes, on
// one ProviderStore).
type Harness struct {
	Syncs   datasyncapp.Store
	Finance interface {
		financeapp.Writes
		financeapp.Reads
	}
	Providers      providersapp.Repository
	Authorizations providersapp.Authorizations
	// Jobs returns the jobs Begin enqueued so far, oldest first; nil skips
	// the checks of what was enqueued.
	Jobs func(t *testing.T) []jobs.Job
	// NewUser stores a new user and returns its id; nil means any fresh id
	// will do, as for the fakes.
	NewUser func(ctx context.Context) (uuid.UUID, error)
}

// Run runs the suite: each test as a subtest of t, on the harness newHarness
// returns when called from that subtest, on empty stores of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHarness(t)) })
	}
}

var tests = []struct {
	name string
	test func(t *testing.T, h Harness)
}{
	{"begin inserts a queued sync with its job, joins the one in flight, and inserts again once it finished", beginJoinsTheSyncInFlight},
	{"concurrent begins of one provider insert one sync, and the others join it", concurrentBeginsInsertOne},
	{"every sync field round-trips, in UTC to the microsecond", everySyncFieldRoundTrips},
	{"UpdateSync saves the sync and its provider's state together, or neither", updateSyncSavesBothOrNeither},
	{"syncs list newest first, paged by Before, only the provider's", syncsListNewestFirst},
	{"due providers: active, never synced or due, most overdue first, at most limit", dueProvidersAreActiveAndDue},
	{"unknown ids are ErrNotFound; a deleted provider's syncs and state are gone", unknownIDsAreNotFound},
	{"a transaction page is stored with its resume state, whole or not at all", transactionPagesAreAtomic},
	{"a page's batch for another provider's account is ErrForeignRecord and stores nothing", foreignBatchStoresNothing},
	{"securities upsert by identity and keep their ids", securitiesUpsertByIdentity},
	{"holdings are replaced by fn's complete set: added, updated (not as-of alone) and removed counted", holdingsAreReplaced},
	{"fn's error, or a holding of another account, changes no holding", failedHoldingsChangeNothing},
}

// base is the suite's clock: a fixed instant in UTC with a sub-second part
// that survives microsecond storage.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

var errBoom = errors.New("boom (from the test's closure)")

func newID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newProvider stores a provider of a new user, with an authorization in
// status (none for the zero status).
func newProvider(t *testing.T, h Harness, status provider.AuthorizationStatus) *provider.Provider {
	t.Helper()
	user := newID(t)
	if h.NewUser != nil {
		var err error
		if user, err = h.NewUser(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	id := newID(t)
	p, err := provider.New(id, user, "sandbox", "Sandbox "+id.String(), base)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Providers.CreateProvider(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if status != (provider.AuthorizationStatus{}) {
		authorize(t, h, p, status)
	}
	return p
}

// authorize gives p an authorization in status.
func authorize(t *testing.T, h Harness, p *provider.Provider, status provider.AuthorizationStatus) {
	t.Helper()
	_, _, err := h.Authorizations.UpdateAuthorization(t.Context(), p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if a == nil {
			a = provider.NewAuthorization(p, newID(t), provider.NewState(), base.Add(time.Minute), base)
		}
		switch status {
		case provider.AuthorizationActive:
			a.Grant(provider.Credentials{AccessToken: "a", RefreshToken: "r", ExpiresAt: base.Add(time.Hour)}, base)
		case provider.AuthorizationReauthorizationRequired:
			a.Grant(provider.Credentials{AccessToken: "a"}, base)
			a.RequireReauthorization(base)
		case provider.AuthorizationRevoked:
			a.Revoke(base)
		}
		p.FollowAuthorization(a, base)
		return a, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// queued returns a new queued sync of p with its job.
func queued(t *testing.T, p *provider.Provider, at time.Time) (*datasync.Sync, datasyncapp.SyncJob) {
	t.Helper()
	id := newID(t)
	return datasync.New(id, p.ID(), datasync.TriggerManual, at), datasyncapp.SyncJob{SyncID: id, ProviderID: p.ID()}
}

// begin begins s and fails the test on an error.
func begin(t *testing.T, h Harness, s *datasync.Sync, job jobs.Job) (*datasync.Sync, bool) {
	t.Helper()
	got, joined, err := h.Syncs.Begin(t.Context(), s, job)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return got, joined
}

// update applies change to the sync and fails the test on an error.
func update(t *testing.T, h Harness, id uuid.UUID, change func(s *datasync.Sync, st *datasyncapp.State) error) *datasync.Sync {
	t.Helper()
	s, err := h.Syncs.UpdateSync(t.Context(), id, change)
	if err != nil {
		t.Fatalf("UpdateSync: %v", err)
	}
	return s
}

func finish(t *testing.T, h Harness, id uuid.UUID, at time.Time) {
	t.Helper()
	update(t, h, id, func(s *datasync.Sync, _ *datasyncapp.State) error {
		if err := s.Start(at); err != nil {
			return err
		}
		return s.Finish(nil, at)
	})
}
