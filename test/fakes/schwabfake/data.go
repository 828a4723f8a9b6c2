package schwabfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The Trader API's data side, as PROVIDERS.md describes it:
//   - GET /trader/v1/accounts/accountNumbers -> [{accountNumber, hashValue}];
//   - GET /trader/v1/accounts?fields=positions and
//     GET /trader/v1/accounts/{hashValue}?fields=positions ->
//     {securitiesAccount: {type, accountNumber, positions[], initialBalances,
//     currentBalances, projectedBalances}};
//   - GET /trader/v1/accounts/{hashValue}/transactions?startDate&endDate&types.
//
// The fake is strict where Schwab is, and where a client could slip:
//   - an account is named by its hashValue only: a plain account number (any
//     all-digit segment) in a path is refused with 400;
//   - startDate and endDate must be full timestamps yyyy-MM-dd'T'HH:mm:ss.SSSZ
//     (a literal Z or a +0000 offset); a date-only value is refused with 400,
//     as is a range longer than a year or a request without types;
//   - an answer carries at most WindowCap activities (the newest), exactly as
//     Schwab cuts a window at 3,000 rows without saying so;
//   - a missing, unknown or expired bearer token is 401;
//   - errors are {"message", "errors": [...]}.
//
// Timestamps in answers alternate between the two forms seen in the wild
// ("2024-04-29T02:30:21+0000" and "2024-04-29T02:30:21.000Z"), so a client
// must parse both. Every data request is recorded (DataRequests), refused ones
// included, so a test can prove none carried a plain account number.

// APIPrefix is where the data endpoints live, as on api.schwabapi.com.
const APIPrefix = "/trader/v1"

// DefaultWindowCap is how many activities one transactions answer carries at
// most, as at Schwab.
const DefaultWindowCap = 3000

// TransactionTypes are every activity type the transactions endpoint knows.
var TransactionTypes = []string{"TRADE", "RECEIVE_AND_DELIVER", "DIVIDEND_OR_INTEREST", "ACH_RECEIPT",
	"ACH_DISBURSEMENT", "CASH_RECEIPT", "CASH_DISBURSEMENT", "ELECTRONIC_FUND", "WIRE_OUT", "WIRE_IN", "JOURNAL",
	"MEMORANDUM", "MARGIN_CALL", "MONEY_MARKET", "SMA_ADJUSTMENT"}

// Instrument is a position's or transfer item's instrument, in Schwab's JSON.
type Instrument struct {
	AssetType        string      `json:"assetType"`
	Cusip            string      `json:"cusip,omitempty"`
	Symbol           string      `json:"symbol,omitempty"`
	Description      string      `json:"description,omitempty"`
	InstrumentID     int64       `json:"instrumentId,omitempty"`
	NetChange        json.Number `json:"netChange,omitempty"`
	Type             string      `json:"type,omitempty"`
	PutCall          string      `json:"putCall,omitempty"`
	UnderlyingSymbol string      `json:"underlyingSymbol,omitempty"`
	OptionMultiplier json.Number `json:"optionMultiplier,omitempty"`
}

// Position is one position of an account, in Schwab's JSON. Numbers are
// json.Number, so the fake says exactly what a test wrote.
type Position struct {
	ShortQuantity        json.Number `json:"shortQuantity"`
	AveragePrice         json.Number `json:"averagePrice"`
	CurrentDayProfitLoss json.Number `json:"currentDayProfitLoss"`
	LongQuantity         json.Number `json:"longQuantity"`
	Instrument           Instrument  `json:"instrument"`
	MarketValue          json.Number `json:"marketValue"`
}

// TransferItem is one leg of an activity: the security leg of a trade
// (quantity in Amount), a fee leg (FeeType set) or a cash leg.
type TransferItem struct {
	Instrument     Instrument  `json:"instrument"`
	Amount         json.Number `json:"amount"`
	Cost           json.Number `json:"cost"`
	Price          json.Number `json:"price,omitempty"`
	FeeType        string      `json:"feeType,omitempty"`
	PositionEffect string      `json:"positionEffect,omitempty"`
}

// Activity is one transaction, in Schwab's JSON, except Time: the fake keeps
// it as a time.Time and writes it in one of the two wire forms.
type Activity struct {
	ActivityID     int64          `json:"activityId"`
	Time           time.Time      `json:"-"`
	Type           string         `json:"type"`
	Status         string         `json:"status"`
	NetAmount      json.Number    `json:"netAmount"`
	Description    string         `json:"description,omitempty"`
	TransferItems  []TransferItem `json:"transferItems"`
	SettlementDays int            `json:"-"`
}

