// Package admin holds the operators' use cases: listing users, disabling and
// enabling them, giving and taking the admin role, and looking at or ending a
// user's sessions and providers. Every use case loads its caller from the
// store and refuses anyone who is not an active admin (identity.ErrNotAdmin,
// a not-found), so a demoted or disabled admin loses access on their next
// request, on every instance. The ports it needs are declared here.
package admin

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Users stores accounts, as the operators see them.
type Users interface {
	UserByID(ctx context.Context, id uuid.UUID) (*identity.User, error)
	UserByEmail(ctx context.Context, email identity.Email) (*identity.User, error)
	// ListUsers returns one page of the users matching q, newest first (ties
	// broken by id, descending), and, when q.WithTotal, how many match in all.
	ListUsers(ctx context.Context, q UserQuery) ([]*identity.User, int64, error)
	// AdministerUser loads the user under its row lock, together with the
	// number of active admins (the user included when it is one), locked
	// too so that two admins demoting each other cannot both see the other;
	// lets fn change the user, saves it and returns what it saved. fn's
	// error aborts everything and is returned. An unknown id is
	// domain.ErrNotFound.
	AdministerUser(ctx context.Context, id uuid.UUID, fn func(u *identity.User, activeAdmins int) error) (*identity.User, error)
}

// Sessions stores sessions.
type Sessions interface {
	// ListActiveSessions returns a user's active sessions at now, newest
	// first, and how many there are in all.
	ListActiveSessions(ctx context.Context, userID uuid.UUID, now time.Time, offset, limit int) ([]*identity.Session, int64, error)
	// RevokeUserSessions revokes every active session of the user except keep
	// (uuid.Nil keeps none).
	RevokeUserSessions(ctx context.Context, userID, keep uuid.UUID, now time.Time, reason identity.RevokeReason) error
}

// Auditor records the operators' actions and refusals in the audit log
// (application/audit's Service).
type Auditor interface {
	Record(ctx context.Context, e audit.Entry)
}

// AuditLog reads the whole audit log (application/audit's Service).
type AuditLog interface {
	List(ctx context.Context, q audit.Query) (audit.Page, error)
}

// Providers lists providers.
type Providers interface {
	ListProviders(ctx context.Context, q providersapp.ListQuery) ([]*provider.Provider, int64, error)
}

// UserFilter narrows the user list. Zero fields do not filter.
type UserFilter struct {
	// Email matches addresses containing it, case-insensitively.
	Email        string
	Role         identity.Role
	Status       identity.UserStatus
	CreatedAfter time.Time // exclusive
}

// UserPosition is where a cursor page starts: just after the user with these
// values.
type UserPosition struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// PositionOfUser returns the position just after u.
func PositionOfUser(u *identity.User) UserPosition {
	return UserPosition{CreatedAt: u.CreatedAt(), ID: u.ID()}
}

// UserQuery asks for one page of users.
type UserQuery struct {
	Filter UserFilter
	// After, when set, starts the page just after that user (keyset
	// pagination); otherwise the page starts at Offset.
	After  *UserPosition
	Offset int
	Limit  int
	// WithTotal asks for the number of matching users as well.
	WithTotal bool
}
