package schwab

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
)

// Accounts lists every account of the grant with its balance, from
// /accounts/accountNumbers (each account's hashValue, its id here) and
// /accounts. Schwab reports in US dollars only. The account's value is
// currentBalances.liquidationValue, which counts a cash sweep once, as a
// position; its cash (cashBalance for a margin account, totalCash or
// cashAvailableForWithdrawal for a cash account) is the available balance.
// The plain account number leaves the connector only as its last four
// characters, the mask.
func (c *Connector) Accounts(ctx context.Context, tokens providers.Tokens) ([]providers.AccountRecord, error) {
	numbers, err := c.accountNumbers(ctx, tokens)
	if err != nil {
		return nil, err
	}
	var answers []wireAccountAnswer
	if err := c.api.get(ctx, "schwab: list accounts", tokens, "/accounts", nil, &answers); err != nil {
		return nil, err
	}
	byNumber := make(map[string]wireSecuritiesAccount, len(answers))
	for _, a := range answers {
		byNumber[a.SecuritiesAccount.AccountNumber] = a.SecuritiesAccount
	}
	now := c.api.now()
	out := make([]providers.AccountRecord, 0, len(numbers))
	for _, n := range numbers {
		acct, ok := byNumber[n.AccountNumber]
		if !ok {
			// Listed by number but not answered for: ask for it by hash.
			var one wireAccountAnswer
			if err := c.api.get(ctx, "schwab: read account", tokens, accountPath(n.HashValue), nil, &one); err != nil {
				return nil, err
			}
			acct = one.SecuritiesAccount
		}
		rec, err := accountRecord(n, acct, now)
		if err != nil {
			return nil, httpx.Fail(domain.ErrProviderUnavailable, "schwab: list accounts", err.Error(), err, n.AccountNumber)
		}
		out = append(out, rec)
	}
	return out, nil
}

// accountRecord maps one account.
func accountRecord(n wireAccountNumber, acct wireSecuritiesAccount, now time.Time) (providers.AccountRecord, error) {
	b := acct.CurrentBalances
	value, err := number("liquidationValue", b.LiquidationValue)
	if err != nil {
		return providers.AccountRecord{}, err
	}
	current, err := amountOf("liquidationValue", value)
	if err != nil {
		return providers.AccountRecord{}, errors.New("liquidationValue is not an amount")
	}
	rec := providers.AccountRecord{
		Details: finance.AccountDetails{
			InstitutionAccountID: n.HashValue,
			Name:                 accountName(acct.Type),
			Mask:                 lastFour(n.AccountNumber),
			Type:                 finance.AccountInvestment,
			Subtype:              strings.ToLower(acct.Type),
			Currency:             usd,
		},
		Status:  finance.AccountOpen,
		Balance: providers.BalanceRecord{Current: current, AsOf: now},
	}
	cash := b.CashBalance
	if acct.Type != "MARGIN" || cash == "" {
		cash = first(b.TotalCash, b.CashAvailableForWithdrawal, b.CashBalance)
	}
	if cash != "" {
		d, err := number("cash", cash)
		if err != nil {
			return providers.AccountRecord{}, err
		}
		if rec.Balance.Available, err = amountOf("cash", d); err != nil {
			return providers.AccountRecord{}, errors.New("the cash balance is not an amount")
		}
	}
	return rec, nil
}

// first is the first non-empty value of list.
func first[T ~string](list ...T) T {
	for _, n := range list {
		if n != "" {
			return n
		}
	}
	return ""
}

// accountName names an account by its type, since Schwab gives no name.
func accountName(typ string) string {
	switch typ {
	case "MARGIN":
		return "Schwab margin account"
	case "CASH":
		return "Schwab cash account"
	}
	return "Schwab account"
}

// lastFour is the end of an account number, the only part ever kept.
func lastFour(number string) string {
	if len(number) > finance.MaskLength {
		return number[len(number)-finance.MaskLength:]
	}
	return number
}

// Holdings returns every account's positions, one GET
// /accounts/{hashValue}?fields=positions per account, so one account Schwab
// cannot answer for goes into Failures while the others are delivered. A
// position sold to zero is absent from Schwab's answer (or has a net quantity
// of zero) and so from this one: the engine removes it.
func (c *Connector) Holdings(ctx context.Context, tokens providers.Tokens) (providers.HoldingsAnswer, error) {
	numbers, err := c.accountNumbers(ctx, tokens)
	if err != nil {
		return providers.HoldingsAnswer{}, err
	}
	var answer providers.HoldingsAnswer
	var securities securitySet
	for _, n := range numbers {
		var one wireAccountAnswer
		err := c.api.get(ctx, "schwab: read positions", tokens, accountPath(n.HashValue),
			url.Values{"fields": {"positions"}}, &one)
		if err == nil {
			var records []providers.HoldingRecord
			records, err = holdings(n.HashValue, one.SecuritiesAccount.Positions, &securities, c.api.now())
			answer.Holdings = append(answer.Holdings, records...)
		}
		switch {
		case err == nil:
		case perAccount(err):
			answer.Failures = append(answer.Failures, providers.AccountFailure{InstitutionAccountID: n.HashValue, Err: err})
		default:
			return providers.HoldingsAnswer{}, err
		}
	}
	answer.Securities = securities.list
	return answer, nil
}

