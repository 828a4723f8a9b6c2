package datasync_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	datasyncapp "github.com/dashtam/dashtam/application/datasync"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/jobs"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
)

// t0 is the harness's start, a whole second.
var t0 = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

// interval is the harness's SYNC_INTERVAL.
const interval = 4 * time.Hour

// staleAfter is how long a sync may stay in flight before the scheduler
// takes it for abandoned.
const staleAfter = 12 * time.Hour

const (
	scriptedKey = "scripted"
	sandboxKey  = "sandbox"
)

// harness is the sync engine over the in-memory stores, with the sandbox and
// a scripted institution.
type harness struct {
	clock     *fakeclock.Clock
	providers *memory.ProviderStore
	auths     *memory.AuthorizationStore
	finance   *memory.FinanceStore
	store     *memory.SyncStore
	conns     *providersapp.Connections
	syncs     *datasyncapp.Syncs
	engine    *datasyncapp.Engine
	scheduler *datasyncapp.Scheduler
	sandbox   *sandbox.Connector
	scripted  *scripted
	user      uuid.UUID
}

// writesWrapper lets a test replace the engine's finance Writes (to make a
// write fail); nil keeps the memory store.
type writesWrapper func(financeapp.Writes) financeapp.Writes

// connectorWrapper decorates the harness's connectors as bootstrap does
// (budgeted.Wrap), before they are registered.
type connectorWrapper func(providersapp.Connector) providersapp.Connector

func newHarness(t *testing.T, wrap writesWrapper, wrapConnectors ...connectorWrapper) *harness {
	t.Helper()
	return newHarnessWrapped(t, wrap, nil, wrapConnectors...)
}

// newHarnessWith is newHarness with more connectors in its registry.
func newHarnessWith(t *testing.T, wrap writesWrapper, extra ...providersapp.Connector) *harness {
	t.Helper()
	return newHarnessWrapped(t, wrap, extra)
}

