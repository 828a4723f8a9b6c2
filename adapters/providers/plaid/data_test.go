package plaid_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/plaid"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/contract/datakit"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// dataNow is the instant the data tests run at, on both clocks.
var dataNow = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

// dataWorld is a fake Plaid with a linked item and a connector reading it
// with both data products.
type dataWorld struct {
	fake   *plaidfake.Server
	c      *plaid.Connector
	tokens providers.Tokens
	item   *plaidfake.Item
}

func newDataWorld(t *testing.T) *dataWorld {
	t.Helper()
	fake := plaidfake.New(plaidfake.Config{Clock: fakeclock.New(dataNow)})
	t.Cleanup(fake.Close)
	c := connect(t, fake, func(c *plaid.Config) {
		c.Products = []string{"transactions", "investments"}
		c.Now = func() time.Time { return dataNow }
	})
	tok := complete(t, fake, c)
	return &dataWorld{fake: fake, c: c, tokens: tok, item: fake.Item(tok.AccessToken)}
}

// loop walks one sync loop from resume to its end.
func (w *dataWorld) loop(t *testing.T, resume []byte) []providers.TransactionPage {
	t.Helper()
	var pages []providers.TransactionPage
	for range 1000 {
		p, err := w.c.Transactions(context.Background(), w.tokens, resume)
		if err != nil {
			t.Fatalf("Transactions: %v", err)
		}
		pages = append(pages, p)
		if resume = p.Resume; !p.HasMore {
			return pages
		}
	}
	t.Fatal("the loop did not end")
	return nil
}

func TestDataContract(t *testing.T) {
	datakit.Run(t, datakit.Harness{
		New: func(t *testing.T) (providers.DataConnector, providers.Tokens) {
			w := newDataWorld(t)
			w.item.SetPageSize(5)
			return w.c, w.tokens
		},
	})
}

func TestAccountsConvertBalancesExactlyAndKeepOnlyTheMask(t *testing.T) {
	w := newDataWorld(t)
	got, err := w.c.Accounts(context.Background(), w.tokens)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]providers.AccountRecord{}
	for _, a := range got {
		byID[a.Details.InstitutionAccountID] = a
	}
	for _, tc := range []struct {
		id, current, available, limit, mask string
		typ                                 finance.AccountType
	}{
		{plaidfake.AccountChecking, "110.25", "100", "", "0000", finance.AccountDepository},
		{plaidfake.AccountSavings, "210.50", "200.5", "", "1111", finance.AccountDepository},
		// A credit card's current balance is what is owed, positive.
		{plaidfake.AccountCredit, "410.34", "4589.66", "5000", "3333", finance.AccountCredit},
		{plaidfake.AccountBrokerage, "8301.75", "1250.75", "", "5555", finance.AccountInvestment},
	} {
		a, ok := byID[tc.id]
		if !ok {
			t.Fatalf("account %s missing from %+v", tc.id, got)
		}
		b := a.Balance
		if b.Current.Amount().String() != tc.current || b.Current.Currency().String() != "USD" ||
			b.Available.Amount().String() != tc.available || tc.limit != "" && b.Limit.Amount().String() != tc.limit ||
			tc.limit == "" && b.Limit.IsSet() || !b.AsOf.Equal(dataNow) {
			t.Errorf("%s balance current %v available %v limit %v as of %v; want %s, %s, %q at %v",
				tc.id, b.Current, b.Available, b.Limit, b.AsOf, tc.current, tc.available, tc.limit, dataNow)
		}
		if a.Details.Mask != tc.mask || a.Details.Type != tc.typ || a.Status != finance.AccountOpen {
			t.Errorf("%s: mask %q type %v status %v, want %q %v open", tc.id, a.Details.Mask, a.Details.Type, a.Status, tc.mask, tc.typ)
		}
	}
}

