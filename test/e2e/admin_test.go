package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/test/dbtest"
)

// An operator's journey over two instances sharing one Postgres: the first
// admin is made with the CLI, lists the users on A, disables one there (whose
// access token is 401 on B at the very next request, and who can no longer
// log in), enables them again (login works, the old session does not), and
// opens the jobs dashboard, which nobody else can see. The audit log shows
// each step with its actor and request id, and Postgres refuses to rewrite it.
func TestAdminJourneyAcrossTwoInstances(t *testing.T) {
	t.Parallel()
	db, dbURL := dbtest.PostgresWithURL(t)
	env := merged(clusterEnv(dbURL), map[string]string{"JOB_RETENTION": "1s", "JOB_FAILED_RETENTION": "1s"})
	a := startInstance(t, env)
	b := startInstance(t, env)
	cluster(a, b)

	root, bob := newAccount(), newAccount()
	register(t, a, root)
	bobSession := verifiedSession(t, b, bob)

	if res := runBinary(t, env, "users", "grant-admin", "nobody-"+root.Email); res.Code == 0 {
		t.Errorf("grant-admin of an unknown email exited 0\nstdout: %s\nstderr: %s", res.Stdout, res.Stderr)
	}
	res := runBinary(t, env, "users", "grant-admin", root.Email)
	if res.Code != 0 || !strings.Contains(res.Stdout, root.Email) {
		t.Fatalf("grant-admin exited %d\nstdout: %s\nstderr: %s", res.Code, res.Stdout, res.Stderr)
	}
	admin := login(t, a, root)
	me(t, b, bob, bobSession.Access)

	// Bob is no admin: the admin routes and the dashboard do not exist for him.
	b.expect(t, http.StatusNotFound, http.MethodGet, "/api/v1/users", nil, bobSession.Access)
	if code, _, _ := b.do(t, http.MethodGet, "/admin/jobs/", nil, bobSession.Access); code != http.StatusNotFound {
		t.Errorf("the jobs dashboard for a user: %d, want 404", code)
	}

	_, list := a.expect(t, http.StatusOK, http.MethodGet, "/api/v1/users?email="+url.QueryEscape(bob.Email), nil, admin.Access)
	items, _ := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("A lists %v for bob's email, want bob alone", list)
	}
	bobUser, _ := items[0].(map[string]any)
	bobID, _ := bobUser["id"].(string)
	if bobUser["status"] != "active" || bobUser["role"] != "user" {
		t.Errorf("bob as listed: %v", bobUser)
	}

	header, _ := a.expect(t, http.StatusOK, http.MethodGet, "/api/v1/users/"+bobID, nil, admin.Access)
	etag := header.Get("ETag")
	_, disabled := patchUser(t, a, admin.Access, bobID, etag, "disabled", http.StatusOK)
	if disabled["status"] != "disabled" {
		t.Errorf("after PATCH status disabled: %v", disabled)
	}
	expectUnauthorized(t, b, "bob's access token on B right after A disabled him", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, bobSession.Access)
	expectUnauthorized(t, b, "bob's refresh token on B after A disabled him", "INVALID_REFRESH_TOKEN", http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": bobSession.Refresh}, "")
	expectUnauthorized(t, b, "bob's login on B while disabled", "ACCOUNT_DISABLED", http.MethodPost, "/api/v1/sessions", map[string]string{"email": bob.Email, "password": bob.Password}, "")

	// A stale ETag changes nothing; the current one enables bob again.
	patchUser(t, b, admin.Access, bobID, etag, "active", http.StatusPreconditionFailed)
	header, _ = b.expect(t, http.StatusOK, http.MethodGet, "/api/v1/users/"+bobID, nil, admin.Access)
	patchUser(t, b, admin.Access, bobID, header.Get("ETag"), "active", http.StatusOK)
	again := login(t, a, bob)
	me(t, b, bob, again.Access)
	expectUnauthorized(t, a, "bob's old access token after he was enabled again", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, bobSession.Access)

	// The jobs dashboard answers the admin, on either instance.
	for _, in := range []*Instance{a, b} {
		if code, _, _ := in.do(t, http.MethodGet, "/admin/jobs/api/jobs?state=completed&limit=5", nil, admin.Access); code != http.StatusOK {
			t.Errorf("the jobs dashboard's API for the admin: %d, want 200", code)
		}
	}

	// The audit log, read on B: the three changes of bob by the admin (the
	// stale one refused), and bob's two attempts at admin routes.
	_, me := a.expect(t, http.StatusOK, http.MethodGet, "/api/v1/users/me", nil, admin.Access)
	rootID, _ := me["id"].(string)
	_, updates := b.expect(t, http.StatusOK, http.MethodGet,
		"/api/v1/audit-events?action=admin.user_update&subject_type=user&subject_id="+bobID, nil, admin.Access)
	entries, _ := updates["items"].([]any)
	var outcomes []string
	for _, raw := range entries {
		e, _ := raw.(map[string]any)
		if e["actor_id"] != rootID || e["request_id"] == "" || e["request_id"] == nil {
			t.Errorf("an update of bob in the audit log: %v, want the admin %s as actor and a request id", e, rootID)
		}
		outcomes = append(outcomes, fmt.Sprint(e["outcome"], e["reason"]))
	}
	if strings.Join(outcomes, ",") != "success<nil>,failureprecondition_failed,success<nil>" {
		t.Errorf("bob's updates in the audit log, newest first: %v", outcomes)
	}
	_, denials := b.expect(t, http.StatusOK, http.MethodGet, "/api/v1/audit-events?action=admin.access_denied&actor="+bobUser["id"].(string), nil, admin.Access)
	if entries, _ := denials["items"].([]any); len(entries) != 2 {
		t.Errorf("bob's refused admin calls in the audit log: %v, want the user list and the dashboard", denials)
	}
	if _, err := db.SQL.ExecContext(t.Context(), "UPDATE audit_events SET outcome = 'success'"); err == nil {
		t.Error("UPDATE audit_events succeeded on Postgres")
	}
	if _, err := db.SQL.ExecContext(t.Context(), "DELETE FROM audit_events"); err == nil {
		t.Error("DELETE FROM audit_events succeeded on Postgres")
	}

	// Deleting accounts: not for bob, not the last admin, and bob's for the
	// admin, after which bob is 401 on B and no table but the audit log
	// holds a row of his (River's records of his finished jobs go with
	// JOB_RETENTION, a second here).
	b.expect(t, http.StatusNotFound, http.MethodDelete, "/api/v1/users/"+rootID, nil, again.Access)
	if _, problem := a.expect(t, http.StatusConflict, http.MethodDelete, "/api/v1/users/"+rootID, nil, admin.Access); problem["code"] != "LAST_ADMIN" {
		t.Errorf("the last admin deleting themself: %v, want LAST_ADMIN", problem)
	}
	a.expect(t, http.StatusNoContent, http.MethodDelete, "/api/v1/users/"+bobID, nil, admin.Access)
	expectUnauthorized(t, b, "bob's access token on B after A deleted him", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, again.Access)
	expectUnauthorized(t, b, "bob's login after his deletion", "INVALID_CREDENTIALS", http.MethodPost, "/api/v1/sessions",
		map[string]string{"email": bob.Email, "password": bob.Password}, "")
	b.expect(t, http.StatusNotFound, http.MethodDelete, "/api/v1/users/"+bobID, nil, admin.Access)
	bobUUID := uuid.MustParse(bobID)
	awaitErased(t, db, dbtest.IDNeedle(bobUUID), dbtest.TextNeedle(bob.Email))
	_, deletions := b.expect(t, http.StatusOK, http.MethodGet, "/api/v1/audit-events?action=user.delete&subject_type=user&subject_id="+bobID, nil, admin.Access)
	// Newest first: the second DELETE (not_found), then the deletion.
	if entries, _ := deletions["items"].([]any); len(entries) != 2 {
		t.Errorf("bob's deletion in the audit log: %v, want the deletion and the second try", deletions)
	} else if e, _ := entries[1].(map[string]any); e["actor_id"] != rootID || e["outcome"] != "success" || e["request_id"] == nil {
		t.Errorf("bob's deletion in the audit log: %v, want the admin's success with a request id", e)
	} else if e, _ := entries[0].(map[string]any); e["outcome"] != "failure" || e["reason"] != "not_found" {
		t.Errorf("the second DELETE in the audit log: %v, want a not_found failure", e)
	}
}

// patchUser sends an admin's PATCH of the user's status with If-Match.
func patchUser(t *testing.T, in *Instance, token, id, etag, status string, want int) (http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, in.BaseURL+"/api/v1/users/"+id, strings.NewReader(`{"status":"`+status+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("If-Match", etag)
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("PATCH /users/%s: %v", id, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("PATCH /users/%s status %s: %d, want %d; body %v", id, status, resp.StatusCode, want, body)
	}
	return resp.Header, body
}
