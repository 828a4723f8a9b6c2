package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/apitest"
)

type auditEvent struct {
	ID         string  `json:"id"`
	OccurredAt string  `json:"occurred_at"`
	ActorID    *string `json:"actor_id"`
	Subject    struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"subject"`
	Action    string `json:"action"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
}

type auditPage struct {
	Items      []auditEvent `json:"items"`
	HasMore    bool         `json:"has_more"`
	NextCursor *string      `json:"next_cursor"`
}

func auditList(t *testing.T, h *apitest.Harness, path, token string, want int) auditPage {
	t.Helper()
	var page auditPage
	res := h.Do(apitest.Request{Method: "GET", Path: path, Token: token}).Expect(t, want)
	if want == 200 {
		res.JSON(t, &page)
	}
	return page
}

func TestMyAuditEventsListTheCallersOwnEntriesWithRequestDetails(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	alice := register(t, h, "alice@example.com")
	register(t, h, "bob@example.com")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "alice@example.com", "password": "not-her-password-1"},
		Header: map[string]string{"X-Request-ID": "req-failed-login", "User-Agent": strings.Repeat("x", 400)}}).Expect(t, 401)
	login(t, h, "bob@example.com", pw)
	var g grant
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "alice@example.com", "password": pw},
		Header: map[string]string{"X-Request-ID": "req-login"}}).Expect(t, 201).JSON(t, &g)

	page := auditList(t, h, "/api/v1/users/me/audit-events", g.AccessToken, 200)
	if len(page.Items) != 2 {
		t.Fatalf("alice sees %d entries, want her login and the failed one: %+v", len(page.Items), page.Items)
	}
	ok, failed := page.Items[0], page.Items[1]
	if ok.Action != "auth.login" || ok.Outcome != "success" || ok.ActorID == nil || *ok.ActorID != alice.ID || ok.RequestID != "req-login" || ok.ClientIP == "" {
		t.Errorf("login entry = %+v", ok)
	}
	if failed.Outcome != "failure" || failed.Reason != "invalid_credentials" || failed.ActorID != nil ||
		failed.Subject.Type != "user" || failed.Subject.ID != alice.ID || failed.RequestID != "req-failed-login" || len(failed.UserAgent) != 256 {
		t.Errorf("failed login entry = %+v (user agent %d bytes)", failed, len(failed.UserAgent))
	}

	page = auditList(t, h, "/api/v1/users/me/audit-events?limit=1&action=auth.login", g.AccessToken, 200)
	if len(page.Items) != 1 || !page.HasMore || page.NextCursor == nil {
		t.Fatalf("first page = %+v", page)
	}
	next := auditList(t, h, "/api/v1/users/me/audit-events?limit=1&action=auth.login&cursor="+*page.NextCursor, g.AccessToken, 200)
	if len(next.Items) != 1 || next.Items[0].ID != failed.ID || next.HasMore {
		t.Fatalf("second page = %+v", next)
	}
	// The cursor belongs to its filters.
	auditList(t, h, "/api/v1/users/me/audit-events?limit=1&cursor="+*page.NextCursor, g.AccessToken, 422)
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if page := auditList(t, h, "/api/v1/users/me/audit-events?from="+future, g.AccessToken, 200); len(page.Items) != 0 {
		t.Fatalf("from the future: %+v", page.Items)
	}
}

