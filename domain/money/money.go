package money

import (
	"errors"
	"fmt"
)

// ErrCurrencyMismatch: an operation combined amounts in two currencies. Amounts
// are never converted implicitly; adding USD to EUR is a bug in the caller.
var ErrCurrencyMismatch = errors.New("amounts are in different currencies")

// Money is an exact amount in one currency. The zero Money is "no amount" (an
// available balance a loan does not have), told apart from an amount of zero by
// IsSet.
type Money struct {
	amount   Decimal
	currency Currency
}

// New returns amount in currency c.
func New(amount Decimal, c Currency) Money { return Money{amount: amount, currency: c} }

// ParseAmount parses an amount of money for field: a plain decimal string with at
// most MaxAmountScale decimals, in the ISO 4217 currency code. Errors are
// *domain.ValidationError on field (the amount) or on "currency".
func ParseAmount(field, amount, currency string) (Money, error) {
	return parseMoney(field, amount, currency, MaxAmountScale)
}

// ParsePrice parses a unit price for field: like ParseAmount, with up to
// MaxQuantityScale decimals.
func ParsePrice(field, amount, currency string) (Money, error) {
	return parseMoney(field, amount, currency, MaxQuantityScale)
}

func parseMoney(field, amount, currency string, maxScale int) (Money, error) {
	c, err := ParseCurrency("currency", currency)
	if err != nil {
		return Money{}, err
	}
	d, err := parseDecimal(field, amount, maxScale)
	if err != nil {
		return Money{}, err
	}
	return Money{amount: d, currency: c}, nil
}

// Amount returns the decimal amount.
func (m Money) Amount() Decimal { return m.amount }

// Currency returns the currency (zero when m is not set).
func (m Money) Currency() Currency { return m.currency }

// IsSet reports whether m holds an amount (possibly zero) rather than none.
func (m Money) IsSet() bool { return !m.currency.IsZero() }

// String returns the amount and its currency, "-42.50 USD", or "" when not set.
func (m Money) String() string {
	if !m.IsSet() {
		return ""
	}
	return m.amount.String() + " " + m.currency.String()
}

// Equal reports whether m and o are the same amount of the same currency,
// whatever their scales ("1.5 USD" equals "1.50 USD"), or are both unset.
func (m Money) Equal(o Money) bool {
	return m.currency == o.currency && m.amount.Cmp(o.amount) == 0
}

// Add returns m + o. Both must be set and in the same currency:
// ErrCurrencyMismatch otherwise.
func (m Money) Add(o Money) (Money, error) {
	if err := m.sameCurrency(o); err != nil {
		return Money{}, err
	}
	return Money{amount: m.amount.Add(o.amount), currency: m.currency}, nil
}

// Sub returns m - o, under the rules of Add.
func (m Money) Sub(o Money) (Money, error) {
	if err := m.sameCurrency(o); err != nil {
		return Money{}, err
	}
	return Money{amount: m.amount.Sub(o.amount), currency: m.currency}, nil
}

// Neg returns -m: the same amount flowing the other way.
func (m Money) Neg() Money { return Money{amount: m.amount.Neg(), currency: m.currency} }

func (m Money) sameCurrency(o Money) error {
	if !m.IsSet() || m.currency != o.currency {
		return fmt.Errorf("%w: %q and %q", ErrCurrencyMismatch, m.currency, o.currency)
	}
	return nil
}
