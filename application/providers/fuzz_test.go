package providers_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

// FuzzParseSort feeds arbitrary ?sort= values to ParseSort. Beyond not
// panicking: a rejection is one validation error naming the sort parameter (so
// the client gets a 422, never a 500), an acceptance lists only sortable
// fields, each once, and printing it back parses to the same order (the
// fingerprint of a cursor depends on it). The committed corpus in
// testdata/fuzz/FuzzParseSort holds the documented forms and near misses.
func FuzzParseSort(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		sort, err := providersapp.ParseSort(raw)
		if err != nil {
			var verr *domain.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != "sort" {
				t.Fatalf("ParseSort(%q): %v is not one validation error on sort", raw, err)
			}
			if sort != nil {
				t.Fatalf("ParseSort(%q) returned %v alongside an error", raw, sort)
			}
			return
		}
		if len(sort) == 0 {
			t.Fatalf("ParseSort(%q) accepted an empty order", raw)
		}
		if strings.TrimSpace(raw) == "" && !slices.Equal(sort, providersapp.DefaultSort) {
			t.Fatalf("ParseSort(%q) = %v, want the default order", raw, sort)
		}
		seen := map[providersapp.SortKey]bool{}
		parts := make([]string, len(sort))
		for i, field := range sort {
			if !slices.Contains(providersapp.SortKeys(), field.Key) {
				t.Fatalf("ParseSort(%q) accepted the unsortable field %q", raw, field.Key)
			}
			if seen[field.Key] {
				t.Fatalf("ParseSort(%q) accepted %q twice", raw, field.Key)
			}
			seen[field.Key] = true
			parts[i] = string(field.Key)
			if field.Desc {
				parts[i] = "-" + parts[i]
			}
		}
		canonical := strings.Join(parts, ",")
		again, err := providersapp.ParseSort(canonical)
		if err != nil || !slices.Equal(again, sort) {
			t.Fatalf("ParseSort(%q) = %v, but its canonical form %q parses to %v, %v", raw, sort, canonical, again, err)
		}
	})
}
