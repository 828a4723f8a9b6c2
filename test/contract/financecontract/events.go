package financecontract

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsapp "github.com/dashtam/dashtam/application/events"
	financeapp "github.com/dashtam/dashtam/application/finance"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/finance"
)

// eventsOf returns user's events of type ty, with their data decoded.
func eventsOf(t *testing.T, h Harness, user uuid.UUID, ty event.Type) []map[string]any {
	t.Helper()
	evs, err := h.Events.ListEvents(t.Context(), eventsapp.Query{UserID: user, Types: []event.Type{ty}, Limit: 100})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	out := make([]map[string]any, len(evs))
	for i, e := range evs {
		if err := json.Unmarshal(e.Data, &out[i]); err != nil {
			t.Fatalf("event %d data %q: %v", e.ID, e.Data, err)
		}
	}
	return out
}

// A page that changes something writes one transactions.changed with its
// counts and the feed position its changes come after, in its commit; a page
// that changes nothing writes none, and a failed page none either.
func pagesWriteTransactionsChanged(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "chk")
	write := func(from, resume string, batches ...financeapp.TransactionBatch) error {
		_, err := h.Store.StoreTransactionPage(t.Context(), p.ID(), financeapp.TransactionPageWrite{
			From: []byte(from), Batches: batches, Resume: []byte(resume)})
		return err
	}
	if err := write("", "1", batchOf(t, a, purchase(t, "t1", "-1.00", "2030-01-01"), purchase(t, "t2", "-2.00", "2030-01-01"))); err != nil {
		t.Fatal(err)
	}
	if err := write("1", "2", batchOf(t, a, purchase(t, "t1", "-1.00", "2030-01-01"))); err != nil { // the same again: no change
		t.Fatal(err)
	}
	failing := batchOf(t, a, purchase(t, "t3", "-3.00", "2030-01-02"))
	failing.Apply = func([]*finance.Transaction) ([]*finance.Transaction, error) { return nil, errBoom }
	if err := write("2", "3", batchOf(t, a, purchase(t, "t4", "-4.00", "2030-01-02")), failing); !errors.Is(err, errBoom) {
		t.Fatalf("failing page: %v", err)
	}
	if err := write("2", "3", batchOf(t, a, purchase(t, "t2", "-2.50", "2030-01-01"), purchase(t, "t5", "-5.00", "2030-01-03"))); err != nil {
		t.Fatal(err)
	}
	got := eventsOf(t, h, p.UserID(), event.TransactionsChanged)
	if len(got) != 2 {
		t.Fatalf("transactions.changed events %v, want one per page that changed something", got)
	}
	first, second := got[0], got[1]
	if first["provider_id"] != p.ID().String() || first["added"] != 2.0 || first["modified"] != 0.0 || first["feed_after"] != 0.0 {
		t.Errorf("first page's event %v, want 2 added after position 0", first)
	}
	if second["added"] != 1.0 || second["modified"] != 1.0 {
		t.Errorf("last page's event %v, want 1 added and 1 modified", second)
	}
	// Reading the feed after the event's position gives exactly that page's changes.
	after := int64(second["feed_after"].(float64))
	changes, err := h.Store.Changes(t.Context(), p.UserID(), after, 100)
	if err != nil || len(changes) != 2 {
		t.Errorf("the feed after %d: %d changes, %v; want the last page's 2", after, len(changes), err)
	}
}

// A balance whose amounts moved writes account.balance_changed with them;
// the same amounts (a daily snapshot), a stale snapshot and fn's error write
// none.
func balancesWriteBalanceChanged(t *testing.T, h Harness) {
	p := newProvider(t, h)
	a := newAccount(t, h, p, "chk")
	record(t, h, newBalance(t, a, "10.00", "9.00", "", base))
	record(t, h, newBalance(t, a, "10.0", "9", "", base.Add(48*time.Hour))) // daily snapshot, same amounts
	stale := newBalance(t, a, "99.00", "", "", base)
	if _, err := h.Store.UpdateBalance(t.Context(), a.ID(), func(*finance.Balance) (*finance.Balance, error) { return &stale, nil }); !errors.Is(err, financeapp.ErrStaleBalance) {
		t.Fatalf("stale: %v", err)
	}
	moved := newBalance(t, a, "12.50", "", "", base.Add(72*time.Hour))
	if _, err := h.Store.UpdateBalance(t.Context(), a.ID(), func(*finance.Balance) (*finance.Balance, error) { return &moved, errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("fn's error: %v", err)
	}
	record(t, h, moved)
	got := eventsOf(t, h, p.UserID(), event.AccountBalanceChanged)
	if len(got) != 2 {
		t.Fatalf("account.balance_changed events %v, want the first balance and the move", got)
	}
	if got[0]["account_id"] != a.ID().String() || got[0]["current"] != "10.00" || got[0]["available"] != "9.00" || got[0]["currency"] != "USD" {
		t.Errorf("first event %v", got[0])
	}
	if got[1]["current"] != "12.50" {
		t.Errorf("second event %v, want current 12.50", got[1])
	}
}
