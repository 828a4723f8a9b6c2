package synccontract

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
	"github.com/dashtam/dashtam/domain/provider"
)

func usd(t *testing.T, amount string) money.Money {
	t.Helper()
	m, err := money.ParseAmount("amount", amount, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newAccount stores an account of p.
func newAccount(t *testing.T, h Harness, p *provider.Provider, institutionID string) *finance.Account {
	t.Helper()
	a, err := finance.NewAccount(newID(t), p.ID(), finance.AccountDetails{InstitutionAccountID: institutionID,
		Name: "Account " + institutionID, Type: finance.AccountInvestment, Currency: usd(t, "0").Currency()}, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Finance.UpdateAccounts(t.Context(), p.ID(), func([]*finance.Account) ([]*finance.Account, error) {
		return []*finance.Account{a}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return a
}

// insert is a batch adding a posted purchase per institution id to a.
func insert(t *testing.T, a *finance.Account, ids ...string) financeapp.TransactionBatch {
	t.Helper()
	date, err := calendar.ParseDate("date", "2030-03-01")
	if err != nil {
		t.Fatal(err)
	}
	return financeapp.TransactionBatch{AccountID: a.ID(), InstitutionIDs: ids,
		Apply: func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
			var out []*finance.Transaction
			for _, id := range ids {
				if slices.ContainsFunc(stored, func(s *finance.Transaction) bool { return s.Details().InstitutionTransactionID == id }) {
					continue
				}
				tr, err := finance.NewTransaction(newID(t), a.ID(), a.ProviderID(), finance.TransactionPosted,
					finance.TransactionDetails{InstitutionTransactionID: id, Amount: usd(t, "-1.00"), Date: date, Kind: finance.KindOther}, base)
				if err != nil {
					return nil, err
				}
				out = append(out, tr)
			}
			return out, nil
		}}
}

// liveIDs lists the institution ids of the user's live transactions, sorted.
func liveIDs(t *testing.T, h Harness, user uuid.UUID) []string {
	t.Helper()
	list, err := h.Finance.ListTransactions(t.Context(), financeapp.TransactionQuery{UserID: user, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tr := range list {
		out = append(out, tr.Details().InstitutionTransactionID)
	}
	slices.Sort(out)
	return out
}

func resume(t *testing.T, h Harness, p *provider.Provider) string {
	t.Helper()
	r, err := h.Finance.TransactionResume(t.Context(), p.ID())
	if err != nil {
		t.Fatal(err)
	}
	return string(r)
}

func transactionPagesAreAtomic(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	a, b := newAccount(t, h, p, "a"), newAccount(t, h, p, "b")
	if r, err := h.Finance.TransactionResume(t.Context(), p.ID()); err != nil || r != nil {
		t.Fatalf("resume before any page: %q, %v; want nil", r, err)
	}
	counts, err := h.Finance.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{insert(t, a, "a1", "a2"), insert(t, b, "b1")}, Resume: []byte("after page 1")})
	if err != nil || counts != (financeapp.TransactionCounts{Added: 3}) {
		t.Fatalf("page 1: %+v, %v; want 3 added", counts, err)
	}
	if got := resume(t, h, p); got != "after page 1" {
		t.Errorf("resume %q, want the page's", got)
	}
	failing := insert(t, b, "b2")
	failing.Apply = func([]*finance.Transaction) ([]*finance.Transaction, error) { return nil, errBoom }
	_, err = h.Finance.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{insert(t, a, "a3"), failing}, Resume: []byte("after page 2")})
	if !errors.Is(err, errBoom) {
		t.Fatalf("a page with a failing batch: %v, want its error", err)
	}
	if got, want := liveIDs(t, h, p.UserID()), []string{"a1", "a2", "b1"}; !slices.Equal(got, want) || resume(t, h, p) != "after page 1" {
		t.Errorf("after a failed page: %v with resume %q, want %v and the resume of page 1", got, resume(t, h, p), want)
	}
	counts, err = h.Finance.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{insert(t, a, "a1", "a3")}, Resume: []byte("after page 2")})
	if err != nil || counts != (financeapp.TransactionCounts{Added: 1}) || resume(t, h, p) != "after page 2" {
		t.Errorf("page 2 again: %+v, %v, resume %q; want a3 added and the resume moved", counts, err, resume(t, h, p))
	}
	if _, err := h.Finance.StoreTransactionPage(t.Context(), newID(t), financeapp.TransactionPageWrite{}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a page of an unknown provider: %v", err)
	}
}

