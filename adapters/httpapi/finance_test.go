package httpapi_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/financeseed"
)

// financeWorld is a service with two users' financial data, seeded through
// the finance Writes port as the sync engine stores it.
type financeWorld struct {
	h              *apitest.Harness
	seed           financeseed.Seeder
	ann, bob       string // access tokens
	checking, card *finance.Account
	bobs           *finance.Account
}

func newFinanceWorld(t *testing.T, opts apitest.Options) *financeWorld {
	t.Helper()
	h := apitest.New(t, opts)
	w := &financeWorld{h: h, ann: verifiedUser(t, h, "ann@example.com"), bob: verifiedUser(t, h, "bob@example.com")}
	annP, _ := createProvider(t, h, w.ann, "Ann's bank")
	bobP, _ := createProvider(t, h, w.bob, "Bob's bank")
	w.seed = financeseed.Seeder{T: t, Writes: h.App.Finance, Now: time.Now().UTC()}
	// A connector handing over a full account number keeps only its last four.
	w.checking = w.seed.Account(uuid.MustParse(annP.ID), finance.AccountDetails{InstitutionAccountID: "inst-acct-7f3a",
		Name: "Everyday Checking", Mask: "000123454321", Subtype: "checking"})
	w.card = w.seed.Account(uuid.MustParse(annP.ID), finance.AccountDetails{InstitutionAccountID: "inst-card-99",
		Name: "Sapphire Card", Type: finance.AccountCredit})
	w.bobs = w.seed.Account(uuid.MustParse(bobP.ID), finance.AccountDetails{InstitutionAccountID: "inst-bob-1", Name: "Bob's Checking"})
	return w
}

func (w *financeWorld) get(t *testing.T, token, path string, header map[string]string) *apitest.Response {
	t.Helper()
	return w.h.Do(apitest.Request{Method: "GET", Path: path, Token: token, Header: header})
}

// object decodes a JSON object keeping numbers as json.Number, so a test can
// tell a string amount from a numeric one.
func object(t *testing.T, body []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return m
}

type accountBody struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Mask    *string `json:"mask"`
	Type    string  `json:"type"`
	Balance *struct {
		Current   string  `json:"current"`
		Available *string `json:"available"`
		Currency  string  `json:"currency"`
	} `json:"balance"`
}

type accountListBody struct {
	Items      []accountBody `json:"items"`
	Total      *int64        `json:"total"`
	NextCursor *string       `json:"next_cursor"`
	HasMore    *bool         `json:"has_more"`
}

func TestAccountsAPI(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testAccountsAPI)
}

