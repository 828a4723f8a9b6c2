// Package money holds exact monetary values: ISO 4217 currencies, decimal
// numbers that keep the digits an institution sent, and amounts of money that
// only add up within one currency. Nothing here is a float: a balance of
// "-42.50" is stored, compared and shown as exactly that.
package money

import (
	"fmt"
	"strings"

	"github.com/dashtam/dashtam/domain"
)

// Currency is an ISO 4217 alphabetic currency code. The zero Currency is "no
// currency" and is what an unset Money carries.
type Currency struct{ code string }

// The currencies the tests and connectors name most; every other code in
// isoCurrencies is equally valid through ParseCurrency.
var (
	USD = Currency{"USD"}
	EUR = Currency{"EUR"}
	GBP = Currency{"GBP"}
	JPY = Currency{"JPY"}
)

// isoCurrencies are the ISO 4217 codes in use (list 1, 2025), funds codes
// included, "no currency" (XXX) and the testing code (XTS) left out: an amount in
// either is not money. Withdrawn codes are left out too, so a value that makes
// no sense today cannot be stored.
const isoCurrencies = "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL " +
	"BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF " +
	"DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG " +
	"HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK " +
	"LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN " +
	"NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR " +
	"SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY " +
	"TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA " +
	"XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG"

var knownCurrencies = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(isoCurrencies) {
		m[c] = true
	}
	return m
}()

// ParseCurrency validates an ISO 4217 code for field. A code must be three
// upper-case letters ("invalid" otherwise) and one that ISO 4217 lists
// ("unsupported" otherwise). Well-formed codes outside the list are refused
// rather than stored as they come: Plaid's unofficial_currency_code carries
// crypto tickers, and a client reading "currency": "BTC" would take it for ISO.
// The two codes let a connector tell a malformed answer from a new currency,
// which is then added to the list.
func ParseCurrency(field, code string) (Currency, error) {
	switch {
	case code == "":
		return Currency{}, domain.NewValidationError(field, "required", "Currency is required.")
	case !isThreeUpper(code):
		return Currency{}, domain.NewValidationError(field, "invalid", "Currency must be an ISO 4217 code of three upper-case letters.")
	case !knownCurrencies[code]:
		return Currency{}, domain.NewValidationError(field, "unsupported", fmt.Sprintf("Currency %s is not an ISO 4217 currency.", code))
	}
	return Currency{code}, nil
}

func isThreeUpper(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range len(s) {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// String returns the ISO 4217 code ("" for the zero Currency).
func (c Currency) String() string { return c.code }

// IsZero reports whether c is the zero Currency.
func (c Currency) IsZero() bool { return c.code == "" }
