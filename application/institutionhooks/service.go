// Package institutionhooks holds the use cases of the webhooks institutions
// send Dashtam (EVENTS.md, "Institution webhooks into Dashtam"): a delivery
// is verified by its connector (providers.WebhookVerifier), recorded, and
// answered at once; a job then acts on it through the existing use cases
// (a sync begun or joined, re-authorization required or cleared), so that
// whatever those record and emit comes with it. A body delivered twice
// (within DuplicateWindow) is recorded twice and acted on once; a change of
// a grant's state signed before one already recorded (delivered out of
// order) changes nothing.
package institutionhooks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/datasync"
	"github.com/dashtam/dashtam/domain/provider"
)

// Outcomes of a delivery (Delivery.Outcome).
const (
	OutcomeReceived        = "received"
	OutcomeDuplicate       = "duplicate"
	OutcomeSyncStarted     = "sync_started"
	OutcomeSyncJoined      = "sync_joined"
	OutcomeReauthorization = "reauthorization_required"
	OutcomeRepaired        = "reauthorization_cleared"
	OutcomeExpiring        = "pending_expiration"
	OutcomeSuperseded      = "superseded"
	OutcomeNotConnected    = "not_connected"
	OutcomeNoProvider      = "no_provider"
	OutcomeIgnored         = "ignored"
)

// DuplicateWindow is how long after a first delivery the same body is taken
// for a copy of it (an institution delivering twice, or retrying a delivery
// whose answer it did not get) and not acted on again. Beyond it, the same
// body is a new notice: Plaid's SYNC_UPDATES_AVAILABLE for an item has the
// same body every time. A retry later than that is acted on again, which
// every action allows (a sync joined or run once more; a state change
// already made changes nothing).
const DuplicateWindow = 10 * time.Minute

// Delivery is one verified webhook delivery as recorded. The body is not
// kept: BodyHash tells a copy from a new delivery.
type Delivery struct {
	ID          uuid.UUID
	ProviderKey string
	// ExternalIDHash is provider.HashExternalID of the grant it names (zero
	// when it names none).
	ExternalIDHash [sha256.Size]byte
	Type, Code     string
	ErrorCode      string
	Action         providers.WebhookAction
	BodyHash       [sha256.Size]byte
	SignedAt       time.Time
	ExpiresAt      time.Time
	ReceivedAt     time.Time
	// DuplicateOf is the first delivery of the same body (uuid.Nil for a
	// first one).
	DuplicateOf uuid.UUID
	Outcome     string
	ActedAt     time.Time
}

// ActJob is the job that acts on one recorded delivery (Service.Act). It
// names the delivery only.
type ActJob struct {
	DeliveryID uuid.UUID `json:"delivery_id"`
}

// Kind names the job's worker.
func (ActJob) Kind() string { return "institution_webhook" }

// Deliveries records deliveries.
type Deliveries interface {
	// Record stores d (ID, BodyHash and the rest set, Outcome received). If a
	// first delivery of d's provider type with the same BodyHash was
	// received at or after since, d is stored as its duplicate (DuplicateOf,
	// Outcome duplicate) and nothing is enqueued; otherwise job is enqueued
	// in the same transaction. It returns d as stored.
	Record(ctx context.Context, d Delivery, since time.Time, job jobs.Job) (Delivery, error)
	// DeliveryByID returns the delivery, or domain.ErrNotFound.
	DeliveryByID(ctx context.Context, id uuid.UUID) (Delivery, error)
	// NewerStateChange reports whether another first delivery of d's
	// provider type and grant, one changing the grant's state (reauthorize
	// or repaired), was signed after d.
	NewerStateChange(ctx context.Context, d Delivery) (bool, error)
	// SetOutcome records what acting on the delivery did, at at.
	SetOutcome(ctx context.Context, id uuid.UUID, outcome string, at time.Time) error
}

// Grants finds the providers a delivery is about.
type Grants interface {
	// ProvidersByExternalID returns the providers of type providerKey whose
	// authorization holds the grant with this provider.HashExternalID.
	ProvidersByExternalID(ctx context.Context, providerKey string, externalIDHash [sha256.Size]byte) ([]uuid.UUID, error)
}

// Connections changes a provider's authorization (providers.Connections).
type Connections interface {
	// RequireReauthorization makes an active authorization
	// reauthorization_required.
	RequireReauthorization(ctx context.Context, providerID uuid.UUID) error
	// ClearReauthorization makes a reauthorization_required one that kept
	// its credentials active again, reporting whether it did.
	ClearReauthorization(ctx context.Context, providerID uuid.UUID) (bool, error)
}

// Syncs begins syncs (datasync.Syncs).
type Syncs interface {
	// StartForInstitution begins a webhook-triggered sync or joins the one
	// in flight.
	StartForInstitution(ctx context.Context, providerID uuid.UUID) (*datasync.Sync, bool, error)
}

