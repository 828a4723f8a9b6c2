package providers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/memory"
	"github.com/dashtam/dashtam/test/testlog"
)

// start is a whole second, so expiry boundaries can be hit to the microsecond.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The provider types the harness offers: an OAuth bank (redirect flow, tokens
// that can be refreshed) and a Plaid-like aggregator (link-token flow, no refresh,
// grants repaired in place).
const (
	bankKey = "bank"
	linkKey = "linked"
)

// The harness's connection settings. RefreshPoll divides LeaseTTL, so a wait
// for a lease that is never released ends exactly when the lease runs out.
const (
	refreshWindow = 5 * time.Minute
	leaseTTL      = time.Minute
	refreshPoll   = time.Second
	// tokenLifetime is how long the fake institution's access tokens live.
	tokenLifetime = 30 * time.Minute
)

// errInstitutionDown stands for an institution that fails (retryable).
var errInstitutionDown = fmt.Errorf("bank answered 503: %w", domain.ErrProviderUnavailable)

// call is one scripted answer of the fake institution: what it returns, and
// what happens elsewhere while it is being called (during runs inside the call,
// before it answers, with no lock of the fake held). A call that scripts
// neither out nor err answers as an unscripted one would.
type call[T any] struct {
	out    T
	err    error
	during func()
}

// fakeConnector is a scripted institution. Each call takes the next scripted
// answer for its method, if any, and otherwise behaves: Begin hands out a URL or
// link token, Complete grants tokens named after the grant, Refresh grants
// numbered tokens, Revoke succeeds. Every call is recorded.
type fakeConnector struct {
	typ   providersapp.ProviderType
	clock *fakeclock.Clock

	mu                            sync.Mutex
	beginScript                   []call[providersapp.BeginResult]
	completeScript, refreshScript []call[provider.Credentials]
	revokeScript                  []call[struct{}]
	begun                         []providersapp.BeginRequest
	completed                     []string
	refreshedFrom, revoked        []provider.Credentials
}

var _ providersapp.Connector = (*fakeConnector)(nil)

func newFakeConnector(typ providersapp.ProviderType, clock *fakeclock.Clock) *fakeConnector {
	return &fakeConnector{typ: typ, clock: clock}
}

func (f *fakeConnector) Type() providersapp.ProviderType { return f.typ }

// onBegin, onComplete, onRefresh and onRevoke script the next unscripted call
// of their method.
func (f *fakeConnector) onBegin(c call[providersapp.BeginResult]) {
	f.script(func() { f.beginScript = append(f.beginScript, c) })
}
func (f *fakeConnector) onComplete(c call[provider.Credentials]) {
	f.script(func() { f.completeScript = append(f.completeScript, c) })
}
func (f *fakeConnector) onRefresh(c call[provider.Credentials]) {
	f.script(func() { f.refreshScript = append(f.refreshScript, c) })
}
func (f *fakeConnector) onRevoke(c call[struct{}]) {
	f.script(func() { f.revokeScript = append(f.revokeScript, c) })
}

func (f *fakeConnector) script(add func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	add()
}

// next pops the next scripted answer of q, recording the call with record,
// both under the fake's lock. It reports whether the answer is scripted, as
// opposed to the fake's own.
func next[T any](f *fakeConnector, q *[]call[T], record func()) (call[T], bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	record()
	if len(*q) == 0 {
		return call[T]{}, false
	}
	c := (*q)[0]
	*q = (*q)[1:]
	var zero T
	return c, c.err != nil || !reflect.DeepEqual(c.out, zero)
}

func (f *fakeConnector) Begin(_ context.Context, req providersapp.BeginRequest) (providersapp.BeginResult, error) {
	c, scripted := next(f, &f.beginScript, func() { f.begun = append(f.begun, req) })
	if c.during != nil {
		c.during()
	}
	if scripted {
		return c.out, c.err
	}
	if f.typ.Flow == providersapp.FlowLinkToken {
		return providersapp.BeginResult{LinkToken: "link-sandbox-" + req.State[:8]}, nil
	}
	return providersapp.BeginResult{AuthorizationURL: "https://bank.test/authorize?state=" + req.State}, nil
}

