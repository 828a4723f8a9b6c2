// Package financeseed stores accounts, balances and transactions for tests
// the way the sync engine does, through the finance Writes port, so that the
// read use cases and the API are tested on data written by the real path (on
// the in-memory fake or on a database alike).
package financeseed

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/calendar"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/money"
)

// Seeder writes through w, stamping records with Now.
type Seeder struct {
	T      testing.TB
	Writes financeapp.Writes
	Now    time.Time
}

func (s Seeder) ctx() context.Context { return s.T.Context() }

func (s Seeder) newID() uuid.UUID {
	s.T.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		s.T.Fatalf("new id: %v", err)
	}
	return id
}

// Account stores a new account of the provider. d's zero fields take
// defaults: a USD depository account with mask "1234".
func (s Seeder) Account(providerID uuid.UUID, d finance.AccountDetails) *finance.Account {
	s.T.Helper()
	if d.Type == (finance.AccountType{}) {
		d.Type = finance.AccountDepository
	}
	if d.Currency.IsZero() {
		d.Currency = Currency(s.T, "USD")
	}
	if d.Mask == "" {
		d.Mask = "1234"
	}
	a, err := finance.NewAccount(s.newID(), providerID, d, s.Now)
	if err != nil {
		s.T.Fatalf("NewAccount: %v", err)
	}
	if _, err := s.Writes.UpdateAccounts(s.ctx(), providerID, func([]*finance.Account) ([]*finance.Account, error) {
		return []*finance.Account{a}, nil
	}); err != nil {
		s.T.Fatalf("UpdateAccounts: %v", err)
	}
	return a
}

// Balance appends a balance snapshot of the account: current and available
// ("" for none) in the account's currency, as of asOf.
func (s Seeder) Balance(a *finance.Account, current, available string, asOf time.Time) finance.Balance {
	s.T.Helper()
	c := a.Currency().String()
	var avail money.Money
	if available != "" {
		avail = Amount(s.T, available, c)
	}
	b, err := finance.NewBalance(a.ID(), Amount(s.T, current, c), avail, money.Money{}, asOf)
	if err != nil {
		s.T.Fatalf("NewBalance: %v", err)
	}
	if _, err := s.Writes.UpdateBalance(s.ctx(), a.ID(), func(*finance.Balance) (*finance.Balance, error) {
		return &b, nil
	}); err != nil {
		s.T.Fatalf("UpdateBalance: %v", err)
	}
	return b
}

// Tx is a transaction to seed: an amount in the account's currency and a
// ledger date, the rest optional.
type Tx struct {
	Key         string // the institution's id; default a fresh one
	Amount      string
	Date        string
	Description string
	Merchant    string
	Kind        finance.Kind // default other
	Pending     bool
}

// Transactions stores new transactions of the account, in one batch, and
// returns them in the order given.
func (s Seeder) Transactions(a *finance.Account, txs ...Tx) []*finance.Transaction {
	s.T.Helper()
	out := make([]*finance.Transaction, len(txs))
	keys := make([]string, len(txs))
	for i, tx := range txs {
		if tx.Key == "" {
			tx.Key = s.newID().String()
		}
		if tx.Kind == (finance.Kind{}) {
			tx.Kind = finance.KindOther
		}
		status := finance.TransactionPosted
		if tx.Pending {
			status = finance.TransactionPending
		}
		d := finance.TransactionDetails{InstitutionTransactionID: tx.Key, Amount: Amount(s.T, tx.Amount, a.Currency().String()),
			Date: Date(s.T, tx.Date), Description: tx.Description, MerchantName: tx.Merchant, Kind: tx.Kind}
		t, err := finance.NewTransaction(s.newID(), a.ID(), a.ProviderID(), status, d, s.Now)
		if err != nil {
			s.T.Fatalf("NewTransaction: %v", err)
		}
		out[i], keys[i] = t, tx.Key
	}
	s.store(a.ProviderID(), financeapp.TransactionBatch{AccountID: a.ID(), InstitutionIDs: keys,
		Apply: func([]*finance.Transaction) ([]*finance.Transaction, error) { return out, nil }})
	return out
}

