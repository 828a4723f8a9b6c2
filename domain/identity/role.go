package identity

import "fmt"

// Role is what a user may do: every user is RoleUser, operators are RoleAdmin.
type Role struct{ s string }

// The roles.
var (
	RoleUser  = Role{"user"}
	RoleAdmin = Role{"admin"}
)

// Roles lists every role.
func Roles() []Role { return []Role{RoleUser, RoleAdmin} }

// ParseRole returns the role named s ("user" or "admin").
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if r.s == s {
			return r, nil
		}
	}
	return Role{}, fmt.Errorf("unknown role %q", s)
}

func (r Role) String() string { return r.s }

// IsZero reports whether r is the zero Role (no role: a filter that does not filter).
func (r Role) IsZero() bool { return r.s == "" }

// UserStatus says whether an account may be used: a disabled user cannot log
// in or refresh, and none of their sessions work.
type UserStatus struct{ s string }

// The user statuses.
var (
	UserActive   = UserStatus{"active"}
	UserDisabled = UserStatus{"disabled"}
)

// UserStatuses lists every user status.
func UserStatuses() []UserStatus { return []UserStatus{UserActive, UserDisabled} }

// ParseUserStatus returns the status named s ("active" or "disabled").
func ParseUserStatus(s string) (UserStatus, error) {
	for _, st := range UserStatuses() {
		if st.s == s {
			return st, nil
		}
	}
	return UserStatus{}, fmt.Errorf("unknown user status %q", s)
}

func (s UserStatus) String() string { return s.s }

// IsZero reports whether s is the zero UserStatus (a filter that does not filter).
func (s UserStatus) IsZero() bool { return s.s == "" }