// ExpiryNotices is told of a provider whose consent ends soon (Plaid's
// PENDING_EXPIRATION): providers.Connections records
// provider.consent_expiring in the event log. With Deps.Expiry nil the
// delivery's outcome alone records it.
type ExpiryNotices interface {
	PendingExpiration(ctx context.Context, providerID uuid.UUID, expiresAt time.Time) error
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Deps are the Service's ports.
type Deps struct {
	// Verifiers are the connectors that receive webhooks, by provider key.
	Verifiers   map[string]providers.WebhookVerifier
	Deliveries  Deliveries
	Grants      Grants
	Connections Connections
	Syncs       Syncs
	// Expiry, optional, is told of pending expirations.
	Expiry ExpiryNotices
	Clock  Clock
	Log    *slog.Logger
}

// Service implements the institution webhook use cases.
type Service struct{ d Deps }

// New builds the service.
func New(d Deps) *Service { return &Service{d: d} }

// Receipt is what Receive answers.
type Receipt struct {
	DeliveryID uuid.UUID
	// Duplicate: the same body was delivered before; this copy is recorded
	// and not acted on.
	Duplicate bool
}

// Receive verifies one delivery to the webhook route of providerKey, records
// it and enqueues its job, which acts on it. A provider type that receives
// no webhooks here is domain.ErrNotFound; a delivery that does not verify is
// providers.ErrWebhookSignature, and nothing is recorded or enqueued.
func (s *Service) Receive(ctx context.Context, providerKey string, header map[string][]string, body []byte) (Receipt, error) {
	v, ok := s.d.Verifiers[providerKey]
	if !ok {
		return Receipt{}, fmt.Errorf("provider type %q receives no webhooks here: %w", providerKey, domain.ErrNotFound)
	}
	n, err := v.VerifyWebhook(ctx, header, body)
	if err != nil {
		if errors.Is(err, providers.ErrWebhookSignature) {
			s.d.Log.WarnContext(ctx, "institution webhook refused", "provider_key", providerKey, "error", err.Error())
		}
		return Receipt{}, err
	}
	d := Delivery{ID: uuid.Must(uuid.NewV7()), ProviderKey: providerKey, Type: n.Type, Code: n.Code, ErrorCode: n.ErrorCode,
		Action: n.Action, BodyHash: sha256.Sum256(body), SignedAt: n.SignedAt, ExpiresAt: n.ExpiresAt,
		ReceivedAt: s.d.Clock.Now(), Outcome: OutcomeReceived}
	if n.ExternalID != "" {
		d.ExternalIDHash = provider.HashExternalID(n.ExternalID)
	}
	saved, err := s.d.Deliveries.Record(ctx, d, d.ReceivedAt.Add(-DuplicateWindow), ActJob{DeliveryID: d.ID})
	if err != nil {
		return Receipt{}, err
	}
	s.d.Log.InfoContext(ctx, "institution webhook received", "provider_key", providerKey, "delivery_id", saved.ID.String(),
		"webhook_type", n.Type, "webhook_code", n.Code, "action", string(n.Action), "outcome", saved.Outcome)
	return Receipt{DeliveryID: saved.ID, Duplicate: saved.Outcome == OutcomeDuplicate}, nil
}

// Act is the worker of ActJob: it does what the delivery asks, for every
// provider holding the grant it names, and records the outcome. A delivery
// already acted on (a job run again) is left as it is. Failures of our own
// stores are returned, so the job is retried; every action is idempotent.
func (s *Service) Act(ctx context.Context, job ActJob) error {
	d, err := s.d.Deliveries.DeliveryByID(ctx, job.DeliveryID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Outcome != OutcomeReceived {
		return nil
	}
	outcome, err := s.act(ctx, d)
	if err != nil {
		return err
	}
	s.d.Log.InfoContext(ctx, "institution webhook acted on", "provider_key", d.ProviderKey, "delivery_id", d.ID.String(),
		"webhook_type", d.Type, "webhook_code", d.Code, "outcome", outcome)
	return s.d.Deliveries.SetOutcome(ctx, d.ID, outcome, s.d.Clock.Now())
}

// act does what d asks and returns the outcome.
func (s *Service) act(ctx context.Context, d Delivery) (string, error) {
	if d.Action == providers.WebhookIgnore || d.ExternalIDHash == ([sha256.Size]byte{}) {
		return OutcomeIgnored, nil
	}
	ids, err := s.d.Grants.ProvidersByExternalID(ctx, d.ProviderKey, d.ExternalIDHash)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return OutcomeNoProvider, nil
	}
	if d.Action == providers.WebhookReauthorize || d.Action == providers.WebhookRepaired {
		newer, err := s.d.Deliveries.NewerStateChange(ctx, d)
		if err != nil {
			return "", err
		}
		if newer {
			return OutcomeSuperseded, nil
		}
	}
	switch d.Action {
	case providers.WebhookSync:
		return s.sync(ctx, ids)
	case providers.WebhookReauthorize:
		for _, id := range ids {
			if err := s.d.Connections.RequireReauthorization(ctx, id); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return "", err
			}
		}
		return OutcomeReauthorization, nil
	case providers.WebhookRepaired:
		for _, id := range ids {
			if _, err := s.d.Connections.ClearReauthorization(ctx, id); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return "", err
			}
		}
		return OutcomeRepaired, nil
	case providers.WebhookExpiring:
		if s.d.Expiry != nil {
			for _, id := range ids {
				if err := s.d.Expiry.PendingExpiration(ctx, id, d.ExpiresAt); err != nil {
					return "", err
				}
			}
		}
		return OutcomeExpiring, nil
	}
	return OutcomeIgnored, nil
}

// sync begins (or joins) a sync of each provider; a provider that is not
// connected (or was deleted meanwhile) is skipped.
func (s *Service) sync(ctx context.Context, ids []uuid.UUID) (string, error) {
	begun, joined := 0, 0
	for _, id := range ids {
		_, join, err := s.d.Syncs.StartForInstitution(ctx, id)
		switch {
		case errors.Is(err, provider.ErrNotAuthorized) || errors.Is(err, domain.ErrReauthorizationRequired) ||
			errors.Is(err, domain.ErrNotFound):
			continue
		case err != nil:
			return "", err
		case join:
			joined++
		default:
			begun++
		}
	}
	switch {
	case begun > 0:
		return OutcomeSyncStarted, nil
	case joined > 0:
		return OutcomeSyncJoined, nil
	}
	return OutcomeNotConnected, nil
}
