package plaidfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The data endpoints (PROVIDERS.md, "Data endpoints: Plaid"), served from a
// seeded, deterministic data set per item that tests script through Item:
//   - /accounts/get: a checking, a savings, a credit card and a brokerage
//     account, balances as JSON numbers (a credit card's current is owed);
//   - /transactions/sync: the item's transactions as a change log. A cursor
//     names the log position its loop started from, the position the loop's
//     snapshot was taken at, and how far into the snapshot's changes it is.
//     A loop's first cursor always works; a later page's cursor fails with
//     TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION once the log moved past
//     the loop's snapshot, so only a restart from the loop's first cursor
//     succeeds. Changes since a cursor are collapsed per transaction to its
//     latest state: added (new since the loop's start), modified, or removed
//     (any transaction removed since the start, even one added after it:
//     removing an id the client never stored is harmless). Amounts are
//     Plaid's: positive is money out;
//   - /investments/holdings/get: the brokerage account's positions with the
//     security master, a cash-equivalent money-market fund and Plaid's
//     CUR:USD cash among them;
//   - /investments/transactions/get: newest first, offset paging, count at
//     most 500, a window of at most 24 months.
//
// Every data call checks the API keys and the access token (an unknown or
// removed one is INVALID_INPUT/INVALID_ACCESS_TOKEN), then the item's
// scripted failures.

// Paths of the data endpoints.
const (
	PathAccountsGet               = "/accounts/get"
	PathTransactionsSync          = "/transactions/sync"
	PathHoldingsGet               = "/investments/holdings/get"
	PathInvestmentTransactionsGet = "/investments/transactions/get"
)

// MaxCount is the largest count the paged endpoints accept.
const MaxCount = 500

// The seeded accounts' ids.
const (
	AccountChecking  = "acc-checking-0001"
	AccountSavings   = "acc-savings-0002"
	AccountCredit    = "acc-credit-0003"
	AccountBrokerage = "acc-brokerage-0004"
)

// Transaction is one bank or card transaction as Plaid has it: Amount is a
// decimal number, positive for money out of the account.
type Transaction struct {
	ID                   string
	AccountID            string
	Amount               string
	Date                 string // YYYY-MM-DD
	AuthorizedDate       string // optional
	Pending              bool
	PendingTransactionID string // on a posted one: the pending one it posts
	Name                 string
	MerchantName         string
	Category             string // personal_finance_category.primary
	Detailed             string // personal_finance_category.detailed
}

// InvestmentTransaction is one investment transaction as Plaid has it:
// Amount is the cash moved, positive out of the account; Quantity is
// negative for a sale.
type InvestmentTransaction struct {
	ID         string
	AccountID  string
	SecurityID string // "" for cash-only activity
	Date       string
	Name       string
	Type       string // buy, sell, cash, fee, transfer
	Subtype    string
	Quantity   string
	Price      string
	Amount     string
	Fees       string // "" for none
}

// event is one change of an item's transaction log.
type event struct {
	tx      Transaction
	removed bool
}

// itemData is one item's data.
type itemData struct {
	accounts    []wireAccount
	log         []event
	securities  []wireSecurity
	holdings    []wireHolding
	investments []InvestmentTransaction // newest first
	pageSize    int
	notReady    bool
	failure     *itemFailure
	rateLimited int
	retryAfter  string
	serverErrs  int
	mutations   map[int]func(*Item) // page of a loop -> a change made as it is asked for
	cursors     []string            // every /transactions/sync cursor asked for
}

type itemFailure struct {
	status               int
	errorType, errorCode string
}

// Item scripts one item's data. Its methods are safe for concurrent use.
type Item struct {
	s      *Server
	access string
}

// Item returns the item of accessToken (one the fake granted), seeding its
// data on first use from the fake clock's today.
func (s *Server) Item(accessToken string) *Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.itemDataLocked(accessToken)
	return &Item{s: s, access: accessToken}
}

// itemDataLocked returns the data of accessToken's item, seeded on first use;
// nil for an unknown token. s.mu is held.
func (s *Server) itemDataLocked(accessToken string) *itemData {
	if _, ok := s.items[accessToken]; !ok {
		return nil
	}
	if s.data == nil {
		s.data = map[string]*itemData{}
	}
	d, ok := s.data[accessToken]
	if !ok {
		d = seed(s.clock.Now())
		s.data[accessToken] = d
	}
	return d
}

