package providers

import (
	"context"
	"fmt"
	"time"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// The capabilities a connector may name in ProviderType.Capabilities. A
// connector names one only when it implements the matching DataConnector
// method for real, so the catalog never promises data that is not fetched.
const (
	CapabilityAccounts     = "accounts"
	CapabilityHoldings     = "holdings"
	CapabilityTransactions = "transactions"
)

// DataConnector is the data half of a connector: it reads what an institution
// holds for one grant. A connector implements it alongside Connector, and the
// sync engine finds it with a type assertion on the registry's Connector, so a
// provider that only authorizes needs no stub methods.
//
// Each connector keeps its own fetching strategy behind these three calls (Plaid
// a cursor over every account, Schwab date windows per account, the sandbox its
// own cursor); the engine is the same for all. Records carry the institution's
// ids only: the engine matches them to Dashtam ids.
//
// Errors are classified as Connector's are (domain.ErrReauthorizationRequired,
// domain.ErrProviderUnavailable, domain.ErrProviderTimeout, domain.ErrNotSupported);
// domain.ErrInvalidRequest means the access token was refused (refresh it and
// call again) or resume is not a state this connector made. An institution
// asking us to slow down answers a *RetryAfterError, which is also a
// domain.ErrProviderUnavailable. A failure confined to one account is
// reported in the answer's Failures rather than as an error, so the others are
// still stored.
type DataConnector interface {
	// Accounts lists every account the grant reaches, each with its balance.
	Accounts(ctx context.Context, tokens Tokens) ([]AccountRecord, error)
	// Holdings returns the positions of every investment account. The answer is
	// complete for each account it covers (positions missing from it are gone);
	// an account in Failures is not covered and keeps what is stored.
	Holdings(ctx context.Context, tokens Tokens) (HoldingsAnswer, error)
	// Transactions returns the next page of changes since resume, the state the
	// previous page returned (nil: from the beginning of the grant's history).
	Transactions(ctx context.Context, tokens Tokens, resume []byte) (TransactionPage, error)
}

// AccountRecord is an account as the institution reports it.
type AccountRecord struct {
	Details finance.AccountDetails
	Status  finance.AccountStatus
	Balance BalanceRecord
}

// BalanceRecord is an account's balance; Available and Limit are unset when
// the institution does not give them.
type BalanceRecord struct {
	Current   money.Money
	Available money.Money
	Limit     money.Money
	// AsOf is when the balance was true at the institution.
	AsOf time.Time
}

// HoldingsAnswer is the complete set of positions for the accounts it covers,
// with the securities they name.
type HoldingsAnswer struct {
	Securities []finance.SecurityDetails
	Holdings   []HoldingRecord
	Failures   []AccountFailure
}

// HoldingRecord is one position. Security is the identity of one of the
// answer's Securities (finance.SecurityDetails.Key).
type HoldingRecord struct {
	InstitutionAccountID string
	Security             finance.SecurityKey
	Quantity             money.Decimal
	Price                money.Money
	PriceAsOf            calendar.Date
	MarketValue          money.Money
	CostBasis            money.Money
	AsOf                 time.Time
}

// TransactionPage is one page of transaction changes.
//
// Resume is the connector's opaque state after this page. The engine stores it
// in the same database transaction as this page's changes and passes it to the
// next call, so a crash resumes exactly after the last committed page: never
// earlier (duplicates), never later (losses). It is meaningful only to the
// connector that made it.
type TransactionPage struct {
	Added    []TransactionRecord
	Modified []TransactionRecord
	Removed  []RemovedTransaction
	// Securities describe every security this page's investment activity
	// names, so the page can be stored on its own (a sold security is in no
	// holdings answer any more).
	Securities []finance.SecurityDetails
	Resume     []byte
	// HasMore is true while the changes known at the start of this loop are not
	// all delivered; the engine keeps calling until it is false.
	HasMore bool
	// Failures are accounts whose changes this page could not fetch. Resume
	// must not move past their undelivered changes, so a later call still
	// returns them.
	Failures []AccountFailure
}

// TransactionRecord is a transaction as the institution reports it now.
// Details.Investment is left zero: investment activity is in Investment, which
// names its security by identity, and the engine resolves it to a Dashtam id.
type TransactionRecord struct {
	InstitutionAccountID string
	Status               finance.TransactionStatus
	Details              finance.TransactionDetails
	Investment           *InvestmentRecord
	// Replaces, on a posted record, is the institution id of the pending
	// transaction of the same account it is the posted form of, when the
	// institution links the two under different ids (Plaid's
	// pending_transaction_id). The engine posts that pending transaction in
	// place, so it keeps its Dashtam id and takes this record's institution
	// id, even when a removal of the pending id came first (on this page or
	// an earlier one). When no such pending transaction is stored, the record
	// is simply added. Empty when the institution keeps one id throughout.
	Replaces string
}

// InvestmentRecord is the security side of investment activity.
type InvestmentRecord struct {
	Security finance.SecurityKey
	Quantity money.Decimal
	Price    money.Money
	Fees     money.Money
}

// RemovedTransaction names a transaction the institution no longer has.
type RemovedTransaction struct {
	InstitutionAccountID     string
	InstitutionTransactionID string
}

// AccountFailure is one account the institution could not answer for, while
// the others were answered. Err is classified like the port's errors.
type AccountFailure struct {
	InstitutionAccountID string
	Err                  error
}

// RetryAfterError is an institution's "too many requests": the job is
// postponed by Delay, not failed. It is a domain.ErrProviderUnavailable for
// code that only knows the error kinds; the engine finds the delay with
// errors.As.
type RetryAfterError struct {
	Delay time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("provider asked to retry after %s", e.Delay)
}

// Unwrap makes the error a domain.ErrProviderUnavailable.
func (e *RetryAfterError) Unwrap() error { return domain.ErrProviderUnavailable }
