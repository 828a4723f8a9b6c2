package persistence

import (
	"context"

	"gorm.io/gorm"

	"github.com/dashtam/dashtam/application/jobs"
)

// ChangeWithJob enqueues job on queue and then runs change, in one
// transaction, as a store's closure update does: change's error rolls both
// back.
func ChangeWithJob(ctx context.Context, db *DB, queue JobQueue, job jobs.Job, change func(tx *gorm.DB) error) error {
	return db.inTx(ctx, "change with job", func(tx *gorm.DB) error {
		if _, err := enqueueTx(ctx, queue, tx, job); err != nil {
			return err
		}
		return fromCaller(change(tx))
	})
}
