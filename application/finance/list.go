package finance

import (
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// AccountFilter narrows a list of accounts. Zero fields do not filter.
type AccountFilter struct {
	ProviderID uuid.UUID
	Type       finance.AccountType
	Status     finance.AccountStatus
	// Search matches names containing it, both lower-cased (strings.ToLower).
	Search string
}

// AccountQuery asks for one page of a user's accounts, in order of id.
type AccountQuery struct {
	UserID uuid.UUID
	Filter AccountFilter
	// After, when not uuid.Nil, starts the page just after that account (a
	// keyset page); otherwise the page skips the first Offset accounts.
	After  uuid.UUID
	Offset int
	Limit  int
}

// TransactionFilter narrows a list of transactions. Zero fields do not
// filter; the bounds are inclusive.
type TransactionFilter struct {
	AccountID  uuid.UUID
	ProviderID uuid.UUID
	Status     finance.TransactionStatus
	DateFrom   calendar.Date
	DateTo     calendar.Date
	// AmountMin and AmountMax compare amounts by value, exactly, as
	// money.Decimal.Cmp does ("1.5" matches a minimum of "1.50"), with up to
	// money.MaxQuantityScale decimals; nil does not filter.
	AmountMin *money.Decimal
	AmountMax *money.Decimal
	Kind      finance.Kind
	// Search matches descriptions or merchant names containing it, both
	// lower-cased (strings.ToLower).
	Search string
}

// TransactionPosition is where a page of transactions starts: just after the
// transaction with this date and id, under -date,-id.
type TransactionPosition struct {
	Date calendar.Date
	ID   uuid.UUID
}

// PositionOf returns the position just after t.
func PositionOf(t *finance.Transaction) TransactionPosition {
	return TransactionPosition{Date: t.Details().Date, ID: t.ID()}
}

// TransactionQuery asks for one page of a user's live transactions, sorted
// -date,-id.
type TransactionQuery struct {
	UserID uuid.UUID
	Filter TransactionFilter
	// After, when set, starts the page just after that position.
	After *TransactionPosition
	Limit int
}

// ChangeType says what a change of the feed means to a client that has
// applied every change before it.
type ChangeType struct{ s string }

// The change types.
var (
	// ChangeAdded: a transaction the client has not seen.
	ChangeAdded = ChangeType{"added"}
	// ChangeModified: a transaction the client has, in a new state.
	ChangeModified = ChangeType{"modified"}
	// ChangeRemoved: a transaction the client must drop (a tombstone).
	ChangeRemoved = ChangeType{"removed"}
)

func (c ChangeType) String() string { return c.s }

// Change is one entry of a user's changes feed: a transaction as it is now,
// at the position of its latest change. A transaction changed twice after a
// client's position appears once, at its latest position. Type is relative to
// the position the feed was read after: a transaction inserted after it is
// added, even if modified since; a tombstone is removed, even if the client
// never saw it live (dropping an unknown id is harmless).
type Change struct {
	// Position is the change's place in the user's feed: positions only grow,
	// in the order their writes committed, so a client that resumes after the
	// last position it applied misses nothing.
	Position    int64
	Type        ChangeType
	Transaction *finance.Transaction
}

// BalanceQuery asks for one page of an account's balance history, newest
// first. Zero times do not bound it.
type BalanceQuery struct {
	AccountID uuid.UUID
	// From and To bound as_of, inclusive; the use case turns the API's dates
	// into these instants.
	From, To time.Time
	// Before, when set, starts the page just after (older than) the snapshot
	// of that as_of: snapshots of one account have distinct as_of.
	Before time.Time
	Limit  int
}

// HoldingFilter narrows a list of holdings. Zero fields do not filter.
type HoldingFilter struct {
	AccountID    uuid.UUID
	ProviderID   uuid.UUID
	SecurityType finance.SecurityType
	// Symbol matches the security's symbol exactly.
	Symbol string
}

// HoldingQuery asks for one page of a user's holdings, in order of id.
type HoldingQuery struct {
	UserID uuid.UUID
	Filter HoldingFilter
	// After, when not uuid.Nil, starts the page just after that holding.
	After uuid.UUID
	Limit int
}

// HoldingView is a holding with the security it is a position in, as the
// holdings API shows it.
type HoldingView struct {
	Holding  *finance.Holding
	Security *finance.Security
}
