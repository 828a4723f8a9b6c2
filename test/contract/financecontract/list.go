package financecontract

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

func keysetPagesWalkEveryRowOnce(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "acc-1")
	var page []finance.TransactionDetails
	for i := range 23 {
		// Several transactions a day, so ties on date are broken by id.
		page = append(page, purchase(t, fmt.Sprintf("t%02d", i), "-1.00", fmt.Sprintf("2030-01-%02d", 1+i/3)))
	}
	store(t, h, a, finance.TransactionPosted, page...)
	all := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Limit: 100})
	if len(all) != len(page) {
		t.Fatalf("%d transactions listed, want %d", len(all), len(page))
	}
	if !slices.IsSortedFunc(all, func(x, y *finance.Transaction) int {
		if c := y.Details().Date.Compare(x.Details().Date); c != 0 {
			return c
		}
		return compareIDs(y.ID(), x.ID())
	}) {
		t.Errorf("the list is not sorted -date,-id")
	}
	var walked []*finance.Transaction
	q := financeapp.TransactionQuery{UserID: p.UserID(), Limit: 4}
	for range len(page) {
		got := list(t, h, q)
		walked = append(walked, got...)
		if len(got) < q.Limit {
			break
		}
		after := financeapp.PositionOf(got[len(got)-1])
		q.After = &after
	}
	if !slices.Equal(idsOf(walked), idsOf(all)) {
		t.Errorf("the walk by pages of 4 gave\n%v\nwant every row once, in order:\n%v", idsOf(walked), idsOf(all))
	}
}

func compareIDs(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

func transactionFiltersNarrow(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a, b := newAccount(t, h, p, "acc-a"), newAccount(t, h, newProviderOf(t, h, p.UserID()), "acc-b")
	stranger := newAccount(t, h, newProvider(t, h), "acc-s")
	coffee := purchase(t, "coffee", "-4.50", "2030-01-05")
	coffee.MerchantName, coffee.Kind = "Blue Bottle Café", finance.KindPurchase
	salary := purchase(t, "salary", "2500.00", "2030-01-31")
	salary.Description, salary.Kind = "ACME PAYROLL 100%_done", finance.KindDeposit
	store(t, h, a, finance.TransactionPosted, coffee, salary)
	store(t, h, b, finance.TransactionPending, purchase(t, "pending", "-10", "2030-02-01"))
	store(t, h, stranger, finance.TransactionPosted, purchase(t, "theirs", "-4.50", "2030-01-05"))

	dec := func(s string) *money.Decimal { d := mustQuantity(t, s); return &d }
	cases := []struct {
		name   string
		filter financeapp.TransactionFilter
		want   []string
	}{
		{"none: the user's three, newest first", financeapp.TransactionFilter{}, []string{"pending", "salary", "coffee"}},
		{"account", financeapp.TransactionFilter{AccountID: a.ID()}, []string{"salary", "coffee"}},
		{"provider", financeapp.TransactionFilter{ProviderID: b.ProviderID()}, []string{"pending"}},
		{"status", financeapp.TransactionFilter{Status: finance.TransactionPending}, []string{"pending"}},
		{"dates, inclusive", financeapp.TransactionFilter{DateFrom: mustDate(t, "2030-01-05"), DateTo: mustDate(t, "2030-01-31")}, []string{"salary", "coffee"}},
		{"date_to excludes the day after", financeapp.TransactionFilter{DateTo: mustDate(t, "2030-01-30")}, []string{"coffee"}},
		{"amount_min, inclusive, another scale", financeapp.TransactionFilter{AmountMin: dec("-4.5")}, []string{"salary", "coffee"}},
		{"amount_max below", financeapp.TransactionFilter{AmountMax: dec("-4.50000001")}, []string{"pending"}},
		{"amount range", financeapp.TransactionFilter{AmountMin: dec("-10"), AmountMax: dec("0")}, []string{"pending", "coffee"}},
		{"kind", financeapp.TransactionFilter{Kind: finance.KindDeposit}, []string{"salary"}},
		{"search in the merchant, any case", financeapp.TransactionFilter{Search: "blue BOTTLE"}, []string{"coffee"}},
		{"search in the description, wildcards literal", financeapp.TransactionFilter{Search: "100%_"}, []string{"salary"}},
		{"a wildcard matches nothing else", financeapp.TransactionFilter{Search: "%"}, []string{"salary"}},
	}
	for _, c := range cases {
		got := list(t, h, financeapp.TransactionQuery{UserID: p.UserID(), Filter: c.filter, Limit: 10})
		var keys []string
		for _, tr := range got {
			keys = append(keys, tr.Details().InstitutionTransactionID)
		}
		if !slices.Equal(keys, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, keys, c.want)
		}
	}
}