func (f *fakeConnector) Complete(_ context.Context, grant string) (provider.Credentials, error) {
	c, scripted := next(f, &f.completeScript, func() { f.completed = append(f.completed, grant) })
	if c.during != nil {
		c.during()
	}
	if scripted {
		return c.out, c.err
	}
	return f.grantFor(grant), nil
}

// grantFor is what the fake institution grants for grant when not scripted.
func (f *fakeConnector) grantFor(grant string) provider.Credentials {
	creds := provider.Credentials{AccessToken: "access-" + grant, Scopes: []string{"read"}, ExternalID: "item-" + grant}
	if f.typ.CanRefresh {
		creds.RefreshToken = "refresh-" + grant
		creds.ExpiresAt = f.clock.Now().Add(tokenLifetime)
		creds.RefreshExpiresAt = f.clock.Now().Add(7 * 24 * time.Hour)
	}
	return creds
}

func (f *fakeConnector) Refresh(_ context.Context, current provider.Credentials) (provider.Credentials, error) {
	var n int
	c, scripted := next(f, &f.refreshScript, func() {
		f.refreshedFrom = append(f.refreshedFrom, current)
		n = len(f.refreshedFrom)
	})
	if c.during != nil {
		c.during()
	}
	if scripted {
		return c.out, c.err
	}
	return provider.Credentials{AccessToken: fmt.Sprintf("access-refreshed-%d", n), RefreshToken: fmt.Sprintf("refresh-refreshed-%d", n),
		ExpiresAt: f.clock.Now().Add(tokenLifetime)}, nil
}

func (f *fakeConnector) Revoke(_ context.Context, current provider.Credentials) error {
	c, _ := next(f, &f.revokeScript, func() { f.revoked = append(f.revoked, current) })
	if c.during != nil {
		c.during()
	}
	return c.err
}

// Recorded calls, copied.

func (f *fakeConnector) begins() []providersapp.BeginRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]providersapp.BeginRequest(nil), f.begun...)
}

func (f *fakeConnector) completes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.completed...)
}

func (f *fakeConnector) refreshes() []provider.Credentials {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]provider.Credentials(nil), f.refreshedFrom...)
}

func (f *fakeConnector) revokes() []provider.Credentials {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]provider.Credentials(nil), f.revoked...)
}

// lastState is the state the last Begin was given.
func (f *fakeConnector) lastState(t *testing.T) string {
	t.Helper()
	begun := f.begins()
	if len(begun) == 0 {
		t.Fatal("the institution was never asked to begin")
	}
	return begun[len(begun)-1].State
}

// authorizationReads wraps the memory store so a test can make reading an
// authorization fail (as an undecryptable row does) while everything else works.
type authorizationReads struct {
	*memory.AuthorizationStore
	mu      sync.Mutex
	readErr error
}

func (s *authorizationReads) failReads(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readErr = err
}

func (s *authorizationReads) AuthorizationByProvider(ctx context.Context, providerID uuid.UUID) (*provider.Authorization, error) {
	s.mu.Lock()
	err := s.readErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.AuthorizationStore.AuthorizationByProvider(ctx, providerID)
}