// FakeAccount names one of the fake's accounts.
type FakeAccount struct {
	Number string // the plain account number, which must never travel in a path
	Hash   string // the hashValue that names it
	Type   string // CASH or MARGIN
}

// DataRequest is one request a data endpoint received, as it arrived.
type DataRequest struct {
	Path     string
	RawQuery string
	Status   int
	// Rows is how many activities a transactions answer carried.
	Rows int
}

type fakeAccount struct {
	FakeAccount
	cash       decimal.Decimal
	positions  []Position
	activities []*Activity
	failStatus int
}

type dataState struct {
	accounts  []*fakeAccount
	cap       int
	requests  []DataRequest
	nextID    int64
	retry     time.Duration
	rateLimit bool
}

// Seeded securities: real CUSIPs, so identities pass check digits.
var (
	instAAPL = Instrument{AssetType: "EQUITY", Cusip: "037833100", Symbol: "AAPL", Description: "APPLE INC", InstrumentID: 1973757747}
	instMSFT = Instrument{AssetType: "EQUITY", Cusip: "594918104", Symbol: "MSFT", Description: "MICROSOFT CORP", InstrumentID: 1805853232}
	instSPY  = Instrument{AssetType: "COLLECTIVE_INVESTMENT", Cusip: "78462F103", Symbol: "SPY",
		Description: "SPDR S&P 500 ETF", InstrumentID: 1281357639, Type: "EXCHANGE_TRADED_FUND"}
	instVTI = Instrument{AssetType: "COLLECTIVE_INVESTMENT", Cusip: "922908769", Symbol: "VTI",
		Description: "VANGUARD TOTAL STOCK MARKET ETF", InstrumentID: 1281357647, Type: "EXCHANGE_TRADED_FUND"}
	instCall = Instrument{AssetType: "OPTION", Symbol: "AAPL  300621C00200000", Description: "APPLE INC 06/21/2030 $200 Call",
		InstrumentID: 216432718, PutCall: "CALL", UnderlyingSymbol: "AAPL", OptionMultiplier: "100"}
	instSweep = Instrument{AssetType: "CASH_EQUIVALENT", Symbol: "SWVXX", Description: "SCHWAB VALUE ADVANTAGE MONEY INV",
		InstrumentID: 9000001, Type: "MONEY_MARKET_FUND"}
	instUSD = Instrument{AssetType: "CURRENCY", Symbol: "CURRENCY_USD", Description: "USD currency", InstrumentID: 1}
)

// Instruments the seeded trades name.
var tradedInstruments = []Instrument{instAAPL, instMSFT, instSPY, instVTI}

// seedData builds two accounts, a margin account (equity, ETF, an option, a
// short position and a cash sweep) and a cash account (ETF and equity), each
// with a year of activity up to the fake's clock: trades with fee legs,
// dividends, ACH deposits and withdrawals, journals, and one pending ACH
// deposit from yesterday. The same clock gives the same data.
func (s *Server) seedData() {
	now := s.clock.Now().UTC().Truncate(time.Second)
	s.data = dataState{cap: DefaultWindowCap, nextID: 80_000_000_000}
	margin := &fakeAccount{FakeAccount: account("26431170", "MARGIN"), cash: decimal.RequireFromString("1520.35"),
		positions: []Position{
			position(instAAPL, "40", "0", "150.10", "7612.40"),
			position(instSPY, "12.5", "0", "410.00", "6987.50"),
			position(instCall, "2", "0", "3.15", "540.00"),
			position(instMSFT, "0", "10", "402.00", "-4155.00"),
			position(instSweep, "5000", "0", "1.00", "5000.00"),
		}}
	cash := &fakeAccount{FakeAccount: account("58290014", "CASH"), cash: decimal.RequireFromString("250.00"),
		positions: []Position{
			position(instVTI, "30", "0", "212.34", "8120.10"),
			position(instMSFT, "5", "0", "301.22", "2077.50"),
		}}
	s.data.accounts = []*fakeAccount{margin, cash}
	for i, a := range s.data.accounts {
		r := rand.New(rand.NewPCG(uint64(i)+1, 42))
		for d := 365; d >= 1; d-- {
			at := now.AddDate(0, 0, -d).Add(time.Duration(r.IntN(8*3600)+13*3600) * time.Second)
			s.add(a, seededActivity(d, at, r))
		}
		s.add(a, CashActivity("ACH_RECEIPT", now.Add(-20*time.Hour), "250.00", "PENDING"))
	}
}

