package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
)

var (
	_ financeapp.Writes = (*FinanceStore)(nil)
	_ financeapp.Reads  = (*FinanceStore)(nil)
)

// FinanceStore is an in-memory implementation of the finance application's
// Writes and Reads ports, with the semantics of the SQL adapter
// (persistence.FinanceStore): keys unique (financeapp.ErrKeyTaken), tombstones
// kept for the changes feed, positions growing per user in the order batches
// are stored, a batch stored whole or not at all, times in UTC to the
// microsecond, accounts and transactions gone with their provider.
//
// It works on the providers of a ProviderStore, under that store's mutex, so
// one lock serializes every call, closures included; a closure must not call
// back into either store. Entities are copied in and out.
type FinanceStore struct {
	providers *ProviderStore
	// Guarded by providers.mu. An entry whose provider is gone is dead, as the
	// SQL store's foreign keys cascade.
	accounts     map[uuid.UUID]finance.AccountSnapshot
	transactions map[uuid.UUID]storedTransaction
	positions    map[uuid.UUID]int64 // the last position of each user's feed
	// balances holds each account's history, oldest first.
	balances map[uuid.UUID][]finance.BalanceSnapshot
	// securities, holdings and resumes (by provider) are the sync engine's.
	securities map[uuid.UUID]finance.SecuritySnapshot
	holdings   map[uuid.UUID]finance.HoldingSnapshot
	resumes    map[uuid.UUID][]byte
	// now stamps the securities the store creates (SaveSecurities takes no
	// time, as the SQL store takes the database's).
	now func() time.Time
}

// storedTransaction is a transaction with its feed positions.
type storedTransaction struct {
	snap                      finance.TransactionSnapshot
	createdPosition, position int64
}

// NewFinanceStore returns an empty store of the financial data of providers'
// providers. Deleting a provider there deletes its accounts and transactions.
func NewFinanceStore(providers *ProviderStore) *FinanceStore {
	return &FinanceStore{providers: providers, accounts: map[uuid.UUID]finance.AccountSnapshot{},
		transactions: map[uuid.UUID]storedTransaction{}, positions: map[uuid.UUID]int64{},
		balances: map[uuid.UUID][]finance.BalanceSnapshot{}, securities: map[uuid.UUID]finance.SecuritySnapshot{},
		holdings: map[uuid.UUID]finance.HoldingSnapshot{}, resumes: map[uuid.UUID][]byte{}, now: time.Now}
}

// SetClock makes now the time the store stamps new securities with.
func (m *FinanceStore) SetClock(now func() time.Time) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	m.now = now
}

// UpdateAccounts calls fn with copies of the provider's accounts and stores
// what it returns; see persistence.FinanceStore.UpdateAccounts.
func (m *FinanceStore) UpdateAccounts(_ context.Context, providerID uuid.UUID,
	fn func(stored []*finance.Account) ([]*finance.Account, error),
) (financeapp.AccountCounts, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	var counts financeapp.AccountCounts
	if _, ok := m.providers.providers[providerID]; !ok {
		return counts, fmt.Errorf("update accounts: %w", providerNotFound(providerID))
	}
	var stored []*finance.Account
	for _, s := range m.accounts {
		if s.ProviderID == providerID {
			stored = append(stored, finance.RehydrateAccount(storedAccount(s)))
		}
	}
	slices.SortFunc(stored, func(a, b *finance.Account) int { return compareIDs(a.ID(), b.ID()) })
	save, err := fn(stored)
	if err != nil {
		return counts, err
	}
	next := map[uuid.UUID]finance.AccountSnapshot{}
	for _, a := range save {
		s := storedAccount(a.Snapshot())
		was, exists := m.accounts[s.ID]
		switch {
		case s.ProviderID != providerID:
			return financeapp.AccountCounts{}, fmt.Errorf("%w: account %s", financeapp.ErrForeignRecord, s.ID)
		case !exists:
			counts.Added++
		case was.Version == s.Version:
			continue
		case was.Status == finance.AccountOpen && s.Status == finance.AccountClosed:
			counts.Closed++
		default:
			counts.Updated++
		}
		next[s.ID] = s
	}
	if m.accountKeyTaken(next) {
		return financeapp.AccountCounts{}, financeapp.ErrKeyTaken
	}
	for id, s := range next {
		m.accounts[id] = s
	}
	return counts, nil
}

