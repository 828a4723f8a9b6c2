package sandbox

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// sandboxSecurity is a real security the brokerage account holds, with its
// real CUSIP and ISIN, so identities pass the domain's check digits.
type sandboxSecurity struct {
	index                     uint64
	symbol, name, cusip, isin string
	typ                       finance.SecurityType
	baseCents                 int64
}

var sandboxSecurities = []sandboxSecurity{
	{0, "AAPL", "Apple Inc.", "037833100", "US0378331005", finance.SecurityEquity, 19_000},
	{1, "MSFT", "Microsoft Corporation", "594918104", "US5949181045", finance.SecurityEquity, 41_000},
	{2, "VTI", "Vanguard Total Stock Market ETF", "922908769", "US9229087690", finance.SecurityETF, 27_000},
	{3, "SPY", "SPDR S&P 500 ETF Trust", "78462F103", "US78462F1030", finance.SecurityETF, 56_000},
}

// details is the security as the institution describes it.
func (s sandboxSecurity) details() finance.SecurityDetails {
	return finance.SecurityDetails{
		ISIN: s.isin, CUSIP: s.cusip, Symbol: s.symbol, Name: s.name, Type: s.typ, Currency: usdCurrency,
	}
}

var usdCurrency = usd(0).Currency()

// priceCents is the security's closing price on ledger day d: within 5% of
// its base, and the same for every grant, as a market price is.
func (s sandboxSecurity) priceCents(d int) int64 {
	r := rand.New(rand.NewPCG(streamPrice, s.index<<32|uint64(d)))
	return s.baseCents - s.baseCents/20 + r.Int64N(s.baseCents/10)
}

// units is how many of s the grant's brokerage account holds.
func (l ledger) units(s sandboxSecurity) int64 {
	return 5 + l.rng(streamHolding, s.index, 0).Int64N(200)
}

// holdings is the brokerage account's complete set of positions at t.
func (l ledger) holdings(t time.Time) providers.HoldingsAnswer {
	var a providers.HoldingsAnswer
	d := l.dayOf(t)
	for _, s := range sandboxSecurities {
		units, price := l.units(s), s.priceCents(d)
		a.Securities = append(a.Securities, s.details())
		a.Holdings = append(a.Holdings, providers.HoldingRecord{
			InstitutionAccountID: l.accountID(brokerage),
			Security:             s.details().Key(),
			Quantity:             quantity(units),
			Price:                usd(price),
			PriceAsOf:            l.date(d),
			MarketValue:          usd(units * price),
			CostBasis:            usd(units * s.baseCents),
			AsOf:                 t,
		})
	}
	return a
}

// accounts is every account of the grant with its balance at t.
func (l ledger) accounts(t time.Time) []providers.AccountRecord {
	out := make([]providers.AccountRecord, 0, accountKinds)
	for k := range accountKinds {
		a := sandboxAccounts[k]
		out = append(out, providers.AccountRecord{
			Details: finance.AccountDetails{
				InstitutionAccountID: l.accountID(k),
				Name:                 a.name,
				OfficialName:         a.official,
				Mask:                 l.mask(k),
				Type:                 a.typ,
				Subtype:              a.subtype,
				Currency:             usdCurrency,
			},
			Status:  finance.AccountOpen,
			Balance: l.balance(k, t),
		})
	}
	return out
}

// mask is the last four digits of an account's number.
func (l ledger) mask(k accountKind) string {
	return fmt.Sprintf("%04d", l.rng(streamAccount, uint64(k), 0).IntN(10_000))
}

// balance is account k's balance at t: a daily figure, so it changes as the
// days pass. A credit card's current balance is what is owed.
func (l ledger) balance(k accountKind, t time.Time) providers.BalanceRecord {
	cents := 10_000 + l.rng(streamAccount, uint64(k), uint64(l.dayOf(t))+1).Int64N(1_000_000)
	b := providers.BalanceRecord{Current: usd(cents), AsOf: t}
	switch k {
	case checking, savings:
		b.Available = b.Current
	case creditCard:
		const limitCents = 1_500_000
		b.Available, b.Limit = usd(limitCents-cents), usd(limitCents)
	case brokerage:
		for _, h := range l.holdings(t).Holdings {
			b.Current = mustAdd(b.Current, h.MarketValue)
		}
	}
	return b
}

// mustAdd adds two amounts the sandbox made in one currency.
func mustAdd(a, b money.Money) money.Money {
	sum, err := a.Add(b)
	if err != nil {
		panic("sandbox: " + err.Error())
	}
	return sum
}