// add appends act to a, giving it the next activity id when it has none. It
// runs with s.mu held (or before the fake serves).
func (s *Server) add(a *fakeAccount, act *Activity) int64 {
	if act.ActivityID == 0 {
		s.data.nextID++
		act.ActivityID = s.data.nextID
	}
	a.activities = append(a.activities, act)
	return act.ActivityID
}

func account(number, typ string) FakeAccount {
	sum := sha256.Sum256([]byte("schwabfake:" + number))
	return FakeAccount{Number: number, Hash: strings.ToUpper(hex.EncodeToString(sum[:])), Type: typ}
}

func position(in Instrument, long, short, avg, value string) Position {
	return Position{LongQuantity: json.Number(long), ShortQuantity: json.Number(short), AveragePrice: json.Number(avg),
		MarketValue: json.Number(value), CurrentDayProfitLoss: "0", Instrument: in}
}

// seededActivity is the activity of day d (days before now) at at.
func seededActivity(d int, at time.Time, r *rand.Rand) *Activity {
	switch {
	case d%30 == 3:
		return CashActivity("ACH_RECEIPT", at, fmt.Sprintf("%d.00", 500+r.IntN(2000)), "VALID")
	case d%30 == 17:
		return CashActivity("ACH_DISBURSEMENT", at, fmt.Sprintf("-%d.00", 100+r.IntN(900)), "VALID")
	case d%45 == 9:
		return CashActivity("JOURNAL", at, fmt.Sprintf("-%d.50", 10+r.IntN(90)), "VALID")
	case d%15 == 5:
		in := tradedInstruments[r.IntN(len(tradedInstruments))]
		a := CashActivity("DIVIDEND_OR_INTEREST", at, fmt.Sprintf("%d.%02d", 1+r.IntN(60), r.IntN(100)), "VALID")
		a.Description = "QUALIFIED DIVIDEND " + in.Symbol
		a.TransferItems = []TransferItem{{Instrument: in, Amount: a.NetAmount, Cost: "0"}}
		return a
	case d%60 == 31:
		return CashActivity("DIVIDEND_OR_INTEREST", at, fmt.Sprintf("0.%02d", 1+r.IntN(98)), "VALID")
	}
	in := tradedInstruments[r.IntN(len(tradedInstruments))]
	units := int64(1 + r.IntN(20))
	if r.IntN(3) == 0 {
		units = -units
	}
	return Trade(in, at, units, fmt.Sprintf("%d.%02d", 50+r.IntN(450), r.IntN(100)))
}

// CashActivity is an activity of typ moving amount (signed, cash impact)
// with one cash leg, not yet added (AddActivity gives it its id).
func CashActivity(typ string, at time.Time, amount, status string) *Activity {
	return &Activity{Time: at, Type: typ, Status: status, NetAmount: json.Number(amount),
		Description: typ + " " + amount, SettlementDays: 1,
		TransferItems: []TransferItem{{Instrument: instUSD, Amount: json.Number(amount), Cost: json.Number(amount)}}}
}

// Trade returns a TRADE of units (negative: a sale) of in at price, with a
// commission leg of 0 and, on a sale, an SEC fee of 0.02, as Schwab reports
// them: netAmount is the cash impact, fees included. Add it with
// AddActivity, which gives it the next activity id.
func Trade(in Instrument, at time.Time, units int64, price string) *Activity {
	p := decimal.RequireFromString(price)
	q := decimal.NewFromInt(units)
	cost := p.Mul(q).Neg()
	legs := []TransferItem{{Instrument: in, Amount: json.Number(q.String()), Cost: json.Number(cost.StringFixed(2)),
		Price: json.Number(price), PositionEffect: map[bool]string{true: "OPENING", false: "CLOSING"}[units > 0]},
		{Instrument: instUSD, Amount: "0", Cost: "0", FeeType: "COMMISSION"}}
	net := cost
	if units < 0 {
		legs = append(legs, TransferItem{Instrument: instUSD, Amount: "0", Cost: "-0.02", FeeType: "SEC_FEE"})
		net = net.Sub(decimal.RequireFromString("0.02"))
	}
	verb := map[bool]string{true: "Buy", false: "Sell"}[units > 0]
	return &Activity{Time: at, Type: "TRADE", Status: "VALID",
		NetAmount: json.Number(net.StringFixed(2)), Description: verb + " " + in.Symbol, TransferItems: legs, SettlementDays: 1}
}

