package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/jobs"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Config holds the knobs of the identity use cases.
type Config struct {
	// RefreshTTL is the life of each refresh token (and so of an idle session).
	RefreshTTL time.Duration
	// SessionMaxLifetime is a session's absolute life: refresh never extends
	// it past its login plus this (0: DefaultSessionMaxLifetime).
	SessionMaxLifetime time.Duration
	// RefreshReuseGrace is how long a just-rotated refresh token may be
	// presented again (a retry, parallel refreshes) without counting as theft
	// (0: none; identity.Rotation.ReuseGrace).
	RefreshReuseGrace time.Duration
	// PublicBaseURL is where emailed links point (the front end's origin).
	PublicBaseURL string
}

// Deps are the ports the identity use cases need, named so that NewService's
// call site says which adapter plays which part. The Service keeps them private.
type Deps struct {
	Users         Users
	Sessions      Sessions
	OneTimeTokens OneTimeTokens
	Retention     Retention
	Hasher        PasswordHasher
	Tokens        AccessTokens
	Mailer        Mailer
	Jobs          jobs.Enqueuer
	Clock         Clock
	Log           *slog.Logger
	// Audit records logins, logouts, password changes and resets, session
	// revocations and email verifications (none: nothing is recorded).
	Audit Auditor
}

// Service implements the identity use cases.
type Service struct {
	users         Users
	sessions      Sessions
	oneTimeTokens OneTimeTokens
	retention     Retention
	hasher        PasswordHasher
	tokens        AccessTokens
	mailer        Mailer
	jobs          jobs.Enqueuer
	clock         Clock
	log           *slog.Logger
	audit         Auditor
	cfg           Config
	// dummyHash is verified against when a login names an unknown email, so both
	// failures cost one password hash and take about the same time.
	dummyHash string
}

// DefaultSessionMaxLifetime is how long a session lives at most, however often
// it is refreshed: after it, the user logs in again.
const DefaultSessionMaxLifetime = 30 * 24 * time.Hour

// NewService builds the identity use cases.
func NewService(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 7 * 24 * time.Hour
	}
	if cfg.SessionMaxLifetime <= 0 {
		cfg.SessionMaxLifetime = DefaultSessionMaxLifetime
	}
	if _, err := url.Parse(cfg.PublicBaseURL); err != nil || cfg.PublicBaseURL == "" {
		return nil, errors.New("identity: PublicBaseURL must be an absolute URL")
	}
	dummy, _ := identity.NewOpaqueToken()
	hash, err := deps.Hasher.Hash(ctx, dummy)
	if err != nil {
		return nil, fmt.Errorf("identity: prepare dummy hash: %w", err)
	}
	if deps.Audit == nil {
		deps.Audit = noAudit{}
	}
	return &Service{audit: deps.Audit, users: deps.Users, sessions: deps.Sessions, oneTimeTokens: deps.OneTimeTokens, retention: deps.Retention, hasher: deps.Hasher,
		tokens: deps.Tokens, mailer: deps.Mailer, jobs: deps.Jobs, clock: deps.Clock, log: deps.Log, cfg: cfg, dummyHash: hash}, nil
}

// noAudit records nothing.
type noAudit struct{}

func (noAudit) Record(context.Context, audit.Entry) {}

// record writes the audit entry of action by actor (uuid.Nil: no one) on
// subject, which ended with err.
func (s *Service) record(ctx context.Context, action audit.Action, actor uuid.UUID, subject audit.Subject, err error) {
	e := audit.Entry{Action: action, Actor: actor, Subject: subject}
	e.Outcome, e.Reason = audit.Result(err)
	s.audit.Record(ctx, e)
}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
}

// Grant is what a login or refresh hands the client.
type Grant struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	Session      *identity.Session
}

// RegisterInput is a registration request.
type RegisterInput struct {
	Email, Password, Name string
}

