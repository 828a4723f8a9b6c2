package plaid

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/money"
)

// The data endpoints' JSON, as Plaid's OpenAPI document (2020-09-14) names
// it. Only the fields Dashtam reads are declared; Plaid adds fields often,
// and the decoder ignores the others. Every amount, balance, quantity and
// price is a JSON number: it is decoded as a json.Number, the number's own
// text, and converted exactly (numberText), never through a float.

type accessRequest struct {
	credentials
	AccessToken string `json:"access_token"`
}

type accountsGetResponse struct {
	Accounts  []wireAccount `json:"accounts"`
	RequestID string        `json:"request_id"`
}

type wireAccount struct {
	AccountID    string       `json:"account_id"`
	Balances     wireBalances `json:"balances"`
	Mask         *string      `json:"mask"`
	Name         string       `json:"name"`
	OfficialName *string      `json:"official_name"`
	Type         string       `json:"type"`
	Subtype      *string      `json:"subtype"`
}

type wireBalances struct {
	Available              *json.Number `json:"available"`
	Current                *json.Number `json:"current"`
	Limit                  *json.Number `json:"limit"`
	ISOCurrencyCode        *string      `json:"iso_currency_code"`
	UnofficialCurrencyCode *string      `json:"unofficial_currency_code"`
}

type transactionsSyncRequest struct {
	credentials
	AccessToken string `json:"access_token"`
	Cursor      string `json:"cursor,omitempty"`
	Count       int    `json:"count"`
}

type transactionsSyncResponse struct {
	Added      []wireTransaction `json:"added"`
	Modified   []wireTransaction `json:"modified"`
	Removed    []wireRemoved     `json:"removed"`
	NextCursor string            `json:"next_cursor"`
	HasMore    bool              `json:"has_more"`
	RequestID  string            `json:"request_id"`
}

type wireTransaction struct {
	TransactionID           string        `json:"transaction_id"`
	AccountID               string        `json:"account_id"`
	Amount                  json.Number   `json:"amount"`
	ISOCurrencyCode         *string       `json:"iso_currency_code"`
	UnofficialCurrencyCode  *string       `json:"unofficial_currency_code"`
	Date                    string        `json:"date"`
	AuthorizedDate          *string       `json:"authorized_date"`
	Pending                 bool          `json:"pending"`
	PendingTransactionID    *string       `json:"pending_transaction_id"`
	Name                    string        `json:"name"`
	MerchantName            *string       `json:"merchant_name"`
	PaymentChannel          string        `json:"payment_channel"`
	PersonalFinanceCategory *wireCategory `json:"personal_finance_category"`
}

type wireCategory struct {
	Primary  string `json:"primary"`
	Detailed string `json:"detailed"`
}

type wireRemoved struct {
	TransactionID string `json:"transaction_id"`
	AccountID     string `json:"account_id"`
}

type holdingsGetResponse struct {
	Holdings   []wireHolding  `json:"holdings"`
	Securities []wireSecurity `json:"securities"`
	RequestID  string         `json:"request_id"`
}

type wireHolding struct {
	AccountID              string       `json:"account_id"`
	SecurityID             string       `json:"security_id"`
	Quantity               json.Number  `json:"quantity"`
	InstitutionPrice       json.Number  `json:"institution_price"`
	InstitutionPriceAsOf   *string      `json:"institution_price_as_of"`
	InstitutionValue       json.Number  `json:"institution_value"`
	CostBasis              *json.Number `json:"cost_basis"`
	ISOCurrencyCode        *string      `json:"iso_currency_code"`
	UnofficialCurrencyCode *string      `json:"unofficial_currency_code"`
}

type wireSecurity struct {
	SecurityID             string  `json:"security_id"`
	ISIN                   *string `json:"isin"`
	CUSIP                  *string `json:"cusip"`
	TickerSymbol           *string `json:"ticker_symbol"`
	Name                   *string `json:"name"`
	Type                   *string `json:"type"`
	IsCashEquivalent       *bool   `json:"is_cash_equivalent"`
	ISOCurrencyCode        *string `json:"iso_currency_code"`
	UnofficialCurrencyCode *string `json:"unofficial_currency_code"`
}

