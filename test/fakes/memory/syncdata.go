package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/finance"
)

// The sync engine's part of the finance Writes port: transaction pages with
// their resume state, securities and holdings.

// StoreTransactionPage applies every batch of the page in turn, each as
// UpdateTransactions does, and then the resume state; a failing batch undoes
// the batches before it, so nothing of the page is stored. See
// persistence.FinanceStore.StoreTransactionPage.
func (m *FinanceStore) StoreTransactionPage(_ context.Context, providerID uuid.UUID,
	page financeapp.TransactionPageWrite,
) (financeapp.TransactionCounts, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	if _, ok := m.providers.providers[providerID]; !ok {
		return financeapp.TransactionCounts{}, fmt.Errorf("store transaction page: %w", providerNotFound(providerID))
	}
	if !bytes.Equal(m.resumes[providerID], page.From) {
		return financeapp.TransactionCounts{}, fmt.Errorf("provider %s: %w", providerID, financeapp.ErrStalePage)
	}
	var total financeapp.TransactionCounts
	userID := m.providers.providers[providerID].UserID()
	feedBefore := m.positions[userID]
	undo := m.transactionUndo()
	for _, b := range page.Batches {
		counts, err := m.storeBatch(providerID, b, undo)
		if err != nil {
			undo.restore(m)
			return financeapp.TransactionCounts{}, err
		}
		total.Added += counts.Added
		total.Modified += counts.Modified
		total.Removed += counts.Removed
	}
	m.resumes[providerID] = bytes.Clone(page.Resume)
	if total != (financeapp.TransactionCounts{}) {
		m.providers.Events.write(userID, []event.Event{finance.TransactionsChanged(providerID, total.Added, total.Modified,
			total.Removed, feedBefore, m.now())})
	}
	return total, nil
}

// storeBatch stores one batch of providerID's page, remembering in undo what
// it overwrites.
func (m *FinanceStore) storeBatch(providerID uuid.UUID, b financeapp.TransactionBatch, undo *transactionUndo) (financeapp.TransactionCounts, error) {
	if a, ok := m.liveAccount(b.AccountID); ok && a.ProviderID != providerID {
		return financeapp.TransactionCounts{}, fmt.Errorf("%w: account %s of provider %s", financeapp.ErrForeignRecord, b.AccountID, a.ProviderID)
	}
	w, err := m.prepareTransactions(b.AccountID, b.InstitutionIDs, b.Apply)
	if err != nil {
		return financeapp.TransactionCounts{}, err
	}
	undo.remember(m, w)
	m.storeTransactions(w.userID, w.next, w.order)
	return w.counts, nil
}

// transactionUndo is what a page overwrote, to put back if a later batch of
// it fails (the rollback of the SQL store's transaction).
type transactionUndo struct {
	transactions map[uuid.UUID]*storedTransaction // nil: did not exist
	positions    map[uuid.UUID]int64
}

func (m *FinanceStore) transactionUndo() *transactionUndo {
	return &transactionUndo{transactions: map[uuid.UUID]*storedTransaction{}, positions: map[uuid.UUID]int64{}}
}

// remember records the state w is about to overwrite, unless an earlier batch
// of the page overwrote it first.
func (u *transactionUndo) remember(m *FinanceStore, w transactionWrite) {
	if _, ok := u.positions[w.userID]; !ok {
		u.positions[w.userID] = m.positions[w.userID]
	}
	for id := range w.next {
		if _, ok := u.transactions[id]; ok {
			continue
		}
		if was, ok := m.transactions[id]; ok {
			u.transactions[id] = &was
		} else {
			u.transactions[id] = nil
		}
	}
}

func (u *transactionUndo) restore(m *FinanceStore) {
	for id, was := range u.transactions {
		if was == nil {
			delete(m.transactions, id)
		} else {
			m.transactions[id] = *was
		}
	}
	maps.Copy(m.positions, u.positions)
}

