package budgeted_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/budgeted"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakewindow"
)

// institution is a data connector of provider type key that counts the calls
// that reach it.
type institution struct {
	key   string
	calls int
}

func (i *institution) Type() providers.ProviderType { return providers.ProviderType{Key: i.key} }

func (i *institution) Begin(context.Context, providers.BeginRequest) (providers.BeginResult, error) {
	i.calls++
	return providers.BeginResult{AuthorizationURL: "https://acme.test/authorize"}, nil
}

func (i *institution) Complete(context.Context, string) (providers.Tokens, error) {
	i.calls++
	return providers.Tokens{AccessToken: "a"}, nil
}

func (i *institution) Refresh(_ context.Context, t providers.Tokens) (providers.Tokens, error) {
	i.calls++
	return t, nil
}

func (i *institution) Revoke(context.Context, providers.Tokens) error {
	i.calls++
	return nil
}

func (i *institution) Accounts(context.Context, providers.Tokens) ([]providers.AccountRecord, error) {
	i.calls++
	return make([]providers.AccountRecord, 1), nil
}

func (i *institution) Holdings(context.Context, providers.Tokens) (providers.HoldingsAnswer, error) {
	i.calls++
	return providers.HoldingsAnswer{}, nil
}

func (i *institution) Transactions(context.Context, providers.Tokens, []byte) (providers.TransactionPage, error) {
	i.calls++
	return providers.TransactionPage{}, nil
}

const (
	providerTier = "provider_call"
	typeTier     = "provider_type_call"
)

var start = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

// connector is both halves of a budgeted connector.
type connector interface {
	providers.Connector
	providers.DataConnector
}

func wrap(t *testing.T, next *institution, counter budgeted.Counter, clock *fakeclock.Clock) connector {
	t.Helper()
	c, ok := budgeted.Wrap(next, counter, budgeted.Config{ProviderTier: providerTier, TypeTier: typeTier, Now: clock.Now}).(connector)
	if !ok {
		t.Fatal("the budgeted connector lost its data half")
	}
	return c
}

func grant(id string) providers.Tokens {
	return providers.Tokens{AccessToken: "access-" + id, RefreshToken: "refresh-" + id}
}

// retryAfter returns the wait err asks for, failing the test unless err is a
// spent budget named budget that is also a *providers.RetryAfterError.
func retryAfter(t *testing.T, err error, budget string) time.Duration {
	t.Helper()
	var spent *providers.BudgetExhaustedError
	if !errors.As(err, &spent) || spent.Budget != budget || !errors.Is(err, providers.ErrBudgetExhausted) {
		t.Fatalf("error = %v, want the %s budget exhausted", err, budget)
	}
	ra, ok := errors.AsType[*providers.RetryAfterError](err)
	if !ok || ra.Delay != spent.Delay || !errors.Is(err, domain.ErrProviderUnavailable) {
		t.Fatalf("error = %v is not a *providers.RetryAfterError with the same delay", err)
	}
	return ra.Delay
}

// Once a grant's budget is spent, its next data call is not made and returns
// a *providers.RetryAfterError asking to wait until the budget's window ends;
// after that the calls go through again.
func TestBudgetExhaustedDataCallIsRetryAfterTheWindowsEnd(t *testing.T) {
	clock := fakeclock.New(start)
	next := &institution{key: "acme"}
	c := wrap(t, next, fakewindow.New(clock.Now, map[string]int{providerTier: 3, typeTier: 100}), clock)
	ctx, tokens := context.Background(), grant("one")
	for range 3 {
		if _, err := c.Transactions(ctx, tokens, nil); err != nil {
			t.Fatalf("call within the budget: %v", err)
		}
	}
	clock.Advance(20 * time.Second)
	_, err := c.Accounts(ctx, tokens)
	if wait := retryAfter(t, err, budgeted.BudgetProvider); wait != 40*time.Second {
		t.Errorf("wait = %v, want the 40s left of the window", wait)
	}
	if next.calls != 3 {
		t.Errorf("the institution saw %d calls, want 3: a refused call is not made", next.calls)
	}
	clock.Advance(40 * time.Second)
	if _, err := c.Holdings(ctx, tokens); err != nil {
		t.Errorf("call in the next window: %v", err)
	}
	if next.calls != 4 {
		t.Errorf("the institution saw %d calls, want 4", next.calls)
	}
}

