package finance

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/provider"
)

// Providers looks up the provider an account or transaction is reached
// through, whose owner is the owner of the data.
type Providers interface {
	// ProviderByID returns the provider or domain.ErrNotFound.
	ProviderByID(ctx context.Context, id uuid.UUID) (*provider.Provider, error)
}

// MaxPageSize is the largest page of every list.
const MaxPageSize = 100

// Queries implements the read use cases of the financial data: accounts with
// their balances, balance history, holdings, transactions and their changes feed. Every
// record read by id is checked to be the caller's here: another user's id is
// domain.ErrNotFound, exactly like an id that never existed.
type Queries struct {
	reads     Reads
	providers Providers
}

// NewQueries builds the read use cases.
func NewQueries(reads Reads, providers Providers) *Queries {
	return &Queries{reads: reads, providers: providers}
}

// AccountView is an account with its current balance (nil before the first
// balance is stored).
type AccountView struct {
	Account *finance.Account
	Balance *finance.Balance
}

// AccountPage is one page of accounts.
type AccountPage struct {
	Items []AccountView
	// Total is set in offset mode.
	Total int64
	// HasMore and Next are set in cursor mode: Next is the account after which
	// the next page starts, valid when HasMore.
	HasMore bool
	Next    uuid.UUID
}

// ListAccounts returns one page of q.UserID's accounts, each with its current
// balance. In cursor mode the page starts after q.After (from the start when
// it is uuid.Nil); otherwise it starts at q.Offset and Total is counted.
func (s *Queries) ListAccounts(ctx context.Context, q AccountQuery, cursorMode bool) (AccountPage, error) {
	if err := checkLimit(q.Limit); err != nil {
		return AccountPage{}, err
	}
	var page AccountPage
	if cursorMode {
		limit := q.Limit
		q.Limit, q.Offset = limit+1, 0
		accounts, err := s.reads.ListAccounts(ctx, q)
		if err != nil {
			return AccountPage{}, err
		}
		if len(accounts) > limit {
			accounts, page.HasMore = accounts[:limit], true
			page.Next = accounts[limit-1].ID()
		}
		page.Items, err = s.withBalances(ctx, accounts)
		return page, err
	}
	q.After = uuid.Nil
	accounts, err := s.reads.ListAccounts(ctx, q)
	if err != nil {
		return AccountPage{}, err
	}
	if page.Total, err = s.reads.CountAccounts(ctx, q.UserID, q.Filter); err != nil {
		return AccountPage{}, err
	}
	page.Items, err = s.withBalances(ctx, accounts)
	return page, err
}

// withBalances pairs each account with its current balance, read for the
// whole page at once.
func (s *Queries) withBalances(ctx context.Context, accounts []*finance.Account) ([]AccountView, error) {
	ids := make([]uuid.UUID, len(accounts))
	for i, a := range accounts {
		ids[i] = a.ID()
	}
	current, err := s.reads.CurrentBalances(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]AccountView, len(accounts))
	for i, a := range accounts {
		out[i] = AccountView{Account: a}
		if b, ok := current[a.ID()]; ok {
			out[i].Balance = &b
		}
	}
	return out, nil
}

func (s *Queries) currentBalance(ctx context.Context, accountID uuid.UUID) (*finance.Balance, error) {
	history, err := s.reads.Balances(ctx, BalanceQuery{AccountID: accountID, Limit: 1})
	if err != nil || len(history) == 0 {
		return nil, err
	}
	return &history[0], nil
}

// GetAccount returns one of the caller's accounts with its current balance.
func (s *Queries) GetAccount(ctx context.Context, userID, id uuid.UUID) (AccountView, error) {
	a, err := s.ownedAccount(ctx, userID, id)
	if err != nil {
		return AccountView{}, err
	}
	b, err := s.currentBalance(ctx, id)
	if err != nil {
		return AccountView{}, err
	}
	return AccountView{Account: a, Balance: b}, nil
}

