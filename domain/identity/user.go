package identity

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
)

// User is an account holder.
type User struct {
	id              uuid.UUID
	email           Email
	name            string
	passwordHash    string
	emailVerifiedAt time.Time // zero while unverified
	role            Role
	status          UserStatus
	createdAt       time.Time
	updatedAt       time.Time

	events event.Recorder
}

const maxNameLength = 100

// NewUser creates an unverified, active user with RoleUser. passwordHash is the hasher's encoded hash.
func NewUser(id uuid.UUID, email Email, name, passwordHash string, now time.Time) (*User, error) {
	name, err := ValidateName(name)
	if err != nil {
		return nil, err
	}
	if email.IsZero() {
		return nil, domain.NewValidationError("email", "required", "Email is required.")
	}
	return &User{id: id, email: email, name: name, passwordHash: passwordHash, role: RoleUser, status: UserActive,
		createdAt: now, updatedAt: now}, nil
}

// UserSnapshot is every field of a User, for storage.
type UserSnapshot struct {
	ID              uuid.UUID
	Email           Email
	Name            string
	PasswordHash    string
	EmailVerifiedAt time.Time // zero: not verified
	Role            Role
	Status          UserStatus
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Snapshot returns the user's fields for storage.
func (u *User) Snapshot() UserSnapshot {
	return UserSnapshot{ID: u.id, Email: u.email, Name: u.name, PasswordHash: u.passwordHash,
		EmailVerifiedAt: u.emailVerifiedAt, Role: u.role, Status: u.status, CreatedAt: u.createdAt, UpdatedAt: u.updatedAt}
}

// RehydrateUser rebuilds a user from storage. It trusts its input: storage only
// holds users that NewUser and the methods below produced. A zero role or
// status (a snapshot from before they existed) is RoleUser or UserActive.
func RehydrateUser(s UserSnapshot) *User {
	if s.Role.IsZero() {
		s.Role = RoleUser
	}
	if s.Status.IsZero() {
		s.Status = UserActive
	}
	return &User{id: s.ID, email: s.Email, name: s.Name, passwordHash: s.PasswordHash,
		emailVerifiedAt: s.EmailVerifiedAt, role: s.Role, status: s.Status, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
}

// ValidateName trims name and checks it is 1 to 100 characters.
func ValidateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", domain.NewValidationError("name", "required", "Name is required.")
	case n > maxNameLength:
		return "", domain.NewValidationError("name", "too_long", "Name must be at most 100 characters.")
	case domain.HasHiddenText(name):
		return "", domain.NewValidationError("name", "invalid_characters",
			"Name must not contain control characters or invisible formatting characters (bidi overrides, zero-width characters).")
	}
	return name, nil
}

func (u *User) ID() uuid.UUID              { return u.id }
func (u *User) Email() Email               { return u.email }
func (u *User) Name() string               { return u.name }
func (u *User) PasswordHash() string       { return u.passwordHash }
func (u *User) EmailVerifiedAt() time.Time { return u.emailVerifiedAt }
func (u *User) IsEmailVerified() bool      { return !u.emailVerifiedAt.IsZero() }
func (u *User) Role() Role                 { return u.role }
func (u *User) Status() UserStatus         { return u.status }
func (u *User) IsAdmin() bool              { return u.role == RoleAdmin }
func (u *User) IsDisabled() bool           { return u.status == UserDisabled }
func (u *User) CreatedAt() time.Time       { return u.createdAt }
func (u *User) UpdatedAt() time.Time       { return u.updatedAt }

// Rename changes the display name.
func (u *User) Rename(name string, now time.Time) error {
	name, err := ValidateName(name)
	if err != nil {
		return err
	}
	u.name, u.updatedAt = name, now
	return nil
}

// SetPasswordHash replaces the password hash with one of the same password
// (a re-hash with current parameters): nothing a client needs to know.
func (u *User) SetPasswordHash(hash string, now time.Time) {
	u.passwordHash, u.updatedAt = hash, now
}

// ChangePassword replaces the password hash with that of a new password (a
// change or a reset), and records password.changed.
func (u *User) ChangePassword(hash string, now time.Time) {
	u.SetPasswordHash(hash, now)
	u.events.Record(event.PasswordChanged, now, event.Data{"user_id": u.id.String()})
}

// DrainEvents returns the events of the user's changes since the last drain
// (password.changed), for its store to write.
func (u *User) DrainEvents() []event.Event { return u.events.Drain() }

// VerifyEmail marks the email verified. Verifying twice keeps the first time.
func (u *User) VerifyEmail(now time.Time) {
	if u.emailVerifiedAt.IsZero() {
		u.emailVerifiedAt, u.updatedAt = now, now
	}
}

// RequireVerifiedEmail returns ErrEmailNotVerified unless the email is verified.
func (u *User) RequireVerifiedEmail() error {
	if !u.IsEmailVerified() {
		return ErrEmailNotVerified
	}
	return nil
}

// SetRole gives the user role. Setting the role it has changes nothing.
func (u *User) SetRole(role Role, now time.Time) {
	if u.role != role {
		u.role, u.updatedAt = role, now
	}
}

// SetStatus disables or enables the user. Setting the status it has changes
// nothing.
func (u *User) SetStatus(status UserStatus, now time.Time) {
	if u.status != status {
		u.status, u.updatedAt = status, now
	}
}

// RequireActive returns ErrUserDisabled when the user is disabled.
func (u *User) RequireActive() error {
	if u.IsDisabled() {
		return ErrUserDisabled
	}
	return nil
}