type investmentsTransactionsRequest struct {
	credentials
	AccessToken string                         `json:"access_token"`
	StartDate   string                         `json:"start_date"`
	EndDate     string                         `json:"end_date"`
	Options     investmentsTransactionsOptions `json:"options"`
}

type investmentsTransactionsOptions struct {
	Count  int `json:"count"`
	Offset int `json:"offset"`
}

type investmentsTransactionsResponse struct {
	InvestmentTransactions []wireInvestmentTransaction `json:"investment_transactions"`
	Securities             []wireSecurity              `json:"securities"`
	Total                  int                         `json:"total_investment_transactions"`
	RequestID              string                      `json:"request_id"`
}

type wireInvestmentTransaction struct {
	InvestmentTransactionID string       `json:"investment_transaction_id"`
	AccountID               string       `json:"account_id"`
	SecurityID              *string      `json:"security_id"`
	Date                    string       `json:"date"`
	Name                    string       `json:"name"`
	Quantity                json.Number  `json:"quantity"`
	Amount                  json.Number  `json:"amount"`
	Price                   json.Number  `json:"price"`
	Fees                    *json.Number `json:"fees"`
	Type                    string       `json:"type"`
	Subtype                 string       `json:"subtype"`
	ISOCurrencyCode         *string      `json:"iso_currency_code"`
	UnofficialCurrencyCode  *string      `json:"unofficial_currency_code"`
}

// errNoNumber: a required number is missing.
var errNoNumber = errors.New("number missing")

// numberText returns the JSON number n as plain decimal text, exactly: a
// plain number is kept as written ("12.50" stays "12.50"), and one in
// exponent form ("1.5e-7", which an encoder working from floats may write)
// is expanded exactly. The domain's parsers then check scale and size.
func numberText(n json.Number) (string, error) {
	s := n.String()
	if s == "" {
		return "", errNoNumber
	}
	if !strings.ContainsAny(s, "eE") {
		return s, nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// amountOf is n as an amount of money in currency (at most
// money.MaxAmountScale decimals, refused otherwise, never rounded).
func amountOf(field string, n json.Number, currency string) (money.Money, error) {
	s, err := numberText(n)
	if err != nil {
		return money.Money{}, err
	}
	return money.ParseAmount(field, s, currency)
}

// optionalAmount is amountOf, unset for a null number.
func optionalAmount(field string, n *json.Number, currency string) (money.Money, error) {
	if n == nil {
		return money.Money{}, nil
	}
	return amountOf(field, *n, currency)
}

// priceOf is n as a unit price in currency (up to 8 decimals).
func priceOf(field string, n json.Number, currency string) (money.Money, error) {
	s, err := numberText(n)
	if err != nil {
		return money.Money{}, err
	}
	return money.ParsePrice(field, s, currency)
}

// quantityOf is n as a quantity (up to 8 decimals).
func quantityOf(field string, n json.Number) (money.Decimal, error) {
	s, err := numberText(n)
	if err != nil {
		return money.Decimal{}, err
	}
	return money.ParseQuantity(field, s)
}

// currencyOf is Plaid's ISO currency code, or its unofficial one (which the
// domain refuses unless it is three capital letters), "" when neither is
// given.
func currencyOf(iso, unofficial *string) string {
	switch {
	case iso != nil && *iso != "":
		return *iso
	case unofficial != nil:
		return *unofficial
	}
	return ""
}

// optionalDate is a Plaid date, zero when null or invalid (an optional date
// Plaid got wrong is dropped, never guessed).
func optionalDate(s *string) calendar.Date {
	if s == nil {
		return calendar.Date{}
	}
	d, err := calendar.ParseDate("date", *s)
	if err != nil {
		return calendar.Date{}
	}
	return d
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