func accountFiltersAndPages(t *testing.T, h Harness) {
	p := newProvider(t, h)
	other := newProviderOf(t, h, p.UserID())
	checking := newAccount(t, h, p, "chk")
	card := newAccount(t, h, other, "card")
	newAccount(t, h, newProvider(t, h), "stranger")
	_, err := h.Store.UpdateAccounts(t.Context(), other.ID(), func(stored []*finance.Account) ([]*finance.Account, error) {
		d := accountDetails("card", "Sapphire Card")
		d.Type = finance.AccountCredit
		_, err := stored[0].Update(d, base)
		stored[0].Close(base)
		return stored, err
	})
	if err != nil {
		t.Fatalf("UpdateAccounts: %v", err)
	}
	cases := []struct {
		name   string
		filter financeapp.AccountFilter
		want   []uuid.UUID
	}{
		{"none: the user's two", financeapp.AccountFilter{}, sortedIDs(checking.ID(), card.ID())},
		{"provider", financeapp.AccountFilter{ProviderID: p.ID()}, []uuid.UUID{checking.ID()}},
		{"type", financeapp.AccountFilter{Type: finance.AccountCredit}, []uuid.UUID{card.ID()}},
		{"status", financeapp.AccountFilter{Status: finance.AccountOpen}, []uuid.UUID{checking.ID()}},
		{"search, any case", financeapp.AccountFilter{Search: "sAPPHIRE"}, []uuid.UUID{card.ID()}},
	}
	for _, c := range cases {
		got, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: p.UserID(), Filter: c.filter, Limit: 10})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ids := accountIDs(got); !slices.Equal(ids, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, ids, c.want)
		}
	}
	all := sortedIDs(checking.ID(), card.ID())
	first, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: p.UserID(), Limit: 1})
	if err != nil || !slices.Equal(accountIDs(first), all[:1]) {
		t.Fatalf("first page: %v, %v; want %v", accountIDs(first), err, all[:1])
	}
	second, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: p.UserID(), After: first[0].ID(), Limit: 1})
	if err != nil || !slices.Equal(accountIDs(second), all[1:]) {
		t.Errorf("second page: %v, %v; want %v", accountIDs(second), err, all[1:])
	}
	byOffset, err := h.Store.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: p.UserID(), Offset: 1, Limit: 5})
	if err != nil || !slices.Equal(accountIDs(byOffset), all[1:]) {
		t.Errorf("offset page: %v, %v; want %v", accountIDs(byOffset), err, all[1:])
	}
	for _, c := range cases {
		n, err := h.Store.CountAccounts(t.Context(), p.UserID(), c.filter)
		if err != nil || n != int64(len(c.want)) {
			t.Errorf("count, %s: %d, %v; want %d", c.name, n, err, len(c.want))
		}
	}
}

func sortedIDs(ids ...uuid.UUID) []uuid.UUID {
	slices.SortFunc(ids, compareIDs)
	return ids
}

func accountIDs(as []*finance.Account) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(as))
	for _, a := range as {
		out = append(out, a.ID())
	}
	return out
}

// decimalText draws a decimal's text within maxScale decimals and the
// domain's integer digits, of every scale and sign, zero included.
func decimalText(maxScale int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		whole := rapid.StringMatching(fmt.Sprintf(`0|[1-9][0-9]{0,%d}`, money.MaxIntegerDigits-1)).Draw(t, "whole")
		s := whole
		if scale := rapid.IntRange(0, maxScale).Draw(t, "scale"); scale > 0 {
			s += "." + rapid.StringMatching(fmt.Sprintf(`[0-9]{%d}`, scale)).Draw(t, "fraction")
		}
		if rapid.Bool().Draw(t, "negative") {
			s = "-" + s
		}
		return s
	})
}

func amountsRoundTripAndFilterExactly(t *testing.T, h Harness) {
	p := newProvider(t, h)
	rapid.Check(t, func(rt *rapid.T) {
		a := newAccount(rt, h, p, newID(rt).String())
		texts := rapid.SliceOfN(decimalText(money.MaxAmountScale), 1, 6).Draw(rt, "amounts")
		var page []finance.TransactionDetails
		for i, s := range texts {
			d := purchase(rt, fmt.Sprint(i), "0", "2030-01-01")
			d.Amount = mustAmount(rt, s)
			page = append(page, d)
		}
		store(rt, h, a, finance.TransactionPosted, page...)
		stored := list(rt, h, financeapp.TransactionQuery{UserID: p.UserID(), Filter: financeapp.TransactionFilter{AccountID: a.ID()}, Limit: 100})
		for _, tr := range stored {
			want := page[indexOf(rt, tr)].Amount.Amount().String()
			if got := tr.Details().Amount.Amount().String(); got != want {
				rt.Fatalf("amount %s read back as %s", want, got)
			}
		}
		lo := mustQuantity(rt, rapid.SampledFrom(append(texts, decimalText(money.MaxQuantityScale).Draw(rt, "lo"))).Draw(rt, "min"))
		hi := mustQuantity(rt, decimalText(money.MaxQuantityScale).Draw(rt, "max"))
		filter := financeapp.TransactionFilter{AccountID: a.ID(), AmountMin: &lo, AmountMax: &hi}
		var want []string
		for _, d := range page {
			if v := d.Amount.Amount(); v.Cmp(lo) >= 0 && v.Cmp(hi) <= 0 {
				want = append(want, d.InstitutionTransactionID)
			}
		}
		var got []string
		for _, tr := range list(rt, h, financeapp.TransactionQuery{UserID: p.UserID(), Filter: filter, Limit: 100}) {
			got = append(got, tr.Details().InstitutionTransactionID)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			rt.Fatalf("amounts %v between %s and %s: got %v, want %v", texts, lo, hi, got, want)
		}
	})
}

func indexOf(t tester, tr *finance.Transaction) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscan(tr.Details().InstitutionTransactionID, &i); err != nil {
		t.Fatalf("institution id %q: %v", tr.Details().InstitutionTransactionID, err)
	}
	return i
}
