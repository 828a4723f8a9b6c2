package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	identityapp "github.com/dashtam/dashtam/application/identity"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// MaxPerPage is the largest page of any admin list.
const MaxPerPage = 100

// Service implements the operators' use cases.
type Service struct {
	users     Users
	sessions  Sessions
	providers Providers
	clock     Clock
	audit     Auditor
	auditLog  AuditLog
}

// NewService builds the operators' use cases, recording their writes and
// every refused caller with auditor and reading the audit log from log.
func NewService(users Users, sessions Sessions, providers Providers, clock Clock, auditor Auditor, log AuditLog) *Service {
	return &Service{users: users, sessions: sessions, providers: providers, clock: clock, audit: auditor, auditLog: log}
}

// record writes the audit entry of an operator's action.
func (s *Service) record(ctx context.Context, action audit.Action, p identityapp.Principal, subject audit.Subject, err error) {
	e := audit.Entry{Action: action, Actor: p.UserID, Subject: subject}
	e.Outcome, e.Reason = audit.Result(err)
	s.audit.Record(ctx, e)
}

// RequireAdmin returns identity.ErrNotAdmin unless the caller is an active
// admin, auditing a refusal with operation as its subject: for what an admin
// may use besides these use cases (the jobs dashboard, deleting a user).
func (s *Service) RequireAdmin(ctx context.Context, p identityapp.Principal, operation string) error {
	return s.requireAdmin(ctx, p, operation)
}

// requireAdmin loads the caller and returns identity.ErrNotAdmin unless they
// are an active admin. It reads the store every time: a role is never taken
// from a token. A refusal is audited (admin.access_denied, the operation as
// subject).
func (s *Service) requireAdmin(ctx context.Context, p identityapp.Principal, operation string) error {
	err := s.checkAdmin(ctx, p)
	if errors.Is(err, identity.ErrNotAdmin) {
		s.record(ctx, audit.ActionAdminDenied, p, audit.Subject{Type: audit.SubjectAdminOperation, ID: operation}, err)
	}
	return err
}

func (s *Service) checkAdmin(ctx context.Context, p identityapp.Principal) error {
	caller, err := s.users.UserByID(ctx, p.UserID)
	if errors.Is(err, domain.ErrNotFound) {
		return identity.ErrNotAdmin
	}
	if err != nil {
		return err
	}
	if !caller.IsAdmin() || caller.IsDisabled() {
		return identity.ErrNotAdmin
	}
	return nil
}

// UserPage is one page of users: Total in offset mode, Next and HasMore in
// cursor mode.
type UserPage struct {
	Items   []*identity.User
	Total   int64
	Next    UserPosition
	HasMore bool
}

// ListUsers lists the users matching q, newest first: a page at q.Offset with
// the total (offset mode), or the page after q.After (cursor mode).
func (s *Service) ListUsers(ctx context.Context, p identityapp.Principal, q UserQuery, cursorMode bool) (UserPage, error) {
	if err := s.requireAdmin(ctx, p, "list_users"); err != nil {
		return UserPage{}, err
	}
	if q.Limit < 1 || q.Limit > MaxPerPage {
		return UserPage{}, domain.NewValidationError("limit", "out_of_range", "Ask for 1 to 100 users a page.")
	}
	if !cursorMode {
		q.WithTotal = true
		items, total, err := s.users.ListUsers(ctx, q)
		return UserPage{Items: items, Total: total}, err
	}
	q.Offset, q.WithTotal = 0, false
	q.Limit++ // one more tells whether there is a next page
	items, _, err := s.users.ListUsers(ctx, q)
	if err != nil {
		return UserPage{}, err
	}
	page := UserPage{Items: items}
	if len(items) == q.Limit {
		page.Items, page.HasMore = items[:q.Limit-1], true
		page.Next = PositionOfUser(page.Items[len(page.Items)-1])
	}
	return page, nil
}

// GetUser returns any user.
func (s *Service) GetUser(ctx context.Context, p identityapp.Principal, id uuid.UUID) (*identity.User, error) {
	if err := s.requireAdmin(ctx, p, "get_user"); err != nil {
		return nil, err
	}
	return s.users.UserByID(ctx, id)
}

// Version is a user's version for If-Match: its last change, in microseconds
// since the epoch (what storage keeps).
func Version(u *identity.User) int64 { return u.UpdatedAt().UnixMicro() }

// UpdateUserInput is an operator's change of a user; nil leaves a field alone.
type UpdateUserInput struct {
	Role   *identity.Role
	Status *identity.UserStatus
	// IfMatch, when not nil, lists the versions (Version) the operator is
	// willing to change; another is domain.ErrPreconditionFailed.
	IfMatch []int64
}

// UpdateUser disables or enables a user and gives or takes their admin role.
// Leaving no active admin (the last one disabling or demoting themself, or
// being disabled or demoted) is identity.ErrLastAdmin. Disabling a user ends
// every session they have at once, on every instance (sessions are checked on
// each request); enabling them again restores login, not those sessions.
//
// A change an admin was allowed to try is audited (admin.user_update), its
// refusals (last_admin, precondition_failed) too.
func (s *Service) UpdateUser(ctx context.Context, p identityapp.Principal, id uuid.UUID, in UpdateUserInput) (*identity.User, error) {
	if err := s.requireAdmin(ctx, p, "update_user"); err != nil {
		return nil, err
	}
	updated, err := s.updateUser(ctx, id, in)
	s.record(ctx, audit.ActionAdminUserUpdate, p, audit.UserSubject(id), err)
	return updated, err
}