// accountKeyTaken reports whether storing next would give two accounts one key.
func (m *FinanceStore) accountKeyTaken(next map[uuid.UUID]finance.AccountSnapshot) bool {
	keys := map[uuid.UUID]finance.AccountKey{}
	for id, s := range m.accounts {
		keys[id] = finance.RehydrateAccount(s).Key()
	}
	for id, s := range next {
		keys[id] = finance.RehydrateAccount(s).Key()
	}
	return duplicateKey(keys)
}

// duplicateKey reports whether two ids hold one key.
func duplicateKey[K comparable](keys map[uuid.UUID]K) bool {
	seen := make(map[K]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return true
		}
		seen[k] = true
	}
	return false
}

// transactionWrite is one batch of transactions checked and ready to store.
type transactionWrite struct {
	userID uuid.UUID
	next   map[uuid.UUID]finance.TransactionSnapshot
	order  []uuid.UUID
	counts financeapp.TransactionCounts
}

// prepareTransactions loads the account's transactions with institutionIDs,
// calls fn with copies and checks what it returns, changing nothing.
func (m *FinanceStore) prepareTransactions(accountID uuid.UUID, institutionIDs []string,
	fn func(stored []*finance.Transaction) ([]*finance.Transaction, error),
) (transactionWrite, error) {
	account, ok := m.liveAccount(accountID)
	if !ok {
		return transactionWrite{}, fmt.Errorf("update transactions of account %s: %w", accountID, domain.ErrNotFound)
	}
	var stored []*finance.Transaction
	loaded := map[uuid.UUID]bool{}
	for id, st := range m.transactions {
		if st.snap.AccountID == accountID && slices.Contains(institutionIDs, st.snap.Details.InstitutionTransactionID) {
			stored = append(stored, finance.RehydrateTransaction(st.snap))
			loaded[id] = true
		}
	}
	slices.SortFunc(stored, func(a, b *finance.Transaction) int { return compareIDs(a.ID(), b.ID()) })
	save, err := fn(stored)
	if err != nil {
		return transactionWrite{}, err
	}
	w := transactionWrite{userID: m.providers.providers[account.ProviderID].UserID(), next: map[uuid.UUID]finance.TransactionSnapshot{}}
	for _, t := range save {
		s := storedTransactionSnapshot(t.Snapshot())
		if s.AccountID != accountID {
			return transactionWrite{}, fmt.Errorf("%w: transaction %s", financeapp.ErrForeignRecord, s.ID)
		}
		was, exists := m.transactions[s.ID]
		if exists && !loaded[s.ID] {
			// The SQL store inserts what it did not load: the id is taken.
			return transactionWrite{}, fmt.Errorf("transaction %s: %w", s.ID, errDuplicateKey)
		}
		if exists && was.snap.Version == s.Version {
			continue
		}
		countTransaction(&w.counts, was.snap, exists, s)
		w.next[s.ID] = s
		w.order = append(w.order, s.ID)
	}
	if m.transactionKeyTaken(w.next) {
		return transactionWrite{}, financeapp.ErrKeyTaken
	}
	return w, nil
}

// countTransaction counts the write of s over was (exists false: an insert).
func countTransaction(counts *financeapp.TransactionCounts, was finance.TransactionSnapshot, exists bool, s finance.TransactionSnapshot) {
	removed, wasLive := !s.RemovedAt.IsZero(), exists && was.RemovedAt.IsZero()
	switch {
	case !exists && !removed:
		counts.Added++
	case !exists, !wasLive && removed:
	case removed:
		counts.Removed++
	default: // changed live, or a removed pending one posted and live again
		counts.Modified++
	}
}

// storeTransactions stores next at consecutive positions of userID's feed,
// stored transactions first, as the SQL store writes them.
func (m *FinanceStore) storeTransactions(userID uuid.UUID, next map[uuid.UUID]finance.TransactionSnapshot, order []uuid.UUID) {
	slices.SortStableFunc(order, func(a, b uuid.UUID) int {
		_, aStored := m.transactions[a]
		_, bStored := m.transactions[b]
		switch {
		case aStored == bStored:
			return 0
		case aStored:
			return -1
		}
		return 1
	})
	for _, id := range order {
		m.positions[userID]++
		st := storedTransaction{snap: next[id], createdPosition: m.positions[userID], position: m.positions[userID]}
		if was, ok := m.transactions[id]; ok {
			st.createdPosition = was.createdPosition
		}
		m.transactions[id] = st
	}
}