// TransactionResume returns a copy of the resume state stored with the
// provider's last page (nil before the first).
func (m *FinanceStore) TransactionResume(_ context.Context, providerID uuid.UUID) ([]byte, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	if _, ok := m.providers.providers[providerID]; !ok {
		return nil, nil // as in the database: no row, no state
	}
	return bytes.Clone(m.resumes[providerID]), nil
}

// SaveSecurities inserts or updates the provider's securities, matched by
// identity, and returns their ids; an invalid one stores none of them. See
// persistence.FinanceStore.SaveSecurities.
func (m *FinanceStore) SaveSecurities(_ context.Context, providerID uuid.UUID,
	securities []finance.SecurityDetails,
) (map[finance.SecurityKey]uuid.UUID, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	if _, ok := m.providers.providers[providerID]; !ok {
		return nil, fmt.Errorf("save securities: %w", providerNotFound(providerID))
	}
	byKey := map[finance.SecurityKey]*finance.Security{}
	for _, s := range m.securities {
		if s.ProviderID == providerID {
			sec := finance.RehydrateSecurity(s)
			byKey[sec.Key()] = sec
		}
	}
	now := storedTime(m.now())
	ids := make(map[finance.SecurityKey]uuid.UUID, len(securities))
	for _, d := range securities {
		sec, err := saveSecurity(byKey, providerID, d, now)
		if err != nil {
			return nil, err
		}
		ids[d.Key()] = sec.ID()
	}
	for _, sec := range byKey {
		s := sec.Snapshot()
		s.CreatedAt, s.UpdatedAt = storedTime(s.CreatedAt), storedTime(s.UpdatedAt)
		m.securities[s.ID] = s
	}
	return ids, nil
}

// saveSecurity applies d to byKey, updating the security with its key or
// adding a new one, and returns that security.
func saveSecurity(byKey map[finance.SecurityKey]*finance.Security, providerID uuid.UUID,
	d finance.SecurityDetails, now time.Time,
) (*finance.Security, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	sec, err := finance.NewSecurity(id, providerID, d, now) // validates d, and normalises its key
	if err != nil {
		return nil, err
	}
	if stored, ok := byKey[sec.Key()]; ok {
		_, err := stored.Update(d, now)
		return stored, err
	}
	byKey[sec.Key()] = sec
	return sec, nil
}

// UpdateHoldings calls fn with copies of the account's holdings and makes
// what it returns the account's holdings; see
// persistence.FinanceStore.UpdateHoldings. A holding counts as updated when
// its values changed, not when only its as-of moved (finance.DiffHoldings'
// Confirmed).
func (m *FinanceStore) UpdateHoldings(_ context.Context, accountID uuid.UUID,
	fn func(stored []*finance.Holding) ([]*finance.Holding, error),
) (financeapp.HoldingCounts, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	account, ok := m.liveAccount(accountID)
	if !ok {
		return financeapp.HoldingCounts{}, fmt.Errorf("update holdings of account %s: %w", accountID, domain.ErrNotFound)
	}
	stored := m.holdingsOf(accountID)
	save, err := fn(stored)
	if err != nil {
		return financeapp.HoldingCounts{}, err
	}
	next, err := m.checkHoldings(account, save)
	if err != nil {
		return financeapp.HoldingCounts{}, err
	}
	var counts financeapp.HoldingCounts
	for _, h := range stored {
		if _, kept := next[h.ID()]; !kept {
			counts.Removed++
			delete(m.holdings, h.ID())
		}
	}
	for id, s := range next {
		was, exists := m.holdings[id]
		switch {
		case !exists:
			counts.Added++
		case !sameHolding(was.Details, s.Details):
			counts.Updated++
		}
		m.holdings[id] = s
	}
	return counts, nil
}