func TestTheAuditLogIsForAdminsAndANonAdminsCallIsRecorded(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	root, rootGrant := makeAdmin(t, h, "root@example.com")
	mallory := register(t, h, "mallory@example.com")
	mg := login(t, h, "mallory@example.com", pw)

	missing := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/nowhere", Token: mg.AccessToken}).Expect(t, 404).Problem(t)
	p := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/audit-events", Token: mg.AccessToken,
		Header: map[string]string{"X-Request-ID": "req-snoop"}}).Expect(t, 404).Problem(t)
	if p.Code != missing.Code || p.Detail != missing.Detail {
		t.Fatalf("a non-admin got %+v, a missing route is %+v", p, missing)
	}
	h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/" + root.ID, Token: mg.AccessToken,
		Body: map[string]any{"status": "disabled"}}).Expect(t, 404)

	denied := auditList(t, h, "/api/v1/audit-events?action=admin.access_denied&actor="+mallory.ID, rootGrant.AccessToken, 200)
	if len(denied.Items) != 2 {
		t.Fatalf("%d denials recorded, want 2: %+v", len(denied.Items), denied.Items)
	}
	if e := denied.Items[1]; e.Subject.Type != "admin_operation" || e.Subject.ID != "list_audit_events" || e.RequestID != "req-snoop" || e.Outcome != "failure" {
		t.Errorf("denial = %+v", e)
	}
	if e := denied.Items[0]; e.Subject.ID != "update_user" {
		t.Errorf("denial = %+v", e)
	}

	// An admin write is recorded with the admin as actor and the user as subject.
	h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/" + mallory.ID, Token: rootGrant.AccessToken,
		Body: map[string]any{"status": "disabled"}}).Expect(t, 200)
	bySubject := auditList(t, h, "/api/v1/audit-events?subject_type=user&subject_id="+mallory.ID+"&action=admin.user_update", rootGrant.AccessToken, 200)
	if len(bySubject.Items) != 1 || bySubject.Items[0].ActorID == nil || *bySubject.Items[0].ActorID != root.ID {
		t.Fatalf("by subject = %+v", bySubject.Items)
	}
	logins := auditList(t, h, "/api/v1/audit-events?action=auth.login", rootGrant.AccessToken, 200)
	if len(logins.Items) != 2 {
		t.Fatalf("%d logins listed, want root's and mallory's", len(logins.Items))
	}
	auditList(t, h, "/api/v1/audit-events?subject_id="+mallory.ID, rootGrant.AccessToken, 422)
	auditList(t, h, "/api/v1/audit-events?action=auth.nothing", rootGrant.AccessToken, 422)
}

// A journey through logins, a reset and an authorization leaves none of its
// secrets (passwords, tokens, the authorization code, email addresses) in
// any audit row, read raw from the database.
func TestNoSecretReachesTheAuditLog(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	register(t, h, "ann@example.com")
	verify := h.Mail.LastToken(t, "ann@example.com", "Verify")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/email-verifications", Body: map[string]any{"token": verify}}).Expect(t, 200)
	g := login(t, h, "ann@example.com", pw)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "ghost@example.com", "password": "ghostly-secret-77"}}).Expect(t, 401)

	p, _ := createProvider(t, h, g.AccessToken, "Sandbox")
	relayed := arrive(t, h, sandboxCallback(t, h, startAuthorization(t, h, g.AccessToken, p.ID).AuthorizationURL))
	relay(t, h, g.AccessToken, relayed, 200)
	h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/providers/" + p.ID + "/authorization", Token: g.AccessToken}).Expect(t, 200)

	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-reset-requests", Body: map[string]any{"email": "ann@example.com"}}).Expect(t, 202)
	reset := h.Mail.LastToken(t, "ann@example.com", "Reset")
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/password-resets", Body: map[string]any{"token": reset, "new_password": "a brand new passphrase"}}).Expect(t, 204)

	rows, err := h.App.DB.SQL.QueryContext(t.Context(), "SELECT * FROM audit_events")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{pw, "a brand new passphrase", "ghostly-secret-77", verify, reset, g.AccessToken, g.RefreshToken,
		relayed.Code, relayed.State, "ann@example.com", "ghost@example.com"}
	actions := map[string]bool{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var line strings.Builder
		for i, v := range vals {
			fmt.Fprintf(&line, "%s=%v|", cols[i], v)
			if b, ok := v.([]byte); ok {
				line.Write(b)
			}
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(line.String(), s) {
				t.Errorf("an audit row holds a secret (%.6s...): %s", s, line.String())
			}
		}
		for i, c := range cols {
			if c == "action" {
				actions[fmt.Sprint(vals[i])] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"auth.email_verify", "auth.login", "provider.create", "authorization.grant", "authorization.refresh", "auth.password_reset"} {
		if !actions[a] {
			t.Errorf("the journey recorded no %s (got %v)", a, actions)
		}
	}
}