func testAccountsAPI(t *testing.T, opts apitest.Options) {
	w := newFinanceWorld(t, opts)
	w.seed.Balance(w.checking, "1520.70", "1490.00", time.Now().Add(-time.Hour).UTC())

	t.Run("offset mode: the caller's accounts with balances as strings, masked, never institution ids", func(t *testing.T) {
		res := w.get(t, w.ann, "/api/v1/accounts", nil).Expect(t, 200)
		var list accountListBody
		res.JSON(t, &list)
		if list.Total == nil || *list.Total != 2 || len(list.Items) != 2 || res.Header.Get("X-Total-Count") != "2" {
			t.Fatalf("list = %s", res.Body)
		}
		for _, secret := range []string{"inst-acct-7f3a", "inst-card-99", "000123454321", "inst-bob-1", "Bob"} {
			if strings.Contains(string(res.Body), secret) {
				t.Errorf("the list exposes %q: %s", secret, res.Body)
			}
		}
		a := list.Items[slices.IndexFunc(list.Items, func(a accountBody) bool { return a.ID == w.checking.ID().String() })]
		if a.Mask == nil || *a.Mask != "4321" || a.Balance == nil || a.Balance.Current != "1520.70" || a.Balance.Currency != "USD" {
			t.Errorf("checking = %+v", a)
		}
		bal := object(t, res.Body)["items"].([]any)
		for _, item := range bal {
			if b, ok := item.(map[string]any)["balance"].(map[string]any); ok {
				if _, isString := b["current"].(string); !isString {
					t.Errorf("balance.current is not a string: %#v", b["current"])
				}
			}
		}
	})
	t.Run("cursor mode walks every account once", func(t *testing.T) {
		var seen []string
		path := "/api/v1/accounts?limit=1"
		for range 3 {
			var page accountListBody
			w.get(t, w.ann, path, nil).Expect(t, 200).JSON(t, &page)
			for _, a := range page.Items {
				seen = append(seen, a.ID)
			}
			if page.HasMore == nil || !*page.HasMore {
				break
			}
			path = "/api/v1/accounts?limit=1&cursor=" + url.QueryEscape(*page.NextCursor)
		}
		if len(seen) != 2 || seen[0] == seen[1] {
			t.Errorf("walked %v", seen)
		}
	})
	t.Run("filters", func(t *testing.T) {
		for query, want := range map[string]string{
			"type=credit":     w.card.ID().String(),
			"search=EVERYDAY": w.checking.ID().String(),
			"status=open&provider_id=" + w.checking.ProviderID().String() + "&type=depository": w.checking.ID().String(),
		} {
			var list accountListBody
			w.get(t, w.ann, "/api/v1/accounts?"+query, nil).Expect(t, 200).JSON(t, &list)
			if len(list.Items) != 1 || list.Items[0].ID != want {
				t.Errorf("%s: %+v", query, list.Items)
			}
		}
	})
	t.Run("GET one: ETag, 304, a new balance changes the ETag", func(t *testing.T) {
		path := "/api/v1/accounts/" + w.checking.ID().String()
		res := w.get(t, w.ann, path, nil).Expect(t, 200)
		etag := res.Header.Get("ETag")
		if etag == "" || res.Header.Get("Cache-Control") != "private, no-cache" {
			t.Fatalf("headers = %v", res.Header)
		}
		w.get(t, w.ann, path, map[string]string{"If-None-Match": etag}).Expect(t, 304)
		w.seed.Balance(w.checking, "1400.00", "", time.Now().UTC())
		res = w.get(t, w.ann, path, map[string]string{"If-None-Match": etag}).Expect(t, 200)
		var a accountBody
		res.JSON(t, &a)
		if res.Header.Get("ETag") == etag || a.Balance == nil || a.Balance.Current != "1400.00" || a.Balance.Available != nil {
			t.Errorf("after a new balance: ETag %s (was %s), %s", res.Header.Get("ETag"), etag, res.Body)
		}
	})
	t.Run("404 for another user's account and an unknown id", func(t *testing.T) {
		for _, id := range []string{w.bobs.ID().String(), uuid.NewString()} {
			w.get(t, w.ann, "/api/v1/accounts/"+id, nil).Expect(t, 404)
			w.get(t, w.ann, "/api/v1/accounts/"+id+"/balances", nil).Expect(t, 404)
		}
	})
	t.Run("422 naming each bad parameter", func(t *testing.T) {
		for query, field := range map[string]string{
			"type=savings":        "type",
			"status=gone":         "status",
			"provider_id=nope":    "provider_id",
			"per_page=101":        "per_page",
			"limit=0":             "limit",
			"cursor=abc.def":      "cursor",
			"page=2&limit=5":      "page",
			"sort=name":           "sort",
			"search=":             "search",
			"provider=" + "x":     "provider",
			"cursor=" + forged(t): "cursor",
		} {
			expectField(t, w.get(t, w.ann, "/api/v1/accounts?"+query, nil), field)
		}
	})
}

func TestBalanceHistoryAPI(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testBalanceHistoryAPI)
}

