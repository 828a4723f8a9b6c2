package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

var _ providers.DataConnector = (*Connector)(nil)

// Accounts lists the grant's checking, savings, credit card and brokerage
// accounts with their balances now.
func (c *Connector) Accounts(ctx context.Context, tokens providers.Tokens) ([]providers.AccountRecord, error) {
	l, now, err := c.open(ctx, tokens)
	if err != nil {
		return nil, err
	}
	return l.accounts(now), nil
}

// Holdings returns the brokerage account's positions now, complete; for
// UserPartial, that account's failure instead.
func (c *Connector) Holdings(ctx context.Context, tokens providers.Tokens) (providers.HoldingsAnswer, error) {
	l, now, err := c.open(ctx, tokens)
	if err != nil {
		return providers.HoldingsAnswer{}, err
	}
	if l.partial {
		return providers.HoldingsAnswer{Failures: []providers.AccountFailure{{
			InstitutionAccountID: l.accountID(brokerage),
			Err:                  fmt.Errorf("sandbox: positions answered 503: %w", domain.ErrProviderUnavailable),
		}}}, nil
	}
	return l.holdings(now), nil
}

// Transactions returns the next page of at most PageSize changes after resume.
// A loop covers what changed up to the moment its first page was asked for;
// the last page's resume state starts the next loop from there.
func (c *Connector) Transactions(ctx context.Context, tokens providers.Tokens, resume []byte) (providers.TransactionPage, error) {
	cur, err := parseCursor(resume)
	if err != nil {
		return providers.TransactionPage{}, err
	}
	l, now, err := c.open(ctx, tokens)
	if err != nil {
		return providers.TransactionPage{}, err
	}
	return l.transactions(cur, now), nil
}

// open checks the access token as the institution would and returns the
// grant's ledger and the ledger's time (Config.DataTimeOffset later than
// the token's), or the failure the grant's user is set up for.
// An invalid or expired access token is domain.ErrInvalidRequest: the caller
// refreshes and tries again, as with a real institution's 401.
func (c *Connector) open(ctx context.Context, tokens providers.Tokens) (ledger, time.Time, error) {
	s := c.institution.s
	now := s.Now()
	cl, ok := s.verify(tokens.AccessToken, kindAccess, now)
	if !ok {
		return ledger{}, time.Time{}, fmt.Errorf("sandbox: access token is invalid or expired: %w", domain.ErrInvalidRequest)
	}
	if err := failure(ctx, cl.User); err != nil {
		return ledger{}, time.Time{}, err
	}
	return newLedger(cl.Grant, cl.User, time.Unix(cl.Consent, 0)), now.Add(s.DataTimeOffset), nil
}