// Interactive calls are refused the same way: an ErrBudgetExhausted the API
// answers 503 with Retry-After. Begin is charged to the beginning user.
func TestBudgetExhaustedInteractiveCallIsNotMade(t *testing.T) {
	clock := fakeclock.New(start)
	next := &institution{key: "acme"}
	c := wrap(t, next, fakewindow.New(clock.Now, map[string]int{providerTier: 1, typeTier: 100}), clock)
	ctx, user := context.Background(), uuid.New()
	if _, err := c.Begin(ctx, providers.BeginRequest{UserID: user}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Begin(ctx, providers.BeginRequest{UserID: user})
	retryAfter(t, err, budgeted.BudgetProvider)
	if _, err := c.Begin(ctx, providers.BeginRequest{UserID: uuid.New()}); err != nil {
		t.Errorf("another user's Begin: %v", err)
	}
	tokens := grant("one")
	if _, err := c.Refresh(ctx, tokens); err != nil {
		t.Fatal(err)
	}
	_, err = c.Refresh(ctx, tokens)
	retryAfter(t, err, budgeted.BudgetProvider)
	retryAfter(t, c.Revoke(ctx, tokens), budgeted.BudgetProvider)
	if next.calls != 3 {
		t.Errorf("the institution saw %d calls, want 3", next.calls)
	}
}

// Each grant has a budget of its own: one spending its budget leaves another's
// untouched.
func TestSeparateProvidersDoNotShareTheProviderBudget(t *testing.T) {
	clock := fakeclock.New(start)
	next := &institution{key: "acme"}
	c := wrap(t, next, fakewindow.New(clock.Now, map[string]int{providerTier: 2, typeTier: 100}), clock)
	ctx := context.Background()
	one, two := grant("one"), grant("two")
	for range 2 {
		if _, err := c.Accounts(ctx, one); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Accounts(ctx, one)
	retryAfter(t, err, budgeted.BudgetProvider)
	for range 2 {
		if _, err := c.Accounts(ctx, two); err != nil {
			t.Errorf("the second grant's call was refused: %v", err)
		}
	}
	// A grant keeps its budget when its access token is refreshed: Plaid's item
	// id names it, or else its refresh token.
	item := providers.Tokens{AccessToken: "a1", ExternalID: "item-1"}
	for range 2 {
		if _, err := c.Accounts(ctx, item); err != nil {
			t.Fatal(err)
		}
	}
	item.AccessToken = "a2"
	_, err = c.Accounts(ctx, item)
	retryAfter(t, err, budgeted.BudgetProvider)
}

// The provider type's budget is one for all its grants, and each type has its
// own.
func TestTheProviderTypeBudgetIsShared(t *testing.T) {
	clock := fakeclock.New(start)
	counter := fakewindow.New(clock.Now, map[string]int{providerTier: 100, typeTier: 3})
	acme, other := &institution{key: "acme"}, &institution{key: "other"}
	a, o := wrap(t, acme, counter, clock), wrap(t, other, counter, clock)
	ctx := context.Background()
	for _, id := range []string{"one", "two", "three"} {
		if _, err := a.Accounts(ctx, grant(id)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(45 * time.Second)
	_, err := a.Accounts(ctx, grant("four"))
	if wait := retryAfter(t, err, budgeted.BudgetProviderType); wait != 15*time.Second {
		t.Errorf("wait = %v, want 15s", wait)
	}
	if _, err := o.Accounts(ctx, grant("four")); err != nil {
		t.Errorf("another provider type's call was refused: %v", err)
	}
	if acme.calls != 3 || other.calls != 1 {
		t.Errorf("calls made: acme %d, other %d; want 3 and 1", acme.calls, other.calls)
	}
}

// A store that cannot be reached lets calls through; with no budget
// configured the connector is not wrapped at all.
func TestBudgetStoreOutageAndNoBudget(t *testing.T) {
	clock := fakeclock.New(start)
	counter := fakewindow.New(clock.Now, map[string]int{providerTier: 1, typeTier: 1})
	counter.Fail(errors.New("redis down"))
	next := &institution{key: "acme"}
	c := wrap(t, next, counter, clock)
	for range 3 {
		if _, err := c.Accounts(context.Background(), grant("one")); err != nil {
			t.Fatalf("call during a store outage: %v", err)
		}
	}
	if next.calls != 3 {
		t.Errorf("the institution saw %d calls, want 3", next.calls)
	}
	if got := budgeted.Wrap(next, counter, budgeted.Config{Now: clock.Now}); got != providers.Connector(next) {
		t.Errorf("Wrap with no budget = %T, want the connector itself", got)
	}
}
