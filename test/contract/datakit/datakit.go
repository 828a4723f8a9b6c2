// Package datakit is the contract every providers.DataConnector must pass. A
// connector package runs it from a test against a fake of its institution
// (or, for the sandbox, against its own generated institution):
//
//	func TestDataContract(t *testing.T) {
//		datakit.Run(t, datakit.Harness{
//			New: func(t *testing.T) (providers.DataConnector, providers.Tokens) { ... },
//		})
//	}
//
// The kit checks the promises the sync engine relies on whatever the
// institution: every record builds a valid domain entity, holdings and
// transactions name accounts and securities the answers define, and resuming a
// loop from the state committed with the last stored page neither loses nor
// duplicates a transaction.
package datakit

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/finance"
)

// Harness connects the kit to one data connector.
type Harness struct {
	// New returns the connector under test and the tokens of a grant whose
	// transaction history takes more than one page, at a fixed instant.
	New func(t *testing.T) (providers.DataConnector, providers.Tokens)
}

// Run runs every check of the contract as a subtest.
func Run(t *testing.T, h Harness) {
	for name, check := range map[string]func(*testing.T, Harness){
		"AccountsAreValid":             accountsAreValid,
		"HoldingsAreValid":             holdingsAreValid,
		"TransactionsAreValid":         transactionsAreValid,
		"ResumeLosesAndRepeatsNothing": resumeLosesAndRepeatsNothing,
	} {
		t.Run(name, func(t *testing.T) { check(t, h) })
	}
}

