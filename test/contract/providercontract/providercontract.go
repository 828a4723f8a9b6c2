// Package providercontract is the contract test suite of the providers
// application's Repository port. Every implementation, the in-memory fake as much
// as the SQL adapter on SQLite and Postgres, runs the same suite, so a use-case
// test that passes against the fake means the same against the database.
//
// Besides the example-based cases, a property test (pgregory.net/rapid) checks
// listing against an oracle: for random providers and random queries, walking
// every page in offset mode and in cursor mode yields exactly the oracle's
// filtered, sorted list.
package providercontract

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// Harness is one store under test and the means to create the users its
// providers belong to.
type Harness struct {
	Store providersapp.Repository
	// NewUser stores a new user and returns its id. A SQL store needs real users,
	// because providers reference them (UsersVia makes them); nil means any fresh
	// id will do, as for the in-memory fake.
	NewUser func(ctx context.Context) (uuid.UUID, error)
}

// UsersVia returns a Harness.NewUser that registers each user through users.
func UsersVia(users identityapp.Users) func(ctx context.Context) (uuid.UUID, error) {
	return func(ctx context.Context) (uuid.UUID, error) {
		id, err := uuid.NewV7()
		if err != nil {
			return uuid.Nil, err
		}
		email, err := identity.ParseEmail("user-" + id.String() + "@example.com")
		if err != nil {
			return uuid.Nil, err
		}
		u, err := identity.NewUser(id, email, "Provider Owner", "hash", base)
		if err != nil {
			return uuid.Nil, err
		}
		if err := users.CreateUser(ctx, u, identityapp.VerificationMail{UserID: id}); err != nil {
			return uuid.Nil, fmt.Errorf("create user: %w", err)
		}
		return id, nil
	}
}

// base is the suite's clock: a fixed instant, in UTC, with a sub-second part that
// survives microsecond storage.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// errBoom is what the suite's closures return to make an update or delete fail.
var errBoom = errors.New("boom (from the test's closure)")

// tester is what the helpers need of *testing.T and *rapid.T alike.
type tester interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Run runs the suite: each of its tests as a subtest of t, on the harness
// newHarness returns when called from that subtest. newHarness must return a
// harness on an empty store of its own each time; the property tests get one
// harness for all their checks and keep the checks apart by giving each check
// users of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHarness(t)) })
	}
}

// tests are the suite's cases, in the order they run: what each proves, and
// the function that proves it on a harness of its own.
var tests = []struct {
	name string
	test func(t *testing.T, h Harness)
}{
	{"created provider reads back with every field, in UTC to the microsecond", createdProviderReadsBackWithEveryField},
	{"an alias the user has in another case is ErrAliasTaken, another user may have it", aliasIsTakenPerUserInAnyCase},
	{"concurrent creates of one alias by 8 goroutines: exactly one wins", concurrentCreatesOfOneAliasOneWins},
	{"update persists the change, its version and updated_at, and returns it", updatePersistsAndReturnsTheChange},
	{"update fn error aborts and saves nothing", updateFnErrorSavesNothing},
	{"rename onto a taken alias is ErrAliasTaken and changes nothing; a case change of one's own alias is not", renameOntoTakenAliasChangesNothing},
	{"delete: a check error keeps the provider, success removes it, a second delete is ErrNotFound", deleteRemovesOnlyWhenTheCheckPasses},
	{"unknown ids are ErrNotFound and closures are not called", unknownIDsAreNotFound},
	{"entities passed in or handed out are copies", entitiesAreCopies},
	{"list filters by status, key, search and creation time, and pages with a total", listExamples},
	{"walking every page, in offset and cursor mode, yields the oracle's list (property)", listProperty},
	{"a cursor walk under concurrent inserts never repeats a row, never skips one that existed, never sees one behind it", cursorUnderInserts},
}

func createdProviderReadsBackWithEveryField(t *testing.T, h Harness) {
	user := newUser(t, h)
	local := time.Date(2030, time.March, 4, 10, 6, 7, 123456789, time.FixedZone("UTC+5", 5*3600))
	fresh := mustNew(t, user, "schwab", "  My Schwab  ", local)
	// Every field away from its initial value, so none can be lost unnoticed.
	changed := provider.Rehydrate(provider.Snapshot{ID: newID(t), UserID: user, Key: "plaid", Alias: "Chase Checking", Status: provider.StatusReauthorizationRequired, Version: 7, CreatedAt: local.Add(time.Second), UpdatedAt: local.Add(time.Hour + time.Nanosecond)})
	for _, p := range []*provider.Provider{fresh, changed} {
		create(t, h.Store, p)
		got, err := h.Store.ProviderByID(t.Context(), p.ID())
		if err != nil {
			t.Fatalf("ProviderByID: %v", err)
		}
		assertProvider(t, got, stored(p))
		if got.CreatedAt().Location() != time.UTC || got.UpdatedAt().Location() != time.UTC {
			t.Errorf("times are not in UTC: created %v, updated %v", got.CreatedAt(), got.UpdatedAt())
		}
	}
}

