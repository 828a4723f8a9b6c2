package financecontract

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
	"github.com/dashtam/dashtam/domain/provider"
)

func newBalance(t *testing.T, a *finance.Account, current, available, limit string, asOf time.Time) finance.Balance {
	t.Helper()
	opt := func(s string) money.Money {
		if s == "" {
			return money.Money{}
		}
		return mustAmount(t, s)
	}
	b, err := finance.NewBalance(a.ID(), mustAmount(t, current), opt(available), opt(limit), asOf)
	if err != nil {
		t.Fatalf("NewBalance: %v", err)
	}
	return b
}

// record appends b as the sync engine does: when finance.SnapshotDue says so.
func record(t *testing.T, h Harness, b finance.Balance) bool {
	t.Helper()
	written, err := h.Store.UpdateBalance(t.Context(), b.AccountID(), func(last *finance.Balance) (*finance.Balance, error) {
		if !finance.SnapshotDue(last, b) {
			return nil, nil
		}
		return &b, nil
	})
	if err != nil {
		t.Fatalf("UpdateBalance: %v", err)
	}
	return written
}

func balances(t *testing.T, h Harness, q financeapp.BalanceQuery) []finance.Balance {
	t.Helper()
	got, err := h.Store.Balances(t.Context(), q)
	if err != nil {
		t.Fatalf("Balances: %v", err)
	}
	return got
}

func assertBalances(t *testing.T, got, want []finance.Balance) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d balances, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i].Snapshot(), want[i].Snapshot()
		if !g.AsOf.Equal(storedTime(w.AsOf)) || g.AsOf.Location() != time.UTC {
			t.Errorf("balance %d as of %v, want %v in UTC", i, g.AsOf, storedTime(w.AsOf))
		}
		g.AsOf, w.AsOf = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("balance %d read back as %+v, want %+v", i, g, w)
		}
	}
}

func balanceHistoryRoundTrips(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	if got := balances(t, h, financeapp.BalanceQuery{AccountID: a.ID(), Limit: 10}); len(got) != 0 {
		t.Fatalf("%d balances before any was written, want none", len(got))
	}
	first := time.Date(2030, time.March, 4, 10, 6, 7, 123456789, local)
	history := []finance.Balance{
		newBalance(t, a, "1234.50", "", "", first),
		newBalance(t, a, "-0.0001", "100.10", "5000", first.Add(time.Hour)),
		newBalance(t, a, "-0.0001", "100.10", "5000", first.Add(25*time.Hour)),
	}
	for i, b := range history {
		if !record(t, h, b) {
			t.Errorf("balance %d was not written", i)
		}
	}
	newestFirst := []finance.Balance{history[2], history[1], history[0]}
	assertBalances(t, balances(t, h, financeapp.BalanceQuery{AccountID: a.ID(), Limit: 10}), newestFirst)

	page := balances(t, h, financeapp.BalanceQuery{AccountID: a.ID(), Limit: 2})
	assertBalances(t, page, newestFirst[:2])
	rest := balances(t, h, financeapp.BalanceQuery{AccountID: a.ID(), Before: page[1].AsOf(), Limit: 2})
	assertBalances(t, rest, newestFirst[2:])
	// Bounds are instants: the middle snapshot's stored as_of selects it alone.
	middle := page[1].AsOf()
	bounded := balances(t, h, financeapp.BalanceQuery{AccountID: a.ID(), From: middle, To: middle, Limit: 10})
	assertBalances(t, bounded, newestFirst[1:2])
}

func balanceHistoryOnlyGrowsForward(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	record(t, h, newBalance(t, a, "10.00", "", "", base))
	if record(t, h, newBalance(t, a, "10.0", "", "", base.Add(time.Minute))) {
		t.Errorf("an unchanged balance the same day was written")
	}
	for name, b := range map[string]finance.Balance{
		"older":           newBalance(t, a, "11.00", "", "", base.Add(-time.Minute)),
		"same instant":    newBalance(t, a, "11.00", "", "", base),
		"another account": newBalance(t, newAccount(t, h, p, "acc-2"), "11.00", "", "", base.Add(time.Hour)),
	} {
		written, err := h.Store.UpdateBalance(t.Context(), a.ID(), func(*finance.Balance) (*finance.Balance, error) { return &b, nil })
		if written || !errors.Is(err, financeapp.ErrStaleBalance) {
			t.Errorf("%s: written %v, %v; want ErrStaleBalance", name, written, err)
		}
	}
	written, err := h.Store.UpdateBalance(t.Context(), a.ID(), func(*finance.Balance) (*finance.Balance, error) { return nil, errBoom })
	if written || !errors.Is(err, errBoom) {
		t.Errorf("fn's error: written %v, %v; want errBoom", written, err)
	}
	if got := balances(t, h, financeapp.BalanceQuery{AccountID: a.ID(), Limit: 10}); len(got) != 1 || got[0].Current().Amount().String() != "10.00" {
		t.Errorf("history %v, want the first balance alone", got)
	}
}

func balancesGoWithTheirProvider(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	record(t, h, newBalance(t, a, "10.00", "", "", base))
	if err := h.Providers.DeleteProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatalf("DeleteProvider: %v", err)
	}
	if got := balances(t, h, financeapp.BalanceQuery{AccountID: a.ID(), Limit: 10}); len(got) != 0 {
		t.Errorf("%d balances left after deleting their provider", len(got))
	}
	_, err := h.Store.UpdateBalance(t.Context(), a.ID(), func(*finance.Balance) (*finance.Balance, error) {
		t.Error("UpdateBalance called fn for an unknown account")
		return nil, nil
	})
	if !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("UpdateBalance of a deleted account: got %v, want ErrNotFound", err)
	}
}

func currentBalancesAreEachAccountsNewest(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a, b, none := newAccount(t, h, p, "acc-a"), newAccount(t, h, p, "acc-b"), newAccount(t, h, p, "acc-none")
	for i, current := range []string{"1.00", "2.00", "3.00"} {
		record(t, h, newBalance(t, a, current, "", "", base.Add(time.Duration(i)*time.Hour)))
	}
	newestB := newBalance(t, b, "-5.5000", "10", "", base)
	record(t, h, newestB)
	other := newAccount(t, h, newProvider(t, h), "acc-other")
	record(t, h, newBalance(t, other, "9.00", "", "", base))

	got, err := h.Store.CurrentBalances(t.Context(), []uuid.UUID{a.ID(), b.ID(), none.ID(), newID(t)})
	if err != nil {
		t.Fatalf("CurrentBalances: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("%d balances, want those of the two accounts that have one: %v", len(got), got)
	}
	if c := got[a.ID()].Current().Amount().String(); c != "3.00" {
		t.Errorf("account a's current balance %s, want the newest, 3.00", c)
	}
	assertBalances(t, []finance.Balance{got[b.ID()]}, []finance.Balance{newestB})
	if empty, err := h.Store.CurrentBalances(t.Context(), nil); err != nil || len(empty) != 0 {
		t.Errorf("no accounts: %v, %v", empty, err)
	}
}
