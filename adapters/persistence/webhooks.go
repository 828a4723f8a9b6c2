package persistence

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	hooksapp "github.com/dashtam/dashtam/application/institutionhooks"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
)

var _ hooksapp.Deliveries = (*DeliveryStore)(nil)

// deliveryRow mirrors migrations/*/00015_institution_webhooks.sql.
type deliveryRow struct {
	ID             uuid.UUID     `gorm:"column:id;primaryKey"`
	ProviderType   string        `gorm:"column:provider_type"`
	ExternalIDHash nullBytes     `gorm:"column:external_id_hash"`
	WebhookType    string        `gorm:"column:webhook_type"`
	WebhookCode    string        `gorm:"column:webhook_code"`
	ErrorCode      *string       `gorm:"column:error_code"`
	Action         string        `gorm:"column:action"`
	BodySHA256     []byte        `gorm:"column:body_sha256"`
	SignedAt       time.Time     `gorm:"column:signed_at"`
	ExpiresAt      *time.Time    `gorm:"column:expires_at"`
	ReceivedAt     time.Time     `gorm:"column:received_at"`
	DuplicateOf    uuid.NullUUID `gorm:"column:duplicate_of"`
	Outcome        string        `gorm:"column:outcome"`
	ActedAt        *time.Time    `gorm:"column:acted_at"`
}

func (deliveryRow) TableName() string { return "institution_webhook_deliveries" }

func deliveryFromApp(d hooksapp.Delivery) deliveryRow {
	r := deliveryRow{ID: d.ID, ProviderType: d.ProviderKey, WebhookType: d.Type, WebhookCode: d.Code,
		Action: string(d.Action), BodySHA256: d.BodyHash[:], SignedAt: dbTime(d.SignedAt), ExpiresAt: nullableTime(d.ExpiresAt),
		ReceivedAt: dbTime(d.ReceivedAt), DuplicateOf: nullUUID(d.DuplicateOf), Outcome: d.Outcome, ActedAt: nullableTime(d.ActedAt)}
	if d.ExternalIDHash != ([32]byte{}) {
		r.ExternalIDHash = d.ExternalIDHash[:]
	}
	if d.ErrorCode != "" {
		r.ErrorCode = &d.ErrorCode
	}
	return r
}

func (r deliveryRow) toApp() hooksapp.Delivery {
	d := hooksapp.Delivery{ID: r.ID, ProviderKey: r.ProviderType, Type: r.WebhookType, Code: r.WebhookCode,
		Action: providers.WebhookAction(r.Action), SignedAt: r.SignedAt.UTC(), ExpiresAt: domainTime(r.ExpiresAt),
		ReceivedAt: r.ReceivedAt.UTC(), DuplicateOf: r.DuplicateOf.UUID, Outcome: r.Outcome, ActedAt: domainTime(r.ActedAt)}
	copy(d.ExternalIDHash[:], r.ExternalIDHash)
	copy(d.BodyHash[:], r.BodySHA256)
	if r.ErrorCode != nil {
		d.ErrorCode = *r.ErrorCode
	}
	return d
}

// DeliveryStore records institution webhook deliveries
// (institutionhooks.Deliveries), enqueueing the job of each first delivery
// on its JobQueue in the transaction that records it.
type DeliveryStore struct {
	db    *DB
	queue JobQueue
}

// NewDeliveryStore returns a store on db enqueueing on queue.
func NewDeliveryStore(db *DB, queue JobQueue) *DeliveryStore {
	return &DeliveryStore{db: db, queue: queue}
}

// Record stores d as the first delivery of its body, with job enqueued, or,
// when a first delivery of the same provider type and body was received at
// or after since, as that one's duplicate with nothing enqueued. Two copies
// arriving at the same moment may both be first on Postgres (SQLite writes
// one transaction at a time); acting on a delivery is idempotent, so that
// costs at most a sync joined.
func (s *DeliveryStore) Record(ctx context.Context, d hooksapp.Delivery, since time.Time, job jobs.Job) (hooksapp.Delivery, error) {
	err := s.db.inTx(ctx, "record a webhook delivery", func(tx *gorm.DB) error {
		var first deliveryRow
		err := tx.Where("provider_type = ? AND body_sha256 = ? AND duplicate_of IS NULL AND received_at >= ?",
			d.ProviderKey, d.BodyHash[:], dbTime(since)).Order("received_at").Take(&first).Error
		switch {
		case err == nil:
			d.DuplicateOf, d.Outcome = first.ID, hooksapp.OutcomeDuplicate
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		row := deliveryFromApp(d)
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if d.DuplicateOf != uuid.Nil {
			return nil
		}
		_, err = enqueueTx(ctx, s.queue, tx, job)
		return err
	})
	if err != nil {
		return hooksapp.Delivery{}, dbError("record a webhook delivery", err)
	}
	return d, nil
}

// DeliveryByID returns the delivery, or domain.ErrNotFound.
func (s *DeliveryStore) DeliveryByID(ctx context.Context, id uuid.UUID) (hooksapp.Delivery, error) {
	var row deliveryRow
	if err := s.db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return hooksapp.Delivery{}, domain.ErrNotFound
		}
		return hooksapp.Delivery{}, dbError("webhook delivery "+id.String(), err)
	}
	return row.toApp(), nil
}

// NewerStateChange reports whether a first delivery of d's provider type
// and grant that changes the grant's state was signed after d.
func (s *DeliveryStore) NewerStateChange(ctx context.Context, d hooksapp.Delivery) (bool, error) {
	var n int64
	err := s.db.Gorm.WithContext(ctx).Model(&deliveryRow{}).
		Where("provider_type = ? AND external_id_hash = ? AND signed_at > ? AND duplicate_of IS NULL AND action IN ?",
			d.ProviderKey, d.ExternalIDHash[:], dbTime(d.SignedAt),
			[]string{string(providers.WebhookReauthorize), string(providers.WebhookRepaired)}).
		Count(&n).Error
	if err != nil {
		return false, dbError("newer webhook deliveries", err)
	}
	return n > 0, nil
}

// SetOutcome records what acting on the delivery did.
func (s *DeliveryStore) SetOutcome(ctx context.Context, id uuid.UUID, outcome string, at time.Time) error {
	err := s.db.Gorm.WithContext(ctx).Model(&deliveryRow{}).Where("id = ?", id).
		Updates(map[string]any{"outcome": outcome, "acted_at": dbTime(at)}).Error
	return dbError("webhook delivery outcome", err)
}

// DeleteReceivedBefore deletes the deliveries received before before (a
// duplicate goes with its first delivery), and returns how many.
func (s *DeliveryStore) DeleteReceivedBefore(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.Gorm.WithContext(ctx).Where("received_at < ?", dbTime(before)).Delete(&deliveryRow{})
	return res.RowsAffected, dbError("delete old webhook deliveries", res.Error)
}
