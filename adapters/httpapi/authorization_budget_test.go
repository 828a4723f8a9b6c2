package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/dashtam/dashtam/test/apitest"
)

// Hardening item 6: once a user's budget of calls to the institution is
// spent, starting an authorization calls nothing and answers 503
// INSTITUTION_BUDGET_EXHAUSTED with the wait in Retry-After, through the real
// router and the sandbox's budgeted connector; another user's budget is
// untouched.
func TestAnExhaustedInstitutionBudgetIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	h := apitest.New(t, apitest.Options{Env: map[string]string{"PROVIDER_CALL_BUDGET": "10"}})
	ann := verifiedUser(t, h, "ann@example.com")
	p, _ := createProvider(t, h, ann, "Sandbox")
	for range 10 {
		startAuthorization(t, h, ann, p.ID)
	}
	res := h.Do(apitest.Request{Method: "POST", Path: "/api/v1/providers/" + p.ID + "/authorization", Token: ann})
	res.Expect(t, http.StatusServiceUnavailable)
	if code := res.Problem(t).Code; code != "INSTITUTION_BUDGET_EXHAUSTED" {
		t.Errorf("code %q, want INSTITUTION_BUDGET_EXHAUSTED", code)
	}
	if wait, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || wait < 1 || wait > 61 {
		t.Errorf("Retry-After %q, want the seconds left of the budget's minute", res.Header.Get("Retry-After"))
	}
	bob := verifiedUser(t, h, "bob@example.com")
	q, _ := createProvider(t, h, bob, "Sandbox")
	startAuthorization(t, h, bob, q.ID)
}
