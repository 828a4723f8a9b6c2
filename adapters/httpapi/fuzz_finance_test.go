package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/financeseed"
)

// transactionListParameters are the documented query parameters of
// GET /transactions.
var transactionListParameters = []string{"cursor", "limit", "account_id", "provider_id", "status", "date_from", "date_to",
	"amount_min", "amount_max", "kind", "search", "fields"}

// FuzzListTransactionsQuery sends arbitrary query strings to
// GET /api/v1/transactions (filters, amounts, dates, fields, cursors). The
// answer is a documented 200 listing only the caller's transactions, sorted
// -date,-id and within any amount bounds given, or a 422 whose errors name
// documented parameters; never anything else.
func FuzzListTransactionsQuery(f *testing.F) {
	fx := newFuzzFixture(f)
	seed := financeseed.Seeder{T: f, Writes: fx.h.App.Finance, Now: time.Now().UTC()}
	acct := seed.Account(uuid.MustParse(fx.providers[0]), finance.AccountDetails{InstitutionAccountID: "fuzz-1", Name: "Checking"})
	mine := map[string]bool{}
	for _, tr := range seed.Transactions(acct,
		financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Coffee", Merchant: "Blue Bottle", Kind: finance.KindPurchase},
		financeseed.Tx{Amount: "-42.51", Date: "2030-03-01", Description: "Tea"},
		financeseed.Tx{Amount: "0.0001", Date: "2030-03-02", Description: "Interest", Kind: finance.KindInterest},
		financeseed.Tx{Amount: "2500.00", Date: "2029-12-31", Description: "Salary 100%_", Kind: finance.KindDeposit},
		financeseed.Tx{Amount: "-9.99", Date: "2030-03-04", Description: "Streaming", Pending: true}) {
		mine[tr.ID().String()] = true
	}
	// Another user's transactions, which must never be listed.
	other := newFuzzFixtureUser(f, fx.h, "stranger@example.com")
	seed.Transactions(seed.Account(other, finance.AccountDetails{InstitutionAccountID: "fuzz-2", Name: "Theirs"}),
		financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Coffee"})
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	fx.h.Do(apitest.Request{Method: "GET", Path: "/api/v1/transactions?limit=1", Token: fx.token}).Expect(f, 200).JSON(f, &page)
	f.Add("limit=1&cursor=" + url.QueryEscape(page.NextCursor))
	f.Add("limit=1&kind=deposit&cursor=" + url.QueryEscape(page.NextCursor))
	f.Add("amount_min=-42.5&amount_max=-42.5")
	f.Add("amount_min=-0&amount_max=0.00010000")
	f.Add("date_from=2030-03-01&date_to=2030-03-01&fields=id,amount")
	f.Add("search=%25_&status=pending&account_id=" + acct.ID().String())
	f.Fuzz(func(t *testing.T, raw string) {
		values, _ := url.ParseQuery(raw)
		path := "/api/v1/transactions"
		if q := values.Encode(); q != "" {
			path += "?" + q
		}
		res := fx.h.For(t).Do(apitest.Request{Method: "GET", Path: path, Token: fx.token})
		notServerError(t, path, res)
		switch res.Status {
		case http.StatusOK:
			checkTransactionPage(t, path, res, mine, values)
		case http.StatusUnprocessableEntity:
			p := res.Problem(t)
			if p.Code != "VALIDATION_ERROR" || len(p.Errors) == 0 {
				t.Fatalf("%s -> 422 without field errors: %s", path, res.Body)
			}
			for _, e := range p.Errors {
				if e.Code != "unknown_parameter" && !slices.Contains(transactionListParameters, e.Field) {
					t.Fatalf("%s -> 422 names %q, which is not a parameter of the operation: %s", path, e.Field, res.Body)
				}
			}
		default:
			t.Fatalf("%s -> %d: %s", path, res.Status, res.Body)
		}
	})
}

// checkTransactionPage checks a 200 page: only the caller's transactions,
// sorted -date,-id, within the amount bounds the query gave.
func checkTransactionPage(t *testing.T, path string, res *apitest.Response, mine map[string]bool, values url.Values) {
	t.Helper()
	var body struct {
		Items []struct {
			ID     string `json:"id"`
			Date   string `json:"date"`
			Amount string `json:"amount"`
		} `json:"items"`
	}
	res.JSON(t, &body)
	bound := func(name string) *money.Decimal {
		d, err := money.ParseQuantity(name, values.Get(name))
		if err != nil {
			return nil
		}
		return &d
	}
	lo, hi := bound("amount_min"), bound("amount_max")
	for i, it := range body.Items {
		if !mine[it.ID] {
			t.Fatalf("%s listed %s, which is not the caller's", path, it.ID)
		}
		if i > 0 && it.Date != "" && body.Items[i-1].Date != "" {
			prev := body.Items[i-1]
			if prev.Date < it.Date || prev.Date == it.Date && prev.ID < it.ID {
				t.Fatalf("%s: %v is not sorted -date,-id", path, body.Items)
			}
		}
		if it.Amount == "" {
			continue
		}
		amount, err := money.ParseQuantity("amount", it.Amount)
		if err != nil {
			t.Fatalf("%s: amount %q: %v", path, it.Amount, err)
		}
		if lo != nil && amount.Cmp(*lo) < 0 || hi != nil && amount.Cmp(*hi) > 0 {
			t.Fatalf("%s listed an amount of %s, outside [%v, %v]", path, it.Amount, lo, hi)
		}
	}
}

// newFuzzFixtureUser registers and verifies another user and creates a
// provider of theirs, returning its id.
func newFuzzFixtureUser(f *testing.F, h *apitest.Harness, email string) uuid.UUID {
	f.Helper()
	const password = "another fuzzing passphrase"
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: map[string]any{"email": email, "password": password, "name": "Other"}}).Expect(f, 201)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": h.Mail.LastToken(f, email, "Verify")}}).Expect(f, 200)
	var grant struct {
		AccessToken string `json:"access_token"`
	}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": email, "password": password}}).Expect(f, 201).JSON(f, &grant)
	var p struct {
		ID uuid.UUID `json:"id"`
	}
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers", Token: grant.AccessToken, Body: map[string]any{"provider_key": "sandbox", "alias": "Theirs"}}).Expect(f, 201).JSON(f, &p)
	return p.ID
}