func (it *Item) with(fn func(d *itemData)) {
	it.s.mu.Lock()
	defer it.s.mu.Unlock()
	fn(it.s.itemDataLocked(it.access))
}

// Add appends a new transaction.
func (it *Item) Add(t Transaction) {
	it.with(func(d *itemData) { d.log = append(d.log, event{tx: t}) })
}

// SetAmount changes a live transaction's amount (Plaid's sign).
func (it *Item) SetAmount(id, amount string) {
	it.with(func(d *itemData) {
		t, ok := d.live()[id]
		if !ok {
			panic("plaidfake: no live transaction " + id)
		}
		t.Amount = amount
		d.log = append(d.log, event{tx: t})
	})
}

// Remove removes a live transaction.
func (it *Item) Remove(id string) {
	it.with(func(d *itemData) {
		t, ok := d.live()[id]
		if !ok {
			panic("plaidfake: no live transaction " + id)
		}
		d.log = append(d.log, event{tx: t, removed: true})
	})
}

// Post posts the pending transaction pendingID as Plaid does: the pending id
// is removed and a posted transaction postedID, for amount (a tip changes
// it), names it in pending_transaction_id. removalFirst orders the removal
// before the posted one in the change log; with a page size of 1 the two
// are on different pages of one loop, in that order.
func (it *Item) Post(pendingID, postedID, amount string, removalFirst bool) {
	it.with(func(d *itemData) {
		p, ok := d.live()[pendingID]
		if !ok || !p.Pending {
			panic("plaidfake: no live pending transaction " + pendingID)
		}
		posted := p
		posted.ID, posted.Amount, posted.Pending, posted.PendingTransactionID = postedID, amount, false, pendingID
		removal, addition := event{tx: p, removed: true}, event{tx: posted}
		if removalFirst {
			d.log = append(d.log, removal, addition)
		} else {
			d.log = append(d.log, addition, removal)
		}
	})
}

// Transactions returns the item's live transactions, by id: what a client
// that applied every change holds.
func (it *Item) Transactions() map[string]Transaction {
	var out map[string]Transaction
	it.with(func(d *itemData) { out = d.live() })
	return out
}

// SetPageSize caps how many changes one page carries, whatever the count
// asked for (0: the count).
func (it *Item) SetPageSize(n int) { it.with(func(d *itemData) { d.pageSize = n }) }

// MutateOnPage runs change when page n (from 1) of a /transactions/sync
// loop is asked for, once, before answering: the data changed during
// pagination, so that page fails with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION.
// n must be 2 or more: a loop's first page is a fresh snapshot.
func (it *Item) MutateOnPage(n int, change func(*Item)) {
	if n < 2 {
		panic("plaidfake: a mutation during pagination needs a page after the first")
	}
	it.with(func(d *itemData) {
		if d.mutations == nil {
			d.mutations = map[int]func(*Item){}
		}
		d.mutations[n] = change
	})
}

// SetNotReady makes /transactions/sync answer "not ready yet": no changes
// and an empty next_cursor.
func (it *Item) SetNotReady(notReady bool) { it.with(func(d *itemData) { d.notReady = notReady }) }

// Fail makes every data call of the item answer Plaid's errorCode (400,
// ITEM_ERROR; for example ITEM_LOGIN_REQUIRED, PENDING_EXPIRATION,
// USER_PERMISSION_REVOKED, PRODUCT_NOT_READY) until Fail("") or until Link
// in update mode repairs the item (FinishLink with its update-mode token).
func (it *Item) Fail(errorCode string) {
	it.with(func(d *itemData) {
		d.failure = nil
		if errorCode != "" {
			d.failure = &itemFailure{status: http.StatusBadRequest, errorType: "ITEM_ERROR", errorCode: errorCode}
		}
	})
}

// repairedLocked ends the item's failure that needed the user (Fail), as
// finishing Link in update mode does. s.mu is held.
func (s *Server) repairedLocked(accessToken string) {
	if d := s.itemDataLocked(accessToken); d != nil {
		d.failure = nil
	}
}

