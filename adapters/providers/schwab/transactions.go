package schwab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
)

// How the connector reads transactions. Schwab has no cursor and no change
// feed: the connector reads date windows and diffs them against what it
// delivered before, which it keeps in its resume state.
const (
	// Backfill is how far back the first sync of an account reads.
	Backfill = 365 * 24 * time.Hour
	// TrailingWindow is how far back a later sync re-reads before the end of
	// the last one, to see activity that posted, changed or vanished since:
	// an activity delivered inside it that is absent on the re-read is
	// removed. Older activity is taken as final.
	TrailingWindow = 30 * 24 * time.Hour
	// MaxWindow is the longest range one transactions request asks for (one
	// client's notes say Schwab refuses more than 60 days).
	MaxWindow = 60 * 24 * time.Hour
	// DefaultRowCap is how many activities Schwab returns at most for one
	// request, without saying it cut the rest: an answer of that size is
	// split in two and each half read again.
	DefaultRowCap = 3000
)

// transactionTypes is every type the transactions endpoint knows: the
// document requires types, and a type left out is activity never seen.
var transactionTypes = strings.Join([]string{"TRADE", "RECEIVE_AND_DELIVER", "DIVIDEND_OR_INTEREST", "ACH_RECEIPT",
	"ACH_DISBURSEMENT", "CASH_RECEIPT", "CASH_DISBURSEMENT", "ELECTRONIC_FUND", "WIRE_OUT", "WIRE_IN", "JOURNAL",
	"MEMORANDUM", "MARGIN_CALL", "MONEY_MARKET", "SMA_ADJUSTMENT"}, ",")

// resumeState is the connector's opaque resume state: per account what was
// delivered, and the loop under way.
type resumeState struct {
	V        int                      `json:"v"`
	Accounts map[string]*accountState `json:"accounts,omitempty"`
	Loop     *loopState               `json:"loop,omitempty"`
}

// resumeVersion is the version of resumeState written.
const resumeVersion = 1

// accountState is what the connector delivered for one account (by hash).
type accountState struct {
	// Through is the end of the last window delivered: every activity
	// before it was delivered once (zero: nothing yet, so a backfill).
	Through time.Time `json:"through,omitzero"`
	// Seen holds the activities delivered within TrailingWindow of the last
	// loop's end, by activity id, so a re-read delivers only what changed
	// and notices what vanished.
	Seen map[string]seenEntry `json:"seen,omitempty"`
}

// seenEntry is one delivered activity: a fingerprint of what was delivered
// (invalidFingerprint once it was removed) and its time in Unix milliseconds.
type seenEntry struct {
	F string `json:"f"`
	T int64  `json:"t"`
}

const invalidFingerprint = "INVALID"

// loopState is a loop under way: accounts are read one after the other,
// one window per page, from Start to Now.
type loopState struct {
	// Now is the instant the loop reads up to, fixed at its first page.
	Now    time.Time `json:"now"`
	Hashes []string  `json:"hashes"`
	// Index is the account being read.
	Index int `json:"index"`
	// Start and Cursor are where the account's read began and where its
	// next window begins (zero: the account is not begun).
	Start  time.Time `json:"start,omitzero"`
	Cursor time.Time `json:"cursor,omitzero"`
	// Found are the ids of Seen found by this read.
	Found map[string]bool `json:"found,omitempty"`
}

func parseResume(resume []byte) (*resumeState, error) {
	st := &resumeState{V: resumeVersion}
	if len(resume) > 0 {
		if err := json.Unmarshal(resume, st); err != nil || st.V != resumeVersion {
			return nil, fmt.Errorf("schwab: the resume state is not one this connector made: %w", domain.ErrInvalidRequest)
		}
	}
	if st.Accounts == nil {
		st.Accounts = map[string]*accountState{}
	}
	return st, nil
}

