package datasync_test

import (
	"slices"
	"testing"

	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/event"
)

// A grant and the sync it begins write, through the stores, the events a
// client follows: provider.connected, sync.started, the data's
// account.balance_changed and transactions.changed, then sync.completed.
func TestAGrantsFirstSyncWritesItsEvents(t *testing.T) {
	h := newHarness(t, nil)
	_, job := h.connectSandbox(t, sandbox.UserGood)
	if s := h.run(t, job); s.Status() != datasync.StatusSucceeded {
		t.Fatalf("sync %v", s.Status())
	}
	count := map[event.Type]int{}
	var order []event.Type
	for _, e := range h.providers.Events.All() {
		count[e.Type]++
		if !slices.Contains(order, e.Type) {
			order = append(order, e.Type)
		}
	}
	if len(order) < 3 || order[0] != event.ProviderConnected || order[1] != event.SyncStarted || order[len(order)-1] != event.SyncCompleted {
		t.Fatalf("event types in order of first appearance %v, want provider.connected, sync.started, ..., sync.completed", order)
	}
	if count[event.SyncStarted] != 1 || count[event.SyncCompleted] != 1 || count[event.AccountBalanceChanged] != 4 || count[event.TransactionsChanged] < 1 {
		t.Errorf("counts %v, want one start and one completion, the 4 accounts' balances, and the transaction pages", count)
	}
}
