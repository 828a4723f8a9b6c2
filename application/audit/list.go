package audit

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
)

// MaxPageSize is the largest page of either audit list.
const MaxPageSize = 100

// Page is one page of entries, newest first.
type Page struct {
	Entries []Entry
	// Next is the cursor of the page after this one (when HasMore).
	Next    uuid.UUID
	HasMore bool
}

// ListOwn lists the entries user made or that are about them: q's filters
// other than the action and the time range are ignored.
func (s *Service) ListOwn(ctx context.Context, user uuid.UUID, q Query) (Page, error) {
	return s.List(ctx, Query{Owner: user, From: q.From, To: q.To, Action: q.Action, Before: q.Before, Limit: q.Limit})
}

// List lists every entry matching q: the operators' list, whose caller
// application/admin has checked.
func (s *Service) List(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return Page{}, domain.NewValidationError("limit", "out_of_range", fmt.Sprintf("Page size must be between 1 and %d.", MaxPageSize))
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return Page{}, domain.NewValidationError("to", "out_of_range", "to must be after from.")
	}
	limit := q.Limit
	q.Limit++
	entries, err := s.store.ListAuditEvents(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Entries: entries}
	if len(entries) > limit {
		page.Entries, page.HasMore = entries[:limit], true
		page.Next = page.Entries[limit-1].ID
	}
	return page, nil
}
