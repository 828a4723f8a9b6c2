// Package jobs is the background-work port of the use cases: a job is a value
// with a kind, enqueued durably and worked later, once, by the worker
// registered for its kind, on whichever instance claims it.
//
// A job is enqueued in the transaction of the change that calls for it, so
// both commit or neither does: the store that owns the change's transaction
// enqueues it there (see persistence.JobQueue). Enqueuer is for a job that
// stands alone, such as a manual trigger that changes nothing else.
package jobs

import (
	"context"
	"fmt"
	"time"
)

// Job is one piece of background work. Kind names the worker that does it and
// must not change while jobs of it may still be queued. The value's exported
// fields, as JSON, are the job's arguments: identifiers, never secrets or whole
// entities, since a job may wait in the queue and run on another instance.
// Workers must be idempotent: a job retried after a failure, or rescued after
// its instance died, may run again.
type Job interface {
	Kind() string
}

// SingleFlight is a Job of which one at a time is enough: enqueueing one while
// a job of the same kind and arguments is queued or running joins that job
// instead of adding another. Once the first has finished, a new one is added.
// A provider's sync is the example: its arguments name the provider.
type SingleFlight interface {
	Job
	SingleFlight()
}

// Enqueuer enqueues a job in a transaction of its own. joined is true when a
// SingleFlight job joined one already queued or running.
type Enqueuer interface {
	Enqueue(ctx context.Context, job Job) (joined bool, err error)
}

// RetryAfter is a job's answer that it cannot go on yet, and is not failing
// either (an institution asked us to slow down): the engine runs it again
// after Delay without counting a failed attempt. Workers return it wrapped or
// not; the engine finds it with errors.As.
type RetryAfter struct {
	Delay time.Duration
}

func (e *RetryAfter) Error() string { return fmt.Sprintf("job postponed by %s", e.Delay) }
