package schwab_test

import (
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/schwab"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// engineWorld is the sync engine over the in-memory stores with the Schwab
// connector reading a fake Schwab, all on one clock.
type engineWorld struct {
	clock     *fakeclock.Clock
	fake      *schwabfake.Server
	c         *schwab.Connector
	providers *memory.ProviderStore
	finance   *memory.FinanceStore
	store     *memory.SyncStore
	auths     *memory.AuthorizationStore
	syncs     *datasyncapp.Syncs
	engine    *datasyncapp.Engine
	user      uuid.UUID
	p         *provider.Provider
	first     datasyncapp.SyncJob
}

// newEngineWorld connects a Schwab provider through the fake's consent and
// returns the world with that grant's first sync queued.
func newEngineWorld(t *testing.T) *engineWorld {
	t.Helper()
	const interval = 4 * time.Hour
	w := &engineWorld{clock: fakeclock.New(dataT0), user: uuid.New()}
	w.fake = startFake(t, schwabfake.Config{Clock: w.clock, RefreshTTL: 1000 * day})
	c := connect(t, w.fake, func(cfg *schwab.Config) {
		cfg.APIBaseURL, cfg.Now, cfg.Timeout = w.fake.APIBaseURL(), w.clock.Now, 10*time.Second
	})
	providers := memory.NewProviderStore()
	w.c, w.providers = c, providers
	w.auths = memory.NewAuthorizationStore(providers)
	w.finance = memory.NewFinanceStore(providers)
	w.finance.SetClock(w.clock.Now)
	w.store = memory.NewSyncStore(w.auths)
	w.store.BeginOnGrant(func(providerID uuid.UUID, now time.Time) (*datasync.Sync, jobs.Job) {
		return datasyncapp.FirstSync(providerID, now)
	})
	registry, err := providersapp.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	conns := providersapp.NewConnections(providers, w.auths, nil, registry, w.clock, providersapp.ConnectionsConfig{}, log)
	w.syncs = datasyncapp.NewSyncs(providers, w.auths, w.store, w.clock, interval)
	w.engine = datasyncapp.NewEngine(w.store, w.finance, conns, w.clock, interval, log)

	p, err := provider.New(uuid.New(), w.user, "schwab", "My Schwab", w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := providers.CreateProvider(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	w.p = p
	w.first = w.consent(t)
	return w
}

// consent runs the fake's consent for the provider and stores the grant,
// which begins a sync; it returns that sync's job.
func (w *engineWorld) consent(t *testing.T) datasyncapp.SyncJob {
	t.Helper()
	tokens := complete(t, w.c)
	_, _, err := w.auths.UpdateAuthorization(t.Context(), w.p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		now := w.clock.Now()
		if a == nil {
			a = provider.NewAuthorization(p, uuid.New(), provider.NewState(), now.Add(time.Minute), now)
		}
		a.Grant(tokens, now)
		p.FollowAuthorization(a, now)
		return a, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	jobsNow := w.store.Jobs()
	return jobsNow[len(jobsNow)-1].(datasyncapp.SyncJob)
}

// run runs job to its end and returns the sync, which must have succeeded.
func (w *engineWorld) run(t *testing.T, job datasyncapp.SyncJob) *datasync.Sync {
	t.Helper()
	if err := w.engine.Run(t.Context(), job); err != nil {
		t.Fatalf("Run: %v", err)
	}
	s, err := w.store.SyncByID(t.Context(), job.SyncID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status() != datasync.StatusSucceeded {
		t.Fatalf("sync %v with errors %+v, want succeeded", s.Status(), s.Errors())
	}
	return s
}

// again starts a manual sync and runs it.
func (w *engineWorld) again(t *testing.T) *datasync.Sync {
	t.Helper()
	s, _, err := w.syncs.Start(t.Context(), w.user, w.p.ID())
	if err != nil {
		t.Fatal(err)
	}
	return w.run(t, datasyncapp.SyncJob{SyncID: s.ID(), ProviderID: w.p.ID()})
}

// account is the stored account of the fake's account i.
func (w *engineWorld) account(t *testing.T, i int) *finance.Account {
	t.Helper()
	list, err := w.finance.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: w.user, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.InstitutionAccountID() == w.fake.Accounts()[i].Hash {
			return a
		}
	}
	t.Fatalf("account %d is not stored", i)
	return nil
}

// live is the live transactions of the fake's account i by activity id.
func (w *engineWorld) live(t *testing.T, i int) map[string]*finance.Transaction {
	t.Helper()
	out := map[string]*finance.Transaction{}
	q := financeapp.TransactionQuery{UserID: w.user, Filter: financeapp.TransactionFilter{AccountID: w.account(t, i).ID()}, Limit: 500}
	for {
		page, err := w.finance.ListTransactions(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range page {
			if _, twice := out[tr.Details().InstitutionTransactionID]; twice {
				t.Fatalf("activity %s is live twice", tr.Details().InstitutionTransactionID)
			}
			out[tr.Details().InstitutionTransactionID] = tr
		}
		if len(page) < q.Limit {
			return out
		}
		pos := financeapp.PositionOf(page[len(page)-1])
		q.After = &pos
	}
}

// fakeIDs is every activity id the fake lists for account i.
func (w *engineWorld) fakeIDs(i int) map[string]bool {
	out := map[string]bool{}
	for _, a := range w.fake.Activities(w.fake.Accounts()[i].Hash) {
		out[strconv.FormatInt(a.ActivityID, 10)] = true
	}
	return out
}

func TestA3000RowWindowIsSplitAndTheFullSetStored(t *testing.T) {
	w := newEngineWorld(t)
	w.fake.AddCashActivities(w.fake.Accounts()[1].Hash, 3500, dataT0.Add(-100*day), dataT0.Add(-98*day))
	w.run(t, w.first)
	stored, want := w.live(t, 1), w.fakeIDs(1)
	if len(stored) != len(want) {
		t.Fatalf("%d transactions stored, want the fake's %d", len(stored), len(want))
	}
	for id := range want {
		if _, ok := stored[id]; !ok {
			t.Fatalf("activity %s is not stored", id)
		}
	}
	var capped bool
	for _, r := range w.fake.DataRequests() {
		capped = capped || r.Rows == schwabfake.DefaultWindowCap
	}
	if !capped {
		t.Fatal("no window hit the cap: the test proves nothing")
	}
}

func TestAVanishedActivityIsARemovalInTheDeltaFeed(t *testing.T) {
	w := newEngineWorld(t)
	w.run(t, w.first)
	hash := w.fake.Accounts()[0].Hash
	acts := w.fake.Activities(hash)
	gone := strconv.FormatInt(acts[len(acts)-3].ActivityID, 10)
	before := w.live(t, 0)[gone]
	if before == nil {
		t.Fatal("the activity was not stored by the first sync")
	}
	w.fake.RemoveActivity(hash, acts[len(acts)-3].ActivityID)
	w.clock.Advance(time.Hour)
	s := w.again(t)
	if _, ok := w.live(t, 0)[gone]; ok {
		t.Fatal("the vanished activity is still live")
	}
	if got := s.Results().Transactions; got.Removed != 1 || got.Added != 0 || got.Modified != 0 {
		t.Errorf("second sync results %+v, want exactly one removal", got)
	}
	changes, err := w.finance.Changes(t.Context(), w.user, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	lastChange := changes[len(changes)-1]
	if lastChange.Transaction.ID() != before.ID() || !lastChange.Transaction.Removed() {
		t.Errorf("the feed's last change is %+v, want the removal of %s", lastChange, before.ID())
	}
}

func TestAPendingActivityPostsInPlaceUnderOneID(t *testing.T) {
	w := newEngineWorld(t)
	w.run(t, w.first)
	hash := w.fake.Accounts()[0].Hash
	id := w.fake.PendingActivity(hash)
	key := strconv.FormatInt(id, 10)
	pending := w.live(t, 0)[key]
	if pending == nil || pending.Status() != finance.TransactionPending {
		t.Fatalf("the pending ACH is stored as %+v, want pending", pending)
	}
	w.fake.PostPending(hash, id)
	w.clock.Advance(day)
	w.again(t)
	posted := w.live(t, 0)[key]
	if posted == nil || posted.Status() != finance.TransactionPosted || posted.ID() != pending.ID() {
		t.Fatalf("after posting: %+v, want posted under id %s", posted, pending.ID())
	}
}

func TestAPositionSoldToZeroIsGone(t *testing.T) {
	w := newEngineWorld(t)
	w.run(t, w.first)
	margin := w.account(t, 0)
	if n := len(w.finance.Holdings(margin.ID())); n != 5 {
		t.Fatalf("%d holdings stored, want the fake's 5", n)
	}
	w.fake.SellToZero(w.fake.Accounts()[0].Hash, "AAPL", "190.00")
	w.clock.Advance(time.Hour)
	s := w.again(t)
	held := w.finance.Holdings(margin.ID())
	if len(held) != len(w.fake.Positions(w.fake.Accounts()[0].Hash)) || s.Results().Holdings.Removed != 1 {
		t.Fatalf("%d holdings after the sale (%d removed), want the fake's %d", len(held), s.Results().Holdings.Removed,
			len(w.fake.Positions(w.fake.Accounts()[0].Hash)))
	}
	for _, h := range held {
		for _, sec := range w.finance.Securities(w.p.ID()) {
			if sec.ID() == h.Details().SecurityID && sec.Details().Symbol == "AAPL" {
				t.Fatal("AAPL is still held after its sale to zero")
			}
		}
	}
}

func TestA429PostponesTheSyncAndItFinishesAfterTheWait(t *testing.T) {
	w := newEngineWorld(t)
	w.fake.RateLimit(30 * time.Second)
	err := w.engine.Run(t.Context(), w.first)
	ra, ok := errors.AsType[*jobs.RetryAfter](err)
	if !ok || ra.Delay != 30*time.Second {
		t.Fatalf("Run = %v, want the job postponed by 30s", err)
	}
	if s, _ := w.store.SyncByID(t.Context(), w.first.SyncID); s.Status() != datasync.StatusRunning {
		t.Fatalf("the sync is %v while postponed, want running", s.Status())
	}
	w.fake.ClearRateLimit()
	w.clock.Advance(30 * time.Second)
	w.run(t, w.first)
	if got, want := len(w.live(t, 1)), len(w.fakeIDs(1)); got != want {
		t.Errorf("%d transactions stored after the wait, want %d", got, want)
	}
}

func TestARefusedRefreshPausesTheProviderUntilANewConsent(t *testing.T) {
	w := newEngineWorld(t)
	w.run(t, w.first)
	w.clock.Advance(time.Hour) // the 30-minute access token is dead: the sync must refresh
	w.fake.SetFault(schwabfake.InvalidGrant())
	s, _, err := w.syncs.Start(t.Context(), w.user, w.p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.engine.Run(t.Context(), datasyncapp.SyncJob{SyncID: s.ID(), ProviderID: w.p.ID()}); err != nil {
		t.Fatal(err)
	}
	s, _ = w.store.SyncByID(t.Context(), s.ID())
	if s.Status() != datasync.StatusFailed || len(s.Errors()) != 1 || s.Errors()[0].Code != datasyncapp.CodeReauthorizationRequired {
		t.Fatalf("sync %v with errors %+v, want failed with reauthorization_required", s.Status(), s.Errors())
	}
	if p, err := w.providers.ProviderByID(t.Context(), w.p.ID()); err != nil || p.Status() != provider.StatusReauthorizationRequired {
		t.Fatalf("provider %v (%v), want reauthorization_required", p.Status(), err)
	}
	w.fake.ClearFault()
	w.run(t, w.consent(t))
}