// Change applies change to the stored transaction t (a Modify, Post or
// Remove) and stores it.
func (s Seeder) Change(t *finance.Transaction, change func(*finance.Transaction) error) {
	s.T.Helper()
	key := t.Details().InstitutionTransactionID
	s.store(t.ProviderID(), financeapp.TransactionBatch{AccountID: t.AccountID(), InstitutionIDs: []string{key},
		Apply: func(stored []*finance.Transaction) ([]*finance.Transaction, error) {
			if len(stored) != 1 {
				s.T.Fatalf("transaction %s is not stored", key)
			}
			return stored, change(stored[0])
		}})
}

// store stores batch as one page of provider's, leaving the stored resume
// state as it is.
func (s Seeder) store(providerID uuid.UUID, batch financeapp.TransactionBatch) {
	s.T.Helper()
	resume, err := s.Writes.TransactionResume(s.ctx(), providerID)
	if err != nil {
		s.T.Fatalf("TransactionResume: %v", err)
	}
	page := financeapp.TransactionPageWrite{From: resume, Batches: []financeapp.TransactionBatch{batch}, Resume: resume}
	if _, err := s.Writes.StoreTransactionPage(s.ctx(), providerID, page); err != nil {
		s.T.Fatalf("StoreTransactionPage: %v", err)
	}
}

// Remove makes the stored transaction t a tombstone.
func (s Seeder) Remove(t *finance.Transaction) {
	s.T.Helper()
	s.Change(t, func(st *finance.Transaction) error { return st.Remove(s.Now) })
}

// Currency parses an ISO 4217 code.
func Currency(t testing.TB, code string) money.Currency {
	t.Helper()
	c, err := money.ParseCurrency("currency", code)
	if err != nil {
		t.Fatalf("ParseCurrency(%q): %v", code, err)
	}
	return c
}

// Amount parses an amount of money.
func Amount(t testing.TB, amount, currency string) money.Money {
	t.Helper()
	m, err := money.ParseAmount("amount", amount, currency)
	if err != nil {
		t.Fatalf("ParseAmount(%q): %v", amount, err)
	}
	return m
}

// Date parses a calendar date.
func Date(t testing.TB, s string) calendar.Date {
	t.Helper()
	d, err := calendar.ParseDate("date", s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

// Holding adds a position of the account in the security sec (saved as the
// account's provider's, sec.Currency defaulting to the account's), of
// quantity units worth marketValue, keeping the account's other holdings.
func (s Seeder) Holding(a *finance.Account, sec finance.SecurityDetails, quantity, marketValue string) *finance.Holding {
	s.T.Helper()
	if sec.Currency.IsZero() {
		sec.Currency = a.Currency()
	}
	ids, err := s.Writes.SaveSecurities(s.ctx(), a.ProviderID(), []finance.SecurityDetails{sec})
	if err != nil {
		s.T.Fatalf("SaveSecurities: %v", err)
	}
	q, err := money.ParseQuantity("quantity", quantity)
	if err != nil {
		s.T.Fatalf("quantity %q: %v", quantity, err)
	}
	h, err := finance.NewHolding(s.newID(), a.ID(), finance.HoldingDetails{SecurityID: ids[sec.Key()], Quantity: q,
		MarketValue: Amount(s.T, marketValue, a.Currency().String()), AsOf: s.Now}, s.Now)
	if err != nil {
		s.T.Fatalf("NewHolding: %v", err)
	}
	if _, err := s.Writes.UpdateHoldings(s.ctx(), a.ID(), func(stored []*finance.Holding) ([]*finance.Holding, error) {
		return append(stored, h), nil
	}); err != nil {
		s.T.Fatalf("UpdateHoldings: %v", err)
	}
	return h
}
