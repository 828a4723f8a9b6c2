package plaid

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// The data half of the connector (providers.DataConnector): /accounts/get,
// /transactions/sync and the two investments endpoints. What Link asked
// consent for (Config.Products) decides what is fetched: "transactions"
// enables /transactions/sync, "investments" the holdings and the investment
// transactions; accounts and balances come with any product.

var _ providers.DataConnector = (*Connector)(nil)

// The Plaid products the data half reads.
const (
	productTransactions = "transactions"
	productInvestments  = "investments"
)

// Paths of the data endpoints.
const (
	pathAccountsGet               = "/accounts/get"
	pathTransactionsSync          = "/transactions/sync"
	pathHoldingsGet               = "/investments/holdings/get"
	pathInvestmentTransactionsGet = "/investments/transactions/get"
)

// pageCount is how many changes one /transactions/sync or
// /investments/transactions/get call asks for: both endpoints' maximum.
const pageCount = 500

func (c *Connector) has(product string) bool { return slices.Contains(c.cfg.Products, product) }

// capabilities names exactly what the configured products let the
// connector fetch.
func (c *Connector) capabilities() []string {
	out := []string{providers.CapabilityAccounts}
	if c.has(productInvestments) {
		out = append(out, providers.CapabilityHoldings)
	}
	if c.has(productTransactions) || c.has(productInvestments) {
		out = append(out, providers.CapabilityTransactions)
	}
	return out
}

// Accounts lists the item's accounts with their balances (/accounts/get,
// which serves cached balances and works with any product). A credit or loan
// account's current balance is what is owed, positive, as Plaid and the
// domain both have it; only the mask of an account number is kept.
func (c *Connector) Accounts(ctx context.Context, tokens providers.Tokens) ([]providers.AccountRecord, error) {
	const op = "plaid: get accounts"
	var out accountsGetResponse
	in := accessRequest{credentials: c.credentials(), AccessToken: tokens.AccessToken}
	if err := c.call(ctx, op, pathAccountsGet, in, &out, tokens.AccessToken); err != nil {
		return nil, err
	}
	asOf := c.now()
	records := make([]providers.AccountRecord, 0, len(out.Accounts))
	for _, a := range out.Accounts {
		records = append(records, accountRecord(a, asOf))
	}
	return records, nil
}

// accountRecord converts one Plaid account. A balance that cannot be
// converted exactly is left unset whole, so the engine refuses it and fails
// that account alone.
func accountRecord(a wireAccount, asOf time.Time) providers.AccountRecord {
	currency := currencyOf(a.Balances.ISOCurrencyCode, a.Balances.UnofficialCurrencyCode)
	name := a.Name
	if name == "" {
		name = deref(a.OfficialName)
	}
	rec := providers.AccountRecord{
		Details: finance.AccountDetails{
			InstitutionAccountID: a.AccountID,
			Name:                 name,
			OfficialName:         deref(a.OfficialName),
			Mask:                 deref(a.Mask),
			Type:                 accountType(a.Type),
			Subtype:              deref(a.Subtype),
		},
		Status: finance.AccountOpen,
	}
	if cur, err := money.ParseCurrency("currency", currency); err == nil {
		rec.Details.Currency = cur
	}
	current, errCurrent := optionalAmount("current", a.Balances.Current, currency)
	available, errAvailable := optionalAmount("available", a.Balances.Available, currency)
	limit, errLimit := optionalAmount("limit", a.Balances.Limit, currency)
	if errors.Join(errCurrent, errAvailable, errLimit) == nil {
		rec.Balance = providers.BalanceRecord{Current: current, Available: available, Limit: limit, AsOf: asOf}
	}
	return rec
}

// accountType maps Plaid's account types; brokerage is an older name of
// investment.
func accountType(t string) finance.AccountType {
	switch t {
	case "depository":
		return finance.AccountDepository
	case "credit":
		return finance.AccountCredit
	case "loan":
		return finance.AccountLoan
	case "investment", "brokerage":
		return finance.AccountInvestment
	}
	return finance.AccountOther
}

// Holdings returns every investment account's positions
// (/investments/holdings/get) with the security master the answer carries.
// Securities are keyed by Plaid's security_id (finance.SecurityKey's
// institution scheme), with ISIN and CUSIP kept when Plaid gives them. A
// cash-equivalent security (a money-market sweep, Plaid's "CUR:USD" cash) is
// marked CashEquivalent: Plaid's investment balance already counts it as
// cash, so a total counts it once. Two positions of one security in one
// account (lots) are one holding, summed.
//
// Without the investments product there is nothing to fetch
// (domain.ErrNotSupported); an item with no investment account answers an
// empty set.
func (c *Connector) Holdings(ctx context.Context, tokens providers.Tokens) (providers.HoldingsAnswer, error) {
	const op = "plaid: get holdings"
	if !c.has(productInvestments) {
		return providers.HoldingsAnswer{}, httpx.Fail(domain.ErrNotSupported, op, "the investments product is not configured", nil)
	}
	var out holdingsGetResponse
	in := accessRequest{credentials: c.credentials(), AccessToken: tokens.AccessToken}
	err := c.call(ctx, op, pathHoldingsGet, in, &out, tokens.AccessToken)
	if noInvestments(err) {
		return providers.HoldingsAnswer{}, nil
	}
	if err != nil {
		return providers.HoldingsAnswer{}, err
	}
	return holdingsAnswer(out, c.now()), nil
}