// RateLimit makes the item's next calls data calls answer 429
// RATE_LIMIT_EXCEEDED, with a Retry-After header of retryAfter unless empty.
func (it *Item) RateLimit(calls int, retryAfter string) {
	it.with(func(d *itemData) { d.rateLimited, d.retryAfter = calls, retryAfter })
}

// ServerError makes the item's next calls data calls answer 500 API_ERROR.
func (it *Item) ServerError(calls int) { it.with(func(d *itemData) { d.serverErrs = calls }) }

// SyncCursors returns every cursor /transactions/sync was asked with, in
// order ("" for none).
func (it *Item) SyncCursors() []string {
	var out []string
	it.with(func(d *itemData) { out = slices.Clone(d.cursors) })
	return out
}

// InvestmentTransactions returns the item's investment transactions, newest
// first.
func (it *Item) InvestmentTransactions() []InvestmentTransaction {
	var out []InvestmentTransaction
	it.with(func(d *itemData) { out = slices.Clone(d.investments) })
	return out
}

// live replays the log.
func (d *itemData) live() map[string]Transaction {
	out := map[string]Transaction{}
	for _, e := range d.log {
		if e.removed {
			delete(out, e.tx.ID)
		} else {
			out[e.tx.ID] = e.tx
		}
	}
	return out
}

// The wire shapes the fake answers with. Numbers are json.Number, written as
// JSON numbers exactly as the data set holds them.

type wireBalances struct {
	Available              *json.Number `json:"available"`
	Current                json.Number  `json:"current"`
	Limit                  *json.Number `json:"limit"`
	ISOCurrencyCode        string       `json:"iso_currency_code"`
	UnofficialCurrencyCode *string      `json:"unofficial_currency_code"`
}

type wireAccount struct {
	AccountID    string       `json:"account_id"`
	Balances     wireBalances `json:"balances"`
	Mask         string       `json:"mask"`
	Name         string       `json:"name"`
	OfficialName string       `json:"official_name"`
	Type         string       `json:"type"`
	Subtype      string       `json:"subtype"`
}

type wireSecurity struct {
	SecurityID       string      `json:"security_id"`
	ISIN             *string     `json:"isin"`
	CUSIP            *string     `json:"cusip"`
	TickerSymbol     string      `json:"ticker_symbol"`
	Name             string      `json:"name"`
	Type             string      `json:"type"`
	IsCashEquivalent bool        `json:"is_cash_equivalent"`
	ClosePrice       json.Number `json:"close_price"`
	ISOCurrencyCode  string      `json:"iso_currency_code"`
	UnofficialCode   *string     `json:"unofficial_currency_code"`
	SEDOL            *string     `json:"sedol"`
}

type wireHolding struct {
	AccountID            string       `json:"account_id"`
	SecurityID           string       `json:"security_id"`
	Quantity             json.Number  `json:"quantity"`
	InstitutionPrice     json.Number  `json:"institution_price"`
	InstitutionPriceAsOf *string      `json:"institution_price_as_of"`
	InstitutionValue     json.Number  `json:"institution_value"`
	CostBasis            *json.Number `json:"cost_basis"`
	ISOCurrencyCode      string       `json:"iso_currency_code"`
}

func num(s string) json.Number { return json.Number(s) }

