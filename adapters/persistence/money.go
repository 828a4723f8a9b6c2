package persistence

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dashtam/dashtam/domain/money"
)

// Widths of amountKey's digits: every value the domain parses fits
// (money.MaxIntegerDigits before the point, money.MaxQuantityScale after), so
// a filter bound with more decimals than an amount still compares exactly.
const (
	keyIntegerDigits  = money.MaxIntegerDigits
	keyFractionDigits = money.MaxQuantityScale
)

// errAmountOutOfBounds: a value beyond the domain's bounds, which only
// arithmetic (a sum) can make. It is not stored rather than rounded.
var errAmountOutOfBounds = errors.New("amount beyond the bounds storage keeps exactly")

// amountKey returns d in a fixed-width text whose byte order is d's numeric
// order, so that "amount >= ?" on it is an exact numeric comparison on both
// dialects, with no float and no decimal type (SQLite has none).
//
// An integer of the amount in 10^-4 units would not do: 15 digits before the
// point and 4 after make 19 digits, beyond int64 (9.2e18). The key is "p" and
// the digits of |d| padded to 15 + 8 places for d >= 0; for d < 0 it is "n"
// and the nines' complement of those digits, so that negatives sort first and
// a larger magnitude sorts lower. The domain never makes a negative zero.
func amountKey(d money.Decimal) (string, error) {
	s := d.String()
	negative := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(whole) > keyIntegerDigits || len(frac) > keyFractionDigits {
		return "", fmt.Errorf("%w: %s", errAmountOutOfBounds, s)
	}
	digits := []byte(strings.Repeat("0", keyIntegerDigits-len(whole)) + whole +
		frac + strings.Repeat("0", keyFractionDigits-len(frac)))
	if !negative {
		return "p" + string(digits), nil
	}
	for i, c := range digits {
		digits[i] = '9' - (c - '0')
	}
	return "n" + string(digits), nil
}
