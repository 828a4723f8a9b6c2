package persistence

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/dashtam/dashtam/application/jobs"
)

// JobQueue enqueues a job inside a transaction a store opened, so that the job
// and the change that calls for it commit together or not at all. The job
// engine (adapters/jobs) implements it.
type JobQueue interface {
	EnqueueTx(ctx context.Context, tx *sql.Tx, job jobs.Job) (joined bool, err error)
}

// JobStore enqueues jobs that stand alone (jobs.Enqueuer). A store whose change
// calls for a job takes the JobQueue too, and calls enqueueTx inside the
// transaction of its closure update.
type JobStore struct {
	db    *DB
	queue JobQueue
}

// NewJobStore returns a JobStore enqueueing on queue.
func NewJobStore(db *DB, queue JobQueue) *JobStore {
	return &JobStore{db: db, queue: queue}
}

// Enqueue enqueues job in a transaction of its own.
func (s *JobStore) Enqueue(ctx context.Context, job jobs.Job) (joined bool, err error) {
	err = s.db.inTx(ctx, "enqueue job", func(tx *gorm.DB) error {
		joined, err = enqueueTx(ctx, s.queue, tx, job)
		return err
	})
	return joined, err
}

// enqueueTx enqueues job on queue in tx, an open GORM transaction, whose
// connection is the *sql.Tx the queue inserts with.
func enqueueTx(ctx context.Context, queue JobQueue, tx *gorm.DB, job jobs.Job) (joined bool, err error) {
	sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
	if !ok {
		return false, fmt.Errorf("enqueue %s: not in a transaction", job.Kind())
	}
	return queue.EnqueueTx(ctx, sqlTx, job)
}