// Register creates an unverified account and, in the same transaction,
// enqueues the job that mails its verification link. Every invalid field is
// reported at once.
//
// An address that already has an account gets the same answer, a user that
// is never stored, so registration does not tell anyone which addresses have
// accounts; the owner is mailed instead (RegistrationAttemptMail). Both paths
// hash the password and write once, so they take about the same time.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*identity.User, error) {
	verr := &domain.ValidationError{}
	email, err := identity.ParseEmail(in.Email)
	verr.Merge(err)
	verr.Merge(identity.ValidatePassword("password", in.Password))
	name, err := identity.ValidateName(in.Name)
	verr.Merge(err)
	if err := verr.OrNil(); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	user, err := identity.NewUser(id, email, name, hash, now)
	if err != nil {
		return nil, err
	}
	err = s.users.CreateUser(ctx, user, VerificationMail{UserID: user.ID()})
	if errors.Is(err, identity.ErrEmailTaken) {
		_, err = s.jobs.Enqueue(ctx, RegistrationAttemptMail{Email: email.String()})
	}
	if err != nil {
		return nil, err
	}
	return user, nil
}

// VerifyEmail consumes a verification token and marks its user's email verified.
func (s *Service) VerifyEmail(ctx context.Context, token string) (*identity.User, error) {
	verified, err := s.verifyEmail(ctx, token)
	var who uuid.UUID
	if verified != nil {
		who = verified.ID()
	}
	s.record(ctx, audit.ActionEmailVerify, who, audit.UserSubject(who), err)
	return verified, err
}

