package finance

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/money"
)

// ErrIllegalTransition: the change does not apply to the transaction as it is
// (posting a posted transaction, changing a removed one). It changes nothing.
var ErrIllegalTransition = fmt.Errorf("illegal transaction transition: %w", domain.ErrConflict)

// TransactionStatus is whether a transaction has settled.
type TransactionStatus struct{ s string }

// The transaction statuses.
var (
	TransactionPending = TransactionStatus{"pending"}
	TransactionPosted  = TransactionStatus{"posted"}
)

// TransactionStatuses lists every transaction status.
func TransactionStatuses() []TransactionStatus {
	return []TransactionStatus{TransactionPending, TransactionPosted}
}

// ParseTransactionStatus turns a status name into a TransactionStatus.
func ParseTransactionStatus(s string) (TransactionStatus, error) {
	for _, st := range TransactionStatuses() {
		if st.s == s {
			return st, nil
		}
	}
	return TransactionStatus{}, domain.NewValidationError("status", "invalid", fmt.Sprintf("Unknown transaction status %q.", s))
}

func (s TransactionStatus) String() string { return s.s }

// Kind is what a transaction did, whatever the institution called it.
type Kind struct{ s string }

// The kinds. Their amounts follow the one sign convention, positive into the
// account, and the kinds whose direction is in their name are held to it: a
// deposit, refund or sale cannot take money out, a withdrawal, purchase or buy
// cannot bring it in (see Kind.allowsSign). A transfer, fee, interest, dividend
// or other may go either way (interest charged, a fee reversed).
var (
	KindDeposit    = Kind{"deposit"}
	KindWithdrawal = Kind{"withdrawal"}
	KindPurchase   = Kind{"purchase"}
	KindRefund     = Kind{"refund"}
	KindTransfer   = Kind{"transfer"}
	KindFee        = Kind{"fee"}
	KindInterest   = Kind{"interest"}
	KindDividend   = Kind{"dividend"}
	KindBuy        = Kind{"buy"}
	KindSell       = Kind{"sell"}
	KindOther      = Kind{"other"}
)

// Kinds lists every kind.
func Kinds() []Kind {
	return []Kind{KindDeposit, KindWithdrawal, KindPurchase, KindRefund, KindTransfer, KindFee, KindInterest,
		KindDividend, KindBuy, KindSell, KindOther}
}

// ParseKind turns a kind name into a Kind.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if k.s == s {
			return k, nil
		}
	}
	return Kind{}, domain.NewValidationError("kind", "invalid", fmt.Sprintf("Unknown transaction kind %q.", s))
}

func (k Kind) String() string { return k.s }

// allowsSign reports whether an amount of this sign (-1, 0, +1) fits the kind.
// It is what catches a connector that forgot to turn an institution's sign
// around (Plaid's purchases are positive): the transaction is refused, not
// stored as money flowing the wrong way. Zero fits every kind.
func (k Kind) allowsSign(sign int) bool {
	switch k {
	case KindDeposit, KindRefund, KindSell:
		return sign >= 0
	case KindWithdrawal, KindPurchase, KindBuy:
		return sign <= 0
	}
	return true
}

// Category is the institution's category of a transaction (Plaid's
// personal_finance_category). Both parts are optional, but a detailed
// category belongs to a primary one.
type Category struct{ Primary, Detailed string }

// Investment is the security side of investment activity: what was bought,
// sold or paid a dividend, how much of it, and at what price and fees.
type Investment struct {
	SecurityID uuid.UUID
	Quantity   money.Decimal // signed as the position moves; zero when not given
	Price      money.Money   // per unit, unset when not given
	Fees       money.Money   // unset when not given
}

// IsZero reports whether i holds no investment details (not investment activity).
func (i Investment) IsZero() bool { return i == Investment{} }

// TransactionDetails are what an institution says about a transaction, as a
// connector hands them over, normalised: Amount is positive for money into the
// account (Plaid's amounts are the opposite sign; Schwab's netAmount is already
// right) and Date is the institution's ledger date, never a UTC timestamp cut
// to a day.
type TransactionDetails struct {
	// InstitutionTransactionID is the institution's id (Plaid transaction_id,
	// Schwab activityId), unique per account: the key every write upserts on.
	InstitutionTransactionID string
	Amount                   money.Money
	Date                     calendar.Date
	AuthorizedDate           calendar.Date // optional
	PostedDate               calendar.Date // optional; never on a pending transaction
	Description              string
	MerchantName             string // optional
	Category                 Category
	Kind                     Kind
	Investment               Investment // zero unless investment activity
}