// Instruments the fake's seeded data names, for tests that script their own.
var (
	AAPL  = instAAPL
	MSFT  = instMSFT
	SPY   = instSPY
	VTI   = instVTI
	Call  = instCall
	Sweep = instSweep
)

// APIBaseURL is the fake's Trader API base, the connector's APIBaseURL.
func (s *Server) APIBaseURL() string { return s.URL + APIPrefix }

// IssueAccessToken returns a new access token the data endpoints accept, as
// if a consent had just completed.
func (s *Server) IssueAccessToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := "I0." + random() + "@"
	s.access[tok] = s.clock.Now().Add(s.cfg.AccessTTL)
	return tok
}

// Accounts lists the fake's accounts.
func (s *Server) Accounts() []FakeAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FakeAccount, 0, len(s.data.accounts))
	for _, a := range s.data.accounts {
		out = append(out, a.FakeAccount)
	}
	return out
}

// Positions returns an account's positions now.
func (s *Server) Positions(hash string) []Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.find(hash).positions)
}

// Activities returns an account's activities now, oldest first.
func (s *Server) Activities(hash string) []Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Activity
	for _, a := range s.find(hash).activities {
		out = append(out, *a)
	}
	slices.SortStableFunc(out, func(a, b Activity) int { return a.Time.Compare(b.Time) })
	return out
}

// AddActivity appends a to an account's activity (a new activity id when a's
// is zero) and returns its id.
func (s *Server) AddActivity(hash string, a *Activity) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(s.find(hash), a)
}

// AddCashActivities appends n VALID ACH deposits of 1.00 each, spread evenly over [from, to), and returns their ids.
func (s *Server) AddCashActivities(hash string, n int, from, to time.Time) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	acc := s.find(hash)
	ids := make([]int64, 0, n)
	step := to.Sub(from) / time.Duration(max(n, 1))
	for i := range n {
		a := CashActivity("ACH_RECEIPT", from.Add(time.Duration(i)*step).Truncate(time.Millisecond), "1.00", "VALID")
		ids = append(ids, s.add(acc, a))
	}
	return ids
}

// ModifyActivity changes an activity in place (same activity id).
func (s *Server) ModifyActivity(hash string, id int64, change func(*Activity)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(s.activity(hash, id))
}

// RemoveActivity drops an activity: it vanishes from every window.
func (s *Server) RemoveActivity(hash string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acc := s.find(hash)
	acc.activities = slices.DeleteFunc(acc.activities, func(a *Activity) bool { return a.ActivityID == id })
}

// PendingActivity returns the id of an account's pending activity (0: none).
func (s *Server) PendingActivity(hash string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.find(hash).activities {
		if a.Status == "PENDING" {
			return a.ActivityID
		}
	}
	return 0
}

// PostPending posts a pending activity: the same activity id comes back
// VALID.
func (s *Server) PostPending(hash string, id int64) {
	s.ModifyActivity(hash, id, func(a *Activity) { a.Status = "VALID" })
}

// SellToZero sells the whole long position in the instrument named symbol:
// the position disappears from the account, a sale at price is added to its
// activity at the fake's clock, and the proceeds go to cash. It returns the
// sale's activity id.
func (s *Server) SellToZero(hash, symbol, price string) int64 {
	s.mu.Lock()
	acc := s.find(hash)
	i := slices.IndexFunc(acc.positions, func(p Position) bool { return p.Instrument.Symbol == symbol })
	if i < 0 {
		s.mu.Unlock()
		panic("schwabfake: no position in " + symbol)
	}
	p := acc.positions[i]
	acc.positions = slices.Delete(acc.positions, i, i+1)
	units := decimal.RequireFromString(string(p.LongQuantity)).IntPart()
	sale := Trade(p.Instrument, s.clock.Now().UTC().Truncate(time.Second), -units, price)
	acc.cash = acc.cash.Add(decimal.RequireFromString(string(sale.NetAmount)))
	id := s.add(acc, sale)
	s.mu.Unlock()
	return id
}

// SetPositions replaces an account's positions.
func (s *Server) SetPositions(hash string, positions []Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.find(hash).positions = slices.Clone(positions)
}

// SetWindowCap sets how many activities one transactions answer carries at
// most (DefaultWindowCap at start).
func (s *Server) SetWindowCap(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.cap = n
}

// FailAccount makes every request naming the account's hash answer status
// (a 5xx: that account is down while the others answer); 0 heals it.
func (s *Server) FailAccount(hash string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.find(hash).failStatus = status
}