func (s *Service) updateUser(ctx context.Context, id uuid.UUID, in UpdateUserInput) (*identity.User, error) {
	updated, err := s.users.AdministerUser(ctx, id, func(u *identity.User, activeAdmins int) error {
		if in.IfMatch != nil && !slices.Contains(in.IfMatch, Version(u)) {
			return fmt.Errorf("user %s: %w", u.ID(), domain.ErrPreconditionFailed)
		}
		wasActiveAdmin := u.IsAdmin() && !u.IsDisabled()
		now := s.clock.Now()
		if in.Role != nil {
			u.SetRole(*in.Role, now)
		}
		if in.Status != nil {
			u.SetStatus(*in.Status, now)
		}
		return keepAnAdmin(wasActiveAdmin, u, activeAdmins)
	})
	if err != nil {
		return nil, err
	}
	if updated.IsDisabled() {
		// Also when it was disabled already: a retry after a failed revocation
		// finishes the job.
		if err := s.sessions.RevokeUserSessions(ctx, id, uuid.Nil, s.clock.Now(), identity.RevokedUserDisabled); err != nil {
			return nil, err
		}
	}
	return updated, nil
}

// SessionPage is one page of a user's sessions.
type SessionPage struct {
	Items []*identity.Session
	Total int64
}

// ListUserSessions lists a user's active sessions, newest first.
func (s *Service) ListUserSessions(ctx context.Context, p identityapp.Principal, id uuid.UUID, page, perPage int) (SessionPage, error) {
	if err := s.requireAdmin(ctx, p, "list_user_sessions"); err != nil {
		return SessionPage{}, err
	}
	if _, err := s.users.UserByID(ctx, id); err != nil {
		return SessionPage{}, err
	}
	items, total, err := s.sessions.ListActiveSessions(ctx, id, s.clock.Now(), (page-1)*perPage, perPage)
	return SessionPage{Items: items, Total: total}, err
}

// RevokeUserSessions ends every session of a user at once (an admin's own
// call keeps the session it came with).
func (s *Service) RevokeUserSessions(ctx context.Context, p identityapp.Principal, id uuid.UUID) error {
	if err := s.requireAdmin(ctx, p, "revoke_user_sessions"); err != nil {
		return err
	}
	if _, err := s.users.UserByID(ctx, id); err != nil {
		return err
	}
	keep := uuid.Nil
	if id == p.UserID {
		keep = p.SessionID
	}
	err := s.sessions.RevokeUserSessions(ctx, id, keep, s.clock.Now(), identity.RevokedByAdmin)
	s.record(ctx, audit.ActionAdminSessionsRevoke, p, audit.UserSubject(id), err)
	return err
}

// ProviderPage is one page of a user's providers.
type ProviderPage struct {
	Items []*provider.Provider
	Total int64
}

// ListUserProviders lists a user's providers, newest first.
func (s *Service) ListUserProviders(ctx context.Context, p identityapp.Principal, id uuid.UUID, page, perPage int) (ProviderPage, error) {
	if err := s.requireAdmin(ctx, p, "list_user_providers"); err != nil {
		return ProviderPage{}, err
	}
	if _, err := s.users.UserByID(ctx, id); err != nil {
		return ProviderPage{}, err
	}
	items, total, err := s.providers.ListProviders(ctx, providersapp.ListQuery{
		UserID: id, Sort: providersapp.DefaultSort, Offset: (page - 1) * perPage, Limit: perPage, WithTotal: true,
	})
	return ProviderPage{Items: items, Total: total}, err
}

// SetRole gives or takes the admin role of the user with email: the
// operator's command line (dashtam users grant-admin), which is trusted as
// whoever runs the binary with the database's credentials is. Taking the
// role of the last active admin is identity.ErrLastAdmin; an unknown email
// is domain.ErrNotFound.
func (s *Service) SetRole(ctx context.Context, rawEmail string, role identity.Role) (*identity.User, error) {
	email, err := identity.ParseEmail(rawEmail)
	if err != nil {
		return nil, err
	}
	u, err := s.users.UserByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	updated, err := s.users.AdministerUser(ctx, u.ID(), func(u *identity.User, activeAdmins int) error {
		wasActiveAdmin := u.IsAdmin() && !u.IsDisabled()
		u.SetRole(role, s.clock.Now())
		return keepAnAdmin(wasActiveAdmin, u, activeAdmins)
	})
	// The command line has no user: the actor is the system.
	s.record(ctx, audit.ActionAdminRoleSet, identityapp.Principal{}, audit.UserSubject(u.ID()), err)
	return updated, err
}

// keepAnAdmin returns identity.ErrLastAdmin when u, an active admin before
// the change (wasActiveAdmin) of activeAdmins, is no longer one and was the
// last.
func keepAnAdmin(wasActiveAdmin bool, u *identity.User, activeAdmins int) error {
	if wasActiveAdmin && (!u.IsAdmin() || u.IsDisabled()) && activeAdmins <= 1 {
		return identity.ErrLastAdmin
	}
	return nil
}

// ListAuditEvents lists the whole audit log, newest first, filtered by q.
func (s *Service) ListAuditEvents(ctx context.Context, p identityapp.Principal, q audit.Query) (audit.Page, error) {
	if err := s.requireAdmin(ctx, p, "list_audit_events"); err != nil {
		return audit.Page{}, err
	}
	return s.auditLog.List(ctx, q)
}