func (d TransactionDetails) validate(status TransactionStatus) (TransactionDetails, error) {
	var v domain.ValidationError
	var err error
	d.InstitutionTransactionID, err = cleanText("institution_transaction_id", d.InstitutionTransactionID, maxIdentifierLength, true)
	v.Merge(err)
	d.Description, err = cleanText("description", d.Description, maxDescriptionLength, false)
	v.Merge(err)
	d.MerchantName, err = cleanText("merchant_name", d.MerchantName, maxNameLength, false)
	v.Merge(err)
	d.Category.Primary, err = cleanText("category.primary", d.Category.Primary, maxNameLength, false)
	v.Merge(err)
	d.Category.Detailed, err = cleanText("category.detailed", d.Category.Detailed, maxNameLength, false)
	v.Merge(err)
	if d.Category.Detailed != "" && d.Category.Primary == "" {
		v.Add("category.primary", "required", "A detailed category needs its primary category.")
	}
	if !d.Amount.IsSet() {
		v.Add("amount", "required", "Amount is required.")
	}
	if d.Date.IsZero() {
		v.Add("date", "required", "The ledger date is required.")
	}
	if status == TransactionPending && !d.PostedDate.IsZero() {
		v.Add("posted_date", "not_allowed", "A pending transaction has not posted.")
	}
	if d.Kind == (Kind{}) {
		v.Add("kind", "required", "Kind is required.")
	}
	if !d.Kind.allowsSign(d.Amount.Amount().Sign()) {
		v.Add("amount", "wrong_sign", fmt.Sprintf("A %s cannot move money that way: amounts are positive into the account.", d.Kind))
	}
	// A buy or a sell, and any investment details, name their security.
	inv := d.Investment
	if inv.SecurityID == uuid.Nil && (d.Kind == KindBuy || d.Kind == KindSell || !inv.IsZero()) {
		v.Add("investment.security_id", "required", "A buy, a sell and any investment details name their security.")
	}
	checkAmounts(&v, d.Amount.Currency(), amount{field: "amount", m: d.Amount},
		amount{field: "investment.price", m: inv.Price, unitPrice: true}, amount{field: "investment.fees", m: inv.Fees})
	return d, v.OrNil()
}

// Transaction is one logical transaction of an account, from pending to posted
// (one Dashtam id throughout, so it is never counted twice), until the
// institution removes it, which leaves a tombstone for the delta feed.
type Transaction struct {
	id         uuid.UUID
	accountID  uuid.UUID
	providerID uuid.UUID
	status     TransactionStatus
	details    TransactionDetails
	removedAt  time.Time // zero while live
	version    int64
	createdAt  time.Time
	updatedAt  time.Time
}

// NewTransaction records a transaction the institution reported, pending or
// posted. Errors are *domain.ValidationError listing every field at fault.
func NewTransaction(id, accountID, providerID uuid.UUID, status TransactionStatus, d TransactionDetails, now time.Time) (*Transaction, error) {
	var v domain.ValidationError
	if status == (TransactionStatus{}) {
		v.Add("status", "required", "Status is required.")
	}
	d, err := d.validate(status)
	v.Merge(err)
	if err := v.OrNil(); err != nil {
		return nil, err
	}
	return &Transaction{id: id, accountID: accountID, providerID: providerID, status: status, details: d,
		version: 1, createdAt: now, updatedAt: now}, nil
}

// TransactionSnapshot is every field of a Transaction, for storage.
type TransactionSnapshot struct {
	ID, AccountID, ProviderID uuid.UUID
	Status                    TransactionStatus
	Details                   TransactionDetails
	RemovedAt                 time.Time
	Version                   int64
	CreatedAt, UpdatedAt      time.Time
}

// Snapshot returns the transaction's fields for storage.
func (t *Transaction) Snapshot() TransactionSnapshot {
	return TransactionSnapshot{ID: t.id, AccountID: t.accountID, ProviderID: t.providerID, Status: t.status,
		Details: t.details, RemovedAt: t.removedAt, Version: t.version, CreatedAt: t.createdAt, UpdatedAt: t.updatedAt}
}

