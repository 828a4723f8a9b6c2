package verify

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/apitest"
	"github.com/dashtam/dashtam/test/financeseed"
)

// The financial data in the BOLA property: accounts (with a balance) and
// transactions are stored under random providers as the sync engine stores
// them, and every read by id of another user's, or of one gone with its
// deleted provider, must answer exactly as for an id that never existed;
// lists carry only the caller's.

// bolaAccount is an account the run stored, with its one transaction.
type bolaAccount struct {
	id, transactionID string
	provider          *bolaProvider
}

func (a *bolaAccount) GoString() string {
	return fmt.Sprintf("account %s of %s's provider (deleted=%v)", a.id, a.provider.owner.name, a.provider.deleted)
}

// storeFinance stores an account, its balance and a transaction under a live
// provider of any user.
func (m *oracle) storeFinance(rt *rapid.T) {
	var live []*bolaProvider
	for _, p := range m.providers {
		if !p.deleted {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		rt.Skip("no live provider")
	}
	p := rapid.SampledFrom(live).Draw(rt, "provider of the account")
	now := time.Now().UTC()
	seed := financeseed.Seeder{T: m.t, Writes: m.h.App.Finance, Now: now}
	a := seed.Account(uuid.MustParse(p.id), finance.AccountDetails{InstitutionAccountID: m.fresh("institution account"), Name: m.fresh("account")})
	seed.Balance(a, "100.00", "", now)
	tx := seed.Transactions(a, financeseed.Tx{Amount: "-1.50", Date: "2030-03-01", Description: m.fresh("purchase")})
	m.accounts = append(m.accounts, &bolaAccount{id: a.ID().String(), transactionID: tx[0].ID().String(), provider: p})
}

// readFinance reads an account, its balances or its transaction by id.
func (m *oracle) readFinance(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	var a *bolaAccount
	if i := rapid.IntRange(0, len(m.accounts)).Draw(rt, "account"); i < len(m.accounts) {
		a = m.accounts[i]
	}
	kind := rapid.SampledFrom([]string{"account", "balances", "transaction"}).Draw(rt, "read")
	build := func(id string) apitest.Request {
		path := map[string]string{"account": "/api/v1/accounts/" + id, "balances": "/api/v1/accounts/" + id + "/balances",
			"transaction": "/api/v1/transactions/" + id}[kind]
		return apitest.Request{Method: "GET", Path: path, Token: token}
	}
	id := uuid.NewString()
	if a != nil {
		id = a.id
		if kind == "transaction" {
			id = a.transactionID
		}
	}
	if a == nil || !ownLive(a.provider, u) {
		m.sameAsRandom("GET "+kind, id, build)
		return
	}
	m.h.Do(build(id)).Expect(m.t, http.StatusOK)
}

// listFinance lists the caller's accounts and transactions: exactly the
// oracle's, never another user's.
func (m *oracle) listFinance(rt *rapid.T) {
	u := m.user(rt, "caller")
	_, token := m.tokenOf(rt, u)
	var wantAccounts, wantTransactions []string
	for _, a := range m.accounts {
		if ownLive(a.provider, u) {
			wantAccounts = append(wantAccounts, a.id)
			wantTransactions = append(wantTransactions, a.transactionID)
		}
	}
	for path, want := range map[string][]string{"/api/v1/accounts?per_page=100": wantAccounts, "/api/v1/transactions?limit=100": wantTransactions} {
		var body struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		m.h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(m.t, http.StatusOK).JSON(m.t, &body)
		got := make([]string, len(body.Items))
		for i, it := range body.Items {
			got[i] = it.ID
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			m.t.Fatalf("%s: %s finds %v, the oracle says %v", path, u.name, got, want)
		}
	}
}
