package webhooks

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/webhook"
)

// Status is where a delivery stands.
type Status string

// Delivery statuses.
const (
	// Pending: an attempt is due at NextAttemptAt.
	Pending Status = "pending"
	// Delivered: the client's server answered 2xx.
	Delivered Status = "delivered"
	// Failed: the last attempt failed and no other is due (the schedule
	// ran out, the server answered 410 Gone, or the endpoint was disabled).
	Failed Status = "failed"
)

// Delivery is one event to one endpoint, and how its attempts went.
type Delivery struct {
	ID         uuid.UUID
	EndpointID uuid.UUID
	EventID    int64
	EventType  event.Type
	// Payload is the body every attempt sends: {type, timestamp, data}.
	Payload     []byte
	Status      Status
	Attempts    int
	MaxAttempts int
	// NextAttemptAt is when the next attempt is due (zero unless pending).
	NextAttemptAt time.Time
	LastAttemptAt time.Time
	// LastStatusCode is the newest attempt's HTTP status (0: no answer).
	LastStatusCode int
	// LastError is why the newest attempt failed (empty when it did not).
	LastError string
	CreatedAt time.Time
}

// DeliverJob makes the due attempt of one delivery (Service.Deliver).
type DeliverJob struct {
	DeliveryID uuid.UUID `json:"delivery_id"`
}

// Kind names the job's worker.
func (DeliverJob) Kind() string { return "webhook_delivery" }

// SingleFlight: one job per delivery at a time.
func (DeliverJob) SingleFlight() {}

// Endpoints stores endpoints. Ownership is the use cases' to check.
type Endpoints interface {
	// CreateEndpoint stores e, unless its owner already has max endpoints
	// (ErrTooManyEndpoints).
	CreateEndpoint(ctx context.Context, e *webhook.Endpoint, max int) error
	// EndpointByID returns the endpoint, or domain.ErrNotFound.
	EndpointByID(ctx context.Context, id uuid.UUID) (*webhook.Endpoint, error)
	// ListEndpoints returns at most limit of userID's endpoints with ids
	// above after, ascending by id.
	ListEndpoints(ctx context.Context, userID, after uuid.UUID, limit int) ([]*webhook.Endpoint, error)
	// UpdateEndpoint runs fn on the endpoint under its lock and saves what
	// it changed when fn returns nil; it returns the endpoint as saved.
	UpdateEndpoint(ctx context.Context, id uuid.UUID, fn func(*webhook.Endpoint) error) (*webhook.Endpoint, error)
	// DeleteEndpoint runs fn on the endpoint under its lock and deletes it
	// (and its deliveries) when fn returns nil.
	DeleteEndpoint(ctx context.Context, id uuid.UUID, fn func(*webhook.Endpoint) error) error
}

// Deliveries stores deliveries and fans events out into them.
type Deliveries interface {
	// Dispatch reads at most limit events after the dispatch mark, asks
	// plan for their deliveries (given the enabled endpoints of their
	// users), stores each (once per endpoint and event) with job(it)
	// enqueued, and moves the mark past the events read, all in one
	// transaction. It returns how many events it read.
	Dispatch(ctx context.Context, limit int, plan func([]event.Logged, []*webhook.Endpoint) []Delivery,
		job func(Delivery) jobs.Job) (int, error)
	// DeliveryByID returns the delivery, or domain.ErrNotFound.
	DeliveryByID(ctx context.Context, id uuid.UUID) (Delivery, error)
	// ListDeliveries returns at most limit of the endpoint's deliveries
	// with event ids below before (0: from the newest), newest first.
	ListDeliveries(ctx context.Context, endpointID uuid.UUID, before int64, limit int) ([]Delivery, error)
	// RecordAttempt saves d's attempt (status, attempts, next and last
	// attempt) if d is still pending and, in the same transaction, runs
	// endpoint (when not nil) on its endpoint under the endpoint's lock,
	// saving the endpoint, with the events it recorded, when endpoint
	// reports a change.
	RecordAttempt(ctx context.Context, d Delivery, endpoint func(*webhook.Endpoint) bool) error
	// UpdateDelivery runs fn on the delivery under its lock, saves it when
	// fn returns nil and enqueues job in the same transaction; it returns
	// the delivery as saved.
	UpdateDelivery(ctx context.Context, id uuid.UUID, fn func(*Delivery) error, job jobs.Job) (Delivery, error)
}

// EventPosition tells the newest event's id.
type EventPosition interface {
	LastEventID(ctx context.Context) (int64, error)
}

// URLGuard decides whether a URL may be registered: in production https
// only, and never a host that is or resolves to a loopback, private,
// link-local, metadata or otherwise internal address. Its error says why
// (no secret in it).
type URLGuard interface {
	CheckURL(ctx context.Context, rawURL string) error
}

// Request is one attempt as sent.
type Request struct {
	URL    string
	Header map[string]string
	Body   []byte
}

// Response is the client's server's answer to an attempt.
type Response struct {
	StatusCode int
	// RetryAfter is the answer's Retry-After (zero when absent).
	RetryAfter time.Duration
}

// Sender makes one attempt: a POST, with a timeout, refusing to dial an
// address the policy forbids (checked on the resolved address, whatever the
// URL said at registration), following no redirect (a 3xx is returned as
// the answer) and reading a bounded part of the answer. An error means no
// answer: its message is the reason the delivery log shows.
type Sender interface {
	Send(ctx context.Context, r Request) (Response, error)
}

// Clock tells the time.
type Clock interface{ Now() time.Time }
