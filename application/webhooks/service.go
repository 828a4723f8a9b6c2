// Package webhooks holds the use cases of the webhooks Dashtam sends to its
// clients' own servers (EVENTS.md, "Webhooks to the client's own server";
// docs/webhooks.md): a user's endpoints (CRUD, a signing secret shown once,
// its rotation), the fan-out of the event log into deliveries, and each
// delivery's attempts (Standard Webhooks signatures, retries on a schedule,
// 410 Gone disabling the endpoint).
//
// Fan-out is a dispatcher, not a write in every event's transaction: it
// reads the events after a stored mark and, in one transaction, stores the
// deliveries of the matching endpoints, enqueues their jobs and moves the
// mark. Event ids are handed out in commit order, so "after the mark" misses
// nothing, and a delivery is unique per (endpoint, event), so nothing is
// sent twice. The write path of every store stays as it is, at the cost of
// up to DispatchInterval of latency.
package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/webhook"
)

// Defaults of Config.
const (
	DefaultMaxEndpointsPerUser = 10
	DefaultDispatchBatch       = 500
	DefaultDispatchInterval    = time.Second
	// MaxPageSize is the largest page of the endpoint and delivery lists.
	MaxPageSize = 100
	// maxRetryAfter bounds how long a Retry-After may postpone an attempt.
	maxRetryAfter = 24 * time.Hour
)

// DefaultSchedule is the Standard Webhooks example schedule: after the
// first attempt (immediately) fails, the next ones come after these delays,
// eight attempts over about 27 hours, each delay with jitter.
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

var (
	// ErrTooManyEndpoints: the user has as many endpoints as allowed.
	ErrTooManyEndpoints = fmt.Errorf("too many webhook endpoints: %w", domain.ErrConflict)
	// ErrDeliveryPending: a retry was asked of a delivery still being
	// attempted.
	ErrDeliveryPending = fmt.Errorf("the delivery is still being attempted: %w", domain.ErrConflict)
)

// Config tunes the service.
type Config struct {
	// MaxEndpointsPerUser bounds each user's endpoints.
	MaxEndpointsPerUser int
	// Schedule are the delays before each retry (len+1 attempts in all).
	Schedule []time.Duration
	// Jitter spreads a delay (default: uniformly within ±10%).
	Jitter func(time.Duration) time.Duration
	// DispatchBatch is how many events one dispatch reads at most.
	DispatchBatch int
}

// Deps are the service's ports.
type Deps struct {
	Endpoints  Endpoints
	Deliveries Deliveries
	Events     EventPosition
	Guard      URLGuard
	Sender     Sender
	Clock      Clock
	Log        *slog.Logger
	// Render is how an event's data reads to clients (the HTTP adapter's
	// EventData: a transactions.changed event carries the changes feed's
	// cursor, as GET /events shows it); nil sends the data as stored.
	Render func(event.Logged) json.RawMessage
}

// Service implements the webhook use cases.
type Service struct {
	d   Deps
	cfg Config
}

// New builds the service, filling cfg's zero fields with the defaults.
func New(d Deps, cfg Config) *Service {
	if cfg.MaxEndpointsPerUser <= 0 {
		cfg.MaxEndpointsPerUser = DefaultMaxEndpointsPerUser
	}
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Jitter == nil {
		cfg.Jitter = jitter
	}
	if cfg.DispatchBatch <= 0 {
		cfg.DispatchBatch = DefaultDispatchBatch
	}
	return &Service{d: d, cfg: cfg}
}

// jitter returns d give or take up to 10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 5
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread+1)) //nolint:gosec // jitter, not a secret
}

// Precondition is the versions of an endpoint (If-Match) a change accepts;
// nil accepts any.
type Precondition []int64

func (pc Precondition) check(e *webhook.Endpoint) error {
	if pc != nil && !slices.Contains(pc, e.Version()) {
		return fmt.Errorf("webhook endpoint %s is at version %d: %w", e.ID(), e.Version(), domain.ErrPreconditionFailed)
	}
	return nil
}

// CreateInput is a new endpoint.
type CreateInput struct {
	URL         string
	EventTypes  []string
	Description string
}

// Created is a new endpoint with its secret, which is shown this once.
type Created struct {
	Endpoint *webhook.Endpoint
	Secret   webhook.Secret
}

