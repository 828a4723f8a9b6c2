package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	adminapp "github.com/dashtam/dashtam/application/admin"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

var (
	_ adminapp.Users    = (*IdentityStore)(nil)
	_ adminapp.Sessions = (*IdentityStore)(nil)
)

// ListUsers returns one page of the users matching q, newest first (ties
// broken by id, descending), like the SQL adapter.
func (m *IdentityStore) ListUsers(_ context.Context, q adminapp.UserQuery) ([]*identity.User, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := q.Filter
	email := strings.ToLower(strings.TrimSpace(f.Email))
	var matching []*identity.User
	for _, u := range m.users {
		switch {
		case email != "" && !strings.Contains(u.Email().String(), email),
			!f.Role.IsZero() && u.Role() != f.Role,
			!f.Status.IsZero() && u.Status() != f.Status,
			!f.CreatedAfter.IsZero() && !u.CreatedAt().After(storedTime(f.CreatedAfter)):
			continue
		}
		matching = append(matching, u)
	}
	slices.SortFunc(matching, func(a, b *identity.User) int {
		if c := b.CreatedAt().Compare(a.CreatedAt()); c != 0 {
			return c
		}
		return cmp.Compare(b.ID().String(), a.ID().String())
	})
	total := int64(len(matching))
	start := max(q.Offset, 0)
	if q.After != nil {
		at := storedTime(q.After.CreatedAt)
		start = len(matching)
		for i, u := range matching {
			if u.CreatedAt().Before(at) || (u.CreatedAt().Equal(at) && u.ID().String() < q.After.ID.String()) {
				start = i
				break
			}
		}
	}
	start = min(start, len(matching))
	end := min(start+q.Limit, len(matching))
	out := make([]*identity.User, 0, end-start)
	for _, u := range matching[start:end] {
		out = append(out, copyUser(u))
	}
	if !q.WithTotal {
		total = 0
	}
	return out, total, nil
}

// AdministerUser lets fn change the user, given the number of active admins,
// and saves it; the store's one mutex serialises every call.
func (m *IdentityStore) AdministerUser(_ context.Context, id uuid.UUID, fn func(*identity.User, int) error) (*identity.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, ok := m.users[id]
	if !ok {
		return nil, fmt.Errorf("administer user %s: %w", id, domain.ErrNotFound)
	}
	admins := 0
	for _, u := range m.users {
		if u.IsAdmin() && !u.IsDisabled() {
			admins++
		}
	}
	u := copyUser(stored)
	if err := fn(u, admins); err != nil {
		return nil, err
	}
	m.users[id] = copyUser(u)
	return copyUser(u), nil
}
