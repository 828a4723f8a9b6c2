package providers

import (
	"context"
	"fmt"
	"time"

	"github.com/dashtam/dashtam/domain"
)

// ErrWebhookSignature: an institution's webhook delivery whose signature does
// not verify (forged, signed with a key the institution does not name, of a
// refused algorithm, too old, or a body altered after signing). It answers
// 401 and nothing is recorded as acted or enqueued.
var ErrWebhookSignature = fmt.Errorf("the webhook delivery's signature does not verify: %w", domain.ErrUnauthenticated)

// WebhookVerifier is the webhook half of a connector, for institutions that
// notify Dashtam (Plaid): it authenticates one delivery and says what it
// asks for. Bootstrap hands the verifiers to the webhook use cases by
// provider key; the connectors keep the institution's signature scheme, key
// fetching and codes behind it.
type WebhookVerifier interface {
	// VerifyWebhook checks that body, delivered with header (the HTTP
	// request's header, canonical names), was signed by the institution and
	// is fresh, and returns what it says. Any failure to authenticate is
	// ErrWebhookSignature; a verified body the connector cannot read is
	// domain.ErrInvalidRequest. The institution's key store being down is
	// domain.ErrProviderUnavailable (the institution retries).
	VerifyWebhook(ctx context.Context, header map[string][]string, body []byte) (WebhookNotice, error)
}

// WebhookAction is what a verified delivery asks Dashtam to do.
type WebhookAction string

// The actions.
const (
	// WebhookSync: new data is available (Plaid's SYNC_UPDATES_AVAILABLE,
	// HOLDINGS DEFAULT_UPDATE): sync the provider, joining a sync in flight.
	WebhookSync WebhookAction = "sync"
	// WebhookReauthorize: the grant needs the user again (Plaid's ITEM ERROR
	// with ITEM_LOGIN_REQUIRED and its kin): reauthorization_required.
	WebhookReauthorize WebhookAction = "reauthorize"
	// WebhookRepaired: the grant works again without the user acting here
	// (Plaid's LOGIN_REPAIRED): active again.
	WebhookRepaired WebhookAction = "repaired"
	// WebhookExpiring: the user's consent ends soon (Plaid's
	// PENDING_EXPIRATION); nothing changes yet.
	WebhookExpiring WebhookAction = "expiring"
	// WebhookIgnore: a notice Dashtam has no use for; recorded only.
	WebhookIgnore WebhookAction = "ignore"
)

// WebhookNotice is what one verified delivery says.
type WebhookNotice struct {
	// ExternalID is the institution's id of the grant it is about (Plaid's
	// item_id; provider.Credentials.ExternalID).
	ExternalID string
	// Type and Code are the institution's names of the notice (Plaid's
	// webhook_type and webhook_code), ErrorCode the error it reports, if any.
	// None is secret.
	Type, Code, ErrorCode string
	Action                WebhookAction
	// SignedAt is when the institution signed the delivery, which orders
	// deliveries that arrive out of order.
	SignedAt time.Time
	// ExpiresAt, for WebhookExpiring, is when the consent ends (zero when
	// not given).
	ExpiresAt time.Time
}
