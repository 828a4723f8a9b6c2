package identitycontract

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	adminapp "github.com/dashtam/dashtam/application/admin"
	identityapp "github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain/identity"
)

// userAt stores a user registered at created, with role and status.
func userAt(t *testing.T, st Store, email string, created time.Time, role identity.Role, status identity.UserStatus) *identity.User {
	t.Helper()
	u, err := identity.NewUser(newID(t), mustEmail(t, email), "Ada", "hash", created)
	if err != nil {
		t.Fatal(err)
	}
	u.SetRole(role, created)
	u.SetStatus(status, created)
	if err := st.CreateUser(t.Context(), u, identityapp.VerificationMail{UserID: u.ID()}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func emails(users []*identity.User) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.Email().String()
	}
	return fmt.Sprint(out)
}

func listUsersFiltersAndPages(t *testing.T, st Store) {
	ctx := t.Context()
	userAt(t, st, "old@example.com", base, identity.RoleUser, identity.UserActive)
	userAt(t, st, "root@example.com", base.Add(time.Second), identity.RoleAdmin, identity.UserActive)
	gone := userAt(t, st, "gone@example.com", base.Add(2*time.Second), identity.RoleUser, identity.UserDisabled)
	// Two at one instant: the tie is broken by id, descending.
	twinA := userAt(t, st, "twin-a@example.com", base.Add(3*time.Second), identity.RoleUser, identity.UserActive)
	twinB := userAt(t, st, "twin-b@example.com", base.Add(3*time.Second), identity.RoleUser, identity.UserActive)
	first, second := twinA, twinB
	if first.ID().String() < second.ID().String() {
		first, second = second, first
	}
	want := fmt.Sprint([]string{first.Email().String(), second.Email().String(), "gone@example.com", "root@example.com", "old@example.com"})

	all, total, err := st.ListUsers(ctx, adminapp.UserQuery{Limit: 10, WithTotal: true})
	if err != nil || emails(all) != want || total != 5 {
		t.Fatalf("ListUsers = %s, %d, %v; want %s, 5", emails(all), total, err, want)
	}
	var walked []*identity.User
	q := adminapp.UserQuery{Limit: 2}
	for range 5 {
		page, _, err := st.ListUsers(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, page...)
		if len(page) < 2 {
			break
		}
		after := adminapp.PositionOfUser(page[len(page)-1])
		q.After = &after
	}
	if emails(walked) != want {
		t.Errorf("keyset pages = %s, want %s", emails(walked), want)
	}
	if page, _, _ := st.ListUsers(ctx, adminapp.UserQuery{Limit: 2, Offset: 3}); emails(page) != fmt.Sprint([]string{"root@example.com", "old@example.com"}) {
		t.Errorf("offset 3 = %s", emails(page))
	}
	for name, c := range map[string]struct {
		f    adminapp.UserFilter
		want string
	}{
		"email contains, any case":    {adminapp.UserFilter{Email: "ROOT@"}, "[root@example.com]"},
		"email wildcards are literal": {adminapp.UserFilter{Email: "%"}, "[]"},
		"role":                        {adminapp.UserFilter{Role: identity.RoleAdmin}, "[root@example.com]"},
		"status":                      {adminapp.UserFilter{Status: identity.UserDisabled}, "[gone@example.com]"},
		"created after, exclusive":    {adminapp.UserFilter{CreatedAfter: gone.CreatedAt()}, fmt.Sprint([]string{first.Email().String(), second.Email().String()})},
	} {
		got, n, err := st.ListUsers(ctx, adminapp.UserQuery{Limit: 10, Filter: c.f, WithTotal: true})
		if err != nil || emails(got) != c.want || int(n) != len(got) {
			t.Errorf("%s: %s (total %d), %v; want %s", name, emails(got), n, err, c.want)
		}
	}
}

func administerUserCountsAdminsAndSaves(t *testing.T, st Store) {
	ctx := t.Context()
	root := userAt(t, st, "root@example.com", base, identity.RoleAdmin, identity.UserActive)
	userAt(t, st, "off@example.com", base, identity.RoleAdmin, identity.UserDisabled) // not active: not counted
	bob := userAt(t, st, "bob@example.com", base, identity.RoleUser, identity.UserActive)
	later := base.Add(time.Minute)
	saved, err := st.AdministerUser(ctx, bob.ID(), func(u *identity.User, admins int) error {
		if admins != 1 {
			t.Errorf("active admins = %d, want 1", admins)
		}
		u.SetRole(identity.RoleAdmin, later)
		u.SetStatus(identity.UserDisabled, later)
		return nil
	})
	if err != nil || !saved.IsAdmin() || !saved.IsDisabled() {
		t.Fatalf("AdministerUser = %v, %v", saved, err)
	}
	got, err := st.UserByID(ctx, bob.ID())
	if err != nil || !got.IsAdmin() || !got.IsDisabled() || !got.UpdatedAt().Equal(later) {
		t.Errorf("stored bob: %v, %v", got, err)
	}
	_, err = st.AdministerUser(ctx, root.ID(), func(u *identity.User, _ int) error {
		u.SetRole(identity.RoleUser, later)
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("fn error: %v, want it returned", err)
	}
	if got, _ := st.UserByID(ctx, root.ID()); !got.IsAdmin() {
		t.Error("a failed AdministerUser saved its change")
	}
}

// Two admins, each demoted at once by a call that refuses to demote the last
// one: the store counts the admins under their locks, so exactly one call
// demotes and one admin is left.
func concurrentDemotionsLeaveOneAdmin(t *testing.T, st Store) {
	ctx := t.Context()
	a := userAt(t, st, "a@example.com", base, identity.RoleAdmin, identity.UserActive)
	b := userAt(t, st, "b@example.com", base, identity.RoleAdmin, identity.UserActive)
	errLast := errors.New("last admin")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []*identity.User{a, b} {
		wg.Go(func() {
			_, errs[i] = st.AdministerUser(ctx, u.ID(), func(u *identity.User, admins int) error {
				if admins <= 1 {
					return errLast
				}
				u.SetRole(identity.RoleUser, base.Add(time.Minute))
				return nil
			})
		})
	}
	wg.Wait()
	admins, _, err := st.ListUsers(ctx, adminapp.UserQuery{Limit: 10, Filter: adminapp.UserFilter{Role: identity.RoleAdmin}})
	if err != nil || len(admins) != 1 {
		t.Errorf("admins left: %s (%v); the calls returned %v", emails(admins), err, errs)
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, errLast) {
			t.Errorf("a demotion failed otherwise than by the rule: %v", err)
		}
	}
}