// noInvestments reports whether err is Plaid saying the item has no
// investment data to give.
func noInvestments(err error) bool {
	var apiErr *apiError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == "NO_INVESTMENT_ACCOUNTS" || apiErr.ErrorCode == "PRODUCTS_NOT_SUPPORTED")
}

func holdingsAnswer(out holdingsGetResponse, asOf time.Time) providers.HoldingsAnswer {
	var answer providers.HoldingsAnswer
	keys := make(map[string]finance.SecurityKey, len(out.Securities))
	for _, s := range out.Securities {
		d := securityDetails(s)
		keys[s.SecurityID] = d.Key()
		answer.Securities = append(answer.Securities, d)
	}
	failed := map[string]error{}
	byPosition := map[[2]string]int{} // account, security -> index in answer.Holdings
	for _, h := range out.Holdings {
		if _, ok := failed[h.AccountID]; ok {
			continue
		}
		rec, err := holdingRecord(h, keys, asOf)
		if err != nil {
			failed[h.AccountID] = err
			continue
		}
		k := [2]string{h.AccountID, h.SecurityID}
		if i, twice := byPosition[k]; twice {
			if err := addLot(&answer.Holdings[i], rec); err != nil {
				failed[h.AccountID] = err
			}
			continue
		}
		byPosition[k] = len(answer.Holdings)
		answer.Holdings = append(answer.Holdings, rec)
	}
	if len(failed) == 0 {
		return answer
	}
	answer.Holdings = slices.DeleteFunc(answer.Holdings, func(h providers.HoldingRecord) bool {
		_, bad := failed[h.InstitutionAccountID]
		return bad
	})
	for _, id := range sortedKeys(failed) {
		answer.Failures = append(answer.Failures, providers.AccountFailure{InstitutionAccountID: id,
			Err: httpx.Fail(domain.ErrProviderUnavailable, "plaid: get holdings", "a position could not be read exactly", failed[id])})
	}
	return answer
}

// holdingRecord converts one position.
func holdingRecord(h wireHolding, keys map[string]finance.SecurityKey, asOf time.Time) (providers.HoldingRecord, error) {
	key, ok := keys[h.SecurityID]
	if !ok {
		return providers.HoldingRecord{}, errors.New("a position names a security the answer does not describe")
	}
	currency := currencyOf(h.ISOCurrencyCode, h.UnofficialCurrencyCode)
	quantity, errQ := quantityOf("quantity", h.Quantity)
	price, errP := priceOf("institution_price", h.InstitutionPrice, currency)
	value, errV := amountOf("institution_value", h.InstitutionValue, currency)
	cost, errC := optionalAmount("cost_basis", h.CostBasis, currency)
	if err := errors.Join(errQ, errP, errV, errC); err != nil {
		return providers.HoldingRecord{}, err
	}
	return providers.HoldingRecord{InstitutionAccountID: h.AccountID, Security: key, Quantity: quantity, Price: price,
		PriceAsOf: optionalDate(h.InstitutionPriceAsOf), MarketValue: value, CostBasis: cost, AsOf: asOf}, nil
}

// addLot adds lot, another position of the same security in the same
// account, to h.
func addLot(h *providers.HoldingRecord, lot providers.HoldingRecord) error {
	value, err := h.MarketValue.Add(lot.MarketValue)
	if err != nil {
		return err
	}
	var cost money.Money // unknown for one lot: unknown for the position
	if h.CostBasis.IsSet() && lot.CostBasis.IsSet() {
		if cost, err = h.CostBasis.Add(lot.CostBasis); err != nil {
			return err
		}
	}
	h.Quantity, h.MarketValue, h.CostBasis = h.Quantity.Add(lot.Quantity), value, cost
	return nil
}

// securityDetails converts one security of Plaid's security master.
func securityDetails(s wireSecurity) finance.SecurityDetails {
	d := finance.SecurityDetails{
		InstitutionSecurityID: s.SecurityID,
		ISIN:                  deref(s.ISIN),
		CUSIP:                 deref(s.CUSIP),
		Symbol:                deref(s.TickerSymbol),
		Name:                  deref(s.Name),
		Type:                  securityType(deref(s.Type)),
		CashEquivalent:        s.IsCashEquivalent != nil && *s.IsCashEquivalent,
	}
	if cur, err := money.ParseCurrency("currency", currencyOf(s.ISOCurrencyCode, s.UnofficialCurrencyCode)); err == nil {
		d.Currency = cur
	}
	return d
}

// securityType maps Plaid's security types.
func securityType(t string) finance.SecurityType {
	switch t {
	case "cash":
		return finance.SecurityCash
	case "cryptocurrency":
		return finance.SecurityCryptocurrency
	case "derivative":
		return finance.SecurityDerivative
	case "equity":
		return finance.SecurityEquity
	case "etf":
		return finance.SecurityETF
	case "fixed income":
		return finance.SecurityFixedIncome
	case "mutual fund":
		return finance.SecurityMutualFund
	}
	return finance.SecurityOther
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// opError builds the classified error of op for a reason of ours.
func opError(kind error, op, format string, args ...any) error {
	return httpx.Fail(kind, op, fmt.Sprintf(format, args...), nil)
}
