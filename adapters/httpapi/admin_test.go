package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/apitest"
)

type adminUser struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
	Status string `json:"status"`
}

type userList struct {
	Items      []adminUser `json:"items"`
	Total      *int64      `json:"total"`
	NextCursor *string     `json:"next_cursor"`
	HasMore    *bool       `json:"has_more"`
}

// makeAdmin registers email, gives it the admin role as the CLI does, and
// logs it in.
func makeAdmin(t *testing.T, h *apitest.Harness, email string) (user, grant) {
	t.Helper()
	u := register(t, h, email)
	if _, err := h.App.Admin.SetRole(context.Background(), email, identity.RoleAdmin); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	return u, login(t, h, email, pw)
}

// adminRoutes are every admin operation, on the user with id.
func adminRoutes(id string) []apitest.Request {
	return []apitest.Request{
		{Method: "GET", Path: "/api/v1/users"},
		{Method: "GET", Path: "/api/v1/users/" + id},
		{Method: "PATCH", Path: "/api/v1/users/" + id, Body: map[string]any{"status": "disabled"}},
		{Method: "GET", Path: "/api/v1/users/" + id + "/providers"},
		{Method: "GET", Path: "/api/v1/users/" + id + "/sessions"},
		{Method: "DELETE", Path: "/api/v1/users/" + id + "/sessions"},
	}
}

func TestAdminRoutesAre404ForNonAdminsExactlyLikeAMissingRoute(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	makeAdmin(t, h, "root@example.com")
	victim := register(t, h, "victim@example.com")
	register(t, h, "mallory@example.com")
	mallory := login(t, h, "mallory@example.com", pw)
	missing := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/nowhere", Token: mallory.AccessToken}).Expect(t, 404).Problem(t)
	for _, req := range adminRoutes(victim.ID) {
		req.Token = mallory.AccessToken
		p := h.Do(req).Expect(t, 404).Problem(t)
		if p.Code != missing.Code || p.Title != missing.Title || p.Detail != missing.Detail || p.Type != missing.Type {
			t.Errorf("%s %s: problem %+v, a missing route's is %+v", req.Method, req.Path, p, missing)
		}
	}
	// Nothing changed: the victim can still log in.
	login(t, h, "victim@example.com", pw)
}

func TestAdminListsUsersInBothModesWithFilters(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	_, root := makeAdmin(t, h, "root@example.com")
	for i := range 5 {
		register(t, h, fmt.Sprintf("member%d@example.com", i))
	}
	list := func(query string) userList {
		t.Helper()
		var l userList
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users" + query, Token: root.AccessToken}).Expect(t, 200).JSON(t, &l)
		return l
	}
	if all := list("?per_page=2"); all.Total == nil || *all.Total != 6 || len(all.Items) != 2 || all.Items[0].Email != "member4@example.com" {
		t.Errorf("offset page 1 = %+v, want 2 of 6, newest first", all)
	}
	if l := list("?email=MEMBER3"); len(l.Items) != 1 || l.Items[0].Email != "member3@example.com" {
		t.Errorf("email filter = %+v", l.Items)
	}
	if l := list("?role=admin"); len(l.Items) != 1 || l.Items[0].Email != "root@example.com" || l.Items[0].Role != "admin" {
		t.Errorf("role filter = %+v", l.Items)
	}
	if l := list("?status=disabled"); len(l.Items) != 0 {
		t.Errorf("status=disabled before disabling anyone = %+v", l.Items)
	}
	// Cursor mode walks every user once.
	seen := map[string]bool{}
	query := "?limit=2"
	for range 10 {
		page := list(query)
		for _, u := range page.Items {
			if seen[u.Email] {
				t.Errorf("%s seen twice", u.Email)
			}
			seen[u.Email] = true
		}
		if page.HasMore == nil || !*page.HasMore {
			break
		}
		query = "?limit=2&cursor=" + *page.NextCursor
	}
	if len(seen) != 6 {
		t.Errorf("cursor mode saw %d users, want 6", len(seen))
	}
	// A cursor is bound to its filters.
	first := list("?limit=1")
	p := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users?limit=1&role=user&cursor=" + *first.NextCursor, Token: root.AccessToken}).Expect(t, 422).Problem(t)
	if len(p.Errors) == 0 || p.Errors[0].Field != "cursor" {
		t.Errorf("a cursor of another query = %+v", p)
	}
}