func optNum(s string) *json.Number {
	if s == "" {
		return nil
	}
	n := json.Number(s)
	return &n
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// seed builds the deterministic data set of a new item, dated back from now.
func seed(now time.Time) *itemData {
	today := now.UTC()
	day := func(back int) string { return today.AddDate(0, 0, -back).Format(time.DateOnly) }
	d := &itemData{
		accounts: []wireAccount{
			{AccountID: AccountChecking, Mask: "0000", Name: "Plaid Checking", OfficialName: "Plaid Gold Standard 0% Interest Checking",
				Type: "depository", Subtype: "checking",
				Balances: wireBalances{Available: optNum("100"), Current: num("110.25"), ISOCurrencyCode: "USD"}},
			{AccountID: AccountSavings, Mask: "1111", Name: "Plaid Saving", OfficialName: "Plaid Silver Standard 0.1% Interest Saving",
				Type: "depository", Subtype: "savings",
				Balances: wireBalances{Available: optNum("200.5"), Current: num("210.50"), ISOCurrencyCode: "USD"}},
			{AccountID: AccountCredit, Mask: "3333", Name: "Plaid Credit Card", OfficialName: "Plaid Diamond 12.5% APR Interest Credit Card",
				Type: "credit", Subtype: "credit card",
				Balances: wireBalances{Available: optNum("4589.66"), Current: num("410.34"), Limit: optNum("5000"), ISOCurrencyCode: "USD"}},
			{AccountID: AccountBrokerage, Mask: "5555", Name: "Plaid Brokerage", Type: "investment", Subtype: "brokerage",
				Balances: wireBalances{Available: optNum("1250.75"), Current: num("8301.75"), ISOCurrencyCode: "USD"}},
		},
	}
	for i := range 24 {
		t := Transaction{ID: fmt.Sprintf("tx-%03d", i), Date: day(i + 1), AuthorizedDate: day(i + 2),
			Name: fmt.Sprintf("Merchant %d", i), MerchantName: fmt.Sprintf("Merchant %d", i),
			Category: "FOOD_AND_DRINK", Detailed: "FOOD_AND_DRINK_RESTAURANT",
			Amount: fmt.Sprintf("%d.%02d", 5+3*i, (37*i)%100)}
		switch {
		case i%6 == 0:
			t.AccountID, t.Name, t.MerchantName = AccountChecking, "Payroll", ""
			t.Amount, t.Category, t.Detailed = "-"+fmt.Sprintf("%d.00", 2000+i), "INCOME", "INCOME_WAGES"
		case i%2 == 0:
			t.AccountID = AccountChecking
		default:
			t.AccountID = AccountCredit
		}
		t.Pending = i < 2 // the two newest have not posted
		d.log = append(d.log, event{tx: t})
	}
	isin := func(s string) *string { return &s }
	d.securities = []wireSecurity{
		{SecurityID: "sec-aapl", ISIN: isin("US0378331005"), CUSIP: isin("037833100"), TickerSymbol: "AAPL", Name: "Apple Inc.",
			Type: "equity", ClosePrice: num("190.5"), ISOCurrencyCode: "USD"},
		{SecurityID: "sec-vti", ISIN: isin("US9229087690"), CUSIP: isin("922908769"), TickerSymbol: "VTI",
			Name: "Vanguard Total Stock Market ETF", Type: "etf", ClosePrice: num("270.12"), ISOCurrencyCode: "USD"},
		{SecurityID: "sec-swvxx", TickerSymbol: "SWVXX", Name: "Schwab Value Advantage Money Fund", Type: "mutual fund",
			IsCashEquivalent: true, ClosePrice: num("1"), ISOCurrencyCode: "USD"},
		{SecurityID: "sec-cur-usd", TickerSymbol: "CUR:USD", Name: "U S Dollar", Type: "cash", IsCashEquivalent: true,
			ClosePrice: num("1"), ISOCurrencyCode: "USD"},
	}
	asOf := day(1)
	d.holdings = []wireHolding{
		{AccountID: AccountBrokerage, SecurityID: "sec-aapl", Quantity: num("10"), InstitutionPrice: num("190.5"),
			InstitutionPriceAsOf: &asOf, InstitutionValue: num("1905"), CostBasis: optNum("1500.25"), ISOCurrencyCode: "USD"},
		{AccountID: AccountBrokerage, SecurityID: "sec-vti", Quantity: num("12.5"), InstitutionPrice: num("270.12"),
			InstitutionValue: num("3376.5"), CostBasis: optNum("3000"), ISOCurrencyCode: "USD"},
		{AccountID: AccountBrokerage, SecurityID: "sec-swvxx", Quantity: num("1769.5"), InstitutionPrice: num("1"),
			InstitutionValue: num("1769.5"), ISOCurrencyCode: "USD"},
		{AccountID: AccountBrokerage, SecurityID: "sec-cur-usd", Quantity: num("1250.75"), InstitutionPrice: num("1"),
			InstitutionValue: num("1250.75"), CostBasis: optNum("1250.75"), ISOCurrencyCode: "USD"},
	}
	d.investments = []InvestmentTransaction{
		{ID: "inv-007", AccountID: AccountBrokerage, SecurityID: "sec-vti", Date: day(3), Name: "VTI dividend", Type: "cash",
			Subtype: "dividend", Quantity: "0", Price: "0", Amount: "-12.34"},
		{ID: "inv-006", AccountID: AccountBrokerage, Date: day(10), Name: "Account fee", Type: "fee", Subtype: "account fee",
			Quantity: "0", Price: "0", Amount: "5"},
		{ID: "inv-005", AccountID: AccountBrokerage, SecurityID: "sec-aapl", Date: day(30), Name: "Sell AAPL", Type: "sell",
			Subtype: "sell", Quantity: "-2", Price: "185.25", Amount: "-369.5", Fees: "1"},
		{ID: "inv-004", AccountID: AccountBrokerage, SecurityID: "sec-vti", Date: day(60), Name: "Buy VTI", Type: "buy",
			Subtype: "buy", Quantity: "12.5", Price: "240", Amount: "3000", Fees: "0"},
		{ID: "inv-003", AccountID: AccountBrokerage, SecurityID: "sec-aapl", Date: day(90), Name: "Buy AAPL", Type: "buy",
			Subtype: "buy", Quantity: "12", Price: "150.02", Amount: "1801.24", Fees: "1"},
		{ID: "inv-002", AccountID: AccountBrokerage, Date: day(120), Name: "Deposit", Type: "cash", Subtype: "deposit",
			Quantity: "0", Price: "0", Amount: "-7000"},
		{ID: "inv-001", AccountID: AccountBrokerage, Date: day(400), Name: "Interest", Type: "cash", Subtype: "interest",
			Quantity: "0", Price: "0", Amount: "-0.0123"},
	}
	return d
}

// dataRequest is a data call's body; the paged endpoints add their fields.
type dataRequest struct {
	credentials
	AccessToken string  `json:"access_token"`
	Cursor      *string `json:"cursor"`
	Count       *int    `json:"count"`
	StartDate   string  `json:"start_date"`
	EndDate     string  `json:"end_date"`
	Options     *struct {
		Count  *int `json:"count"`
		Offset *int `json:"offset"`
	} `json:"options"`
}

// dataHandler decodes a data call, finds its item and applies the item's
// scripted failures before serve, which runs under s.mu.
func (s *Server) dataHandler(serve func(w http.ResponseWriter, in dataRequest, it *Item, d *itemData)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in dataRequest
		if !s.decode(w, r, &in) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		d := s.itemDataLocked(in.AccessToken)
		switch {
		case d == nil:
			writeError(w, http.StatusBadRequest, "INVALID_INPUT", "INVALID_ACCESS_TOKEN",
				fmt.Sprintf("provided access token %s is not valid", in.AccessToken))
		case d.serverErrs > 0:
			d.serverErrs--
			writeError(w, http.StatusInternalServerError, "API_ERROR", "INTERNAL_SERVER_ERROR", "an unexpected error occurred")
		case d.rateLimited > 0:
			d.rateLimited--
			if d.retryAfter != "" {
				w.Header().Set("Retry-After", d.retryAfter)
			}
			writeError(w, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_SYNC_LIMIT",
				"rate limit exceeded for attempts to access this item")
		case d.failure != nil:
			writeError(w, d.failure.status, d.failure.errorType, d.failure.errorCode,
				fmt.Sprintf("the item %s cannot be read: %s", in.AccessToken, d.failure.errorCode))
		default:
			serve(w, in, &Item{s: s, access: in.AccessToken}, d)
		}
	}
}

