package money

import (
	"errors"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/domain"
)

// FuzzParseAmount feeds arbitrary text to ParseAmount, as a connector would
// hand over an institution's answer. Beyond not panicking: a refusal is one
// validation error naming the amount's field or the currency (so a sync records
// a clear per-account error), and an acceptance prints back exactly what was
// given (zero losing only a minus sign), at no more than MaxAmountScale
// decimals.
func FuzzParseAmount(f *testing.F) {
	for _, seed := range []struct{ amount, currency string }{
		{"-42.50", "USD"}, {"0", "JPY"}, {"-0.00", "EUR"}, {"1e3", "USD"}, {"NaN", "USD"}, {"+1", "USD"},
		{"1.23456", "USD"}, {"007", "USD"}, {"1.5", "usd"}, {"1.5", "BTC"}, {"\u22121.5", "USD"},
		{"999999999999999.9999", "GBP"}, {"1234567890123456", "GBP"}, {"", ""},
	} {
		f.Add(seed.amount, seed.currency)
	}
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m, err := ParseAmount("current", amount, currency)
		if err != nil {
			var verr *domain.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) != 1 ||
				(verr.Fields[0].Field != "current" && verr.Fields[0].Field != "currency") {
				t.Fatalf("ParseAmount(%q, %q): %v is not one validation error on current or currency", amount, currency, err)
			}
			if m.IsSet() {
				t.Fatalf("ParseAmount(%q, %q) returned %v alongside an error", amount, currency, m)
			}
			return
		}
		got := m.Amount().String()
		negativeZero := m.Amount().Sign() == 0 && "-"+got == amount
		if got != amount && !negativeZero {
			t.Fatalf("ParseAmount(%q) prints %q", amount, got)
		}
		if m.Currency().String() != currency || m.Amount().Scale() > MaxAmountScale {
			t.Fatalf("ParseAmount(%q, %q) = %v", amount, currency, m)
		}
		if strings.ContainsAny(got, "eE+") || m.Amount().Cmp(m.Amount()) != 0 {
			t.Fatalf("ParseAmount(%q) accepted %q", amount, got)
		}
	})
}
