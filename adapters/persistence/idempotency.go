package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/dashtam/dashtam/adapters/idempotency"
	"github.com/dashtam/dashtam/domain"
)

// IdempotencyStore keeps the HTTP layer's Idempotency-Key records in the
// database; it implements httpapi.IdempotencyStore. The table's primary key on
// (scope, method, route, key) decides between concurrent first requests: the
// claim is an INSERT ... ON CONFLICT DO NOTHING, and only one of them inserts.
type IdempotencyStore struct {
	db *DB
}

// NewIdempotencyStore returns a store on db, which must be migrated.
func NewIdempotencyStore(db *DB) *IdempotencyStore {
	return &IdempotencyStore{db: db}
}

// idempotencyRow mirrors migrations/*/00004_idempotency.sql.
type idempotencyRow struct {
	Scope       string     `gorm:"column:scope;primaryKey"`
	Method      string     `gorm:"column:method;primaryKey"`
	Route       string     `gorm:"column:route;primaryKey"`
	IdemKey     string     `gorm:"column:idem_key;primaryKey"`
	Fingerprint []byte     `gorm:"column:fingerprint"`
	ClaimToken  string     `gorm:"column:claim_token"`
	LockedAt    time.Time  `gorm:"column:locked_at"`
	ExpiresAt   time.Time  `gorm:"column:expires_at"`
	CompletedAt *time.Time `gorm:"column:completed_at"`
	Status      int        `gorm:"column:status"`
	Headers     string     `gorm:"column:headers"`
	Body        []byte     `gorm:"column:body"`
}

func (idempotencyRow) TableName() string { return "idempotency_records" }

func (r idempotencyRow) toRecord() (idempotency.Record, error) {
	rec := idempotency.Record{
		Key:         idempotency.Key{Scope: r.Scope, Method: r.Method, Route: r.Route, Key: r.IdemKey},
		Fingerprint: r.Fingerprint,
		Owner:       r.ClaimToken,
		LockedAt:    r.LockedAt.UTC(),
		ExpiresAt:   r.ExpiresAt.UTC(),
	}
	if r.CompletedAt == nil {
		return rec, nil
	}
	header := http.Header{}
	if err := json.Unmarshal([]byte(r.Headers), &header); err != nil {
		return idempotency.Record{}, fmt.Errorf("idempotency record %s %s: stored headers are not JSON: %v", r.Method, r.Route, err) //nolint:errorlint // our fault, not the caller's input
	}
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	rec.Response = &idempotency.Response{Status: r.Status, Header: header, Body: body}
	return rec, nil
}

// whereKey selects the row of key.
func whereKey(tx *gorm.DB, key idempotency.Key) *gorm.DB {
	return tx.Where("scope = ? AND method = ? AND route = ? AND idem_key = ?", key.Scope, key.Method, key.Route, key.Key)
}

// Claim stores rec as the running claim of its key unless the key has a live
// record, which it returns instead. Expired records and abandoned claims (locked
// at or before staleBefore) are deleted and the claim tried again; only the
// request that deleted such a record (its claim token still matching) goes on,
// so two requests replacing one stale record cannot both win.
func (s *IdempotencyStore) Claim(ctx context.Context, rec idempotency.Record, staleBefore time.Time) (idempotency.Record, bool, error) {
	op := "claim idempotency key"
	row := idempotencyRow{
		Scope: rec.Key.Scope, Method: rec.Key.Method, Route: rec.Key.Route, IdemKey: rec.Key.Key,
		Fingerprint: rec.Fingerprint,
		ClaimToken:  rec.Owner,
		LockedAt:    dbTime(rec.LockedAt),
		ExpiresAt:   dbTime(rec.ExpiresAt),
		Headers:     "{}",
	}
	db := s.db.Gorm.WithContext(ctx)
	for range 3 {
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return idempotency.Record{}, false, dbError(op, res.Error)
		}
		if res.RowsAffected == 1 {
			return idempotency.Record{}, true, nil
		}
		var cur idempotencyRow
		err := whereKey(db, rec.Key).Take(&cur).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue // deleted since the insert: try again
		}
		if err != nil {
			return idempotency.Record{}, false, dbError(op, err)
		}
		expired := !cur.ExpiresAt.After(rec.LockedAt)
		abandoned := cur.CompletedAt == nil && !cur.LockedAt.After(staleBefore)
		if !expired && !abandoned {
			existing, err := cur.toRecord()
			return existing, false, err
		}
		if err := whereKey(db, rec.Key).Where("claim_token = ?", cur.ClaimToken).Delete(&idempotencyRow{}).Error; err != nil {
			return idempotency.Record{}, false, dbError(op, err)
		}
	}
	// Three rounds lost to concurrent requests on one key: let the client retry.
	return idempotency.Record{}, false, fmt.Errorf("%s: contended: %w", op, domain.ErrUnavailable)
}

// Complete stores res as the outcome of the claim owner holds on key. A claim
// that no longer exists, belongs to another request or is already complete is
// domain.ErrNotFound.
func (s *IdempotencyStore) Complete(ctx context.Context, key idempotency.Key, owner string, res idempotency.Response) error {
	header := res.Header
	if header == nil {
		header = http.Header{}
	}
	headers, err := json.Marshal(header)
	if err != nil {
		return err
	}
	body := res.Body
	if body == nil {
		body = []byte{}
	}
	now := dbTime(time.Now())
	tx := whereKey(s.db.Gorm.WithContext(ctx).Model(&idempotencyRow{}), key).
		Where("claim_token = ? AND completed_at IS NULL", owner).
		Updates(map[string]any{"completed_at": now, "status": res.Status, "headers": string(headers), "body": body})
	if tx.Error != nil {
		return dbError("complete idempotency key", tx.Error)
	}
	if tx.RowsAffected == 0 {
		return fmt.Errorf("complete idempotency key: the claim was lost: %w", domain.ErrNotFound)
	}
	return nil
}

// Release deletes the running claim owner holds on key. A claim that is gone or
// belongs to another request is left alone, without error.
func (s *IdempotencyStore) Release(ctx context.Context, key idempotency.Key, owner string) error {
	err := whereKey(s.db.Gorm.WithContext(ctx), key).
		Where("claim_token = ? AND completed_at IS NULL", owner).
		Delete(&idempotencyRow{}).Error
	return dbError("release idempotency key", err)
}

// DeleteExpired deletes the records that expired at or before now and returns
// how many it deleted. Expired records are already ignored by Claim; this only
// reclaims their space. Run it periodically (hourly is plenty).
func (s *IdempotencyStore) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	tx := s.db.Gorm.WithContext(ctx).Where("expires_at <= ?", dbTime(now)).Delete(&idempotencyRow{})
	if tx.Error != nil {
		return 0, dbError("delete expired idempotency records", tx.Error)
	}
	return tx.RowsAffected, nil
}
