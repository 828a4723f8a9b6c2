package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// TestPlaidJourneyAgainstFakePlaid: the binary, configured for Plaid only by
// the PLAID_* variables pointing at the fake with both data products, links an
// item through Link (the fake finishing Link for the link token the API
// handed out), and the grant's first sync stores what the fake's item holds,
// readable through the API: its four accounts, the brokerage's four holdings,
// and its 24 bank and card transactions with its 7 investment transactions.
// No secret of the journey reaches the log.
func TestPlaidJourneyAgainstFakePlaid(t *testing.T) {
	t.Parallel()
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	in := startInstance(t, map[string]string{"PLAID_CLIENT_ID": fake.Config().ClientID, "PLAID_SECRET": fake.Config().Secret,
		"PLAID_BASE_URL": fake.URL, "PLAID_PRODUCTS": "transactions,investments"})
	a := newAccount()
	user := verifiedSession(t, in, a)
	id := createProvider(t, in, user.Access, "plaid", "Bank")

	_, started := in.expect(t, http.StatusCreated, http.MethodPost, authorizationPath(id), nil, user.Access)
	link, _ := started["link_token"].(string)
	state, _ := started["state"].(string)
	if started["flow"] != "link_token" || link == "" || state == "" {
		t.Fatalf("start authorization = %v, want a link token and a state", started)
	}
	public, err := fake.FinishLink(link)
	if err != nil {
		t.Fatal(err)
	}
	in.expect(t, http.StatusOK, http.MethodPost, authorizationPath(id)+"/callback",
		map[string]string{"state": state, "public_token": public}, user.Access)

	syncs := syncsOf(t, in, user.Access, id)
	if len(syncs) != 1 {
		t.Fatalf("%d syncs after the link, want its first", len(syncs))
	}
	syncID, _ := syncs[0]["id"].(string)
	awaitSync(t, in, user.Access, syncID, "succeeded", time.Minute)

	for _, want := range []struct {
		path string
		n    int
	}{
		{"/api/v1/accounts?provider_id=" + id, 4},
		{"/api/v1/holdings?provider_id=" + id, 4},
		{"/api/v1/transactions?provider_id=" + id, 24 + 7},
	} {
		if got := allPages(t, in, user.Access, want.path); len(got) != want.n {
			t.Errorf("GET %s: %d items, want the fake's %d", want.path, len(got), want.n)
		}
	}
	assertLogsKeepSecrets(t, in, []secret{
		{name: "password", value: a.Password},
		{name: "Plaid secret", value: fake.Config().Secret},
		{name: "public token", value: public},
		{name: "link token", value: link},
		{name: "access token", value: user.Access},
	})
}
