package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	auditapp "github.com/dashtam/dashtam/application/audit"
)

var _ auditapp.Store = (*AuditLog)(nil)

// AuditLog is an in-memory audit log with the SQL one's semantics: entries
// are appended and never changed; the purge deletes only what is older than
// the retention. Use-case tests read it (All). Fail makes the next appends
// fail (a store that is down).
type AuditLog struct {
	mu      sync.Mutex
	entries []auditapp.Entry
	Fail    error
}

// NewAuditLog returns an empty log.
func NewAuditLog() *AuditLog { return &AuditLog{} }

// AppendAuditEvent appends e.
func (l *AuditLog) AppendAuditEvent(_ context.Context, e auditapp.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Fail != nil {
		return l.Fail
	}
	l.entries = append(l.entries, e)
	return nil
}

// All returns every entry, oldest first.
func (l *AuditLog) All() []auditapp.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// ListAuditEvents returns at most q.Limit entries matching q, newest first.
func (l *AuditLog) ListAuditEvents(_ context.Context, q auditapp.Query) ([]auditapp.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []auditapp.Entry
	for i := len(l.entries) - 1; i >= 0 && len(out) < q.Limit; i-- {
		if e := l.entries[i]; auditMatches(e, q) {
			out = append(out, e)
		}
	}
	return out, nil
}

func auditMatches(e auditapp.Entry, q auditapp.Query) bool {
	isOwner := e.Actor == q.Owner || (e.Subject.Type == auditapp.SubjectUser && e.Subject.ID == q.Owner.String())
	switch {
	case q.Owner != uuid.Nil && !isOwner,
		q.Actor != uuid.Nil && e.Actor != q.Actor,
		q.Subject.Type != "" && e.Subject.Type != q.Subject.Type,
		q.Subject.ID != "" && e.Subject.ID != q.Subject.ID,
		q.Action != "" && e.Action != q.Action,
		!q.From.IsZero() && e.OccurredAt.Before(q.From),
		!q.To.IsZero() && !e.OccurredAt.Before(q.To),
		q.Before != uuid.Nil && slices.Compare(e.ID[:], q.Before[:]) >= 0:
		return false
	}
	return true
}

// PurgeAuditEvents deletes the entries that occurred before now minus
// retention.
func (l *AuditLog) PurgeAuditEvents(_ context.Context, now time.Time, retention time.Duration) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cutoff := now.Add(-retention)
	before := len(l.entries)
	l.entries = slices.DeleteFunc(l.entries, func(e auditapp.Entry) bool { return e.OccurredAt.Before(cutoff) })
	return int64(before - len(l.entries)), nil
}