func (s *Server) routeData(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathAccountsGet, s.dataHandler(s.accountsGet))
	mux.HandleFunc("POST "+PathTransactionsSync, s.dataHandler(s.transactionsSync))
	mux.HandleFunc("POST "+PathHoldingsGet, s.dataHandler(s.holdingsGet))
	mux.HandleFunc("POST "+PathInvestmentTransactionsGet, s.dataHandler(s.investmentTransactionsGet))
}

func (s *Server) accountsGet(w http.ResponseWriter, _ dataRequest, _ *Item, d *itemData) {
	writeJSON(w, http.StatusOK, map[string]any{"accounts": d.accounts, "item": map[string]any{"item_id": "item"},
		"request_id": uuid.NewString()})
}

func (s *Server) holdingsGet(w http.ResponseWriter, _ dataRequest, _ *Item, d *itemData) {
	writeJSON(w, http.StatusOK, map[string]any{"accounts": d.accounts, "holdings": d.holdings,
		"securities": d.securities, "request_id": uuid.NewString()})
}

// syncCursor is a decoded /transactions/sync cursor: the log position the
// loop started from, the position of its snapshot, how many of the
// snapshot's changes were delivered, and the number of the next page.
type syncCursor struct{ base, snapshot, offset, page int }

func (c syncCursor) String() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d:%d:%d", c.base, c.snapshot, c.offset, c.page))
}

