package datasync

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
)

// syncAccounts stores the institution's accounts, matched to the stored ones
// by the institution's id: new ones get new ids, listed ones are updated (and
// reopened), and stored ones the institution no longer lists are closed.
func (r *run) syncAccounts(ctx context.Context) error {
	var records []providers.AccountRecord
	err := r.call(ctx, func(tokens providers.Tokens) (err error) {
		records, err = r.data.Accounts(ctx, tokens)
		return err
	})
	if err != nil {
		return err
	}
	now := r.engine.clock.Now()
	var m accountMatch
	counts, err := r.engine.finance.UpdateAccounts(ctx, r.providerID, func(stored []*finance.Account) ([]*finance.Account, error) {
		m = matchAccounts(r.providerID, stored, records, now)
		return m.save, nil
	})
	if err != nil {
		return err
	}
	r.accounts, r.answered, r.total = m.byInstitution, m.answered, len(records)
	r.balances = make(map[string]providers.BalanceRecord, len(records))
	for _, rec := range records {
		r.balances[rec.Details.InstitutionAccountID] = rec.Balance
	}
	for _, e := range m.errs {
		r.fail(e)
	}
	res := datasync.Results{Accounts: datasync.AccountResults{Added: counts.Added, Updated: counts.Updated, Closed: counts.Closed}}
	return r.record(ctx, res, &datasync.Progress{AccountsTotal: r.total})
}

// accountMatch is what an Accounts answer does to the stored accounts.
type accountMatch struct {
	byInstitution map[string]*finance.Account // every account, after the answer
	answered      []*finance.Account          // the ones the answer listed, valid
	save          []*finance.Account          // new or changed
	errs          []datasync.AccountError
}

// matchAccounts applies records, the institution's answer, to stored.
func matchAccounts(providerID uuid.UUID, stored []*finance.Account, records []providers.AccountRecord, now time.Time) accountMatch {
	m := accountMatch{byInstitution: make(map[string]*finance.Account, len(stored)+len(records))}
	for _, a := range stored {
		m.byInstitution[a.InstitutionAccountID()] = a
	}
	changed := map[*finance.Account]bool{}
	listed := map[string]bool{}
	for _, rec := range records {
		a, ok, err := m.apply(providerID, rec, now)
		if err != nil {
			m.errs = append(m.errs, invalidData(a.ID()))
			continue
		}
		listed[a.InstitutionAccountID()] = true
		if rec.Status == finance.AccountClosed && a.Close(now) {
			ok = true
		}
		if ok && !changed[a] {
			changed[a] = true
			m.save = append(m.save, a)
		}
		m.answered = append(m.answered, a)
	}
	for _, a := range stored {
		if !listed[a.InstitutionAccountID()] && a.Close(now) && !changed[a] {
			changed[a] = true
			m.save = append(m.save, a)
		}
	}
	return m
}

// apply applies one record: it updates the stored account of its id, or
// creates one, and reports whether that changed anything. On an invalid
// record, the account returned names the id its error is reported under
// (a fresh one for an account never stored).
func (m *accountMatch) apply(providerID uuid.UUID, rec providers.AccountRecord, now time.Time) (*finance.Account, bool, error) {
	if a, ok := m.byInstitution[rec.Details.InstitutionAccountID]; ok {
		changed, err := a.Update(rec.Details, now)
		return a, changed, err
	}
	id := newID()
	a, err := finance.NewAccount(id, providerID, rec.Details, now)
	if err != nil {
		return finance.RehydrateAccount(finance.AccountSnapshot{ID: id}), false, err
	}
	m.byInstitution[a.InstitutionAccountID()] = a
	return a, true, nil
}

// syncBalances stores the balance of each account the Accounts answer
// listed: a snapshot when finance.SnapshotDue says so (it changed, or none
// was written that day).
func (r *run) syncBalances(ctx context.Context) error {
	for _, a := range r.answered {
		if err := r.storeBalance(ctx, a, r.balances[a.InstitutionAccountID()]); err != nil {
			return err
		}
	}
	return nil
}

// storeBalance appends a's balance to its history if a snapshot is due; an
// invalid balance is a's error.
func (r *run) storeBalance(ctx context.Context, a *finance.Account, rec providers.BalanceRecord) error {
	b, err := finance.NewBalance(a.ID(), rec.Current, rec.Available, rec.Limit, rec.AsOf)
	if err != nil {
		r.fail(invalidData(a.ID()))
		return nil
	}
	_, err = r.engine.finance.UpdateBalance(ctx, a.ID(), func(last *finance.Balance) (*finance.Balance, error) {
		if !finance.SnapshotDue(last, b) {
			return nil, nil
		}
		return &b, nil
	})
	if err != nil {
		return err
	}
	if b.AsOf().After(r.newestAsOf) {
		r.newestAsOf = b.AsOf()
	}
	return nil
}
