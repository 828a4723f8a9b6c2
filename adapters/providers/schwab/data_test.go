package schwab_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/schwab"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/contract/datakit"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

const day = 24 * time.Hour

// dataT0 is the data tests' instant, a whole second.
var dataT0 = time.Date(2030, 3, 4, 15, 6, 7, 0, time.UTC)

// dataWorld is a fake Schwab with its seeded accounts, a connector reading
// it on the fake's clock, and an access token the fake accepts.
type dataWorld struct {
	fake  *schwabfake.Server
	clock *fakeclock.Clock
	c     *schwab.Connector
	tok   providers.Tokens
}

func newDataWorld(t *testing.T, edit func(*schwab.Config)) *dataWorld {
	t.Helper()
	clock := fakeclock.New(dataT0)
	fake := startFake(t, schwabfake.Config{Clock: clock, AccessTTL: 1000 * day})
	c := connect(t, fake, func(cfg *schwab.Config) {
		// A window of 3,000 rows takes a while under the race detector.
		cfg.APIBaseURL, cfg.Now, cfg.Timeout = fake.APIBaseURL(), clock.Now, 10*time.Second
		if edit != nil {
			edit(cfg)
		}
	})
	return &dataWorld{fake: fake, clock: clock, c: c, tok: providers.Tokens{AccessToken: fake.IssueAccessToken()}}
}

// hash is the hashValue of the fake's account i (0: margin, 1: cash).
func (w *dataWorld) hash(i int) string { return w.fake.Accounts()[i].Hash }

// loop walks one sync loop from resume and returns its pages.
func (w *dataWorld) loop(t *testing.T, resume []byte) []providers.TransactionPage {
	t.Helper()
	var pages []providers.TransactionPage
	for range 1000 {
		p, err := w.c.Transactions(context.Background(), w.tok, resume)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		if resume = p.Resume; !p.HasMore {
			return pages
		}
	}
	t.Fatal("the loop did not end")
	return nil
}

// mirror is what a client holds after applying pages, keyed by activity id.
type mirror map[string]providers.TransactionRecord

func (m mirror) apply(t *testing.T, pages ...providers.TransactionPage) {
	t.Helper()
	for _, p := range pages {
		for _, r := range p.Added {
			if _, twice := m[r.Details.InstitutionTransactionID]; twice {
				t.Fatalf("activity %s added twice", r.Details.InstitutionTransactionID)
			}
			m[r.Details.InstitutionTransactionID] = r
		}
		for _, r := range p.Modified {
			m[r.Details.InstitutionTransactionID] = r
		}
		for _, r := range p.Removed {
			delete(m, r.InstitutionTransactionID)
		}
	}
}

func last(pages []providers.TransactionPage) []byte { return pages[len(pages)-1].Resume }

func changes(pages []providers.TransactionPage) (added, modified, removed int) {
	for _, p := range pages {
		added, modified, removed = added+len(p.Added), modified+len(p.Modified), removed+len(p.Removed)
	}
	return
}

func TestDataContract(t *testing.T) {
	datakit.Run(t, datakit.Harness{
		New: func(t *testing.T) (providers.DataConnector, providers.Tokens) {
			w := newDataWorld(t, nil)
			return w.c, w.tok
		},
	})
}

func TestNoRequestCarriesAPlainAccountNumberOrADateOnlyStartDate(t *testing.T) {
	w := newDataWorld(t, nil)
	ctx := context.Background()
	if _, err := w.c.Accounts(ctx, w.tok); err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.Holdings(ctx, w.tok); err != nil {
		t.Fatal(err)
	}
	w.loop(t, w.loop(t, nil)[0].Resume)

	reqs := w.fake.DataRequests()
	var windows int
	for _, r := range reqs {
		if r.Status != http.StatusOK {
			t.Errorf("%s?%s answered %d", r.Path, r.RawQuery, r.Status)
		}
		for _, a := range w.fake.Accounts() {
			if strings.Contains(r.Path, a.Number) || strings.Contains(r.RawQuery, a.Number) {
				t.Errorf("request %s?%s carries the plain account number", r.Path, r.RawQuery)
			}
		}
		if !strings.HasSuffix(r.Path, "/transactions") {
			continue
		}
		windows++
		q, _ := url.ParseQuery(r.RawQuery)
		for _, name := range []string{"startDate", "endDate"} {
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", q.Get(name)); err != nil {
				t.Errorf("%s=%q is not a full yyyy-MM-dd'T'HH:mm:ss.SSSZ timestamp", name, q.Get(name))
			}
		}
		if got := strings.Split(q.Get("types"), ","); !slices.Equal(got, schwabfake.TransactionTypes) {
			t.Errorf("types=%v, want every type", got)
		}
	}
	if windows == 0 {
		t.Fatal("no transactions request was made")
	}
}

