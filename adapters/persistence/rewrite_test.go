package persistence_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/dbtest"
)

// A closure update that leaves the provider as it was must not rewrite its
// row: every authorization change (a refresh lease taken or given back, new
// tokens) would otherwise write the providers table too.
func TestClosureUpdatesDoNotRewriteAnUnchangedProviderSQLite(t *testing.T) {
	testClosureUpdatesDoNotRewriteAnUnchangedProvider(t, dbtest.SQLite(t))
}

func TestClosureUpdatesDoNotRewriteAnUnchangedProviderPostgres(t *testing.T) {
	testClosureUpdatesDoNotRewriteAnUnchangedProvider(t, dbtest.Postgres(t))
}

func testClosureUpdatesDoNotRewriteAnUnchangedProvider(t *testing.T, db *persistence.DB) {
	providers := persistence.NewProviderStore(db)
	auths := persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1")))
	p := newStoredProvider(t, db)
	writes := countProviderWrites(t, db)
	put(t, auths, granted(p, secretCredentials(p))) // the provider's status does not follow: unchanged
	if n := writes.Load(); n != 0 {
		t.Fatalf("saving an authorization wrote the unchanged provider %d times", n)
	}

	owner := uuid.New()
	now := time.Now()
	savedP, savedA, err := auths.UpdateAuthorization(t.Context(), p.ID(), func(_ *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		return a, a.ClaimRefresh(owner, now, now.Add(time.Minute))
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("taking a refresh lease wrote the unchanged provider %d times", n)
	}
	if savedP.Version() != p.Version() || !savedA.HoldsLease(owner) {
		t.Errorf("returned provider at version %d (want %d), lease held: %v; want what was stored",
			savedP.Version(), p.Version(), savedA.HoldsLease(owner))
	}

	if _, err := providers.UpdateProvider(t.Context(), p.ID(), func(*provider.Provider) error { return nil }); err != nil {
		t.Fatalf("UpdateProvider: %v", err)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("an UpdateProvider that changed nothing wrote the provider %d times", n)
	}

	// A change is still written, once.
	savedP, _, err = auths.UpdateAuthorization(t.Context(), p.ID(), func(p *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
		p.FollowAuthorization(a, time.Now())
		return a, nil
	})
	if err != nil {
		t.Fatalf("UpdateAuthorization: %v", err)
	}
	if n := writes.Load(); n != 1 || savedP.Status() != provider.StatusActive || mustProviderOf(t, db, p.ID()).Status() != provider.StatusActive {
		t.Errorf("a status change: %d writes, returned %s, stored %s; want 1 write and active",
			n, savedP.Status(), mustProviderOf(t, db, p.ID()).Status())
	}
}

// countProviderWrites counts the UPDATE and INSERT statements GORM runs on the
// providers table of db from now on.
func countProviderWrites(t *testing.T, db *persistence.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(tx *gorm.DB) {
		if tx.Statement.Table == "providers" && tx.Error == nil {
			n.Add(1)
		}
	}
	for name, err := range map[string]error{
		"update": db.Gorm.Callback().Update().After("gorm:update").Register("test:count_provider_updates", count),
		"create": db.Gorm.Callback().Create().After("gorm:create").Register("test:count_provider_creates", count),
	} {
		if err != nil {
			t.Fatalf("register %s callback: %v", name, err)
		}
	}
	return &n
}
