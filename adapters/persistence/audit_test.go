package persistence_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/dashtam/dashtam/adapters/persistence"
	auditapp "github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/test/dbtest"
)

func TestAuditLogSQLite(t *testing.T) { testAuditLog(t, dbtest.SQLite(t)) }

func TestAuditLogPostgres(t *testing.T) {
	dbtest.PostgresURL(t)
	db := dbtest.Postgres(t)
	testAuditLog(t, db)

	t.Run("a transaction declaring a retention below the floor deletes nothing recent", func(t *testing.T) {
		store := persistence.NewAuditStore(db)
		recent := auditEntry(time.Now().Add(-48*time.Hour), uuid.New())
		mustAppend(t, store, recent)
		err := db.Gorm.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SET LOCAL dashtam.audit_retention = '1 second'").Error; err != nil {
				return err
			}
			return tx.Exec("DELETE FROM audit_events WHERE id = ?", recent.ID).Error
		})
		if err == nil {
			t.Fatal("a delete under a 1-second retention was allowed")
		}
		if err := db.Gorm.Exec("TRUNCATE audit_events").Error; err == nil {
			t.Fatal("TRUNCATE audit_events was allowed")
		}
	})
}

func auditEntry(at time.Time, actor uuid.UUID) auditapp.Entry {
	id, _ := uuid.NewV7()
	return auditapp.Entry{
		ID: id, OccurredAt: at, Actor: actor, Subject: auditapp.UserSubject(actor), Action: auditapp.ActionLogin,
		Outcome: auditapp.Success, RequestID: "req-1", ClientIP: "192.0.2.1", UserAgent: "test",
	}
}

func mustAppend(t *testing.T, store *persistence.AuditStore, e auditapp.Entry) {
	t.Helper()
	if err := store.AppendAuditEvent(context.Background(), e); err != nil {
		t.Fatalf("append: %v", err)
	}
}

func testAuditLog(t *testing.T, db *persistence.DB) {
	ctx := context.Background()
	store := persistence.NewAuditStore(db)
	now := time.Now()
	alice, bob := uuid.New(), uuid.New()
	old := auditEntry(now.Add(-400*24*time.Hour), alice)
	kept := auditEntry(now.Add(-100*24*time.Hour), alice)
	recent := auditEntry(now.Add(-time.Minute), bob)
	recent.Action, recent.Outcome, recent.Reason = auditapp.ActionAdminUserUpdate, auditapp.Failure, "last_admin"
	recent.Subject = auditapp.UserSubject(alice)
	for _, e := range []auditapp.Entry{old, kept, recent} {
		mustAppend(t, store, e)
	}

	t.Run("entries read back, newest first, filtered", func(t *testing.T) {
		all, err := store.ListAuditEvents(ctx, auditapp.Query{Limit: 10, Actor: alice})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].ID != kept.ID || all[1].ID != old.ID {
			t.Fatalf("alice's entries = %+v, want kept then old", all)
		}
		got, err := store.ListAuditEvents(ctx, auditapp.Query{Limit: 10, Owner: alice})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].ID != recent.ID {
			t.Fatalf("alice owns %d entries (first %v), want 3 with bob's about her first", len(got), got)
		}
		if got[0].Reason != "last_admin" || got[0].Outcome != auditapp.Failure || got[0].Actor != bob || got[0].RequestID != "req-1" {
			t.Fatalf("entry read back as %+v", got[0])
		}
		got, err = store.ListAuditEvents(ctx, auditapp.Query{Limit: 10, Action: auditapp.ActionAdminUserUpdate,
			Subject: auditapp.UserSubject(alice), From: now.Add(-time.Hour), To: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != recent.ID {
			t.Fatalf("filtered = %+v, want the admin update only", got)
		}
		got, err = store.ListAuditEvents(ctx, auditapp.Query{Limit: 10, Actor: alice, Before: kept.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != old.ID {
			t.Fatalf("after the cursor = %+v, want old", got)
		}
	})

	t.Run("an UPDATE is refused", func(t *testing.T) {
		if err := db.Gorm.Exec("UPDATE audit_events SET reason = 'rewritten' WHERE id = ?", kept.ID).Error; err == nil {
			t.Fatal("UPDATE audit_events was allowed")
		}
		if err := db.Gorm.Exec("UPDATE audit_events SET reason = 'rewritten' WHERE id = ?", old.ID).Error; err == nil {
			t.Fatal("UPDATE of an old row was allowed")
		}
	})

	t.Run("a DELETE of a recent row is refused", func(t *testing.T) {
		if err := db.Gorm.Exec("DELETE FROM audit_events WHERE id = ?", recent.ID).Error; err == nil {
			t.Fatal("DELETE of a recent row was allowed")
		}
	})

	t.Run("the retention purge deletes only what is older", func(t *testing.T) {
		n, err := store.PurgeAuditEvents(ctx, now, 365*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("purged %d, want 1", n)
		}
		left, err := store.ListAuditEvents(ctx, auditapp.Query{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 2 || left[0].ID != recent.ID || left[1].ID != kept.ID {
			t.Fatalf("left = %+v, want recent and kept", left)
		}
	})
}
