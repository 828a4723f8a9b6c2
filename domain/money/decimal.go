package money

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/dashtam/dashtam/domain"
)

// Scale bounds: how many digits after the point a value may carry.
const (
	// MaxAmountScale bounds amounts of money (balances, transaction amounts,
	// market values, cost bases, fees). Four digits cover every ISO 4217 minor
	// unit (CLF and UYW have four) and the fractional cents institutions send for
	// interest accruals; an amount with more is refused, never rounded.
	MaxAmountScale = 4
	// MaxQuantityScale bounds quantities and prices (DATA.md: up to 8 decimals),
	// enough for fractional shares and sub-cent prices.
	MaxQuantityScale = 8
	// MaxIntegerDigits bounds the digits before the point, so that every value
	// fits one fixed-point column on both database dialects and a megabyte of
	// digits is refused at the door.
	MaxIntegerDigits = 15
)

// Decimal is an exact decimal number that keeps the scale it was given:
// "-42.50" stays "-42.50", never "-42.5" and never a float. The zero Decimal is
// 0. Two Decimals are == when they print the same; Cmp compares values, so
// "1.5" and "1.50" are == false but Cmp 0.
type Decimal struct {
	// s is the canonical text ("" for 0, so that the zero value is zero): what
	// it holds is always what String returns and what parsing it gives back.
	s string
}

// plain is the only syntax accepted: an optional minus, an integer part with no
// leading zero, an optional point with at least one digit after it. No plus,
// no exponent, no NaN or Infinity, no spaces, no thousands separators.
var plain = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// ParseQuantity parses a quantity (shares, units) for field, with at most
// MaxQuantityScale decimals. Errors are *domain.ValidationError on field.
func ParseQuantity(field, s string) (Decimal, error) {
	return parseDecimal(field, s, MaxQuantityScale)
}

func parseDecimal(field, s string, maxScale int) (Decimal, error) {
	if s == "" {
		return Decimal{}, domain.NewValidationError(field, "required", "A decimal number is required.")
	}
	if !plain.MatchString(s) {
		return Decimal{}, domain.NewValidationError(field, "invalid", "Must be a plain decimal number such as -42.50.")
	}
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac) > maxScale {
		return Decimal{}, domain.NewValidationError(field, "too_precise", fmt.Sprintf("Must have at most %d decimals.", maxScale))
	}
	if len(intPart) > MaxIntegerDigits {
		return Decimal{}, domain.NewValidationError(field, "too_large", fmt.Sprintf("Must have at most %d digits before the point.", MaxIntegerDigits))
	}
	if strings.Trim(intPart+frac, "0") == "" {
		s = strings.TrimPrefix(s, "-") // -0.00 is 0.00: zero has no sign
	}
	if s == "0" {
		s = ""
	}
	return Decimal{s}, nil
}

// String returns the number as parsed, or as computed at the larger scale of
// its operands.
func (d Decimal) String() string {
	if d.s == "" {
		return "0"
	}
	return d.s
}

func (d Decimal) value() decimal.Decimal {
	// s is canonical by construction, so this cannot fail.
	return decimal.RequireFromString(d.String())
}

func fromValue(v decimal.Decimal) Decimal {
	places := max(-v.Exponent(), 0)
	s := v.StringFixed(places) // exact: places is the value's own scale
	if s == "0" {
		s = ""
	}
	return Decimal{s}
}

// Scale returns the number of digits after the point.
func (d Decimal) Scale() int {
	_, frac, _ := strings.Cut(d.s, ".")
	return len(frac)
}

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case strings.HasPrefix(d.s, "-"):
		return -1
	case strings.Trim(d.s, "0.") == "":
		return 0
	}
	return 1
}

// Cmp compares values: -1 if d < o, 0 if equal (whatever their scales), +1 if d > o.
func (d Decimal) Cmp(o Decimal) int { return d.value().Cmp(o.value()) }

// Add returns d + o, exactly, at the larger of the two scales. Arithmetic is
// never rounded nor capped: MaxIntegerDigits bounds what is parsed, and a sum
// of many amounts may go past it.
func (d Decimal) Add(o Decimal) Decimal { return fromValue(d.value().Add(o.value())) }

// Sub returns d - o, exactly, at the larger of the two scales.
func (d Decimal) Sub(o Decimal) Decimal { return fromValue(d.value().Sub(o.value())) }

// Neg returns -d at the same scale.
func (d Decimal) Neg() Decimal { return fromValue(d.value().Neg()) }