// Plaid's amounts are positive for money out; Dashtam's positive into the
// account.
func TestTransactionAmountsAreTurnedToPositiveIntoTheAccount(t *testing.T) {
	w := newDataWorld(t)
	seeded := w.item.Transactions()
	pages := w.loop(t, nil)
	var seen int
	for _, p := range pages {
		for _, r := range p.Added {
			want, bank := seeded[r.Details.InstitutionTransactionID]
			if !bank {
				continue // investment activity
			}
			seen++
			if r.Details.Amount.Amount().Neg().String() != want.Amount {
				t.Errorf("%s: amount %s, want the opposite of Plaid's %s", want.ID, r.Details.Amount.Amount(), want.Amount)
			}
			if (r.Status == finance.TransactionPending) != want.Pending || r.Details.Date.String() != want.Date {
				t.Errorf("%s: %v on %s, want pending %v on %s", want.ID, r.Status, r.Details.Date, want.Pending, want.Date)
			}
		}
	}
	if seen != len(seeded) {
		t.Errorf("%d of the %d seeded transactions delivered", seen, len(seeded))
	}
}

// One call gathers a sync loop whole; a mutation on its third answer drops
// what was gathered and asks again from the loop's first cursor, so a
// transaction added on the first answer and removed before the loop ended is
// never handed over as added, whether or not Plaid reports its removal.
func TestAMutationDuringPaginationRestartsFromTheLoopsFirstCursor(t *testing.T) {
	w := newDataWorld(t)
	first := w.loop(t, nil)
	end := first[len(first)-1].Resume
	w.item.Add(plaidfake.Transaction{ID: "new-1", AccountID: plaidfake.AccountChecking, Amount: "1.00", Date: "2030-05-05", Name: "A"})
	w.item.Add(plaidfake.Transaction{ID: "new-2", AccountID: plaidfake.AccountChecking, Amount: "2.00", Date: "2030-05-05", Name: "B"})
	w.item.Add(plaidfake.Transaction{ID: "new-3", AccountID: plaidfake.AccountChecking, Amount: "3.00", Date: "2030-05-05", Name: "C"})
	w.item.SetPageSize(1)
	w.item.MutateOnPage(3, func(it *plaidfake.Item) { it.Remove("new-1") })
	before := len(w.item.SyncCursors())

	p, err := w.c.Transactions(context.Background(), w.tokens, end)
	if err != nil {
		t.Fatalf("a loop with a mutation on its third answer: %v, want it restarted", err)
	}
	cursors := w.item.SyncCursors()[before:]
	if len(cursors) < 4 || cursors[3] != cursors[0] || cursors[2] == cursors[0] {
		t.Fatalf("cursors asked %q, want the third answer's to fail and the loop's first cursor asked again", cursors)
	}
	var added []string
	for _, r := range p.Added {
		added = append(added, r.Details.InstitutionTransactionID)
	}
	if strings.Join(added, ",") != "new-2,new-3" {
		t.Errorf("the restarted loop handed over %v as added, want new-2 and new-3 once each and never new-1", added)
	}
	if len(p.Modified) != 0 {
		t.Errorf("the restarted loop handed over modifications %+v, want none", p.Modified)
	}
}