func aliasIsTakenPerUserInAnyCase(t *testing.T, h Harness) {
	ada, grace := newUser(t, h), newUser(t, h)
	first := mustNew(t, ada, "schwab", "My Schwab", base)
	create(t, h.Store, first)

	for _, alias := range []string{"My Schwab", "my schwab", "MY SCHWAB"} {
		dup := mustNew(t, ada, "plaid", alias, base.Add(time.Minute))
		if err := h.Store.CreateProvider(t.Context(), dup); !errors.Is(err, provider.ErrAliasTaken) {
			t.Errorf("CreateProvider(%q) for the same user: got %v, want ErrAliasTaken", alias, err)
		}
		if _, err := h.Store.ProviderByID(t.Context(), dup.ID()); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("the losing provider was stored: ProviderByID got %v", err)
		}
	}
	other := mustNew(t, grace, "schwab", "my schwab", base)
	if err := h.Store.CreateProvider(t.Context(), other); err != nil {
		t.Fatalf("the same alias for another user: %v", err)
	}
	got, err := h.Store.ProviderByID(t.Context(), first.ID())
	if err != nil {
		t.Fatal(err)
	}
	assertProvider(t, got, stored(first))
}

func concurrentCreatesOfOneAliasOneWins(t *testing.T, h Harness) {
	user := newUser(t, h)
	const n = 8
	candidates := make([]*provider.Provider, n)
	for i := range n {
		// The same alias in a different case each time.
		alias := []byte("my schwab")
		for j := range alias {
			if i>>(j%3)&1 == 1 && alias[j] != ' ' {
				alias[j] -= 'a' - 'A'
			}
		}
		candidates[i] = mustNew(t, user, "schwab", string(alias), base)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = h.Store.CreateProvider(t.Context(), candidates[i])
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("both %q and %q were created", candidates[winner].Alias(), candidates[i].Alias())
			}
			winner = i
		case !errors.Is(err, provider.ErrAliasTaken):
			t.Errorf("create %d: got %v, want nil or ErrAliasTaken", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no create succeeded")
	}
	items := list(t, h.Store, providersapp.ListQuery{UserID: user, Sort: providersapp.DefaultSort, WithTotal: true})
	if len(items) != 1 || items[0].ID() != candidates[winner].ID() {
		t.Fatalf("the user has %d providers (%v), want only the winner %s", len(items), idsOf(items), candidates[winner].ID())
	}
}

