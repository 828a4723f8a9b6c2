package datasync

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
)

// syncHoldings replaces the holdings of every account the answer covers
// with the answer's: a complete answer, so positions missing from it are
// removed. An account the institution could not answer for keeps what is
// stored, and fails.
func (r *run) syncHoldings(ctx context.Context) error {
	var answer providers.HoldingsAnswer
	err := r.call(ctx, func(tokens providers.Tokens) (err error) {
		answer, err = r.data.Holdings(ctx, tokens)
		return err
	})
	if errors.Is(err, domain.ErrNotSupported) {
		return nil
	}
	if err != nil {
		return err
	}
	securities, err := r.saveSecurities(ctx, answer.Securities)
	if err != nil {
		return err
	}
	failed := r.accountFailures(answer.Failures)
	byAccount := map[string][]providers.HoldingRecord{}
	for _, h := range answer.Holdings {
		byAccount[h.InstitutionAccountID] = append(byAccount[h.InstitutionAccountID], h)
	}
	var res datasync.HoldingResults
	for _, a := range r.answered {
		held := byAccount[a.InstitutionAccountID()]
		if failed[a.InstitutionAccountID()] || len(held) == 0 && a.Type() != finance.AccountInvestment {
			continue
		}
		counts, err := r.storeHoldings(ctx, a, held, securities)
		if err != nil {
			return err
		}
		res.Added, res.Updated, res.Removed = res.Added+counts.Added, res.Updated+counts.Updated, res.Removed+counts.Removed
	}
	return r.record(ctx, datasync.Results{Holdings: res}, nil)
}

// accountFailures records the errors of the accounts the institution could
// not answer for, and returns their institution ids.
func (r *run) accountFailures(failures []providers.AccountFailure) map[string]bool {
	failed := make(map[string]bool, len(failures))
	for _, f := range failures {
		failed[f.InstitutionAccountID] = true
		if a, ok := r.accounts[f.InstitutionAccountID]; ok {
			r.fail(accountFailure(a.ID(), f.Err))
		}
	}
	return failed
}

// storeHoldings makes held, the complete answer for a, a's holdings. An
// answer that cannot be stored (an invalid position, a security listed twice
// or not described) is a's error, and a keeps what is stored.
func (r *run) storeHoldings(ctx context.Context, a *finance.Account, held []providers.HoldingRecord,
	securities map[finance.SecurityKey]uuid.UUID,
) (datasync.HoldingResults, error) {
	now := r.engine.clock.Now()
	answer := make([]finance.HoldingDetails, 0, len(held))
	for _, h := range held {
		id, ok := securities[h.Security]
		if !ok {
			r.fail(invalidData(a.ID()))
			return datasync.HoldingResults{}, nil
		}
		answer = append(answer, finance.HoldingDetails{SecurityID: id, Quantity: h.Quantity, Price: h.Price,
			PriceAsOf: h.PriceAsOf, MarketValue: h.MarketValue, CostBasis: h.CostBasis, AsOf: h.AsOf})
	}
	counts, err := r.engine.finance.UpdateHoldings(ctx, a.ID(), func(stored []*finance.Holding) ([]*finance.Holding, error) {
		changes, err := finance.DiffHoldings(stored, answer)
		if err != nil {
			return nil, dataError{err}
		}
		return applyHoldings(a.ID(), changes, now)
	})
	switch {
	case isDataError(err) || errors.Is(err, finance.ErrDuplicateHolding):
		r.fail(invalidData(a.ID()))
		return datasync.HoldingResults{}, nil
	case err != nil:
		return datasync.HoldingResults{}, err
	}
	return datasync.HoldingResults{Added: counts.Added, Updated: counts.Updated, Removed: counts.Removed}, nil
}

// applyHoldings returns the account's holdings after changes: the added, the
// updated and the confirmed ones (their as-of moves); the removed are left out.
func applyHoldings(accountID uuid.UUID, changes finance.HoldingChanges, now time.Time) ([]*finance.Holding, error) {
	out := make([]*finance.Holding, 0, len(changes.Added)+len(changes.Updated)+len(changes.Confirmed))
	for _, d := range changes.Added {
		h, err := finance.NewHolding(newID(), accountID, d, now)
		if err != nil {
			return nil, dataError{err}
		}
		out = append(out, h)
	}
	for _, u := range slices.Concat(changes.Updated, changes.Confirmed) {
		if err := u.Holding.Update(u.Details, now); err != nil {
			return nil, dataError{err}
		}
		out = append(out, u.Holding)
	}
	return out, nil
}

// saveSecurities stores the valid ones of the securities an answer describes
// and returns their ids by identity. An invalid one is left out, so that the
// records naming it fail alone.
func (r *run) saveSecurities(ctx context.Context, securities []finance.SecurityDetails) (map[finance.SecurityKey]uuid.UUID, error) {
	valid := make([]finance.SecurityDetails, 0, len(securities))
	for _, d := range securities {
		if _, err := finance.NewSecurity(uuid.Nil, r.providerID, d, r.engine.clock.Now()); err == nil {
			valid = append(valid, d)
		}
	}
	if len(valid) == 0 {
		return map[finance.SecurityKey]uuid.UUID{}, nil
	}
	return r.engine.finance.SaveSecurities(ctx, r.providerID, valid)
}
