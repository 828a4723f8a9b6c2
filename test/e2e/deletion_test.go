package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// A user with two Plaid items exports their data (the document holds their
// transactions and no token, hash or secret), then, one item syncing,
// deletes their account: a wrong password first changes nothing; then the deletion answers 204, the
// running sync stops without writing, each item is removed at Plaid
// (/item/remove, retried after Plaid failed the first calls), the user's
// tokens and login are 401, and no table of the database holds a row of
// theirs but the audit log, which records the deletion with its request id.
// Another user's data is untouched.
func TestAccountDeletionLeavesNothingAndRevokesAtTheInstitution(t *testing.T) {
	t.Parallel()
	fake := plaidfake.New(plaidfake.Config{})
	t.Cleanup(fake.Close)
	dataDir := t.TempDir()
	in := startInstance(t, map[string]string{"DATA_DIR": dataDir,
		"PLAID_CLIENT_ID": fake.Config().ClientID, "PLAID_SECRET": fake.Config().Secret,
		"PLAID_BASE_URL": fake.URL, "PLAID_PRODUCTS": "transactions,investments",
		// River's records of finished jobs name users and providers by id:
		// kept for a second here, so the scan below can see them go.
		"JOB_RETENTION": "1s", "JOB_FAILED_RETENTION": "1s"})

	ann, bob := newAccount(), newAccount()
	annSession := verifiedSession(t, in, ann)
	bobSession := verifiedSession(t, in, bob)
	annChecking, checkingItem := linkPlaid(t, in, fake, annSession.Access, "Checking")
	annSavings, savingsItem := linkPlaid(t, in, fake, annSession.Access, "Savings")
	bobBank, bobItem := linkPlaid(t, in, fake, bobSession.Access, "Bank")
	bobAccounts := len(allPages(t, in, bobSession.Access, "/api/v1/accounts?limit=100"))
	// An Idempotency-Key'd write leaves a record keyed by the user.
	req, err := http.NewRequest(http.MethodPatch, in.BaseURL+"/api/v1/users/me", strings.NewReader(`{"name": "Ann"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+annSession.Access)
	req.Header.Set("Idempotency-Key", "rename-"+randomHex(4))
	if res, err := in.client.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH /users/me with an Idempotency-Key: %v %v", res, err)
	} else {
		_ = res.Body.Close()
	}
	_, profile := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/users/me", nil, annSession.Access)
	annID := uuid.MustParse(profile["id"].(string))

	// Ann takes her data with her first: the document holds her
	// transactions and none of her secrets.
	exportDocument(t, in, fake, ann, annSession)

	// A wrong password deletes nothing.
	status, _, problem := in.do(t, http.MethodDelete, "/api/v1/users/me", map[string]string{"current_password": "not-" + ann.Password}, annSession.Access)
	if status != http.StatusUnprocessableEntity || problem["code"] != "VALIDATION_ERROR" {
		t.Fatalf("DELETE /users/me with a wrong password: %d %v, want 422", status, problem)
	}
	me(t, in, ann, annSession.Access)

	// A sync is running (Plaid answers slowly) and Plaid fails /item/remove
	// when the deletion comes.
	fake.SetFault(fakekit.Slow(3 * time.Second).OnPath("/transactions/sync"))
	_, started := in.expect(t, http.StatusAccepted, http.MethodPost, syncsPath(annChecking), nil, annSession.Access)
	syncID, _ := started["id"].(string)
	awaitSync(t, in, annSession.Access, syncID, "running", 30*time.Second)
	fake.SetFault(fakekit.Status500().OnPath(plaidfake.PathItemRemove))
	deleted, deletedHeader, _ := in.do(t, http.MethodDelete, "/api/v1/users/me", map[string]string{"current_password": ann.Password}, annSession.Access)
	if deleted != http.StatusNoContent {
		t.Fatalf("DELETE /users/me: %d, want 204", deleted)
	}
	deletionRequest := deletedHeader.Get("X-Request-ID")

	expectUnauthorized(t, in, "the deleted user's access token", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, annSession.Access)
	expectUnauthorized(t, in, "the deleted user's refresh token", "INVALID_REFRESH_TOKEN", http.MethodPost, "/api/v1/tokens",
		map[string]string{"refresh_token": annSession.Refresh}, "")
	expectUnauthorized(t, in, "the deleted user's login", "INVALID_CREDENTIALS", http.MethodPost, "/api/v1/sessions",
		map[string]string{"email": ann.Email, "password": ann.Password}, "")

	waitUntil(t, time.Minute, "Plaid failing the first /item/remove calls", func() bool { return fake.Calls(plaidfake.PathItemRemove) >= 2 })
	fake.ClearFault()
	waitUntil(t, 2*time.Minute, "both of the user's items removed at Plaid", func() bool {
		return fake.ItemRemoved(checkingItem) && fake.ItemRemoved(savingsItem)
	})
	if fake.ItemRemoved(bobItem) {
		t.Error("another user's item was removed at Plaid")
	}

	db, err := persistence.Open(context.Background(), persistence.Options{SQLitePath: filepath.Join(dataDir, "dashtam.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	needles := []dbtest.Needle{dbtest.IDNeedle(annID), dbtest.TextNeedle(ann.Email),
		dbtest.IDNeedle(uuid.MustParse(annChecking)), dbtest.IDNeedle(uuid.MustParse(annSavings)), dbtest.IDNeedle(uuid.MustParse(syncID))}
	// The revoke jobs forget the set-aside grants once Plaid confirmed, the
	// interrupted sync's job ends, and River's cleaner (every 30 s) deletes
	// the records of finished jobs: wait for all three. A job still
	// retrying would stay.
	awaitErased(t, db, needles...)

	var deletion []dbtest.Mention
	for _, m := range dbtest.Mentions(t, db, dbtest.IDNeedle(annID)) {
		if m.Table == "audit_events" && m.Row["action"] == "user.delete" && m.Row["outcome"] == "success" {
			deletion = append(deletion, m)
		}
	}
	if len(deletion) != 1 || deletion[0].Row["request_id"] != deletionRequest || deletion[0].Row["actor_id"] != annID.String() {
		t.Errorf("audit entries of the deletion: %v, want one success with request id %s", deletion, deletionRequest)
	}

	if got := len(allPages(t, in, bobSession.Access, "/api/v1/accounts?limit=100")); got != bobAccounts || got == 0 {
		t.Errorf("the other user has %d accounts after the deletion, had %d", got, bobAccounts)
	}
	if syncs := syncsOf(t, in, bobSession.Access, bobBank); len(syncs) != 1 {
		t.Errorf("the other user's provider has %d syncs, want its first", len(syncs))
	}
	assertLogsKeepSecrets(t, in, []secret{{name: "password", value: ann.Password}, {name: "access token", value: annSession.Access}})
}

// linkPlaid adds a Plaid provider for the caller, links a new item at the
// fake and waits for its first sync; it returns the provider's id and the
// item's.
func linkPlaid(t *testing.T, in *Instance, fake *plaidfake.Server, token, alias string) (providerID, itemID string) {
	t.Helper()
	before := fake.ItemIDs()
	id := createProvider(t, in, token, "plaid", alias)
	_, started := in.expect(t, http.StatusCreated, http.MethodPost, authorizationPath(id), nil, token)
	link, _ := started["link_token"].(string)
	state, _ := started["state"].(string)
	public, err := fake.FinishLink(link)
	if err != nil {
		t.Fatal(err)
	}
	in.expect(t, http.StatusOK, http.MethodPost, authorizationPath(id)+"/callback",
		map[string]string{"state": state, "public_token": public}, token)
	syncs := syncsOf(t, in, token, id)
	if len(syncs) != 1 {
		t.Fatalf("%d syncs after the link, want its first", len(syncs))
	}
	first, _ := syncs[0]["id"].(string)
	awaitSync(t, in, token, first, "succeeded", time.Minute)
	for _, item := range fake.ItemIDs() {
		if !slices.Contains(before, item) {
			return id, item
		}
	}
	t.Fatal("linking made no new item at the fake")
	return "", ""
}

// exportDocument exports the user's data and checks the document: every
// transaction the API lists is in it, and no password, token, password
// hash or institution token is.
func exportDocument(t *testing.T, in *Instance, fake *plaidfake.Server, a account, session tokenPair) {
	t.Helper()
	header, started := in.expect(t, http.StatusAccepted, http.MethodPost, "/api/v1/users/me/exports", nil, session.Access)
	location := header.Get("Location")
	if location == "" || started["status"] != "queued" {
		t.Fatalf("POST /users/me/exports: Location %q, body %v", location, started)
	}
	var export map[string]any
	waitUntil(t, time.Minute, "the export to succeed", func() bool {
		_, export = in.expect(t, http.StatusOK, http.MethodGet, location, nil, session.Access)
		if export["status"] == "failed" {
			t.Fatalf("the export failed: %v", export)
		}
		return export["status"] == "succeeded"
	})
	download, _ := export["download_url"].(string)
	if download == "" {
		t.Fatalf("a succeeded export without a download_url: %v", export)
	}
	req, err := http.NewRequest(http.MethodGet, in.BaseURL+download, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+session.Access)
	res, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", download, res.StatusCode, err)
	}
	var doc struct {
		User         map[string]any   `json:"user"`
		Transactions []map[string]any `json:"transactions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the export is not a JSON document: %v", err)
	}
	listed := allPages(t, in, session.Access, "/api/v1/transactions?limit=100")
	exported := make(map[string]bool, len(doc.Transactions))
	for _, tx := range doc.Transactions {
		exported[fmt.Sprint(tx["id"])] = true
	}
	for _, tx := range listed {
		if !exported[fmt.Sprint(tx["id"])] {
			t.Errorf("transaction %v is not in the export", tx["id"])
		}
	}
	if len(listed) == 0 || doc.User["email"] != a.Email {
		t.Errorf("the export holds user %v and %d transactions; the API lists %d", doc.User, len(doc.Transactions), len(listed))
	}
	for name, secret := range map[string]string{"password": a.Password, "access token": session.Access,
		"refresh token": session.Refresh, "Plaid secret": fake.Config().Secret} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the export holds the %s", name)
		}
	}
	for _, marker := range []string{"access-sandbox-", "$argon2id$", "password_hash", "token_hash", "secret"} {
		if bytes.Contains(raw, []byte(marker)) {
			t.Errorf("the export holds %q", marker)
		}
	}
	if status, _, _ := in.do(t, http.MethodGet, download, nil, session.Access); status != http.StatusGone {
		t.Errorf("a second download: %d, want 410", status)
	}
}

// awaitErased waits up to two minutes for no table but the audit log to hold
// a row with one of needles (set-aside grants wait for their revoke jobs,
// River's finished-job records for its cleaner, every 30 s), then fails the
// test with each row still there.
func awaitErased(t *testing.T, db *persistence.DB, needles ...dbtest.Needle) {
	t.Helper()
	var left []dbtest.Mention
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		left = left[:0]
		for _, m := range dbtest.Mentions(t, db, needles...) {
			if m.Table != "audit_events" {
				left = append(left, m)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range left {
		t.Errorf("a row of the deleted user remains in %s: %v", m.Table, m.Row)
	}
}
