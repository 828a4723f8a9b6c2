package finance_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/fakes/memory"
	"github.com/dashtam/dashtam/test/financeseed"
)

var now = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

// world is the use cases over the memory fakes, with two users' data.
type world struct {
	queries        *financeapp.Queries
	seed           financeseed.Seeder
	ann, bob       uuid.UUID
	annP, bobP     *provider.Provider
	checking, card *finance.Account // Ann's
	bobs           *finance.Account
}

func newWorld(t *testing.T) *world {
	t.Helper()
	providers := memory.NewProviderStore()
	store := memory.NewFinanceStore(providers)
	w := &world{queries: financeapp.NewQueries(store, providers), seed: financeseed.Seeder{T: t, Writes: store, Now: now},
		ann: uuid.New(), bob: uuid.New()}
	newProvider := func(user uuid.UUID) *provider.Provider {
		p, err := provider.New(uuid.New(), user, "sandbox", "Bank "+user.String()[:8], now)
		if err != nil {
			t.Fatal(err)
		}
		if err := providers.CreateProvider(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	w.annP, w.bobP = newProvider(w.ann), newProvider(w.bob)
	w.checking = w.seed.Account(w.annP.ID(), finance.AccountDetails{InstitutionAccountID: "chk", Name: "Everyday Checking"})
	w.card = w.seed.Account(w.annP.ID(), finance.AccountDetails{InstitutionAccountID: "card", Name: "Sapphire", Type: finance.AccountCredit})
	w.bobs = w.seed.Account(w.bobP.ID(), finance.AccountDetails{InstitutionAccountID: "chk", Name: "Bob's Checking"})
	return w
}

func TestAccountsAreTheCallersWithTheirCurrentBalance(t *testing.T) {
	w := newWorld(t)
	w.seed.Balance(w.checking, "100.00", "90.00", now.Add(-48*time.Hour))
	w.seed.Balance(w.checking, "120.50", "", now)

	v, err := w.queries.GetAccount(t.Context(), w.ann, w.checking.ID())
	if err != nil || v.Balance == nil || v.Balance.Current().Amount().String() != "120.50" {
		t.Fatalf("GetAccount = %+v, %v; want the newest balance 120.50", v, err)
	}
	if v, err := w.queries.GetAccount(t.Context(), w.ann, w.card.ID()); err != nil || v.Balance != nil {
		t.Errorf("an account with no balance yet: %+v, %v", v, err)
	}
	for name, id := range map[string]uuid.UUID{"another user's": w.bobs.ID(), "unknown": uuid.New()} {
		if _, err := w.queries.GetAccount(t.Context(), w.ann, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s account: %v, want ErrNotFound", name, err)
		}
	}

	offset, err := w.queries.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: w.ann, Limit: 1, Offset: 1}, false)
	if err != nil || offset.Total != 2 || len(offset.Items) != 1 {
		t.Fatalf("offset page = %+v, %v", offset, err)
	}
	first, err := w.queries.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: w.ann, Limit: 1}, true)
	if err != nil || !first.HasMore || len(first.Items) != 1 {
		t.Fatalf("first cursor page = %+v, %v", first, err)
	}
	second, err := w.queries.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: w.ann, Limit: 1, After: first.Next}, true)
	if err != nil || second.HasMore || len(second.Items) != 1 || second.Items[0].Account.ID() == first.Items[0].Account.ID() {
		t.Fatalf("second cursor page = %+v, %v", second, err)
	}
	if _, err := w.queries.ListAccounts(t.Context(), financeapp.AccountQuery{UserID: w.ann, Limit: 101}, true); !isValidation(err, "limit") {
		t.Errorf("limit 101: %v", err)
	}
}