// Create registers an endpoint for userID. Its URL must pass the guard (a
// validation error on url saying why otherwise); a user has at most
// MaxEndpointsPerUser (ErrTooManyEndpoints).
func (s *Service) Create(ctx context.Context, userID uuid.UUID, in CreateInput) (Created, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return Created{}, err
	}
	after, err := s.d.Events.LastEventID(ctx)
	if err != nil {
		return Created{}, err
	}
	e, err := webhook.NewEndpoint(uuid.Must(uuid.NewV7()), userID, in.URL, in.EventTypes, in.Description, secret, after, s.d.Clock.Now())
	if err != nil {
		return Created{}, err
	}
	if err := s.checkURL(ctx, e.URL()); err != nil {
		return Created{}, err
	}
	if err := s.d.Endpoints.CreateEndpoint(ctx, e, s.cfg.MaxEndpointsPerUser); err != nil {
		return Created{}, err
	}
	s.d.Log.InfoContext(ctx, "webhook endpoint created", "endpoint_id", e.ID().String(), "user_id", userID.String())
	return Created{Endpoint: e, Secret: secret}, nil
}

// checkURL asks the guard about u, reporting a refusal as url's validation
// error.
func (s *Service) checkURL(ctx context.Context, u string) error {
	if err := s.d.Guard.CheckURL(ctx, u); err != nil {
		return domain.NewValidationError("url", "destination_refused", "This URL may not receive webhooks: "+err.Error()+".")
	}
	return nil
}

// Get returns one of userID's endpoints; another's is domain.ErrNotFound.
func (s *Service) Get(ctx context.Context, userID, id uuid.UUID) (*webhook.Endpoint, error) {
	e, err := s.d.Endpoints.EndpointByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.UserID() != userID {
		return nil, notFound(id)
	}
	return e, nil
}

func notFound(id uuid.UUID) error {
	return fmt.Errorf("webhook endpoint %s: %w", id, domain.ErrNotFound)
}

// owned checks, under the store's lock, that e is userID's and at an
// accepted version.
func owned(userID uuid.UUID, pc Precondition, e *webhook.Endpoint) error {
	if e.UserID() != userID {
		return notFound(e.ID())
	}
	return pc.check(e)
}

// Page is one page of a list.
type Page[T any] struct {
	Items   []T
	HasMore bool
}

// List returns at most limit of userID's endpoints after the id after
// (uuid.Nil: from the first), in order of id.
func (s *Service) List(ctx context.Context, userID, after uuid.UUID, limit int) (Page[*webhook.Endpoint], error) {
	if err := checkLimit(limit); err != nil {
		return Page[*webhook.Endpoint]{}, err
	}
	es, err := s.d.Endpoints.ListEndpoints(ctx, userID, after, limit+1)
	if err != nil {
		return Page[*webhook.Endpoint]{}, err
	}
	return pageOf(es, limit), nil
}

func checkLimit(limit int) error {
	if limit < 1 || limit > MaxPageSize {
		return domain.NewValidationError("limit", "out_of_range", fmt.Sprintf("Page size must be between 1 and %d.", MaxPageSize))
	}
	return nil
}

func pageOf[T any](items []T, limit int) Page[T] {
	if len(items) > limit {
		return Page[T]{Items: items[:limit], HasMore: true}
	}
	return Page[T]{Items: items}
}

// Update changes one of userID's endpoints. A new URL must pass the guard.
func (s *Service) Update(ctx context.Context, userID, id uuid.UUID, p webhook.Patch, pc Precondition) (*webhook.Endpoint, error) {
	if p.URL != nil {
		u, err := webhook.ParseURL(*p.URL)
		if err != nil {
			return nil, err
		}
		if err := s.checkURL(ctx, u); err != nil {
			return nil, err
		}
	}
	now := s.d.Clock.Now()
	return s.d.Endpoints.UpdateEndpoint(ctx, id, func(e *webhook.Endpoint) error {
		if err := owned(userID, pc, e); err != nil {
			return err
		}
		return e.Apply(p, now)
	})
}

// Delete removes one of userID's endpoints and its deliveries.
func (s *Service) Delete(ctx context.Context, userID, id uuid.UUID, pc Precondition) error {
	return s.d.Endpoints.DeleteEndpoint(ctx, id, func(e *webhook.Endpoint) error { return owned(userID, pc, e) })
}

// RotateSecret gives one of userID's endpoints a new secret, returned this
// once; the previous one keeps signing for webhook.RotationOverlap.
func (s *Service) RotateSecret(ctx context.Context, userID, id uuid.UUID) (Created, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return Created{}, err
	}
	now := s.d.Clock.Now()
	e, err := s.d.Endpoints.UpdateEndpoint(ctx, id, func(e *webhook.Endpoint) error {
		if err := owned(userID, nil, e); err != nil {
			return err
		}
		e.Rotate(secret, now)
		return nil
	})
	if err != nil {
		return Created{}, err
	}
	s.d.Log.InfoContext(ctx, "webhook endpoint secret rotated", "endpoint_id", id.String())
	return Created{Endpoint: e, Secret: secret}, nil
}

