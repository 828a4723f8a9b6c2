// Package webhook holds the webhooks Dashtam sends to its clients' own
// servers (EVENTS.md, "Webhooks to the client's own server"): an Endpoint (a
// user's URL, the event types it wants, its signing secrets) and the
// Standard Webhooks signature of what is sent to it.
package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

// Limits of an endpoint's fields.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 200
	// RotationOverlap is how long the previous secret keeps signing after a
	// rotation, so a client can deploy the new one.
	RotationOverlap = 24 * time.Hour
)

// Reasons an endpoint was disabled (DisabledReason).
const (
	DisabledByUser = "disabled_by_user"
	// DisabledGone: the client's server answered 410 Gone.
	DisabledGone = "gone"
	// DisabledFailing: every attempt failed for FailingDisableAfter.
	DisabledFailing = "failing"
)

// FailingDisableAfter is how long an endpoint's attempts may keep failing,
// with no delivery succeeding, before it is disabled: about three days,
// longer than one delivery's whole retry schedule, so that one bad event
// never disables an endpoint but a server that is gone for days does.
const FailingDisableAfter = 72 * time.Hour

// Endpoint is where a user's events are delivered. Its fields are
// unexported: NewEndpoint validates, RehydrateEndpoint rebuilds from storage,
// the methods change it.
type Endpoint struct {
	id, userID     uuid.UUID
	url            string
	eventTypes     []event.Type
	description    string
	enabled        bool
	disabledReason string
	secret         Secret
	previous       Secret
	previousUntil  time.Time
	afterEventID   int64
	// failingSince is the first failed attempt since the last delivery that
	// succeeded (zero while none has failed since).
	failingSince time.Time
	version      int64
	createdAt    time.Time
	updatedAt    time.Time
	events       event.Recorder
}

// NewEndpoint validates and builds an enabled endpoint that receives the
// events after afterEventID (the newest event when it is created), signed
// with secret.
func NewEndpoint(id, userID uuid.UUID, rawURL string, types []string, description string, secret Secret, afterEventID int64, now time.Time) (*Endpoint, error) {
	v := &domain.ValidationError{}
	u, err := ParseURL(rawURL)
	v.Merge(err)
	ts, err := ParseEventTypes(types)
	v.Merge(err)
	v.Merge(checkDescription(description))
	if err := v.OrNil(); err != nil {
		return nil, err
	}
	if secret.IsZero() {
		return nil, errors.New("webhook endpoint: no secret")
	}
	return &Endpoint{id: id, userID: userID, url: u, eventTypes: ts, description: description, enabled: true,
		secret: secret, afterEventID: afterEventID, version: 1, createdAt: now, updatedAt: now}, nil
}

