package provider

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

// Authorization errors.
var (
	// ErrInvalidState: the OAuth state is unknown, expired, already used, or bound to
	// another provider or attempt. It answers 400 and changes nothing.
	ErrInvalidState = fmt.Errorf("invalid or expired authorization state: %w", domain.ErrInvalidRequest)
	// ErrStateExpired: the state belongs to the attempt in flight, whose time ran
	// out (StateTTL, or the institution's shorter limit). A kind of ErrInvalidState.
	ErrStateExpired = fmt.Errorf("the authorization attempt expired: %w", ErrInvalidState)
	// ErrStateUsed: the state (and so the code or public token relayed with it)
	// was already used to complete its attempt: a replay. A kind of
	// ErrInvalidState.
	ErrStateUsed = fmt.Errorf("the authorization state was already used: %w", ErrInvalidState)
	// ErrGrantRejected: the institution refused the code or public token relayed
	// to complete an attempt (expired or used there, or unknown). The attempt's
	// state is used up by then: the user must start again.
	ErrGrantRejected = fmt.Errorf("the institution refused the authorization grant: %w", domain.ErrInvalidRequest)
	// ErrNotAuthorized: the operation needs an active authorization.
	ErrNotAuthorized = fmt.Errorf("provider is not authorized: %w", domain.ErrConflict)
	// ErrRefreshInProgress: another instance or request holds the refresh lease.
	ErrRefreshInProgress = fmt.Errorf("a refresh is already in progress: %w", domain.ErrConflict)
)

// StateTTL is how long an authorization attempt's state can be used (SECURITY.md).
const StateTTL = 10 * time.Minute

// Credentials are what an institution granted. Zero times mean "never/unknown".
type Credentials struct {
	AccessToken  string
	RefreshToken string
	// ExpiresAt is when AccessToken expires.
	ExpiresAt time.Time
	// RefreshExpiresAt is when RefreshToken stops working (Schwab: 7 days after the
	// original consent; refreshing does not extend it).
	RefreshExpiresAt time.Time
	Scopes           []string
	// ExternalID is the institution's id for the connection (Plaid item_id).
	ExternalID string
}

// IsZero reports whether no credentials are held.
func (c Credentials) IsZero() bool { return c.AccessToken == "" && c.RefreshToken == "" }

// AuthorizationStatus is the state of a provider's authorization. An
// authorization exists from the first attempt on; it is "not connected" only
// when its attempts ended without a grant and none was held before.
type AuthorizationStatus struct{ s string }

// The authorization statuses.
var (
	// AuthorizationNotConnected: attempts were made, none was granted, and
	// none is in flight (the user declined at the institution, or the code's
	// exchange failed) and nothing was held before.
	AuthorizationNotConnected            = AuthorizationStatus{"not_connected"}
	AuthorizationPending                 = AuthorizationStatus{"pending"}
	AuthorizationActive                  = AuthorizationStatus{"active"}
	AuthorizationReauthorizationRequired = AuthorizationStatus{"reauthorization_required"}
	AuthorizationRevoked                 = AuthorizationStatus{"revoked"}
)

// AuthorizationStatuses lists every authorization status, in lifecycle order.
func AuthorizationStatuses() []AuthorizationStatus {
	return []AuthorizationStatus{AuthorizationNotConnected, AuthorizationPending, AuthorizationActive,
		AuthorizationReauthorizationRequired, AuthorizationRevoked}
}

// ParseAuthorizationStatus turns a status name into an AuthorizationStatus.
func ParseAuthorizationStatus(s string) (AuthorizationStatus, error) {
	for _, st := range AuthorizationStatuses() {
		if st.s == s {
			return st, nil
		}
	}
	return AuthorizationStatus{}, fmt.Errorf("unknown authorization status %q", s)
}

func (s AuthorizationStatus) String() string { return s.s }

// ConnectionStatus is the provider connection status this authorization status
// puts its provider in: the one of the same name.
func (s AuthorizationStatus) ConnectionStatus() Status { return Status(s) }

// State is an OAuth state value as handed to the institution, and its digest as
// stored.
type State struct {
	Value string
	Hash  [sha256.Size]byte
}

