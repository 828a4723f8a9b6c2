// Package erasure deletes a user's account and everything Dashtam holds about
// them: the right to be forgotten (docs/data-rights.md). A user deletes their
// own account with their current password; an active admin deletes anyone's.
// Either way it is final and it is one transaction: every grant the user gave
// is set aside, encrypted, for a job that revokes it at its institution (with
// retries, the institution_revoke job of application/providers), and every
// row of the user goes, their sessions first so every instance drops them.
// What stays is the audit log's record of what they did (append-only, purged
// by its retention) and, until each institution has confirmed the
// revocation, the set-aside grants the revoke jobs need.
package erasure

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/application/audit"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Store erases users.
type Store interface {
	// EraseUser, in one transaction: loads the user with id under its row
	// lock, with the number of active admins (locked too, as for
	// admin.Users.AdministerUser); calls check, whose error aborts
	// everything and is returned as it is; sets the credentials of every
	// grant of the user's providers aside and enqueues, for each, the job
	// that revokes it at its institution; revokes the user's sessions (so
	// every instance stops accepting them) and deletes every row of the
	// user in every table but the audit log. An unknown id is
	// domain.ErrNotFound.
	EraseUser(ctx context.Context, id uuid.UUID, now time.Time, check func(u *identity.User, activeAdmins int) error) (Erased, error)
}

// Erased is what an erasure did.
type Erased struct {
	// Providers is how many providers the user had.
	Providers int
	// GrantsToRevoke is how many grants were set aside for revocation at
	// their institutions.
	GrantsToRevoke int
}

// Users reads accounts.
type Users interface {
	UserByID(ctx context.Context, id uuid.UUID) (*identity.User, error)
}

// PasswordVerifier checks a password against its stored hash.
type PasswordVerifier interface {
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
}

// Admins decides whether a caller may use an operators' use case
// (application/admin's Service), auditing a refusal under operation.
type Admins interface {
	RequireAdmin(ctx context.Context, p identityapp.Principal, operation string) error
}

// Auditor records deletions and their refusals.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry)
}

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Service deletes accounts.
type Service struct {
	store     Store
	users     Users
	passwords PasswordVerifier
	admins    Admins
	clock     Clock
	audit     Auditor
}

// NewService builds the account deletion use cases.
func NewService(store Store, users Users, passwords PasswordVerifier, admins Admins, clock Clock, auditor Auditor) *Service {
	return &Service{store: store, users: users, passwords: passwords, admins: admins, clock: clock, audit: auditor}
}

// DeleteOwnAccount deletes the caller's account once currentPassword proves
// it is them (a stolen access token alone cannot). A wrong password is a
// validation error on current_password; the last active admin cannot delete
// themself (identity.ErrLastAdmin).
func (s *Service) DeleteOwnAccount(ctx context.Context, p identityapp.Principal, currentPassword string) (Erased, error) {
	erased, err := s.deleteOwnAccount(ctx, p, currentPassword)
	s.record(ctx, p, p.UserID, err)
	return erased, err
}

func (s *Service) deleteOwnAccount(ctx context.Context, p identityapp.Principal, currentPassword string) (Erased, error) {
	u, err := s.users.UserByID(ctx, p.UserID)
	if err != nil {
		return Erased{}, err
	}
	ok, _, err := s.passwords.Verify(ctx, currentPassword, u.PasswordHash())
	if err != nil {
		return Erased{}, err
	}
	if !ok {
		return Erased{}, domain.NewValidationError("current_password", "incorrect", "The current password is incorrect.")
	}
	return s.erase(ctx, p.UserID, nil)
}

// DeleteUser deletes any user's account: active admins only (anyone else is
// identity.ErrNotAdmin, a not-found, and audited as such). Deleting the last
// active admin is identity.ErrLastAdmin. ifMatch, when not nil, lists the
// versions of the user (admin.Version) the admin is willing to delete;
// another is domain.ErrPreconditionFailed.
func (s *Service) DeleteUser(ctx context.Context, p identityapp.Principal, id uuid.UUID, ifMatch []int64) (Erased, error) {
	if err := s.admins.RequireAdmin(ctx, p, "delete_user"); err != nil {
		return Erased{}, err
	}
	erased, err := s.erase(ctx, id, ifMatch)
	s.record(ctx, p, id, err)
	return erased, err
}

func (s *Service) erase(ctx context.Context, id uuid.UUID, ifMatch []int64) (Erased, error) {
	// The erasure is final once begun: a client that hangs up does not roll
	// it back half-way through its own request (it is one transaction
	// anyway), and a large account gets the time its rows take.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eraseTimeout)
	defer cancel()
	return s.store.EraseUser(ctx, id, s.clock.Now(), func(u *identity.User, activeAdmins int) error {
		if ifMatch != nil && !slices.Contains(ifMatch, admin.Version(u)) {
			return fmt.Errorf("user %s: %w", u.ID(), domain.ErrPreconditionFailed)
		}
		if u.IsAdmin() && !u.IsDisabled() && activeAdmins <= 1 {
			return fmt.Errorf("user %s: %w", u.ID(), identity.ErrLastAdmin)
		}
		return nil
	})
}

// eraseTimeout bounds one erasure's transaction.
const eraseTimeout = 5 * time.Minute

func (s *Service) record(ctx context.Context, p identityapp.Principal, subject uuid.UUID, err error) {
	e := audit.Entry{Action: audit.ActionDeletion, Actor: p.UserID, Subject: audit.UserSubject(subject)}
	e.Outcome, e.Reason = audit.Result(err)
	s.audit.Record(ctx, e)
}