// EndpointSnapshot is an endpoint as storage holds it.
type EndpointSnapshot struct {
	ID, UserID     uuid.UUID
	URL            string
	EventTypes     []event.Type
	Description    string
	Enabled        bool
	DisabledReason string
	Secret         Secret
	Previous       Secret
	PreviousUntil  time.Time
	AfterEventID   int64
	FailingSince   time.Time
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// RehydrateEndpoint rebuilds an endpoint from storage, unvalidated.
func RehydrateEndpoint(s EndpointSnapshot) *Endpoint {
	return &Endpoint{id: s.ID, userID: s.UserID, url: s.URL, eventTypes: s.EventTypes, description: s.Description,
		enabled: s.Enabled, disabledReason: s.DisabledReason, secret: s.Secret, previous: s.Previous,
		previousUntil: s.PreviousUntil, afterEventID: s.AfterEventID, failingSince: s.FailingSince, version: s.Version,
		createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
}

// Snapshot returns the endpoint as storage keeps it.
func (e *Endpoint) Snapshot() EndpointSnapshot {
	return EndpointSnapshot{ID: e.id, UserID: e.userID, URL: e.url, EventTypes: slices.Clone(e.eventTypes), Description: e.description,
		Enabled: e.enabled, DisabledReason: e.disabledReason, Secret: e.secret, Previous: e.previous, PreviousUntil: e.previousUntil,
		AfterEventID: e.afterEventID, FailingSince: e.failingSince, Version: e.version, CreatedAt: e.createdAt, UpdatedAt: e.updatedAt}
}

// ID returns the endpoint's id.
func (e *Endpoint) ID() uuid.UUID { return e.id }

// UserID returns its owner.
func (e *Endpoint) UserID() uuid.UUID { return e.userID }

// URL returns where deliveries go.
func (e *Endpoint) URL() string { return e.url }

// EventTypes returns the types it receives.
func (e *Endpoint) EventTypes() []event.Type { return slices.Clone(e.eventTypes) }

// Description returns the owner's note.
func (e *Endpoint) Description() string { return e.description }

// Enabled reports whether deliveries are made to it.
func (e *Endpoint) Enabled() bool { return e.enabled }

// DisabledReason says why it is disabled (empty while enabled).
func (e *Endpoint) DisabledReason() string { return e.disabledReason }

// AfterEventID is the newest event id when it was created.
func (e *Endpoint) AfterEventID() int64 { return e.afterEventID }

// Version grows with every change (its ETag).
func (e *Endpoint) Version() int64 { return e.version }

// CreatedAt returns when it was created.
func (e *Endpoint) CreatedAt() time.Time { return e.createdAt }

// UpdatedAt returns when it last changed.
func (e *Endpoint) UpdatedAt() time.Time { return e.updatedAt }

// Secret returns the current signing secret.
func (e *Endpoint) Secret() Secret { return e.secret }

// PreviousSecret returns the secret replaced by the last rotation and until
// when it signs (zero when none does).
func (e *Endpoint) PreviousSecret() (Secret, time.Time) { return e.previous, e.previousUntil }

// SigningSecrets returns the secrets that sign a delivery made at now: the
// current one, and the previous one while its overlap lasts.
func (e *Endpoint) SigningSecrets(now time.Time) []Secret {
	out := []Secret{e.secret}
	if !e.previous.IsZero() && now.Before(e.previousUntil) {
		out = append(out, e.previous)
	}
	return out
}

// Wants reports whether the endpoint, enabled, receives event ev: one of
// its types, after it was created.
func (e *Endpoint) Wants(ev event.Logged) bool {
	return e.enabled && ev.ID > e.afterEventID && ev.UserID == e.userID && slices.Contains(e.eventTypes, ev.Type)
}

// Patch is a change of an endpoint's mutable fields; nil fields stay.
type Patch struct {
	URL         *string
	EventTypes  []string
	Description *string
	Enabled     *bool
}

// Apply validates and applies p at now. Enabling clears the reason it was
// disabled and its failing period; disabling records that its owner did it.
func (e *Endpoint) Apply(p Patch, now time.Time) error {
	v := &domain.ValidationError{}
	u, ts := e.url, e.eventTypes
	if p.URL != nil {
		var err error
		u, err = ParseURL(*p.URL)
		v.Merge(err)
	}
	if p.EventTypes != nil {
		var err error
		ts, err = ParseEventTypes(p.EventTypes)
		v.Merge(err)
	}
	if p.Description != nil {
		v.Merge(checkDescription(*p.Description))
	}
	if err := v.OrNil(); err != nil {
		return err
	}
	e.url, e.eventTypes = u, ts
	if p.Description != nil {
		e.description = *p.Description
	}
	if p.Enabled != nil && *p.Enabled != e.enabled {
		e.enabled = *p.Enabled
		e.disabledReason, e.failingSince = "", time.Time{} // enabled again: a fresh start
		if !e.enabled {
			e.disabledReason = DisabledByUser
		}
	}
	e.touch(now)
	return nil
}

// Rotate makes secret the current one; the one it replaces keeps signing
// for RotationOverlap. A second rotation within the overlap drops the
// oldest secret.
func (e *Endpoint) Rotate(secret Secret, now time.Time) {
	e.previous, e.previousUntil = e.secret, now.Add(RotationOverlap)
	e.secret = secret
	e.touch(now)
}

// Disable stops deliveries to the endpoint for reason (DisabledGone,
// DisabledFailing) and records webhook_endpoint.disabled, so its owner hears
// of it (on another endpoint, the stream or GET /events).
func (e *Endpoint) Disable(reason string, now time.Time) {
	if !e.enabled {
		return
	}
	e.enabled, e.disabledReason = false, reason
	e.touch(now)
	e.events.Record(event.WebhookEndpointDisabled, now, event.Data{"endpoint_id": e.id.String(), "reason": reason})
}

// AttemptSucceeded notes a delivery that succeeded: the endpoint is no longer
// failing. It reports whether that changed the endpoint.
func (e *Endpoint) AttemptSucceeded(now time.Time) bool {
	if e.failingSince.IsZero() {
		return false
	}
	e.failingSince = time.Time{}
	e.touch(now)
	return true
}

// AttemptFailed notes a failed attempt at now. The first since the last
// success starts the failing period; one FailingDisableAfter or more after
// that start disables the endpoint (DisabledFailing). It reports whether the
// endpoint changed.
func (e *Endpoint) AttemptFailed(now time.Time) bool {
	switch {
	case !e.enabled:
		return false
	case e.failingSince.IsZero():
		e.failingSince = now
		e.touch(now)
		return true
	case now.Sub(e.failingSince) >= FailingDisableAfter:
		e.Disable(DisabledFailing, now)
		return true
	}
	return false
}

// FailingSince is the first failed attempt since the last delivery that
// succeeded (zero while none has failed since).
func (e *Endpoint) FailingSince() time.Time { return e.failingSince }

// DrainEvents returns the events recorded since the last drain, for its
// store to write with the change.
func (e *Endpoint) DrainEvents() []event.Event { return e.events.Drain() }

func (e *Endpoint) touch(now time.Time) {
	e.version++
	e.updatedAt = now
}

// ParseURL checks that raw is an absolute http(s) URL with a host and no
// credentials, and returns it. Which schemes and addresses may be reached is
// the delivery policy's to say (production: https, public addresses only).
func ParseURL(raw string) (string, error) {
	bad := func(code, msg string) (string, error) { return "", domain.NewValidationError("url", code, msg) }
	switch {
	case raw == "":
		return bad("required", "The URL is required.")
	case len(raw) > MaxURLLength:
		return bad("too_long", fmt.Sprintf("The URL must be at most %d characters.", MaxURLLength))
	case domain.HasControl(raw) || strings.ContainsAny(raw, " \t"):
		return bad("invalid", "The URL must not contain spaces or control characters.")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "":
		return bad("invalid", "The URL must be absolute, like https://example.com/hooks.")
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("invalid_scheme", "The URL must be https (http only for local development).")
	case u.User != nil:
		return bad("invalid", "The URL must not carry credentials.")
	case u.Fragment != "":
		return bad("invalid", "The URL must not have a fragment.")
	}
	return raw, nil
}

// ParseEventTypes checks a list of event type names: at least one, each
// known, none twice.
func ParseEventTypes(names []string) ([]event.Type, error) {
	if len(names) == 0 {
		return nil, domain.NewValidationError("event_types", "required", "Name at least one event type.")
	}
	out := make([]event.Type, 0, len(names))
	for _, n := range names {
		t, err := event.ParseType(n)
		if err != nil {
			return nil, domain.NewValidationError("event_types", "unknown", "Unknown event type "+n+".")
		}
		if slices.Contains(out, t) {
			return nil, domain.NewValidationError("event_types", "duplicate", "Event type "+n+" is listed twice.")
		}
		out = append(out, t)
	}
	return out, nil
}

func checkDescription(d string) error {
	switch {
	case !utf8.ValidString(d) || domain.HasControl(d):
		return domain.NewValidationError("description", "invalid", "The description must be text without control characters.")
	case utf8.RuneCountInString(d) > MaxDescriptionLength:
		return domain.NewValidationError("description", "too_long", fmt.Sprintf("The description must be at most %d characters.", MaxDescriptionLength))
	}
	return nil
}