// harness is Service and Connections wired to in-memory stores, a fake clock
// and two scripted institutions.
type harness struct {
	t         *testing.T
	ctx       context.Context
	clock     *fakeclock.Clock
	users     *memory.IdentityStore
	providers *memory.ProviderStore
	auths     *authorizationReads
	jobs      *memory.JobQueue
	bank      *fakeConnector // redirect flow, refreshable
	linked    *fakeConnector // link-token flow, no refresh
	svc       *providersapp.Service
	conns     *providersapp.Connections
	logs      *testlog.Buffer
	audit     *memory.AuditLog
	// sleeps counts the waits use cases made on the clock.
	sleeps int
	// userCount numbers the users' email addresses.
	userCount int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		t:         t,
		ctx:       t.Context(),
		clock:     fakeclock.New(start),
		users:     memory.NewIdentityStore(&memory.JobQueue{}),
		providers: memory.NewProviderStore(),
		logs:      &testlog.Buffer{},
		audit:     memory.NewAuditLog(),
	}
	h.jobs = &memory.JobQueue{}
	h.auths = &authorizationReads{AuthorizationStore: memory.NewAuthorizationStore(h.providers).SetAsideOn(h.jobs)}
	h.bank = newFakeConnector(providersapp.ProviderType{Key: bankKey, Name: "Bank", Flow: providersapp.FlowRedirect,
		Capabilities: []string{"accounts"}, CanRefresh: true}, h.clock)
	h.linked = newFakeConnector(providersapp.ProviderType{Key: linkKey, Name: "Linked", Flow: providersapp.FlowLinkToken,
		Capabilities: []string{"accounts", "transactions"}, RepairsInPlace: true}, h.clock)
	registry, err := providersapp.NewRegistry(h.linked, h.bank)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	h.svc = providersapp.NewService(h.providers, h.auths, h.users, registry, h.clock, log)
	h.conns = providersapp.NewConnections(h.providers, h.auths, h.users, registry, h.clock, providersapp.ConnectionsConfig{
		RefreshWindow: refreshWindow, LeaseTTL: leaseTTL, BatchSize: 10, RefreshPoll: refreshPoll,
	}, log)
	auditor := audit.NewService(h.audit, h.clock, log, 0)
	h.svc.RecordTo(auditor)
	h.conns.RecordTo(auditor)
	h.clock.OnSleep(func(time.Duration) { h.sleeps++ })
	return h
}

// whileWaiting sets what happens elsewhere each time a use case waits on the
// clock (the clock has moved by the wait when it runs).
func (h *harness) whileWaiting(f func()) {
	h.clock.OnSleep(func(time.Duration) {
		h.sleeps++
		f()
	})
}

// newUser stores a user, with a verified email if verified.
func (h *harness) newUser(verified bool) uuid.UUID {
	h.t.Helper()
	h.userCount++
	email, err := identity.ParseEmail(fmt.Sprintf("user%d@example.com", h.userCount))
	if err != nil {
		h.t.Fatal(err)
	}
	u, err := identity.NewUser(uuid.New(), email, "User", "$fake$", h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if verified {
		u.VerifyEmail(h.clock.Now())
	}
	if err := h.users.CreateUser(h.ctx, u, identityapp.VerificationMail{UserID: u.ID()}); err != nil {
		h.t.Fatalf("CreateUser: %v", err)
	}
	return u.ID()
}

func (h *harness) verifiedUser() uuid.UUID   { h.t.Helper(); return h.newUser(true) }
func (h *harness) unverifiedUser() uuid.UUID { h.t.Helper(); return h.newUser(false) }

// create adds a provider of type key for user.
func (h *harness) create(user uuid.UUID, key, alias string) *provider.Provider {
	h.t.Helper()
	p, err := h.svc.Create(h.ctx, user, key, alias)
	if err != nil {
		h.t.Fatalf("Create(%s, %q): %v", key, alias, err)
	}
	return p
}

// begin starts authorizing p and returns the attempt's state.
func (h *harness) begin(user uuid.UUID, p *provider.Provider) string {
	h.t.Helper()
	started, err := h.conns.Start(h.ctx, user, p.ID())
	if err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	if started.Flow == providersapp.FlowLinkToken {
		return started.State
	}
	return h.bank.lastState(h.t)
}

// complete finishes p's attempt with state through the route of p's flow.
func (h *harness) complete(user uuid.UUID, p *provider.Provider, state, grant string) *provider.Authorization {
	h.t.Helper()
	var a *provider.Authorization
	var err error
	if p.Key() == linkKey {
		a, err = h.conns.CompleteLink(h.ctx, user, p.ID(), state, grant)
	} else {
		a, err = h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, grant)
	}
	if err != nil {
		h.t.Fatalf("completing %s: %v", p.Key(), err)
	}
	return a
}

