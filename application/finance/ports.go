// Package finance holds the use cases of the financial-data resources
// (accounts and transactions) and the ports they store them through: what the
// sync engine writes, and what the API reads.
package finance

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
)

// ErrKeyTaken: a new account or transaction was saved under a key a stored one
// already holds (Account.Key, Transaction.Key). The sync engine loads the
// stored records by their keys before it writes, under the store's lock, so
// this is a bug in the caller; the unique index is the last word either way.
var ErrKeyTaken = fmt.Errorf("another stored record has this institution id: %w", domain.ErrConflict)

// ErrForeignRecord: a closure returned an account of another provider, or a
// transaction of another account, than the one the update was for. Nothing of
// the batch is stored.
var ErrForeignRecord = errors.New("a record of another provider or account was returned to be saved")

// Writes is what the sync engine stores. Each method is one database
// transaction: the batch is stored whole or not at all.
//
// The store serializes writers of one provider's accounts, and of one
// account's transactions or holdings, for the length of the call, so two concurrent syncs
// cannot both find a key missing and both insert it: the second sees the
// first's rows. A unique index on each key backs this up.
type Writes interface {
	// UpdateAccounts loads every account of the provider (closed ones too) and
	// calls fn with them; fn returns the accounts to save: new ones are
	// inserted, stored ones whose Version moved are updated, the others are
	// left as they are. fn's error aborts the batch and is returned.
	UpdateAccounts(ctx context.Context, providerID uuid.UUID,
		fn func(stored []*finance.Account) ([]*finance.Account, error)) (AccountCounts, error)
	// UpdateBalance loads the account's newest balance snapshot (nil when
	// there is none) and calls fn, which returns the snapshot to append (nil:
	// none; finance.SnapshotDue decides), and reports whether one was
	// written. A snapshot no newer than the newest is ErrStaleBalance: the
	// history only grows forward. fn's error is returned. An unknown account
	// is domain.ErrNotFound.
	UpdateBalance(ctx context.Context, accountID uuid.UUID,
		fn func(last *finance.Balance) (*finance.Balance, error)) (bool, error)
	// StoreTransactionPage stores one page of a provider's transaction
	// changes together with the connector's resume state after it, in one
	// database transaction: a crash resumes exactly after the last committed
	// page, never earlier (duplicates) and never later (losses).
	//
	// Each batch is one account's part of the page: the store loads the
	// account's transactions (tombstones too) whose institution ids are among
	// the batch's InstitutionIDs and calls its Apply with them; Apply returns
	// the transactions to save: new ones are inserted, stored ones whose
	// Version moved are updated, the others are left as they are. Posting
	// keeps the stored row (and its id) even when the institution's id
	// changes, a removal makes the row a tombstone, and a removed pending row
	// posted by its linked record is live again. Every saved row takes
	// the next position of its user's changes feed. Apply's error aborts the
	// page and is returned.
	//
	// A batch for an account of another provider, or an Apply that returns a
	// transaction of another account, is ErrForeignRecord; an unknown account
	// or provider is domain.ErrNotFound. Nothing of the page, resume state
	// included, is stored unless all of it is.
	StoreTransactionPage(ctx context.Context, providerID uuid.UUID, page TransactionPageWrite) (TransactionCounts, error)
	// TransactionResume returns the resume state stored with the provider's
	// last committed page (nil before the first).
	TransactionResume(ctx context.Context, providerID uuid.UUID) ([]byte, error)
	// SaveSecurities inserts the provider's securities it does not have yet
	// and updates the others, matched by identity (SecurityDetails.Key), and
	// returns the id of every given security by key.
	SaveSecurities(ctx context.Context, providerID uuid.UUID,
		securities []finance.SecurityDetails) (map[finance.SecurityKey]uuid.UUID, error)
	// UpdateHoldings loads the account's holdings and calls fn, which returns
	// the account's complete set of holdings as it is now: new ones are
	// inserted, changed ones updated, and stored ones fn does not return are
	// deleted (a complete answer replaces the last snapshot). One
	// transaction; fn's error aborts it. An unknown account is
	// domain.ErrNotFound.
	UpdateHoldings(ctx context.Context, accountID uuid.UUID,
		fn func(stored []*finance.Holding) ([]*finance.Holding, error)) (HoldingCounts, error)
}

