package persistence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/dashtam/dashtam/application/jobs"
	webhooksapp "github.com/dashtam/dashtam/application/webhooks"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/webhook"
)

var (
	_ webhooksapp.Endpoints  = (*WebhookStore)(nil)
	_ webhooksapp.Deliveries = (*WebhookStore)(nil)
)

// webhookEndpointRow mirrors webhook_endpoints (migrations/*/00016). The
// secrets are ciphertext (TokenCipher), bound to the endpoint and field.
type webhookEndpointRow struct {
	ID                      uuid.UUID  `gorm:"column:id;primaryKey"`
	UserID                  uuid.UUID  `gorm:"column:user_id"`
	URL                     string     `gorm:"column:url"`
	EventTypes              string     `gorm:"column:event_types"`
	Description             string     `gorm:"column:description"`
	Enabled                 bool       `gorm:"column:enabled"`
	DisabledReason          string     `gorm:"column:disabled_reason"`
	SecretCT                []byte     `gorm:"column:secret_ct"`
	PreviousSecretCT        nullBytes  `gorm:"column:previous_secret_ct"`
	PreviousSecretExpiresAt *time.Time `gorm:"column:previous_secret_expires_at"`
	AfterEventID            int64      `gorm:"column:after_event_id"`
	FailingSince            *time.Time `gorm:"column:failing_since"`
	Version                 int64      `gorm:"column:version"`
	CreatedAt               time.Time  `gorm:"column:created_at"`
	UpdatedAt               time.Time  `gorm:"column:updated_at"`
}

func (webhookEndpointRow) TableName() string { return "webhook_endpoints" }

// webhookDeliveryRow mirrors webhook_deliveries (migrations/*/00016).
type webhookDeliveryRow struct {
	ID             uuid.UUID  `gorm:"column:id;primaryKey"`
	EndpointID     uuid.UUID  `gorm:"column:endpoint_id"`
	EventID        int64      `gorm:"column:event_id"`
	EventType      string     `gorm:"column:event_type"`
	Payload        string     `gorm:"column:payload"`
	Status         string     `gorm:"column:status"`
	Attempts       int        `gorm:"column:attempts"`
	MaxAttempts    int        `gorm:"column:max_attempts"`
	NextAttemptAt  *time.Time `gorm:"column:next_attempt_at"`
	LastAttemptAt  *time.Time `gorm:"column:last_attempt_at"`
	LastStatusCode *int       `gorm:"column:last_status_code"`
	LastError      string     `gorm:"column:last_error"`
	CreatedAt      time.Time  `gorm:"column:created_at"`
}

func (webhookDeliveryRow) TableName() string { return "webhook_deliveries" }

// webhookDispatchRow is the dispatcher's high-water mark.
type webhookDispatchRow struct {
	One         int   `gorm:"column:one;primaryKey"`
	LastEventID int64 `gorm:"column:last_event_id"`
}

func (webhookDispatchRow) TableName() string { return "webhook_dispatch" }

// WebhookStore stores the webhook endpoints, with their signing secrets
// encrypted by a TokenCipher, and their deliveries, enqueueing each
// delivery's job on its JobQueue in the transaction that stores it.
type WebhookStore struct {
	db     *DB
	cipher TokenCipher
	queue  JobQueue
}

// NewWebhookStore returns a store on db.
func NewWebhookStore(db *DB, cipher TokenCipher, queue JobQueue) *WebhookStore {
	return &WebhookStore{db: db, cipher: cipher, queue: queue}
}

// secretAAD binds a secret's ciphertext to its endpoint and field.
func secretAAD(endpointID uuid.UUID, field string) []byte {
	return []byte("webhook_endpoint:" + endpointID.String() + ":" + field)
}

func (s *WebhookStore) endpointRow(e *webhook.Endpoint) (webhookEndpointRow, error) {
	snap := e.Snapshot()
	types := make([]string, len(snap.EventTypes))
	for i, t := range snap.EventTypes {
		types[i] = t.String()
	}
	r := webhookEndpointRow{ID: snap.ID, UserID: snap.UserID, URL: snap.URL, EventTypes: strings.Join(types, ","),
		Description: snap.Description, Enabled: snap.Enabled, DisabledReason: snap.DisabledReason,
		AfterEventID: snap.AfterEventID, FailingSince: nullableTime(snap.FailingSince), Version: snap.Version,
		CreatedAt: dbTime(snap.CreatedAt), UpdatedAt: dbTime(snap.UpdatedAt)}
	var err error
	if r.SecretCT, err = s.cipher.Encrypt(snap.Secret.Bytes(), secretAAD(snap.ID, "secret")); err != nil {
		return r, fmt.Errorf("encrypt webhook secret: %w", err)
	}
	if !snap.Previous.IsZero() {
		if r.PreviousSecretCT, err = s.cipher.Encrypt(snap.Previous.Bytes(), secretAAD(snap.ID, "previous_secret")); err != nil {
			return r, fmt.Errorf("encrypt webhook secret: %w", err)
		}
		r.PreviousSecretExpiresAt = nullableTime(snap.PreviousUntil)
	}
	return r, nil
}