func parseCursor(s string) (syncCursor, bool) {
	if s == "" {
		return syncCursor{page: 1}, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return syncCursor{}, false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 4 {
		return syncCursor{}, false
	}
	var n [4]int
	for i, p := range parts {
		if n[i], err = strconv.Atoi(p); err != nil {
			return syncCursor{}, false
		}
	}
	return syncCursor{n[0], n[1], n[2], n[3]}, true
}

type wireTransaction struct {
	TransactionID           string            `json:"transaction_id"`
	AccountID               string            `json:"account_id"`
	Amount                  json.Number       `json:"amount"`
	ISOCurrencyCode         string            `json:"iso_currency_code"`
	UnofficialCurrencyCode  *string           `json:"unofficial_currency_code"`
	Date                    string            `json:"date"`
	AuthorizedDate          *string           `json:"authorized_date"`
	Datetime                *string           `json:"datetime"`
	Pending                 bool              `json:"pending"`
	PendingTransactionID    *string           `json:"pending_transaction_id"`
	Name                    string            `json:"name"`
	MerchantName            *string           `json:"merchant_name"`
	PaymentChannel          string            `json:"payment_channel"`
	PersonalFinanceCategory map[string]string `json:"personal_finance_category"`
	Location                map[string]any    `json:"location"`
}

func toWire(t Transaction) wireTransaction {
	return wireTransaction{TransactionID: t.ID, AccountID: t.AccountID, Amount: num(t.Amount), ISOCurrencyCode: "USD",
		Date: t.Date, AuthorizedDate: optString(t.AuthorizedDate), Pending: t.Pending,
		PendingTransactionID: optString(t.PendingTransactionID), Name: t.Name, MerchantName: optString(t.MerchantName),
		PaymentChannel:          "in store",
		PersonalFinanceCategory: map[string]string{"primary": t.Category, "detailed": t.Detailed, "confidence_level": "HIGH"},
		Location:                map[string]any{"city": nil, "region": nil}}
}

// change is one transaction's collapsed change since a loop's start.
type change struct {
	kind string // added, modified, removed
	tx   Transaction
}

// changes collapses the log between base and snapshot, in order of each
// transaction's latest change.
func (d *itemData) changes(base, snapshot int) []change {
	existed := map[string]bool{}
	for _, e := range d.log[:base] {
		existed[e.tx.ID] = !e.removed
	}
	latest := map[string]int{}
	for i := base; i < snapshot; i++ {
		latest[d.log[i].tx.ID] = i
	}
	var out []change
	for i := base; i < snapshot; i++ {
		e := d.log[i]
		if latest[e.tx.ID] != i {
			continue
		}
		switch {
		case e.removed:
			out = append(out, change{kind: "removed", tx: e.tx})
		case existed[e.tx.ID]:
			out = append(out, change{kind: "modified", tx: e.tx})
		default:
			out = append(out, change{kind: "added", tx: e.tx})
		}
	}
	return out
}

func (s *Server) transactionsSync(w http.ResponseWriter, in dataRequest, it *Item, d *itemData) {
	count := 100
	if in.Count != nil {
		count = *in.Count
	}
	cursor := ""
	if in.Cursor != nil {
		cursor = *in.Cursor
	}
	d.cursors = append(d.cursors, cursor)
	c, ok := parseCursor(cursor)
	switch {
	case count < 1 || count > MaxCount:
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "INVALID_FIELD", "count must be between 1 and 500")
		return
	case !ok || c.base > len(d.log) || c.snapshot > len(d.log):
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "INVALID_CURSOR", "cursor is not valid")
		return
	case d.notReady:
		writeJSON(w, http.StatusOK, map[string]any{"added": []any{}, "modified": []any{}, "removed": []any{},
			"next_cursor": "", "has_more": false, "transactions_update_status": "NOT_READY", "accounts": []any{},
			"request_id": uuid.NewString()})
		return
	}
	if change := d.mutations[c.page]; change != nil && c.page > 1 {
		delete(d.mutations, c.page)
		s.mu.Unlock() // the script changes the item through its own calls
		change(it)
		s.mu.Lock()
	}
	if c.offset == 0 && c.page <= 1 {
		c.snapshot = len(d.log) // a loop's first page takes its snapshot
	} else if c.snapshot != len(d.log) {
		writeError(w, http.StatusBadRequest, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
			"underlying transaction data changed since last page was fetched. Please restart pagination from last update.")
		return
	}
	all := d.changes(c.base, c.snapshot)
	size := count
	if d.pageSize > 0 {
		size = min(size, d.pageSize)
	}
	end := min(c.offset+size, len(all))
	added, modified, removed := []wireTransaction{}, []wireTransaction{}, []map[string]string{}
	for _, ch := range all[c.offset:end] {
		switch ch.kind {
		case "added":
			added = append(added, toWire(ch.tx))
		case "modified":
			modified = append(modified, toWire(ch.tx))
		default:
			removed = append(removed, map[string]string{"transaction_id": ch.tx.ID, "account_id": ch.tx.AccountID})
		}
	}
	next := syncCursor{base: c.snapshot, snapshot: c.snapshot, page: 1}
	hasMore := end < len(all)
	if hasMore {
		next = syncCursor{base: c.base, snapshot: c.snapshot, offset: end, page: c.page + 1}
	}
	writeJSON(w, http.StatusOK, map[string]any{"added": added, "modified": modified, "removed": removed,
		"next_cursor": next.String(), "has_more": hasMore, "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
		"accounts": d.accounts, "request_id": uuid.NewString()})
}