func (s *Service) verifyEmail(ctx context.Context, token string) (*identity.User, error) {
	var verified *identity.User
	err := s.oneTimeTokens.ConsumeOneTimeToken(ctx, identity.HashToken(token), func(t *identity.OneTimeToken, u *identity.User) error {
		now := s.clock.Now()
		if err := t.Consume(identity.PurposeEmailVerification, now); err != nil {
			return err
		}
		u.VerifyEmail(now)
		verified = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return verified, nil
}

// ResendVerification enqueues the job that mails a new verification link
// (DeliverVerification), unless the email is verified already.
func (s *Service) ResendVerification(ctx context.Context, p Principal) error {
	user, err := s.users.UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	if user.IsEmailVerified() {
		return nil
	}
	_, err = s.jobs.Enqueue(ctx, VerificationMail{UserID: user.ID()})
	return err
}

// LoginInput is a login request. UserAgent and IP describe the client for the
// session list.
type LoginInput struct {
	Email, Password, UserAgent, IP string
}

// Login checks the credentials and starts a session. An unknown email and a wrong
// password are the same error, after the same amount of hashing.
//
// Every attempt is audited: a success with its user as the actor, a failure
// with no actor and, as subject, the user the address belongs to or, for an
// address no account has, a hash of it (never the address).
func (s *Service) Login(ctx context.Context, in LoginInput) (Grant, error) {
	subject := audit.Subject{Type: audit.SubjectEmailHash, ID: audit.EmailHash(in.Email)}
	g, err := s.login(ctx, in, &subject)
	var actor uuid.UUID
	if err == nil {
		actor = g.Session.UserID()
	}
	s.record(ctx, audit.ActionLogin, actor, subject, err)
	return g, err
}

// login is Login; it points subject at the account once the address names one.
func (s *Service) login(ctx context.Context, in LoginInput, subject *audit.Subject) (Grant, error) {
	email, err := identity.ParseEmail(in.Email)
	if err != nil {
		// Still hash, so a malformed email is not faster to reject than a wrong one.
		_, _, _ = s.hasher.Verify(ctx, in.Password, s.dummyHash)
		return Grant{}, identity.ErrInvalidCredentials
	}
	user, err := s.users.UserByEmail(ctx, email)
	if errors.Is(err, domain.ErrNotFound) {
		_, _, _ = s.hasher.Verify(ctx, in.Password, s.dummyHash)
		return Grant{}, identity.ErrInvalidCredentials
	}
	if err != nil {
		return Grant{}, err
	}
	*subject = audit.UserSubject(user.ID())
	ok, needsRehash, err := s.hasher.Verify(ctx, in.Password, user.PasswordHash())
	if err != nil {
		return Grant{}, err
	}
	if !ok {
		return Grant{}, identity.ErrInvalidCredentials
	}
	if err := user.RequireActive(); err != nil {
		return Grant{}, err
	}
	current := user.PasswordHash()
	if needsRehash {
		current = s.rehash(ctx, user.ID(), in.Password, current)
	}
	now := s.clock.Now()
	sessionID, err := uuid.NewV7()
	if err != nil {
		return Grant{}, err
	}
	session := identity.NewSession(sessionID, user.ID(), in.UserAgent, in.IP, now, s.cfg.RefreshTTL)
	refresh, refreshHash := identity.NewOpaqueToken()
	if err := s.sessions.CreateSession(ctx, session, identity.NewRefreshToken(refreshHash, session.ID(), now, s.cfg.RefreshTTL)); err != nil {
		return Grant{}, err
	}
	// A password reset or change, or an operator disabling the account, that
	// landed while this login was hashing has revoked every session it could
	// see, but not this one, created after it. Check, and undo the session if
	// the password moved on or the account was disabled.
	after, err := s.users.UserByID(ctx, user.ID())
	if err != nil {
		return Grant{}, err
	}
	if after.PasswordHash() != current || after.IsDisabled() {
		revokeErr := s.sessions.UpdateSession(ctx, session.ID(), func(sess *identity.Session) error {
			sess.Revoke(s.clock.Now(), identity.RevokedPasswordChange)
			return nil
		})
		if revokeErr != nil {
			return Grant{}, revokeErr
		}
		return Grant{}, identity.ErrInvalidCredentials
	}
	return s.grant(session, refresh, now)
}

// rehash stores a hash of password made with the current parameters, unless the
// stored hash is no longer verified (a reset or change landed meanwhile: the new
// password must win). It returns the hash this login now stands on: the new one,
// or verified when nothing was written (so a concurrent change is still noticed
// by the caller). Failure only costs the upgrade, so it is logged, not returned.
func (s *Service) rehash(ctx context.Context, userID uuid.UUID, password, verified string) string {
	hash, err := s.hasher.Hash(ctx, password)
	stored := verified
	if err == nil {
		err = s.users.UpdateUser(ctx, userID, func(u *identity.User) error {
			if u.PasswordHash() != verified {
				return nil
			}
			u.SetPasswordHash(hash, s.clock.Now())
			stored = hash
			return nil
		})
	}
	if err != nil {
		s.log.WarnContext(ctx, "password re-hash failed", "error", err.Error())
	}
	return stored
}

// Refresh rotates a refresh token into a new token pair. A token presented a second
// time revokes its whole session.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Grant, error) {
	next, nextHash := identity.NewOpaqueToken()
	var (
		session *identity.Session
		now     time.Time
	)
	err := s.sessions.RotateRefreshToken(ctx, identity.HashToken(refreshToken),
		func(presented *identity.RefreshToken, sess *identity.Session) (*identity.RefreshToken, error) {
			now = s.clock.Now()
			session = sess
			return sess.Rotate(presented, nextHash, now, identity.Rotation{
				TTL: s.cfg.RefreshTTL, MaxLifetime: s.cfg.SessionMaxLifetime, ReuseGrace: s.cfg.RefreshReuseGrace,
			})
		})
	if err != nil {
		if errors.Is(err, identity.ErrRefreshTokenReused) {
			s.log.WarnContext(ctx, "refresh token reuse detected; session revoked", "session_id", session.ID().String())
		}
		return Grant{}, err
	}
	return s.grant(session, next, now)
}

func (s *Service) grant(session *identity.Session, refresh string, now time.Time) (Grant, error) {
	access, claims, err := s.tokens.Issue(session.UserID(), session.ID(), now)
	if err != nil {
		return Grant{}, err
	}
	return Grant{AccessToken: access, RefreshToken: refresh, ExpiresIn: claims.ExpiresAt.Sub(claims.IssuedAt), Session: session}, nil
}

// Authenticate verifies an access token and that its session is still active, so
// logout and revocation take effect on the very next request, on every instance.
func (s *Service) Authenticate(ctx context.Context, accessToken string) (Principal, error) {
	now := s.clock.Now()
	claims, err := s.tokens.Verify(accessToken, now)
	if err != nil {
		return Principal{}, err
	}
	session, err := s.sessions.SessionValidity(ctx, claims.SessionID)
	if errors.Is(err, domain.ErrNotFound) {
		return Principal{}, identity.ErrSessionInactive
	}
	if err != nil {
		return Principal{}, err
	}
	if session.UserID != claims.UserID || !session.IsActive(now) {
		return Principal{}, identity.ErrSessionInactive
	}
	return Principal{UserID: claims.UserID, SessionID: claims.SessionID}, nil
}

// Logout revokes the caller's current session.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	err := s.revokeSession(ctx, p, p.SessionID)
	s.record(ctx, audit.ActionLogout, p.UserID, audit.Of(audit.SubjectSession, p.SessionID), err)
	return err
}

