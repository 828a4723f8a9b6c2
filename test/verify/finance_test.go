package verify

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/financeseed"
	verifyclient "github.com/dashtam/dashtam/test/verify/client"
)

// The financial-data reads through the generated client, over TCP, each
// response validated against the served document and decoded exactly into
// the generated types: accounts with a balance, its history, transactions
// filtered by amount, one transaction, and the changes feed with a removal.
func TestFinancialDataWithGeneratedClient(t *testing.T) {
	t.Parallel()
	svc := startService(t)
	transport := newContractTransport(t, servedDocument(t, svc.URL))
	c, err := verifyclient.NewClientWithResponses(svc.URL, verifyclient.WithHTTPClient(&http.Client{Transport: transport}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const email, password = "money@example.com", "a long money passphrase"
	reg, err := c.RegisterUserWithResponse(ctx, nil, verifyclient.RegisterUserJSONRequestBody{Email: email, Password: password, Name: "Money"})
	expect(t, "POST /users", reg, err, http.StatusCreated)
	verified, err := c.VerifyEmailWithResponse(ctx, nil, verifyclient.VerifyEmailJSONRequestBody{Token: svc.H.Mail.LastToken(t, email, "Verify")})
	expect(t, "POST /email-verifications", verified, err, http.StatusOK)
	login, err := c.CreateSessionWithResponse(ctx, verifyclient.CreateSessionJSONRequestBody{Email: email, Password: password})
	expect(t, "POST /sessions", login, err, http.StatusCreated)
	auth := bearer(exact[verifyclient.TokenGrant](t, "login", login.Body).AccessToken)
	created, err := c.CreateProviderWithResponse(ctx, nil, verifyclient.CreateProviderJSONRequestBody{ProviderKey: "sandbox", Alias: "Bank"}, auth)
	expect(t, "POST /providers", created, err, http.StatusCreated)
	prov := exact[verifyclient.Provider](t, "provider", created.Body)

	seed := financeseed.Seeder{T: t, Writes: svc.H.App.Finance, Now: time.Now().UTC()}
	acct := seed.Account(prov.Id, finance.AccountDetails{InstitutionAccountID: "acct-1", Name: "Checking", Subtype: "checking"})
	seed.Balance(acct, "1520.70", "1490.00", time.Now().UTC())
	txs := seed.Transactions(acct,
		financeseed.Tx{Amount: "-42.50", Date: "2030-03-01", Description: "Coffee", Merchant: "Blue Bottle", Kind: finance.KindPurchase},
		financeseed.Tx{Amount: "-9.99", Date: "2030-03-02", Description: "Streaming", Pending: true})

	accounts, err := c.ListAccountsWithResponse(ctx, nil, auth)
	expect(t, "GET /accounts", accounts, err, http.StatusOK)
	list := exact[verifyclient.AccountList](t, "accounts", accounts.Body)
	if len(list.Items) != 1 || list.Items[0].Balance == nil || list.Items[0].Balance.Current != "1520.70" || deref(list.Items[0].Mask) != "1234" {
		t.Fatalf("accounts = %+v", list)
	}
	one, err := c.GetAccountWithResponse(ctx, acct.ID(), nil, auth)
	expect(t, "GET /accounts/{id}", one, err, http.StatusOK)
	etag := one.HTTPResponse.Header.Get("ETag")
	cond, err := c.GetAccountWithResponse(ctx, acct.ID(), &verifyclient.GetAccountParams{IfNoneMatch: &etag}, auth)
	expect(t, "GET /accounts/{id} If-None-Match", cond, err, http.StatusNotModified)
	history, err := c.ListAccountBalancesWithResponse(ctx, acct.ID(), &verifyclient.ListAccountBalancesParams{Limit: ptr[int32](5)}, auth)
	expect(t, "GET /accounts/{id}/balances", history, err, http.StatusOK)
	if h := exact[verifyclient.BalanceList](t, "balances", history.Body); len(h.Items) != 1 || deref(h.Items[0].Available) != "1490.00" {
		t.Fatalf("history = %+v", h)
	}

	filtered, err := c.ListTransactionsWithResponse(ctx, &verifyclient.ListTransactionsParams{AmountMin: ptr("-42.5"), AmountMax: ptr("-42.5")}, auth)
	expect(t, "GET /transactions", filtered, err, http.StatusOK)
	tl := exact[verifyclient.TransactionList](t, "transactions", filtered.Body)
	if len(tl.Items) != 1 || deref(tl.Items[0].Amount) != "-42.50" || deref(tl.Items[0].MerchantName) != "Blue Bottle" || tl.Items[0].PostedDate != nil {
		t.Fatalf("amount -42.5 = %+v", tl)
	}
	tx, err := c.GetTransactionWithResponse(ctx, txs[1].ID(), nil, auth)
	expect(t, "GET /transactions/{id}", tx, err, http.StatusOK)
	if got := exact[verifyclient.Transaction](t, "transaction", tx.Body); deref(got.Status) != verifyclient.TransactionStatusPending {
		t.Fatalf("transaction = %+v", got)
	}

	seed.Remove(txs[0])
	feed, err := c.ListTransactionChangesWithResponse(ctx, nil, auth)
	expect(t, "GET /transactions/changes", feed, err, http.StatusOK)
	page := exact[verifyclient.TransactionChanges](t, "changes", feed.Body)
	if len(page.Added) != 1 || len(page.Removed) != 1 || page.Removed[0].Id != txs[0].ID() || page.HasMore {
		t.Fatalf("changes = %+v", page)
	}
	idle, err := c.ListTransactionChangesWithResponse(ctx, &verifyclient.ListTransactionChangesParams{Cursor: &page.NextCursor}, auth)
	expect(t, "GET /transactions/changes (caught up)", idle, err, http.StatusOK)
	if p := exact[verifyclient.TransactionChanges](t, "idle changes", idle.Body); len(p.Added)+len(p.Modified)+len(p.Removed) != 0 {
		t.Fatalf("caught up = %+v", p)
	}
	if transport.checked < 12 {
		t.Fatalf("only %d responses were validated", transport.checked)
	}
}