// newHarnessWrapped builds the harness with extra connectors besides the
// sandbox and the scripted one, each decorated by wrapConnectors.
func newHarnessWrapped(t *testing.T, wrap writesWrapper, extra []providersapp.Connector, wrapConnectors ...connectorWrapper) *harness {
	t.Helper()
	h := &harness{clock: fakeclock.New(t0), user: uuid.New()}
	h.providers = memory.NewProviderStore()
	h.auths = memory.NewAuthorizationStore(h.providers)
	h.finance = memory.NewFinanceStore(h.providers)
	h.finance.SetClock(h.clock.Now)
	h.store = memory.NewSyncStore(h.auths)
	h.store.BeginOnGrant(func(providerID uuid.UUID, now time.Time) (*datasync.Sync, jobs.Job) {
		return datasyncapp.FirstSync(providerID, now)
	})
	sb, err := sandbox.New(sandbox.Config{
		PublicBaseURL: "http://localhost:8080",
		RedirectURL:   "http://localhost:8080/api/v1/oauth/sandbox/callback",
		Secret:        []byte("0123456789abcdef0123456789abcdef-datasync-test"),
		RefreshTTL:    1000 * 24 * time.Hour, // access tokens last the default five minutes
		Timeout:       5 * time.Second,
		Now:           h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.sandbox, h.scripted = sb, newScripted()
	connectors := append([]providersapp.Connector{sb, h.scripted}, extra...)
	for _, w := range wrapConnectors {
		for i, c := range connectors {
			connectors[i] = w(c)
		}
	}
	registry, err := providersapp.NewRegistry(connectors...)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h.conns = providersapp.NewConnections(h.providers, h.auths, nil, registry, h.clock, providersapp.ConnectionsConfig{}, log)
	var writes financeapp.Writes = h.finance
	if wrap != nil {
		writes = wrap(writes)
	}
	h.syncs = datasyncapp.NewSyncs(h.providers, h.auths, h.store, h.clock, interval)
	h.engine = datasyncapp.NewEngine(h.store, writes, h.conns, h.clock, interval, log)
	h.scheduler = datasyncapp.NewScheduler(h.store, h.clock, interval, 10, staleAfter)
	return h
}

// newProvider stores a provider of key for the harness's user, not connected.
func (h *harness) newProvider(t *testing.T, key string) *provider.Provider {
	t.Helper()
	p, err := provider.New(uuid.New(), h.user, key, key+" "+uuid.NewString(), h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.providers.CreateProvider(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// grant stores a grant of creds for p, which begins its first sync, and
// returns that sync's job.
func (h *harness) grant(t *testing.T, p *provider.Provider, creds provider.Credentials) datasyncapp.SyncJob {
	t.Helper()
	before := len(h.store.Jobs())
	_, _, err := h.auths.UpdateAuthorization(t.Context(), p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		now := h.clock.Now()
		if a == nil {
			a = provider.NewAuthorization(p, uuid.New(), provider.NewState(), now.Add(time.Minute), now)
		}
		a.Grant(creds, now)
		p.FollowAuthorization(a, now)
		return a, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := h.store.Jobs()
	if len(got) != before+1 {
		t.Fatalf("the grant enqueued %d jobs, want its first sync's", len(got)-before)
	}
	return got[len(got)-1].(datasyncapp.SyncJob)
}

// connectScripted returns a connected provider of the scripted institution
// and its first sync's job.
func (h *harness) connectScripted(t *testing.T) (*provider.Provider, datasyncapp.SyncJob) {
	t.Helper()
	p := h.newProvider(t, scriptedKey)
	job := h.grant(t, p, provider.Credentials{AccessToken: "access-1", RefreshToken: "refresh",
		ExpiresAt: h.clock.Now().Add(24 * time.Hour)})
	return p, job
}

// connectSandbox returns a provider connected to the sandbox as user and its
// first sync's job.
func (h *harness) connectSandbox(t *testing.T, user string) (*provider.Provider, datasyncapp.SyncJob) {
	t.Helper()
	p := h.newProvider(t, sandboxKey)
	return p, h.grant(t, p, h.sandboxTokens(t, user))
}

// sandboxTokens runs the sandbox's consent as user and returns the tokens.
func (h *harness) sandboxTokens(t *testing.T, user string) provider.Credentials {
	t.Helper()
	begun, err := h.sandbox.Begin(t.Context(), providersapp.BeginRequest{State: "state", UserID: h.user})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(begun.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("login_hint", user)
	u.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	h.sandbox.Institution().ServeHTTP(rec, httptest.NewRequest("GET", u.RequestURI(), nil))
	back, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || back.Query().Get("code") == "" {
		t.Fatalf("the sandbox's consent answered %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	tokens, err := h.sandbox.Complete(t.Context(), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// run runs job and fails the test on an error.
func (h *harness) run(t *testing.T, job datasyncapp.SyncJob) *datasync.Sync {
	t.Helper()
	if err := h.engine.Run(t.Context(), job); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return h.sync(t, job.SyncID)
}

func (h *harness) sync(t *testing.T, id uuid.UUID) *datasync.Sync {
	t.Helper()
	s, err := h.store.SyncByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// manual starts a manual sync of p and returns its job.
func (h *harness) manual(t *testing.T, p *provider.Provider) datasyncapp.SyncJob {
	t.Helper()
	s, _, err := h.syncs.Start(t.Context(), h.user, p.ID())
	if err != nil {
		t.Fatal(err)
	}
	return datasyncapp.SyncJob{SyncID: s.ID(), ProviderID: p.ID()}
}

// accounts lists the provider's accounts by institution id.
func (h *harness) accounts(t *testing.T, p *provider.Provider) map[string]*finance.Account {
	t.Helper()
	list, err := h.finance.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: h.user,
		Filter: financeapp.AccountFilter{ProviderID: p.ID()}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*finance.Account{}
	for _, a := range list {
		out[a.InstitutionAccountID()] = a
	}
	return out
}

// live lists the provider's live transactions.
func (h *harness) live(t *testing.T, p *provider.Provider) []*finance.Transaction {
	t.Helper()
	var out []*finance.Transaction
	q := financeapp.TransactionQuery{UserID: h.user, Filter: financeapp.TransactionFilter{ProviderID: p.ID()}, Limit: 500}
	for {
		page, err := h.finance.ListTransactions(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out
		}
		pos := financeapp.PositionOf(page[len(page)-1])
		q.After = &pos
	}
}

// feed is the whole changes feed of the harness's user.
func (h *harness) feed(t *testing.T) []financeapp.Change {
	t.Helper()
	var out []financeapp.Change
	var after int64
	for {
		page, err := h.finance.Changes(t.Context(), h.user, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 500 {
			return out
		}
		after = page[len(page)-1].Position
	}
}

// byInstitutionID indexes transactions by their institution id, failing the
// test when two live ones share one.
func byInstitutionID(t *testing.T, list []*finance.Transaction) map[string]*finance.Transaction {
	t.Helper()
	out := map[string]*finance.Transaction{}
	for _, tr := range list {
		key := tr.AccountID().String() + "/" + tr.Details().InstitutionTransactionID
		if _, twice := out[key]; twice {
			t.Fatalf("transaction %s is live twice", key)
		}
		out[key] = tr
	}
	return out
}

// scripted is an institution whose data a test writes: accounts, holdings,
// and pages of transactions served in order (the resume state is the next
// page's number). Hooks run inside calls, so a test can act while the engine
// waits for the institution.
type scripted struct {
	mu       sync.Mutex
	accounts []providersapp.AccountRecord
	holdings providersapp.HoldingsAnswer
	pages    []providersapp.TransactionPage
	// fail, when set, answers a data call of the named method ("accounts",
	// "holdings", "transactions") instead of the script.
	fail func(method string) error
	// onPage runs when page n (from 0) is asked for.
	onPage func(n int)
	// asked records the page numbers asked for, in order.
	asked    []int
	refreshN int
}

var (
	_ providersapp.Connector     = (*scripted)(nil)
	_ providersapp.DataConnector = (*scripted)(nil)
)

func newScripted() *scripted { return &scripted{} }

func (s *scripted) Type() providersapp.ProviderType {
	return providersapp.ProviderType{Key: scriptedKey, Name: "Scripted", Flow: providersapp.FlowRedirect, CanRefresh: true,
		Capabilities: []string{providersapp.CapabilityAccounts, providersapp.CapabilityHoldings, providersapp.CapabilityTransactions}}
}

func (s *scripted) Begin(context.Context, providersapp.BeginRequest) (providersapp.BeginResult, error) {
	return providersapp.BeginResult{AuthorizationURL: "https://scripted.example/authorize"}, nil
}

func (s *scripted) Complete(context.Context, string) (providersapp.Tokens, error) {
	return providersapp.Tokens{AccessToken: "access-1", RefreshToken: "refresh"}, nil
}

func (s *scripted) Refresh(_ context.Context, current providersapp.Tokens) (providersapp.Tokens, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshN++
	current.AccessToken = "access-refreshed-" + strconv.Itoa(s.refreshN)
	return current, nil
}

func (s *scripted) Revoke(context.Context, providersapp.Tokens) error { return nil }

func (s *scripted) failure(method string) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail == nil {
		return nil
	}
	return fail(method)
}

func (s *scripted) Accounts(context.Context, providersapp.Tokens) ([]providersapp.AccountRecord, error) {
	if err := s.failure("accounts"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]providersapp.AccountRecord(nil), s.accounts...), nil
}

func (s *scripted) Holdings(context.Context, providersapp.Tokens) (providersapp.HoldingsAnswer, error) {
	if err := s.failure("holdings"); err != nil {
		return providersapp.HoldingsAnswer{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holdings, nil
}

func (s *scripted) Transactions(_ context.Context, _ providersapp.Tokens, resume []byte) (providersapp.TransactionPage, error) {
	n := 0
	if len(resume) > 0 {
		var err error
		if n, err = strconv.Atoi(string(resume)); err != nil {
			return providersapp.TransactionPage{}, fmt.Errorf("scripted: resume %q: %w", resume, domain.ErrInvalidRequest)
		}
	}
	s.mu.Lock()
	s.asked = append(s.asked, n)
	onPage := s.onPage
	s.mu.Unlock()
	if onPage != nil {
		onPage(n)
	}
	if err := s.failure("transactions"); err != nil {
		return providersapp.TransactionPage{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n >= len(s.pages) {
		return providersapp.TransactionPage{Resume: []byte(strconv.Itoa(n))}, nil
	}
	page := s.pages[n]
	page.Resume, page.HasMore = []byte(strconv.Itoa(n+1)), n+1 < len(s.pages)
	return page, nil
}

// set changes the script under its lock.
func (s *scripted) set(change func(s *scripted)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(s)
}

// The scripted institution's building blocks.

func usd(t *testing.T, amount string) money.Money {
	t.Helper()
	m, err := money.ParseAmount("amount", amount, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func date(t *testing.T, s string) calendar.Date {
	t.Helper()
	d, err := calendar.ParseDate("date", s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func quantity(t *testing.T, s string) money.Decimal {
	t.Helper()
	q, err := money.ParseQuantity("quantity", s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// account is an open account record of the given type with a balance as of
// the harness clock's now.
func account(t *testing.T, h *harness, id string, typ finance.AccountType, balance string) providersapp.AccountRecord {
	t.Helper()
	usdCurrency := usd(t, "0").Currency()
	return providersapp.AccountRecord{
		Details: finance.AccountDetails{InstitutionAccountID: id, Name: "Account " + id, Mask: "1234", Type: typ, Currency: usdCurrency},
		Status:  finance.AccountOpen,
		Balance: providersapp.BalanceRecord{Current: usd(t, balance), AsOf: h.clock.Now()},
	}
}

// purchase is a record of a card purchase.
func purchase(t *testing.T, accountID, id string, status finance.TransactionStatus, amount string) providersapp.TransactionRecord {
	t.Helper()
	d := finance.TransactionDetails{InstitutionTransactionID: id, Amount: usd(t, amount), Date: date(t, "2030-05-01"),
		Description: "POS " + id, Kind: finance.KindPurchase}
	if status == finance.TransactionPosted {
		d.PostedDate = date(t, "2030-05-02")
	}
	return providersapp.TransactionRecord{InstitutionAccountID: accountID, Status: status, Details: d}
}

// removal names a transaction the institution no longer has.
func removal(accountID, id string) providersapp.RemovedTransaction {
	return providersapp.RemovedTransaction{InstitutionAccountID: accountID, InstitutionTransactionID: id}
}

// security is an equity with an ISIN.
func security(t *testing.T, isin, symbol string) finance.SecurityDetails {
	t.Helper()
	return finance.SecurityDetails{ISIN: isin, Symbol: symbol, Type: finance.SecurityEquity, Currency: usd(t, "0").Currency()}
}

// position is a holding of units of sec in account at a price.
func position(t *testing.T, h *harness, accountID string, sec finance.SecurityDetails, units, price, value string) providersapp.HoldingRecord {
	t.Helper()
	return providersapp.HoldingRecord{InstitutionAccountID: accountID, Security: sec.Key(), Quantity: quantity(t, units),
		Price: usd(t, price), MarketValue: usd(t, value), AsOf: h.clock.Now()}
}

// Real identities, so check digits pass.
const (
	isinApple     = "US0378331005"
	isinMicrosoft = "US5949181045"
)

// balanceQuery asks for an account's whole balance history.
func balanceQuery(a *finance.Account) financeapp.BalanceQuery {
	return financeapp.BalanceQuery{AccountID: a.ID(), Limit: 1000}
}
