package providers

import (
	"errors"
	"fmt"
	"time"
)

// ErrBudgetExhausted is Dashtam's own budget of calls to an institution being
// spent for now (docs/financial-data.md, "Institution call budgets"): the call
// was not made. The API answers it 503 INSTITUTION_BUDGET_EXHAUSTED with
// Retry-After.
var ErrBudgetExhausted = errors.New("institution call budget exhausted")

// BudgetExhaustedError is the error a budgeted connector returns instead of
// calling the institution. It is both ErrBudgetExhausted and a
// *RetryAfterError with the same Delay, so a sync job is postponed by Delay
// (never failed), and code that only knows the error kinds sees a
// domain.ErrProviderUnavailable.
type BudgetExhaustedError struct {
	// Budget names the budget that is spent: "provider" (this grant's) or
	// "provider_type" (the app-wide one of the institution).
	Budget string
	// Delay is how long until the budget's window ends.
	Delay time.Duration
}

func (e *BudgetExhaustedError) Error() string {
	return fmt.Sprintf("%s call budget exhausted; retry after %s", e.Budget, e.Delay)
}

// Unwrap makes the error ErrBudgetExhausted and a *RetryAfterError.
func (e *BudgetExhaustedError) Unwrap() []error {
	return []error{ErrBudgetExhausted, &RetryAfterError{Delay: e.Delay}}
}
