package plaid

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
)

// One sync's transaction loop, as the engine drives it (a page at a time,
// each committed with the resume state after it), has two phases:
//
//  1. /transactions/sync, while has_more. The resume state holds the cursor
//     the loop started from (First) and the one to ask next (Cursor). One
//     call gathers the whole loop and hands it over as one page, committed
//     with the cursor after it (see syncPage; a loop of more than loopPages
//     answers is committed in parts). A crash resumes at the last committed
//     Cursor. Plaid's TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION means the
//     data changed under the loop: what the call gathered is dropped and it
//     asks again from First. An answer with no changes and an empty
//     next_cursor means Plaid has not prepared the item's transactions yet:
//     the loop ends there without error and the cursor stays, so the next
//     sync asks again. When has_more turns false, next_cursor is the first
//     cursor of the next loop.
//  2. /investments/transactions/get (with the investments product), once the
//     cursor loop has ended: offset pages of a date window fixed in the
//     resume state when the phase begins, so a crash resumes at the offset.
//     Plaid has no cursor here: the window is the last 24 months on the first
//     read (Plaid's limit) and, after that, reaches investmentOverlap before
//     the end of the last complete read, to pick up late corrections. Every
//     record is an upsert by investment_transaction_id, so reading one again
//     changes nothing; Plaid reports no removals of investment transactions.
//     Pages come newest first: an activity that arrives while the pages are
//     read pushes older ones to later offsets, which may be read twice, never
//     skipped.
//
// The last page of the last phase has HasMore false; its resume state starts
// the next sync's loop at phase 1 from the cursor phase 1 ended with.