// SessionPage is one page of a user's sessions.
type SessionPage struct {
	Items []*identity.Session
	Total int64
}

// ListSessions lists the caller's active sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, p Principal, page, perPage int) (SessionPage, error) {
	items, total, err := s.sessions.ListActiveSessions(ctx, p.UserID, s.clock.Now(), (page-1)*perPage, perPage)
	if err != nil {
		return SessionPage{}, err
	}
	return SessionPage{Items: items, Total: total}, nil
}

// GetSession returns one of the caller's sessions. Another user's session is
// domain.ErrNotFound, exactly like a missing one.
func (s *Service) GetSession(ctx context.Context, p Principal, id uuid.UUID) (*identity.Session, error) {
	session, err := s.sessions.SessionByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if session.UserID() != p.UserID || !session.IsActive(s.clock.Now()) {
		return nil, fmt.Errorf("session: %w", domain.ErrNotFound)
	}
	return session, nil
}

// RevokeSession revokes one of the caller's sessions.
func (s *Service) RevokeSession(ctx context.Context, p Principal, id uuid.UUID) error {
	err := s.revokeSession(ctx, p, id)
	action := audit.ActionSessionRevoke
	if id == p.SessionID {
		action = audit.ActionLogout
	}
	s.record(ctx, action, p.UserID, audit.Of(audit.SubjectSession, id), err)
	return err
}

func (s *Service) revokeSession(ctx context.Context, p Principal, id uuid.UUID) error {
	reason := identity.RevokedByUser
	if id == p.SessionID {
		reason = identity.RevokedLogout
	}
	return s.sessions.UpdateSession(ctx, id, func(sess *identity.Session) error {
		now := s.clock.Now()
		if sess.UserID() != p.UserID || !sess.IsActive(now) {
			return fmt.Errorf("session: %w", domain.ErrNotFound)
		}
		sess.Revoke(now, reason)
		return nil
	})
}

// Profile returns the caller's account.
func (s *Service) Profile(ctx context.Context, p Principal) (*identity.User, error) {
	return s.users.UserByID(ctx, p.UserID)
}

// UpdateProfileInput holds the profile fields to change; nil leaves a field alone.
type UpdateProfileInput struct {
	Name *string
}

