package money

import (
	"errors"
	"testing"

	"github.com/dashtam/dashtam/domain"
)

// fieldCode returns the code of err, a validation error on field alone, and
// fails the test otherwise.
func fieldCode(t *testing.T, err error, field string) string {
	t.Helper()
	var verr *domain.ValidationError
	if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != field {
		t.Fatalf("err = %v, want one validation error on %s", err, field)
	}
	return verr.Fields[0].Code
}

func TestParseCurrencyAcceptsISOCodes(t *testing.T) {
	for _, tc := range []struct {
		code string
		want Currency
	}{{"USD", USD}, {"EUR", EUR}, {"GBP", GBP}, {"JPY", JPY}} {
		got, err := ParseCurrency("currency", tc.code)
		if err != nil || got != tc.want || got.String() != tc.code || got.IsZero() {
			t.Errorf("ParseCurrency(%q) = %v, %v; want %v", tc.code, got, err, tc.want)
		}
	}
	for _, code := range []string{"CHF", "CAD", "AUD", "CNY", "INR", "BHD", "CLF", "XAU", "ZWG", "XCG"} {
		if got, err := ParseCurrency("currency", code); err != nil || got.String() != code {
			t.Errorf("ParseCurrency(%q) = %v, %v; want %s", code, got, err, code)
		}
	}
}

func TestParseCurrencyRefusesWhatIsNotAnISOCode(t *testing.T) {
	for _, tc := range []struct {
		name, code, want string
	}{
		{"empty", "", "required"},
		{"lower case", "usd", "invalid"},
		{"two letters", "US", "invalid"},
		{"four letters", "USDT", "invalid"},
		{"digits", "840", "invalid"},
		{"surrounding space", " USD", "invalid"},
		{"a crypto ticker", "BTC", "unsupported"},
		{"no currency", "XXX", "unsupported"},
		{"the testing code", "XTS", "unsupported"},
		{"a withdrawn code", "DEM", "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCurrency("iso_currency_code", tc.code)
			if !c.IsZero() {
				t.Errorf("got currency %v", c)
			}
			if got := fieldCode(t, err, "iso_currency_code"); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
}