// Deliveries returns at most limit of the deliveries to one of userID's
// endpoints, newest first, with event ids below before (0: the newest).
func (s *Service) Deliveries(ctx context.Context, userID, endpointID uuid.UUID, before int64, limit int) (Page[Delivery], error) {
	if err := checkLimit(limit); err != nil {
		return Page[Delivery]{}, err
	}
	if _, err := s.Get(ctx, userID, endpointID); err != nil {
		return Page[Delivery]{}, err
	}
	ds, err := s.d.Deliveries.ListDeliveries(ctx, endpointID, before, limit+1)
	if err != nil {
		return Page[Delivery]{}, err
	}
	return pageOf(ds, limit), nil
}

// Retry makes one more attempt of a finished delivery (delivered or
// failed) to one of userID's endpoints, now; if it fails, the delivery is
// failed again (no further schedule). A pending one is ErrDeliveryPending.
func (s *Service) Retry(ctx context.Context, userID, endpointID, deliveryID uuid.UUID) (Delivery, error) {
	e, err := s.Get(ctx, userID, endpointID)
	if err != nil {
		return Delivery{}, err
	}
	if !e.Enabled() {
		return Delivery{}, fmt.Errorf("webhook endpoint %s is disabled: %w", e.ID(), domain.ErrConflict)
	}
	now := s.d.Clock.Now()
	return s.d.Deliveries.UpdateDelivery(ctx, deliveryID, func(d *Delivery) error {
		if d.EndpointID != endpointID {
			return fmt.Errorf("webhook delivery %s: %w", deliveryID, domain.ErrNotFound)
		}
		if d.Status == Pending {
			return ErrDeliveryPending
		}
		d.Status, d.MaxAttempts, d.NextAttemptAt = Pending, d.Attempts+1, now
		return nil
	}, DeliverJob{DeliveryID: deliveryID})
}

// Dispatch fans the events written since the last dispatch out into
// deliveries, each with its job, and returns how many events it read.
func (s *Service) Dispatch(ctx context.Context) (int, error) {
	now := s.d.Clock.Now()
	return s.d.Deliveries.Dispatch(ctx, s.cfg.DispatchBatch, func(evs []event.Logged, eps []*webhook.Endpoint) []Delivery {
		var out []Delivery
		for _, ev := range evs {
			for _, ep := range eps {
				if !ep.Wants(ev) {
					continue
				}
				out = append(out, Delivery{ID: uuid.Must(uuid.NewV7()), EndpointID: ep.ID(), EventID: ev.ID, EventType: ev.Type,
					Payload: s.payload(ev), Status: Pending, MaxAttempts: len(s.cfg.Schedule) + 1, NextAttemptAt: now, CreatedAt: now})
			}
		}
		return out
	}, func(d Delivery) jobs.Job { return DeliverJob{DeliveryID: d.ID} })
}

// RunDispatcher dispatches every interval (at once again while a batch was
// full) until ctx ends. wait pauses (a clock's Sleep).
func (s *Service) RunDispatcher(ctx context.Context, interval time.Duration, wait func(context.Context, time.Duration) error) {
	for {
		n, err := s.Dispatch(ctx)
		if err != nil && ctx.Err() == nil {
			s.d.Log.WarnContext(ctx, "webhook dispatch failed", "error", err.Error())
		}
		if err == nil && n >= s.cfg.DispatchBatch {
			continue
		}
		if err := wait(ctx, interval); err != nil || ctx.Err() != nil {
			return
		}
	}
}

// payload is the body of an event's deliveries: {type, timestamp, data},
// the data as clients read it everywhere (Deps.Render).
func (s *Service) payload(ev event.Logged) []byte {
	data := json.RawMessage(ev.Data)
	if s.d.Render != nil {
		data = s.d.Render(ev)
	}
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{ev.Type.String(), ev.OccurredAt.UTC().Format(time.RFC3339Nano), data})
	if err != nil { // stored data that is not JSON: send none rather than nothing
		b, _ = json.Marshal(map[string]any{"type": ev.Type.String(), "timestamp": ev.OccurredAt.UTC().Format(time.RFC3339Nano), "data": map[string]any{}})
	}
	return b
}

