package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
)

// PageSize is the most changes one page of transactions carries, so memory
// stays bounded whatever the history's size.
const PageSize = 500

// cursor is the sandbox's resume state. A loop delivers what changed in
// (Covered, Until]; Day and Slot are the next transaction of the ledger to
// look at. When a loop ends, Covered becomes Until and the next call starts a
// new loop up to its own now. Because the ledger is a pure function of time,
// resuming a loop from any committed cursor yields exactly what was left.
type cursor struct {
	Covered int64 `json:"covered"` // Unix microseconds; 0 before the first loop
	Until   int64 `json:"until,omitempty"`
	Day     int   `json:"day,omitempty"`
	Slot    int   `json:"slot,omitempty"`
}

func (c cursor) inLoop() bool { return c.Until != 0 }

func parseCursor(resume []byte) (cursor, error) {
	var c cursor
	if len(resume) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(resume, &c); err != nil || c.Covered < 0 || c.Until < 0 || c.Day < 0 || c.Slot < 0 {
		return cursor{}, fmt.Errorf("sandbox: unreadable resume state: %w", domain.ErrInvalidRequest)
	}
	return c, nil
}

func (c cursor) encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

// transactions returns the page of changes that follows c, at now.
func (l ledger) transactions(c cursor, now time.Time) providers.TransactionPage {
	if !c.inLoop() {
		if now.UnixMicro() <= c.Covered {
			return providers.TransactionPage{Resume: c.encode()}
		}
		c.Until = now.UnixMicro()
		c.Day, c.Slot = max(0, l.dayOf(time.UnixMicro(c.Covered).Add(-maxEventLag))), 0
	}
	from, to := time.UnixMicro(c.Covered), time.UnixMicro(c.Until)
	var page providers.TransactionPage
	last := l.dayOf(to)
	for ; c.Day <= last; c.Day, c.Slot = c.Day+1, 0 {
		for n := l.slots(c.Day); c.Slot < n; c.Slot++ {
			if len(page.Added)+len(page.Modified)+len(page.Removed) == PageSize {
				page.HasMore, page.Resume = true, c.encode()
				return withSecurities(page)
			}
			l.collect(&page, l.slot(c.Day, c.Slot), from, to)
		}
	}
	page.Resume = cursor{Covered: c.Until}.encode()
	return withSecurities(page)
}

// withSecurities lists in page the securities its investment activity names.
func withSecurities(page providers.TransactionPage) providers.TransactionPage {
	named := map[finance.SecurityKey]bool{}
	for _, r := range slices.Concat(page.Added, page.Modified) {
		if r.Investment != nil {
			named[r.Investment.Security] = true
		}
	}
	for _, s := range sandboxSecurities {
		if d := s.details(); named[d.Key()] {
			page.Securities = append(page.Securities, d)
		}
	}
	return page
}

// collect adds to page what happened to s in (from, to].
func (l ledger) collect(page *providers.TransactionPage, s slot, from, to time.Time) {
	switch {
	case !s.existsAt(to) && s.existsAt(from):
		page.Removed = append(page.Removed, providers.RemovedTransaction{
			InstitutionAccountID: l.accountID(s.account), InstitutionTransactionID: s.id,
		})
	case !s.existsAt(to):
	case !s.existsAt(from):
		page.Added = append(page.Added, l.record(s, to))
	case s.changedIn(from, to):
		page.Modified = append(page.Modified, l.record(s, to))
	}
}