func TestAdminDisablesAUserWithIfMatchAndEnablesThemAgain(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	_, root := makeAdmin(t, h, "root@example.com")
	bob := register(t, h, "bob@example.com")
	bobGrant := login(t, h, "bob@example.com", pw)

	res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/" + bob.ID, Token: root.AccessToken}).Expect(t, 200)
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("GET /users/{id} has no ETag")
	}
	patch := func(ifMatch, status string, want int) *apitest.Response {
		t.Helper()
		return h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/" + bob.ID, Token: root.AccessToken,
			Header: map[string]string{"If-Match": ifMatch}, Body: map[string]any{"status": status}}).Expect(t, want)
	}
	patch(`"1"`, "disabled", 412)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: bobGrant.AccessToken}).Expect(t, 200)

	var disabled adminUser
	res = patch(etag, "disabled", 200)
	res.JSON(t, &disabled)
	if disabled.Status != "disabled" || res.Header.Get("ETag") == etag {
		t.Errorf("after disabling: %+v, ETag %q (was %q)", disabled, res.Header.Get("ETag"), etag)
	}
	// Their access token stops at once, their refresh token and login too.
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: bobGrant.AccessToken}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": bobGrant.RefreshToken}}).Expect(t, 401)
	p := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "bob@example.com", "password": pw}}).Expect(t, 401).Problem(t)
	if p.Code != "ACCOUNT_DISABLED" {
		t.Errorf("login of a disabled user: code %q, want ACCOUNT_DISABLED", p.Code)
	}
	// A wrong password says nothing about the account being disabled.
	p = h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Body: map[string]any{"email": "bob@example.com", "password": "wrong password!"}}).Expect(t, 401).Problem(t)
	if p.Code != "INVALID_CREDENTIALS" {
		t.Errorf("wrong password of a disabled user: code %q, want INVALID_CREDENTIALS", p.Code)
	}
	var l userList
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users?status=disabled", Token: root.AccessToken}).Expect(t, 200).JSON(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != bob.ID {
		t.Errorf("status=disabled = %+v", l.Items)
	}

	patch(res.Header.Get("ETag"), "active", 200)
	login(t, h, "bob@example.com", pw)
	// Enabling restores login, not the old sessions.
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: bobGrant.AccessToken}).Expect(t, 401)
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/tokens", Body: map[string]any{"refresh_token": bobGrant.RefreshToken}}).Expect(t, 401)
}

func TestAdminPatchReplaysAnIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	_, root := makeAdmin(t, h, "root@example.com")
	bob := register(t, h, "bob@example.com")
	req := apitest.Request{Method: "PATCH", Path: "/api/v1/users/" + bob.ID, Token: root.AccessToken,
		Header: map[string]string{"Idempotency-Key": "promote-bob"}, Body: map[string]any{"role": "admin"}}
	first := h.Do(req).Expect(t, 200)
	again := h.Do(req).Expect(t, 200)
	if again.Header.Get("Idempotency-Replay") != "true" || string(again.Body) != string(first.Body) {
		t.Errorf("replay: header %q, body %s, first %s", again.Header.Get("Idempotency-Replay"), again.Body, first.Body)
	}
}

func TestTheLastAdminCannotDisableOrDemoteThemself(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	root, rootGrant := makeAdmin(t, h, "root@example.com")
	for _, body := range []map[string]any{{"status": "disabled"}, {"role": "user"}} {
		p := h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/" + root.ID, Token: rootGrant.AccessToken, Body: body}).Expect(t, 409).Problem(t)
		if p.Code != "LAST_ADMIN" {
			t.Errorf("%v: code %q, want LAST_ADMIN", body, p.Code)
		}
	}
	// With a second admin, the first may step down, and loses access on the
	// very next request.
	_, second := makeAdmin(t, h, "second@example.com")
	h.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/users/" + root.ID, Token: rootGrant.AccessToken, Body: map[string]any{"role": "user"}}).Expect(t, 200)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users", Token: rootGrant.AccessToken}).Expect(t, 404)
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users", Token: second.AccessToken}).Expect(t, 200)
}