// A loop longer than the call's bound is handed over in parts, each with the
// cursor after it; together they deliver every transaction once.
func TestALongLoopIsHandedOverInBoundedParts(t *testing.T) {
	w := newDataWorld(t)
	for i := range 100 {
		w.item.Add(plaidfake.Transaction{ID: fmt.Sprintf("more-%03d", i), AccountID: plaidfake.AccountChecking,
			Amount: "1.00", Date: "2030-05-01", Name: "Coffee"})
	}
	w.item.SetPageSize(1)
	total := len(w.item.Transactions())
	first, err := w.c.Transactions(context.Background(), w.tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(first.Added); n == 0 || n >= total || !first.HasMore {
		t.Fatalf("the first part of a loop of %d one-change answers handed over %d (has_more %v), want a bounded part", total, n, first.HasMore)
	}
	pages := append([]providers.TransactionPage{first}, w.loop(t, first.Resume)...)
	if bank := countBank(pages, w.item); bank != total {
		t.Errorf("the parts delivered %d bank transactions, want all %d once", bank, total)
	}
}

func TestNotReadyEndsTheLoopWithoutErrorAndKeepsTheCursor(t *testing.T) {
	w := newDataWorld(t)
	w.item.SetNotReady(true)
	p, err := w.c.Transactions(context.Background(), w.tokens, nil)
	if err != nil {
		t.Fatalf("not ready: %v, want no error", err)
	}
	if len(p.Added)+len(p.Modified)+len(p.Removed) != 0 {
		t.Fatalf("not ready delivered %+v", p)
	}
	// The investments phase still runs; the cursor stays empty.
	pages := append([]providers.TransactionPage{p}, w.loop(t, p.Resume)...)
	w.item.SetNotReady(false)
	next := w.loop(t, pages[len(pages)-1].Resume)
	if bank := countBank(next, w.item); bank != len(w.item.Transactions()) {
		t.Errorf("once ready, the next loop delivered %d bank transactions, want all %d from the start", bank, len(w.item.Transactions()))
	}
}

func countBank(pages []providers.TransactionPage, item *plaidfake.Item) int {
	seeded := item.Transactions()
	n := 0
	for _, p := range pages {
		for _, r := range p.Added {
			if _, ok := seeded[r.Details.InstitutionTransactionID]; ok {
				n++
			}
		}
	}
	return n
}

func TestHoldingsCarryTheSecurityMasterAndMarkCashEquivalents(t *testing.T) {
	w := newDataWorld(t)
	a, err := w.c.Holdings(context.Background(), w.tokens)
	if err != nil {
		t.Fatal(err)
	}
	secs := map[finance.SecurityKey]finance.SecurityDetails{}
	for _, s := range a.Securities {
		secs[s.Key()] = s
	}
	if len(a.Holdings) != 4 || len(a.Failures) != 0 {
		t.Fatalf("holdings %+v failures %+v, want the brokerage's 4", a.Holdings, a.Failures)
	}
	for _, h := range a.Holdings {
		s, ok := secs[h.Security]
		if !ok || h.Security.Scheme != finance.SchemeInstitution {
			t.Fatalf("holding %+v names %v, not a security of the answer keyed by Plaid's security_id", h, h.Security)
		}
		switch s.Symbol {
		case "AAPL":
			if s.ISIN != "US0378331005" || h.Quantity.String() != "10" || h.Price.Amount().String() != "190.5" ||
				h.MarketValue.Amount().String() != "1905" || h.CostBasis.Amount().String() != "1500.25" || h.PriceAsOf.IsZero() {
				t.Errorf("AAPL: %+v %+v", s, h)
			}
		case "SWVXX", "CUR:USD":
			if !s.CashEquivalent {
				t.Errorf("%s is not marked cash-equivalent: the balance counts it as cash already", s.Symbol)
			}
		default:
			if s.CashEquivalent {
				t.Errorf("%s is marked cash-equivalent", s.Symbol)
			}
		}
	}
}

func TestHoldingsNeedTheInvestmentsProduct(t *testing.T) {
	w := newDataWorld(t)
	c := connect(t, w.fake, nil) // transactions only
	if _, err := c.Holdings(context.Background(), w.tokens); !errors.Is(err, domain.ErrNotSupported) {
		t.Errorf("Holdings without investments: %v, want ErrNotSupported", err)
	}
	if w.fake.Calls(plaidfake.PathHoldingsGet) != 0 {
		t.Error("Plaid was called for a product not configured")
	}
}

func TestInvestmentTransactionsPageByOffsetAfterTheCursorLoop(t *testing.T) {
	w := newDataWorld(t)
	w.item.SetPageSize(2)
	pages := w.loop(t, nil)
	byID := map[string]providers.TransactionRecord{}
	for _, p := range pages {
		for _, r := range p.Added {
			if _, dup := byID[r.Details.InstitutionTransactionID]; dup {
				t.Errorf("%s delivered twice in one loop", r.Details.InstitutionTransactionID)
			}
			byID[r.Details.InstitutionTransactionID] = r
		}
	}
	want := w.item.InvestmentTransactions()
	if calls := w.fake.Calls(plaidfake.PathInvestmentTransactionsGet); calls != (len(want)+1)/2 {
		t.Errorf("%d investment pages asked, want %d of 2", calls, (len(want)+1)/2)
	}
	for _, inv := range want {
		if _, ok := byID[inv.ID]; !ok {
			t.Errorf("investment transaction %s missing", inv.ID)
		}
	}
	sell := byID["inv-005"]
	if sell.Details.Kind != finance.KindSell || sell.Details.Amount.Amount().String() != "369.5" || sell.Investment == nil ||
		sell.Investment.Quantity.String() != "-2" || sell.Investment.Price.Amount().String() != "185.25" ||
		sell.Investment.Fees.Amount().String() != "1" {
		t.Errorf("the sale: %+v %+v", sell.Details, sell.Investment)
	}
	buy := byID["inv-004"]
	if buy.Details.Kind != finance.KindBuy || buy.Details.Amount.Amount().String() != "-3000" || buy.Investment.Fees.IsSet() {
		t.Errorf("the buy: %+v %+v, want -3000 and no fees", buy.Details, buy.Investment)
	}
	if d := byID["inv-002"]; d.Details.Kind != finance.KindDeposit || d.Investment != nil {
		t.Errorf("the cash deposit: %+v %+v", d.Details, d.Investment)
	}
	// The next sync reads again only the last complete read's last 30 days.
	w.fake.ResetCalls()
	next := w.loop(t, pages[len(pages)-1].Resume)
	var again int
	for _, p := range next {
		again += len(p.Added)
	}
	// 30 days before the last read's end (2030-05-06): the dividend, the fee
	// and the sale, 3, 10 and 30 days old; not the older ones.
	if again != 3 {
		t.Errorf("the next sync re-read %d investment transactions, want the last 30 days' 3", again)
	}
}

func TestItemLoginRequiredMeansReauthorization(t *testing.T) {
	for _, code := range []string{"ITEM_LOGIN_REQUIRED", "PENDING_EXPIRATION", "USER_PERMISSION_REVOKED"} {
		t.Run(code, func(t *testing.T) {
			w := newDataWorld(t)
			w.item.Fail(code)
			for name, call := range dataCalls(w) {
				err := call()
				if !errors.Is(err, domain.ErrReauthorizationRequired) {
					t.Errorf("%s: %v, want ErrReauthorizationRequired", name, err)
				}
				if err != nil && strings.Contains(err.Error(), w.tokens.AccessToken) {
					t.Errorf("%s: the error text holds the access token: %v", name, err)
				}
			}
		})
	}
}

func TestRateLimitIsRetryAfter(t *testing.T) {
	w := newDataWorld(t)
	for _, tc := range []struct {
		retryAfter string
		want       time.Duration
	}{
		{"7", 7 * time.Second},
		{dataNow.Add(2 * time.Minute).Format(http1123), 2 * time.Minute},
		{"", time.Minute}, // Plaid usually says nothing: a minute, its limits' window
	} {
		for name, call := range dataCalls(w) {
			w.item.RateLimit(1, tc.retryAfter)
			err := call()
			ra, ok := errors.AsType[*providers.RetryAfterError](err)
			if !ok || ra.Delay != tc.want || !errors.Is(err, domain.ErrProviderUnavailable) {
				t.Errorf("%s with Retry-After %q: %v, want a RetryAfterError of %s", name, tc.retryAfter, err, tc.want)
			}
		}
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestProductNotReadyIsRetryAfterAShortWait(t *testing.T) {
	w := newDataWorld(t)
	w.item.Fail("PRODUCT_NOT_READY")
	_, err := w.c.Holdings(context.Background(), w.tokens)
	if ra, ok := errors.AsType[*providers.RetryAfterError](err); !ok || ra.Delay > time.Minute {
		t.Errorf("PRODUCT_NOT_READY: %v, want a RetryAfterError of at most a minute", err)
	}
}

func TestAServerErrorIsProviderUnavailable(t *testing.T) {
	w := newDataWorld(t)
	for name, call := range dataCalls(w) {
		w.item.ServerError(1)
		err := call()
		if _, retryAfter := errors.AsType[*providers.RetryAfterError](err); !errors.Is(err, domain.ErrProviderUnavailable) || retryAfter {
			t.Errorf("%s on a 500: %v, want ErrProviderUnavailable", name, err)
		}
	}
}

// dataCalls are the connector's data calls against w's item.
func dataCalls(w *dataWorld) map[string]func() error {
	ctx := context.Background()
	return map[string]func() error{
		"accounts": func() error { _, err := w.c.Accounts(ctx, w.tokens); return err },
		"holdings": func() error { _, err := w.c.Holdings(ctx, w.tokens); return err },
		"transactions": func() error {
			_, err := w.c.Transactions(ctx, w.tokens, nil)
			return err
		},
		"investment transactions": func() error {
			_, err := w.c.Transactions(ctx, w.tokens, []byte(`{"investments":{"start":"2030-01-01","end":"2030-05-06"}}`))
			return err
		},
	}
}