// RehydrateTransaction rebuilds a transaction from storage.
func RehydrateTransaction(s TransactionSnapshot) *Transaction {
	return &Transaction{id: s.ID, accountID: s.AccountID, providerID: s.ProviderID, status: s.Status, details: s.Details,
		removedAt: s.RemovedAt, version: s.Version, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
}

// TransactionKey is what makes a transaction unique: an account and the
// institution's id for it. Every write is an upsert on it, so a repeated page
// or a concurrent sync cannot duplicate a transaction.
type TransactionKey struct {
	AccountID                uuid.UUID
	InstitutionTransactionID string
}

// Key returns the transaction's unique key.
func (t *Transaction) Key() TransactionKey {
	return TransactionKey{AccountID: t.accountID, InstitutionTransactionID: t.details.InstitutionTransactionID}
}

// ID returns the transaction's id, the same from pending to posted.
func (t *Transaction) ID() uuid.UUID { return t.id }

// AccountID returns the account the transaction belongs to.
func (t *Transaction) AccountID() uuid.UUID { return t.accountID }

// ProviderID returns the provider the account is reached through.
func (t *Transaction) ProviderID() uuid.UUID { return t.providerID }

// Status returns pending or posted.
func (t *Transaction) Status() TransactionStatus { return t.status }

// Details returns what the institution last said about the transaction.
func (t *Transaction) Details() TransactionDetails { return t.details }

// Removed reports whether the institution removed the transaction: it is a
// tombstone, gone from lists and present in the delta feed as removed.
func (t *Transaction) Removed() bool { return !t.removedAt.IsZero() }

// RemovedAt returns when the transaction was removed (zero while live).
func (t *Transaction) RemovedAt() time.Time { return t.removedAt }

// Version increases with every change, so it identifies one state of the
// transaction (the ETag, and the order of the delta feed).
func (t *Transaction) Version() int64 { return t.version }

// CreatedAt returns when the transaction was first stored.
func (t *Transaction) CreatedAt() time.Time { return t.createdAt }

// UpdatedAt returns when the transaction last changed.
func (t *Transaction) UpdatedAt() time.Time { return t.updatedAt }

func (t *Transaction) illegal(change string) error {
	state := t.status.String()
	if t.Removed() {
		state = "removed"
	}
	return fmt.Errorf("%w: cannot %s a %s transaction", ErrIllegalTransition, change, state)
}

// Post moves a pending transaction to posted, keeping its id, with what the
// institution says about the posted one: amount (a tip changes it),
// description, dates, and the institution's id, which changes when the
// institution links two records (Plaid's pending_transaction_id) and stays
// when it does not (Schwab's activityId).
func (t *Transaction) Post(d TransactionDetails, now time.Time) error {
	if t.status != TransactionPending || t.Removed() {
		return t.illegal("post")
	}
	d, err := d.validate(TransactionPosted)
	if err != nil {
		return err
	}
	t.status, t.details = TransactionPosted, d
	t.touch(now)
	return nil
}

// PostLinked posts a pending transaction from the posted record that names it
// (Plaid's pending_transaction_id), keeping its id, as Post does. Unlike Post
// it also takes a pending transaction that was removed already: Plaid delivers
// the pending id in removed and the posted one in added, possibly on an
// earlier page, so the tombstone it left is the same logical transaction, and
// it is posted and live again under its id rather than added a second time.
// A posted transaction, live or removed, cannot be posted.
func (t *Transaction) PostLinked(d TransactionDetails, now time.Time) error {
	if t.status != TransactionPending {
		return t.illegal("post")
	}
	d, err := d.validate(TransactionPosted)
	if err != nil {
		return err
	}
	t.status, t.details, t.removedAt = TransactionPosted, d, time.Time{}
	t.touch(now)
	return nil
}

// Modify applies the institution's change to a live transaction in place, and
// reports whether anything changed. It keeps the status (posting is Post) and
// the institution's id (another id is another transaction).
func (t *Transaction) Modify(d TransactionDetails, now time.Time) (bool, error) {
	if t.Removed() {
		return false, t.illegal("modify")
	}
	d, err := d.validate(t.status)
	if err != nil {
		return false, err
	}
	if d.InstitutionTransactionID != t.details.InstitutionTransactionID {
		return false, ErrInstitutionIDChanged
	}
	if d == t.details {
		return false, nil
	}
	t.details = d
	t.touch(now)
	return true, nil
}

// Remove makes a live transaction a tombstone: the institution removed it, or
// it was pending and its posted form arrived unlinked, so that the two are never
// both live.
func (t *Transaction) Remove(now time.Time) error {
	if t.Removed() {
		return t.illegal("remove")
	}
	t.touch(now)
	t.removedAt = t.updatedAt
	return nil
}

func (t *Transaction) touch(now time.Time) {
	t.version++
	t.updatedAt = later(t.updatedAt, now)
}
