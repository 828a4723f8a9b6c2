package financecontract

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/contract/providercontract"
)

// UsersVia returns a Harness.NewUser that registers each user through users.
func UsersVia(users identityapp.Users) func(ctx context.Context) (uuid.UUID, error) {
	return providercontract.UsersVia(users)
}

// base is the suite's clock: a fixed instant in UTC with a sub-second part
// that survives microsecond storage.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// errBoom is what the suite's closures return to make a batch fail.
var errBoom = errors.New("boom (from the test's closure)")

// tester is what the helpers need of *testing.T and *rapid.T alike.
type tester interface {
	Helper()
	Context() context.Context
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

func newID(t tester) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new id: %v", err)
	}
	return id
}

// newProvider stores a provider of a new user.
func newProvider(t tester, h Harness) *provider.Provider {
	t.Helper()
	user := newID(t)
	if h.NewUser != nil {
		var err error
		if user, err = h.NewUser(t.Context()); err != nil {
			t.Fatalf("NewUser: %v", err)
		}
	}
	return newProviderOf(t, h, user)
}

// newProviderOf stores another provider of user.
func newProviderOf(t tester, h Harness, user uuid.UUID) *provider.Provider {
	t.Helper()
	id := newID(t)
	p, err := provider.New(id, user, "schwab", "Schwab "+id.String(), base)
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	if err := h.Providers.CreateProvider(t.Context(), p); err != nil {
		t.Fatalf("CreateProvider: %v", err)
	}
	return p
}

func accountDetails(institutionID, name string) finance.AccountDetails {
	return finance.AccountDetails{InstitutionAccountID: institutionID, Name: name, Mask: "1234",
		Type: finance.AccountDepository, Subtype: "checking", Currency: usd}
}

var usd = mustCurrency("USD")

func mustCurrency(code string) money.Currency {
	c, err := money.ParseCurrency("currency", code)
	if err != nil {
		panic(err)
	}
	return c
}

// newAccount stores a new account of p.
func newAccount(t tester, h Harness, p *provider.Provider, institutionID string) *finance.Account {
	t.Helper()
	a, err := finance.NewAccount(newID(t), p.ID(), accountDetails(institutionID, "Checking "+institutionID), base)
	if err != nil {
		t.Fatalf("NewAccount: %v", err)
	}
	_, err = h.Store.UpdateAccounts(t.Context(), p.ID(), func([]*finance.Account) ([]*finance.Account, error) {
		return []*finance.Account{a}, nil
	})
	if err != nil {
		t.Fatalf("UpdateAccounts: %v", err)
	}
	return a
}

func mustAmount(t tester, s string) money.Money {
	t.Helper()
	m, err := money.ParseAmount("amount", s, "USD")
	if err != nil {
		t.Fatalf("ParseAmount(%q): %v", s, err)
	}
	return m
}

func mustDate(t tester, s string) calendar.Date {
	t.Helper()
	d, err := calendar.ParseDate("date", s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

// purchase is a posted-looking purchase of amount (negative) on date.
func purchase(t tester, institutionID, amount, date string) finance.TransactionDetails {
	t.Helper()
	return finance.TransactionDetails{InstitutionTransactionID: institutionID, Amount: mustAmount(t, amount),
		Date: mustDate(t, date), Description: "Purchase " + institutionID, Kind: finance.KindOther}
}

// upsert is what the sync engine does with a page of one status: a key
// already stored is modified in place, a new one is added.
func upsert(t tester, a *finance.Account, status finance.TransactionStatus, page ...finance.TransactionDetails,
) func([]*finance.Transaction) ([]*finance.Transaction, error) {
	return func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
		byKey := map[string]*finance.Transaction{}
		for _, s := range stored {
			byKey[s.Details().InstitutionTransactionID] = s
		}
		var out []*finance.Transaction
		for _, d := range page {
			if s, ok := byKey[d.InstitutionTransactionID]; ok {
				if _, err := s.Modify(d, base.Add(time.Hour)); err != nil {
					return nil, err
				}
				out = append(out, s)
				continue
			}
			n, err := finance.NewTransaction(newID(t), a.ID(), a.ProviderID(), status, d, base)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}
}

// updateTransactions stores one batch of a's transactions as a page of its
// own (whose resume state is nil).
func updateTransactions(ctx context.Context, h Harness, a *finance.Account, institutionIDs []string,
	apply func(stored []*finance.Transaction) ([]*finance.Transaction, error),
) (financeapp.TransactionCounts, error) {
	return h.Store.StoreTransactionPage(ctx, a.ProviderID(), financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{{AccountID: a.ID(), InstitutionIDs: institutionIDs, Apply: apply}},
	})
}

// store upserts page into a and returns the counts.
func store(t tester, h Harness, a *finance.Account, status finance.TransactionStatus, page ...finance.TransactionDetails) financeapp.TransactionCounts {
	t.Helper()
	c, err := updateTransactions(t.Context(), h, a, keysOf(page), upsert(t, a, status, page...))
	if err != nil {
		t.Fatalf("StoreTransactionPage: %v", err)
	}
	return c
}

func keysOf(page []finance.TransactionDetails) []string {
	out := make([]string, 0, len(page))
	for _, d := range page {
		out = append(out, d.InstitutionTransactionID)
	}
	return out
}

func mustQuantity(t tester, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseQuantity("quantity", s)
	if err != nil {
		t.Fatalf("ParseQuantity(%q): %v", s, err)
	}
	return d
}

func mustPrice(t tester, s string) money.Money {
	t.Helper()
	m, err := money.ParsePrice("price", s, "USD")
	if err != nil {
		t.Fatalf("ParsePrice(%q): %v", s, err)
	}
	return m
}