var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// accountIDs lists the grant's accounts after checking each builds a valid
// account and balance.
func accountIDs(t *testing.T, c providers.DataConnector, tok providers.Tokens) map[string]bool {
	t.Helper()
	accounts, err := c.Accounts(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, a := range accounts {
		acc, err := finance.NewAccount(uuid.New(), uuid.New(), a.Details, now)
		if err != nil {
			t.Fatalf("account %+v: %v", a.Details, err)
		}
		b := a.Balance
		if _, err := finance.NewBalance(acc.ID(), b.Current, b.Available, b.Limit, b.AsOf); err != nil {
			t.Errorf("balance of %s: %v", a.Details.InstitutionAccountID, err)
		}
		if ids[acc.InstitutionAccountID()] {
			t.Errorf("account %s listed twice", acc.InstitutionAccountID())
		}
		ids[acc.InstitutionAccountID()] = true
	}
	if len(ids) == 0 {
		t.Fatal("the grant has no accounts")
	}
	return ids
}

func accountsAreValid(t *testing.T, h Harness) {
	c, tok := h.New(t)
	accountIDs(t, c, tok)
}

// securities checks that each security is valid and listed once, and returns
// an id for each.
func securities(t *testing.T, list []finance.SecurityDetails) map[finance.SecurityKey]uuid.UUID {
	t.Helper()
	ids := map[finance.SecurityKey]uuid.UUID{}
	for _, d := range list {
		s, err := finance.NewSecurity(uuid.New(), uuid.New(), d, now)
		if err != nil {
			t.Fatalf("security %+v: %v", d, err)
		}
		if _, twice := ids[s.Key()]; twice {
			t.Errorf("security %v listed twice", s.Key())
		}
		ids[s.Key()] = s.ID()
	}
	return ids
}

func holdingsAreValid(t *testing.T, h Harness) {
	c, tok := h.New(t)
	accounts := accountIDs(t, c, tok)
	answer, err := c.Holdings(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	secs := securities(t, answer.Securities)
	for _, f := range answer.Failures {
		if !accounts[f.InstitutionAccountID] || f.Err == nil {
			t.Errorf("failure %+v names no account or no error", f)
		}
	}
	for _, r := range answer.Holdings {
		id, ok := secs[r.Security]
		if !ok || !accounts[r.InstitutionAccountID] {
			t.Fatalf("holding %+v names a security or an account the answers do not define", r)
		}
		if slices.ContainsFunc(answer.Failures, func(f providers.AccountFailure) bool {
			return f.InstitutionAccountID == r.InstitutionAccountID
		}) {
			t.Errorf("account %s is both answered and failed", r.InstitutionAccountID)
		}
		d := finance.HoldingDetails{SecurityID: id, Quantity: r.Quantity, Price: r.Price, PriceAsOf: r.PriceAsOf,
			MarketValue: r.MarketValue, CostBasis: r.CostBasis, AsOf: r.AsOf}
		if _, err := finance.NewHolding(uuid.New(), uuid.New(), d, now); err != nil {
			t.Errorf("holding %+v: %v", r, err)
		}
	}
}

func transactionsAreValid(t *testing.T, h Harness) {
	c, tok := h.New(t)
	accounts := accountIDs(t, c, tok)
	for _, p := range loop(t, c, tok, nil) {
		secs := securities(t, p.Securities)
		for _, r := range slices.Concat(p.Added, p.Modified) {
			if !accounts[r.InstitutionAccountID] {
				t.Fatalf("transaction %s names an account Accounts does not list", r.Details.InstitutionTransactionID)
			}
			d := r.Details
			if !d.Investment.IsZero() {
				t.Fatalf("transaction %s sets Details.Investment; investment activity goes in Investment", d.InstitutionTransactionID)
			}
			if inv := r.Investment; inv != nil {
				id, ok := secs[inv.Security]
				if !ok {
					t.Fatalf("transaction %s names a security its page does not describe", d.InstitutionTransactionID)
				}
				d.Investment = finance.Investment{SecurityID: id, Quantity: inv.Quantity, Price: inv.Price, Fees: inv.Fees}
			}
			if _, err := finance.NewTransaction(uuid.New(), uuid.New(), uuid.New(), r.Status, d, now); err != nil {
				t.Fatalf("transaction %+v: %v", r, err)
			}
		}
	}
}

// resumeLosesAndRepeatsNothing crashes once: a page is fetched but neither
// its data nor its resume state is committed. Resuming from the last commit
// must rebuild what an uninterrupted loop delivers, and no page after the
// crash may add what was already added.
func resumeLosesAndRepeatsNothing(t *testing.T, h Harness) {
	c, tok := h.New(t)
	want := mirror{}
	pages := loop(t, c, tok, nil)
	if len(pages) < 2 {
		t.Fatal("the harness's grant must take more than one page")
	}
	for _, p := range pages {
		if err := want.apply(p); err != nil {
			t.Fatal(err)
		}
	}
	got := mirror{}
	if err := got.apply(pages[0]); err != nil {
		t.Fatal(err)
	}
	// pages[1] is lost with the crash; the loop resumes after pages[0].
	for _, p := range loop(t, c, tok, pages[0].Resume) {
		if err := got.apply(p); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("after the crash: %d transactions, want %d", len(got), len(want))
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || g.Status != w.Status || !g.Details.Amount.Equal(w.Details.Amount) {
			t.Fatalf("after the crash, %s = %+v, want %+v", id, g, w)
		}
	}
}

// maxPages bounds a loop, so a connector that never ends one (it ignores its
// resume state) fails instead of running forever.
const maxPages = 10_000

// loop walks one sync loop from resume to its end.
func loop(t *testing.T, c providers.DataConnector, tok providers.Tokens, resume []byte) []providers.TransactionPage {
	t.Helper()
	var pages []providers.TransactionPage
	for len(pages) < maxPages {
		p, err := c.Transactions(context.Background(), tok, resume)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		if resume = p.Resume; !p.HasMore {
			return pages
		}
	}
	t.Fatalf("the loop did not end within %d pages", maxPages)
	return nil
}

// mirror is what the engine holds after applying pages, keyed by account and
// institution transaction id.
type mirror map[[2]string]providers.TransactionRecord

type duplicateError [2]string

func (e duplicateError) Error() string {
	return "transaction " + e[1] + " of account " + e[0] + " added twice"
}

func (m mirror) apply(p providers.TransactionPage) error {
	for _, r := range p.Added {
		k := [2]string{r.InstitutionAccountID, r.Details.InstitutionTransactionID}
		if _, ok := m[k]; ok {
			return duplicateError(k)
		}
		m[k] = r
	}
	for _, r := range p.Modified {
		m[[2]string{r.InstitutionAccountID, r.Details.InstitutionTransactionID}] = r
	}
	for _, r := range p.Removed {
		delete(m, [2]string{r.InstitutionAccountID, r.InstitutionTransactionID})
	}
	return nil
}
