package datasync

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
)

// syncTransactions walks the connector's transaction changes from the resume
// state stored with the last committed page until it has no more, storing
// each page with the resume state after it in one transaction. Before and
// after fetching each page it looks whether the sync was canceled, so a
// canceled sync stops after the page it committed. Whatever ends the walk,
// the results of the pages it committed are recorded (recordPage).
func (r *run) syncTransactions(ctx context.Context) (err error) {
	defer func() { err = r.endPages(ctx, err) }()
	resume, err := r.engine.finance.TransactionResume(ctx, r.providerID)
	if err != nil {
		return err
	}
	for {
		if err := r.stillRunning(ctx); err != nil {
			return err
		}
		var page providers.TransactionPage
		err := r.call(ctx, func(tokens providers.Tokens) (err error) {
			page, err = r.data.Transactions(ctx, tokens, resume)
			return err
		})
		if errors.Is(err, domain.ErrNotSupported) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := r.stillRunning(ctx); err != nil {
			return err // canceled while the page was fetched: it is not stored
		}
		err = r.storePage(ctx, resume, page)
		if errors.Is(err, financeapp.ErrStalePage) {
			// Another run of this sync stored a page meanwhile (a job
			// rescued while its first run still ran): go on from there.
			if resume, err = r.engine.finance.TransactionResume(ctx, r.providerID); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if resume = page.Resume; !page.HasMore {
			return nil
		}
	}
}

// storePage stores one page, fetched from resume state from, one batch per
// account, with its resume state, and records what it changed.
func (r *run) storePage(ctx context.Context, from []byte, page providers.TransactionPage) error {
	securities, err := r.saveSecurities(ctx, page.Securities)
	if err != nil {
		return err
	}
	batches := r.batches(page, securities)
	write := financeapp.TransactionPageWrite{From: from, Resume: page.Resume}
	for _, b := range batches {
		write.Batches = append(write.Batches, financeapp.TransactionBatch{
			AccountID: b.account.ID(), InstitutionIDs: b.institutionIDs(), Apply: b.apply,
		})
	}
	counts, err := r.engine.finance.StoreTransactionPage(ctx, r.providerID, write)
	if err != nil {
		return err
	}
	// Only now, the page committed, are its errors the sync's.
	r.accountFailures(page.Failures)
	for _, b := range batches {
		for _, e := range b.errs {
			r.fail(e)
		}
	}
	return r.recordPage(ctx, datasync.TransactionResults{Added: counts.Added, Modified: counts.Modified, Removed: counts.Removed})
}

// batches splits page by account. Records of an account the Accounts answer
// did not define are the connector's bug: they are logged and left out.
func (r *run) batches(page providers.TransactionPage, securities map[finance.SecurityKey]uuid.UUID) []*batch {
	var out []*batch
	byAccount := map[string]*batch{}
	get := func(institutionAccountID string) *batch {
		if b, ok := byAccount[institutionAccountID]; ok {
			return b
		}
		a, ok := r.accounts[institutionAccountID]
		if !ok {
			r.engine.log.Warn("a transaction names an account the institution did not list; skipped",
				"provider_id", r.providerID.String())
			return nil
		}
		b := &batch{account: a, securities: securities, now: r.engine.clock.Now()}
		byAccount[institutionAccountID] = b
		out = append(out, b)
		return b
	}
	for _, rec := range slices.Concat(page.Added, page.Modified) {
		if b := get(rec.InstitutionAccountID); b != nil {
			b.records = append(b.records, rec)
		}
	}
	for _, rm := range page.Removed {
		if b := get(rm.InstitutionAccountID); b != nil {
			b.removed = append(b.removed, rm.InstitutionTransactionID)
		}
	}
	return out
}

// batch is one account's part of a page.
type batch struct {
	account    *finance.Account
	records    []providers.TransactionRecord // added and modified alike: every write is an upsert
	removed    []string
	securities map[finance.SecurityKey]uuid.UUID
	now        time.Time
	// errs are the errors of the last call of apply.
	errs []datasync.AccountError
}

func (b *batch) institutionIDs() []string {
	ids := make([]string, 0, len(b.records)+len(b.removed))
	for _, rec := range b.records {
		ids = append(ids, rec.Details.InstitutionTransactionID)
		if rec.Replaces != "" {
			ids = append(ids, rec.Replaces)
		}
	}
	return append(ids, b.removed...)
}

// apply maps the batch onto the account's stored transactions with its
// institution ids and returns those to save. A record matching a stored
// transaction changes it in place (a pending one that posted keeps its id);
// a posted record naming the pending one it replaces posts that one in place;
// one matching none is added; a removal makes the stored one a tombstone.
// Records go before removals, so a pending id posted by a record of the page
// is no longer under that id when the page's removal of it comes. A record
// that cannot be stored is left out and fails its account; the others are
// stored.
func (b *batch) apply(stored []*finance.Transaction) ([]*finance.Transaction, error) {
	b.errs = nil
	byKey := make(map[string]*finance.Transaction, len(stored))
	for _, t := range stored {
		byKey[t.Details().InstitutionTransactionID] = t
	}
	var out []*finance.Transaction
	saved := map[*finance.Transaction]bool{}
	keep := func(t *finance.Transaction) {
		if !saved[t] {
			saved[t] = true
			out = append(out, t)
		}
	}
	for _, rec := range b.records {
		t, err := b.upsert(byKey, rec)
		if err != nil {
			b.errs = append(b.errs, invalidData(b.account.ID()))
			continue
		}
		if t != nil {
			keep(t)
		}
	}
	for _, id := range b.removed {
		if t, ok := byKey[id]; ok && !t.Removed() {
			if err := t.Remove(b.now); err != nil {
				return nil, err
			}
			keep(t)
		}
	}
	return out, nil
}

// upsert applies one record to byKey and returns the transaction to save (nil
// when there is none: a tombstone stays one, its key is taken).
func (b *batch) upsert(byKey map[string]*finance.Transaction, rec providers.TransactionRecord) (*finance.Transaction, error) {
	d, err := b.details(rec)
	if err != nil {
		return nil, err
	}
	t, ok := byKey[d.InstitutionTransactionID]
	if !ok && rec.Replaces != "" {
		if pending, linked := byKey[rec.Replaces]; linked && pending.Status() == finance.TransactionPending {
			return pending, b.postLinked(byKey, pending, rec.Replaces, d)
		}
	}
	switch {
	case !ok:
		t, err = finance.NewTransaction(newID(), b.account.ID(), b.account.ProviderID(), rec.Status, d, b.now)
		if err == nil {
			byKey[d.InstitutionTransactionID] = t
		}
	case t.Removed():
		return nil, nil
	case t.Status() == finance.TransactionPending && rec.Status == finance.TransactionPosted:
		err = t.Post(d, b.now)
	default:
		_, err = t.Modify(d, b.now)
	}
	return t, err
}

// postLinked posts pending, stored under the institution id replaced, with
// d, the posted record that names it: live or a tombstone (its removal came
// first), it keeps its id and takes d's institution id, under which byKey
// finds it from now on.
func (b *batch) postLinked(byKey map[string]*finance.Transaction, pending *finance.Transaction, replaced string,
	d finance.TransactionDetails,
) error {
	if err := pending.PostLinked(d, b.now); err != nil {
		return err
	}
	delete(byKey, replaced)
	byKey[d.InstitutionTransactionID] = pending
	return nil
}

// details are rec's details with its investment activity's security resolved
// to its id.
func (b *batch) details(rec providers.TransactionRecord) (finance.TransactionDetails, error) {
	d := rec.Details
	if inv := rec.Investment; inv != nil {
		id, ok := b.securities[inv.Security]
		if !ok {
			return d, dataError{errors.New("investment activity names a security its page does not describe")}
		}
		d.Investment = finance.Investment{SecurityID: id, Quantity: inv.Quantity, Price: inv.Price, Fees: inv.Fees}
	}
	return d, nil
}