func (s *WebhookStore) endpointOf(r webhookEndpointRow) (*webhook.Endpoint, error) {
	snap := webhook.EndpointSnapshot{ID: r.ID, UserID: r.UserID, URL: r.URL, Description: r.Description, Enabled: r.Enabled,
		DisabledReason: r.DisabledReason, PreviousUntil: domainTime(r.PreviousSecretExpiresAt), AfterEventID: r.AfterEventID,
		FailingSince: domainTime(r.FailingSince),
		Version:      r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	for name := range strings.SplitSeq(r.EventTypes, ",") {
		t, err := event.ParseType(name)
		if err != nil {
			return nil, fmt.Errorf("webhook endpoint %s: stored event type: %w", r.ID, err)
		}
		snap.EventTypes = append(snap.EventTypes, t)
	}
	b, err := s.cipher.Decrypt(r.SecretCT, secretAAD(r.ID, "secret"))
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint %s: decrypt secret: %w", r.ID, err)
	}
	snap.Secret = webhook.SecretFromBytes(b)
	if len(r.PreviousSecretCT) > 0 {
		if b, err = s.cipher.Decrypt(r.PreviousSecretCT, secretAAD(r.ID, "previous_secret")); err != nil {
			return nil, fmt.Errorf("webhook endpoint %s: decrypt previous secret: %w", r.ID, err)
		}
		snap.Previous = webhook.SecretFromBytes(b)
	}
	return webhook.RehydrateEndpoint(snap), nil
}

// CreateEndpoint stores e unless its owner already has max endpoints. The
// owner's row is locked while counting, so two creations at once cannot
// both pass the bound.
func (s *WebhookStore) CreateEndpoint(ctx context.Context, e *webhook.Endpoint, max int) error {
	row, err := s.endpointRow(e)
	if err != nil {
		return err
	}
	return s.db.inTx(ctx, "create webhook endpoint", func(tx *gorm.DB) error {
		var owner userRow
		if err := s.db.lockRow(tx, &owner, "id = ?", e.UserID()); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&webhookEndpointRow{}).Where("user_id = ?", e.UserID()).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(max) {
			return fromCaller(webhooksapp.ErrTooManyEndpoints)
		}
		return tx.Create(&row).Error
	})
}

// EndpointByID returns the endpoint, or domain.ErrNotFound.
func (s *WebhookStore) EndpointByID(ctx context.Context, id uuid.UUID) (*webhook.Endpoint, error) {
	var row webhookEndpointRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, dbError("webhook endpoint "+id.String(), err)
	}
	return s.endpointOf(row)
}

// ListEndpoints returns at most limit of userID's endpoints above after,
// ascending by id.
func (s *WebhookStore) ListEndpoints(ctx context.Context, userID, after uuid.UUID, limit int) ([]*webhook.Endpoint, error) {
	var rows []webhookEndpointRow
	if err := s.db.Gorm.WithContext(ctx).Where("user_id = ? AND id > ?", userID, after).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, dbError("list webhook endpoints", err)
	}
	return s.endpointsOf(rows)
}

