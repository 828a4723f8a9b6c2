package datasync_test

import (
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
)

// The sandbox's user_good, synced once: every account with its balance, the
// brokerage account's positions, and a year of transactions, each stored once.
// Synced again two days later (its access token long expired, so refreshed on
// the way), the pending transactions that posted meanwhile are posted in
// place: the same Dashtam id, never a second live transaction.
func TestSyncingTheSandboxStoresAccountsHoldingsAndTransactionsAndPostsPendingInPlace(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectSandbox(t, sandbox.UserGood)
	s := h.run(t, job)
	if s.Status() != datasync.StatusSucceeded || len(s.Errors()) != 0 {
		t.Fatalf("first sync %v with errors %+v, want succeeded", s.Status(), s.Errors())
	}
	accounts := h.accounts(t, p)
	if len(accounts) != 4 || s.Results().Accounts.Added != 4 || s.Progress() != (datasync.Progress{AccountsTotal: 4, AccountsDone: 4}) {
		t.Fatalf("%d accounts, results %+v, progress %+v; want the sandbox's 4", len(accounts), s.Results(), s.Progress())
	}
	var holdings int
	for _, a := range accounts {
		history, err := h.finance.Balances(t.Context(), balanceQuery(a))
		if err != nil || len(history) != 1 {
			t.Errorf("account %s has %d balances (%v), want 1", a.Name(), len(history), err)
		}
		holdings += len(h.finance.Holdings(a.ID()))
	}
	if holdings == 0 || s.Results().Holdings.Added != holdings {
		t.Errorf("%d holdings stored, %d counted added; want the brokerage's positions", holdings, s.Results().Holdings.Added)
	}
	first := byInstitutionID(t, h.live(t, p))
	if len(first) < 1000 || s.Results().Transactions.Added != len(first) {
		t.Fatalf("%d live transactions, %d counted added; want about a year's, all counted", len(first), s.Results().Transactions.Added)
	}
	// A grant's ledger is seeded at random: sync every few hours until some
	// transaction is pending.
	for tries := 0; countPending(first) == 0; tries++ {
		if tries == 40 {
			t.Fatal("no pending transaction in ten days of syncs")
		}
		h.clock.Advance(6 * time.Hour)
		if s := h.run(t, h.manual(t, p)); s.Status() != datasync.StatusSucceeded {
			t.Fatalf("sync %v with errors %+v, want succeeded", s.Status(), s.Errors())
		}
		first = byInstitutionID(t, h.live(t, p))
	}

	// A pending transaction posts (or is dropped) within four days.
	h.clock.Advance(4 * 24 * time.Hour)
	second := h.run(t, h.manual(t, p))
	if second.Status() != datasync.StatusSucceeded {
		t.Fatalf("second sync %v with errors %+v, want succeeded", second.Status(), second.Errors())
	}
	after := byInstitutionID(t, h.live(t, p))
	for key, was := range first {
		if was.Status() != finance.TransactionPending {
			continue
		}
		now, live := after[key]
		switch {
		case !live:
			stored, err := h.finance.TransactionByID(t.Context(), was.ID())
			if err != nil || !stored.Removed() {
				t.Errorf("pending %s is neither live nor a tombstone: %v", key, err)
			}
		case now.Status() != finance.TransactionPosted || now.ID() != was.ID():
			t.Errorf("pending %s is now %s under id %s, want posted under %s", key, now.Status(), now.ID(), was.ID())
		}
	}
	if countPending(after) >= len(after) {
		t.Fatal("nothing posted")
	}
}

func countPending(live map[string]*finance.Transaction) int {
	n := 0
	for _, tr := range live {
		if tr.Status() == finance.TransactionPending {
			n++
		}
	}
	return n
}
