// Package event holds the events of the event log (EVENTS.md): what changed,
// recorded by an entity as it changes and written by the store that saves the
// entity, in the same transaction, so that an event is never lost nor
// invented.
package event

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Type names what happened. Clients filter and dispatch on it.
type Type struct{ s string }

// The event types (EVENTS.md, "One event log").
var (
	SyncStarted                     = Type{"sync.started"}
	SyncCompleted                   = Type{"sync.completed"}
	SyncFailed                      = Type{"sync.failed"}
	TransactionsChanged             = Type{"transactions.changed"}
	AccountBalanceChanged           = Type{"account.balance_changed"}
	ProviderConnected               = Type{"provider.connected"}
	ProviderReauthorizationRequired = Type{"provider.reauthorization_required"}
	ProviderDisconnected            = Type{"provider.disconnected"}
	AuthorizationRefreshed          = Type{"authorization.refreshed"}
	SessionCreated                  = Type{"session.created"}
	SessionRevoked                  = Type{"session.revoked"}
	PasswordChanged                 = Type{"password.changed"}
	WebhookEndpointDisabled         = Type{"webhook_endpoint.disabled"}
	ProviderConsentExpiring         = Type{"provider.consent_expiring"}
)

// Types lists every event type.
func Types() []Type {
	return []Type{SyncStarted, SyncCompleted, SyncFailed, TransactionsChanged, AccountBalanceChanged,
		ProviderConnected, ProviderReauthorizationRequired, ProviderDisconnected, AuthorizationRefreshed,
		SessionCreated, SessionRevoked, PasswordChanged, WebhookEndpointDisabled, ProviderConsentExpiring}
}

// ParseType turns an event type's name into a Type.
func ParseType(s string) (Type, error) {
	for _, t := range Types() {
		if t.s == s {
			return t, nil
		}
	}
	return Type{}, fmt.Errorf("unknown event type %q", s)
}

func (t Type) String() string { return t.s }

// IsZero reports whether t is no type at all.
func (t Type) IsZero() bool { return t.s == "" }

// Data is an event's thin payload: ids and the few fields that changed, as
// strings, whole numbers and booleans (amounts are decimal strings). It never
// holds a secret, a token or an account number.
type Data map[string]any

// Event is one change, as its entity records it. Whose it is, and its id in
// the log, are the store's to add when it writes the event (Logged).
type Event struct {
	Type       Type
	OccurredAt time.Time
	Data       Data
}

// Logged is an event as the log holds it: its id is unique and strictly
// increasing in commit order, so "every event after id X" is well defined.
type Logged struct {
	ID         int64
	UserID     uuid.UUID
	Type       Type
	OccurredAt time.Time
	// Data is the payload as JSON: an object.
	Data []byte
}

// Recorder keeps the events an entity recorded until its store drains them.
// Its zero value is ready to use; entities embed it as an unexported field.
type Recorder struct{ pending []Event }

// Record adds an event of type t at now with data.
func (r *Recorder) Record(t Type, now time.Time, data Data) {
	r.pending = append(r.pending, Event{Type: t, OccurredAt: now, Data: data})
}

// Drain returns the events recorded since the last Drain, oldest first, and
// forgets them: a store writes each once.
func (r *Recorder) Drain() []Event {
	out := slices.Clip(r.pending)
	r.pending = nil
	return out
}
