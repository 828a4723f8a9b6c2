package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/finance"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/financeseed"
)

func TestExportsSQLite(t *testing.T) { testExports(t, dbtest.SQLite(t)) }

func TestExportsPostgres(t *testing.T) {
	dbtest.PostgresURL(t)
	testExports(t, dbtest.Postgres(t))
}

// exportUser stores a user and a provider of theirs, and returns both ids.
func exportUser(t *testing.T, db *persistence.DB, email string) (userID, providerID uuid.UUID) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	userID, providerID = uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	if err := db.Gorm.Exec("INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		userID, email, "Ann", "$argon2id$v=19$secret-hash", now, now).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Gorm.Exec(`INSERT INTO providers (id, user_id, provider_key, alias, alias_key, connection_status, version, created_at, updated_at)
		VALUES (?, ?, 'sandbox', ?, ?, 'active', 1, ?, ?)`, providerID, userID, email, email, now, now).Error; err != nil {
		t.Fatal(err)
	}
	return userID, providerID
}

// readAll reads a whole section in pages of limit.
func readAll(t *testing.T, src *persistence.ExportSource, userID uuid.UUID, section exports.Section, limit int) []exports.Record {
	t.Helper()
	var out []exports.Record
	var after exports.Cursor
	for {
		page, next, err := src.ReadSection(t.Context(), userID, section, after, limit)
		if err != nil {
			t.Fatalf("%s: %v", section, err)
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		after = next
	}
}

func field(r exports.Record, name string) any {
	for _, f := range r {
		if f.Name == name {
			return f.Value
		}
	}
	return fmt.Sprintf("<no field %s>", name)
}

func testExports(t *testing.T, db *persistence.DB) {
	ctx := context.Background()
	queue := &recordingJobs{}
	store := persistence.NewExportStore(db, queue)
	src := persistence.NewExportSource(db)
	ann, annProvider := exportUser(t, db, "ann@example.com")
	bob, bobProvider := exportUser(t, db, "bob@example.com")
	seed := financeseed.Seeder{T: t, Writes: persistence.NewFinanceStore(db), Now: time.Now().UTC().Truncate(time.Microsecond)}
	checking := seed.Account(annProvider, financeseedAccount("Checking"))
	savings := seed.Account(annProvider, financeseedAccount("Savings"))
	var txs []financeseed.Tx
	for i := range 1203 {
		txs = append(txs, financeseed.Tx{Amount: fmt.Sprintf("-%d.50", i), Date: "2026-03-01", Description: fmt.Sprintf("coffee %d", i)})
	}
	stored := seed.Transactions(checking, txs...)
	seed.Remove(stored[5])
	for i, a := range []string{"10.00", "20.00", "30.00"} {
		seed.Balance(checking, a, a, seed.Now.Add(time.Duration(i-3)*time.Hour))
		seed.Balance(savings, a, a, seed.Now.Add(time.Duration(i-3)*time.Hour))
	}
	bobAccount := seed.Account(bobProvider, financeseedAccount("Bob's"))
	seed.Transactions(bobAccount, financeseed.Tx{Amount: "1.00", Date: "2026-03-01", Description: "bob's"})

	t.Run("every section reads in keyset pages, the user's rows only", func(t *testing.T) {
		profile, err := src.Profile(ctx, ann)
		if err != nil || field(profile, "email") != "ann@example.com" || field(profile, "email_verified_at") != nil {
			t.Fatalf("profile %v, %v", profile, err)
		}
		for _, f := range profile {
			if f.Name == "password_hash" || f.Value == "$argon2id$v=19$secret-hash" {
				t.Fatal("the profile holds the password hash")
			}
		}
		if _, err := src.Profile(ctx, uuid.Must(uuid.NewV7())); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("unknown user's profile = %v", err)
		}
		trs := readAll(t, src, ann, exports.Transactions, 100)
		if len(trs) != 1203 {
			t.Fatalf("%d transactions", len(trs))
		}
		seen := map[any]bool{}
		removed := 0
		for _, tr := range trs {
			if seen[field(tr, "id")] {
				t.Fatalf("transaction %v twice", field(tr, "id"))
			}
			seen[field(tr, "id")] = true
			if field(tr, "state") == "removed" {
				removed++
				if field(tr, "removed_at") == nil {
					t.Errorf("removed %v has no removed_at", tr)
				}
			}
			if field(tr, "description") == "bob's" {
				t.Fatal("bob's transaction is in ann's export")
			}
		}
		first := trs[0]
		if removed != 1 || field(first, "amount") != exports.Decimal("-0.50") || field(first, "currency") != "USD" ||
			field(first, "date") != "2026-03-01" || field(first, "authorized_date") != nil {
			t.Fatalf("removed %d; first %v", removed, first)
		}
		balances := readAll(t, src, ann, exports.Balances, 2)
		if len(balances) != 6 || field(balances[0], "current") != exports.Decimal("10.00") {
			t.Fatalf("balances %v", balances)
		}
		if accts := readAll(t, src, ann, exports.Accounts, 1); len(accts) != 2 || field(accts[0], "mask") != "1234" {
			t.Fatalf("accounts %v", accts)
		}
		if ps := readAll(t, src, ann, exports.Providers, 10); len(ps) != 1 || field(ps[0], "id") != annProvider.String() {
			t.Fatalf("providers %v", ps)
		}
		for _, section := range exports.Sections {
			readAll(t, src, ann, section, 3)
		}
		if bobs := readAll(t, src, bob, exports.Transactions, 10); len(bobs) != 1 {
			t.Fatalf("bob's transactions %v", bobs)
		}
	})

	newExport := func(userID uuid.UUID) exports.Export {
		return exports.Export{ID: uuid.Must(uuid.NewV7()), UserID: userID, Status: exports.Queued, CreatedAt: time.Now()}
	}
	e := newExport(ann)
	t.Run("one export in flight per user, enqueued with its row", func(t *testing.T) {
		if err := store.CreateExport(ctx, e, exports.Job{ExportID: e.ID}); err != nil {
			t.Fatal(err)
		}
		if err := store.CreateExport(ctx, newExport(ann), exports.Job{}); !errors.Is(err, exports.ErrInProgress) {
			t.Fatalf("second export = %v", err)
		}
		b := newExport(bob)
		if err := store.CreateExport(ctx, b, exports.Job{ExportID: b.ID}); err != nil {
			t.Fatalf("bob's export = %v", err)
		}
		if len(queue.jobs) != 2 || queue.jobs[0].(exports.Job).ExportID != e.ID {
			t.Fatalf("jobs %v", queue.jobs)
		}
	})
	t.Run("a run starts over; chunks round-trip; the claim is once", func(t *testing.T) {
		now := time.Now()
		got, err := store.StartExport(ctx, e.ID, now)
		if err != nil || got.Status != exports.Running || got.Attempts != 1 {
			t.Fatalf("start = %+v, %v", got, err)
		}
		if err := store.AppendChunk(ctx, e.ID, 0, []byte("stale")); err != nil {
			t.Fatal(err)
		}
		if got, err = store.StartExport(ctx, e.ID, now); err != nil || got.Attempts != 2 {
			t.Fatalf("restart = %+v, %v", got, err)
		}
		if _, err := store.Chunk(ctx, e.ID, 0); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("the first run's chunk survived the restart: %v", err)
		}
		for seq, data := range []string{"one", "two"} {
			if err := store.AppendChunk(ctx, e.ID, seq, []byte(data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.SaveProgress(ctx, e.ID, "transactions", 1000); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ClaimDownload(ctx, e.ID, ann, now); !errors.Is(err, exports.ErrNotReady) {
			t.Fatalf("claim while running = %v", err)
		}
		got.Status, got.Size, got.Chunks, got.Stage, got.RecordsWritten = exports.Succeeded, 6, 2, "done", 1203
		got.FinishedAt, got.ExpiresAt = now, now.Add(time.Hour)
		if err := store.FinishExport(ctx, got); err != nil {
			t.Fatal(err)
		}
		if data, err := store.Chunk(ctx, e.ID, 1); err != nil || string(data) != "two" {
			t.Fatalf("chunk 1 = %q, %v", data, err)
		}
		if _, err := store.ClaimDownload(ctx, e.ID, bob, now); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("bob's claim = %v", err)
		}
		var wins, refused int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := store.ClaimDownload(ctx, e.ID, ann, now.Add(time.Second))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, exports.ErrAlreadyDownloaded):
					refused++
				default:
					t.Errorf("claim: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || refused != 7 {
			t.Fatalf("%d claims won, %d refused", wins, refused)
		}
		done, err := store.ExportByID(ctx, e.ID)
		if err != nil || done.DownloadedAt.IsZero() || done.Status != exports.Succeeded || done.RecordsWritten != 1203 ||
			done.Chunks != 2 || done.Stage != "done" {
			t.Fatalf("downloaded export %+v, %v", done, err)
		}
	})
	t.Run("an expired export is refused; the purge deletes its chunks, then its row", func(t *testing.T) {
		x := newExport(ann)
		if err := store.CreateExport(ctx, x, exports.Job{}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		x, _ = store.StartExport(ctx, x.ID, now)
		_ = store.AppendChunk(ctx, x.ID, 0, []byte("doc"))
		x.Status, x.Chunks, x.FinishedAt, x.ExpiresAt = exports.Succeeded, 1, now, now.Add(time.Minute)
		if err := store.FinishExport(ctx, x); err != nil {
			t.Fatal(err)
		}
		if _, err := store.ClaimDownload(ctx, x.ID, ann, now.Add(time.Minute)); !errors.Is(err, exports.ErrExpired) {
			t.Fatalf("claim at expiry = %v", err)
		}
		chunks, rows, err := store.PurgeExports(ctx, now.Add(2*time.Minute), now.Add(-time.Hour))
		if err != nil || chunks != 3 || rows != 0 { // e's two (downloaded) and x's one (expired)
			t.Fatalf("purge = %d chunks, %d rows, %v", chunks, rows, err)
		}
		if _, rows, err := store.PurgeExports(ctx, now.Add(2*time.Minute), now.Add(time.Hour)); err != nil || rows != 2 {
			t.Fatalf("row purge = %d, %v", rows, err)
		}
		if _, err := store.ExportByID(ctx, x.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("purged export = %v", err)
		}
	})
	t.Run("a failed export loses its chunks", func(t *testing.T) {
		x := newExport(ann)
		_ = store.CreateExport(ctx, x, exports.Job{})
		x, _ = store.StartExport(ctx, x.ID, time.Now())
		_ = store.AppendChunk(ctx, x.ID, 0, []byte("partial"))
		x.Status, x.Error, x.FinishedAt = exports.Failed, exports.ReasonInternal, time.Now()
		if err := store.FinishExport(ctx, x); err != nil {
			t.Fatal(err)
		}
		got, _ := store.ExportByID(ctx, x.ID)
		if _, err := store.Chunk(ctx, x.ID, 0); got.Status != exports.Failed || got.Error != exports.ReasonInternal || !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("failed export %+v; chunk %v", got, err)
		}
	})
	t.Run("deleting the user deletes their exports; a job then finds them gone", func(t *testing.T) {
		bobExport := queue.jobs[1].(exports.Job).ExportID
		if _, err := store.StartExport(ctx, bobExport, time.Now()); err != nil {
			t.Fatal(err)
		}
		_ = store.AppendChunk(ctx, bobExport, 0, []byte("doc"))
		if err := db.Gorm.Exec("DELETE FROM users WHERE id = ?", bob).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := store.ExportByID(ctx, bobExport); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("export after its user's deletion = %v", err)
		}
		if _, err := store.StartExport(ctx, bobExport, time.Now()); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("start = %v", err)
		}
		if err := store.SaveProgress(ctx, bobExport, "events", 1); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("progress = %v", err)
		}
		if err := store.AppendChunk(ctx, bobExport, 1, []byte("x")); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("chunk = %v", err)
		}
		var left int
		if err := db.SQL.QueryRowContext(ctx, "SELECT COUNT(*) FROM export_chunks").Scan(&left); err != nil || left != 0 {
			t.Fatalf("%d chunks left, %v", left, err)
		}
	})
}

func financeseedAccount(name string) finance.AccountDetails {
	return finance.AccountDetails{InstitutionAccountID: "inst-" + name, Name: name}
}