func updatePersistsAndReturnsTheChange(t *testing.T, h Harness) {
	user := newUser(t, h)
	p := mustNew(t, user, "schwab", "My Schwab", base)
	create(t, h.Store, p)
	// A time with nanoseconds, in another zone: what comes back is what a read
	// would return.
	renamedAt := base.Add(time.Minute)
	activeAt := base.Add(2*time.Minute + 789).In(time.FixedZone("UTC-8", -8*3600))

	got, err := h.Store.UpdateProvider(t.Context(), p.ID(), func(p *provider.Provider) error {
		if err := p.Rename("Brokerage", renamedAt); err != nil {
			return err
		}
		p.SetStatus(provider.StatusActive, activeAt)
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateProvider: %v", err)
	}
	want := provider.Rehydrate(provider.Snapshot{ID: p.ID(), UserID: user, Key: "schwab", Alias: "Brokerage", Status: provider.StatusActive, Version: 3, CreatedAt: base, UpdatedAt: storedTime(activeAt)})
	assertProvider(t, got, want)
	if got.UpdatedAt().Location() != time.UTC {
		t.Errorf("returned updated_at %v is not in UTC", got.UpdatedAt())
	}
	assertStored(t, h.Store, want)

	// The old alias is free again, the new one is taken.
	create(t, h.Store, mustNew(t, user, "plaid", "my schwab", base))
	if err := h.Store.CreateProvider(t.Context(), mustNew(t, user, "plaid", "BROKERAGE", base)); !errors.Is(err, provider.ErrAliasTaken) {
		t.Errorf("creating the new alias again: got %v, want ErrAliasTaken", err)
	}
}

func updateFnErrorSavesNothing(t *testing.T, h Harness) {
	user := newUser(t, h)
	p := mustNew(t, user, "schwab", "My Schwab", base)
	create(t, h.Store, p)
	got, err := h.Store.UpdateProvider(t.Context(), p.ID(), func(p *provider.Provider) error {
		p.SetStatus(provider.StatusRevoked, base.Add(time.Minute))
		if err := p.Rename("Changed", base.Add(time.Minute)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) || got != nil {
		t.Fatalf("UpdateProvider: got %v, %v; want nil and fn's error", got, err)
	}
	assertStored(t, h.Store, stored(p))
}

func renameOntoTakenAliasChangesNothing(t *testing.T, h Harness) {
	user := newUser(t, h)
	schwab := mustNew(t, user, "schwab", "My Schwab", base)
	plaid := mustNew(t, user, "plaid", "My Bank", base)
	create(t, h.Store, schwab)
	create(t, h.Store, plaid)

	got, err := h.Store.UpdateProvider(t.Context(), plaid.ID(), func(p *provider.Provider) error {
		p.SetStatus(provider.StatusActive, base.Add(time.Minute))
		return p.Rename("MY SCHWAB", base.Add(time.Minute))
	})
	if !errors.Is(err, provider.ErrAliasTaken) || got != nil {
		t.Fatalf("rename onto a taken alias: got %v, %v; want nil and ErrAliasTaken", got, err)
	}
	assertStored(t, h.Store, stored(plaid))
	assertStored(t, h.Store, stored(schwab))

	got, err = h.Store.UpdateProvider(t.Context(), schwab.ID(), func(p *provider.Provider) error {
		return p.Rename("MY SCHWAB", base.Add(time.Minute))
	})
	if err != nil {
		t.Fatalf("changing the case of one's own alias: %v", err)
	}
	assertStored(t, h.Store, got)
	if got.Alias() != "MY SCHWAB" {
		t.Errorf("alias %q, want %q", got.Alias(), "MY SCHWAB")
	}
}

func deleteRemovesOnlyWhenTheCheckPasses(t *testing.T, h Harness) {
	user := newUser(t, h)
	p := mustNew(t, user, "schwab", "My Schwab", base)
	create(t, h.Store, p)

	var checked *provider.Provider
	err := h.Store.DeleteProvider(t.Context(), p.ID(), func(p *provider.Provider) error { checked = p; return errBoom })
	if !errors.Is(err, errBoom) {
		t.Fatalf("DeleteProvider with a failing check: got %v, want the check's error", err)
	}
	if checked == nil {
		t.Fatal("check was not called")
	}
	assertProvider(t, checked, stored(p))
	assertStored(t, h.Store, stored(p))

	if err := h.Store.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatalf("DeleteProvider: %v", err)
	}
	if _, err := h.Store.ProviderByID(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ProviderByID after delete: got %v, want ErrNotFound", err)
	}
	err = h.Store.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error {
		t.Error("second delete called check")
		return nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("second DeleteProvider: got %v, want ErrNotFound", err)
	}
	// The alias is free again.
	create(t, h.Store, mustNew(t, user, "schwab", "my schwab", base))
}

func unknownIDsAreNotFound(t *testing.T, h Harness) {
	user := newUser(t, h)
	create(t, h.Store, mustNew(t, user, "schwab", "My Schwab", base)) // so the store is not simply empty
	unknown := newID(t)
	if _, err := h.Store.ProviderByID(t.Context(), unknown); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ProviderByID: got %v, want ErrNotFound", err)
	}
	got, err := h.Store.UpdateProvider(t.Context(), unknown, func(*provider.Provider) error {
		t.Error("UpdateProvider called fn for an unknown provider")
		return nil
	})
	if !errors.Is(err, domain.ErrNotFound) || got != nil {
		t.Errorf("UpdateProvider: got %v, %v; want nil and ErrNotFound", got, err)
	}
	err = h.Store.DeleteProvider(t.Context(), unknown, func(*provider.Provider) error {
		t.Error("DeleteProvider called check for an unknown provider")
		return nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("DeleteProvider: got %v, want ErrNotFound", err)
	}
}

func entitiesAreCopies(t *testing.T, h Harness) {
	user := newUser(t, h)
	p := mustNew(t, user, "schwab", "My Schwab", base)
	create(t, h.Store, p)
	_ = p.Rename("Changed after create", base.Add(time.Minute))

	got, err := h.Store.ProviderByID(t.Context(), p.ID())
	if err != nil {
		t.Fatal(err)
	}
	_ = got.Rename("Changed after read", base.Add(time.Minute))
	var kept *provider.Provider
	updated, err := h.Store.UpdateProvider(t.Context(), p.ID(), func(p *provider.Provider) error { kept = p; return nil })
	if err != nil {
		t.Fatal(err)
	}
	_ = kept.Rename("Changed after update", base.Add(time.Minute))
	_ = updated.Rename("Changed after update returned", base.Add(time.Minute))
	for _, item := range list(t, h.Store, providersapp.ListQuery{UserID: user, Sort: providersapp.DefaultSort}) {
		_ = item.Rename("Changed after list", base.Add(time.Minute))
	}
	got, err = h.Store.ProviderByID(t.Context(), p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Alias() != "My Schwab" || got.Version() != 1 {
		t.Fatalf("changing an entity outside the store changed the stored one: alias %q, version %d", got.Alias(), got.Version())
	}
}

// newUser makes a user for h's providers.
func newUser(t tester, h Harness) uuid.UUID {
	t.Helper()
	if h.NewUser == nil {
		id, err := uuid.NewV7()
		if err != nil {
			t.Fatalf("new id: %v", err)
		}
		return id
	}
	id, err := h.NewUser(context.Background())
	if err != nil {
		t.Fatalf("NewUser: %v", err)
	}
	return id
}

func mustNew(t tester, user uuid.UUID, key, alias string, now time.Time) *provider.Provider {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new id: %v", err)
	}
	p, err := provider.New(id, user, key, alias, now)
	if err != nil {
		t.Fatalf("provider.New(%q): %v", alias, err)
	}
	return p
}

func create(t tester, st providersapp.Repository, p *provider.Provider) {
	t.Helper()
	if err := st.CreateProvider(context.Background(), p); err != nil {
		t.Fatalf("CreateProvider(%q): %v", p.Alias(), err)
	}
}

func list(t tester, st providersapp.Repository, q providersapp.ListQuery) []*provider.Provider {
	t.Helper()
	items, _, err := st.ListProviders(context.Background(), q)
	if err != nil {
		t.Fatalf("ListProviders: %v", err)
	}
	return items
}

// stored is p as a store keeps it: times in UTC, to the microsecond.
func stored(p *provider.Provider) *provider.Provider {
	return provider.Rehydrate(provider.Snapshot{ID: p.ID(), UserID: p.UserID(), Key: p.Key(), Alias: p.Alias(), Status: p.Status(), Version: p.Version(), CreatedAt: storedTime(p.CreatedAt()), UpdatedAt: storedTime(p.UpdatedAt())})
}

func storedTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func assertStored(t tester, st providersapp.Repository, want *provider.Provider) {
	t.Helper()
	got, err := st.ProviderByID(context.Background(), want.ID())
	if err != nil {
		t.Fatalf("ProviderByID(%s): %v", want.ID(), err)
	}
	assertProvider(t, got, want)
}

func assertProvider(t tester, got, want *provider.Provider) {
	t.Helper()
	if !sameProvider(got, want) {
		t.Errorf("provider differs\n got: %s\nwant: %s", describe(got), describe(want))
	}
}

func sameProvider(a, b *provider.Provider) bool {
	return a.ID() == b.ID() && a.UserID() == b.UserID() && a.Key() == b.Key() && a.Alias() == b.Alias() &&
		a.Status() == b.Status() && a.Version() == b.Version() &&
		a.CreatedAt().Equal(b.CreatedAt()) && a.UpdatedAt().Equal(b.UpdatedAt())
}

func describe(p *provider.Provider) string {
	if p == nil {
		return "<nil>"
	}
	return strings.Join([]string{p.ID().String(), p.UserID().String(), p.Key(), fmt.Sprintf("%q", p.Alias()),
		p.Status().String(), fmt.Sprint(p.Version()), p.CreatedAt().Format(time.RFC3339Nano),
		p.UpdatedAt().Format(time.RFC3339Nano)}, " | ")
}

func idsOf(ps []*provider.Provider) []uuid.UUID {
	out := make([]uuid.UUID, len(ps))
	for i, p := range ps {
		out[i] = p.ID()
	}
	return out
}

// newID returns a time-ordered id, as the service makes them.
func newID(t tester) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new id: %v", err)
	}
	return id
}