func TestAdminSeesAndRevokesAUsersSessions(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{})
	_, root := makeAdmin(t, h, "root@example.com")
	bob := register(t, h, "bob@example.com")
	g1, g2 := login(t, h, "bob@example.com", pw), login(t, h, "bob@example.com", pw)
	var page struct {
		Total int `json:"total"`
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/" + bob.ID + "/sessions", Token: root.AccessToken}).Expect(t, 200).JSON(t, &page)
	if page.Total != 2 {
		t.Errorf("bob's sessions: total %d, want 2", page.Total)
	}
	var providers struct {
		Total int `json:"total"`
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/" + bob.ID + "/providers", Token: root.AccessToken}).Expect(t, 200).JSON(t, &providers)
	if providers.Total != 0 {
		t.Errorf("bob's providers: total %d, want 0", providers.Total)
	}
	h.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/users/" + bob.ID + "/sessions", Token: root.AccessToken}).Expect(t, 204)
	for _, g := range []grant{g1, g2} {
		h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: g.AccessToken}).Expect(t, 401)
	}
	login(t, h, "bob@example.com", pw) // not disabled: may log in again
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/00000000-0000-7000-8000-000000000000/sessions", Token: root.AccessToken}).Expect(t, 404)
}

func TestEveryAdminRouteIsInTheAdminTier(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"RATE_LIMIT_ADMIN": "3-M"}})
	_, root := makeAdmin(t, h, "root@example.com")
	bob := register(t, h, "bob@example.com")
	for i, req := range adminRoutes(bob.ID) {
		req.Token = root.AccessToken
		if req.Method == "PATCH" {
			req.Body = map[string]any{"role": "user"}
		}
		res := h.Do(req)
		want := http.StatusTooManyRequests
		if i < 3 {
			want = res.Status // the first three pass, whatever they answer
			if res.Status == http.StatusTooManyRequests {
				t.Errorf("%s %s: 429 within the limit", req.Method, req.Path)
			}
		}
		if res.Status != want {
			t.Errorf("%s %s: %d, want %d", req.Method, req.Path, res.Status, want)
		}
		if got := res.Header.Get("X-RateLimit-Limit"); got != "3" {
			t.Errorf("%s %s: X-RateLimit-Limit %q, want 3 (the admin tier)", req.Method, req.Path, got)
		}
	}
	// Other routes keep their own tiers.
	if got := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Token: root.AccessToken}).Expect(t, 200).Header.Get("X-RateLimit-Limit"); got == "3" {
		t.Errorf("GET /users/me is limited by the admin tier")
	}
}

// dashboard sends a request to the jobs dashboard, which is no API
// operation (so not validated against the document).
func dashboard(h *apitest.Harness, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.App.Handler.ServeHTTP(w, r)
	return w
}

func testJobsDashboard(t *testing.T, o apitest.Options) {
	h := apitest.New(t, o)
	_, root := makeAdmin(t, h, "root@example.com")
	register(t, h, "bob@example.com")
	bob := login(t, h, "bob@example.com", pw)
	if w := dashboard(h, "/admin/jobs/", root.AccessToken); w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("admin GET /admin/jobs/: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	w := dashboard(h, "/admin/jobs/api/jobs?state=available&limit=20", root.AccessToken)
	var jobs struct {
		Data []struct {
			Kind string `json:"kind"`
		} `json:"data"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &jobs) != nil {
		t.Errorf("admin GET /admin/jobs/api/jobs: %d %s", w.Code, w.Body.String())
	}
	for name, token := range map[string]string{"a user": bob.AccessToken, "anonymous": "", "a forged token": "x.y.z"} {
		for _, path := range []string{"/admin/jobs", "/admin/jobs/", "/admin/jobs/api/jobs?state=available"} {
			w := dashboard(h, path, token)
			if w.Code != 404 || !strings.Contains(w.Body.String(), "ROUTE_NOT_FOUND") || strings.Contains(w.Body.String(), "river") {
				t.Errorf("%s GET %s: %d %s, want the 404 of a missing route", name, path, w.Code, w.Body.String())
			}
		}
	}
}

func TestJobsDashboardAnswersAdminsOnlySQLite(t *testing.T) {
	t.Parallel()
	testJobsDashboard(t, apitest.Options{})
}

func TestJobsDashboardAnswersAdminsOnlyPostgres(t *testing.T) {
	t.Parallel()
	testJobsDashboard(t, apitest.Options{Postgres: true})
}
