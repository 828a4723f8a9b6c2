package finance

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/money"
)

// AccountType is what kind of account it is.
type AccountType struct{ s string }

// The account types. Connectors map their institution's types onto these
// (Plaid's brokerage is investment).
var (
	AccountDepository = AccountType{"depository"}
	AccountCredit     = AccountType{"credit"}
	AccountLoan       = AccountType{"loan"}
	AccountInvestment = AccountType{"investment"}
	AccountOther      = AccountType{"other"}
)

// AccountTypes lists every account type.
func AccountTypes() []AccountType {
	return []AccountType{AccountDepository, AccountCredit, AccountLoan, AccountInvestment, AccountOther}
}

// ParseAccountType turns a type name into an AccountType.
func ParseAccountType(s string) (AccountType, error) {
	for _, t := range AccountTypes() {
		if t.s == s {
			return t, nil
		}
	}
	return AccountType{}, domain.NewValidationError("type", "invalid", fmt.Sprintf("Unknown account type %q.", s))
}

func (t AccountType) String() string { return t.s }

// AccountStatus says whether the institution still lists the account.
type AccountStatus struct{ s string }

// The account statuses.
var (
	AccountOpen = AccountStatus{"open"}
	// AccountClosed: the institution no longer lists the account. It is kept,
	// with its history, rather than deleted.
	AccountClosed = AccountStatus{"closed"}
)

// AccountStatuses lists every account status.
func AccountStatuses() []AccountStatus { return []AccountStatus{AccountOpen, AccountClosed} }

// ParseAccountStatus turns a status name into an AccountStatus.
func ParseAccountStatus(s string) (AccountStatus, error) {
	for _, st := range AccountStatuses() {
		if st.s == s {
			return st, nil
		}
	}
	return AccountStatus{}, domain.NewValidationError("status", "invalid", fmt.Sprintf("Unknown account status %q.", s))
}

func (s AccountStatus) String() string { return s.s }

// MaskLength is how many trailing characters of an account number a mask keeps.
const MaskLength = 4

// AccountDetails are what an institution says about an account, as a connector
// hands them over.
type AccountDetails struct {
	// InstitutionAccountID is the institution's own id (Plaid account_id, Schwab
	// hashValue). It matches the account on later syncs, unique per provider, and
	// is never exposed to clients.
	InstitutionAccountID string
	Name                 string
	OfficialName         string // optional
	// Mask is the end of the account number, for people to recognise the account.
	// Only its last MaskLength characters are kept, so a full number handed over
	// by mistake is never stored.
	Mask     string // optional
	Type     AccountType
	Subtype  string // optional, the institution's own ("checking", "401k")
	Currency money.Currency
}

func (d AccountDetails) validate() (AccountDetails, error) {
	var v domain.ValidationError
	var err error
	d.InstitutionAccountID, err = cleanText("institution_account_id", d.InstitutionAccountID, maxIdentifierLength, true)
	v.Merge(err)
	d.Name, err = cleanText("name", d.Name, maxNameLength, true)
	v.Merge(err)
	d.OfficialName, err = cleanText("official_name", d.OfficialName, maxNameLength, false)
	v.Merge(err)
	d.Subtype, err = cleanText("subtype", d.Subtype, maxNameLength, false)
	v.Merge(err)
	d.Mask, err = lastFour(d.Mask)
	v.Merge(err)
	if d.Type == (AccountType{}) {
		v.Add("type", "required", "Account type is required.")
	}
	if d.Currency.IsZero() {
		v.Add("currency", "required", "Currency is required.")
	}
	return d, v.OrNil()
}

// lastFour keeps the last MaskLength characters of mask, which must be letters
// or digits ("x1234", "****1234" and a full number all end up as "1234").
func lastFour(mask string) (string, error) {
	mask = strings.TrimSpace(mask)
	if r := []rune(mask); len(r) > MaskLength {
		mask = string(r[len(r)-MaskLength:])
	}
	for _, r := range mask {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return "", domain.NewValidationError("mask", "invalid", "Mask must be the last letters or digits of the account number.")
		}
	}
	return mask, nil
}

// Account is one account at an institution, reached through a provider.
type Account struct {
	id         uuid.UUID
	providerID uuid.UUID
	details    AccountDetails
	status     AccountStatus
	version    int64 // bumped on every change; the ETag
	createdAt  time.Time
	updatedAt  time.Time
}

