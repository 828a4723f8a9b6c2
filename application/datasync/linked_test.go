package datasync_test

import (
	"testing"

	financeapp "github.com/dashtam/dashtam/application/finance"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/finance"
)

// linkedPosting is a posted record under its own id that names the pending
// one it replaces, as Plaid links them (pending_transaction_id).
func linkedPosting(t *testing.T, id, replaces, amount string) providersapp.TransactionRecord {
	t.Helper()
	rec := purchase(t, checking, id, finance.TransactionPosted, amount)
	rec.Replaces = replaces
	return rec
}

// A pending transaction posted under a new institution id that names it is
// one transaction with one Dashtam id, whatever the order the institution
// sends the pending id's removal and the posted record in: in one page
// (removal listed first), or across two pages with the removal first, when
// the pending one is a tombstone before its posted form arrives.
func TestALinkedPostingKeepsThePendingTransactionsIdInEveryOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages func(t *testing.T) []providersapp.TransactionPage
	}{
		{"one page", func(t *testing.T) []providersapp.TransactionPage {
			return []providersapp.TransactionPage{{
				Removed: []providersapp.RemovedTransaction{removal(checking, "pending-1")},
				Added:   []providersapp.TransactionRecord{linkedPosting(t, "posted-1", "pending-1", "-12.00")},
			}}
		}},
		{"removal on the page before", func(t *testing.T) []providersapp.TransactionPage {
			return []providersapp.TransactionPage{
				{Removed: []providersapp.RemovedTransaction{removal(checking, "pending-1")}},
				{Added: []providersapp.TransactionRecord{linkedPosting(t, "posted-1", "pending-1", "-12.00")}},
			}
		}},
		{"removal on the page after", func(t *testing.T) []providersapp.TransactionPage {
			return []providersapp.TransactionPage{
				{Added: []providersapp.TransactionRecord{linkedPosting(t, "posted-1", "pending-1", "-12.00")}},
				{Removed: []providersapp.RemovedTransaction{removal(checking, "pending-1")}},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			p, job := h.connectScripted(t)
			scriptAccounts(t, h)
			h.scripted.set(func(s *scripted) {
				s.pages = []providersapp.TransactionPage{page(purchase(t, checking, "pending-1", finance.TransactionPending, "-10.00"))}
			})
			h.run(t, job)
			pending := liveByKey(t, h, p)["pending-1"]
			seen := h.feed(t)

			h.scripted.set(func(s *scripted) { s.pages = append(s.pages, tc.pages(t)...) })
			if s := h.run(t, h.manual(t, p)); s.Status() != datasync.StatusSucceeded {
				t.Fatalf("sync %v with %+v, want succeeded", s.Status(), s.Errors())
			}
			live := liveByKey(t, h, p)
			wantKeys(t, "live after posting", live, "posted-1")
			got := live["posted-1"]
			if got.ID() != pending.ID() || got.Status() != finance.TransactionPosted || got.Details().Amount.Amount().String() != "-12.00" {
				t.Errorf("posted-1 is %s %s at %s, want posted under the pending one's id %s at -12.00",
					got.ID(), got.Status(), got.Details().Amount.Amount(), pending.ID())
			}
			feed, err := h.finance.Changes(t.Context(), h.user, seen[len(seen)-1].Position, 100)
			if err != nil || len(feed) != 1 || feed[0].Transaction.ID() != pending.ID() || feed[0].Type != financeapp.ChangeModified {
				t.Errorf("the feed after the pending one was seen: %+v (%v), want it once, modified, not removed", feed, err)
			}
		})
	}
}

// A posted record naming a pending transaction never stored (it came and
// went before the first sync) is simply added.
func TestALinkedPostingOfAnUnknownPendingTransactionIsAdded(t *testing.T) {
	h := newHarness(t, nil)
	p, job := h.connectScripted(t)
	scriptAccounts(t, h)
	h.scripted.set(func(s *scripted) {
		s.pages = []providersapp.TransactionPage{{
			Added:   []providersapp.TransactionRecord{linkedPosting(t, "posted-1", "never-seen", "-12.00")},
			Removed: []providersapp.RemovedTransaction{removal(checking, "never-seen")},
		}}
	})
	s := h.run(t, job)
	if s.Status() != datasync.StatusSucceeded || s.Results().Transactions != (datasync.TransactionResults{Added: 1}) {
		t.Fatalf("sync %v with results %+v and errors %+v, want succeeded with 1 added", s.Status(), s.Results().Transactions, s.Errors())
	}
	wantKeys(t, "live", liveByKey(t, h, p), "posted-1")
}
