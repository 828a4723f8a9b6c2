package schwab

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/money"
)

// The Trader API's answers, as far as the connector reads them. Numbers are
// json.Number, so amounts are converted exactly, never through a float.

type wireAccountNumber struct {
	AccountNumber string `json:"accountNumber"`
	HashValue     string `json:"hashValue"`
}

type wireAccountAnswer struct {
	SecuritiesAccount wireSecuritiesAccount `json:"securitiesAccount"`
}

type wireSecuritiesAccount struct {
	Type            string         `json:"type"`
	AccountNumber   string         `json:"accountNumber"`
	Positions       []wirePosition `json:"positions"`
	CurrentBalances wireBalances   `json:"currentBalances"`
}

type wireBalances struct {
	LiquidationValue           json.Number `json:"liquidationValue"`
	CashBalance                json.Number `json:"cashBalance"`
	TotalCash                  json.Number `json:"totalCash"`
	CashAvailableForWithdrawal json.Number `json:"cashAvailableForWithdrawal"`
}

type wirePosition struct {
	ShortQuantity json.Number    `json:"shortQuantity"`
	LongQuantity  json.Number    `json:"longQuantity"`
	AveragePrice  json.Number    `json:"averagePrice"`
	MarketValue   json.Number    `json:"marketValue"`
	Instrument    wireInstrument `json:"instrument"`
}

type wireInstrument struct {
	AssetType        string      `json:"assetType"`
	Cusip            string      `json:"cusip"`
	Symbol           string      `json:"symbol"`
	Description      string      `json:"description"`
	InstrumentID     json.Number `json:"instrumentId"`
	Type             string      `json:"type"`
	OptionMultiplier json.Number `json:"optionMultiplier"`
}

type wireActivity struct {
	ActivityID    json.Number        `json:"activityId"`
	Time          string             `json:"time"`
	Type          string             `json:"type"`
	Status        string             `json:"status"`
	TradeDate     string             `json:"tradeDate"`
	NetAmount     json.Number        `json:"netAmount"`
	Description   string             `json:"description"`
	TransferItems []wireTransferItem `json:"transferItems"`
}

type wireTransferItem struct {
	Instrument wireInstrument `json:"instrument"`
	Amount     json.Number    `json:"amount"`
	Cost       json.Number    `json:"cost"`
	Price      json.Number    `json:"price"`
	FeeType    string         `json:"feeType"`
}

// usd is the one currency Schwab's Trader API reports in.
var usd = mustCurrency("USD")

func mustCurrency(code string) money.Currency {
	c, err := money.ParseCurrency("currency", code)
	if err != nil {
		panic(err)
	}
	return c
}

// number reads a JSON number exactly (exponent forms included); an absent
// one is zero.
func number(field string, n json.Number) (decimal.Decimal, error) {
	if n == "" {
		return decimal.Zero, nil
	}
	d, err := decimal.NewFromString(string(n))
	if err != nil {
		return decimal.Zero, fmt.Errorf("%s is not a number", field)
	}
	return d, nil
}

// plain writes d as a plain decimal string at the scale it came with, or
// at scale decimals when it has more (only values the connector computed,
// such as a price derived from a market value, do).
func plain(d decimal.Decimal, scale int32) string {
	if -d.Exponent() > scale {
		return d.Round(scale).String()
	}
	if d.Exponent() < 0 {
		return d.StringFixed(-d.Exponent())
	}
	return d.String()
}

// amountOf is d as an amount of US dollars (at most 4 decimals).
func amountOf(field string, d decimal.Decimal) (money.Money, error) {
	return money.ParseAmount(field, plain(d, money.MaxAmountScale), "USD")
}

// priceOf is d as a unit price in US dollars (at most 8 decimals).
func priceOf(field string, d decimal.Decimal) (money.Money, error) {
	return money.ParsePrice(field, plain(d, money.MaxQuantityScale), "USD")
}

// quantityOf is d as a quantity (at most 8 decimals).
func quantityOf(field string, d decimal.Decimal) (money.Decimal, error) {
	return money.ParseQuantity(field, plain(d, money.MaxQuantityScale))
}

// The forms Schwab's timestamps take: the document's .SSSZ, and the
// "+0000" offset without a colon that real answers carry (which RFC 3339
// parsers refuse); with and without milliseconds.
var answerTimeLayouts = []string{
	"2006-01-02T15:04:05.000Z0700",
	"2006-01-02T15:04:05Z0700",
	time.RFC3339Nano,
}

// parseTime reads one of Schwab's timestamps.
func parseTime(field, s string) (time.Time, error) {
	for _, l := range answerTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q is not a timestamp", field, s)
}

// newYork is where Schwab keeps its books: a transaction's calendar date is
// its trade date there.
var newYork = mustLocation("America/New_York")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// nyDate is the New York calendar date of t.
func nyDate(t time.Time) calendar.Date {
	d, err := calendar.ParseDate("date", t.In(newYork).Format(time.DateOnly))
	if err != nil {
		panic(err) // a time.Time always formats to a valid date
	}
	return d
}

// requestTimeLayout is how the connector writes startDate and endDate:
// yyyy-MM-dd'T'HH:mm:ss.SSSZ in UTC, never a date alone.
const requestTimeLayout = "2006-01-02T15:04:05.000Z"