// Transactions returns one window of one account per page. The first loop
// of an account reads Backfill back from the loop's start; later loops read
// from TrailingWindow before the end of the last one. A window of at most
// MaxWindow that comes back with the row cap is split until each part is
// under it (a single millisecond at the cap fails the account rather than
// loop). Activity is diffed against the resume state: new ones are Added,
// changed ones (a PENDING one that came back VALID, same activityId)
// Modified, unchanged ones not sent again; one that is INVALID, or that
// vanished from the range it was delivered in, is Removed. An account that
// Schwab cannot answer for goes into Failures and keeps its position, so the
// next loop reads it from where it stopped.
func (c *Connector) Transactions(ctx context.Context, tokens providers.Tokens, resume []byte) (providers.TransactionPage, error) {
	st, err := parseResume(resume)
	if err != nil {
		return providers.TransactionPage{}, err
	}
	if st.Loop == nil {
		if err := c.beginLoop(ctx, tokens, st); err != nil {
			return providers.TransactionPage{}, err
		}
	}
	var page providers.TransactionPage
	loop := st.Loop
	if loop.Index < len(loop.Hashes) {
		if err := c.readWindow(ctx, tokens, st, &page); err != nil {
			return providers.TransactionPage{}, err
		}
	}
	page.HasMore = loop.Index < len(loop.Hashes)
	if !page.HasMore {
		st.Loop = nil
	}
	if page.Resume, err = json.Marshal(st); err != nil {
		return providers.TransactionPage{}, err
	}
	return page, nil
}

// beginLoop fixes the loop's instant and its accounts; the state of
// accounts Schwab no longer lists is dropped.
func (c *Connector) beginLoop(ctx context.Context, tokens providers.Tokens, st *resumeState) error {
	numbers, err := c.accountNumbers(ctx, tokens)
	if err != nil {
		return err
	}
	loop := &loopState{Now: c.api.now().UTC().Truncate(time.Millisecond)}
	listed := map[string]bool{}
	for _, n := range numbers {
		loop.Hashes = append(loop.Hashes, n.HashValue)
		listed[n.HashValue] = true
	}
	for h := range st.Accounts {
		if !listed[h] {
			delete(st.Accounts, h)
		}
	}
	st.Loop = loop
	return nil
}

// readWindow reads the current account's next window into page.
func (c *Connector) readWindow(ctx context.Context, tokens providers.Tokens, st *resumeState, page *providers.TransactionPage) error {
	loop := st.Loop
	hash := loop.Hashes[loop.Index]
	acc := st.Accounts[hash]
	if acc == nil {
		acc = &accountState{}
		st.Accounts[hash] = acc
	}
	if loop.Start.IsZero() {
		start := loop.Now.Add(-Backfill)
		if !acc.Through.IsZero() && acc.Through.Add(-TrailingWindow).After(start) {
			start = acc.Through.Add(-TrailingWindow)
		}
		loop.Start, loop.Cursor, loop.Found = start, start, map[string]bool{}
	}
	end := loop.Cursor.Add(MaxWindow)
	if end.After(loop.Now) {
		end = loop.Now
	}
	rows, err := c.window(ctx, tokens, hash, loop.Cursor, end)
	if err == nil {
		err = deliver(page, acc, loop, hash, rows)
	}
	switch {
	case err == nil:
	case perAccount(err):
		page.Failures = append(page.Failures, providers.AccountFailure{InstitutionAccountID: hash, Err: err})
		loop.next()
		return nil
	default:
		return err
	}
	loop.Cursor = end
	if end.After(acc.Through) {
		acc.Through = end
	}
	if !end.Before(loop.Now) {
		finish(page, acc, loop, hash)
		loop.next()
	}
	return nil
}

// next moves the loop to its next account.
func (l *loopState) next() {
	l.Index++
	l.Start, l.Cursor, l.Found = time.Time{}, time.Time{}, nil
}

// window reads [from, to) of one account, splitting it while an answer
// comes back with the row cap.
func (c *Connector) window(ctx context.Context, tokens providers.Tokens, hash string, from, to time.Time) ([]wireActivity, error) {
	q := url.Values{
		"startDate": {from.UTC().Format(requestTimeLayout)},
		// Both ends are inclusive at Schwab: stop a millisecond short, so
		// windows never overlap.
		"endDate": {to.Add(-time.Millisecond).UTC().Format(requestTimeLayout)},
		"types":   {transactionTypes},
	}
	var rows []wireActivity
	if err := c.api.get(ctx, "schwab: read transactions", tokens, accountPath(hash)+"/transactions", q, &rows); err != nil {
		return nil, err
	}
	if len(rows) < c.rowCap {
		return rows, nil
	}
	if to.Sub(from) <= time.Millisecond {
		return nil, httpx.Fail(domain.ErrProviderUnavailable, "schwab: read transactions",
			fmt.Sprintf("%d or more activities at one instant (%s): the row cap cannot be split around", c.rowCap,
				from.UTC().Format(requestTimeLayout)), nil)
	}
	mid := from.Add(to.Sub(from) / 2).Truncate(time.Millisecond)
	if !mid.After(from) {
		mid = from.Add(time.Millisecond)
	}
	older, err := c.window(ctx, tokens, hash, from, mid)
	if err != nil {
		return nil, err
	}
	newer, err := c.window(ctx, tokens, hash, mid, to)
	if err != nil {
		return nil, err
	}
	return append(older, newer...), nil
}

