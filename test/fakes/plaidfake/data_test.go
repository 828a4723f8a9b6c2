package plaidfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// syncAnswer is the part of a /transactions/sync answer these tests read.
type syncAnswer struct {
	status int
	Added  []struct {
		TransactionID string `json:"transaction_id"`
	} `json:"added"`
	Removed []struct {
		TransactionID string `json:"transaction_id"`
		AccountID     string `json:"account_id"`
	} `json:"removed"`
	NextCursor string `json:"next_cursor"`
	HasMore    bool   `json:"has_more"`
	ErrorCode  string `json:"error_code"`
}

func linkItem(t *testing.T, fake *plaidfake.Server) string {
	t.Helper()
	public, err := fake.CreatePublicToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a := call(t, fake, plaidfake.PathPublicTokenSwap, map[string]any{"client_id": fake.Config().ClientID,
		"secret": fake.Config().Secret, "public_token": public})
	return a.AccessToken
}

func syncFrom(t *testing.T, fake *plaidfake.Server, access, cursor string) syncAnswer {
	t.Helper()
	body := map[string]any{"client_id": fake.Config().ClientID, "secret": fake.Config().Secret,
		"access_token": access, "count": 500}
	if cursor != "" {
		body["cursor"] = cursor
	}
	payload, _ := json.Marshal(body)
	resp, err := http.Post(fake.URL+plaidfake.PathTransactionsSync, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var a syncAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	a.status = resp.StatusCode
	return a
}

// After a mutation during pagination, the page's cursor keeps failing, and
// only the loop's first cursor succeeds again.
func TestOnlyARestartFromTheLoopsFirstCursorSucceedsAfterAMutation(t *testing.T) {
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	access := linkItem(t, fake)
	item := fake.Item(access)
	item.SetPageSize(10)
	first := syncFrom(t, fake, access, "")
	if !first.HasMore || len(first.Added) != 10 {
		t.Fatalf("first page: %d added, has_more %v; want 10 of the seeded 24, more to come", len(first.Added), first.HasMore)
	}
	item.Remove("tx-005")
	for range 2 {
		if a := syncFrom(t, fake, access, first.NextCursor); a.status != http.StatusBadRequest ||
			a.ErrorCode != "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION" {
			t.Fatalf("the second page after a mutation: %+v, want the mutation error", a)
		}
	}
	again := syncFrom(t, fake, access, "")
	if again.status != http.StatusOK || len(again.Added) != 10 {
		t.Fatalf("restarted from the first cursor: %+v, want a fresh snapshot's first page", again)
	}
	for _, a := range again.Added {
		if a.TransactionID == "tx-005" {
			t.Errorf("the fresh snapshot adds tx-005, removed before it was taken")
		}
	}
}

// A posted transaction names its pending one, whose id is removed; with a
// page size of one and the removal first, they are on two pages of one loop.
func TestPostingSplitsTheRemovalAndThePostedOneAcrossPages(t *testing.T) {
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	access := linkItem(t, fake)
	item := fake.Item(access)
	done := syncFrom(t, fake, access, "")
	item.SetPageSize(1)
	item.Post("tx-001", "tx-001-posted", "20.00", true)
	p1 := syncFrom(t, fake, access, done.NextCursor)
	p2 := syncFrom(t, fake, access, p1.NextCursor)
	if len(p1.Removed) != 1 || p1.Removed[0].TransactionID != "tx-001" || p1.Removed[0].AccountID != plaidfake.AccountCredit ||
		!p1.HasMore || len(p2.Added) != 1 || p2.Added[0].TransactionID != "tx-001-posted" || p2.HasMore {
		t.Errorf("pages %+v then %+v; want tx-001 removed, then tx-001-posted added", p1, p2)
	}
	live := item.Transactions()
	if _, pendingLive := live["tx-001"]; pendingLive || live["tx-001-posted"].PendingTransactionID != "tx-001" {
		t.Errorf("live: %+v, want tx-001-posted naming tx-001, which is gone", live)
	}
}