// NewState returns a fresh unguessable 256-bit state.
func NewState() State {
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	return State{Value: v, Hash: HashState(v)}
}

// HashExternalID returns the digest by which an institution's connection id
// (Credentials.ExternalID, Plaid's item_id) is looked up, so the id itself
// can stay encrypted. It is the SHA-256 of the id, which institutions make
// unguessable.
func HashExternalID(id string) [sha256.Size]byte { return sha256.Sum256([]byte(id)) }

// HashState returns the stored digest of a state value.
func HashState(v string) [sha256.Size]byte { return sha256.Sum256([]byte(v)) }

// Authorization is a provider's authorization: the attempt in flight, the
// credentials granted, and who is refreshing them. One per provider.
type Authorization struct {
	providerID uuid.UUID
	userID     uuid.UUID
	status     AuthorizationStatus

	// attemptID is the attempt in flight, from its start until its grant lands
	// (zero when none). Once its state is used, the expiry is cleared and the
	// digest kept, so that a replay of the state is recognised as one.
	attemptID      uuid.UUID
	stateHash      [sha256.Size]byte
	stateExpiresAt time.Time
	// priorStatus is the status before the attempt in flight started, which
	// it returns to if the attempt ends without a grant (zero: not connected).
	priorStatus AuthorizationStatus
	// begun is what the institution made of the attempt in flight when it
	// began it (zero when none, or once it ends).
	begun AttemptBegun

	creds        Credentials
	authorizedAt time.Time // the consent time
	refreshedAt  time.Time

	leaseOwner uuid.UUID // who holds the refresh lease, until leaseUntil
	leaseUntil time.Time

	createdAt time.Time
	updatedAt time.Time

	// setAside holds the credentials RevokeLater wiped, for the store to keep
	// (encrypted) until they are revoked at the institution. It is not part of
	// the snapshot: it lives from RevokeLater to the save that takes it.
	setAside Credentials

	events event.Recorder
}

// DrainEvents returns the events of the authorization's changes since the
// last drain (provider.connected, provider.reauthorization_required,
// provider.disconnected, authorization.refreshed), for its store to write.
func (a *Authorization) DrainEvents() []event.Event { return a.events.Drain() }

func (a *Authorization) record(t event.Type, now time.Time) {
	a.events.Record(t, now, event.Data{"provider_id": a.providerID.String(), "status": a.status.String()})
}

// AttemptBegun is what beginning an attempt at the institution made of it,
// kept with the attempt in flight and gone when it ends.
type AttemptBegun struct {
	// Repair: the attempt repairs the credentials held, which the institution
	// keeps (Plaid Link update mode), so completing it restores them instead
	// of exchanging a grant for new ones (RestoreAttempt).
	Repair bool
	// LinkToken is the institution's link token of a link flow (a secret,
	// stored encrypted), and LinkExpiresAt when the institution stops
	// accepting it: a new attempt may reuse it (ReusableBegun) instead of
	// asking the institution for another.
	LinkToken     string
	LinkExpiresAt time.Time
}

// NewAuthorization starts the authorization of a provider with its first attempt.
func NewAuthorization(p *Provider, attemptID uuid.UUID, state State, stateExpiresAt, now time.Time) *Authorization {
	a := &Authorization{providerID: p.ID(), userID: p.UserID(), status: AuthorizationPending, priorStatus: AuthorizationNotConnected,
		createdAt: now, updatedAt: now}
	a.attemptID, a.stateHash, a.stateExpiresAt = attemptID, state.Hash, stateExpiresAt
	return a
}

// AuthorizationSnapshot is every field of an Authorization, for storage.
type AuthorizationSnapshot struct {
	ProviderID, UserID   uuid.UUID
	Status               AuthorizationStatus
	AttemptID            uuid.UUID
	StateHash            []byte
	StateExpiresAt       time.Time
	PriorStatus          AuthorizationStatus
	Begun                AttemptBegun
	Credentials          Credentials
	AuthorizedAt         time.Time
	RefreshedAt          time.Time
	LeaseOwner           uuid.UUID
	LeaseUntil           time.Time
	CreatedAt, UpdatedAt time.Time
}

