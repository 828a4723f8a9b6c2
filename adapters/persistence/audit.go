package persistence

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	auditapp "github.com/dashtam/dashtam/application/audit"
)

var _ auditapp.Store = (*AuditStore)(nil)

// auditRow mirrors the audit_events table of migrations/*/00017.
type auditRow struct {
	ID          uuid.UUID  `gorm:"column:id;primaryKey"`
	OccurredAt  time.Time  `gorm:"column:occurred_at"`
	ActorID     *uuid.UUID `gorm:"column:actor_id"`
	SubjectType string     `gorm:"column:subject_type"`
	SubjectID   string     `gorm:"column:subject_id"`
	Action      string     `gorm:"column:action"`
	Outcome     string     `gorm:"column:outcome"`
	Reason      string     `gorm:"column:reason"`
	RequestID   string     `gorm:"column:request_id"`
	ClientIP    string     `gorm:"column:client_ip"`
	UserAgent   string     `gorm:"column:user_agent"`
}

func (auditRow) TableName() string { return "audit_events" }

func (r auditRow) toEntry() auditapp.Entry {
	e := auditapp.Entry{
		ID: r.ID, OccurredAt: r.OccurredAt.UTC(), Subject: auditapp.Subject{Type: r.SubjectType, ID: r.SubjectID},
		Action: auditapp.Action(r.Action), Outcome: auditapp.Outcome(r.Outcome), Reason: r.Reason,
		RequestID: r.RequestID, ClientIP: r.ClientIP, UserAgent: r.UserAgent,
	}
	if r.ActorID != nil {
		e.Actor = *r.ActorID
	}
	return e
}

// AuditStore writes, reads and purges the append-only audit log. The table
// refuses updates, and deletes of anything younger than the retention
// (migrations/*/00017): only PurgeAuditEvents deletes.
type AuditStore struct{ db *DB }

// NewAuditStore returns the audit log of db, which must be migrated.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

// AppendAuditEvent inserts e.
func (s *AuditStore) AppendAuditEvent(ctx context.Context, e auditapp.Entry) error {
	row := auditRow{
		ID: e.ID, OccurredAt: dbTime(e.OccurredAt), SubjectType: e.Subject.Type, SubjectID: e.Subject.ID,
		Action: string(e.Action), Outcome: string(e.Outcome), Reason: e.Reason,
		RequestID: e.RequestID, ClientIP: e.ClientIP, UserAgent: e.UserAgent,
	}
	if e.Actor != uuid.Nil {
		row.ActorID = &e.Actor
	}
	return dbError("append audit event", s.db.Gorm.WithContext(ctx).Create(&row).Error)
}

// ListAuditEvents returns at most q.Limit entries matching q, highest id
// (newest) first.
func (s *AuditStore) ListAuditEvents(ctx context.Context, q auditapp.Query) ([]auditapp.Entry, error) {
	stmt := s.db.Gorm.WithContext(ctx).Model(&auditRow{})
	if q.Owner != uuid.Nil {
		stmt = stmt.Where("(actor_id = ? OR (subject_type = ? AND subject_id = ?))", q.Owner, auditapp.SubjectUser, q.Owner.String())
	}
	if q.Actor != uuid.Nil {
		stmt = stmt.Where("actor_id = ?", q.Actor)
	}
	if q.Subject.Type != "" {
		stmt = stmt.Where("subject_type = ?", q.Subject.Type)
		if q.Subject.ID != "" {
			stmt = stmt.Where("subject_id = ?", q.Subject.ID)
		}
	}
	if q.Action != "" {
		stmt = stmt.Where("action = ?", string(q.Action))
	}
	if !q.From.IsZero() {
		stmt = stmt.Where("occurred_at >= ?", dbTime(q.From))
	}
	if !q.To.IsZero() {
		stmt = stmt.Where("occurred_at < ?", dbTime(q.To))
	}
	if q.Before != uuid.Nil {
		stmt = stmt.Where("id < ?", q.Before)
	}
	var rows []auditRow
	if err := stmt.Order("id DESC").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, dbError("list audit events", err)
	}
	out := make([]auditapp.Entry, len(rows))
	for i, r := range rows {
		out[i] = r.toEntry()
	}
	return out, nil
}

// PurgeAuditEvents deletes the entries that occurred before now minus
// retention. On Postgres the transaction declares the retention to the
// table's trigger (SET LOCAL dashtam.audit_retention), which refuses to
// delete anything younger; on SQLite the trigger refuses anything younger
// than auditapp.MinRetention.
func (s *AuditStore) PurgeAuditEvents(ctx context.Context, now time.Time, retention time.Duration) (int64, error) {
	var n int64
	err := s.db.inTx(ctx, "purge audit events", func(tx *gorm.DB) error {
		if s.db.Dialect == Postgres {
			// SET takes no bind parameters: set_config does, and is LOCAL with true.
			secs := fmt.Sprintf("%d seconds", int64(retention/time.Second))
			if err := tx.Exec("SELECT set_config('dashtam.audit_retention', ?, true)", secs).Error; err != nil {
				return err
			}
		}
		cutoff := tx.Where("occurred_at < ?", dbTime(now.Add(-retention)))
		if s.db.Dialect == Postgres {
			// The database's clock, the trigger's: a skewed application
			// clock cannot make the purge reach a row the trigger keeps.
			cutoff = tx.Where("occurred_at < now() - current_setting('dashtam.audit_retention')::interval")
		}
		res := cutoff.Delete(&auditRow{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