// activity is one row, mapped.
type activity struct {
	id       string
	at       time.Time
	invalid  bool
	record   providers.TransactionRecord
	security *finance.SecurityDetails
}

// deliver diffs one window's rows against acc and adds the changes to page.
// A row that cannot be read fails the account, before anything of the
// window is delivered.
func deliver(page *providers.TransactionPage, acc *accountState, loop *loopState, hash string, rows []wireActivity) error {
	mapped := make([]activity, 0, len(rows))
	for _, r := range rows {
		a, err := mapActivity(hash, r)
		if err != nil {
			return httpx.Fail(domain.ErrProviderUnavailable, "schwab: read transactions", err.Error(), err)
		}
		mapped = append(mapped, a)
	}
	slices.SortStableFunc(mapped, func(x, y activity) int { return x.at.Compare(y.at) })
	if acc.Seen == nil {
		acc.Seen = map[string]seenEntry{}
	}
	if loop.Found == nil {
		loop.Found = map[string]bool{}
	}
	trailing := loop.Now.Add(-TrailingWindow).UnixMilli()
	var securities securitySet
	for _, s := range page.Securities {
		securities.add(s)
	}
	for _, a := range mapped {
		prev, known := acc.Seen[a.id]
		fp := invalidFingerprint
		if !a.invalid {
			fp = fingerprint(a.record)
		}
		switch {
		case known && prev.F == fp:
		case a.invalid:
			if known {
				page.Removed = append(page.Removed, providers.RemovedTransaction{
					InstitutionAccountID: hash, InstitutionTransactionID: a.id})
			}
		case known:
			page.Modified = append(page.Modified, a.record)
		default:
			page.Added = append(page.Added, a.record)
		}
		if !a.invalid && (!known || prev.F != fp) && a.security != nil {
			securities.add(*a.security)
		}
		if known || a.at.UnixMilli() >= trailing {
			acc.Seen[a.id] = seenEntry{F: fp, T: a.at.UnixMilli()}
			loop.Found[a.id] = true
		}
	}
	page.Securities = securities.list
	return nil
}

// finish ends an account's read: what was delivered in the range read and
// is no longer there is removed, and Seen keeps only what the next loop
// re-reads.
func finish(page *providers.TransactionPage, acc *accountState, loop *loopState, hash string) {
	start, trailing := loop.Start.UnixMilli(), loop.Now.Add(-TrailingWindow).UnixMilli()
	var vanished []string
	for id, e := range acc.Seen {
		if e.T >= start && !loop.Found[id] {
			if e.F != invalidFingerprint {
				vanished = append(vanished, id)
			}
			delete(acc.Seen, id)
			continue
		}
		if e.T < trailing {
			delete(acc.Seen, id)
		}
	}
	slices.Sort(vanished)
	for _, id := range vanished {
		page.Removed = append(page.Removed, providers.RemovedTransaction{InstitutionAccountID: hash, InstitutionTransactionID: id})
	}
}