// UpdateProfile changes the caller's profile.
func (s *Service) UpdateProfile(ctx context.Context, p Principal, in UpdateProfileInput) (*identity.User, error) {
	var updated *identity.User
	err := s.users.UpdateUser(ctx, p.UserID, func(u *identity.User) error {
		if in.Name != nil {
			if err := u.Rename(*in.Name, s.clock.Now()); err != nil {
				return err
			}
		}
		updated = u
		return nil
	})
	return updated, err
}

// ChangePassword replaces the caller's password after checking the current one,
// and revokes every other session of the caller.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	err := s.changePassword(ctx, p, current, next)
	s.record(ctx, audit.ActionPasswordChange, p.UserID, audit.UserSubject(p.UserID), err)
	return err
}

func (s *Service) changePassword(ctx context.Context, p Principal, current, next string) error {
	if err := identity.ValidatePassword("new_password", next); err != nil {
		return err
	}
	user, err := s.users.UserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	ok, _, err := s.hasher.Verify(ctx, current, user.PasswordHash())
	if err != nil {
		return err
	}
	if !ok {
		return domain.NewValidationError("current_password", "incorrect", "The current password is incorrect.")
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	// Revoke first: if saving the hash then fails, the other sessions are gone but
	// nothing is weaker than before, and the user can simply try again.
	if err := s.sessions.RevokeUserSessions(ctx, p.UserID, p.SessionID, s.clock.Now(), identity.RevokedPasswordChange); err != nil {
		return err
	}
	if err := s.users.UpdateUser(ctx, p.UserID, func(u *identity.User) error {
		u.ChangePassword(hash, s.clock.Now())
		return nil
	}); err != nil {
		return err
	}
	// A reset link mailed before the change must not undo it.
	return s.oneTimeTokens.VoidOneTimeTokens(ctx, p.UserID, identity.PurposePasswordReset, s.clock.Now())
}

// RequestPasswordReset enqueues the job that mails a reset link if the email
// has an account (DeliverPasswordReset). The request does the same work for
// every well-formed address, known or not, so neither its answer nor its
// duration tells the caller whether the address has an account.
func (s *Service) RequestPasswordReset(ctx context.Context, rawEmail string) error {
	email, err := identity.ParseEmail(rawEmail)
	if err != nil {
		return err
	}
	_, err = s.jobs.Enqueue(ctx, PasswordResetMail{Email: email.String()})
	return err
}

// ResetPassword sets a new password with a mailed reset token, voids the
// account's other reset tokens and revokes every session of the account.
//
// The reset is audited with the account's user as actor (whoever holds the
// link acts for them), or with no actor when the token is refused.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	userID, err := s.resetPassword(ctx, token, newPassword)
	s.record(ctx, audit.ActionPasswordReset, userID, audit.UserSubject(userID), err)
	return err
}

func (s *Service) resetPassword(ctx context.Context, token, newPassword string) (uuid.UUID, error) {
	if err := identity.ValidatePassword("new_password", newPassword); err != nil {
		return uuid.Nil, err
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return uuid.Nil, err
	}
	var userID uuid.UUID
	err = s.oneTimeTokens.ConsumeOneTimeToken(ctx, identity.HashToken(token), func(t *identity.OneTimeToken, u *identity.User) error {
		now := s.clock.Now()
		if err := t.Consume(identity.PurposePasswordReset, now); err != nil {
			return err
		}
		u.ChangePassword(hash, now)
		// Whoever can read the inbox proved it; the link also proves the address.
		u.VerifyEmail(now)
		userID = u.ID()
		return nil
	})
	if err != nil {
		return userID, err
	}
	// The other reset links mailed to the account stop working: the one used
	// here decided the password.
	if err := s.oneTimeTokens.VoidOneTimeTokens(ctx, userID, identity.PurposePasswordReset, s.clock.Now()); err != nil {
		return userID, err
	}
	return userID, s.sessions.RevokeUserSessions(ctx, userID, uuid.Nil, s.clock.Now(), identity.RevokedPasswordReset)
}
