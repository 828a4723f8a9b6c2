package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/finance"
)

// UpdateBalance calls fn with a copy of the account's newest balance and
// appends what it returns; see persistence.FinanceStore.UpdateBalance.
func (m *FinanceStore) UpdateBalance(_ context.Context, accountID uuid.UUID,
	fn func(last *finance.Balance) (*finance.Balance, error),
) (bool, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	account, ok := m.liveAccount(accountID)
	if !ok {
		return false, fmt.Errorf("update balance of account %s: %w", accountID, domain.ErrNotFound)
	}
	history := m.balances[accountID]
	var last *finance.Balance
	if len(history) > 0 {
		b := finance.RehydrateBalance(history[len(history)-1])
		last = &b
	}
	next, err := fn(last)
	if err != nil || next == nil {
		return false, err
	}
	s := next.Snapshot()
	s.AsOf = storedTime(s.AsOf)
	if s.AccountID != accountID || last != nil && !s.AsOf.After(last.AsOf()) {
		return false, financeapp.ErrStaleBalance
	}
	m.balances[accountID] = append(history, s)
	if e, changed := finance.BalanceChanged(last, *next, m.now()); changed {
		user, _ := m.userOf(account.ProviderID)
		m.providers.Events.write(user, []event.Event{e})
	}
	return true, nil
}

// Balances returns one page of q.AccountID's balance history, newest first.
func (m *FinanceStore) Balances(_ context.Context, q financeapp.BalanceQuery) ([]finance.Balance, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	if _, ok := m.liveAccount(q.AccountID); !ok {
		return nil, nil
	}
	var out []finance.Balance
	for _, s := range slices.Backward(m.balances[q.AccountID]) {
		if (q.From.IsZero() || !s.AsOf.Before(q.From)) && (q.To.IsZero() || !s.AsOf.After(q.To)) &&
			(q.Before.IsZero() || s.AsOf.Before(q.Before)) && len(out) < q.Limit {
			out = append(out, finance.RehydrateBalance(s))
		}
	}
	return out, nil
}

// CurrentBalances returns the newest balance of each of accountIDs that has
// one.
func (m *FinanceStore) CurrentBalances(_ context.Context, accountIDs []uuid.UUID) (map[uuid.UUID]finance.Balance, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	out := make(map[uuid.UUID]finance.Balance, len(accountIDs))
	for _, id := range accountIDs {
		history := m.balances[id]
		if _, ok := m.liveAccount(id); ok && len(history) > 0 {
			out[id] = finance.RehydrateBalance(history[len(history)-1])
		}
	}
	return out, nil
}
