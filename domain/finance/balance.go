package finance

import (
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/money"
)

// Balance is an account's balance as of one moment. Balances are stored as a
// history of snapshots (see SnapshotDue), the newest being the account's
// current balance.
type Balance struct {
	accountID uuid.UUID
	// current is the balance (for a credit account, what is owed). available
	// and limit are unset when the institution does not say.
	current, available, limit money.Money
	// asOf is when the balance was true at the institution.
	asOf time.Time
}

// NewBalance validates an account's balance: current is required, available and
// limit are optional (unset Money), and all are in one currency, the balance's.
// Errors are *domain.ValidationError.
func NewBalance(accountID uuid.UUID, current, available, limit money.Money, asOf time.Time) (Balance, error) {
	var v domain.ValidationError
	if !current.IsSet() {
		v.Add("current", "required", "The current balance is required.")
	}
	checkAmounts(&v, current.Currency(), amount{field: "current", m: current},
		amount{field: "available", m: available}, amount{field: "limit", m: limit})
	if asOf.IsZero() {
		v.Add("as_of", "required", "The time the balance was true is required.")
	}
	if err := v.OrNil(); err != nil {
		return Balance{}, err
	}
	return Balance{accountID: accountID, current: current, available: available, limit: limit, asOf: asOf}, nil
}

// BalanceSnapshot is every field of a Balance, for storage.
type BalanceSnapshot struct {
	AccountID                 uuid.UUID
	Current, Available, Limit money.Money
	AsOf                      time.Time
}

// Snapshot returns the balance's fields for storage.
func (b Balance) Snapshot() BalanceSnapshot {
	return BalanceSnapshot{AccountID: b.accountID, Current: b.current, Available: b.available, Limit: b.limit, AsOf: b.asOf}
}

// RehydrateBalance rebuilds a balance from storage.
func RehydrateBalance(s BalanceSnapshot) Balance {
	return Balance{accountID: s.AccountID, current: s.Current, available: s.Available, limit: s.Limit, asOf: s.AsOf}
}

// AccountID returns the account the balance is of.
func (b Balance) AccountID() uuid.UUID { return b.accountID }

// Current returns the balance; for a credit or loan account, what is owed.
func (b Balance) Current() money.Money { return b.current }

// Available returns what can be spent or withdrawn (unset if not given).
func (b Balance) Available() money.Money { return b.available }

// Limit returns the credit limit (unset if not given).
func (b Balance) Limit() money.Money { return b.limit }

// Currency returns the currency of every amount of the balance.
func (b Balance) Currency() money.Currency { return b.current.Currency() }

// AsOf returns when the balance was true at the institution.
func (b Balance) AsOf() time.Time { return b.asOf }

// sameAmounts reports whether b and o hold the same amounts, whatever their
// scales and times.
func (b Balance) sameAmounts(o Balance) bool {
	return b.current.Equal(o.current) && b.available.Equal(o.available) && b.limit.Equal(o.limit)
}

// SnapshotDue decides whether next, just fetched, is written to the balance
// history whose newest snapshot is last (nil when there is none). DATA.md: a
// snapshot is written whenever the balance changed and at least once a day, so
// the history has a point for every day there was a sync, from the first. The
// day is the UTC day of as_of: a storage cadence, not a ledger date, and the
// same for every instance. A balance no newer than last is old news and never
// due: it must not displace the current balance.
func SnapshotDue(last *Balance, next Balance) bool {
	switch {
	case last == nil:
		return true
	case !next.asOf.After(last.asOf):
		return false
	case !next.sameAmounts(*last):
		return true
	}
	ly, lm, ld := last.asOf.UTC().Date()
	ny, nm, nd := next.asOf.UTC().Date()
	return ly != ny || lm != nm || ld != nd
}

// BalanceChanged is the account.balance_changed event, at now, of next
// appended to a history whose newest snapshot is last (nil when there is
// none), when its amounts differ from last's: a daily snapshot of the same
// amounts changes nothing a client shows. Amounts are decimal strings.
func BalanceChanged(last *Balance, next Balance, now time.Time) (event.Event, bool) {
	if last != nil && next.sameAmounts(*last) {
		return event.Event{}, false
	}
	d := event.Data{"account_id": next.accountID.String(), "current": next.current.Amount().String(),
		"currency": next.Currency().String(), "as_of": next.asOf.UTC().Format(time.RFC3339Nano)}
	if next.available.IsSet() {
		d["available"] = next.available.Amount().String()
	}
	return event.Event{Type: event.AccountBalanceChanged, OccurredAt: now, Data: d}, true
}

// TransactionsChanged is the transactions.changed event, at now, of a page of
// providerID's transactions that added, modified and removed so many: the
// user's changes feed read after position feedAfter holds them (GET
// /transactions/changes; the HTTP adapter turns the position into the feed's
// cursor).
func TransactionsChanged(providerID uuid.UUID, added, modified, removed int, feedAfter int64, now time.Time) event.Event {
	return event.Event{Type: event.TransactionsChanged, OccurredAt: now, Data: event.Data{
		"provider_id": providerID.String(), "added": added, "modified": modified, "removed": removed,
		"feed_after": feedAfter,
	}}
}