// ErrStalePage: a page was fetched from a resume state that is no longer the
// stored one (another run of the sync stored a page meanwhile). Nothing of it
// is stored: applied now, it could move data back to an older state. The
// caller reads the stored state and fetches again from there.
var ErrStalePage = errors.New("the page was fetched from a resume state that is no longer the stored one")

// TransactionPageWrite is one page of a provider's transaction changes, for
// StoreTransactionPage.
type TransactionPageWrite struct {
	// From is the resume state the page was fetched from (nil: the start). It
	// must still be the stored one, or the page is ErrStalePage.
	From    []byte
	Batches []TransactionBatch
	// Resume is the connector's state after this page; it replaces the stored
	// one in the page's transaction.
	Resume []byte
}

// TransactionBatch is one account's part of a page: the store loads the
// account's transactions (tombstones too) whose institution ids are among
// InstitutionIDs and calls Apply with them; Apply returns the transactions to
// save.
type TransactionBatch struct {
	AccountID      uuid.UUID
	InstitutionIDs []string
	Apply          func(stored []*finance.Transaction) ([]*finance.Transaction, error)
}

// HoldingCounts is what one UpdateHoldings call changed, for a sync's results.
type HoldingCounts struct {
	Added, Updated, Removed int
}

// ErrStaleBalance: a balance snapshot was appended that is no newer than the
// account's newest one, or belongs to another account. Nothing is written.
var ErrStaleBalance = errors.New("a balance snapshot must be the account's own and newer than its newest")

// AccountCounts is what one UpdateAccounts call changed, for a sync's results.
type AccountCounts struct {
	Added   int // inserted
	Updated int // stored, changed, and not closed by this change
	Closed  int // changed from open to closed
}

// TransactionCounts is what one StoreTransactionPage call changed, for a sync's
// results. A transaction saved unchanged counts nowhere, so a batch stored
// twice counts nothing the second time.
type TransactionCounts struct {
	Added    int // inserted live
	Modified int // live after, changed (posted or modified); a removed pending one posted live again too
	Removed  int // live before, a tombstone now
}

// Reads is what the API reads. Queries take the user whose data is listed, but
// ownership of a single record is checked by the use cases, not here.
type Reads interface {
	// AccountByID returns the account, or domain.ErrNotFound.
	AccountByID(ctx context.Context, id uuid.UUID) (*finance.Account, error)
	// Balances returns one page of an account's balance history, newest
	// first; the first is its current balance. An account with no balance has
	// an empty history.
	Balances(ctx context.Context, q BalanceQuery) ([]finance.Balance, error)
	// CurrentBalances returns the current (newest) balance of each of the
	// accounts that has one, by account id, in one read: a page of accounts
	// shows each one's balance.
	CurrentBalances(ctx context.Context, accountIDs []uuid.UUID) (map[uuid.UUID]finance.Balance, error)
	// ListAccounts returns one page of a user's accounts in order of id.
	ListAccounts(ctx context.Context, q AccountQuery) ([]*finance.Account, error)
	// CountAccounts returns how many of a user's accounts match the filter,
	// for the total of an offset page.
	CountAccounts(ctx context.Context, userID uuid.UUID, f AccountFilter) (int64, error)
	// TransactionByID returns the transaction, tombstone or not, or
	// domain.ErrNotFound.
	TransactionByID(ctx context.Context, id uuid.UUID) (*finance.Transaction, error)
	// ListTransactions returns one page of a user's live transactions, newest
	// ledger date first, ties by id descending (-date,-id).
	ListTransactions(ctx context.Context, q TransactionQuery) ([]*finance.Transaction, error)
	// Changes returns at most limit changes of a user's transactions after
	// position after (0: from the beginning), in order of position.
	Changes(ctx context.Context, userID uuid.UUID, after int64, limit int) ([]Change, error)
	// ListHoldings returns one page of a user's holdings, each with its
	// security, in order of holding id.
	ListHoldings(ctx context.Context, q HoldingQuery) ([]HoldingView, error)
}
