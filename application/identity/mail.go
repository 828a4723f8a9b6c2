package identity

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Mail leaves the request path: a request enqueues one of these jobs and a
// worker mints the link's token and sends the message (DeliverVerification,
// DeliverPasswordReset). The job names the recipient only: a link's token is
// made when the mail is sent and is never stored in the queue, where it would
// sit in the clear. A job retried after a failed delivery mints a new link.

// VerificationMail is the job that mails a user a new email-verification link.
type VerificationMail struct {
	UserID uuid.UUID `json:"user_id"`
}

// Kind names the job's worker.
func (VerificationMail) Kind() string { return "mail_verification" }

// PasswordResetMail is the job that mails a password-reset link to the account
// registered with Email, if there is one.
type PasswordResetMail struct {
	Email string `json:"email"`
}

// Kind names the job's worker.
func (PasswordResetMail) Kind() string { return "mail_password_reset" }

// RegistrationAttemptMail is the job that tells the owner of Email that
// someone tried to register with it.
type RegistrationAttemptMail struct {
	Email string `json:"email"`
}

// Kind names the job's worker.
func (RegistrationAttemptMail) Kind() string { return "mail_registration_attempt" }

// maxVerificationMails caps the verification mails (the registration's
// included) that one address receives per verificationMailWindow: an address
// nobody has proven to own must not be mailed at will.
const (
	maxVerificationMails   = 5
	verificationMailWindow = 24 * time.Hour
)

// DeliverVerification mails job's user a new verification link, unless the
// user is gone, is verified already, or has had maxVerificationMails in the
// last day (quietly: the request that asked was answered the same either way,
// so the cap protects the address's owner from mail bombing without telling
// anyone it was reached). A failed delivery is returned, so the job is retried.
func (s *Service) DeliverVerification(ctx context.Context, job VerificationMail) error {
	user, err := s.users.UserByID(ctx, job.UserID)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && user.IsEmailVerified()) {
		return nil
	}
	if err != nil {
		return err
	}
	now := s.clock.Now()
	sent, err := s.oneTimeTokens.CountOneTimeTokens(ctx, user.ID(), identity.PurposeEmailVerification, now.Add(-verificationMailWindow))
	if err != nil {
		return err
	}
	if sent >= maxVerificationMails {
		s.log.InfoContext(ctx, "verification mail not sent: daily cap reached", "user_id", user.ID().String())
		return nil
	}
	token, err := s.mintToken(ctx, user.ID(), identity.PurposeEmailVerification, now)
	if err != nil {
		return err
	}
	return s.send(ctx, Message{
		To:      user.Email().String(),
		Subject: "Verify your email for Dashtam",
		// No user-supplied text (the name): the address is not proven to be the
		// user's, so the mail must not carry words of the user's choosing.
		Text: "Hello,\n\nPlease confirm your email address for Dashtam by opening this link within 24 hours:\n" +
			s.link("/verify-email", token) + "\n",
	})
}

// DeliverPasswordReset mails a reset link to the account registered with
// job's email; an address without an account gets nothing. A failed delivery
// is returned, so the job is retried.
func (s *Service) DeliverPasswordReset(ctx context.Context, job PasswordResetMail) error {
	user, err := s.accountOf(ctx, job.Email)
	if user == nil || err != nil {
		return err
	}
	token, err := s.mintToken(ctx, user.ID(), identity.PurposePasswordReset, s.clock.Now())
	if err != nil {
		return err
	}
	return s.send(ctx, Message{
		To:      user.Email().String(),
		Subject: "Reset your Dashtam password",
		Text: "Someone asked to reset the password of your Dashtam account.\n\n" +
			"To choose a new password, open this link within an hour:\n" + s.link("/reset-password", token) +
			"\n\nIf it was not you, ignore this email; your password stays as it is.\n",
	})
}

// DeliverRegistrationAttempt tells the owner of job's address that someone
// tried to register with it. The mail carries nothing the registrant typed
// (their name), and no link with a token: the owner who forgot their
// password asks for a reset.
func (s *Service) DeliverRegistrationAttempt(ctx context.Context, job RegistrationAttemptMail) error {
	user, err := s.accountOf(ctx, job.Email)
	if user == nil || err != nil {
		return err
	}
	return s.send(ctx, Message{
		To:      user.Email().String(),
		Subject: "Someone tried to register with your email at Dashtam",
		Text: "Hello,\n\nSomeone tried to create a Dashtam account with this address, which already has one.\n\n" +
			"If it was you, sign in instead; if you forgot your password, ask for a reset at " +
			s.cfg.PublicBaseURL + "/reset-password.\nIf it was not you, ignore this email: nothing has changed.\n",
	})
}

// accountOf returns the user registered with the address a mail job names,
// or nil when there is none (only well-formed addresses are ever enqueued, so
// a malformed one has no account either).
func (s *Service) accountOf(ctx context.Context, address string) (*identity.User, error) {
	email, err := identity.ParseEmail(address)
	if err != nil {
		return nil, nil //nolint:nilerr // no account has this address
	}
	user, err := s.users.UserByEmail(ctx, email)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, nil
	}
	return user, err
}

// mintToken stores a new one-time token for purpose and returns it in the
// clear, for the link.
func (s *Service) mintToken(ctx context.Context, userID uuid.UUID, purpose identity.Purpose, now time.Time) (string, error) {
	token, hash := identity.NewOpaqueToken()
	if err := s.oneTimeTokens.CreateOneTimeToken(ctx, identity.NewOneTimeToken(hash, userID, purpose, now)); err != nil {
		return "", err
	}
	return token, nil
}

// send delivers an email. A failure is logged without the message, which
// carries a token, and returned.
func (s *Service) send(ctx context.Context, msg Message) error {
	if err := s.mailer.Send(ctx, msg); err != nil {
		s.log.ErrorContext(ctx, "email delivery failed", "subject", msg.Subject, "error", err.Error())
		return err
	}
	return nil
}

func (s *Service) link(path, token string) string {
	return s.cfg.PublicBaseURL + path + "?token=" + url.QueryEscape(token)
}