func TestThePlainAccountNumberIsRefusedByTheFake(t *testing.T) {
	w := newDataWorld(t, nil)
	req, _ := http.NewRequest(http.MethodGet, w.fake.APIBaseURL()+"/accounts/"+w.fake.Accounts()[0].Number+"?fields=positions", nil)
	req.Header.Set("Authorization", "Bearer "+w.tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a plain account number in the path answered %d, want 400", resp.StatusCode)
	}
}

func TestAccountsAreMaskedAndValuedAtLiquidationValueWithTheSweepCountedOnce(t *testing.T) {
	w := newDataWorld(t, nil)
	accounts, err := w.c.Accounts(context.Background(), w.tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 2 {
		t.Fatalf("%d accounts, want the fake's 2", len(accounts))
	}
	for i, a := range accounts {
		fa := w.fake.Accounts()[i]
		d := a.Details
		if d.InstitutionAccountID != fa.Hash || d.Mask != fa.Number[len(fa.Number)-4:] {
			t.Errorf("account %d is %q masked %q, want the hash and the last four digits", i, d.InstitutionAccountID, d.Mask)
		}
		if strings.Contains(d.Name+d.OfficialName+d.Subtype, fa.Number) {
			t.Errorf("account %d shows its plain number: %+v", i, d)
		}
		if d.Type != finance.AccountInvestment || d.Currency.String() != "USD" {
			t.Errorf("account %d is %v in %v, want an investment account in USD", i, d.Type, d.Currency)
		}
	}
	// The margin account: 1,520.35 cash; positions 7,612.40 + 6,987.50 + 540
	// - 4,155 (short) + 5,000 (sweep) = 15,984.90; liquidation 17,505.25.
	margin := accounts[0].Balance
	if margin.Current.String() != "17505.25 USD" || margin.Available.String() != "1520.35 USD" {
		t.Errorf("margin balance = %s available %s, want 17505.25 (liquidation value, sweep once) and 1520.35 cash",
			margin.Current, margin.Available)
	}
	if cash := accounts[1].Balance; cash.Current.String() != "10447.60 USD" || cash.Available.String() != "250.00 USD" {
		t.Errorf("cash account balance = %s available %s, want 10447.60 and 250.00", cash.Current, cash.Available)
	}
}

// holdingsBySymbol indexes an answer's holdings of one account by symbol.
func holdingsBySymbol(t *testing.T, a providers.HoldingsAnswer, hash string) (map[string]providers.HoldingRecord, map[string]finance.SecurityDetails) {
	t.Helper()
	secs := map[finance.SecurityKey]finance.SecurityDetails{}
	for _, s := range a.Securities {
		secs[s.Key()] = s
	}
	out, details := map[string]providers.HoldingRecord{}, map[string]finance.SecurityDetails{}
	for _, h := range a.Holdings {
		if h.InstitutionAccountID != hash {
			continue
		}
		s, ok := secs[h.Security]
		if !ok {
			t.Fatalf("holding %+v names a security the answer does not describe", h)
		}
		out[s.Symbol], details[s.Symbol] = h, s
	}
	return out, details
}

func TestPositionsAreNetOfShortsWithETFsOptionsAndTheSweepTyped(t *testing.T) {
	w := newDataWorld(t, nil)
	answer, err := w.c.Holdings(context.Background(), w.tok)
	if err != nil || len(answer.Failures) != 0 {
		t.Fatalf("Holdings: %v, failures %+v", err, answer.Failures)
	}
	got, secs := holdingsBySymbol(t, answer, w.hash(0))
	if len(got) != 5 {
		t.Fatalf("margin account holds %d positions, want 5", len(got))
	}
	if h := got["MSFT"]; h.Quantity.String() != "-10" || h.MarketValue.String() != "-4155.00 USD" || h.Price.String() != "415.5 USD" {
		t.Errorf("short MSFT = %s at %s worth %s, want -10 at 415.5 worth -4155.00", h.Quantity, h.Price, h.MarketValue)
	}
	if s := secs["SPY"]; s.Type != finance.SecurityETF || s.CUSIP != "78462F103" {
		t.Errorf("SPY is %+v, want an ETF with its CUSIP", s)
	}
	// 2 contracts worth 540: 2.70 a share, 100 shares a contract.
	opt := got[schwabfake.Call.Symbol]
	if opt.Quantity.String() != "2" || opt.MarketValue.String() != "540.00 USD" || opt.Price.String() != "2.7 USD" ||
		opt.CostBasis.String() != "630.00 USD" || secs[schwabfake.Call.Symbol].Type != finance.SecurityOption {
		t.Errorf("option = %s at %s worth %s cost %s, want 2 at 2.7 (per share) worth 540.00 cost 630.00",
			opt.Quantity, opt.Price, opt.MarketValue, opt.CostBasis)
	}
	if s := secs["SWVXX"]; !s.CashEquivalent || s.Type != finance.SecurityCash {
		t.Errorf("the sweep is %+v, want a cash equivalent", s)
	}
	if s := secs["AAPL"]; s.Key().Scheme != finance.SchemeInstitution || s.CUSIP != "037833100" {
		t.Errorf("AAPL's identity is %v (CUSIP %q), want the instrument id with the CUSIP kept", s.Key(), s.CUSIP)
	}
	// The same instrument in two accounts is one security.
	if n := len(answer.Securities); n != 6 {
		t.Errorf("%d securities, want 6 (MSFT held in both accounts once)", n)
	}
}

func TestAPositionSoldToZeroIsGoneFromTheAnswer(t *testing.T) {
	w := newDataWorld(t, nil)
	saleID := w.fake.SellToZero(w.hash(0), "AAPL", "190.00")
	answer, err := w.c.Holdings(context.Background(), w.tok)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := holdingsBySymbol(t, answer, w.hash(0))
	if _, ok := got["AAPL"]; ok || len(got) != 4 {
		t.Errorf("after the sale the margin account holds %v, want the 4 others without AAPL", len(got))
	}
	// A zero net quantity Schwab still lists is gone too.
	positions := w.fake.Positions(w.hash(1))
	positions[0].LongQuantity, positions[0].MarketValue = "0", "0"
	w.fake.SetPositions(w.hash(1), positions)
	answer, _ = w.c.Holdings(context.Background(), w.tok)
	if got, _ := holdingsBySymbol(t, answer, w.hash(1)); len(got) != 1 {
		t.Errorf("a zero position is still held: %d positions, want 1", len(got))
	}
	// The sale is a transaction naming its security, read once the instant
	// it happened has passed.
	w.clock.Advance(time.Second)
	m := mirror{}
	for _, p := range w.loop(t, nil) {
		m.apply(t, p)
		if r, ok := findRecord(p, saleID); ok && !pageDescribes(p, r.Investment.Security) {
			t.Error("the sale's page does not describe AAPL")
		}
	}
	if r := m[itoa(saleID)]; r.Details.Kind != finance.KindSell || r.Investment.Quantity.String() != "-40" {
		t.Errorf("the sale is %+v, want a sell of -40", r)
	}
}

func findRecord(p providers.TransactionPage, id int64) (providers.TransactionRecord, bool) {
	for _, r := range slices.Concat(p.Added, p.Modified) {
		if r.Details.InstitutionTransactionID == itoa(id) {
			return r, true
		}
	}
	return providers.TransactionRecord{}, false
}

func pageDescribes(p providers.TransactionPage, k finance.SecurityKey) bool {
	return slices.ContainsFunc(p.Securities, func(s finance.SecurityDetails) bool { return s.Key() == k })
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestTheFirstSyncBackfillsAYearInWindowsOfAtMost60Days(t *testing.T) {
	w := newDataWorld(t, nil)
	m := mirror{}
	pages := w.loop(t, nil)
	m.apply(t, pages...)
	var want int
	for i := range 2 {
		for _, a := range w.fake.Activities(w.hash(i)) {
			if a.Status != "INVALID" {
				want++
			}
		}
	}
	if len(m) != want {
		t.Fatalf("a first sync delivered %d activities, want the fake's %d", len(m), want)
	}
	var earliest time.Time
	for _, r := range w.fake.DataRequests() {
		if !strings.HasSuffix(r.Path, "/transactions") {
			continue
		}
		q, _ := url.ParseQuery(r.RawQuery)
		start, _ := time.Parse("2006-01-02T15:04:05.000Z", q.Get("startDate"))
		end, _ := time.Parse("2006-01-02T15:04:05.000Z", q.Get("endDate"))
		if end.Sub(start) > 60*day {
			t.Errorf("a window of %s, want at most 60 days", end.Sub(start))
		}
		if earliest.IsZero() || start.Before(earliest) {
			earliest = start
		}
	}
	if !earliest.Equal(dataT0.Add(-schwab.Backfill)) {
		t.Errorf("the backfill starts at %s, want a year before %s", earliest, dataT0)
	}
}

func TestALaterSyncRereadsTheTrailingWindowAndDeliversOnlyWhatChanged(t *testing.T) {
	w := newDataWorld(t, nil)
	first := w.loop(t, nil)
	w.clock.Advance(2 * day)
	w.fake.ResetCalls()
	before := len(w.fake.DataRequests())
	second := w.loop(t, last(first))
	if a, m, r := changes(second); a != 0 || m != 0 || r != 0 {
		t.Errorf("nothing changed, yet the second sync delivered %d added, %d modified, %d removed", a, m, r)
	}
	for _, r := range w.fake.DataRequests()[before:] {
		if !strings.HasSuffix(r.Path, "/transactions") {
			continue
		}
		q, _ := url.ParseQuery(r.RawQuery)
		start, _ := time.Parse("2006-01-02T15:04:05.000Z", q.Get("startDate"))
		if want := dataT0.Add(-schwab.TrailingWindow); start.Before(want) {
			t.Errorf("the second sync reads from %s, want no earlier than %s (trailing window of the last end)", start, want)
		}
	}
}

func TestAVanishedActivityIsARemoval(t *testing.T) {
	w := newDataWorld(t, nil)
	m := mirror{}
	first := w.loop(t, nil)
	m.apply(t, first...)
	acts := w.fake.Activities(w.hash(1))
	gone := acts[len(acts)-3] // a recent one, inside the trailing window
	w.fake.RemoveActivity(w.hash(1), gone.ActivityID)
	w.clock.Advance(time.Hour)
	second := w.loop(t, last(first))
	m.apply(t, second...)
	if _, ok := m[itoa(gone.ActivityID)]; ok {
		t.Fatal("the vanished activity is still held")
	}
	if a, mod, r := changes(second); a != 0 || mod != 0 || r != 1 {
		t.Errorf("second sync: %d added, %d modified, %d removed; want exactly one removal", a, mod, r)
	}
	// It stays removed: a third sync says nothing more.
	if a, mod, r := changes(w.loop(t, last(second))); a+mod+r != 0 {
		t.Errorf("third sync: %d added, %d modified, %d removed; want nothing", a, mod, r)
	}
}

func TestAnInvalidActivityIsARemoval(t *testing.T) {
	w := newDataWorld(t, nil)
	m := mirror{}
	first := w.loop(t, nil)
	m.apply(t, first...)
	acts := w.fake.Activities(w.hash(0))
	voided := acts[len(acts)-2]
	w.fake.ModifyActivity(w.hash(0), voided.ActivityID, func(a *schwabfake.Activity) { a.Status = "INVALID" })
	second := w.loop(t, last(first))
	m.apply(t, second...)
	if _, ok := m[itoa(voided.ActivityID)]; ok {
		t.Fatal("the INVALID activity is still held")
	}
	if _, _, r := changes(second); r != 1 {
		t.Errorf("%d removals, want 1", r)
	}
}

func TestAPendingActivityThatPostsIsTheSameTransactionPosted(t *testing.T) {
	w := newDataWorld(t, nil)
	m := mirror{}
	first := w.loop(t, nil)
	m.apply(t, first...)
	id := w.fake.PendingActivity(w.hash(0))
	if r := m[itoa(id)]; r.Status != finance.TransactionPending || r.Details.Kind != finance.KindDeposit {
		t.Fatalf("the pending ACH is %+v, want a pending deposit", r)
	}
	w.fake.PostPending(w.hash(0), id)
	w.clock.Advance(day)
	second := w.loop(t, last(first))
	m.apply(t, second...)
	a, mod, r := changes(second)
	if a != 0 || mod != 1 || r != 0 {
		t.Fatalf("posting delivered %d added, %d modified, %d removed; want one modification", a, mod, r)
	}
	if got := m[itoa(id)]; got.Status != finance.TransactionPosted || got.Details.InstitutionTransactionID != itoa(id) {
		t.Errorf("after posting: %+v, want posted under the same activity id", got)
	}
}

func TestAModifiedAmountIsAModification(t *testing.T) {
	w := newDataWorld(t, nil)
	m := mirror{}
	first := w.loop(t, nil)
	m.apply(t, first...)
	acts := w.fake.Activities(w.hash(1))
	changed := acts[len(acts)-4]
	w.fake.ModifyActivity(w.hash(1), changed.ActivityID, func(a *schwabfake.Activity) { a.Description = "CORRECTED" })
	second := w.loop(t, last(first))
	m.apply(t, second...)
	if _, mod, _ := changes(second); mod != 1 || m[itoa(changed.ActivityID)].Details.Description != "CORRECTED" {
		t.Errorf("%d modifications, description %q; want the one correction", mod, m[itoa(changed.ActivityID)].Details.Description)
	}
}

func TestA3000RowWindowIsSplitAndEveryRowDelivered(t *testing.T) {
	w := newDataWorld(t, nil)
	// 3,500 activities within three days: any window holding them comes back
	// cut at 3,000.
	ids := w.fake.AddCashActivities(w.hash(1), 3500, dataT0.Add(-40*day), dataT0.Add(-37*day))
	m := mirror{}
	m.apply(t, w.loop(t, nil)...)
	for _, id := range ids {
		if _, ok := m[itoa(id)]; !ok {
			t.Fatalf("activity %d of the full window is missing: the cap truncated it", id)
		}
	}
	var capped int
	for _, r := range w.fake.DataRequests() {
		if r.Rows == schwabfake.DefaultWindowCap {
			capped++
		}
	}
	if capped == 0 {
		t.Fatal("no window came back with the cap: the test proves nothing")
	}
}

func TestAnInstantHoldingTheCapFailsTheAccountInsteadOfLooping(t *testing.T) {
	w := newDataWorld(t, func(c *schwab.Config) { c.RowCap = 50 })
	w.fake.SetWindowCap(50)
	at := dataT0.Add(-10 * day)
	w.fake.AddCashActivities(w.hash(1), 60, at, at)
	m := mirror{}
	var failures []providers.AccountFailure
	for _, p := range w.loop(t, nil) {
		m.apply(t, p)
		failures = append(failures, p.Failures...)
	}
	if len(failures) != 1 || failures[0].InstitutionAccountID != w.hash(1) ||
		!errors.Is(failures[0].Err, domain.ErrProviderUnavailable) || !strings.Contains(failures[0].Err.Error(), "one instant") {
		t.Fatalf("failures %+v, want the cash account failed for its crowded instant", failures)
	}
	var margin int
	for _, r := range m {
		if r.InstitutionAccountID == w.hash(0) {
			margin++
		}
	}
	if margin == 0 {
		t.Error("the other account was not delivered")
	}
}

func TestOneAccountFailingIsReportedAndTheOthersDelivered(t *testing.T) {
	w := newDataWorld(t, nil)
	w.fake.FailAccount(w.hash(0), http.StatusInternalServerError)
	answer, err := w.c.Holdings(context.Background(), w.tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(answer.Failures) != 1 || answer.Failures[0].InstitutionAccountID != w.hash(0) ||
		!errors.Is(answer.Failures[0].Err, domain.ErrProviderUnavailable) {
		t.Errorf("holdings failures %+v, want the margin account's", answer.Failures)
	}
	if got, _ := holdingsBySymbol(t, answer, w.hash(1)); len(got) != 2 {
		t.Errorf("the cash account's %d positions delivered, want 2", len(got))
	}
	m := mirror{}
	var failed []string
	pages := w.loop(t, nil)
	for _, p := range pages {
		m.apply(t, p)
		for _, f := range p.Failures {
			failed = append(failed, f.InstitutionAccountID)
		}
	}
	if !slices.Equal(failed, []string{w.hash(0)}) || len(m) == 0 {
		t.Fatalf("transactions failed %v with %d delivered, want the margin account failed and the cash one delivered", failed, len(m))
	}
	// Healed, the next loop delivers the failed account's year.
	w.fake.FailAccount(w.hash(0), 0)
	m.apply(t, w.loop(t, last(pages))...)
	var margin int
	for _, r := range m {
		if r.InstitutionAccountID == w.hash(0) {
			margin++
		}
	}
	if margin != len(w.fake.Activities(w.hash(0))) {
		t.Errorf("after healing %d of the margin account's activities, want %d", margin, len(w.fake.Activities(w.hash(0))))
	}
}

func TestARefusedAccessTokenAsksForARefresh(t *testing.T) {
	w := newDataWorld(t, nil)
	_, err := w.c.Accounts(context.Background(), providers.Tokens{AccessToken: "I0.dead@"})
	if !errors.Is(err, domain.ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest (refresh and call again)", err)
	}
	if strings.Contains(err.Error(), "I0.dead@") {
		t.Errorf("the error %q carries the access token", err)
	}
}

func TestA429PostponesWithRetryAfter(t *testing.T) {
	w := newDataWorld(t, nil)
	w.fake.RateLimit(42 * time.Second)
	_, err := w.c.Transactions(context.Background(), w.tok, nil)
	ra, ok := errors.AsType[*providers.RetryAfterError](err)
	if !ok || ra.Delay != 42*time.Second || !errors.Is(err, domain.ErrProviderUnavailable) {
		t.Fatalf("err = %v, want a RetryAfterError of 42s", err)
	}
	if _, err := w.c.Holdings(context.Background(), w.tok); !isRetryAfter(err) {
		t.Errorf("Holdings err = %v, want a RetryAfterError, not a per-account failure", err)
	}
}

func isRetryAfter(err error) bool {
	_, ok := errors.AsType[*providers.RetryAfterError](err)
	return ok
}

func TestTradesCarryQuantityPriceAndFeesSummedFromTheFeeLegs(t *testing.T) {
	w := newDataWorld(t, nil)
	at := dataT0.Add(-3 * day)
	buy := w.fake.AddActivity(w.hash(1), schwabfake.Trade(schwabfake.VTI, at, 7, "250.10"))
	sale := schwabfake.Trade(schwabfake.MSFT, at.Add(time.Hour), -3, "400.00")
	sale.TransferItems = append(sale.TransferItems, schwabfake.TransferItem{Instrument: sale.TransferItems[1].Instrument,
		Amount: "0", Cost: "-0.15", FeeType: "TAF_FEE"})
	sale.NetAmount = "1199.83"
	sell := w.fake.AddActivity(w.hash(1), sale)
	m := mirror{}
	m.apply(t, w.loop(t, nil)...)
	b, s := m[itoa(buy)], m[itoa(sell)]
	if b.Details.Kind != finance.KindBuy || b.Details.Amount.String() != "-1750.70 USD" || b.Investment == nil ||
		b.Investment.Quantity.String() != "7" || b.Investment.Price.String() != "250.10 USD" || b.Investment.Fees.String() != "0 USD" {
		t.Errorf("buy = %+v %+v, want a buy of 7 at 250.10 for -1750.70 with no fees", b.Details, b.Investment)
	}
	if s.Details.Kind != finance.KindSell || s.Details.Amount.String() != "1199.83 USD" || s.Investment == nil ||
		s.Investment.Quantity.String() != "-3" || s.Investment.Fees.String() != "0.17 USD" {
		t.Errorf("sell = %+v %+v, want a sell of -3 with 0.17 of fees (SEC 0.02 + TAF 0.15)", s.Details, s.Investment)
	}
}

func TestTheDateIsTheTradeDateInNewYork(t *testing.T) {
	w := newDataWorld(t, nil)
	// 03:30 UTC on the 1st is 22:30 on February 28th in New York.
	late := schwabfake.CashActivity("WIRE_IN", time.Date(2030, 3, 1, 3, 30, 0, 0, time.UTC), "10.00", "VALID")
	id := w.fake.AddActivity(w.hash(0), late)
	other := schwabfake.CashActivity("WIRE_OUT", time.Date(2030, 3, 1, 3, 31, 0, 0, time.UTC), "-5.00", "VALID")
	id2 := w.fake.AddActivity(w.hash(0), other) // the next id: the other timestamp form
	m := mirror{}
	m.apply(t, w.loop(t, nil)...)
	for _, id := range []int64{id, id2} {
		if got := m[itoa(id)].Details.Date.String(); got != "2030-02-28" {
			t.Errorf("activity %d dated %s, want 2030-02-28 (New York)", id, got)
		}
	}
	if m[itoa(id)].Details.Kind != finance.KindDeposit || m[itoa(id2)].Details.Kind != finance.KindWithdrawal {
		t.Errorf("wire kinds %v, %v; want deposit and withdrawal", m[itoa(id)].Details.Kind, m[itoa(id2)].Details.Kind)
	}
}

func TestAResumeStateFromElsewhereIsRefused(t *testing.T) {
	w := newDataWorld(t, nil)
	if _, err := w.c.Transactions(context.Background(), w.tok, []byte("42")); !errors.Is(err, domain.ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest", err)
	}
}

func TestTheFakeRefusesADateOnlyStartDateAndAMissingTypes(t *testing.T) {
	w := newDataWorld(t, nil)
	base := w.fake.APIBaseURL() + "/accounts/" + w.hash(0) + "/transactions?"
	for name, q := range map[string]url.Values{
		"date only": {"startDate": {"2030-01-01"}, "endDate": {"2030-02-01T00:00:00.000Z"}, "types": {"TRADE"}},
		"no types":  {"startDate": {"2030-01-01T00:00:00.000Z"}, "endDate": {"2030-02-01T00:00:00.000Z"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+w.tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s answered %d, want 400", name, resp.StatusCode)
		}
	}
}

func TestASlowOrFailingSchwabIsATimeoutOrUnavailable(t *testing.T) {
	w := newDataWorld(t, func(c *schwab.Config) { c.Timeout = 100 * time.Millisecond })
	w.fake.SetFault(fakekit.Slow(5 * time.Second))
	if _, err := w.c.Transactions(context.Background(), w.tok, nil); !errors.Is(err, domain.ErrProviderTimeout) {
		t.Errorf("slow: err = %v, want ErrProviderTimeout", err)
	}
	w.fake.SetFault(fakekit.Status500())
	if _, err := w.c.Accounts(context.Background(), w.tok); !errors.Is(err, domain.ErrProviderUnavailable) {
		t.Errorf("500: err = %v, want ErrProviderUnavailable", err)
	}
	w.fake.SetFault(fakekit.Malformed())
	if _, err := w.c.Holdings(context.Background(), w.tok); !errors.Is(err, domain.ErrProviderUnavailable) {
		t.Errorf("malformed: err = %v, want ErrProviderUnavailable", err)
	}
}
