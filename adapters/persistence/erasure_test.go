package persistence_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/idempotency"
	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/application/institutionhooks"
	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
	"github.com/dashtam/dashtam/test/contract/authorizationcontract"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/financeseed"
)

func TestEraseUserSQLite(t *testing.T) { testEraseUser(t, dbtest.SQLite(t)) }

func TestEraseUserPostgres(t *testing.T) { testEraseUser(t, dbtest.Postgres(t)) }

// Erasing a user with a granted provider, its accounts and transactions, an
// institution webhook delivery naming its item, an Idempotency-Key record
// and events leaves no row naming them in any table but the one set-aside
// grant, whose revoke job is enqueued; another user's rows are untouched. A
// refusing check erases nothing.
func testEraseUser(t *testing.T, db *persistence.DB) {
	ctx := t.Context()
	queue := &recordingJobs{}
	ids := persistence.NewIdentityStore(db, persistence.DefaultSessionCacheTTL, discardJobs{})
	auths := persistence.NewAuthorizationStore(db, newKeyring(t, newKey(t, "k1")), persistence.WithSetAside(queue))
	erase := persistence.NewErasureStore(ids, auths, slog.New(slog.DiscardHandler))
	financeStore := persistence.NewFinanceStore(db)
	now := time.Now().UTC()

	seed := func() (uuid.UUID, *provider.Provider, provider.Credentials) {
		user, err := authorizationcontract.UsersVia(ids)(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := newStoredProviderOf(t, db, user, "Bank")
		creds := secretCredentials(p)
		put(t, auths, granted(p, creds))
		seeder := financeseed.Seeder{T: t, Writes: financeStore, Now: now}
		a := seeder.Account(p.ID(), finance.AccountDetails{InstitutionAccountID: "acct-1", Name: "Checking", Subtype: "checking"})
		seeder.Transactions(a, financeseed.Tx{Amount: "12.34", Date: "2026-12-01", Description: "Coffee"})
		_, err = persistence.NewDeliveryStore(db, queue).Record(ctx, institutionhooks.Delivery{ID: uuid.Must(uuid.NewV7()), ProviderKey: "plaid",
			ExternalIDHash: provider.HashExternalID(creds.ExternalID), Type: "TRANSACTIONS", Code: "SYNC_UPDATES_AVAILABLE",
			Action: providersapp.WebhookSync, BodyHash: sha256.Sum256([]byte(user.String())), SignedAt: now, ReceivedAt: now,
			Outcome: institutionhooks.OutcomeReceived}, now.Add(-time.Minute), institutionhooks.ActJob{})
		if err != nil {
			t.Fatal(err)
		}
		key := idempotency.Key{Scope: idempotency.UserScope(user.String()), Method: "PATCH", Route: "/api/v1/users/me", Key: "k-" + user.String()}
		if _, _, err := persistence.NewIdempotencyStore(db).Claim(ctx, idemRecord(key, "owner", 1, now), stale(now)); err != nil {
			t.Fatal(err)
		}
		return user, p, creds
	}
	ann, annProvider, annCreds := seed()
	bob, _, _ := seed()
	before := dbtest.Mentions(t, db, dbtest.IDNeedle(bob))

	refused := errors.New("refused by the check")
	if _, err := erase.EraseUser(ctx, ann, now, func(*identity.User, int) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("a refusing check: %v, want its error", err)
	}
	if got := dbtest.Mentions(t, db, dbtest.IDNeedle(ann)); len(got) == 0 {
		t.Fatal("a refused erasure deleted the user's rows")
	}
	jobsBefore := len(queue.jobs)

	erased, err := erase.EraseUser(ctx, ann, now, func(u *identity.User, _ int) error {
		if u.ID() != ann {
			t.Errorf("check called with user %s, want %s", u.ID(), ann)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if erased.Providers != 1 || erased.GrantsToRevoke != 1 {
		t.Errorf("erased %+v, want one provider and one grant to revoke", erased)
	}
	if got := queue.jobs[jobsBefore:]; len(got) != 1 {
		t.Fatalf("jobs enqueued by the erasure: %v, want one revoke job", got)
	}
	job, ok := queue.jobs[jobsBefore].(providersapp.RevokeJob)
	if !ok {
		t.Fatalf("the erasure enqueued %T, want a RevokeJob", queue.jobs[jobsBefore])
	}
	aside, err := auths.SetAsideCredentials(ctx, job.SetAsideID)
	if err != nil || aside.Credentials.AccessToken != annCreds.AccessToken || aside.ProviderKey != annProvider.Key() {
		t.Errorf("the set-aside grant: %+v, %v; want the provider's credentials", aside.ProviderKey, err)
	}

	for _, m := range dbtest.Mentions(t, db, dbtest.IDNeedle(ann), dbtest.IDNeedle(annProvider.ID()), dbtest.TextNeedle(annCreds.ExternalID)) {
		if m.Table != "set_aside_credentials" {
			t.Errorf("a row of the erased user remains in %s: %v", m.Table, m.Row)
		}
	}
	hash := provider.HashExternalID(annCreds.ExternalID)
	for _, m := range dbtest.Mentions(t, db, dbtest.Needle{Text: string(hash[:])}) {
		if bytes.Contains([]byte(m.Row["external_id_hash"]), hash[:]) {
			t.Errorf("a row naming the erased user's item remains in %s", m.Table)
		}
	}
	if after := dbtest.Mentions(t, db, dbtest.IDNeedle(bob)); len(after) != len(before) {
		t.Errorf("the other user had %d rows, has %d after the erasure", len(before), len(after))
	}
	if _, err := erase.EraseUser(ctx, ann, now, func(*identity.User, int) error { return nil }); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("erasing twice: %v, want not found", err)
	}
}
