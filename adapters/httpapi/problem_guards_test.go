package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// The guards' errors map to their problems, also when wrapped, and a reused
// Idempotency-Key names the header in the problem's errors.
func TestGuardProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
		code   string
		typ    string
		fields []string
	}{
		{errRateLimited, http.StatusTooManyRequests, "RATE_LIMITED", "/problems/rate-limited", nil},
		{errIdempotencyInProgress, http.StatusConflict, "IDEMPOTENCY_IN_PROGRESS", "/problems/idempotency-in-progress", nil},
		{&withFields{err: errIdempotencyKeyReused, fields: []fieldError{{Field: "Idempotency-Key", Code: "reused", Message: "m"}}},
			http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED", "/problems/idempotency-key-reused", []string{"Idempotency-Key"}},
		{errOriginNotAllowed, http.StatusForbidden, "ORIGIN_NOT_ALLOWED", "/problems/origin-not-allowed", nil},
		{fmt.Errorf("rate limit store: %w: %w", domain.ErrUnavailable, fmt.Errorf("dial tcp: refused")), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "/problems/service-unavailable", nil},
		{domain.NewValidationError("Idempotency-Key", "too_long", "m"), http.StatusUnprocessableEntity, "VALIDATION_ERROR", "/problems/validation-error", []string{"Idempotency-Key"}},
	}
	for _, tc := range cases {
		for _, err := range []error{tc.err, fmt.Errorf("context: %w", tc.err)} {
			t.Run(err.Error(), func(t *testing.T) {
				w := httptest.NewRecorder()
				c, _ := gin.CreateTestContext(w)
				c.Request = httptest.NewRequest("POST", "/api/v1/providers", nil)
				writeProblem(c, slog.New(slog.DiscardHandler), err)
				var p problem
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
					t.Fatal(err)
				}
				if w.Code != tc.status || p.Status != tc.status || p.Code != tc.code || p.Type != tc.typ || p.Title == "" || p.Detail == "" {
					t.Errorf("got %d %+v", w.Code, p)
				}
				var fields []string
				for _, f := range p.Errors {
					fields = append(fields, f.Field)
				}
				if fmt.Sprint(fields) != fmt.Sprint(tc.fields) {
					t.Errorf("fields %v, want %v", fields, tc.fields)
				}
				if tc.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
			})
		}
	}
}

// A spent institution call budget is 503 INSTITUTION_BUDGET_EXHAUSTED, not the
// 502 of an institution failing, and its Retry-After is the budget's wait, in
// whole seconds rounded up.
func TestInstitutionBudgetExhaustedIs503WithItsWait(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("refresh: %w", &providersapp.BudgetExhaustedError{Budget: "provider_type", Delay: 41*time.Second + time.Millisecond})
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("PATCH", "/api/v1/providers/x/authorization", nil)
	writeProblem(c, slog.New(slog.DiscardHandler), err)
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusServiceUnavailable || p.Code != "INSTITUTION_BUDGET_EXHAUSTED" || p.Type != "/problems/institution-budget-exhausted" {
		t.Errorf("got %d %+v", w.Code, p)
	}
	if got := w.Header().Get("Retry-After"); got != "42" {
		t.Errorf("Retry-After = %q, want 42", got)
	}
}
