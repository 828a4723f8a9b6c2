// Package finance holds what Dashtam reads from institutions: accounts, their
// balances, the securities and holdings in them, and their transactions. Each
// entity validates what a connector hands it, so nothing malformed, ambiguous or
// secret (a full account number) can be stored. Amounts are signed one way
// everywhere: positive is money into the account.
package finance

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/money"
)

// Text length bounds, in characters.
const (
	maxNameLength        = 200  // account, security and merchant names, subtypes, categories
	maxDescriptionLength = 1000 // a transaction's description
	maxIdentifierLength  = 256  // an institution's own id for an account, security or transaction
)

// cleanText trims institution text and turns control characters (and invalid
// UTF-8) into spaces: a tab in a bank's description is the bank's, and refusing
// the transaction for it would lose data. Only emptiness and length are errors,
// as *domain.ValidationError on field.
func cleanText(field, s string, maxLen int, required bool) (string, error) {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s))
	switch n := utf8.RuneCountInString(s); {
	case n == 0 && required:
		return "", domain.NewValidationError(field, "required", "This field is required.")
	case n > maxLen:
		return "", domain.NewValidationError(field, "too_long", fmt.Sprintf("Must be at most %d characters.", maxLen))
	}
	return s, nil
}

// amount is one money field of an entity, named as in the API.
type amount struct {
	field string
	m     money.Money
	// unitPrice: a price keeps up to money.MaxQuantityScale decimals; any other
	// amount up to money.MaxAmountScale.
	unitPrice bool
}

// checkAmounts records in v every set amount that is not in currency c (when
// c is known), or is more precise than its kind of amount may be: a price handed
// over as a market value would otherwise be rounded by storage, silently.
func checkAmounts(v *domain.ValidationError, c money.Currency, amounts ...amount) {
	for _, a := range amounts {
		switch {
		case !a.m.IsSet():
		case !c.IsZero() && a.m.Currency() != c:
			v.Add(a.field, "currency_mismatch", "Must be in the same currency as the other amounts.")
		case !a.unitPrice && a.m.Amount().Scale() > money.MaxAmountScale:
			v.Add(a.field, "too_precise", fmt.Sprintf("Must have at most %d decimals.", money.MaxAmountScale))
		}
	}
}