func foreignBatchStoresNothing(t *testing.T, h Harness) {
	p, other := newProvider(t, h, provider.AuthorizationActive), newProvider(t, h, provider.AuthorizationActive)
	mine, theirs := newAccount(t, h, p, "mine"), newAccount(t, h, other, "theirs")
	_, err := h.Finance.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
		Batches: []financeapp.TransactionBatch{insert(t, mine, "m1"), insert(t, theirs, "x1")}, Resume: []byte("r")})
	if !errors.Is(err, financeapp.ErrForeignRecord) {
		t.Fatalf("a batch of another provider's account: %v, want ErrForeignRecord", err)
	}
	if len(liveIDs(t, h, p.UserID())) != 0 || len(liveIDs(t, h, other.UserID())) != 0 || resume(t, h, p) != "" {
		t.Errorf("a refused page stored something")
	}
}

func security(t *testing.T, isin, symbol string) finance.SecurityDetails {
	return finance.SecurityDetails{ISIN: isin, Symbol: symbol, Type: finance.SecurityEquity, Currency: usd(t, "0").Currency()}
}

const (
	isinApple     = "US0378331005"
	isinMicrosoft = "US5949181045"
)

func securitiesUpsertByIdentity(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	apple, microsoft := security(t, isinApple, "AAPL"), security(t, isinMicrosoft, "MSFT")
	first, err := h.Finance.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{apple, microsoft})
	if err != nil || len(first) != 2 || first[apple.Key()] == uuid.Nil || first[microsoft.Key()] == uuid.Nil {
		t.Fatalf("SaveSecurities: %v, %v; want an id for each", first, err)
	}
	apple.Symbol = "APPL2" // renamed: the same security
	again, err := h.Finance.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{apple})
	if err != nil || len(again) != 1 || again[apple.Key()] != first[apple.Key()] {
		t.Errorf("saving Apple again: %v, %v; want its id %s", again, err, first[apple.Key()])
	}
	other := newProvider(t, h, provider.AuthorizationActive)
	theirs, err := h.Finance.SaveSecurities(t.Context(), other.ID(), []finance.SecurityDetails{apple})
	if err != nil || theirs[apple.Key()] == first[apple.Key()] {
		t.Errorf("another provider's Apple: %v, %v; want a security of its own", theirs, err)
	}
	if _, err := h.Finance.SaveSecurities(t.Context(), newID(t), []finance.SecurityDetails{apple}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("securities of an unknown provider: %v", err)
	}
}

// holdings returns fn for UpdateHoldings making the account's holdings the
// answer, as the sync engine does.
func holdings(t *testing.T, accountID uuid.UUID, at time.Time, answer ...finance.HoldingDetails) func([]*finance.Holding) ([]*finance.Holding, error) {
	return func(stored []*finance.Holding) ([]*finance.Holding, error) {
		changes, err := finance.DiffHoldings(stored, answer)
		if err != nil {
			return nil, err
		}
		var out []*finance.Holding
		for _, d := range changes.Added {
			h, err := finance.NewHolding(newID(t), accountID, d, at)
			if err != nil {
				return nil, err
			}
			out = append(out, h)
		}
		for _, u := range slices.Concat(changes.Updated, changes.Confirmed) {
			if err := u.Holding.Update(u.Details, at); err != nil {
				return nil, err
			}
			out = append(out, u.Holding)
		}
		return out, nil
	}
}

