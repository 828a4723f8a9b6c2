package financecontract

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/provider"
)

// holdingOf is a position of quantity units of security worth marketValue
// USD, as of base.
func holdingOf(t tester, security uuid.UUID, quantity, marketValue string) finance.HoldingDetails {
	t.Helper()
	return finance.HoldingDetails{SecurityID: security, Quantity: mustQuantity(t, quantity),
		MarketValue: mustAmount(t, marketValue), AsOf: base}
}

// putHoldings makes answer the account's complete set of holdings, as the
// sync engine does with finance.DiffHoldings, and returns the counts.
func putHoldings(t *testing.T, h Harness, a *finance.Account, answer ...finance.HoldingDetails) financeapp.HoldingCounts {
	t.Helper()
	c, err := h.Store.UpdateHoldings(t.Context(), a.ID(), replaceWith(t, a, answer...))
	if err != nil {
		t.Fatalf("UpdateHoldings: %v", err)
	}
	return c
}

// replaceWith is the closure of an UpdateHoldings that replaces the stored
// holdings with answer.
func replaceWith(t *testing.T, a *finance.Account, answer ...finance.HoldingDetails) func([]*finance.Holding) ([]*finance.Holding, error) {
	return func(stored []*finance.Holding) ([]*finance.Holding, error) {
		diff, err := finance.DiffHoldings(stored, answer)
		if err != nil {
			return nil, err
		}
		now := base.Add(time.Hour)
		var out []*finance.Holding
		for _, u := range slices.Concat(diff.Updated, diff.Confirmed) {
			if err := u.Holding.Update(u.Details, now); err != nil {
				return nil, err
			}
			out = append(out, u.Holding)
		}
		for _, d := range diff.Added {
			n, err := finance.NewHolding(newID(t), a.ID(), d, now)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}
}

func holdings(t *testing.T, h Harness, q financeapp.HoldingQuery) []financeapp.HoldingView {
	t.Helper()
	got, err := h.Store.ListHoldings(t.Context(), q)
	if err != nil {
		t.Fatalf("ListHoldings: %v", err)
	}
	return got
}

// bySecurity returns the views' holdings by security id.
func bySecurity(views []financeapp.HoldingView) map[uuid.UUID]*finance.Holding {
	out := map[uuid.UUID]*finance.Holding{}
	for _, v := range views {
		out[v.Holding.Details().SecurityID] = v.Holding
	}
	return out
}

// A complete answer replaces the account's snapshot: a new position is added,
// a changed one updated, one confirmed (as of a later time only) kept without
// counting, and a position missing or of zero quantity removed; the same
// answer twice changes nothing.
func holdingsSnapshotReplace(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "brokerage")
	aapl, msft, vti, bnd := securityID(t, h, p, equity("s-aapl", "AAPL")), securityID(t, h, p, equity("s-msft", "MSFT")),
		securityID(t, h, p, equity("s-vti", "VTI")), securityID(t, h, p, equity("s-bnd", "BND"))
	first := []finance.HoldingDetails{holdingOf(t, aapl, "10", "1500.00"), holdingOf(t, msft, "5", "2000.00"),
		holdingOf(t, vti, "2", "500.00")}
	if c := putHoldings(t, h, a, first...); c != (financeapp.HoldingCounts{Added: 3}) {
		t.Errorf("first snapshot counts %+v, want 3 added", c)
	}
	if c := putHoldings(t, h, a, first...); c != (financeapp.HoldingCounts{}) {
		t.Errorf("the same snapshot again counts %+v, want nothing", c)
	}
	stored := bySecurity(holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10}))

	confirmed := holdingOf(t, aapl, "10.00", "1500") // same values at another scale
	confirmed.AsOf = base.Add(24 * time.Hour)
	sold := holdingOf(t, msft, "0", "0") // zero quantity: gone
	second := []finance.HoldingDetails{confirmed, sold, holdingOf(t, bnd, "3", "210.00")}
	if c := putHoldings(t, h, a, second...); c != (financeapp.HoldingCounts{Added: 1, Removed: 2}) {
		t.Errorf("second snapshot counts %+v, want 1 added (BND), 2 removed (MSFT sold, VTI missing)", c)
	}
	now := bySecurity(holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10}))
	if len(now) != 2 || now[aapl] == nil || now[bnd] == nil {
		t.Fatalf("holdings after the second snapshot: %v, want AAPL and BND", now)
	}
	if now[aapl].ID() != stored[aapl].ID() || !now[aapl].Details().AsOf.Equal(confirmed.AsOf) {
		t.Errorf("the confirmed AAPL holding: id %s (was %s), as of %v; want its id kept and as of %v",
			now[aapl].ID(), stored[aapl].ID(), now[aapl].Details().AsOf, confirmed.AsOf)
	}
	changed := holdingOf(t, aapl, "12", "1800.00")
	if c := putHoldings(t, h, a, changed, holdingOf(t, bnd, "3", "210.00")); c != (financeapp.HoldingCounts{Updated: 1}) {
		t.Errorf("a changed quantity counts %+v, want 1 updated", c)
	}
	if got := bySecurity(holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10}))[aapl]; got == nil ||
		got.Details().Quantity.String() != "12" || got.ID() != stored[aapl].ID() {
		t.Errorf("AAPL after the change: %+v, want 12 units under the same id", got)
	}
	if c := putHoldings(t, h, a); c != (financeapp.HoldingCounts{Removed: 2}) {
		t.Errorf("an empty complete answer counts %+v, want both removed", c)
	}
	if got := holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10}); len(got) != 0 {
		t.Errorf("%d holdings after an empty answer, want none", len(got))
	}
}

