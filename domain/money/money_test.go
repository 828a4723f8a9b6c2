package money

import (
	"errors"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// amount parses a valid amount; t is a *testing.T or a *rapid.T.
func amount(t interface {
	Helper()
	Fatalf(string, ...any)
}, s, currency string) Money {
	t.Helper()
	m, err := ParseAmount("amount", s, currency)
	if err != nil {
		t.Fatalf("ParseAmount(%q, %q): %v", s, currency, err)
	}
	return m
}

func TestParseAmountKeepsTheInstitutionsDigits(t *testing.T) {
	m := amount(t, "-42.50", "USD")
	if m.Amount().String() != "-42.50" || m.Currency() != USD || m.String() != "-42.50 USD" || !m.IsSet() {
		t.Errorf("got %q in %v (set %v), want -42.50 USD", m.Amount(), m.Currency(), m.IsSet())
	}
	if yen := amount(t, "1200", "JPY"); yen.String() != "1200 JPY" {
		t.Errorf("got %q, want 1200 JPY", yen)
	}
}

func TestParseAmountNamesTheFieldAtFault(t *testing.T) {
	for _, tc := range []struct {
		name, amount, currency, field, code string
	}{
		{"a float's exponent", "1e-7", "USD", "current", "invalid"},
		{"NaN", "NaN", "USD", "current", "invalid"},
		{"five decimals", "0.12345", "USD", "current", "too_precise"},
		{"no amount", "", "USD", "current", "required"},
		{"no currency", "1.00", "", "currency", "required"},
		{"an unknown currency", "1.00", "BTC", "currency", "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseAmount("current", tc.amount, tc.currency)
			if m.IsSet() {
				t.Errorf("got %v", m)
			}
			if got := fieldCode(t, err, tc.field); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
		})
	}
}

func TestParsePriceTakesEightDecimalsAndNoMore(t *testing.T) {
	p, err := ParsePrice("price", "0.00012345", "USD")
	if err != nil || p.String() != "0.00012345 USD" {
		t.Errorf("ParsePrice = %v, %v; want 0.00012345 USD", p, err)
	}
	_, err = ParsePrice("price", "0.000123456", "USD")
	if got := fieldCode(t, err, "price"); got != "too_precise" {
		t.Errorf("code %q, want too_precise", got)
	}
}

func TestMoneyAddsAndSubtractsWithinOneCurrency(t *testing.T) {
	sum, err := amount(t, "10.25", "EUR").Add(amount(t, "-0.255", "EUR"))
	if err != nil || sum.String() != "9.995 EUR" {
		t.Errorf("10.25 + -0.255 = %v, %v; want 9.995 EUR", sum, err)
	}
	diff, err := amount(t, "10", "EUR").Sub(amount(t, "0.10", "EUR"))
	if err != nil || diff.String() != "9.90 EUR" {
		t.Errorf("10 - 0.10 = %v, %v; want 9.90 EUR", diff, err)
	}
	if neg := amount(t, "42.50", "USD").Neg(); neg.String() != "-42.50 USD" {
		t.Errorf("-(42.50 USD) = %v", neg)
	}
}

func TestMoneyRefusesToMixCurrencies(t *testing.T) {
	usd, eur := amount(t, "1.00", "USD"), amount(t, "1.00", "EUR")
	for _, tc := range []struct {
		name string
		op   func() (Money, error)
	}{
		{"USD + EUR", func() (Money, error) { return usd.Add(eur) }},
		{"USD - EUR", func() (Money, error) { return usd.Sub(eur) }},
		{"USD + no amount", func() (Money, error) { return usd.Add(Money{}) }},
		{"no amount + no amount", func() (Money, error) { return Money{}.Add(Money{}) }},
	} {
		got, err := tc.op()
		if !errors.Is(err, ErrCurrencyMismatch) || got.IsSet() {
			t.Errorf("%s = %v, %v; want ErrCurrencyMismatch and no amount", tc.name, got, err)
		}
	}
}

func TestMoneyEqualComparesValueAndCurrency(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b Money
		want bool
	}{
		{"same digits", amount(t, "1.50", "USD"), amount(t, "1.50", "USD"), true},
		{"different scales", amount(t, "1.5", "USD"), amount(t, "1.50", "USD"), true},
		{"different amounts", amount(t, "1.50", "USD"), amount(t, "1.51", "USD"), false},
		{"different currencies", amount(t, "1.50", "USD"), amount(t, "1.50", "EUR"), false},
		{"zero and no amount", amount(t, "0", "USD"), Money{}, false},
		{"no amount and no amount", Money{}, Money{}, true},
	} {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%s: %v.Equal(%v) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNewCombinesAQuantityAndACurrency(t *testing.T) {
	d, _ := ParseQuantity("q", "3.25")
	if m := New(d, GBP); m.String() != "3.25 GBP" || !m.Equal(amount(t, "3.25", "GBP")) {
		t.Errorf("New(3.25, GBP) = %v", m)
	}
	if (Money{}).String() != "" || (Money{}).IsSet() {
		t.Errorf("the zero Money prints %q and is set %v; want nothing, not set", Money{}.String(), Money{}.IsSet())
	}
}

func TestAddingThenSubtractingGivesTheSameAmountBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		as, _ := decimalText(t, "a", MaxAmountScale)
		bs, _ := decimalText(t, "b", MaxAmountScale)
		a, b := amount(t, as, "USD"), amount(t, bs, "USD")
		sum, err := a.Add(b)
		if err != nil {
			t.Fatal(err)
		}
		back, err := sum.Sub(b)
		if err != nil || !back.Equal(a) {
			t.Fatalf("(%v + %v) - %v = %v, %v; want %v", a, b, b, back, err, a)
		}
		if a.Amount().Scale() >= b.Amount().Scale() && back != a {
			t.Fatalf("(%v + %v) - %v printed %v, want %v digit for digit", a, b, b, back, a)
		}
	})
}

func TestAnAmountInAnyCurrencyPrintsAsItWasParsed(t *testing.T) {
	codes := strings.Fields(isoCurrencies)
	rapid.Check(t, func(t *rapid.T) {
		s, _ := decimalText(t, "amount", MaxAmountScale)
		code := rapid.SampledFrom(codes).Draw(t, "currency")
		m := amount(t, s, code)
		if m.String() != s+" "+code {
			t.Fatalf("ParseAmount(%q, %q) prints %q", s, code, m)
		}
		again := amount(t, m.Amount().String(), m.Currency().String())
		if again != m {
			t.Fatalf("reparsing %v gave %v", m, again)
		}
	})
}