func testBalanceHistoryAPI(t *testing.T, opts apitest.Options) {
	w := newFinanceWorld(t, opts)
	for d := 1; d <= 3; d++ {
		w.seed.Balance(w.checking, "10"+string(rune('0'+d))+".00", "", time.Date(2030, time.March, d, 23, 0, 0, 0, time.UTC))
	}
	type history struct {
		Items []struct {
			Current string    `json:"current"`
			AsOf    time.Time `json:"as_of"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
		HasMore    bool    `json:"has_more"`
	}
	base := "/api/v1/accounts/" + w.checking.ID().String() + "/balances"
	var page history
	w.get(t, w.ann, base+"?limit=1&from=2030-03-02", nil).Expect(t, 200).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].Current != "103.00" || !page.HasMore {
		t.Fatalf("first page = %+v", page)
	}
	w.get(t, w.ann, base+"?limit=1&from=2030-03-02&cursor="+url.QueryEscape(*page.NextCursor), nil).Expect(t, 200).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].Current != "102.00" || page.HasMore || page.NextCursor != nil {
		t.Fatalf("second page = %+v (the 1st of March is before from)", page)
	}
	w.get(t, w.ann, base+"?to=2030-03-01", nil).Expect(t, 200).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].Current != "101.00" {
		t.Errorf("to=2030-03-01 = %+v", page)
	}
	w.get(t, w.ann, base+"?from=0001-01-01&to=9999-12-31", nil).Expect(t, 200).JSON(t, &page)
	if len(page.Items) != 3 {
		t.Errorf("the widest range = %+v", page)
	}
	for query, field := range map[string]string{"from=2030-02-30": "from", "to=yesterday": "to",
		"from=2030-03-03&to=2030-03-01": "from", "limit=101": "limit", "cursor=" + forged(t): "cursor"} {
		expectField(t, w.get(t, w.ann, base+"?"+query, nil), field)
	}
	// A cursor is bound to its query: another range, or another account, is 422.
	first := history{}
	w.get(t, w.ann, base+"?limit=1", nil).Expect(t, 200).JSON(t, &first)
	expectField(t, w.get(t, w.ann, base+"?limit=1&from=2030-03-01&cursor="+url.QueryEscape(*first.NextCursor), nil), "cursor")
}

type transactionBody struct {
	ID          string  `json:"id"`
	AccountID   string  `json:"account_id"`
	Amount      string  `json:"amount"`
	Currency    string  `json:"currency"`
	Date        string  `json:"date"`
	PostedDate  *string `json:"posted_date"`
	Description string  `json:"description"`
	Status      string  `json:"status"`
	Kind        string  `json:"kind"`
}

type transactionListBody struct {
	Items      []transactionBody `json:"items"`
	NextCursor *string           `json:"next_cursor"`
	HasMore    bool              `json:"has_more"`
}

func (w *financeWorld) transactions(t *testing.T, token, query string) transactionListBody {
	t.Helper()
	var list transactionListBody
	w.get(t, token, "/api/v1/transactions?"+query, nil).Expect(t, 200).JSON(t, &list)
	return list
}

func descriptions(l transactionListBody) []string {
	out := make([]string, len(l.Items))
	for i, tr := range l.Items {
		out[i] = tr.Description
	}
	return out
}

func TestTransactionsAPI(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testTransactionsAPI)
}

func testTransactionsAPI(t *testing.T, opts apitest.Options) {
	w := newFinanceWorld(t, opts)
	txs := w.seed.Transactions(w.checking,
		financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Coffee", Merchant: "Blue Bottle", Kind: finance.KindPurchase},
		financeseed.Tx{Amount: "-42.51", Date: "2030-03-02", Description: "Tea", Kind: finance.KindPurchase},
		financeseed.Tx{Amount: "2500.00", Date: "2030-03-03", Description: "Salary", Kind: finance.KindDeposit},
		financeseed.Tx{Amount: "-9.99", Date: "2030-03-04", Description: "Streaming", Pending: true})
	w.seed.Transactions(w.card, financeseed.Tx{Amount: "-120.00", Date: "2030-03-02", Description: "Groceries", Kind: finance.KindPurchase})
	bobs := w.seed.Transactions(w.bobs, financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Bob's coffee"})

	t.Run("newest first, amounts as strings with their currency, only the caller's", func(t *testing.T) {
		res := w.get(t, w.ann, "/api/v1/transactions", nil).Expect(t, 200)
		var list transactionListBody
		res.JSON(t, &list)
		// Ties on a date are broken by id, descending: the groceries were stored last.
		want := []string{"Streaming", "Salary", "Groceries", "Tea", "Coffee"}
		if got := descriptions(list); !slices.Equal(got, want) || list.HasMore || list.NextCursor != nil {
			t.Fatalf("list = %v", got)
		}
		for _, item := range object(t, res.Body)["items"].([]any) {
			m := item.(map[string]any)
			if _, ok := m["amount"].(string); !ok || m["currency"] != "USD" {
				t.Errorf("amount %#v, currency %#v: want a decimal string and USD", m["amount"], m["currency"])
			}
			if _, present := m["posted_date"]; !present {
				t.Errorf("posted_date is absent instead of null: %v", m)
			}
		}
	})
	t.Run("filters; amount bounds compare by value", func(t *testing.T) {
		for query, want := range map[string][]string{
			"amount_min=-42.5&amount_max=-42.5":                {"Coffee"},
			"amount_max=-42.5&amount_min=-42.51":               {"Tea", "Coffee"},
			"amount_min=0":                                     {"Salary"},
			"account_id=" + w.card.ID().String():               {"Groceries"},
			"provider_id=" + w.checking.ProviderID().String():  {"Streaming", "Salary", "Tea", "Groceries", "Coffee"},
			"status=pending":                                   {"Streaming"},
			"kind=deposit":                                     {"Salary"},
			"date_from=2030-03-02&date_to=2030-03-03":          {"Salary", "Tea", "Groceries"},
			"search=blue":                                      {"Coffee"},
			"search=TEA":                                       {"Tea"},
			"account_id=" + w.bobs.ID().String():               {},
			"provider_id=" + w.bobs.ProviderID().String():      {},
			"date_from=2030-03-02&date_to=2030-03-02&kind=fee": {},
			"date_from=0001-01-01&date_to=9999-12-31&amount_min=-999999999999999.99999999&amount_max=999999999999999.99999999": {
				"Streaming", "Salary", "Tea", "Groceries", "Coffee"},
		} {
			got := descriptions(w.transactions(t, w.ann, query))
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: got %v, want %v", query, got, want)
			}
		}
	})
	t.Run("cursor pages walk every transaction once, in order", func(t *testing.T) {
		var got []string
		query := "limit=2"
		for range 5 {
			page := w.transactions(t, w.ann, query)
			got = append(got, descriptions(page)...)
			if !page.HasMore {
				break
			}
			query = "limit=2&cursor=" + url.QueryEscape(*page.NextCursor)
		}
		all := descriptions(w.transactions(t, w.ann, ""))
		if !slices.Equal(got, all) {
			t.Errorf("pages %v, one list %v", got, all)
		}
	})
	t.Run("fields narrows the list and the single GET", func(t *testing.T) {
		res := w.get(t, w.ann, "/api/v1/transactions?limit=1&fields=amount,currency", nil).Expect(t, 200)
		item := object(t, res.Body)["items"].([]any)[0].(map[string]any)
		if len(item) != 3 || item["id"] == nil || item["amount"] == nil || item["currency"] == nil {
			t.Errorf("narrowed item = %v", item)
		}
		res = w.get(t, w.ann, "/api/v1/transactions/"+txs[0].ID().String()+"?fields=amount", nil).Expect(t, 200)
		if m := object(t, res.Body); len(m) != 2 || m["amount"] != "-42.50" {
			t.Errorf("narrowed transaction = %v", m)
		}
	})
	t.Run("GET one: ETag and Last-Modified, 304, 404 for foreign, unknown and removed", func(t *testing.T) {
		path := "/api/v1/transactions/" + txs[0].ID().String()
		waitForTheNextSecond() // Last-Modified is sent once the change's second is over
		res := w.get(t, w.ann, path, nil).Expect(t, 200)
		var tr transactionBody
		res.JSON(t, &tr)
		if tr.Amount != "-42.50" || tr.Date != "2030-03-01" || tr.AccountID != w.checking.ID().String() || tr.PostedDate != nil {
			t.Errorf("transaction = %s", res.Body)
		}
		w.get(t, w.ann, path, map[string]string{"If-None-Match": res.Header.Get("ETag")}).Expect(t, 304)
		w.get(t, w.ann, path, map[string]string{"If-Modified-Since": res.Header.Get("Last-Modified")}).Expect(t, 304)
		w.get(t, w.ann, path+"?fields=amount", map[string]string{"If-None-Match": res.Header.Get("ETag")}).Expect(t, 200)
		w.get(t, w.ann, "/api/v1/transactions/"+bobs[0].ID().String(), nil).Expect(t, 404)
		w.get(t, w.ann, "/api/v1/transactions/"+uuid.NewString(), nil).Expect(t, 404)
		w.get(t, w.bob, path, nil).Expect(t, 404)
	})
	t.Run("422 naming each bad parameter", func(t *testing.T) {
		first := w.transactions(t, w.ann, "limit=1")
		for query, field := range map[string]string{
			"date_from=2030-02-30":                    "date_from",
			"date_to=03/01/2030":                      "date_to",
			"date_from=2030-03-03&date_to=2030-03-01": "date_from",
			"amount_min=1e3":                          "amount_min",
			"amount_max=abc":                          "amount_max",
			"amount_min=+5":                           "amount_min",
			"amount_min=1.123456789":                  "amount_min",
			"amount_max=1000000000000000":             "amount_max",
			"date_to=0000-12-31":                      "date_to",
			"amount_min=10&amount_max=-10":            "amount_min",
			"status=settled":                          "status",
			"kind=gift":                               "kind",
			"account_id=42":                           "account_id",
			"fields=id,secret":                        "fields",
			"limit=101":                               "limit",
			"page=1":                                  "page",
			"amount=5":                                "amount",
			"cursor=" + forged(t):                     "cursor",
			// A cursor continues only the query it came from.
			"limit=1&kind=purchase&cursor=" + url.QueryEscape(*first.NextCursor): "cursor",
		} {
			expectField(t, w.get(t, w.ann, "/api/v1/transactions?"+query, nil), field)
		}
		expectField(t, w.get(t, w.bob, "/api/v1/transactions?limit=1&cursor="+url.QueryEscape(*first.NextCursor), nil), "cursor")
		// Nor does one list's cursor open another's.
		for _, path := range []string{"/api/v1/accounts?limit=1", "/api/v1/transactions/changes?limit=1",
			"/api/v1/accounts/" + w.checking.ID().String() + "/balances?limit=1", "/api/v1/providers?limit=1"} {
			expectField(t, w.get(t, w.ann, path+"&cursor="+url.QueryEscape(*first.NextCursor), nil), "cursor")
		}
		expectField(t, w.get(t, w.ann, "/api/v1/transactions/"+txs[0].ID().String()+"?fields=iban", nil), "fields")
	})
	t.Run("a removed transaction leaves lists and is 404", func(t *testing.T) {
		w.seed.Remove(txs[1])
		if got := descriptions(w.transactions(t, w.ann, "account_id="+w.checking.ID().String())); slices.Contains(got, "Tea") {
			t.Errorf("the removed transaction is still listed: %v", got)
		}
		w.get(t, w.ann, "/api/v1/transactions/"+txs[1].ID().String(), nil).Expect(t, 404)
	})
}

type changesBody struct {
	Added    []transactionBody `json:"added"`
	Modified []transactionBody `json:"modified"`
	Removed  []struct {
		ID        string `json:"id"`
		AccountID string `json:"account_id"`
	} `json:"removed"`
	NextCursor string `json:"next_cursor"`
	HasMore    bool   `json:"has_more"`
}

func TestTransactionChangesAPI(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testTransactionChangesAPI)
}

func testTransactionChangesAPI(t *testing.T, opts apitest.Options) {
	w := newFinanceWorld(t, opts)
	txs := w.seed.Transactions(w.checking,
		financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Coffee"},
		financeseed.Tx{Amount: "-5.00", Date: "2030-03-02", Description: "Pending tip", Pending: true},
		financeseed.Tx{Amount: "-1.00", Date: "2030-03-03", Description: "Gum"})
	w.seed.Transactions(w.bobs, financeseed.Tx{Amount: "-3.00", Date: "2030-03-01", Description: "Bob's"})
	changes := func(t *testing.T, token, cursor string, limit int) changesBody {
		t.Helper()
		q := url.Values{}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if limit > 0 {
			q.Set("limit", string(rune('0'+limit)))
		}
		var page changesBody
		res := w.get(t, token, "/api/v1/transactions/changes?"+q.Encode(), nil).Expect(t, 200)
		res.JSON(t, &page)
		if m := object(t, res.Body); m["added"] == nil || m["modified"] == nil || m["removed"] == nil {
			t.Errorf("a list is null rather than empty: %s", res.Body)
		}
		return page
	}

	first := changes(t, w.ann, "", 2)
	if len(first.Added) != 2 || !first.HasMore || first.NextCursor == "" {
		t.Fatalf("first page = %+v", first)
	}
	rest := changes(t, w.ann, first.NextCursor, 0)
	if len(rest.Added) != 1 || rest.HasMore || rest.Added[0].Description != "Gum" {
		t.Fatalf("second page = %+v", rest)
	}
	idle := changes(t, w.ann, rest.NextCursor, 0)
	if len(idle.Added)+len(idle.Modified)+len(idle.Removed) != 0 || idle.HasMore || idle.NextCursor == "" {
		t.Fatalf("caught up = %+v", idle)
	}

	w.seed.Remove(txs[0])
	w.seed.Change(txs[1], func(tr *finance.Transaction) error {
		d := tr.Details()
		d.Amount = financeseed.Amount(t, "-6.50", "USD")
		return tr.Post(d, time.Now())
	})
	next := changes(t, w.ann, idle.NextCursor, 0)
	if len(next.Removed) != 1 || next.Removed[0].ID != txs[0].ID().String() || next.Removed[0].AccountID != w.checking.ID().String() {
		t.Errorf("removed = %+v", next.Removed)
	}
	if len(next.Modified) != 1 || next.Modified[0].ID != txs[1].ID().String() || next.Modified[0].Status != "posted" || next.Modified[0].Amount != "-6.50" {
		t.Errorf("modified = %+v", next.Modified)
	}
	if len(next.Added) != 0 {
		t.Errorf("added = %+v", next.Added)
	}
	// From the beginning, the removed transaction is removed and the posted
	// one added: a new client mirrors the current state.
	all := changes(t, w.ann, "", 0)
	if len(all.Added) != 2 || len(all.Removed) != 1 || len(all.Modified) != 0 {
		t.Errorf("from the beginning = %+v", all)
	}
	if bobs := changes(t, w.bob, "", 0); len(bobs.Added) != 1 || bobs.Added[0].Description != "Bob's" {
		t.Errorf("Bob's feed = %+v", bobs)
	}
	expectField(t, w.get(t, w.bob, "/api/v1/transactions/changes?cursor="+url.QueryEscape(first.NextCursor), nil), "cursor")
	expectField(t, w.get(t, w.ann, "/api/v1/transactions/changes?cursor="+forged(t), nil), "cursor")
	expectField(t, w.get(t, w.ann, "/api/v1/transactions/changes?limit=101", nil), "limit")
}

// forged is a well-formed cursor nobody signed.
func forged(t *testing.T) string {
	t.Helper()
	return "AQ4xMjM0NTY3ODkwMTI.AAAAAAAAAAAAAAAAAAAAAA"
}

// expectField checks res is a 422 whose errors name field.
func expectField(t *testing.T, res *apitest.Response, field string) {
	t.Helper()
	if res.Status != 422 {
		t.Errorf("%s: status %d, want 422; body %s", field, res.Status, res.Body)
		return
	}
	p := res.Problem(t)
	for _, e := range p.Errors {
		if e.Field == field {
			return
		}
	}
	t.Errorf("422 names %+v, not %q", p.Errors, field)
}
