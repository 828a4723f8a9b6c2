package identity_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/identity"
)

func TestParseRoleAndStatusKnowOnlyTheirNames(t *testing.T) {
	for _, r := range identity.Roles() {
		if got, err := identity.ParseRole(r.String()); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
	for _, s := range identity.UserStatuses() {
		if got, err := identity.ParseUserStatus(s.String()); err != nil || got != s {
			t.Errorf("ParseUserStatus(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "Admin", "root", "superuser"} {
		if _, err := identity.ParseRole(bad); err == nil {
			t.Errorf("ParseRole(%q) accepted", bad)
		}
		if _, err := identity.ParseUserStatus(bad); err == nil {
			t.Errorf("ParseUserStatus(%q) accepted", bad)
		}
	}
}

func TestANewUserIsAnActiveUserAndChangesMoveUpdatedAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	email, _ := identity.ParseEmail("ann@example.com")
	u, err := identity.NewUser(uuid.New(), email, "Ann", "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Role() != identity.RoleUser || u.Status() != identity.UserActive || u.IsAdmin() || u.IsDisabled() || u.RequireActive() != nil {
		t.Fatalf("new user: role %v, status %v", u.Role(), u.Status())
	}
	later := now.Add(time.Hour)
	u.SetRole(identity.RoleUser, later) // no change
	if !u.UpdatedAt().Equal(now) {
		t.Error("setting the role a user has moved updated_at")
	}
	u.SetStatus(identity.UserDisabled, later)
	if !u.IsDisabled() || !u.UpdatedAt().Equal(later) || !errors.Is(u.RequireActive(), identity.ErrUserDisabled) {
		t.Errorf("disabled: %v, updated %v", u.Status(), u.UpdatedAt())
	}
	// A snapshot from before roles existed rehydrates as an active user.
	old := identity.RehydrateUser(identity.UserSnapshot{ID: u.ID(), Email: email, Name: "Ann", CreatedAt: now, UpdatedAt: now})
	if old.Role() != identity.RoleUser || old.Status() != identity.UserActive {
		t.Errorf("zero snapshot rehydrates as %v/%v", old.Role(), old.Status())
	}
}