// holdings maps an account's positions. Each is keyed by its security (the
// instrument id, else the CUSIP, else the symbol, with the asset type); its
// quantity is long minus short, so a short position is negative. An
// option's market value is Schwab's (quantity x price x multiplier); its
// price is per share, the market value divided by quantity and multiplier.
// Any position that cannot be read fails the whole account (the answer must
// be complete for the accounts it covers).
func holdings(hash string, positions []wirePosition, securities *securitySet, now time.Time) ([]providers.HoldingRecord, error) {
	fail := func(err error) ([]providers.HoldingRecord, error) {
		return nil, httpx.Fail(domain.ErrProviderUnavailable, "schwab: read positions", err.Error(), err)
	}
	var out []providers.HoldingRecord
	seen := map[finance.SecurityKey]bool{}
	for _, p := range positions {
		long, err := number("longQuantity", p.LongQuantity)
		if err != nil {
			return fail(err)
		}
		short, err := number("shortQuantity", p.ShortQuantity)
		if err != nil {
			return fail(err)
		}
		net := long.Sub(short)
		if net.IsZero() {
			continue // sold (or covered) to zero: the position is gone
		}
		sec, err := security(p.Instrument)
		if err != nil {
			return fail(err)
		}
		if seen[sec.Key()] {
			return fail(fmt.Errorf("the security %s is listed twice", sec.Key().Value))
		}
		seen[sec.Key()] = true
		rec, err := holding(hash, p, sec, net, now)
		if err != nil {
			return fail(err)
		}
		securities.add(sec)
		out = append(out, rec)
	}
	return out, nil
}

// holding maps one position of net quantity net.
func holding(hash string, p wirePosition, sec finance.SecurityDetails, net decimal.Decimal, now time.Time) (providers.HoldingRecord, error) {
	value, err := number("marketValue", p.MarketValue)
	if err != nil {
		return providers.HoldingRecord{}, err
	}
	mult := multiplier(p.Instrument)
	rec := providers.HoldingRecord{InstitutionAccountID: hash, Security: sec.Key(), AsOf: now}
	if rec.Quantity, err = quantityOf("quantity", net); err != nil {
		return rec, errors.New("the quantity is not a quantity")
	}
	if rec.MarketValue, err = amountOf("marketValue", value); err != nil {
		return rec, errors.New("the market value is not an amount")
	}
	// A derived price: rounded to 8 decimals, trailing zeros dropped.
	price := decimal.RequireFromString(value.DivRound(net.Mul(mult), money8).String())
	if rec.Price, err = priceOf("price", price); err != nil {
		return rec, errors.New("the price is not a price")
	}
	if p.AveragePrice != "" {
		avg, err := number("averagePrice", p.AveragePrice)
		if err != nil {
			return rec, err
		}
		if rec.CostBasis, err = amountOf("costBasis", avg.Mul(net).Mul(mult)); err != nil {
			return rec, errors.New("the cost basis is not an amount")
		}
	}
	return rec, nil
}

// money8 is the precision a derived price is rounded to.
const money8 = 8

// multiplier is how many shares one unit of the instrument stands for: an
// option's optionMultiplier (100 when Schwab leaves it out), 1 otherwise.
func multiplier(in wireInstrument) decimal.Decimal {
	if in.AssetType != "OPTION" {
		return decimal.NewFromInt(1)
	}
	if m, err := number("optionMultiplier", in.OptionMultiplier); err == nil && m.IsPositive() {
		return m
	}
	return decimal.NewFromInt(100)
}

// security describes an instrument. Its identity is the asset type with the
// instrument id, else the CUSIP, else the symbol (an option's OCC symbol is
// stable): Schwab has no position id, and the same instrument must get the
// same identity in positions and in transfer items.
func security(in wireInstrument) (finance.SecurityDetails, error) {
	id := first(string(in.InstrumentID), in.Cusip, strings.TrimSpace(in.Symbol))
	if id == "" || in.AssetType == "" {
		return finance.SecurityDetails{}, errors.New("an instrument has no identity (no instrumentId, cusip or symbol)")
	}
	d := finance.SecurityDetails{
		InstitutionSecurityID: in.AssetType + ":" + id,
		Symbol:                strings.TrimSpace(in.Symbol),
		Name:                  in.Description,
		Currency:              usd,
		CashEquivalent:        in.AssetType == "CASH_EQUIVALENT" || strings.Contains(in.Type, "MONEY_MARKET"),
	}
	if finance.ValidCUSIP(in.Cusip) { // a malformed one is left out rather than failing the security
		d.CUSIP = in.Cusip
	}
	switch in.AssetType {
	case "EQUITY":
		d.Type = finance.SecurityEquity
	case "COLLECTIVE_INVESTMENT":
		d.Type = finance.SecurityOther
		if in.Type == "EXCHANGE_TRADED_FUND" {
			d.Type = finance.SecurityETF
		}
	case "MUTUAL_FUND":
		d.Type = finance.SecurityMutualFund
	case "CASH_EQUIVALENT", "CURRENCY":
		d.Type = finance.SecurityCash
	case "FIXED_INCOME":
		d.Type = finance.SecurityFixedIncome
	case "OPTION":
		d.Type = finance.SecurityOption
	default:
		d.Type = finance.SecurityOther
	}
	return d, nil
}

// securitySet collects securities once each, in the order first seen.
type securitySet struct {
	keys map[finance.SecurityKey]bool
	list []finance.SecurityDetails
}

func (s *securitySet) add(d finance.SecurityDetails) {
	if s.keys == nil {
		s.keys = map[finance.SecurityKey]bool{}
	}
	if !s.keys[d.Key()] {
		s.keys[d.Key()] = true
		s.list = append(s.list, d)
	}
}