func (s *WebhookStore) endpointsOf(rows []webhookEndpointRow) ([]*webhook.Endpoint, error) {
	out := make([]*webhook.Endpoint, 0, len(rows))
	for _, r := range rows {
		e, err := s.endpointOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// UpdateEndpoint runs fn on the endpoint under its row lock and saves it.
func (s *WebhookStore) UpdateEndpoint(ctx context.Context, id uuid.UUID, fn func(*webhook.Endpoint) error) (*webhook.Endpoint, error) {
	var saved *webhook.Endpoint
	err := s.db.inTx(ctx, "update webhook endpoint "+id.String(), func(tx *gorm.DB) error {
		e, err := s.lockEndpoint(tx, id)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return fromCaller(err)
		}
		saved = e
		return s.saveEndpoint(tx, e)
	})
	return saved, err
}

func (s *WebhookStore) lockEndpoint(tx *gorm.DB, id uuid.UUID) (*webhook.Endpoint, error) {
	var row webhookEndpointRow
	if err := s.db.lockRow(tx, &row, "id = ?", id); err != nil {
		return nil, err
	}
	return s.endpointOf(row)
}

// saveEndpoint saves e with the events it recorded.
func (s *WebhookStore) saveEndpoint(tx *gorm.DB, e *webhook.Endpoint) error {
	row, err := s.endpointRow(e)
	if err != nil {
		return err
	}
	if err := tx.Select("*").Save(&row).Error; err != nil {
		return err
	}
	return writeEvents(tx, e.UserID(), e.DrainEvents())
}

// DeleteEndpoint runs fn on the endpoint under its lock and deletes it and
// its deliveries.
func (s *WebhookStore) DeleteEndpoint(ctx context.Context, id uuid.UUID, fn func(*webhook.Endpoint) error) error {
	return s.db.inTx(ctx, "delete webhook endpoint "+id.String(), func(tx *gorm.DB) error {
		e, err := s.lockEndpoint(tx, id)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return fromCaller(err)
		}
		if err := tx.Where("endpoint_id = ?", id).Delete(&webhookDeliveryRow{}).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", id).Delete(&webhookEndpointRow{}).Error
	})
}

func deliveryRowOf(d webhooksapp.Delivery) webhookDeliveryRow {
	r := webhookDeliveryRow{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType.String(),
		Payload: string(d.Payload), Status: string(d.Status), Attempts: d.Attempts, MaxAttempts: d.MaxAttempts,
		NextAttemptAt: nullableTime(d.NextAttemptAt), LastAttemptAt: nullableTime(d.LastAttemptAt), LastError: d.LastError,
		CreatedAt: dbTime(d.CreatedAt)}
	if d.LastStatusCode != 0 {
		code := d.LastStatusCode
		r.LastStatusCode = &code
	}
	return r
}

func (r webhookDeliveryRow) toApp() (webhooksapp.Delivery, error) {
	t, err := event.ParseType(r.EventType)
	if err != nil {
		return webhooksapp.Delivery{}, fmt.Errorf("webhook delivery %s: stored event type: %w", r.ID, err)
	}
	d := webhooksapp.Delivery{ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID, EventType: t, Payload: []byte(r.Payload),
		Status: webhooksapp.Status(r.Status), Attempts: r.Attempts, MaxAttempts: r.MaxAttempts,
		NextAttemptAt: domainTime(r.NextAttemptAt), LastAttemptAt: domainTime(r.LastAttemptAt), LastError: r.LastError,
		CreatedAt: r.CreatedAt.UTC()}
	if r.LastStatusCode != nil {
		d.LastStatusCode = *r.LastStatusCode
	}
	return d, nil
}

// Dispatch reads the events after the dispatch mark (locked: one dispatch
// at a time, whichever instance runs it), stores the deliveries plan makes
// of them, each with its job, and moves the mark, in one transaction. A
// delivery of an (endpoint, event) already stored is skipped with its job.
func (s *WebhookStore) Dispatch(ctx context.Context, limit int, plan func([]event.Logged, []*webhook.Endpoint) []webhooksapp.Delivery,
	job func(webhooksapp.Delivery) jobs.Job,
) (int, error) {
	// Most passes find nothing new: tell so without a write transaction
	// (on SQLite, one takes the database's write lock).
	var behind int64
	if err := s.db.Gorm.WithContext(ctx).Raw("SELECT (SELECT last_id FROM event_counter) - (SELECT last_event_id FROM webhook_dispatch)").
		Scan(&behind).Error; err != nil {
		return 0, dbError("dispatch webhooks", err)
	}
	if behind <= 0 {
		return 0, nil
	}
	var read int
	err := s.db.inTx(ctx, "dispatch webhooks", func(tx *gorm.DB) error {
		var mark webhookDispatchRow
		if err := s.db.lockRow(tx, &mark, "one = 1"); err != nil {
			return err
		}
		var rows []eventRow
		if err := tx.Where("id > ?", mark.LastEventID).Order("id").Limit(limit).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 { // the events behind the mark were purged: catch up with the committed counter
			return tx.Exec("UPDATE webhook_dispatch SET last_event_id = (SELECT last_id FROM event_counter)").Error
		}
		evs, err := eventsOf(rows)
		if err != nil {
			return err
		}
		read = len(evs)
		users := map[uuid.UUID]bool{}
		var ids []uuid.UUID
		for _, e := range evs {
			if !users[e.UserID] {
				users[e.UserID] = true
				ids = append(ids, e.UserID)
			}
		}
		var epRows []webhookEndpointRow
		if err := tx.Where("user_id IN ? AND enabled = ?", ids, true).Order("id").Find(&epRows).Error; err != nil {
			return err
		}
		eps, err := s.endpointsOf(epRows)
		if err != nil {
			return err
		}
		for _, d := range plan(evs, eps) {
			row := deliveryRowOf(d)
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				continue
			}
			if _, err := enqueueTx(ctx, s.queue, tx, job(d)); err != nil {
				return err
			}
		}
		return tx.Model(&webhookDispatchRow{}).Where("one = 1").Update("last_event_id", evs[len(evs)-1].ID).Error
	})
	return read, err
}

