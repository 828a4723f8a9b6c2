package domain

import (
	"errors"
	"fmt"
	"testing"
)

func TestValidationErrorMergeKeepsEveryFieldProblem(t *testing.T) {
	verr := &ValidationError{}
	verr.Merge(NewValidationError("email", "invalid_format", "bad"))
	verr.Merge(fmt.Errorf("wrapped: %w", NewValidationError("name", "required", "missing")))
	verr.Merge(errors.New("not a field problem"))
	verr.Merge(nil)
	if len(verr.Fields) != 2 || verr.Fields[0].Field != "email" || verr.Fields[1].Field != "name" {
		t.Fatalf("fields = %+v", verr.Fields)
	}
	if (&ValidationError{}).OrNil() != nil {
		t.Error("an empty ValidationError is not nil")
	}
}