// Every holding field, and its security's, reads back exactly: quantities
// and prices to 8 decimals at the scale written, negative (short) quantities,
// unset values unset, times in UTC to the microsecond.
func holdingMoneyRoundTripsExactly(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "brokerage")
	sec := finance.SecurityDetails{InstitutionSecurityID: "s-1", ISIN: "US0378331005", CUSIP: "037833100", Symbol: "AAPL",
		Name: "Apple Inc.", Type: finance.SecurityMutualFund, Currency: usd, CashEquivalent: true}
	full := finance.HoldingDetails{SecurityID: securityID(t, h, p, sec), Quantity: mustQuantity(t, "-0.00000001"),
		Price: mustPrice(t, "123456789012345.12345678"), PriceAsOf: mustDate(t, "2030-02-28"),
		MarketValue: mustAmount(t, "-999999999999999.9999"), CostBasis: mustAmount(t, "0.10"),
		AsOf: time.Date(2030, time.March, 1, 9, 30, 0, 123456789, local)}
	bare := holdingOf(t, securityID(t, h, p, equity("s-2", "X")), "100.50000000", "0")
	putHoldings(t, h, a, full, bare)
	got := bySecurity(holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10}))
	for _, want := range []finance.HoldingDetails{full, bare} {
		g := got[want.SecurityID]
		if g == nil {
			t.Fatalf("holding of %s not listed", want.SecurityID)
		}
		d := g.Details()
		if d.AsOf.Location() != time.UTC || !d.AsOf.Equal(storedTime(want.AsOf)) {
			t.Errorf("as of %v, want %v in UTC", d.AsOf, storedTime(want.AsOf))
		}
		d.AsOf, want.AsOf = time.Time{}, time.Time{}
		if d != want {
			t.Errorf("holding read back as\n%+v\nwant\n%+v", d, want)
		}
		if g.AccountID() != a.ID() || g.Currency() != usd {
			t.Errorf("holding of account %s in %s, want %s in USD", g.AccountID(), g.Currency(), a.ID())
		}
	}
	views := holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Filter: financeapp.HoldingFilter{Symbol: "AAPL"}, Limit: 10})
	if len(views) != 1 || views[0].Security.Details() != sec || views[0].Security.ProviderID() != p.ID() ||
		views[0].Security.Key() != sec.Key() {
		t.Errorf("the security read back as %+v, want %+v", views, sec)
	}
}

// ListHoldings filters by account, provider, security type and symbol, lists
// only the user's, and pages by holding id.
func holdingFiltersAndPages(t *testing.T, h Harness) {
	p := newProvider(t, h)
	q := newProviderOf(t, h, p.UserID())
	a, b := newAccount(t, h, p, "brokerage-a"), newAccount(t, h, p, "brokerage-b")
	c := newAccount(t, h, q, "brokerage-c")
	stranger := newProvider(t, h)
	s := newAccount(t, h, stranger, "theirs")
	etf := equity("s-vti", "VTI")
	etf.Type = finance.SecurityETF
	pAAPL, pVTI := securityID(t, h, p, equity("s-aapl", "AAPL")), securityID(t, h, p, etf)
	qAAPL, sAAPL := securityID(t, h, q, equity("s-aapl", "AAPL")), securityID(t, h, stranger, equity("s-aapl", "AAPL"))
	putHoldings(t, h, a, holdingOf(t, pAAPL, "1", "1.00"), holdingOf(t, pVTI, "2", "2.00"))
	putHoldings(t, h, b, holdingOf(t, pVTI, "3", "3.00"))
	putHoldings(t, h, c, holdingOf(t, qAAPL, "4", "4.00"))
	putHoldings(t, h, s, holdingOf(t, sAAPL, "5", "5.00"))

	quantities := func(views []financeapp.HoldingView) []string {
		out := []string{}
		for _, v := range views {
			out = append(out, v.Holding.Details().Quantity.String())
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name   string
		filter financeapp.HoldingFilter
		want   []string
	}{
		{"none: the user's four", financeapp.HoldingFilter{}, []string{"1", "2", "3", "4"}},
		{"account", financeapp.HoldingFilter{AccountID: a.ID()}, []string{"1", "2"}},
		{"provider", financeapp.HoldingFilter{ProviderID: q.ID()}, []string{"4"}},
		{"security type", financeapp.HoldingFilter{SecurityType: finance.SecurityETF}, []string{"2", "3"}},
		{"symbol", financeapp.HoldingFilter{Symbol: "AAPL"}, []string{"1", "4"}},
		{"symbol is exact", financeapp.HoldingFilter{Symbol: "aapl"}, []string{}},
		{"another user's account", financeapp.HoldingFilter{AccountID: s.ID()}, []string{}},
	} {
		got := quantities(holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Filter: tc.filter, Limit: 10}))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: quantities %v, want %v", tc.name, got, tc.want)
		}
	}
	all := holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10})
	if !slices.IsSortedFunc(all, func(x, y financeapp.HoldingView) int { return compareIDs(x.Holding.ID(), y.Holding.ID()) }) {
		t.Errorf("holdings are not in order of id")
	}
	var walked []uuid.UUID
	query := financeapp.HoldingQuery{UserID: p.UserID(), Limit: 3}
	for range 4 {
		page := holdings(t, h, query)
		for _, v := range page {
			walked = append(walked, v.Holding.ID())
		}
		if len(page) < query.Limit {
			break
		}
		query.After = page[len(page)-1].Holding.ID()
	}
	want := make([]uuid.UUID, 0, len(all))
	for _, v := range all {
		want = append(want, v.Holding.ID())
	}
	if !slices.Equal(walked, want) {
		t.Errorf("pages of 3 walked %v, want every holding once in order %v", walked, want)
	}
}