// Snapshot returns the authorization's fields for storage.
func (a *Authorization) Snapshot() AuthorizationSnapshot {
	s := AuthorizationSnapshot{ProviderID: a.providerID, UserID: a.userID, Status: a.status, AttemptID: a.attemptID,
		StateExpiresAt: a.stateExpiresAt, PriorStatus: a.priorStatus, Begun: a.begun, Credentials: a.creds, AuthorizedAt: a.authorizedAt, RefreshedAt: a.refreshedAt,
		LeaseOwner: a.leaseOwner, LeaseUntil: a.leaseUntil, CreatedAt: a.createdAt, UpdatedAt: a.updatedAt}
	s.Credentials.Scopes = slices.Clone(a.creds.Scopes)
	if a.stateHash != ([sha256.Size]byte{}) {
		s.StateHash = slices.Clone(a.stateHash[:])
	}
	return s
}

// RehydrateAuthorization rebuilds an authorization from storage.
func RehydrateAuthorization(s AuthorizationSnapshot) *Authorization {
	a := &Authorization{providerID: s.ProviderID, userID: s.UserID, status: s.Status, attemptID: s.AttemptID,
		stateExpiresAt: s.StateExpiresAt, priorStatus: s.PriorStatus, begun: s.Begun, creds: s.Credentials, authorizedAt: s.AuthorizedAt, refreshedAt: s.RefreshedAt,
		leaseOwner: s.LeaseOwner, leaseUntil: s.LeaseUntil, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
	a.creds.Scopes = slices.Clone(s.Credentials.Scopes)
	copy(a.stateHash[:], s.StateHash)
	return a
}

// ProviderID returns the provider this authorization belongs to.
func (a *Authorization) ProviderID() uuid.UUID { return a.providerID }

// UserID returns the provider's owner.
func (a *Authorization) UserID() uuid.UUID { return a.userID }

// Status returns the authorization status.
func (a *Authorization) Status() AuthorizationStatus { return a.status }

// IsAuthorized reports whether usable credentials are held.
func (a *Authorization) IsAuthorized() bool {
	return (a.status == AuthorizationActive) && !a.creds.IsZero()
}

// Credentials returns the granted credentials (zero when none).
func (a *Authorization) Credentials() Credentials {
	c := a.creds
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

// AuthorizedAt returns when the user last consented.
func (a *Authorization) AuthorizedAt() time.Time { return a.authorizedAt }

// RefreshedAt returns when the credentials were last refreshed (zero if never).
func (a *Authorization) RefreshedAt() time.Time { return a.refreshedAt }

// StateExpiresAt returns when the state of the attempt in flight expires (zero
// if there is none, or it was used).
func (a *Authorization) StateExpiresAt() time.Time { return a.stateExpiresAt }

// AttemptID identifies the attempt in flight, from its start until its grant
// lands (uuid.Nil if none).
func (a *Authorization) AttemptID() uuid.UUID { return a.attemptID }

// AttemptBegun returns what the institution made of the attempt in flight
// (zero when none).
func (a *Authorization) AttemptBegun() AttemptBegun { return a.begun }

// SetAttemptBegun records what the institution made of the attempt in flight
// (attemptID) when it began it. A repair needs credentials to repair
// (RepairableCredentials); without them, or when attemptID is no longer in
// flight, it is ErrInvalidState and changes nothing.
func (a *Authorization) SetAttemptBegun(attemptID uuid.UUID, b AttemptBegun) error {
	if attemptID == uuid.Nil || attemptID != a.attemptID {
		return ErrInvalidState
	}
	if _, ok := a.RepairableCredentials(); b.Repair && !ok {
		return ErrInvalidState
	}
	a.begun = b
	return nil
}

// ReusableBegun returns what the institution made of the attempt in flight
// if a new attempt can reuse it at now instead of asking the institution
// again: it holds a link token that is valid for more than margin, its state
// was not used (a used one may have been completed at the institution), and
// it repairs exactly when repair says a new attempt would.
func (a *Authorization) ReusableBegun(now time.Time, margin time.Duration, repair bool) (AttemptBegun, bool) {
	b := a.begun
	if a.attemptID == uuid.Nil || a.stateUsed() || b.LinkToken == "" || b.Repair != repair ||
		!now.Add(margin).Before(b.LinkExpiresAt) {
		return AttemptBegun{}, false
	}
	return b, true
}

// RepairableCredentials returns the credentials a new attempt would repair:
// those the institution still keeps while it needs the user to act
// (RequireRepair). An active grant is not repaired (a new attempt is a new
// consent); once revoked or refused for good there is nothing to repair.
func (a *Authorization) RepairableCredentials() (Credentials, bool) {
	if a.creds.IsZero() || a.status == AuthorizationActive {
		return Credentials{}, false
	}
	return a.Credentials(), true
}

// StartAttempt replaces any attempt in flight with a new one. An active
// authorization stays active (and usable) until the new consent completes; any
// other becomes pending. The status before the first of a run of attempts is
// kept, to return to if they end without a grant.
func (a *Authorization) StartAttempt(attemptID uuid.UUID, state State, expiresAt, now time.Time) {
	if a.attemptID == uuid.Nil {
		a.priorStatus = a.status
	}
	a.attemptID, a.stateHash, a.stateExpiresAt = attemptID, state.Hash, expiresAt
	a.begun = AttemptBegun{}
	if a.status != AuthorizationActive {
		a.status = AuthorizationPending
	}
	a.updatedAt = now
}

// CheckState reports, changing nothing, whether stateValue can complete the
// attempt in flight at now: ErrStateUsed when it already completed it (or is
// completing it), ErrStateExpired when its time ran out, ErrInvalidState when
// it is not the state of the attempt in flight at all.
func (a *Authorization) CheckState(stateValue string, now time.Time) error {
	h := HashState(stateValue)
	switch {
	case a.stateHash == ([sha256.Size]byte{}) || h != a.stateHash:
		return ErrInvalidState
	case a.stateUsed():
		return ErrStateUsed
	case a.attemptID == uuid.Nil:
		return ErrInvalidState
	case !now.Before(a.stateExpiresAt):
		return ErrStateExpired
	}
	return nil
}

// ConsumeState checks that stateValue belongs to the attempt in flight and has not
// expired (see CheckState), and uses it up: a state works once. Any failure
// changes nothing. The state's digest is kept, marked used (no expiry), so a
// replay is told from a forgery; the attempt stays in flight while its grant is
// exchanged, so that GrantAttempt can tell whether it still is when the grant
// arrives.
func (a *Authorization) ConsumeState(stateValue string, now time.Time) error {
	if err := a.CheckState(stateValue, now); err != nil {
		return err
	}
	a.stateExpiresAt = time.Time{}
	a.updatedAt = now
	return nil
}

// Decline ends the attempt in flight whose state is stateValue without a
// grant, because the institution sent the user back with an error (declined
// consent, or a failure there): see EndAttempt. An expired state still ends
// its attempt (it is over either way); any other refusal is CheckState's and
// changes nothing.
func (a *Authorization) Decline(stateValue string, now time.Time) error {
	if err := a.CheckState(stateValue, now); err != nil && !errors.Is(err, ErrStateExpired) {
		return err
	}
	a.EndAttempt(a.attemptID, now)
	return nil
}

// EndAttempt ends attemptID without a grant, if it is still the attempt in
// flight (its code's exchange failed, or it was declined), and reports whether
// it was. A status the attempt made pending returns to what it was before
// (not connected, revoked, re-authorization required); any other (active, or a
// refusal recorded meanwhile) stays. The state's digest is kept, so that using
// the state again reads as a replay.
func (a *Authorization) EndAttempt(attemptID uuid.UUID, now time.Time) bool {
	if attemptID == uuid.Nil || attemptID != a.attemptID {
		return false
	}
	a.attemptID, a.stateExpiresAt, a.begun = uuid.Nil, time.Time{}, AttemptBegun{}
	if a.status == AuthorizationPending {
		a.status = a.priorStatus
		if a.status == (AuthorizationStatus{}) || a.status == AuthorizationPending {
			a.status = AuthorizationNotConnected
		}
	}
	a.updatedAt = now
	return true
}

// stateUsed reports whether the state held was used up by ConsumeState.
func (a *Authorization) stateUsed() bool {
	return a.stateHash != ([sha256.Size]byte{}) && a.stateExpiresAt.IsZero()
}

// GrantAttempt grants c, exchanged for the consent of attemptID, and ends that
// attempt. A grant lands only on the attempt it belongs to: if attemptID was
// revoked or replaced by a newer attempt while its grant was being exchanged,
// or its state was never used, it is ErrInvalidState and changes nothing (the
// caller discards c).
func (a *Authorization) GrantAttempt(attemptID uuid.UUID, c Credentials, now time.Time) error {
	if attemptID == uuid.Nil || attemptID != a.attemptID || !a.stateUsed() {
		return ErrInvalidState
	}
	a.Grant(c, now)
	a.attemptID, a.begun = uuid.Nil, AttemptBegun{}
	return nil
}

// RestoreAttempt completes attemptID, a repair (AttemptBegun.Repair), by
// restoring the credentials held: they stay as they are, the authorization is
// active again and its consent time is now, as after a grant. It refuses, with
// ErrInvalidState and changing nothing, exactly what GrantAttempt refuses, and
// an attempt that is not a repair or has nothing left to restore.
func (a *Authorization) RestoreAttempt(attemptID uuid.UUID, now time.Time) error {
	creds, ok := a.RepairableCredentials()
	if !a.begun.Repair || !ok {
		return ErrInvalidState
	}
	return a.GrantAttempt(attemptID, creds, now)
}

// Grant stores the credentials of a completed consent, whatever attempt is in
// flight; completing an attempt goes through GrantAttempt. A refresh of the
// previous grant still in flight loses its lease, so its result cannot
// overwrite these.
func (a *Authorization) Grant(c Credentials, now time.Time) {
	a.creds = c
	a.status = AuthorizationActive
	a.authorizedAt, a.refreshedAt = now, time.Time{}
	a.leaseOwner, a.leaseUntil = uuid.Nil, time.Time{}
	a.updatedAt = now
	a.record(event.ProviderConnected, now)
}

// ClaimRefresh takes the refresh lease for owner until until, so that one
// authorization is refreshed by one caller at a time across instances. A lease
// held by someone else that has not run out is ErrRefreshInProgress.
func (a *Authorization) ClaimRefresh(owner uuid.UUID, now, until time.Time) error {
	if a.leaseOwner != uuid.Nil && a.leaseOwner != owner && now.Before(a.leaseUntil) {
		return ErrRefreshInProgress
	}
	if !a.IsAuthorized() {
		return ErrNotAuthorized
	}
	a.leaseOwner, a.leaseUntil = owner, until
	return nil
}

// HoldsLease reports whether owner holds the refresh lease.
func (a *Authorization) HoldsLease(owner uuid.UUID) bool { return a.leaseOwner == owner }

// ReleaseRefresh gives the lease back without a change (a retryable failure).
func (a *Authorization) ReleaseRefresh(owner uuid.UUID) {
	if a.leaseOwner == owner {
		a.leaseOwner, a.leaseUntil = uuid.Nil, time.Time{}
	}
}

// Refreshed stores refreshed credentials and releases the lease. A refresh token
// or cap the institution did not resend is kept.
func (a *Authorization) Refreshed(owner uuid.UUID, c Credentials, now time.Time) {
	if c.RefreshToken == "" {
		c.RefreshToken = a.creds.RefreshToken
	}
	if c.RefreshExpiresAt.IsZero() {
		c.RefreshExpiresAt = a.creds.RefreshExpiresAt
	}
	if c.ExternalID == "" {
		c.ExternalID = a.creds.ExternalID
	}
	if c.Scopes == nil {
		c.Scopes = a.creds.Scopes
	}
	a.creds = c
	a.refreshedAt, a.updatedAt = now, now
	a.ReleaseRefresh(owner)
	a.record(event.AuthorizationRefreshed, now)
}

// RequireReauthorization records that the institution refused the grant for good:
// the credentials are wiped and the user must consent again.
func (a *Authorization) RequireReauthorization(now time.Time) {
	a.RequireRepair(now)
	a.creds = Credentials{}
}

// RequireRepair records that the institution needs the user to act on a grant
// it keeps and repairs in place (Plaid's ITEM_LOGIN_REQUIRED, repaired by Link
// in update mode): the status is reauthorization_required, as after
// RequireReauthorization, but the credentials are kept, unusable (IsAuthorized
// is false), for a repair attempt to name (RepairableCredentials) and for a
// revocation to end the grant at the institution. What an attempt in flight
// was begun with no longer fits and is dropped (the attempt itself stays, and
// if it ends without a grant the status returns to this one, not to the
// active status it started from).
func (a *Authorization) RequireRepair(now time.Time) {
	was := a.status
	a.status = AuthorizationReauthorizationRequired
	if a.attemptID != uuid.Nil {
		a.priorStatus = AuthorizationReauthorizationRequired
	}
	a.begun = AttemptBegun{}
	a.leaseOwner, a.leaseUntil = uuid.Nil, time.Time{}
	a.updatedAt = now
	if was != AuthorizationReauthorizationRequired {
		a.record(event.ProviderReauthorizationRequired, now)
	}
}

// Repaired records that the institution repaired, without the user acting
// here, a grant it had reported needing the user (Plaid's LOGIN_REPAIRED after
// ITEM_LOGIN_REQUIRED): an authorization that is reauthorization_required and
// still holds its credentials (RequireRepair) is active again with them, as
// after a grant. It reports whether it changed anything: any other
// authorization (active already, wiped, revoked, or pending with a repair
// attempt in flight, which the user's completion restores) is left as it is.
func (a *Authorization) Repaired(now time.Time) bool {
	creds, ok := a.RepairableCredentials()
	if !ok || a.status != AuthorizationReauthorizationRequired {
		return false
	}
	a.Grant(creds, now)
	return true
}

// ConsentExpiring records that the institution says the user's consent ends
// at expiresAt (Plaid's PENDING_EXPIRATION): provider.consent_expiring, so
// the client can ask the user to renew it before syncs stop. Nothing else
// changes.
func (a *Authorization) ConsentExpiring(expiresAt, now time.Time) {
	data := event.Data{"provider_id": a.providerID.String(), "status": a.status.String()}
	if !expiresAt.IsZero() {
		data["expires_at"] = expiresAt.UTC().Format(time.RFC3339)
	}
	a.events.Record(event.ProviderConsentExpiring, now, data)
}

// Revoke wipes the credentials and ends any attempt.
func (a *Authorization) Revoke(now time.Time) {
	was := a.status
	a.creds = Credentials{}
	a.status = AuthorizationRevoked
	a.attemptID, a.stateHash, a.stateExpiresAt, a.begun = uuid.Nil, [sha256.Size]byte{}, time.Time{}, AttemptBegun{}
	a.leaseOwner, a.leaseUntil = uuid.Nil, time.Time{}
	a.updatedAt = now
	if was != AuthorizationRevoked {
		a.record(event.ProviderDisconnected, now)
	}
}

// RevokeLater revokes the authorization here, as Revoke does, when its
// institution cannot be told now (it is down, or its provider type is no
// longer configured): the credentials are wiped from the authorization but set
// aside (SetAside), so that the store keeps them, encrypted, for a job that
// revokes them at the institution once it can.
func (a *Authorization) RevokeLater(now time.Time) {
	if !a.creds.IsZero() {
		a.setAside = a.creds
	}
	a.Revoke(now)
}

// SetAside returns the credentials RevokeLater wiped, which are still to be
// revoked at the institution (zero when there are none).
func (a *Authorization) SetAside() Credentials { return a.setAside }

// RefreshDue reports whether the credentials should be refreshed at now: they
// can be, and the access token expires within window, but not before half its
// life is over. The second rule keeps a token that lives less than the window
// (the sandbox's five minutes) from being refreshed on every background pass.
func (a *Authorization) RefreshDue(now time.Time, window time.Duration) bool {
	if !a.IsAuthorized() || a.creds.RefreshToken == "" || a.creds.ExpiresAt.IsZero() {
		return false
	}
	issued := a.refreshedAt
	if issued.IsZero() {
		issued = a.authorizedAt
	}
	if lifetime := a.creds.ExpiresAt.Sub(issued); lifetime > 0 && lifetime/2 < window {
		window = lifetime / 2
	}
	return !now.Before(a.creds.ExpiresAt.Add(-window))
}
