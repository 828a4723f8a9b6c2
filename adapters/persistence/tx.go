package persistence

import (
	"context"
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The closure updates of every store (UpdateUser, UpdateProvider,
// UpdateAuthorization ...) share one shape: open a transaction, load the rows
// under their locks, call the caller's closure, save what it changed, commit.
// inTx and lockRow are that shape's two halves, so each store method is left
// with what is particular to it.

// callerError carries an error returned by a caller's closure through the
// transaction, so that inTx hands it back as it is rather than as a database
// error.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// fromCaller marks err, returned by a caller's closure, to roll the transaction
// back and reach the caller unchanged. A nil err stays nil.
func fromCaller(err error) error {
	if err == nil {
		return nil
	}
	return &callerError{err: err}
}

// inTx runs body in one transaction and commits it when body returns nil. An
// error body marked with fromCaller rolls back and is returned as it is; any
// other error rolls back and goes through dbError with op and keys.
func (db *DB) inTx(ctx context.Context, op string, body func(tx *gorm.DB) error, keys ...uniqueKey) error {
	err := db.Gorm.WithContext(ctx).Transaction(body)
	if ce, ok := errors.AsType[*callerError](err); ok {
		return ce.err
	}
	return dbError(op, err, keys...)
}

// lockRow loads into dest the row that matches query, locked until the
// transaction ends: SELECT ... FOR UPDATE on Postgres. SQLite has no FOR UPDATE;
// there the connection begins every transaction IMMEDIATE, which already holds
// the database's single write lock. No row is gorm.ErrRecordNotFound.
func (db *DB) lockRow(tx *gorm.DB, dest any, query string, args ...any) error {
	if db.Dialect == Postgres {
		tx = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	return tx.Where(query, args...).Take(dest).Error
}

// lockRows loads into dest (a slice) the rows that match query, in order of
// id, locked until the transaction ends, as lockRow does: taken in one order,
// the locks of two writers cannot deadlock. No row is no error.
func (db *DB) lockRows(tx *gorm.DB, dest any, query string, args ...any) error {
	if db.Dialect == Postgres {
		tx = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	return tx.Where(query, args...).Order("id").Find(dest).Error
}