// fn's error, a holding of another account, or one security twice stores
// nothing of the snapshot.
func failedHoldingsUpdateStoresNothing(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a, other := newAccount(t, h, p, "brokerage"), newAccount(t, h, p, "other")
	aapl, msft := securityID(t, h, p, equity("s-aapl", "AAPL")), securityID(t, h, p, equity("s-msft", "MSFT"))
	putHoldings(t, h, a, holdingOf(t, aapl, "1", "1.00"))
	_, err := h.Store.UpdateHoldings(t.Context(), a.ID(), func(stored []*finance.Holding) ([]*finance.Holding, error) {
		out, _ := replaceWith(t, a, holdingOf(t, msft, "2", "2.00"))(stored)
		return out, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("fn's error: got %v, want it as it is", err)
	}
	_, err = h.Store.UpdateHoldings(t.Context(), a.ID(), func([]*finance.Holding) ([]*finance.Holding, error) {
		n, err := finance.NewHolding(newID(t), other.ID(), holdingOf(t, msft, "2", "2.00"), base)
		return []*finance.Holding{n}, err
	})
	if !errors.Is(err, financeapp.ErrForeignRecord) {
		t.Errorf("a holding of another account: got %v, want ErrForeignRecord", err)
	}
	_, err = h.Store.UpdateHoldings(t.Context(), a.ID(), func([]*finance.Holding) ([]*finance.Holding, error) {
		x, err1 := finance.NewHolding(newID(t), a.ID(), holdingOf(t, msft, "2", "2.00"), base)
		y, err2 := finance.NewHolding(newID(t), a.ID(), holdingOf(t, msft, "3", "3.00"), base)
		return []*finance.Holding{x, y}, errors.Join(err1, err2)
	})
	if !errors.Is(err, finance.ErrDuplicateHolding) {
		t.Errorf("one security twice: got %v, want ErrDuplicateHolding", err)
	}
	got := holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10})
	if len(got) != 1 || got[0].Holding.Details().SecurityID != aapl || got[0].Holding.Details().Quantity.String() != "1" {
		t.Errorf("holdings after the failed updates: %d, want AAPL alone, unchanged", len(got))
	}
}

// Deleting a provider deletes its securities, its accounts' holdings and its
// resume state with it.
func deletingTheProviderDeletesItsHoldings(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "brokerage")
	putHoldings(t, h, a, holdingOf(t, securityID(t, h, p, equity("s-aapl", "AAPL")), "1", "1.00"))
	if _, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{Resume: []byte("r")}); err != nil {
		t.Fatalf("StoreTransactionPage: %v", err)
	}
	if err := h.Providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatalf("DeleteProvider: %v", err)
	}
	if got := holdings(t, h, financeapp.HoldingQuery{UserID: p.UserID(), Limit: 10}); len(got) != 0 {
		t.Errorf("%d holdings listed after deleting their provider", len(got))
	}
	if got := resumeOf(t, h, p); got != nil {
		t.Errorf("resume state %q after deleting its provider, want nil", got)
	}
	if _, err := h.Store.SaveSecurities(t.Context(), p.ID(), []finance.SecurityDetails{equity("s-aapl", "AAPL")}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SaveSecurities for the deleted provider: got %v, want ErrNotFound", err)
	}
}
