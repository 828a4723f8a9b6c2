package providers

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/provider"
)

// Flow is the shape of a provider's authorization flow.
type Flow string

const (
	// FlowRedirect is OAuth 2.0 authorization code: the user's browser goes to the
	// institution and comes back to our callback with a code.
	FlowRedirect Flow = "redirect"
	// FlowLinkToken is Plaid Link: the client SDK gets a link token, the user links an
	// account, and the client sends us a public token to exchange.
	FlowLinkToken Flow = "link_token"
)

// ProviderType describes what a connector offers, for the public catalog.
type ProviderType struct {
	Key          string
	Name         string
	Flow         Flow
	Capabilities []string
	// CanRefresh is false for providers whose tokens cannot be refreshed (Plaid).
	CanRefresh bool
	// RepairsInPlace is true for institutions that keep a grant while they need
	// the user to act on it and repair it in place (Plaid's ITEM_LOGIN_REQUIRED,
	// repaired by Link in update mode). Their credentials are kept when the
	// provider turns reauthorization_required (provider.Authorization.RequireRepair),
	// the next attempt begins with them (BeginRequest.Current), and completing
	// it restores them with no exchange: the access token stays the same. For
	// any other type, reauthorization_required wipes the credentials and the
	// next attempt is a new consent that grants new tokens.
	RepairsInPlace bool
}

// BeginRequest starts one authorization attempt.
type BeginRequest struct {
	// State is the opaque, unguessable value the institution must echo back.
	State string
	// UserID identifies the end user to institutions that want a stable user id
	// (Plaid's client_user_id). It is not secret.
	UserID uuid.UUID
	// Current, when not zero, are the credentials this attempt repairs: the
	// provider is reauthorization_required and its type RepairsInPlace. The
	// connector begins a repair of that grant (Plaid: a link token created
	// with the item's access_token, Link's update mode), which the application
	// completes by restoring Current, without calling Complete. A connector
	// that does not repair in place never gets it.
	Current Tokens
}

// BeginResult is what the client needs to send the user to the institution.
// Redirect flows set AuthorizationURL; link flows set LinkToken.
type BeginResult struct {
	AuthorizationURL string
	LinkToken        string
	// ExpiresAt is when this attempt can no longer be completed (zero: the
	// application's own state lifetime applies).
	ExpiresAt time.Time
}

// Tokens is what an institution grants (the domain's Credentials).
type Tokens = provider.Credentials

// Connector speaks one institution's authorization protocol. Errors are classified
// with the domain's provider error kinds:
//   - domain.ErrReauthorizationRequired: final, the user must consent again;
//   - domain.ErrProviderUnavailable: the institution failed or answered nonsense;
//   - domain.ErrProviderTimeout: no answer within the budget;
//   - domain.ErrNotSupported: this connector has no such operation;
//   - domain.ErrInvalidRequest: Complete got a grant the institution refuses
//     (used, expired, unknown).
//
// Institution error text may be wrapped for logs but never reaches API clients.
type Connector interface {
	Type() ProviderType
	// Begin starts an attempt bound to req.State.
	Begin(ctx context.Context, req BeginRequest) (BeginResult, error)
	// Complete exchanges the grant the user's browser or client brought back (an
	// authorization code, or a Plaid public token) for tokens. An attempt begun
	// as a repair (BeginRequest.Current) is never completed through it.
	Complete(ctx context.Context, grant string) (Tokens, error)
	// Refresh trades current for new tokens. current.RefreshExpiresAt carries the
	// cap the connector reported when the grant was made, and it is kept unless the
	// institution reports a new one.
	Refresh(ctx context.Context, current Tokens) (Tokens, error)
	// Revoke ends the grant at the institution where it has an endpoint for that; a
	// connector without one returns nil (the tokens are wiped locally either way),
	// and so does revoking a grant the institution no longer has.
	Revoke(ctx context.Context, current Tokens) error
}
