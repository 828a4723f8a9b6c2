package memory

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/dashtam/dashtam/application/jobs"
)

var _ jobs.Enqueuer = (*JobQueue)(nil)

// JobQueue is an in-memory job queue: stores enqueue into it, as the SQL
// stores enqueue into the job engine in their transactions, and a test takes
// the queued jobs with Take and runs them itself, when it chooses. A
// jobs.SingleFlight job joins a queued one of the same kind and arguments.
type JobQueue struct {
	mu     sync.Mutex
	queued []jobs.Job
}

// Enqueue queues job, or joins a queued one if job is SingleFlight.
func (q *JobQueue) Enqueue(_ context.Context, job jobs.Job) (joined bool, err error) {
	args, err := json.Marshal(job)
	if err != nil {
		return false, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, single := job.(jobs.SingleFlight); single {
		for _, queued := range q.queued {
			other, _ := json.Marshal(queued)
			if queued.Kind() == job.Kind() && string(other) == string(args) {
				return true, nil
			}
		}
	}
	q.queued = append(q.queued, job)
	return false, nil
}

// Take removes and returns every queued job, oldest first.
func (q *JobQueue) Take() []jobs.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	taken := slices.Clone(q.queued)
	q.queued = nil
	return taken
}
