package persistence_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/contract/providercontract"
	"github.com/dashtam/dashtam/test/dbtest"
)

func providerHarness(db *persistence.DB) providercontract.Harness {
	return providercontract.Harness{
		Store:   persistence.NewProviderStore(db),
		NewUser: providercontract.UsersVia(persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})),
	}
}

func TestProviderStoreSQLite(t *testing.T) {
	providercontract.Run(t, func(t *testing.T) providercontract.Harness {
		return providerHarness(dbtest.SQLite(t))
	})
}

func TestProviderStorePostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	providercontract.Run(t, func(t *testing.T) providercontract.Harness {
		return providerHarness(dbtest.Postgres(t))
	})
}

// What only a database does: the foreign key to users.
func TestProviderStoreReferencesUsers(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *persistence.DB{
		"sqlite":   dbtest.SQLite,
		"postgres": dbtest.Postgres,
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			h := providerHarness(db)
			now := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

			orphan, err := provider.New(uuid.New(), uuid.New(), "schwab", "My Schwab", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Store.CreateProvider(t.Context(), orphan); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("provider of a user that does not exist: got %v, want ErrNotFound", err)
			}

			user, err := h.NewUser(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			p, err := provider.New(uuid.New(), user, "schwab", "My Schwab", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Store.CreateProvider(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			if err := db.Gorm.Exec("DELETE FROM users WHERE id = ?", user).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := h.Store.ProviderByID(t.Context(), p.ID()); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("provider of a deleted user: got %v, want ErrNotFound (deleted with the user)", err)
			}
		})
	}
}

// Every method reports a database it cannot use as domain.ErrUnavailable, so the
// API answers 503 rather than 500, and calls no closure.
func TestProviderStoreUnavailableDatabase(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *persistence.DB{
		"sqlite":   dbtest.SQLite,
		"postgres": dbtest.Postgres,
	} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			st := persistence.NewProviderStore(db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			p, err := provider.New(uuid.New(), uuid.New(), "schwab", "My Schwab", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			notCalled := func(*provider.Provider) error {
				t.Error("closure called although the database is unavailable")
				return nil
			}
			after := providersapp.PositionOf(p)
			calls := map[string]func() error{
				"CreateProvider": func() error { return st.CreateProvider(ctx, p) },
				"ProviderByID":   func() error { _, err := st.ProviderByID(ctx, p.ID()); return err },
				"UpdateProvider": func() error { _, err := st.UpdateProvider(ctx, p.ID(), notCalled); return err },
				"DeleteProvider": func() error { return st.DeleteProvider(ctx, p.ID(), notCalled) },
				"ListProviders offset": func() error {
					_, _, err := st.ListProviders(ctx, providersapp.ListQuery{UserID: p.UserID(), Limit: 20, WithTotal: true})
					return err
				},
				"ListProviders cursor": func() error {
					_, _, err := st.ListProviders(ctx, providersapp.ListQuery{UserID: p.UserID(), Limit: 21, After: &after})
					return err
				},
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, domain.ErrUnavailable) {
					t.Errorf("%s: got %v, want ErrUnavailable", name, err)
				}
			}
		})
	}
}
