// Package provider holds the Provider entity: one connection a user makes to a
// financial institution (a Schwab login, a Plaid-linked bank), with its alias and
// connection status.
package provider

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
)

// Errors of the providers resource.
var (
	ErrAliasTaken = fmt.Errorf("alias already in use: %w", domain.ErrConflict)
)

// Status is a provider's connection status.
type Status struct{ s string }

// The connection statuses.
var (
	StatusNotConnected            = Status{"not_connected"}
	StatusPending                 = Status{"pending"}
	StatusActive                  = Status{"active"}
	StatusReauthorizationRequired = Status{"reauthorization_required"}
	StatusRevoked                 = Status{"revoked"}
)

// Statuses lists every status, in lifecycle order.
func Statuses() []Status {
	return []Status{StatusNotConnected, StatusPending, StatusActive, StatusReauthorizationRequired, StatusRevoked}
}

// ParseStatus turns a status name into a Status.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses() {
		if st.s == s {
			return st, nil
		}
	}
	return Status{}, fmt.Errorf("unknown connection status %q", s)
}

func (s Status) String() string { return s.s }

// IsZero reports whether s is the zero Status (no status).
func (s Status) IsZero() bool { return s.s == "" }

// Provider is one connection of a user to an institution.
type Provider struct {
	id        uuid.UUID
	userID    uuid.UUID
	key       string // provider type key: schwab, plaid, sandbox
	alias     string
	status    Status
	version   int64 // bumped on every change; the ETag
	createdAt time.Time
	updatedAt time.Time
}

// MaxAliasLength is the longest alias, in characters, after trimming.
const MaxAliasLength = 100

// New creates a provider that is not connected yet. key must be a known provider
// type; the caller checks that against its registry.
func New(id, userID uuid.UUID, key, alias string, now time.Time) (*Provider, error) {
	alias, err := ValidateAlias(alias)
	if err != nil {
		return nil, err
	}
	return &Provider{id: id, userID: userID, key: key, alias: alias, status: StatusNotConnected,
		version: 1, createdAt: now, updatedAt: now}, nil
}

// Snapshot is every field of a Provider, for storage.
type Snapshot struct {
	ID, UserID           uuid.UUID
	Key                  string
	Alias                string
	Status               Status
	Version              int64
	CreatedAt, UpdatedAt time.Time
}

// Snapshot returns the provider's fields for storage.
func (p *Provider) Snapshot() Snapshot {
	return Snapshot{ID: p.id, UserID: p.userID, Key: p.key, Alias: p.alias, Status: p.status, Version: p.version,
		CreatedAt: p.createdAt, UpdatedAt: p.updatedAt}
}

// Rehydrate rebuilds a provider from storage.
func Rehydrate(s Snapshot) *Provider {
	return &Provider{id: s.ID, userID: s.UserID, key: s.Key, alias: s.Alias, status: s.Status, version: s.Version,
		createdAt: s.CreatedAt, updatedAt: s.UpdatedAt}
}

// ValidateAlias trims alias and checks it is 1 to 100 characters.
func ValidateAlias(alias string) (string, error) {
	alias = strings.TrimSpace(alias)
	switch n := utf8.RuneCountInString(alias); {
	case n == 0:
		return "", domain.NewValidationError("alias", "required", "Alias is required.")
	case n > MaxAliasLength:
		return "", domain.NewValidationError("alias", "too_long", "Alias must be at most 100 characters.")
	case domain.HasHiddenText(alias):
		return "", domain.NewValidationError("alias", "invalid_characters",
			"Alias must not contain control characters or invisible formatting characters (bidi overrides, zero-width characters).")
	}
	return alias, nil
}

// AliasKey is the form under which aliases are unique per user: the alias
// NFKC-normalised and lower-cased, so "My Schwab", "my schwab" and
// "Ｍｙ Ｓｃｈｗａｂ" (full-width) are the same alias.
func AliasKey(alias string) string { return strings.ToLower(norm.NFKC.String(alias)) }

// ID returns the provider's id.
func (p *Provider) ID() uuid.UUID { return p.id }

// UserID returns the id of the user who owns the provider.
func (p *Provider) UserID() uuid.UUID { return p.userID }

// Key returns the provider type key (schwab, plaid, sandbox).
func (p *Provider) Key() string { return p.key }

// Alias returns the user's name for the connection.
func (p *Provider) Alias() string { return p.alias }

// AliasKey returns the alias's uniqueness key.
func (p *Provider) AliasKey() string { return AliasKey(p.alias) }

// Status returns the connection status.
func (p *Provider) Status() Status { return p.status }

// Version increases with every change, so it identifies one state of the provider.
func (p *Provider) Version() int64 { return p.version }

// CreatedAt returns when the provider was created.
func (p *Provider) CreatedAt() time.Time { return p.createdAt }

// UpdatedAt returns when the provider last changed.
func (p *Provider) UpdatedAt() time.Time { return p.updatedAt }

// OwnedBy reports whether userID owns the provider.
func (p *Provider) OwnedBy(userID uuid.UUID) bool { return p.userID == userID }

// Rename changes the alias. Renaming to the same alias changes nothing.
func (p *Provider) Rename(alias string, now time.Time) error {
	alias, err := ValidateAlias(alias)
	if err != nil {
		return err
	}
	if alias != p.alias {
		p.alias = alias
		p.touch(now)
	}
	return nil
}

// FollowAuthorization sets the connection status to what the provider's
// authorization says.
func (p *Provider) FollowAuthorization(a *Authorization, now time.Time) {
	p.SetStatus(a.Status().ConnectionStatus(), now)
}

// SetStatus moves the provider to status s.
func (p *Provider) SetStatus(s Status, now time.Time) {
	if s != p.status {
		p.status = s
		p.touch(now)
	}
}

func (p *Provider) touch(now time.Time) {
	p.version++
	// Keep updated_at strictly increasing even if the clock stands still, so
	// Last-Modified and sorting by updated_at follow the version.
	if !now.After(p.updatedAt) {
		now = p.updatedAt.Add(time.Microsecond)
	}
	p.updatedAt = now
}