// fingerprint sums up what a record says, so an unchanged activity is not
// delivered again.
func fingerprint(r providers.TransactionRecord) string {
	h := fnv.New64a()
	d := r.Details
	_, _ = fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s", r.Status, d.Amount, d.Date, d.Description, d.Kind, d.PostedDate)
	if inv := r.Investment; inv != nil {
		_, _ = fmt.Fprintf(h, "|%v|%s|%s|%s", inv.Security, inv.Quantity, inv.Price, inv.Fees)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// mapActivity maps one activity. Its amount is netAmount, already the cash
// impact (positive into the account); its date is the trade date in New
// York. A trade is investment activity: the security leg's quantity (signed
// as the position moves) and price, and the fee legs' costs summed as its
// fees.
func mapActivity(hash string, r wireActivity) (activity, error) {
	a := activity{id: string(r.ActivityID)}
	if a.id == "" {
		return a, errors.New("an activity has no activityId")
	}
	var err error
	if a.at, err = parseTime("time", r.Time); err != nil {
		return a, err
	}
	if r.Status == "INVALID" {
		a.invalid = true
		return a, nil
	}
	trade := a.at
	if r.TradeDate != "" {
		if trade, err = parseTime("tradeDate", r.TradeDate); err != nil {
			return a, err
		}
	}
	net, err := number("netAmount", r.NetAmount)
	if err != nil {
		return a, err
	}
	d := finance.TransactionDetails{
		InstitutionTransactionID: a.id,
		Date:                     nyDate(trade),
		Description:              first(r.Description, r.Type),
		Category:                 finance.Category{Primary: r.Type},
	}
	if d.Amount, err = amountOf("netAmount", net); err != nil {
		return a, errors.New("netAmount is not an amount")
	}
	rec := providers.TransactionRecord{InstitutionAccountID: hash, Status: finance.TransactionPosted}
	if r.Status == "PENDING" || r.Status == "UNKNOWN" {
		rec.Status = finance.TransactionPending
	}
	leg, fees, hasFees, err := legs(r.TransferItems)
	if err != nil {
		return a, err
	}
	d.Kind = kind(r.Type, net, leg != nil)
	if leg != nil {
		sec, err := security(leg.Instrument)
		if err != nil {
			return a, err
		}
		a.security = &sec
		inv := &providers.InvestmentRecord{Security: sec.Key()}
		if r.Type == "TRADE" || r.Type == "RECEIVE_AND_DELIVER" {
			if err := setQuantityAndPrice(inv, *leg, d.Kind); err != nil {
				return a, err
			}
		}
		if hasFees {
			if inv.Fees, err = amountOf("fees", fees.Neg()); err != nil {
				return a, errors.New("the fees are not an amount")
			}
		}
		rec.Investment = inv
	}
	rec.Details = d
	a.record = rec
	return a, nil
}

// legs finds the security leg of an activity's transfer items (the first
// one without a feeType whose instrument is not currency) and sums the
// costs of its fee legs (feeType set).
func legs(items []wireTransferItem) (leg *wireTransferItem, fees decimal.Decimal, hasFees bool, err error) {
	for i, it := range items {
		if it.FeeType != "" {
			cost, err := number("cost", it.Cost)
			if err != nil {
				return nil, fees, false, err
			}
			fees, hasFees = fees.Add(cost), true
			continue
		}
		if leg == nil && it.Instrument.AssetType != "" && it.Instrument.AssetType != "CURRENCY" {
			leg = &items[i]
		}
	}
	return leg, fees, hasFees, nil
}

// setQuantityAndPrice sets a security leg's quantity, signed as the
// position moves (a sale negative, whatever sign Schwab gave amount), and its
// price per unit when given.
func setQuantityAndPrice(inv *providers.InvestmentRecord, leg wireTransferItem, k finance.Kind) error {
	q, err := number("amount", leg.Amount)
	if err != nil {
		return err
	}
	q = q.Abs()
	if k == finance.KindSell {
		q = q.Neg()
	}
	if inv.Quantity, err = quantityOf("quantity", q); err != nil {
		return errors.New("a trade's quantity is not a quantity")
	}
	p, err := number("price", leg.Price)
	if err != nil || p.IsZero() {
		return err
	}
	if inv.Price, err = priceOf("price", p); err != nil {
		return errors.New("a trade's price is not a price")
	}
	return nil
}

// kind maps an activity type to a kind, by the sign of its cash impact where
// the type goes both ways.
func kind(typ string, net decimal.Decimal, security bool) finance.Kind {
	switch typ {
	case "TRADE":
		if net.IsPositive() {
			return finance.KindSell
		}
		return finance.KindBuy
	case "DIVIDEND_OR_INTEREST":
		if security {
			return finance.KindDividend
		}
		return finance.KindInterest
	case "ACH_RECEIPT", "ACH_DISBURSEMENT", "CASH_RECEIPT", "CASH_DISBURSEMENT", "ELECTRONIC_FUND", "WIRE_IN", "WIRE_OUT":
		if net.IsNegative() {
			return finance.KindWithdrawal
		}
		return finance.KindDeposit
	case "JOURNAL":
		return finance.KindTransfer
	}
	return finance.KindOther
}