// ownedAccount returns the account if userID owns it, and
// domain.ErrNotFound otherwise.
func (s *Queries) ownedAccount(ctx context.Context, userID, id uuid.UUID) (*finance.Account, error) {
	a, err := s.reads.AccountByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkOwner(ctx, userID, a.ProviderID()); err != nil {
		return nil, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

// checkOwner returns domain.ErrNotFound unless userID owns the provider.
func (s *Queries) checkOwner(ctx context.Context, userID, providerID uuid.UUID) error {
	p, err := s.providers.ProviderByID(ctx, providerID)
	if err != nil {
		return err
	}
	if !p.OwnedBy(userID) {
		return domain.ErrNotFound
	}
	return nil
}

// BalanceHistoryQuery asks for one page of an account's balance history,
// newest first.
type BalanceHistoryQuery struct {
	UserID, AccountID uuid.UUID
	// From and To bound the history by the UTC day of each snapshot's as_of,
	// inclusive (the day SnapshotDue writes one for); zero does not bound.
	From, To calendar.Date
	// Before, when set, starts the page just after (older than) the snapshot
	// of that as_of.
	Before time.Time
	Limit  int
}

// BalancePage is one page of a balance history.
type BalancePage struct {
	Items   []finance.Balance
	HasMore bool
	// Next is the as_of of the last item, where the next page starts; valid
	// when HasMore.
	Next time.Time
}

// ListBalances returns one page of the caller's account's balance history,
// newest first.
func (s *Queries) ListBalances(ctx context.Context, q BalanceHistoryQuery) (BalancePage, error) {
	verr := &domain.ValidationError{}
	verr.Merge(checkLimit(q.Limit))
	if !q.From.IsZero() && !q.To.IsZero() && q.From.After(q.To) {
		verr.Add("from", "invalid_range", "from must not be after to.")
	}
	if err := verr.OrNil(); err != nil {
		return BalancePage{}, err
	}
	if _, err := s.ownedAccount(ctx, q.UserID, q.AccountID); err != nil {
		return BalancePage{}, err
	}
	query := BalanceQuery{AccountID: q.AccountID, Before: q.Before, Limit: q.Limit + 1}
	if !q.From.IsZero() {
		query.From = startOfDay(q.From)
	}
	if !q.To.IsZero() {
		query.To = startOfDay(q.To).AddDate(0, 0, 1).Add(-time.Microsecond)
	}
	items, err := s.reads.Balances(ctx, query)
	if err != nil {
		return BalancePage{}, err
	}
	page := BalancePage{Items: items}
	if len(items) > q.Limit {
		page.Items, page.HasMore = items[:q.Limit], true
		page.Next = page.Items[q.Limit-1].AsOf()
	}
	return page, nil
}

// startOfDay is the first instant of d's UTC day.
func startOfDay(d calendar.Date) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}

// TransactionPage is one page of transactions, sorted -date,-id.
type TransactionPage struct {
	Items   []*finance.Transaction
	HasMore bool
	// Next is the position after the last item, valid when HasMore.
	Next TransactionPosition
}

// ListTransactions returns one page of q.UserID's live transactions, sorted
// -date,-id, starting after q.After when it is set.
func (s *Queries) ListTransactions(ctx context.Context, q TransactionQuery) (TransactionPage, error) {
	verr := &domain.ValidationError{}
	verr.Merge(checkLimit(q.Limit))
	f := q.Filter
	if !f.DateFrom.IsZero() && !f.DateTo.IsZero() && f.DateFrom.After(f.DateTo) {
		verr.Add("date_from", "invalid_range", "date_from must not be after date_to.")
	}
	if f.AmountMin != nil && f.AmountMax != nil && f.AmountMin.Cmp(*f.AmountMax) > 0 {
		verr.Add("amount_min", "invalid_range", "amount_min must not be greater than amount_max.")
	}
	if err := verr.OrNil(); err != nil {
		return TransactionPage{}, err
	}
	limit := q.Limit
	q.Limit = limit + 1
	items, err := s.reads.ListTransactions(ctx, q)
	if err != nil {
		return TransactionPage{}, err
	}
	page := TransactionPage{Items: items}
	if len(items) > limit {
		page.Items, page.HasMore = items[:limit], true
		page.Next = PositionOf(page.Items[limit-1])
	}
	return page, nil
}

// GetTransaction returns one of the caller's live transactions. A removed
// one is domain.ErrNotFound, as it is gone from lists: the changes feed is
// where a client learns of the removal.
func (s *Queries) GetTransaction(ctx context.Context, userID, id uuid.UUID) (*finance.Transaction, error) {
	t, err := s.reads.TransactionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.Removed() {
		return nil, fmt.Errorf("transaction %s was removed: %w", id, domain.ErrNotFound)
	}
	if err := s.checkOwner(ctx, userID, t.ProviderID()); err != nil {
		return nil, fmt.Errorf("transaction %s: %w", id, err)
	}
	return t, nil
}

// ChangePage is one page of a user's changes feed.
type ChangePage struct {
	Changes []Change
	// Next is the position to read the feed after next time: the last
	// change's, or the position read after when the page is empty. It is
	// always valid, so a client that has caught up keeps it to poll.
	Next    int64
	HasMore bool
}

// Changes returns at most limit changes of userID's transactions after
// position after (0: from the beginning).
func (s *Queries) Changes(ctx context.Context, userID uuid.UUID, after int64, limit int) (ChangePage, error) {
	if err := checkLimit(limit); err != nil {
		return ChangePage{}, err
	}
	if after < 0 {
		return ChangePage{}, domain.NewValidationError("cursor", "invalid", "The cursor is invalid.")
	}
	changes, err := s.reads.Changes(ctx, userID, after, limit+1)
	if err != nil {
		return ChangePage{}, err
	}
	page := ChangePage{Changes: changes, Next: after}
	if len(changes) > limit {
		page.Changes, page.HasMore = changes[:limit], true
	}
	if n := len(page.Changes); n > 0 {
		page.Next = page.Changes[n-1].Position
	}
	return page, nil
}

func checkLimit(limit int) error {
	if limit < 1 || limit > MaxPageSize {
		return domain.NewValidationError("limit", "out_of_range", fmt.Sprintf("Page size must be between 1 and %d.", MaxPageSize))
	}
	return nil
}

// HoldingPage is one page of holdings, in order of id.
type HoldingPage struct {
	Items   []HoldingView
	HasMore bool
	// Next is the last item's id, where the next page starts; valid when
	// HasMore.
	Next uuid.UUID
}

// ListHoldings returns one page of q.UserID's holdings, each with its
// security, starting after q.After when it is not uuid.Nil. Only the
// caller's holdings are read: a filter naming another user's account or
// provider matches nothing.
func (s *Queries) ListHoldings(ctx context.Context, q HoldingQuery) (HoldingPage, error) {
	if err := checkLimit(q.Limit); err != nil {
		return HoldingPage{}, err
	}
	limit := q.Limit
	q.Limit = limit + 1
	items, err := s.reads.ListHoldings(ctx, q)
	if err != nil {
		return HoldingPage{}, err
	}
	page := HoldingPage{Items: items}
	if len(items) > limit {
		page.Items, page.HasMore = items[:limit], true
		page.Next = page.Items[limit-1].Holding.ID()
	}
	return page, nil
}