// RateLimit makes every data request answer 429 with Retry-After: the delay
// in whole seconds, until ClearRateLimit.
func (s *Server) RateLimit(retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.rateLimit, s.data.retry = true, retryAfter
}

// ClearRateLimit stops answering 429.
func (s *Server) ClearRateLimit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.rateLimit = false
}

// DataRequests returns every request the data endpoints received, oldest
// first, refused ones included (faults injected with SetFault excluded).
func (s *Server) DataRequests() []DataRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.data.requests)
}

// find returns the account hash names, or panics: a test named an account
// the fake does not have. It runs with s.mu held.
func (s *Server) find(hash string) *fakeAccount {
	for _, a := range s.data.accounts {
		if a.Hash == hash {
			return a
		}
	}
	panic("schwabfake: no account " + hash)
}

func (s *Server) activity(hash string, id int64) *Activity {
	for _, a := range s.find(hash).activities {
		if a.ActivityID == id {
			return a
		}
	}
	panic(fmt.Sprintf("schwabfake: no activity %d", id))
}

func (s *Server) routeData(mux *http.ServeMux) {
	mux.HandleFunc("GET "+APIPrefix+"/accounts/accountNumbers", s.dataHandler(s.accountNumbers))
	mux.HandleFunc("GET "+APIPrefix+"/accounts", s.dataHandler(s.allAccounts))
	mux.HandleFunc("GET "+APIPrefix+"/accounts/{hash}", s.dataHandler(s.oneAccount))
	mux.HandleFunc("GET "+APIPrefix+"/accounts/{hash}/transactions", s.dataHandler(s.transactions))
}

// apiError is an answer other than 200.
type apiError struct {
	status  int
	message string
}

// dataHandler records the request, checks the bearer token and the account
// hash, and runs serve with s.mu held.
func (s *Server) dataHandler(serve func(r *http.Request, acc *fakeAccount) (any, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		status, body, header := s.serveData(r, serve)
		rec := DataRequest{Path: r.URL.Path, RawQuery: r.URL.RawQuery, Status: status}
		if rows, ok := body.([]map[string]any); ok {
			rec.Rows = len(rows)
		}
		s.data.requests = append(s.data.requests, rec)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Schwab-Client-CorrelId", random())
		writeJSON(w, status, body)
	}
}