// transactionKeyTaken reports whether storing next would give two
// transactions one key, tombstones included.
func (m *FinanceStore) transactionKeyTaken(next map[uuid.UUID]finance.TransactionSnapshot) bool {
	keys := map[uuid.UUID]finance.TransactionKey{}
	for id, st := range m.transactions {
		keys[id] = finance.RehydrateTransaction(st.snap).Key()
	}
	for id, s := range next {
		keys[id] = finance.RehydrateTransaction(s).Key()
	}
	return duplicateKey(keys)
}

// liveAccount returns the account with id unless it or its provider is gone.
func (m *FinanceStore) liveAccount(id uuid.UUID) (finance.AccountSnapshot, bool) {
	s, ok := m.accounts[id]
	if !ok {
		return s, false
	}
	_, ok = m.providers.providers[s.ProviderID]
	return s, ok
}

// userOf returns the owner of a live provider.
func (m *FinanceStore) userOf(providerID uuid.UUID) (uuid.UUID, bool) {
	p, ok := m.providers.providers[providerID]
	if !ok {
		return uuid.Nil, false
	}
	return p.UserID(), true
}

// AccountByID returns a copy of the account, or domain.ErrNotFound.
func (m *FinanceStore) AccountByID(_ context.Context, id uuid.UUID) (*finance.Account, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	s, ok := m.liveAccount(id)
	if !ok {
		return nil, fmt.Errorf("account %s: %w", id, domain.ErrNotFound)
	}
	return finance.RehydrateAccount(s), nil
}

// ListAccounts returns one page of q.UserID's accounts, in order of id.
func (m *FinanceStore) ListAccounts(_ context.Context, q financeapp.AccountQuery) ([]*finance.Account, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	var out []*finance.Account
	for id, s := range m.accountsOf(q.UserID, q.Filter) {
		if q.After == uuid.Nil || compareIDs(id, q.After) > 0 {
			out = append(out, finance.RehydrateAccount(s))
		}
	}
	slices.SortFunc(out, func(a, b *finance.Account) int { return compareIDs(a.ID(), b.ID()) })
	if q.After == uuid.Nil {
		out = out[min(len(out), q.Offset):]
	}
	return out[:min(len(out), q.Limit)], nil
}

// CountAccounts returns how many of userID's accounts match f.
func (m *FinanceStore) CountAccounts(_ context.Context, userID uuid.UUID, f financeapp.AccountFilter) (int64, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	return int64(len(m.accountsOf(userID, f))), nil
}

// accountsOf returns userID's accounts matching f, by id.
func (m *FinanceStore) accountsOf(userID uuid.UUID, f financeapp.AccountFilter) map[uuid.UUID]finance.AccountSnapshot {
	out := map[uuid.UUID]finance.AccountSnapshot{}
	for id, s := range m.accounts {
		if user, ok := m.userOf(s.ProviderID); ok && user == userID && accountMatches(s, f) {
			out[id] = s
		}
	}
	return out
}

func accountMatches(s finance.AccountSnapshot, f financeapp.AccountFilter) bool {
	return (f.ProviderID == uuid.Nil || s.ProviderID == f.ProviderID) &&
		(f.Type == finance.AccountType{} || s.Details.Type == f.Type) &&
		(f.Status == finance.AccountStatus{} || s.Status == f.Status) &&
		(f.Search == "" || contains(s.Details.Name, f.Search))
}

// contains is the stores' search: text containing search, both lower-cased.
func contains(text, search string) bool {
	return strings.Contains(strings.ToLower(text), strings.ToLower(search))
}

// TransactionByID returns a copy of the transaction, tombstone or not, or
// domain.ErrNotFound.
func (m *FinanceStore) TransactionByID(_ context.Context, id uuid.UUID) (*finance.Transaction, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	st, ok := m.liveTransaction(id)
	if !ok {
		return nil, fmt.Errorf("transaction %s: %w", id, domain.ErrNotFound)
	}
	return finance.RehydrateTransaction(st.snap), nil
}

