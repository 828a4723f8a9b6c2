package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Every error the table knows maps to its own row, also when wrapped (twice) the
// way use cases and repositories wrap errors; and the rows are well formed.
func TestProblemTableMapsEveryKnownError(t *testing.T) {
	t.Parallel()
	codes := map[string]error{}
	for _, row := range problemTable {
		t.Run(row.kind.code, func(t *testing.T) {
			for name, err := range map[string]error{
				"bare":          row.err,
				"wrapped":       fmt.Errorf("load thing 42: %w", row.err),
				"wrapped twice": fmt.Errorf("use case: %w", fmt.Errorf("repo: %w", row.err)),
				"joined":        errors.Join(errors.New("context"), row.err),
			} {
				kind, fields, known := classify(err)
				if !known || kind != row.kind || fields != nil {
					t.Errorf("%s: classify = %+v known=%v", name, kind, known)
				}
			}
			if row.kind.status < 400 || row.kind.status > 599 || http.StatusText(row.kind.status) == "" {
				t.Errorf("status %d", row.kind.status)
			}
			if row.kind.title == "" || row.kind.slug == "" || row.kind.detail == "" {
				t.Errorf("incomplete row %+v", row.kind)
			}
			// The one deliberate alias: a non-admin on an admin route gets
			// exactly the answer of a missing route.
			if errors.Is(row.err, identity.ErrNotAdmin) {
				if row.kind != routeNotFoundKind {
					t.Errorf("ErrNotAdmin maps to %+v, not what a missing route answers", row.kind)
				}
				return
			}
			if prev, dup := codes[row.kind.code]; dup {
				t.Errorf("code %s used by %v and %v", row.kind.code, prev, row.err)
			}
			codes[row.kind.code] = row.err
		})
	}
}

// A specific error that wraps a domain kind maps to its own row, not the kind's.
func TestProblemTableSpecificBeforeGeneric(t *testing.T) {
	t.Parallel()
	for i, row := range problemTable {
		for _, earlier := range problemTable[:i] {
			if errors.Is(earlier.err, row.err) {
				continue // earlier is more specific: fine
			}
			if errors.Is(row.err, earlier.err) {
				t.Errorf("%s wraps %s but comes after it, so it can never match", row.kind.code, earlier.kind.code)
			}
		}
	}
}

func TestValidationErrorsCarryEveryField(t *testing.T) {
	t.Parallel()
	verr := &domain.ValidationError{}
	verr.Add("email", "invalid_format", "bad")
	verr.Add("name", "required", "missing")
	kind, fields, known := classify(fmt.Errorf("register: %w", verr))
	if !known || kind.status != http.StatusUnprocessableEntity || kind.code != "VALIDATION_ERROR" {
		t.Fatalf("kind = %+v", kind)
	}
	if len(fields) != 2 || fields[0].Field != "email" || fields[1].Code != "required" {
		t.Errorf("fields = %+v", fields)
	}
}

func TestUnknownErrorsAreHidden500s(t *testing.T) {
	t.Parallel()
	kind, fields, known := classify(errors.New("pq: relation \"users\" does not exist"))
	if known || kind.status != http.StatusInternalServerError || fields != nil {
		t.Errorf("kind = %+v known=%v", kind, known)
	}
	if kind.detail == "" || kind.code != "INTERNAL_ERROR" {
		t.Errorf("500 row = %+v", kind)
	}
}