func (s *Server) investmentTransactionsGet(w http.ResponseWriter, in dataRequest, _ *Item, d *itemData) {
	start, errStart := time.Parse(time.DateOnly, in.StartDate)
	end, errEnd := time.Parse(time.DateOnly, in.EndDate)
	count, offset := 100, 0
	if in.Options != nil && in.Options.Count != nil {
		count = *in.Options.Count
	}
	if in.Options != nil && in.Options.Offset != nil {
		offset = *in.Options.Offset
	}
	oldest := s.clock.Now().UTC().AddDate(0, -24, 0).Truncate(24 * time.Hour)
	switch {
	case errStart != nil || errEnd != nil || end.Before(start):
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "INVALID_FIELD", "start_date and end_date must be dates, start first")
		return
	case start.Before(oldest):
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "INVALID_FIELD", "start_date may be at most 24 months ago")
		return
	case count < 1 || count > MaxCount || offset < 0:
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "INVALID_FIELD", "options.count must be between 1 and 500")
		return
	}
	var window []InvestmentTransaction
	for _, t := range d.investments {
		if t.Date >= in.StartDate && t.Date <= in.EndDate {
			window = append(window, t)
		}
	}
	if d.pageSize > 0 {
		count = min(count, d.pageSize)
	}
	page := []map[string]any{}
	named := map[string]bool{}
	for _, t := range window[min(offset, len(window)):min(offset+count, len(window))] {
		page = append(page, map[string]any{"investment_transaction_id": t.ID, "account_id": t.AccountID,
			"security_id": optString(t.SecurityID), "date": t.Date, "name": t.Name, "quantity": num(t.Quantity),
			"amount": num(t.Amount), "price": num(t.Price), "fees": optNum(t.Fees), "type": t.Type, "subtype": t.Subtype,
			"iso_currency_code": "USD", "unofficial_currency_code": nil, "cancel_transaction_id": nil})
		named[t.SecurityID] = true
	}
	var securities []wireSecurity
	for _, sec := range d.securities {
		if named[sec.SecurityID] {
			securities = append(securities, sec)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": d.accounts, "investment_transactions": page,
		"securities": securities, "total_investment_transactions": len(window), "request_id": uuid.NewString()})
}