// authorized creates a provider of type key for user and connects it; the
// institution granted it the tokens of grant "consent".
func (h *harness) authorized(user uuid.UUID, key, alias string) *provider.Provider {
	h.t.Helper()
	p := h.create(user, key, alias)
	h.complete(user, p, h.begin(user, p), "consent-"+alias)
	return h.provider(p.ID())
}

// provider reads p as stored.
func (h *harness) provider(id uuid.UUID) *provider.Provider {
	h.t.Helper()
	p, err := h.providers.ProviderByID(h.ctx, id)
	if err != nil {
		h.t.Fatalf("ProviderByID: %v", err)
	}
	return p
}

// authorization reads p's authorization as stored.
func (h *harness) authorization(id uuid.UUID) *provider.Authorization {
	h.t.Helper()
	a, err := h.auths.AuthorizationStore.AuthorizationByProvider(h.ctx, id)
	if err != nil {
		h.t.Fatalf("AuthorizationByProvider: %v", err)
	}
	return a
}

// leaseFor makes owner hold the refresh lease of p's authorization until
// until, as another instance or request would.
func (h *harness) leaseFor(id, owner uuid.UUID, until time.Time) {
	h.t.Helper()
	_, _, err := h.auths.UpdateAuthorization(h.ctx, id, func(_ *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		return a, a.ClaimRefresh(owner, h.clock.Now(), until)
	})
	if err != nil {
		h.t.Fatalf("leasing to %s: %v", owner, err)
	}
}

// refreshAs lands a refresh by owner, who holds the lease, with creds.
func (h *harness) refreshAs(id, owner uuid.UUID, creds provider.Credentials) {
	h.t.Helper()
	_, _, err := h.auths.UpdateAuthorization(h.ctx, id, func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		if !a.HoldsLease(owner) {
			return nil, errors.New("the lease was lost")
		}
		a.Refreshed(owner, creds, h.clock.Now())
		return a, nil
	})
	if err != nil {
		h.t.Fatalf("refresh by %s: %v", owner, err)
	}
}

// mustBe fails unless err is (or wraps) want.
func mustBe(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// fieldCodes returns field -> code of a *domain.ValidationError, failing otherwise.
func fieldCodes(t *testing.T, err error) map[string]string {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v (%T), want *domain.ValidationError", err, err)
	}
	out := map[string]string{}
	for _, f := range verr.Fields {
		out[f.Field] = f.Code
	}
	return out
}

// The fake institution serves no data: its data half is there so that
// Connections.DataAccess finds one.

func (f *fakeConnector) Accounts(context.Context, provider.Credentials) ([]providersapp.AccountRecord, error) {
	return nil, nil
}

func (f *fakeConnector) Holdings(context.Context, provider.Credentials) (providersapp.HoldingsAnswer, error) {
	return providersapp.HoldingsAnswer{}, nil
}

func (f *fakeConnector) Transactions(context.Context, provider.Credentials, []byte) (providersapp.TransactionPage, error) {
	return providersapp.TransactionPage{}, nil
}

// revokeJob takes the one job queued, which must be a RevokeJob.
func (h *harness) revokeJob() providersapp.RevokeJob {
	h.t.Helper()
	queued := h.jobs.Take()
	if len(queued) != 1 {
		h.t.Fatalf("%d jobs queued, want one RevokeJob", len(queued))
	}
	job, ok := queued[0].(providersapp.RevokeJob)
	if !ok {
		h.t.Fatalf("queued %T, want a RevokeJob", queued[0])
	}
	return job
}