// checkHoldings checks that save is a set of account's holdings, one per
// security, each of a security of account's provider, and returns it by id
// as the database keeps it.
func (m *FinanceStore) checkHoldings(account finance.AccountSnapshot, save []*finance.Holding) (map[uuid.UUID]finance.HoldingSnapshot, error) {
	next := make(map[uuid.UUID]finance.HoldingSnapshot, len(save))
	held := map[uuid.UUID]bool{}
	for _, h := range save {
		s := h.Snapshot()
		s.CreatedAt, s.UpdatedAt, s.Details.AsOf = storedTime(s.CreatedAt), storedTime(s.UpdatedAt), storedTime(s.Details.AsOf)
		if s.AccountID != account.ID {
			return nil, fmt.Errorf("%w: holding %s", financeapp.ErrForeignRecord, s.ID)
		}
		if sec, ok := m.securities[s.Details.SecurityID]; !ok || sec.ProviderID != account.ProviderID {
			return nil, fmt.Errorf("%w: holding %s names security %s, not the provider's", financeapp.ErrForeignRecord, s.ID, s.Details.SecurityID)
		}
		if was, ok := m.holdings[s.ID]; ok && was.AccountID != account.ID {
			return nil, fmt.Errorf("holding %s: %w", s.ID, errDuplicateKey)
		}
		if held[s.Details.SecurityID] {
			return nil, fmt.Errorf("two holdings of security %s: %w", s.Details.SecurityID, finance.ErrDuplicateHolding)
		}
		held[s.Details.SecurityID] = true
		next[s.ID] = s
	}
	return next, nil
}

// sameHolding reports whether a and b hold the same position but for as-of.
func sameHolding(a, b finance.HoldingDetails) bool {
	return a.SecurityID == b.SecurityID && a.Quantity.Cmp(b.Quantity) == 0 && a.Price.Equal(b.Price) &&
		a.PriceAsOf == b.PriceAsOf && a.MarketValue.Equal(b.MarketValue) && a.CostBasis.Equal(b.CostBasis)
}

// holdingsOf returns copies of the account's holdings in order of id.
func (m *FinanceStore) holdingsOf(accountID uuid.UUID) []*finance.Holding {
	var out []*finance.Holding
	for _, s := range m.holdings {
		if s.AccountID == accountID {
			out = append(out, finance.RehydrateHolding(s))
		}
	}
	slices.SortFunc(out, func(a, b *finance.Holding) int { return compareIDs(a.ID(), b.ID()) })
	return out
}

// Holdings returns copies of the account's holdings in order of id, for
// tests (the read API's port does not list holdings yet).
func (m *FinanceStore) Holdings(accountID uuid.UUID) []*finance.Holding {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	if _, ok := m.liveAccount(accountID); !ok {
		return nil
	}
	return m.holdingsOf(accountID)
}

// Securities returns copies of the provider's securities in order of id, for
// tests.
func (m *FinanceStore) Securities(providerID uuid.UUID) []*finance.Security {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	var out []*finance.Security
	for _, s := range m.securities {
		if s.ProviderID == providerID {
			out = append(out, finance.RehydrateSecurity(s))
		}
	}
	slices.SortFunc(out, func(a, b *finance.Security) int { return compareIDs(a.ID(), b.ID()) })
	return out
}

// ListHoldings returns one page of the user's holdings with their securities,
// in order of holding id, filtered as q says.
func (m *FinanceStore) ListHoldings(_ context.Context, q financeapp.HoldingQuery) ([]financeapp.HoldingView, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	f := q.Filter
	var out []financeapp.HoldingView
	for _, h := range m.holdings {
		account, ok := m.liveAccount(h.AccountID)
		owner, _ := m.userOf(account.ProviderID)
		sec := m.securities[h.Details.SecurityID]
		switch {
		case !ok || owner != q.UserID,
			f.AccountID != uuid.Nil && h.AccountID != f.AccountID,
			f.ProviderID != uuid.Nil && account.ProviderID != f.ProviderID,
			f.SecurityType != (finance.SecurityType{}) && sec.Details.Type != f.SecurityType,
			f.Symbol != "" && sec.Details.Symbol != f.Symbol,
			q.After != uuid.Nil && compareIDs(h.ID, q.After) <= 0:
			continue
		}
		out = append(out, financeapp.HoldingView{Holding: finance.RehydrateHolding(h), Security: finance.RehydrateSecurity(sec)})
	}
	slices.SortFunc(out, func(a, b financeapp.HoldingView) int { return compareIDs(a.Holding.ID(), b.Holding.ID()) })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}