// DeliveryByID returns the delivery, or domain.ErrNotFound.
func (s *WebhookStore) DeliveryByID(ctx context.Context, id uuid.UUID) (webhooksapp.Delivery, error) {
	var row webhookDeliveryRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return webhooksapp.Delivery{}, dbError("webhook delivery "+id.String(), err)
	}
	return row.toApp()
}

// ListDeliveries returns at most limit of the endpoint's deliveries below
// the event id before (0: from the newest), newest first.
func (s *WebhookStore) ListDeliveries(ctx context.Context, endpointID uuid.UUID, before int64, limit int) ([]webhooksapp.Delivery, error) {
	stmt := s.db.Gorm.WithContext(ctx).Where("endpoint_id = ?", endpointID)
	if before > 0 {
		stmt = stmt.Where("event_id < ?", before)
	}
	var rows []webhookDeliveryRow
	if err := stmt.Order("event_id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, dbError("list webhook deliveries", err)
	}
	out := make([]webhooksapp.Delivery, 0, len(rows))
	for _, r := range rows {
		d, err := r.toApp()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// RecordAttempt saves d's attempt if it is still pending and, in the same
// transaction, runs endpoint on its endpoint under the endpoint's lock,
// saving it (with the events it recorded) when endpoint reports a change.
func (s *WebhookStore) RecordAttempt(ctx context.Context, d webhooksapp.Delivery, endpoint func(*webhook.Endpoint) bool) error {
	return s.db.inTx(ctx, "record webhook attempt", func(tx *gorm.DB) error {
		row := deliveryRowOf(d)
		res := tx.Model(&webhookDeliveryRow{}).Where("id = ? AND status = ?", d.ID, string(webhooksapp.Pending)).
			Updates(map[string]any{"status": row.Status, "attempts": row.Attempts, "max_attempts": row.MaxAttempts,
				"next_attempt_at": row.NextAttemptAt, "last_attempt_at": row.LastAttemptAt,
				"last_status_code": row.LastStatusCode, "last_error": row.LastError})
		if res.Error != nil || res.RowsAffected == 0 || endpoint == nil {
			return res.Error
		}
		e, err := s.lockEndpoint(tx, d.EndpointID)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !endpoint(e) {
			return nil
		}
		return s.saveEndpoint(tx, e)
	})
}

// UpdateDelivery runs fn on the delivery under its lock, saves it and
// enqueues job, in one transaction.
func (s *WebhookStore) UpdateDelivery(ctx context.Context, id uuid.UUID, fn func(*webhooksapp.Delivery) error, job jobs.Job) (webhooksapp.Delivery, error) {
	var saved webhooksapp.Delivery
	err := s.db.inTx(ctx, "update webhook delivery "+id.String(), func(tx *gorm.DB) error {
		var row webhookDeliveryRow
		if err := s.db.lockRow(tx, &row, "id = ?", id); err != nil {
			return err
		}
		d, err := row.toApp()
		if err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return fromCaller(err)
		}
		updated := deliveryRowOf(d)
		if err := tx.Select("*").Save(&updated).Error; err != nil {
			return err
		}
		saved = d
		_, err = enqueueTx(ctx, s.queue, tx, job)
		return err
	})
	return saved, err
}

// DeleteDeliveriesBefore deletes the finished deliveries created before
// before, and returns how many.
func (s *WebhookStore) DeleteDeliveriesBefore(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.Gorm.WithContext(ctx).Where("created_at < ? AND status <> ?", dbTime(before), string(webhooksapp.Pending)).
		Delete(&webhookDeliveryRow{})
	return res.RowsAffected, dbError("delete old webhook deliveries", res.Error)
}
