// Package providers holds the use cases of the providers resource (the catalog of
// provider types, and each user's provider connections) and, in connector.go, the
// port every institution connector implements.
package providers

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// Auditor records security-relevant actions in the audit log
// (application/audit's Service). It never fails the action.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry)
}

// noAudit records nothing: the use cases' auditor until RecordTo.
type noAudit struct{}

func (noAudit) Record(context.Context, audit.Entry) {}

// auditEntry is the entry of action by actor (uuid.Nil: the system) on the
// provider, which ended with err.
func auditEntry(action audit.Action, actor, providerID uuid.UUID, err error) audit.Entry {
	e := audit.Entry{Action: action, Actor: actor, Subject: audit.Of(audit.SubjectProvider, providerID)}
	e.Outcome, e.Reason = audit.Result(err)
	return e
}

// Clock tells the time and waits. Use cases never call time.Now or time.After
// themselves, so expiry and waiting are tested with a fake clock, without
// sleeping.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends and then returns ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

// Users looks up the users who own providers.
type Users interface {
	UserByID(ctx context.Context, id uuid.UUID) (*identity.User, error)
}

// Repository stores providers. It knows nothing of ownership: the use cases check
// that a provider belongs to the caller.
type Repository interface {
	// CreateProvider stores a new provider. An alias the user already has (by
	// provider.AliasKey) is provider.ErrAliasTaken, decided by a unique index so
	// that two concurrent creates cannot both win.
	CreateProvider(ctx context.Context, p *provider.Provider) error
	// ProviderByID returns the provider or domain.ErrNotFound.
	ProviderByID(ctx context.Context, id uuid.UUID) (*provider.Provider, error)
	// UpdateProvider loads the provider under a row lock, lets fn change it and
	// saves it, in one transaction. fn's error aborts the update and is returned;
	// a rename onto a taken alias is provider.ErrAliasTaken.
	UpdateProvider(ctx context.Context, id uuid.UUID, fn func(*provider.Provider) error) (*provider.Provider, error)
	// DeleteProvider loads the provider under a row lock and deletes it if check
	// returns nil; check's error aborts and is returned.
	DeleteProvider(ctx context.Context, id uuid.UUID, check func(*provider.Provider) error) error
	// ListProviders returns one page of a user's providers and, when q.WithTotal,
	// how many match the filter in all.
	ListProviders(ctx context.Context, q ListQuery) (items []*provider.Provider, total int64, err error)
}

// Authorizations stores provider authorizations. The adapter encrypts credentials
// at rest; use cases see them in clear.
type Authorizations interface {
	// AuthorizationByProvider returns the provider's authorization, or
	// domain.ErrNotFound if none was ever started.
	AuthorizationByProvider(ctx context.Context, providerID uuid.UUID) (*provider.Authorization, error)
	// AuthorizationByState returns the authorization whose attempt in flight has
	// this state digest, or domain.ErrNotFound.
	AuthorizationByState(ctx context.Context, stateHash [32]byte) (*provider.Authorization, error)
	// UpdateAuthorization loads the provider and its authorization (nil when none
	// exists yet) under row locks and calls fn, which may change both and returns
	// the authorization to save (a new one is inserted; nil saves none). Both are
	// saved in one transaction, the provider only if fn changed it, and returned
	// as they stand after the commit (the authorization nil if there is none).
	// fn's error aborts everything and is returned.
	//
	// A grant begins the provider's first sync in the same transaction: when
	// the saved authorization turned active in this call (it was not active
	// before fn), a store composed with the sync engine (the SQL store's
	// WithFirstSync) begins a sync of the provider, with its job, as
	// datasync.Store.Begin does (joining one in flight), so the grant and its
	// first sync commit together or not at all; if the sync cannot be begun,
	// nothing is saved and the error is returned. A store composed without
	// it begins none.
	UpdateAuthorization(ctx context.Context, providerID uuid.UUID,
		fn func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error),
	) (*provider.Provider, *provider.Authorization, error)
	// ClaimDueRefreshes gives owner the refresh lease (until until) of at most
	// limit authorizations that hold a refresh token, whose access token expires
	// before dueBefore and whose lease is free or ran out. Rows another instance is
	// claiming at the same moment are skipped, never waited for.
	ClaimDueRefreshes(ctx context.Context, owner uuid.UUID, now, dueBefore, until time.Time, limit int) ([]*provider.Authorization, error)
	// UpdateAuthorization also keeps what a revocation set aside: when the
	// saved authorization holds credentials set aside
	// (provider.Authorization.RevokeLater), the store keeps them, encrypted,
	// and enqueues a RevokeJob naming them, in the same transaction.
	//
	// SetAsideCredentials returns the credentials a RevokeJob names, or
	// domain.ErrNotFound once they were forgotten.
	SetAsideCredentials(ctx context.Context, id uuid.UUID) (SetAside, error)
	// ForgetSetAside deletes the credentials once revoked at the institution.
	ForgetSetAside(ctx context.Context, id uuid.UUID) error
}

// SetAside is a grant revoked here whose revocation at the institution is
// still to be done (provider.Authorization.RevokeLater).
type SetAside struct {
	ID          uuid.UUID
	ProviderKey string
	Credentials provider.Credentials
}

// RevokeJob is the job that revokes set-aside credentials at their
// institution (Connections.RevokeSetAside). It names the stored credentials,
// never carries them.
type RevokeJob struct {
	SetAsideID uuid.UUID `json:"set_aside_id"`
}

// Kind names the job's worker.
func (RevokeJob) Kind() string { return "institution_revoke" }
