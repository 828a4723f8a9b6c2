package providers

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// SortKey is a field providers can be sorted by.
type SortKey string

// The sortable fields. Every one has an index (user_id, key, id), so a cursor page
// costs the same wherever it starts.
const (
	SortAlias     SortKey = "alias"
	SortCreatedAt SortKey = "created_at"
	SortUpdatedAt SortKey = "updated_at"
	SortKeyField  SortKey = "provider_key"
)

// SortKeys lists the sortable fields.
func SortKeys() []SortKey { return []SortKey{SortAlias, SortCreatedAt, SortUpdatedAt, SortKeyField} }

// SortField is one sort criterion.
type SortField struct {
	Key  SortKey
	Desc bool
}

// DefaultSort is newest first.
var DefaultSort = []SortField{{Key: SortCreatedAt, Desc: true}}

// MaxPerPage is the largest page.
const MaxPerPage = 100

// ParseSort parses "alias", "-created_at" or "provider_key,-created_at". A sort
// has one field, or two when the first is provider_key (grouping by institution):
// those are the orders with an index each, so every cursor page costs the same.
// Ties are always broken by id (in the direction of the last field). An empty
// string is DefaultSort.
func ParseSort(raw string) ([]SortField, error) {
	if strings.TrimSpace(raw) == "" {
		return DefaultSort, nil
	}
	var out []SortField
	seen := map[SortKey]bool{}
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		f := SortField{Key: SortKey(strings.TrimPrefix(part, "-")), Desc: strings.HasPrefix(part, "-")}
		if !validSortKey(f.Key) {
			return nil, domain.NewValidationError("sort", "invalid_choice",
				"sort accepts alias, created_at, updated_at and provider_key, each optionally prefixed with - for descending order.")
		}
		if seen[f.Key] {
			return nil, domain.NewValidationError("sort", "duplicate", "Each sort field may appear once.")
		}
		seen[f.Key] = true
		out = append(out, f)
	}
	if len(out) > 2 || (len(out) == 2 && out[0].Key != SortKeyField) {
		return nil, domain.NewValidationError("sort", "unsupported",
			"Sort by one field, or by provider_key and then one other field (e.g. provider_key,-created_at).")
	}
	return out, nil
}

func validSortKey(k SortKey) bool {
	for _, s := range SortKeys() {
		if s == k {
			return true
		}
	}
	return false
}

// Filter narrows a list. Zero fields do not filter.
type Filter struct {
	Status provider.Status
	Key    string
	// Search matches aliases containing it, case-insensitively.
	Search        string
	CreatedAfter  time.Time // exclusive
	CreatedBefore time.Time // exclusive
}

// Position is where a cursor page starts: just after the row with these values.
// It holds every sortable field, so one Position works for any sort order.
type Position struct {
	Alias     string
	Key       string
	CreatedAt time.Time
	UpdatedAt time.Time
	ID        uuid.UUID
}

// PositionOf returns the position just after p.
func PositionOf(p *provider.Provider) Position {
	return Position{Alias: p.Alias(), Key: p.Key(), CreatedAt: p.CreatedAt(), UpdatedAt: p.UpdatedAt(), ID: p.ID()}
}

// ListQuery asks a repository for one page.
type ListQuery struct {
	UserID uuid.UUID
	Filter Filter
	// Sort is never empty; ties are broken by id in the direction of the last field.
	Sort []SortField
	// After, when set, starts the page just after that row (keyset pagination);
	// otherwise the page starts at Offset.
	After  *Position
	Offset int
	Limit  int
	// WithTotal asks for the number of matching rows as well.
	WithTotal bool
}