func (s *Server) serveData(r *http.Request, serve func(*http.Request, *fakeAccount) (any, *apiError)) (int, any, map[string]string) {
	fail := func(status int, msg string) (int, any, map[string]string) {
		return status, map[string]any{"message": msg, "errors": []string{}}, nil
	}
	if s.data.rateLimit {
		status, body, _ := fail(http.StatusTooManyRequests, "Too many requests")
		return status, body, map[string]string{"Retry-After": strconv.Itoa(int(s.data.retry / time.Second))}
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if exp, known := s.access[tok]; !ok || !known || !s.clock.Now().Before(exp) {
		return fail(http.StatusUnauthorized, "Client not authorized")
	}
	var acc *fakeAccount
	if hash := r.PathValue("hash"); hash != "" {
		if strings.Trim(hash, "0123456789") == "" {
			return fail(http.StatusBadRequest, "Invalid account number: accounts are named by their hashValue")
		}
		for _, a := range s.data.accounts {
			if a.Hash == hash {
				acc = a
			}
		}
		if acc == nil {
			return fail(http.StatusNotFound, "Account not found")
		}
		if acc.failStatus != 0 {
			return fail(acc.failStatus, "Internal error")
		}
	}
	body, e := serve(r, acc)
	if e != nil {
		return fail(e.status, e.message)
	}
	return http.StatusOK, body, nil
}

func (s *Server) accountNumbers(*http.Request, *fakeAccount) (any, *apiError) {
	out := make([]map[string]string, 0, len(s.data.accounts))
	for _, a := range s.data.accounts {
		out = append(out, map[string]string{"accountNumber": a.Number, "hashValue": a.Hash})
	}
	return out, nil
}

func (s *Server) allAccounts(r *http.Request, _ *fakeAccount) (any, *apiError) {
	out := make([]any, 0, len(s.data.accounts))
	for _, a := range s.data.accounts {
		out = append(out, s.accountBody(r, a))
	}
	return out, nil
}

func (s *Server) oneAccount(r *http.Request, a *fakeAccount) (any, *apiError) {
	return s.accountBody(r, a), nil
}

// accountBody is {securitiesAccount} for a; positions only when asked for.
// The liquidation value is the cash plus every position's market value,
// the sweep included once: the cash fields do not hold the sweep.
func (s *Server) accountBody(r *http.Request, a *fakeAccount) any {
	value := a.cash
	for _, p := range a.positions {
		value = value.Add(decimal.RequireFromString(string(p.MarketValue)))
	}
	num := func(d decimal.Decimal) json.Number { return json.Number(d.StringFixed(2)) }
	balances := map[string]any{"liquidationValue": num(value)}
	if a.Type == "MARGIN" {
		balances["cashBalance"] = num(a.cash)
		balances["availableFunds"] = num(a.cash)
		balances["buyingPower"] = num(a.cash.Mul(decimal.NewFromInt(2)))
	} else {
		balances["totalCash"] = num(a.cash)
		balances["cashAvailableForTrading"] = num(a.cash)
		balances["cashAvailableForWithdrawal"] = num(a.cash)
	}
	acct := map[string]any{
		"type": a.Type, "accountNumber": a.Number, "roundTrips": 0, "isDayTrader": false,
		"initialBalances": balances, "currentBalances": balances, "projectedBalances": balances,
	}
	if slices.Contains(strings.Split(r.URL.Query().Get("fields"), ","), "positions") {
		acct["positions"] = a.positions
	}
	return map[string]any{"securitiesAccount": acct, "aggregatedBalance": map[string]any{
		"currentLiquidationValue": num(value), "liquidationValue": num(value)}}
}

// The forms startDate and endDate may take: yyyy-MM-dd'T'HH:mm:ss.SSSZ read
// as a literal Z or as a numeric offset.
var requestTimeLayouts = []string{"2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05.000-0700"}

func parseRequestTime(s string) (time.Time, bool) {
	for _, l := range requestTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (s *Server) transactions(r *http.Request, a *fakeAccount) (any, *apiError) {
	q := r.URL.Query()
	start, okStart := parseRequestTime(q.Get("startDate"))
	end, okEnd := parseRequestTime(q.Get("endDate"))
	switch {
	case !okStart || !okEnd:
		return nil, &apiError{http.StatusBadRequest, "startDate and endDate must be yyyy-MM-dd'T'HH:mm:ss.SSSZ"}
	case end.Before(start) || end.Sub(start) > 366*24*time.Hour:
		return nil, &apiError{http.StatusBadRequest, "the date range must be at most one year"}
	case q.Get("types") == "":
		return nil, &apiError{http.StatusBadRequest, "types is required"}
	}
	types := strings.Split(q.Get("types"), ",")
	for _, t := range types {
		if !slices.Contains(TransactionTypes, t) {
			return nil, &apiError{http.StatusBadRequest, "unknown transaction type " + t}
		}
	}
	var rows []*Activity
	for _, act := range a.activities {
		if !act.Time.Before(start) && !act.Time.After(end) && slices.Contains(types, act.Type) {
			rows = append(rows, act)
		}
	}
	// Newest first, and cut at the cap without a word, as Schwab does.
	slices.SortStableFunc(rows, func(x, y *Activity) int { return y.Time.Compare(x.Time) })
	if len(rows) > s.data.cap {
		rows = rows[:s.data.cap]
	}
	out := make([]map[string]any, 0, len(rows))
	for _, act := range rows {
		out = append(out, wireActivity(a, act))
	}
	return out, nil
}

// wireActivity is act as Schwab writes it. Its timestamps take the "+0000"
// form for even ids and ".000Z" for odd ones.
func wireActivity(a *fakeAccount, act *Activity) map[string]any {
	ts := func(t time.Time) string {
		if act.ActivityID%2 == 0 {
			return t.UTC().Format("2006-01-02T15:04:05-0700")
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	// Schwab's tradeDate is midnight of the New York trade day, in UTC.
	ny, _ := time.LoadLocation("America/New_York")
	local := act.Time.In(ny)
	trade := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, ny)
	m := map[string]any{
		"activityId":     act.ActivityID,
		"time":           ts(act.Time),
		"accountNumber":  a.Number,
		"type":           act.Type,
		"status":         act.Status,
		"subAccount":     "CASH",
		"tradeDate":      ts(trade),
		"settlementDate": ts(trade.AddDate(0, 0, act.SettlementDays)),
		"netAmount":      act.NetAmount,
		"description":    act.Description,
		"transferItems":  act.TransferItems,
	}
	if act.TransferItems == nil {
		m["transferItems"] = []TransferItem{}
	}
	return m
}
