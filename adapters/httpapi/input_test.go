package httpapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

// Hardening items 15 and 21: a JSON body with a key twice in one object or
// bytes that are not UTF-8 is 400 MALFORMED_JSON, and a NUL in a string is a
// 422 naming its field; a query value that is not UTF-8 or holds a NUL is 422
// naming its parameter. None of them reaches a handler's store, or Postgres.
func TestUnreadableTextIsRefusedBeforeAHandler(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, opts apitest.Options) {
		h := apitest.New(t, opts)
		for name, body := range map[string]string{
			"a key twice":              `{"email":"a@example.com","email":"b@example.com","password":"` + pw + `","name":"Ann"}`,
			"a key twice, nested":      `{"email":"a@example.com","password":"` + pw + `","name":"Ann","x":{"k":1,"k":2}}`,
			"bytes that are not UTF-8": "{\"email\":\"a@example.com\",\"password\":\"" + pw + "\",\"name\":\"Ann\xff\"}",
		} {
			res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Body: []byte(body)})
			if res.Status != http.StatusBadRequest || res.Problem(t).Code != "MALFORMED_JSON" {
				t.Errorf("%s: %d %s, want 400 MALFORMED_JSON", name, res.Status, res.Body)
			}
		}
		res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users",
			Body: []byte(`{"email":"nul@example.com","password":"` + pw + `","name":"Ann\u0000"}`)})
		if p := res.Problem(t); res.Status != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "name" {
			t.Errorf("an escaped NUL in name: %d %s, want 422 naming name", res.Status, res.Body)
		}
		// The same key in different objects is fine.
		h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users",
			Body: []byte(`{"email":"ok@example.com","password":"` + pw + `","name":"Ann"}`)}).Expect(t, http.StatusCreated)

		token := verifiedUser(t, h, "ann@example.com")
		for name, query := range map[string]string{"not UTF-8": "search=%FF%FE", "a NUL": "search=a%00b"} {
			res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/transactions?" + query, Token: token})
			if p := res.Problem(t); res.Status != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Field != "search" {
				t.Errorf("?%s (%s): %d %s, want 422 naming search", query, name, res.Status, res.Body)
			}
		}
	})
}

// Hardening item 21: a request that fails authentication is counted by its
// client's address and its 401 carries the rate-limit headers the document
// promises, so guessing tokens spends the guesser's budget.
func TestRequestsThatFailAuthenticationAreRateLimited(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"RATE_LIMIT_READ": "3-M"}})
	for i, auth := range []string{"", "Bearer not-a-token", "Bearer also.not.one"} {
		header := map[string]string{}
		if auth != "" {
			header["Authorization"] = auth
		}
		res := h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Header: header}).Expect(t, http.StatusUnauthorized)
		if res.Header.Get("X-RateLimit-Limit") != "3" || res.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Errorf("401 #%d: X-RateLimit-Limit %q, Remaining %q; want 3 and %d", i+1,
				res.Header.Get("X-RateLimit-Limit"), res.Header.Get("X-RateLimit-Remaining"), 2-i)
		}
	}
	h.Do(apitest.Request{Method: "GET", Path: "/api/v1/users/me", Header: map[string]string{"Authorization": "Bearer x"}}).Expect(t, http.StatusTooManyRequests)
}

// Hardening item 10, in part: changing the password is in the auth tier and
// counts failures, per user: a stolen access token cannot guess the current
// password at the write tier's pace.
func TestPasswordChangesAreInTheAuthTier(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"RATE_LIMIT_AUTH": "3-M", "TRUSTED_PROXIES": "192.0.2.1"}})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/users", Header: from("198.51.100.10"),
		Body: map[string]any{"email": "ann@example.com", "password": pw, "name": "Ann"}}).Expect(t, http.StatusCreated)
	var g grant
	h.Do(apitest.Request{Method: "POST", Path: "/api/v1/sessions", Header: from("198.51.100.11"),
		Body: map[string]any{"email": "ann@example.com", "password": pw}}).Expect(t, http.StatusCreated).JSON(t, &g)
	// Three wrong guesses from three addresses: the user's budget is spent.
	for i := range 3 {
		res := h.Do(apitest.Request{Method: "PUT", Path: "/api/v1/users/me/password", Token: g.AccessToken, Header: from(fmt.Sprintf("198.51.100.%d", 20+i)),
			Body: map[string]any{"current_password": "wrong-guess-" + strconv.Itoa(i) + "-xyz", "new_password": "cobalt-lynx-orchard-88"}})
		if res.Status != http.StatusUnprocessableEntity || res.Header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("guess %d: %d, X-RateLimit-Limit %q; want 422 counted in the auth tier", i+1, res.Status, res.Header.Get("X-RateLimit-Limit"))
		}
	}
	h.Do(apitest.Request{Method: "PUT", Path: "/api/v1/users/me/password", Token: g.AccessToken, Header: from("198.51.100.30"),
		Body: map[string]any{"current_password": pw, "new_password": "cobalt-lynx-orchard-88"}}).Expect(t, http.StatusTooManyRequests)
}