// Deliver is the worker of DeliverJob: it makes the delivery's due attempt
// and records it. A failed attempt with another due returns a
// *jobs.RetryAfter for the delay until then, so the job engine runs it
// again then; a delivery that is not pending (or no longer exists) is left
// alone. Only failures of our own store are errors.
func (s *Service) Deliver(ctx context.Context, job DeliverJob) error {
	d, err := s.d.Deliveries.DeliveryByID(ctx, job.DeliveryID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Status != Pending {
		return nil
	}
	now := s.d.Clock.Now()
	if d.NextAttemptAt.After(now) { // run early (rescued, or enqueued again): wait for the attempt's time
		return &jobs.RetryAfter{Delay: d.NextAttemptAt.Sub(now)}
	}
	e, err := s.d.Endpoints.EndpointByID(ctx, d.EndpointID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !e.Enabled() {
		d.Status, d.NextAttemptAt, d.LastError = Failed, time.Time{}, "endpoint disabled ("+e.DisabledReason()+")"
		return s.d.Deliveries.RecordAttempt(ctx, d, nil)
	}
	resp, sendErr := s.d.Sender.Send(ctx, s.request(e, d, now))
	delay, gone := s.judge(&d, resp, sendErr, now)
	var disabled string
	// The endpoint, under its lock: 410 disables it; a success ends its
	// failing period; a failure starts one, or disables it when it has
	// lasted FailingDisableAfter.
	if err := s.d.Deliveries.RecordAttempt(ctx, d, func(ep *webhook.Endpoint) bool {
		var changed bool
		switch {
		case gone:
			ep.Disable(webhook.DisabledGone, now)
			changed = true
		case d.Status == Delivered:
			changed = ep.AttemptSucceeded(now)
		default:
			changed = ep.AttemptFailed(now)
		}
		if !ep.Enabled() {
			disabled = ep.DisabledReason()
		}
		return changed
	}); err != nil {
		return err
	}
	s.d.Log.InfoContext(ctx, "webhook delivery attempted", "delivery_id", d.ID.String(), "endpoint_id", e.ID().String(),
		"event_id", d.EventID, "attempt", d.Attempts, "status", string(d.Status), "status_code", d.LastStatusCode, "reason", d.LastError)
	if disabled != "" {
		s.d.Log.WarnContext(ctx, "webhook endpoint disabled", "endpoint_id", e.ID().String(), "reason", disabled)
	}
	if d.Status == Pending {
		return &jobs.RetryAfter{Delay: delay}
	}
	return nil
}

// request is the attempt of d to e at now, signed with every secret that
// signs then.
func (s *Service) request(e *webhook.Endpoint, d Delivery, now time.Time) Request {
	id := strconv.FormatInt(d.EventID, 10)
	return Request{URL: e.URL(), Body: d.Payload, Header: map[string]string{
		"Content-Type":          "application/json",
		webhook.HeaderID:        id,
		webhook.HeaderTimestamp: strconv.FormatInt(now.Unix(), 10),
		webhook.HeaderSignature: webhook.Sign(e.SigningSecrets(now), id, now, d.Payload),
	}}
}

// judge records the attempt's outcome in d and returns the delay before the
// next attempt (when d stays pending) and whether the client's server said
// the endpoint is gone (410).
func (s *Service) judge(d *Delivery, resp Response, sendErr error, now time.Time) (time.Duration, bool) {
	d.Attempts++
	d.LastAttemptAt, d.LastStatusCode, d.LastError, d.NextAttemptAt = now, resp.StatusCode, "", time.Time{}
	code := resp.StatusCode
	switch {
	case sendErr != nil:
		d.LastStatusCode, d.LastError = 0, sendErr.Error()
	case code >= 200 && code < 300:
		d.Status = Delivered
		return 0, false
	case code == 410:
		d.Status, d.LastError = Failed, "410 Gone: endpoint disabled"
		return 0, true
	case code >= 300 && code < 400:
		d.LastError = fmt.Sprintf("redirect (%d) not followed", code)
	default:
		d.LastError = fmt.Sprintf("HTTP %d", code)
	}
	if d.Attempts >= d.MaxAttempts {
		d.Status = Failed
		return 0, false
	}
	step := min(d.Attempts-1, len(s.cfg.Schedule)-1)
	delay := time.Duration(0)
	if step >= 0 {
		delay = s.cfg.Jitter(s.cfg.Schedule[step])
	}
	delay = max(delay, min(resp.RetryAfter, maxRetryAfter))
	d.Status, d.NextAttemptAt = Pending, now.Add(delay)
	return delay, false
}
