package httpapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/test/apitest"
)

type exportBody struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Progress struct {
		Stage          string `json:"stage"`
		RecordsWritten int64  `json:"records_written"`
	} `json:"progress"`
	CreatedAt    time.Time  `json:"created_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
	DownloadedAt *time.Time `json:"downloaded_at"`
	DownloadURL  *string    `json:"download_url"`
	Error        *string    `json:"error"`
}

// exportDoc is the part of the document the test reads.
type exportDoc struct {
	Format       string           `json:"format"`
	ExportID     string           `json:"export_id"`
	User         map[string]any   `json:"user"`
	Sessions     []map[string]any `json:"sessions"`
	Providers    []map[string]any `json:"providers"`
	Accounts     []map[string]any `json:"accounts"`
	Transactions []map[string]any `json:"transactions"`
	Webhooks     []map[string]any `json:"webhook_endpoints"`
	Events       []map[string]any `json:"events"`
	AuditEvents  []map[string]any `json:"audit_events"`
}

// startExport asks for an export and polls it until it has finished.
func startExport(t *testing.T, h *apitest.Harness, token string) exportBody {
	t.Helper()
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users/me/exports", Token: token}).Expect(t, 202)
	var e exportBody
	res.JSON(t, &e)
	loc := res.Header.Get("Location")
	if e.Status != "queued" || loc != "/api/v1/users/me/exports/"+e.ID || e.DownloadURL != nil {
		t.Fatalf("started %+v at %q", e, loc)
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.Status == "queued" || e.Status == "running" {
		if time.Now().After(deadline) {
			t.Fatalf("export never finished: %+v", e)
		}
		time.Sleep(50 * time.Millisecond)
		h.Do(apitest.Request{Method: "GET", Path: loc, Token: token}).Expect(t, 200).JSON(t, &e)
	}
	return e
}

func TestExportsAPI(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, testExportsAPI)
}

func testExportsAPI(t *testing.T, opts apitest.Options) {
	opts.Env = map[string]string{"WEBHOOK_ALLOW_LOOPBACK": "true"}
	h := apitest.New(t, opts)
	ctx := context.Background()
	register(t, h, "ann@example.com")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications",
		Body: map[string]any{"token": h.Mail.LastToken(t, "ann@example.com", "Verify")}}).Expect(t, 200)
	annGrant := login(t, h, "ann@example.com", pw)
	ann := annGrant.AccessToken
	bob := verifiedUser(t, h, "bob@example.com")
	providerID := connectSandbox(t, h, ann, "Bank", "")
	if s := firstSync(t, h, ann, providerID); s.Status != "succeeded" {
		t.Fatalf("first sync %+v", s)
	}
	var txs transactionListBody
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/transactions?limit=100", Token: ann}).Expect(t, 200).JSON(t, &txs)
	if len(txs.Items) == 0 {
		t.Fatal("the sandbox sync stored no transaction")
	}
	var endpoint webhookEndpointBody
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/webhook-endpoints", Token: ann,
		Body: map[string]any{"url": "http://127.0.0.1:9/hooks", "event_types": []string{"sync.completed"}, "description": "mine"}}).
		Expect(t, 201).JSON(t, &endpoint)

	// Every secret the service holds about ann, as stored and as issued.
	secrets := map[string]string{"access token": ann, "refresh token": annGrant.RefreshToken,
		"webhook secret": strings.TrimPrefix(endpoint.Secret, "whsec_")}
	var passwordHash string
	if err := h.App.DB.SQL.QueryRowContext(ctx, "SELECT password_hash FROM users WHERE email = 'ann@example.com'").Scan(&passwordHash); err != nil {
		t.Fatal(err)
	}
	secrets["password hash"] = passwordHash
	rows, err := h.App.DB.SQL.QueryContext(ctx, "SELECT token_hash FROM refresh_tokens")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; rows.Next(); i++ {
		var hash []byte
		if err := rows.Scan(&hash); err != nil {
			t.Fatal(err)
		}
		secrets["refresh token hash "+string(rune('a'+i))] = hex.EncodeToString(hash)
	}
	_ = rows.Close()
	a, err := h.App.Authorizations.AuthorizationByProvider(ctx, uuid.MustParse(providerID))
	if err != nil {
		t.Fatal(err)
	}
	creds := a.Credentials()
	secrets["provider access token"], secrets["provider refresh token"] = creds.AccessToken, creds.RefreshToken
	if creds.ExternalID != "" {
		secrets["provider external id"] = creds.ExternalID
	}

	e := startExport(t, h, ann)
	path := "/api/v1/users/me/exports/" + e.ID
	if e.Status != "succeeded" || e.DownloadURL == nil || *e.DownloadURL != path+"/download" || e.ExpiresAt == nil ||
		e.FinishedAt == nil || e.Progress.Stage != "done" || e.Progress.RecordsWritten < int64(len(txs.Items)) {
		t.Fatalf("finished export %+v", e)
	}
	if ttl := e.ExpiresAt.Sub(*e.FinishedAt); ttl != 24*time.Hour {
		t.Errorf("downloadable for %v, want EXPORT_TTL's 24h", ttl)
	}

	t.Run("another user's export is 404 as an unknown id's, its download too", func(t *testing.T) {
		never := "/api/v1/users/me/exports/" + uuid.Must(uuid.NewV7()).String()
		for _, suffix := range []string{"", "/download"} {
			foreign := h.Do(apitest.Request{Method: "GET", Path: path + suffix, Token: bob}).Expect(t, 404).Problem(t)
			missing := h.Do(apitest.Request{Method: "GET", Path: never + suffix, Token: bob}).Expect(t, 404).Problem(t)
			if foreign.Code != missing.Code || foreign.Title != missing.Title || foreign.Detail != missing.Detail {
				t.Fatalf("another user's export %+v, an unknown one %+v", foreign, missing)
			}
		}
	})

	res := h.Do(apitest.Request{Method: "GET", Path: path + "/download", Token: ann}).Expect(t, 200)
	body := string(res.Body)
	t.Run("the download is the document, as an attachment", func(t *testing.T) {
		if got := res.Header.Get("Content-Disposition"); got != `attachment; filename="dashtam-export-`+e.ID+`.json"` {
			t.Errorf("Content-Disposition %q", got)
		}
		if res.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("headers %v", res.Header)
		}
		var doc exportDoc
		if err := json.Unmarshal(res.Body, &doc); err != nil {
			t.Fatalf("the document does not parse: %v", err)
		}
		if doc.Format != "dashtam.export.v1" || doc.ExportID != e.ID || doc.User["email"] != "ann@example.com" ||
			len(doc.Sessions) == 0 || len(doc.Providers) != 1 || len(doc.Accounts) == 0 || len(doc.Webhooks) != 1 ||
			len(doc.Events) == 0 || len(doc.AuditEvents) == 0 {
			t.Fatalf("document %.600s", body)
		}
		ids := map[string]map[string]any{}
		for _, tr := range doc.Transactions {
			ids[tr["id"].(string)] = tr
		}
		for _, tr := range txs.Items {
			got, ok := ids[tr.ID]
			if !ok {
				t.Fatalf("transaction %s is not in the document", tr.ID)
			}
			if _, isString := got["amount"].(string); !isString || got["currency"] == "" {
				t.Fatalf("transaction %v: the amount is not a decimal string with its currency", got)
			}
		}
		if len(doc.Transactions) != int(e.Progress.RecordsWritten) && len(doc.Transactions) < len(txs.Items) {
			t.Errorf("%d transactions in the document", len(doc.Transactions))
		}
	})
	t.Run("the document holds no token, hash or secret", func(t *testing.T) {
		for what, secret := range secrets {
			if secret == "" {
				t.Fatalf("%s is empty: the test would prove nothing", what)
			}
			if strings.Contains(body, secret) {
				t.Errorf("the %s is in the document", what)
			}
		}
		for _, field := range []string{"password", "token_hash", "secret", "_ct\"", "institution_account_id", "institution_transaction_id"} {
			if strings.Contains(body, field) {
				t.Errorf("the document has a %q field", field)
			}
		}
	})
	t.Run("a second download is 410, and the export says it was downloaded", func(t *testing.T) {
		p := h.Do(apitest.Request{Method: "GET", Path: path + "/download", Token: ann}).Expect(t, 410).Problem(t)
		if p.Code != "EXPORT_ALREADY_DOWNLOADED" {
			t.Fatalf("problem %+v", p)
		}
		var after exportBody
		h.Do(apitest.Request{Method: "GET", Path: path, Token: ann}).Expect(t, 200).JSON(t, &after)
		if after.DownloadURL != nil || after.DownloadedAt == nil {
			t.Fatalf("after the download %+v", after)
		}
		var chunks int
		if err := h.App.DB.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM export_chunks").Scan(&chunks); err != nil || chunks != 0 {
			t.Fatalf("%d chunks left after the download (%v)", chunks, err)
		}
		audit := auditList(t, h, "/api/v1/users/me/audit-events?action=user.export_download", ann, 200)
		if len(audit.Items) != 2 || audit.Items[0].Outcome != "failure" || audit.Items[0].Reason != "already_downloaded" ||
			audit.Items[1].Outcome != "success" {
			t.Fatalf("download audit %+v", audit.Items)
		}
	})
	t.Run("gzip passes through; an expired export is 410", func(t *testing.T) {
		second := startExport(t, h, ann)
		if second.Status != "succeeded" {
			t.Fatalf("second export %+v", second)
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me/exports/" + second.ID + "/download", Token: ann,
			Header: map[string]string{"Accept-Encoding": "gzip"}}).Expect(t, 200)
		var doc exportDoc
		if res.Header.Get("Content-Encoding") != "gzip" || json.Unmarshal(res.Body, &doc) != nil || doc.ExportID != second.ID {
			t.Fatalf("gzip download: %v, %.200s", res.Header, res.Body)
		}
		third := startExport(t, h, ann)
		if err := h.App.DB.Gorm.Exec("UPDATE exports SET expires_at = ? WHERE id = ?", time.Now().Add(-time.Minute).UTC(),
			uuid.MustParse(third.ID)).Error; err != nil {
			t.Fatal(err)
		}
		var expired exportBody
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me/exports/" + third.ID, Token: ann}).Expect(t, 200).JSON(t, &expired)
		if expired.DownloadURL != nil {
			t.Fatalf("an expired export offers %q", *expired.DownloadURL)
		}
		p := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me/exports/" + third.ID + "/download", Token: ann}).Expect(t, 410).Problem(t)
		if p.Code != "EXPORT_EXPIRED" {
			t.Fatalf("problem %+v", p)
		}
	})
	t.Run("a document whose chunks are gone is a 500 problem, not an empty 200", func(t *testing.T) {
		lost := startExport(t, h, ann)
		if err := h.App.DB.Gorm.Exec("DELETE FROM export_chunks WHERE export_id = ?", uuid.MustParse(lost.ID)).Error; err != nil {
			t.Fatal(err)
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me/exports/" + lost.ID + "/download", Token: ann}).Expect(t, 500)
		if p := res.Problem(t); p.Code != "INTERNAL_ERROR" || res.Header.Get("Content-Disposition") != "" {
			t.Fatalf("problem %+v, headers %v", p, res.Header)
		}
	})
}