// NewAccount creates an open account from what the institution said. Errors are
// *domain.ValidationError listing every field at fault.
func NewAccount(id, providerID uuid.UUID, d AccountDetails, now time.Time) (*Account, error) {
	d, err := d.validate()
	if err != nil {
		return nil, err
	}
	return &Account{id: id, providerID: providerID, details: d, status: AccountOpen, version: 1, createdAt: now, updatedAt: now}, nil
}

// AccountSnapshot is every field of an Account, for storage.
type AccountSnapshot struct {
	ID, ProviderID       uuid.UUID
	Details              AccountDetails
	Status               AccountStatus
	Version              int64
	CreatedAt, UpdatedAt time.Time
}

// Snapshot returns the account's fields for storage.
func (a *Account) Snapshot() AccountSnapshot {
	return AccountSnapshot{ID: a.id, ProviderID: a.providerID, Details: a.details, Status: a.status, Version: a.version,
		CreatedAt: a.createdAt, UpdatedAt: a.updatedAt}
}

// RehydrateAccount rebuilds an account from storage.
func RehydrateAccount(s AccountSnapshot) *Account {
	return &Account{id: s.ID, providerID: s.ProviderID, details: s.Details, status: s.Status, version: s.Version,
		createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
}

// AccountKey is what makes an account unique: a provider and the institution's
// id for the account. Every write is an upsert on it, so a repeated or
// concurrent sync cannot duplicate an account.
type AccountKey struct {
	ProviderID           uuid.UUID
	InstitutionAccountID string
}

// Key returns the account's unique key.
func (a *Account) Key() AccountKey {
	return AccountKey{ProviderID: a.providerID, InstitutionAccountID: a.details.InstitutionAccountID}
}

// ID returns the account's id.
func (a *Account) ID() uuid.UUID { return a.id }

// ProviderID returns the provider the account is reached through.
func (a *Account) ProviderID() uuid.UUID { return a.providerID }

// InstitutionAccountID returns the institution's id for the account: for
// matching on later syncs only, never to be shown to a client.
func (a *Account) InstitutionAccountID() string { return a.details.InstitutionAccountID }

// Name returns the account's name.
func (a *Account) Name() string { return a.details.Name }

// OfficialName returns the institution's formal name for the account ("" if none).
func (a *Account) OfficialName() string { return a.details.OfficialName }

// Mask returns at most the last four characters of the account number.
func (a *Account) Mask() string { return a.details.Mask }

// Type returns the account type.
func (a *Account) Type() AccountType { return a.details.Type }

// Subtype returns the institution's subtype ("" if none).
func (a *Account) Subtype() string { return a.details.Subtype }

// Currency returns the account's currency.
func (a *Account) Currency() money.Currency { return a.details.Currency }

// Status returns whether the account is open or closed.
func (a *Account) Status() AccountStatus { return a.status }

// Version increases with every change, so it identifies one state of the account.
func (a *Account) Version() int64 { return a.version }

// CreatedAt returns when the account was first synced.
func (a *Account) CreatedAt() time.Time { return a.createdAt }

// UpdatedAt returns when the account last changed.
func (a *Account) UpdatedAt() time.Time { return a.updatedAt }

// ErrInstitutionIDChanged: an update described another record than the one it
// was applied to (another institution id for an account, transaction or
// security; another security for a holding). It is a bug in the caller, which
// matches records by that identity, and it changes nothing.
var ErrInstitutionIDChanged = fmt.Errorf("the institution's id of a stored record cannot change: %w", domain.ErrConflict)

// Update applies what the institution now says about the account and reports
// whether anything changed. An account the institution lists again is open.
func (a *Account) Update(d AccountDetails, now time.Time) (bool, error) {
	d, err := d.validate()
	if err != nil {
		return false, err
	}
	if d.InstitutionAccountID != a.details.InstitutionAccountID {
		return false, ErrInstitutionIDChanged
	}
	if d == a.details && a.status == AccountOpen {
		return false, nil
	}
	a.details, a.status = d, AccountOpen
	a.touch(now)
	return true, nil
}

// Close records that the institution no longer lists the account, and reports
// whether it was open.
func (a *Account) Close(now time.Time) bool {
	if a.status == AccountClosed {
		return false
	}
	a.status = AccountClosed
	a.touch(now)
	return true
}

func (a *Account) touch(now time.Time) {
	a.version++
	a.updatedAt = later(a.updatedAt, now)
}

// later returns now, or the smallest step after last if the clock has not
// moved past it, so that updated_at follows the version (as for providers).
func later(last, now time.Time) time.Time {
	if !now.After(last) {
		return last.Add(time.Microsecond)
	}
	return now
}