// liveTransaction returns the transaction with id unless its account is gone.
func (m *FinanceStore) liveTransaction(id uuid.UUID) (storedTransaction, bool) {
	st, ok := m.transactions[id]
	if !ok {
		return st, false
	}
	_, ok = m.liveAccount(st.snap.AccountID)
	return st, ok
}

// ListTransactions returns one page of q.UserID's live transactions, sorted
// -date,-id.
func (m *FinanceStore) ListTransactions(_ context.Context, q financeapp.TransactionQuery) ([]*finance.Transaction, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	var out []*finance.Transaction
	for id := range m.transactions {
		st, ok := m.liveTransaction(id)
		if !ok || !st.snap.RemovedAt.IsZero() || !transactionMatches(st.snap, q.Filter) {
			continue
		}
		if user, _ := m.userOf(st.snap.ProviderID); user != q.UserID {
			continue
		}
		t := finance.RehydrateTransaction(st.snap)
		if q.After == nil || newestFirst(financeapp.PositionOf(t), *q.After) > 0 {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *finance.Transaction) int {
		return newestFirst(financeapp.PositionOf(a), financeapp.PositionOf(b))
	})
	return out[:min(len(out), q.Limit)], nil
}

// newestFirst orders positions -date,-id.
func newestFirst(a, b financeapp.TransactionPosition) int {
	if c := b.Date.Compare(a.Date); c != 0 {
		return c
	}
	return compareIDs(b.ID, a.ID)
}

func transactionMatches(s finance.TransactionSnapshot, f financeapp.TransactionFilter) bool {
	d := s.Details
	amount := d.Amount.Amount()
	return (f.AccountID == uuid.Nil || s.AccountID == f.AccountID) &&
		(f.ProviderID == uuid.Nil || s.ProviderID == f.ProviderID) &&
		(f.Status == finance.TransactionStatus{} || s.Status == f.Status) &&
		(f.DateFrom.IsZero() || !d.Date.Before(f.DateFrom)) &&
		(f.DateTo.IsZero() || !d.Date.After(f.DateTo)) &&
		(f.AmountMin == nil || amount.Cmp(*f.AmountMin) >= 0) &&
		(f.AmountMax == nil || amount.Cmp(*f.AmountMax) <= 0) &&
		(f.Kind == finance.Kind{} || d.Kind == f.Kind) &&
		(f.Search == "" || contains(d.Description, f.Search) || contains(d.MerchantName, f.Search))
}

// Changes returns at most limit of userID's transactions written after
// position after, in order of position.
func (m *FinanceStore) Changes(_ context.Context, userID uuid.UUID, after int64, limit int) ([]financeapp.Change, error) {
	m.providers.mu.Lock()
	defer m.providers.mu.Unlock()
	var out []financeapp.Change
	for id := range m.transactions {
		st, ok := m.liveTransaction(id)
		if !ok || st.position <= after {
			continue
		}
		if user, _ := m.userOf(st.snap.ProviderID); user != userID {
			continue
		}
		out = append(out, financeapp.Change{Position: st.position, Type: changeType(st, after),
			Transaction: finance.RehydrateTransaction(st.snap)})
	}
	slices.SortFunc(out, func(a, b financeapp.Change) int { return cmp.Compare(a.Position, b.Position) })
	return out[:min(len(out), limit)], nil
}

func changeType(st storedTransaction, after int64) financeapp.ChangeType {
	switch {
	case !st.snap.RemovedAt.IsZero():
		return financeapp.ChangeRemoved
	case st.createdPosition > after:
		return financeapp.ChangeAdded
	}
	return financeapp.ChangeModified
}

// storedAccount is s as the database keeps it.
func storedAccount(s finance.AccountSnapshot) finance.AccountSnapshot {
	s.CreatedAt, s.UpdatedAt = storedTime(s.CreatedAt), storedTime(s.UpdatedAt)
	return s
}

// storedTransactionSnapshot is s as the database keeps it.
func storedTransactionSnapshot(s finance.TransactionSnapshot) finance.TransactionSnapshot {
	s.CreatedAt, s.UpdatedAt, s.RemovedAt = storedTime(s.CreatedAt), storedTime(s.UpdatedAt), storedTime(s.RemovedAt)
	return s
}

// compareIDs orders ids by their bytes, as both databases order them.
func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
