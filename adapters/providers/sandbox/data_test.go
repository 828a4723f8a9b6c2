package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/contract/datakit"
)

const day = 24 * time.Hour

// newDataWorld is a world whose access tokens outlive the test's simulated
// months, so data calls need no refresh.
func newDataWorld(t testing.TB) *world {
	t.Helper()
	return newWorld(t, newClock(), nil, func(c *sandbox.Config) {
		c.AccessTTL, c.RefreshTTL = 1000*day, 1000*day
	})
}

// grant runs the consent flow as user (login_hint; "" for none) and returns
// the tokens.
func (w *world) grant(t testing.TB, user string) providers.Tokens {
	t.Helper()
	res, err := w.c.Begin(context.Background(), providers.BeginRequest{State: "st", UserID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	u := res.AuthorizationURL
	if user != "" {
		u += "&" + url.Values{"login_hint": {user}}.Encode()
	}
	resp := get(t, u)
	if resp.status != http.StatusFound {
		t.Fatalf("authorize as %q answered %d: %s", user, resp.status, resp.body)
	}
	loc, _ := url.Parse(resp.header.Get("Location"))
	tok, err := w.c.Complete(context.Background(), loc.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// loop walks one sync loop from resume to its end and returns its pages,
// checking each page's size.
func (w *world) loop(t *testing.T, tok providers.Tokens, resume []byte) []providers.TransactionPage {
	t.Helper()
	var pages []providers.TransactionPage
	for {
		p, err := w.c.Transactions(context.Background(), tok, resume)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(p.Added) + len(p.Modified) + len(p.Removed); n > sandbox.PageSize {
			t.Fatalf("a page carries %d changes, more than PageSize", n)
		}
		pages = append(pages, p)
		resume = p.Resume
		if !p.HasMore {
			return pages
		}
	}
}

// mirror is what a client holds after applying pages, as the engine will.
type mirror map[string]providers.TransactionRecord

func (m mirror) apply(p providers.TransactionPage) {
	for _, r := range slices.Concat(p.Added, p.Modified) {
		m[r.Details.InstitutionTransactionID] = r
	}
	for _, r := range p.Removed {
		delete(m, r.InstitutionTransactionID)
	}
}

// fullSync is everything the institution lists now, read with a fresh cursor.
func (w *world) fullSync(t *testing.T, tok providers.Tokens) mirror {
	t.Helper()
	m := mirror{}
	for _, p := range w.loop(t, tok, nil) {
		if len(p.Modified)+len(p.Removed) != 0 {
			t.Fatal("a first loop reports only additions")
		}
		m.apply(p)
	}
	return m
}

// ledger is what the institution holds now, read without paging.
func (w *world) ledger(t *testing.T, tok providers.Tokens) mirror {
	t.Helper()
	m, err := w.c.LedgerAt(tok)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lastResume(pages []providers.TransactionPage) []byte { return pages[len(pages)-1].Resume }

func sameRecords(t *testing.T, got, want mirror) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d transactions, want %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok || g.InstitutionAccountID != w.InstitutionAccountID || g.Status != w.Status || g.Details.Date != w.Details.Date ||
			!g.Details.Amount.Equal(w.Details.Amount) || g.Details.Description != w.Details.Description {
			t.Fatalf("transaction %s = %+v, want %+v", id, g, w)
		}
	}
}

func TestDataContract(t *testing.T) {
	datakit.Run(t, datakit.Harness{
		New: func(t *testing.T) (providers.DataConnector, providers.Tokens) {
			w := newDataWorld(t)
			return w.c, w.grant(t, sandbox.UserGood)
		},
	})
}

func TestTypeAdvertisesTheDataItServes(t *testing.T) {
	got := newDataWorld(t).c.Type().Capabilities
	want := []string{providers.CapabilityAccounts, providers.CapabilityHoldings, providers.CapabilityTransactions}
	if !slices.Equal(got, want) {
		t.Errorf("Capabilities = %v, want %v", got, want)
	}
}

func TestSameGrantSameDataAcrossRefreshesOtherGrantOtherData(t *testing.T) {
	w := newDataWorld(t)
	tok := w.grant(t, "")
	refreshed, err := w.c.Refresh(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, w.fullSync(t, refreshed), w.ledger(t, tok))

	first, _ := w.c.Accounts(context.Background(), tok)
	again, _ := w.c.Accounts(context.Background(), refreshed)
	other, _ := w.c.Accounts(context.Background(), w.grant(t, ""))
	if len(first) != 4 || first[0].Details != again[0].Details {
		t.Fatalf("accounts differ across a refresh: %+v vs %+v", first, again)
	}
	if first[0].Details.InstitutionAccountID == other[0].Details.InstitutionAccountID {
		t.Error("two grants share account ids")
	}
}

func TestEveryRecordIsValidForTheDomain(t *testing.T) {
	w := newDataWorld(t)
	tok := w.grant(t, sandbox.UserGood)
	ctx, now, providerID := context.Background(), w.clock.Now(), uuid.New()

	accounts, err := w.c.Accounts(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	types := map[finance.AccountType]bool{}
	for _, a := range accounts {
		acc, err := finance.NewAccount(uuid.New(), providerID, a.Details, now)
		if err != nil {
			t.Fatalf("account %+v: %v", a.Details, err)
		}
		b := a.Balance
		if _, err := finance.NewBalance(acc.ID(), b.Current, b.Available, b.Limit, b.AsOf); err != nil {
			t.Fatalf("balance of %s: %v", a.Details.Name, err)
		}
		types[a.Details.Type] = true
	}
	if len(types) != 3 {
		t.Errorf("account types %v, want depository, credit and investment", types)
	}

	holdings, err := w.c.Holdings(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(holdings.Holdings) == 0 || len(holdings.Failures) != 0 {
		t.Fatalf("Holdings = %+v, want positions and no failures", holdings)
	}
	securities := map[finance.SecurityKey]uuid.UUID{}
	for _, s := range holdings.Securities {
		sec, err := finance.NewSecurity(uuid.New(), providerID, s, now)
		if err != nil {
			t.Fatalf("security %+v: %v", s, err)
		}
		securities[sec.Key()] = sec.ID()
	}
	for _, h := range holdings.Holdings {
		d := finance.HoldingDetails{SecurityID: securities[h.Security], Quantity: h.Quantity, Price: h.Price,
			PriceAsOf: h.PriceAsOf, MarketValue: h.MarketValue, CostBasis: h.CostBasis, AsOf: h.AsOf}
		if _, err := finance.NewHolding(uuid.New(), uuid.New(), d, now); err != nil {
			t.Fatalf("holding %+v: %v", h, err)
		}
	}

	kinds := map[finance.Kind]int{}
	for _, r := range w.fullSync(t, tok) {
		d := r.Details
		if inv := r.Investment; inv != nil {
			d.Investment = finance.Investment{SecurityID: securities[inv.Security], Quantity: inv.Quantity, Price: inv.Price, Fees: inv.Fees}
		}
		if _, err := finance.NewTransaction(uuid.New(), uuid.New(), providerID, r.Status, d, now); err != nil {
			t.Fatalf("transaction %+v: %v", r, err)
		}
		kinds[d.Kind] += d.Amount.Amount().Sign()
	}
	// One sign convention: money out is negative, money in positive.
	for k, want := range map[finance.Kind]int{finance.KindPurchase: -1, finance.KindWithdrawal: -1, finance.KindBuy: -1,
		finance.KindDeposit: 1, finance.KindRefund: 1, finance.KindSell: 1, finance.KindDividend: 1, finance.KindInterest: 1} {
		if kinds[k] == 0 || (kinds[k] > 0) != (want > 0) {
			t.Errorf("%s amounts sum to sign %d, want them all of sign %d", k, kinds[k], want)
		}
	}
}

func TestAboutAYearOfHistoryEndingNow(t *testing.T) {
	w := newDataWorld(t)
	m := w.fullSync(t, w.grant(t, ""))
	var oldest, newest string
	for _, r := range m {
		if d := r.Details.Date.String(); oldest == "" || d < oldest {
			oldest = d
		}
		if d := r.Details.Date.String(); d > newest {
			newest = d
		}
	}
	now := w.clock.Now()
	if oldest != now.AddDate(-1, 0, 0).Format(time.DateOnly) || newest > now.Format(time.DateOnly) || len(m) < 1000 {
		t.Errorf("%d transactions from %s to %s, want a year up to %s", len(m), oldest, newest, now.Format(time.DateOnly))
	}
}

func TestLaterSyncsPostPendingModifyAndRemove(t *testing.T) {
	w := newDataWorld(t)
	tok := w.grant(t, "")
	held := w.fullSync(t, tok)
	resume := lastResume(w.loop(t, tok, nil))
	// The ledger is random per grant: sync every six hours until each kind of
	// change has shown up, which takes weeks, not the year allowed.
	var posted, tipped, modified, removed int
	for step := 0; step < 4*365 && (posted == 0 || tipped == 0 || modified == 0 || removed == 0); step++ {
		w.clock.Advance(day / 4)
		for _, p := range w.loop(t, tok, resume) {
			for _, r := range p.Modified {
				before := held[r.Details.InstitutionTransactionID]
				if before.Status == finance.TransactionPending && r.Status == finance.TransactionPosted {
					posted++
					if !before.Details.Amount.Equal(r.Details.Amount) {
						tipped++
					}
				} else {
					modified++
				}
			}
			for _, r := range p.Removed {
				if _, ok := held[r.InstitutionTransactionID]; !ok {
					t.Fatalf("removed %s, which was never added", r.InstitutionTransactionID)
				}
				removed++
			}
			for _, r := range p.Added {
				if _, ok := held[r.Details.InstitutionTransactionID]; ok {
					t.Fatalf("added %s twice", r.Details.InstitutionTransactionID)
				}
			}
			held.apply(p)
			resume = p.Resume
		}
	}
	if posted == 0 || tipped == 0 || modified == 0 || removed == 0 {
		t.Errorf("in a year: %d posted (%d with a new amount), %d modified, %d removed; want some of each",
			posted, tipped, modified, removed)
	}
	sameRecords(t, held, w.ledger(t, tok))
}

func TestResumingFromTheLastCommitLosesAndDuplicatesNothing(t *testing.T) {
	w := newDataWorld(t)
	tok := w.grant(t, "")
	held := mirror{}
	var committed []byte
	crashed := false
	for {
		p, err := w.c.Transactions(context.Background(), tok, committed)
		if err != nil {
			t.Fatal(err)
		}
		if p.HasMore && !crashed && len(held) > 0 {
			// The process dies before this page commits: its data and its
			// resume state are lost together.
			crashed = true
			continue
		}
		held.apply(p)
		committed = p.Resume
		if !p.HasMore {
			break
		}
	}
	if !crashed {
		t.Fatal("the first loop had too few pages to crash in")
	}
	sameRecords(t, held, w.ledger(t, tok))

	w.clock.Advance(3 * day)
	for _, p := range w.loop(t, tok, committed) {
		held.apply(p)
	}
	sameRecords(t, held, w.ledger(t, tok))
}

func TestALoopCoversUpToItsFirstPageEvenAsTimePasses(t *testing.T) {
	w := newDataWorld(t)
	tok := w.grant(t, "")
	first, err := w.c.Transactions(context.Background(), tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := w.ledger(t, tok)
	w.clock.Advance(2 * day)
	held := mirror{}
	held.apply(first)
	for _, p := range w.loop(t, tok, first.Resume) {
		held.apply(p)
	}
	sameRecords(t, held, want)
}

func TestLargeVariantServesExactly100000Transactions(t *testing.T) {
	w := newDataWorld(t)
	tok := w.grant(t, sandbox.UserLarge)
	m := w.fullSync(t, tok)
	sameRecords(t, m, w.ledger(t, tok))
	if len(m) != sandbox.LargeTransactions {
		t.Errorf("%d transactions, want %d", len(m), sandbox.LargeTransactions)
	}
}

func TestFailingUsersAnswerClassifiedErrors(t *testing.T) {
	w := newDataWorld(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for user, want := range map[string]error{
		sandbox.UserError:       domain.ErrProviderUnavailable,
		sandbox.UserRateLimited: domain.ErrProviderUnavailable,
		sandbox.UserReauth:      domain.ErrReauthorizationRequired,
		sandbox.UserSlow:        domain.ErrProviderTimeout,
	} {
		tok := w.grant(t, user)
		calls := map[string]func() error{
			"Accounts": func() error { _, err := w.c.Accounts(cancelled, tok); return err },
			"Holdings": func() error { _, err := w.c.Holdings(cancelled, tok); return err },
			"Transactions": func() error {
				_, err := w.c.Transactions(cancelled, tok, nil)
				return err
			},
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, want) {
				t.Errorf("%s as %s: %v, want %v", name, user, err, want)
			}
			var retry *providers.RetryAfterError
			if got := errors.As(err, &retry); got != (user == sandbox.UserRateLimited) ||
				got && retry.Delay != sandbox.RateLimitDelay {
				t.Errorf("%s as %s: retry-after %v, want one of %v only for %s", name, user, retry, sandbox.RateLimitDelay, sandbox.UserRateLimited)
			}
		}
	}
}

func TestPartialUserReportsTheBrokerageHoldingsFailureAlone(t *testing.T) {
	w := newDataWorld(t)
	tok := w.grant(t, sandbox.UserPartial)
	accounts, err := w.c.Accounts(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.c.Holdings(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Holdings) != 0 || len(got.Failures) != 1 ||
		accounts[3].Details.Type != finance.AccountInvestment ||
		got.Failures[0].InstitutionAccountID != accounts[3].Details.InstitutionAccountID ||
		!errors.Is(got.Failures[0].Err, domain.ErrProviderUnavailable) {
		t.Errorf("Holdings = %+v, want only the brokerage account's failure", got)
	}
	if len(w.fullSync(t, tok)) == 0 {
		t.Error("the partial user's transactions are still served")
	}
}

func TestGoodUserIgnoresACancelledContextBecauseItDoesNoIO(t *testing.T) {
	w := newDataWorld(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.c.Accounts(cancelled, w.grant(t, sandbox.UserGood)); err != nil {
		t.Errorf("Accounts: %v", err)
	}
}

func TestBadTokensHintsAndResumeStatesAreRefused(t *testing.T) {
	w := newDataWorld(t)
	res, _ := w.c.Begin(context.Background(), providers.BeginRequest{State: "st", UserID: uuid.New()})
	if got := get(t, res.AuthorizationURL+"&login_hint=nobody"); got.status != http.StatusBadRequest {
		t.Errorf("an unknown login_hint: %d, want 400", got.status)
	}
	tok := w.grant(t, "")
	if _, err := w.c.Transactions(context.Background(), tok, []byte("{not json")); !errors.Is(err, domain.ErrInvalidRequest) {
		t.Errorf("a garbled resume state: %v, want ErrInvalidRequest", err)
	}
	tok.AccessToken += "x"
	if _, err := w.c.Accounts(context.Background(), tok); !errors.Is(err, domain.ErrInvalidRequest) {
		t.Errorf("a tampered access token: %v, want ErrInvalidRequest", err)
	}
}

func BenchmarkLargeVariantFirstSync(b *testing.B) {
	w := newDataWorld(b)
	tok := w.grant(b, sandbox.UserLarge)
	for b.Loop() {
		var resume []byte
		for {
			p, err := w.c.Transactions(context.Background(), tok, resume)
			if err != nil {
				b.Fatal(err)
			}
			if resume = p.Resume; !p.HasMore {
				break
			}
		}
	}
}

// SANDBOX_TIME_OFFSET: a connector whose data clock runs four days ahead
// answers what an ordinary one answers four days later (its pending
// authorizations posted), while accepting the same tokens.
func TestDataTimeOffsetAnswersAsTheInstitutionWouldLater(t *testing.T) {
	w := newDataWorld(t)
	ahead := newWorld(t, w.clock, nil, func(c *sandbox.Config) {
		c.AccessTTL, c.RefreshTTL, c.DataTimeOffset = 1000*day, 1000*day, 4*day
	})
	tok := w.grant(t, "")
	now := w.fullSync(t, tok)
	later := ahead.fullSync(t, tok)
	posted := 0
	for id, r := range now {
		if l, ok := later[id]; ok && r.Status == finance.TransactionPending && l.Status == finance.TransactionPosted {
			posted++
		}
	}
	if posted == 0 {
		t.Error("no pending transaction of now is posted four days later")
	}
	w.clock.Advance(4 * day)
	sameRecords(t, later, w.fullSync(t, tok))
	if _, err := sandbox.New(sandbox.Config{PublicBaseURL: "http://localhost:8080", RedirectURL: redirectURL, Secret: secret,
		DataTimeOffset: -time.Hour}); err == nil {
		t.Error("a negative DataTimeOffset was accepted")
	}
}
