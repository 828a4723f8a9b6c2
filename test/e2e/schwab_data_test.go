package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// The binary, configured by SCHWAB_* variables only, connects the fake
// Schwab, and its first sync stores the fake's accounts (masked, never the
// plain number or the hash), positions and every activity, readable through
// the API; no request the fake saw named an account by its plain number or
// carried a date-only date.
func TestSchwabDataJourneyAgainstFakeSchwab(t *testing.T) {
	t.Parallel()
	sch := startSchwab(t, schwabfake.Config{})
	in := startInstance(t, merged(generousRateLimits, sch.Env()))
	user := verifiedSession(t, in, newAccount())
	id := createProvider(t, in, user.Access, "schwab", "Brokerage")
	authURL, err := startAuthorizationE(in, user.Access, id)
	if err != nil {
		t.Fatal(err)
	}
	callback, err := redirectTarget(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := arriveAndRelayE(in, in, callback, user.Access); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the first sync succeeded", func() bool {
		syncs := syncsOf(t, in, user.Access, id)
		if len(syncs) != 1 {
			t.Fatalf("syncs after the grant = %v", syncs)
		}
		if st := syncs[0]["status"]; st != "queued" && st != "running" && st != "succeeded" {
			t.Fatalf("the first sync ended %v: %v", st, syncs[0])
		}
		return syncs[0]["status"] == "succeeded"
	})

	fakeAccounts := sch.Fake.Accounts()
	accounts := allPages(t, in, user.Access, "/api/v1/accounts?limit=100")
	if len(accounts) != len(fakeAccounts) {
		t.Fatalf("%d accounts, want the fake's %d", len(accounts), len(fakeAccounts))
	}
	raw, _ := json.Marshal(accounts)
	var masks []string
	for _, a := range accounts {
		mask, _ := a["mask"].(string)
		masks = append(masks, mask)
	}
	var positions, activities int
	for _, fa := range fakeAccounts {
		if strings.Contains(string(raw), fa.Number) || strings.Contains(string(raw), fa.Hash) {
			t.Errorf("an account shows the plain number or the hash of %s", fa.Number[len(fa.Number)-4:])
		}
		if !strings.Contains(strings.Join(masks, ","), fa.Number[len(fa.Number)-4:]) {
			t.Errorf("masks %v, want one ending the account's number", masks)
		}
		positions += len(sch.Fake.Positions(fa.Hash))
		activities += len(sch.Fake.Activities(fa.Hash))
	}
	if got := allPages(t, in, user.Access, "/api/v1/holdings?limit=100"); len(got) != positions {
		t.Errorf("%d holdings, want the fake's %d positions", len(got), positions)
	}
	if got := allPages(t, in, user.Access, "/api/v1/transactions?limit=100"); len(got) != activities {
		t.Errorf("%d transactions, want the fake's %d activities", len(got), activities)
	}

	for _, r := range sch.Fake.DataRequests() {
		for _, fa := range fakeAccounts {
			if strings.Contains(r.Path+"?"+r.RawQuery, fa.Number) {
				t.Errorf("a request named an account by its plain number: %s", r.Path)
			}
		}
		if strings.HasSuffix(r.Path, "/transactions") {
			q, _ := url.ParseQuery(r.RawQuery)
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", q.Get("startDate")); err != nil {
				t.Errorf("startDate %q is not a full timestamp", q.Get("startDate"))
			}
		}
	}
}
