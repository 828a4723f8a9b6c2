package persistence

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	eventsapp "github.com/dashtam/dashtam/application/events"
	"github.com/dashtam/dashtam/domain/event"
)

// Every store writes the events of what it saves with writeEvents, in the
// transaction that saves it and as that transaction's last statement: the
// events commit with the change or not at all (EVENTS.md), and the counter
// row writeEvents locks is held only for the commit that follows.

var (
	_ eventsapp.Log  = (*EventStore)(nil)
	_ eventsapp.Feed = (*EventStore)(nil)
)

// eventRow mirrors the events table of migrations/*/00013.
type eventRow struct {
	ID         int64     `gorm:"column:id;primaryKey;autoIncrement:false"`
	UserID     uuid.UUID `gorm:"column:user_id"`
	Type       string    `gorm:"column:type"`
	OccurredAt time.Time `gorm:"column:occurred_at"`
	Data       string    `gorm:"column:data"`
}

func (eventRow) TableName() string { return "events" }

func (r eventRow) toDomain() (event.Logged, error) {
	t, err := event.ParseType(r.Type)
	if err != nil {
		return event.Logged{}, fmt.Errorf("event %d: stored type: %w", r.ID, err)
	}
	return event.Logged{ID: r.ID, UserID: r.UserID, Type: t, OccurredAt: r.OccurredAt.UTC(), Data: []byte(r.Data)}, nil
}

// writeEvents inserts evs, userID's, in tx, with the next ids of the log.
// The ids are taken by incrementing event_counter's one row: on Postgres
// its row lock is held until tx ends, so the transactions that write
// events take their ids one after the other in the order they commit (a
// sequence would not: a transaction that drew a lower id could commit
// later, and a reader polling "after the last id seen" would skip it for
// ever). On SQLite the database's single write lock does the same. Call it
// last in the transaction, after every other lock is taken, so the counter
// is held for no more than the commit.
func writeEvents(tx *gorm.DB, userID uuid.UUID, evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	var last int64
	if err := tx.Raw("UPDATE event_counter SET last_id = last_id + ? RETURNING last_id", len(evs)).Scan(&last).Error; err != nil {
		return fmt.Errorf("take event ids: %w", err)
	}
	rows := make([]eventRow, len(evs))
	first := last - int64(len(evs)) + 1
	for i, e := range evs {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return fmt.Errorf("event %s: data: %w", e.Type, err)
		}
		if e.Data == nil {
			data = []byte("{}")
		}
		rows[i] = eventRow{ID: first + int64(i), UserID: userID, Type: e.Type.String(), OccurredAt: dbTime(e.OccurredAt), Data: string(data)}
	}
	return tx.Create(&rows).Error
}

// EventStore reads and purges the event log. It implements the events
// application's Log port.
type EventStore struct{ db *DB }

// NewEventStore returns the event log of db, which must be migrated.
func NewEventStore(db *DB) *EventStore { return &EventStore{db: db} }

// ListEvents returns at most q.Limit of q.UserID's events above q.After and
// of q.Types (all when empty), ascending by id: a range of the index
// (user_id, id).
func (s *EventStore) ListEvents(ctx context.Context, q eventsapp.Query) ([]event.Logged, error) {
	stmt := s.db.Gorm.WithContext(ctx).Where("user_id = ? AND id > ?", q.UserID, q.After)
	if len(q.Types) > 0 {
		names := make([]string, len(q.Types))
		for i, t := range q.Types {
			names[i] = t.String()
		}
		stmt = stmt.Where("type IN ?", names)
	}
	var rows []eventRow
	if err := stmt.Order("id").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, dbError("list events of user "+q.UserID.String(), err)
	}
	return eventsOf(rows)
}

// EventsAfter returns at most limit events of every user with ids above
// after, ascending by id: what a poller fanning events out to streams reads.
func (s *EventStore) EventsAfter(ctx context.Context, after int64, limit int) ([]event.Logged, error) {
	var rows []eventRow
	if err := s.db.Gorm.WithContext(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, dbError("read events", err)
	}
	return eventsOf(rows)
}

// LastEventID returns the id of the newest event written (0 before the first).
func (s *EventStore) LastEventID(ctx context.Context) (int64, error) {
	var last int64
	if err := s.db.Gorm.WithContext(ctx).Raw("SELECT last_id FROM event_counter").Scan(&last).Error; err != nil {
		return 0, dbError("last event id", err)
	}
	return last, nil
}

// PurgeEvents deletes the events that occurred before cutoff.
func (s *EventStore) PurgeEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.Gorm.WithContext(ctx).Where("occurred_at < ?", dbTime(cutoff)).Delete(&eventRow{})
	return res.RowsAffected, dbError("purge events", res.Error)
}

func eventsOf(rows []eventRow) ([]event.Logged, error) {
	out := make([]event.Logged, 0, len(rows))
	for _, r := range rows {
		e, err := r.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// OldestEventID returns the id of the oldest event kept (0 when none is).
func (s *EventStore) OldestEventID(ctx context.Context) (int64, error) {
	var oldest []int64
	if err := s.db.Gorm.WithContext(ctx).Raw("SELECT id FROM events ORDER BY id LIMIT 1").Scan(&oldest).Error; err != nil {
		return 0, dbError("oldest event id", err)
	}
	if len(oldest) == 0 {
		return 0, nil
	}
	return oldest[0], nil
}
