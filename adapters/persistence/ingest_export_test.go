package persistence

import (
	"context"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/dashtam/dashtam/domain/finance"
)

// UpsertTransactionsInBatches is the yardstick of an initial sync's ingest:
// the rows of ts, at consecutive positions of userID's feed from first,
// upserted on their key by multi-row statements of batch rows, a transaction
// per statement, and nothing else: no lock, no load, no closure, no feed
// counter, no resume state.
func UpsertTransactionsInBatches(ctx context.Context, db *DB, userID uuid.UUID, ts []*finance.Transaction, first int64, batch int) error {
	rows := make([]transactionRow, len(ts))
	for i, t := range ts {
		var err error
		if rows[i], err = transactionFromDomain(t, userID, first+int64(i), first+int64(i)); err != nil {
			return err
		}
	}
	upsert := clause.OnConflict{
		Columns:   []clause.Column{{Name: "account_id"}, {Name: "institution_transaction_id"}},
		UpdateAll: true,
	}
	for start := 0; start < len(rows); start += batch {
		chunk := rows[start:min(start+batch, len(rows))]
		err := db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return tx.Clauses(upsert).Create(&chunk).Error
		})
		if err != nil {
			return err
		}
	}
	return nil
}