// resumeState is the connector's resume state, as JSON.
type resumeState struct {
	First  string `json:"first,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	// Investments is the window being read while phase 2 runs; nil in phase 1.
	Investments *investmentWindow `json:"investments,omitempty"`
	// InvestedThrough is the end date of the last complete read of phase 2.
	InvestedThrough string `json:"invested_through,omitempty"`
}

// investmentWindow is phase 2's window and how far into it the pages are.
type investmentWindow struct {
	Start  string `json:"start"`
	End    string `json:"end"`
	Offset int    `json:"offset"`
}

// investmentHistory is how far back Plaid serves investment transactions.
const investmentHistoryMonths = 24

// investmentOverlap is how much of the last complete read phase 2 reads again.
const investmentOverlap = 30 * 24 * time.Hour

// loopPages bounds how many /transactions/sync pages (of pageCount changes)
// one call gathers before it hands them over to be committed: a loop is
// committed whole up to loopPages*pageCount changes, in parts beyond.
const loopPages = 40

// mutationRetries bounds how often one call restarts a loop whose data keeps
// changing under it; then the job waits mutationWait and goes on from the
// committed state.
const (
	mutationRetries = 3
	mutationWait    = time.Minute
)

// Transactions returns the next page of the loop resume stands in (see the
// phases above); nil resume starts from the item's whole history.
func (c *Connector) Transactions(ctx context.Context, tokens providers.Tokens, resume []byte) (providers.TransactionPage, error) {
	const op = "plaid: transactions"
	if !c.has(productTransactions) && !c.has(productInvestments) {
		return providers.TransactionPage{}, opError(domain.ErrNotSupported, op, "neither transactions nor investments is configured")
	}
	var st resumeState
	if len(resume) > 0 {
		if err := json.Unmarshal(resume, &st); err != nil {
			return providers.TransactionPage{}, httpx.Fail(domain.ErrInvalidRequest, op, "resume state is not this connector's", err)
		}
	}
	if st.Investments == nil && c.has(productTransactions) {
		return c.syncPage(ctx, tokens, st)
	}
	if st.Investments == nil {
		st.Investments = c.investmentWindow(st.InvestedThrough)
	}
	return c.investmentPage(ctx, tokens, st)
}

// syncPage gathers phase 1's loop: every /transactions/sync page from the
// stored cursor while has_more, as one page for the engine to commit, as
// Plaid asks (the cursor is stored with the data of the whole loop). A
// mutation during pagination discards what was gathered and asks again from
// the loop's first cursor, so a change seen on an early page and undone later
// (a transaction added, then removed) never reaches the store: Plaid does not
// promise to report such a removal from the first cursor. A loop longer than
// loopPages is committed in parts of loopPages pages, so memory stays bounded
// on a first sync of a long history; a restart then asks from First again,
// and the parts already committed come again as upserts.
func (c *Connector) syncPage(ctx context.Context, tokens providers.Tokens, st resumeState) (providers.TransactionPage, error) {
	var page providers.TransactionPage
	cursor, pages, restarts := st.Cursor, 0, 0
	for {
		out, err := c.transactionsSync(ctx, tokens, cursor)
		if isMutation(err) {
			if restarts == mutationRetries {
				return providers.TransactionPage{}, httpx.Fail(&providers.RetryAfterError{Delay: mutationWait},
					"plaid: sync transactions", "the item's transactions kept changing during pagination", err)
			}
			restarts++
			page, pages, cursor = providers.TransactionPage{}, 0, st.First // restart the loop where it began
			continue
		}
		if err != nil {
			return providers.TransactionPage{}, err
		}
		if out.NextCursor == "" && len(out.Added)+len(out.Modified)+len(out.Removed) == 0 {
			// Not ready: the loop ends here without error and the cursor
			// stays, so the next sync asks again.
			st.Cursor = cursor
			break
		}
		addChanges(&page, out)
		cursor, pages = out.NextCursor, pages+1
		if !out.HasMore {
			st.First, st.Cursor = cursor, cursor // the next loop starts here
			break
		}
		if pages == loopPages {
			st.Cursor = cursor
			page.HasMore = true
			return withResume(page, st)
		}
	}
	if c.has(productInvestments) {
		st.Investments = c.investmentWindow(st.InvestedThrough)
		page.HasMore = true
	}
	return withResume(page, st)
}

func (c *Connector) transactionsSync(ctx context.Context, tokens providers.Tokens, cursor string) (transactionsSyncResponse, error) {
	var out transactionsSyncResponse
	in := transactionsSyncRequest{credentials: c.credentials(), AccessToken: tokens.AccessToken, Cursor: cursor, Count: pageCount}
	err := c.call(ctx, "plaid: sync transactions", pathTransactionsSync, in, &out, tokens.AccessToken)
	return out, err
}

// isMutation reports whether err is Plaid's "the data changed during
// pagination: restart from the loop's first cursor".
func isMutation(err error) bool {
	var apiErr *apiError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
}

func withResume(page providers.TransactionPage, st resumeState) (providers.TransactionPage, error) {
	resume, err := json.Marshal(st)
	if err != nil {
		return providers.TransactionPage{}, err
	}
	page.Resume = resume
	return page, nil
}

// addChanges converts one /transactions/sync answer onto page. A posted
// transaction naming its pending one (pending_transaction_id) Replaces it, so
// the engine posts the pending one in place: Plaid also lists the pending id
// in removed, on this answer or another.
func addChanges(page *providers.TransactionPage, out transactionsSyncResponse) {
	for _, t := range out.Added {
		page.Added = append(page.Added, transactionRecord(t))
	}
	for _, t := range out.Modified {
		page.Modified = append(page.Modified, transactionRecord(t))
	}
	for _, r := range out.Removed {
		page.Removed = append(page.Removed, providers.RemovedTransaction{InstitutionAccountID: r.AccountID,
			InstitutionTransactionID: r.TransactionID})
	}
}

// transactionRecord converts one transaction. Plaid's amount is positive for
// money out of the account; Dashtam's is positive into it, so it is turned
// around. A value that cannot be converted exactly is left unset: the engine
// refuses the record and fails its account, and stores the others.
func transactionRecord(t wireTransaction) providers.TransactionRecord {
	status := finance.TransactionPosted
	if t.Pending {
		status = finance.TransactionPending
	}
	d := finance.TransactionDetails{
		InstitutionTransactionID: t.TransactionID,
		AuthorizedDate:           optionalDate(t.AuthorizedDate),
		Description:              t.Name,
		MerchantName:             deref(t.MerchantName),
	}
	if amount, err := amountOf("amount", t.Amount, currencyOf(t.ISOCurrencyCode, t.UnofficialCurrencyCode)); err == nil {
		d.Amount = amount.Neg()
	}
	if date, err := calendar.ParseDate("date", t.Date); err == nil {
		d.Date = date
		if status == finance.TransactionPosted {
			d.PostedDate = date // a posted transaction's date is the day it posted
		}
	}
	if pfc := t.PersonalFinanceCategory; pfc != nil {
		d.Category = finance.Category{Primary: pfc.Primary, Detailed: pfc.Detailed}
	}
	d.Kind = transactionKind(d.Category, t.PaymentChannel, d.Amount.Amount().Sign())
	rec := providers.TransactionRecord{InstitutionAccountID: t.AccountID, Status: status, Details: d}
	if !t.Pending && t.PendingTransactionID != nil {
		rec.Replaces = *t.PendingTransactionID
	}
	return rec
}

// transactionKind is the kind of a bank or card transaction, from Plaid's
// personal finance category and the direction of its money (already
// Dashtam's: positive in). It never picks a kind the sign contradicts.
func transactionKind(c finance.Category, channel string, sign int) finance.Kind {
	switch c.Primary {
	case "TRANSFER_IN", "TRANSFER_OUT", "LOAN_PAYMENTS":
		return finance.KindTransfer
	case "BANK_FEES":
		return finance.KindFee
	case "INCOME":
		switch c.Detailed {
		case "INCOME_DIVIDENDS":
			return finance.KindDividend
		case "INCOME_INTEREST_EARNED":
			return finance.KindInterest
		}
	}
	switch {
	case sign > 0 && c.Primary == "INCOME", sign > 0 && c.Primary == "" && channel != "in store" && channel != "online":
		return finance.KindDeposit
	case sign > 0:
		return finance.KindRefund // money back from a merchant
	case sign < 0 && c.Primary == "" && channel == "other":
		return finance.KindWithdrawal
	case sign < 0:
		return finance.KindPurchase
	}
	return finance.KindOther
}

// investmentWindow is phase 2's window from today: 24 months back on the
// first read, else from investmentOverlap before the last read's end.
func (c *Connector) investmentWindow(investedThrough string) *investmentWindow {
	today := c.now().UTC()
	start := today.AddDate(0, -investmentHistoryMonths, 1)
	if last, err := time.Parse(time.DateOnly, investedThrough); err == nil {
		if from := last.Add(-investmentOverlap); from.After(start) {
			start = from
		}
	}
	return &investmentWindow{Start: start.Format(time.DateOnly), End: today.Format(time.DateOnly)}
}

// investmentPage fetches phase 2's next page.
func (c *Connector) investmentPage(ctx context.Context, tokens providers.Tokens, st resumeState) (providers.TransactionPage, error) {
	const op = "plaid: get investment transactions"
	w := st.Investments
	var out investmentsTransactionsResponse
	in := investmentsTransactionsRequest{credentials: c.credentials(), AccessToken: tokens.AccessToken,
		StartDate: w.Start, EndDate: w.End, Options: investmentsTransactionsOptions{Count: pageCount, Offset: w.Offset}}
	err := c.call(ctx, op, pathInvestmentTransactionsGet, in, &out, tokens.AccessToken)
	if err != nil && !noInvestments(err) {
		return providers.TransactionPage{}, err
	}
	var page providers.TransactionPage
	for _, s := range out.Securities {
		page.Securities = append(page.Securities, securityDetails(s))
	}
	keys := make(map[string]finance.SecurityKey, len(page.Securities))
	for i, s := range out.Securities {
		keys[s.SecurityID] = page.Securities[i].Key()
	}
	for _, t := range out.InvestmentTransactions {
		page.Added = append(page.Added, investmentRecord(t, keys))
	}
	w.Offset += len(out.InvestmentTransactions)
	if len(out.InvestmentTransactions) > 0 && w.Offset < out.Total {
		page.HasMore = true
		return withResume(page, st)
	}
	st.Investments, st.InvestedThrough = nil, w.End
	return withResume(page, st)
}

// investmentRecord converts one investment transaction. Plaid's amount is
// the cash moved, positive out of the account (a buy), so it is turned
// around; quantity is signed as the position moves (negative for a sale), as
// the domain has it; fees are what was paid, positive.
func investmentRecord(t wireInvestmentTransaction, keys map[string]finance.SecurityKey) providers.TransactionRecord {
	currency := currencyOf(t.ISOCurrencyCode, t.UnofficialCurrencyCode)
	d := finance.TransactionDetails{InstitutionTransactionID: t.InvestmentTransactionID, Description: t.Name}
	if amount, err := amountOf("amount", t.Amount, currency); err == nil {
		d.Amount = amount.Neg()
	}
	if date, err := calendar.ParseDate("date", t.Date); err == nil {
		d.Date, d.PostedDate = date, date
	}
	d.Kind = investmentKind(t.Type, t.Subtype, d.Amount.Amount().Sign())
	rec := providers.TransactionRecord{InstitutionAccountID: t.AccountID, Status: finance.TransactionPosted, Details: d}
	if t.SecurityID == nil || *t.SecurityID == "" {
		return rec
	}
	inv := &providers.InvestmentRecord{Security: keys[*t.SecurityID]} // unknown: the engine refuses the record
	if q, err := quantityOf("quantity", t.Quantity); err == nil {
		inv.Quantity = q
	}
	if p, err := priceOf("price", t.Price, currency); err == nil && p.Amount().Sign() != 0 {
		inv.Price = p
	}
	if f, err := optionalAmount("fees", t.Fees, currency); err == nil && f.IsSet() && f.Amount().Sign() != 0 {
		inv.Fees = f
	}
	rec.Investment = inv
	return rec
}

// investmentKind maps Plaid's investment transaction type and subtype, never
// to a kind the sign contradicts.
func investmentKind(typ, subtype string, sign int) finance.Kind {
	var k finance.Kind
	switch typ {
	case "buy":
		k = finance.KindBuy
	case "sell":
		k = finance.KindSell
	case "fee":
		k = finance.KindFee
	case "transfer":
		k = finance.KindTransfer
	case "cash":
		switch subtype {
		case "dividend", "qualified dividend", "non-qualified dividend":
			k = finance.KindDividend
		case "interest":
			k = finance.KindInterest
		case "deposit", "contribution":
			k = finance.KindDeposit
		case "withdrawal", "distribution":
			k = finance.KindWithdrawal
		default:
			k = finance.KindTransfer
		}
	default:
		k = finance.KindOther
	}
	switch {
	case sign > 0 && (k == finance.KindBuy || k == finance.KindWithdrawal),
		sign < 0 && (k == finance.KindSell || k == finance.KindDeposit):
		return finance.KindOther // Plaid's sign and type disagree: keep the money, not the label
	}
	return k
}