func position(t *testing.T, security uuid.UUID, units, value string, at time.Time) finance.HoldingDetails {
	q, err := money.ParseQuantity("quantity", units)
	if err != nil {
		t.Fatal(err)
	}
	return finance.HoldingDetails{SecurityID: security, Quantity: q, MarketValue: usd(t, value), AsOf: at}
}

func holdingsAreReplaced(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	a := newAccount(t, h, p, "brk")
	ids, err := h.Finance.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{security(t, isinApple, "AAPL"), security(t, isinMicrosoft, "MSFT")})
	if err != nil {
		t.Fatal(err)
	}
	apple, microsoft := ids[security(t, isinApple, "").Key()], ids[security(t, isinMicrosoft, "").Key()]
	steps := []struct {
		name   string
		answer []finance.HoldingDetails
		want   financeapp.HoldingCounts
	}{
		{"first", []finance.HoldingDetails{position(t, apple, "10", "1900.00", base), position(t, microsoft, "5", "2050.00", base)},
			financeapp.HoldingCounts{Added: 2}},
		{"confirmed later", []finance.HoldingDetails{position(t, apple, "10.00", "1900", base.Add(time.Hour)),
			position(t, microsoft, "5", "2050.00", base.Add(time.Hour))}, financeapp.HoldingCounts{}},
		{"Microsoft sold, Apple bought", []finance.HoldingDetails{position(t, apple, "12", "2280.00", base.Add(2*time.Hour))},
			financeapp.HoldingCounts{Updated: 1, Removed: 1}},
		{"everything sold", nil, financeapp.HoldingCounts{Removed: 1}},
	}
	for _, step := range steps {
		counts, err := h.Finance.UpdateHoldings(t.Context(), a.ID(), holdings(t, a.ID(), base, step.answer...))
		if err != nil || counts != step.want {
			t.Fatalf("%s: %+v, %v; want %+v", step.name, counts, err, step.want)
		}
	}
	if _, err := h.Finance.UpdateHoldings(t.Context(), newID(t), holdings(t, a.ID(), base)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("holdings of an unknown account: %v", err)
	}
}

func failedHoldingsChangeNothing(t *testing.T, h Harness) {
	p := newProvider(t, h, provider.AuthorizationActive)
	a, other := newAccount(t, h, p, "brk"), newAccount(t, h, p, "other")
	ids, err := h.Finance.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{security(t, isinApple, "AAPL")})
	if err != nil {
		t.Fatal(err)
	}
	apple := ids[security(t, isinApple, "").Key()]
	if _, err := h.Finance.UpdateHoldings(t.Context(), a.ID(), holdings(t, a.ID(), base, position(t, apple, "10", "1900.00", base))); err != nil {
		t.Fatal(err)
	}
	_, err = h.Finance.UpdateHoldings(t.Context(), a.ID(), func([]*finance.Holding) ([]*finance.Holding, error) { return nil, errBoom })
	if !errors.Is(err, errBoom) {
		t.Errorf("a failing fn: %v, want its error", err)
	}
	_, err = h.Finance.UpdateHoldings(t.Context(), a.ID(), func([]*finance.Holding) ([]*finance.Holding, error) {
		foreign, err := finance.NewHolding(newID(t), other.ID(), position(t, apple, "1", "190.00", base), base)
		return []*finance.Holding{foreign}, err
	})
	if !errors.Is(err, financeapp.ErrForeignRecord) {
		t.Errorf("a holding of another account: %v, want ErrForeignRecord", err)
	}
	counts, err := h.Finance.UpdateHoldings(t.Context(), a.ID(), holdings(t, a.ID(), base, position(t, apple, "10", "1900.00", base)))
	if err != nil || counts != (financeapp.HoldingCounts{}) {
		t.Errorf("after the failures the holding is not as it was: %+v, %v", counts, err)
	}
}