func TestBalanceHistoryIsNewestFirstBoundedByUTCDays(t *testing.T) {
	w := newWorld(t)
	day := func(d int) time.Time { return time.Date(2030, time.March, d, 23, 59, 59, 999999000, time.UTC) }
	for d := 1; d <= 4; d++ {
		w.seed.Balance(w.checking, "1"+string(rune('0'+d))+".00", "", day(d))
	}
	q := financeapp.BalanceHistoryQuery{UserID: w.ann, AccountID: w.checking.ID(), Limit: 2,
		From: financeseed.Date(t, "2030-03-02"), To: financeseed.Date(t, "2030-03-04")}
	page, err := w.queries.ListBalances(t.Context(), q)
	if err != nil || !page.HasMore || len(page.Items) != 2 || !page.Items[0].AsOf().Equal(day(4)) {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	q.Before = page.Next
	page, err = w.queries.ListBalances(t.Context(), q)
	if err != nil || page.HasMore || len(page.Items) != 1 || !page.Items[0].AsOf().Equal(day(2)) {
		t.Fatalf("second page = %+v, %v; want only the 2nd of March (the 1st is before from)", page, err)
	}
	if _, err := w.queries.ListBalances(t.Context(), financeapp.BalanceHistoryQuery{UserID: w.bob, AccountID: w.checking.ID(), Limit: 5}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another user's history: %v, want ErrNotFound", err)
	}
	q.From, q.To = q.To, q.From
	if _, err := w.queries.ListBalances(t.Context(), q); !isValidation(err, "from") {
		t.Errorf("from after to: %v", err)
	}
}

func TestTransactionsFilterExactlyAndHideOthersAndTombstones(t *testing.T) {
	w := newWorld(t)
	txs := w.seed.Transactions(w.checking,
		financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Coffee"},
		financeseed.Tx{Amount: "-42.51", Date: "2030-03-02", Description: "Tea"},
		financeseed.Tx{Amount: "1000.00", Date: "2030-03-03", Description: "Salary", Kind: finance.KindDeposit})
	bobs := w.seed.Transactions(w.bobs, financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Coffee"})

	exact := decimal(t, "-42.5")
	page, err := w.queries.ListTransactions(t.Context(), financeapp.TransactionQuery{UserID: w.ann, Limit: 10,
		Filter: financeapp.TransactionFilter{AmountMin: &exact, AmountMax: &exact}})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID() != txs[0].ID() {
		t.Fatalf("amount -42.5..-42.5 = %+v, %v; want only the -42.50 coffee", page, err)
	}
	all, err := w.queries.ListTransactions(t.Context(), financeapp.TransactionQuery{UserID: w.ann, Limit: 2})
	if err != nil || !all.HasMore || ids(all.Items)[0] != txs[2].ID() {
		t.Fatalf("newest first = %v, %v", ids(all.Items), err)
	}
	w.seed.Remove(txs[1])
	next, err := w.queries.ListTransactions(t.Context(), financeapp.TransactionQuery{UserID: w.ann, Limit: 2, After: &all.Next})
	if err != nil || !slices.Equal(ids(next.Items), []uuid.UUID{txs[0].ID()}) || next.HasMore {
		t.Fatalf("after the removal, the next page = %v, %v", ids(next.Items), err)
	}
	for name, id := range map[string]uuid.UUID{"another user's": bobs[0].ID(), "removed": txs[1].ID(), "unknown": uuid.New()} {
		if _, err := w.queries.GetTransaction(t.Context(), w.ann, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s transaction: %v, want ErrNotFound", name, err)
		}
	}
	below := decimal(t, "-50")
	_, err = w.queries.ListTransactions(t.Context(), financeapp.TransactionQuery{UserID: w.ann, Limit: 10,
		Filter: financeapp.TransactionFilter{AmountMin: &exact, AmountMax: &below, DateFrom: financeseed.Date(t, "2030-03-02"), DateTo: financeseed.Date(t, "2030-03-01")}})
	if !isValidation(err, "amount_min") || !isValidation(err, "date_from") {
		t.Errorf("inverted ranges: %v", err)
	}
}

func TestChangesFeedPagesAndReportsRemovals(t *testing.T) {
	w := newWorld(t)
	txs := w.seed.Transactions(w.checking,
		financeseed.Tx{Amount: "-1.00", Date: "2030-03-01"}, financeseed.Tx{Amount: "-2.00", Date: "2030-03-02"})
	w.seed.Transactions(w.bobs, financeseed.Tx{Amount: "-3.00", Date: "2030-03-01"})

	first, err := w.queries.Changes(t.Context(), w.ann, 0, 1)
	if err != nil || !first.HasMore || len(first.Changes) != 1 || first.Changes[0].Type != financeapp.ChangeAdded {
		t.Fatalf("first page = %+v, %v", first, err)
	}
	rest, err := w.queries.Changes(t.Context(), w.ann, first.Next, 10)
	if err != nil || rest.HasMore || len(rest.Changes) != 1 {
		t.Fatalf("second page = %+v, %v", rest, err)
	}
	caughtUp, err := w.queries.Changes(t.Context(), w.ann, rest.Next, 10)
	if err != nil || len(caughtUp.Changes) != 0 || caughtUp.Next != rest.Next {
		t.Fatalf("caught up = %+v, %v; want nothing, and the same position to poll from", caughtUp, err)
	}
	w.seed.Remove(txs[0])
	after, err := w.queries.Changes(t.Context(), w.ann, rest.Next, 10)
	if err != nil || len(after.Changes) != 1 || after.Changes[0].Type != financeapp.ChangeRemoved || after.Changes[0].Transaction.ID() != txs[0].ID() {
		t.Fatalf("after the removal = %+v, %v", after, err)
	}
}

func decimal(t *testing.T, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseQuantity("amount", s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ids(ts []*finance.Transaction) []uuid.UUID {
	out := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		out[i] = t.ID()
	}
	return out
}

func isValidation(err error, field string) bool {
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return false
	}
	for _, f := range v.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// Holdings are listed from the caller's accounts only, with their security,
// filtered and paged by id.
func TestHoldingsAreTheCallersFilteredAndPaged(t *testing.T) {
	w := newWorld(t)
	aapl := finance.SecurityDetails{InstitutionSecurityID: "sec-aapl", Symbol: "AAPL", Name: "Apple", Type: finance.SecurityEquity}
	vti := finance.SecurityDetails{InstitutionSecurityID: "sec-vti", Symbol: "VTI", Name: "Total Market", Type: finance.SecurityETF}
	h1 := w.seed.Holding(w.checking, aapl, "10", "1900.00")
	h2 := w.seed.Holding(w.checking, vti, "2.5", "600.25")
	h3 := w.seed.Holding(w.card, aapl, "1", "190.00")
	w.seed.Holding(w.bobs, aapl, "7", "1330.00")
	ids := func(p financeapp.HoldingPage) []uuid.UUID {
		out := make([]uuid.UUID, len(p.Items))
		for i, v := range p.Items {
			out[i] = v.Holding.ID()
		}
		return out
	}
	list := func(q financeapp.HoldingQuery) financeapp.HoldingPage {
		t.Helper()
		q.UserID = w.ann
		if q.Limit == 0 {
			q.Limit = 100
		}
		p, err := w.queries.ListHoldings(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := list(financeapp.HoldingQuery{})
	want := []uuid.UUID{h1.ID(), h2.ID(), h3.ID()}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(ids(all), want) || all.HasMore {
		t.Fatalf("all = %v, want Ann's %v in order of id", ids(all), want)
	}
	if v := all.Items[slices.Index(ids(all), h2.ID())]; v.Security.Details().Symbol != "VTI" || v.Holding.Details().Quantity.String() != "2.5" {
		t.Errorf("VTI holding = %+v", v)
	}
	for name, c := range map[string]struct {
		f    financeapp.HoldingFilter
		want int
	}{
		"account":       {financeapp.HoldingFilter{AccountID: w.card.ID()}, 1},
		"provider":      {financeapp.HoldingFilter{ProviderID: w.annP.ID()}, 3},
		"security type": {financeapp.HoldingFilter{SecurityType: finance.SecurityETF}, 1},
		"symbol":        {financeapp.HoldingFilter{Symbol: "AAPL"}, 2},
		"bob's account": {financeapp.HoldingFilter{AccountID: w.bobs.ID()}, 0},
	} {
		if got := list(financeapp.HoldingQuery{Filter: c.f}); len(got.Items) != c.want {
			t.Errorf("%s filter: %d holdings, want %d", name, len(got.Items), c.want)
		}
	}
	first := list(financeapp.HoldingQuery{Limit: 2})
	rest := list(financeapp.HoldingQuery{Limit: 2, After: first.Next})
	if !first.HasMore || first.Next != want[1] || rest.HasMore || !slices.Equal(append(ids(first), ids(rest)...), want) {
		t.Errorf("pages %v then %v, want %v", ids(first), ids(rest), want)
	}
	if _, err := w.queries.ListHoldings(t.Context(), financeapp.HoldingQuery{UserID: w.ann, Limit: 101}); err == nil {
		t.Error("a page of 101 was accepted")
	}
}
