package persistence_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/application/audit"
	"github.com/dashtam/dashtam/application/exports"
	"github.com/dashtam/dashtam/test/dbtest"
	"github.com/dashtam/dashtam/test/financeseed"
)

type benchClock struct{}

func (benchClock) Now() time.Time { return time.Now() }

type benchAuditor struct{}

func (benchAuditor) Record(context.Context, audit.Entry) {}

// BenchmarkExportSQLite measures the export job end to end on SQLite: the
// real source reading EXPORT_BENCH_ROWS transactions (default 100,000) in
// keyset pages, the document encoded, gzip-compressed and stored in chunks
// (docs/performance.md, "Exporting a user's data").
//
//	go test ./adapters/persistence -run '^$' -bench BenchmarkExportSQLite -benchtime 3x
func BenchmarkExportSQLite(b *testing.B) {
	rows := 100_000
	if v, err := strconv.Atoi(os.Getenv("EXPORT_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	db := dbtest.SQLite(b)
	userID, providerID := benchExportUser(b, db)
	seedBenchTransactions(b, db, providerID, rows)
	queue := &recordingJobs{}
	store := persistence.NewExportStore(db, queue)
	svc := exports.New(exports.Deps{Store: store, Source: persistence.NewExportSource(db), Clock: benchClock{},
		Audit: benchAuditor{}}, exports.Config{})
	ctx := context.Background()
	var last exports.Export
	var peak uint64
	b.ResetTimer()
	for b.Loop() {
		e, err := svc.Start(ctx, userID)
		if err != nil {
			b.Fatal(err)
		}
		job := queue.jobs[len(queue.jobs)-1].(exports.Job)
		if err := svc.Run(ctx, job); err != nil {
			b.Fatal(err)
		}
		if last, err = store.ExportByID(ctx, e.ID); err != nil || last.Status != exports.Succeeded {
			b.Fatalf("export %+v, %v", last, err)
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
		_ = store.DeleteChunks(ctx, e.ID)
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(last.RecordsWritten)/perOp, "records/s")
	b.ReportMetric(float64(last.Size)/float64(last.RecordsWritten), "gzip-bytes/record")
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
}

func benchExportUser(b *testing.B, db *persistence.DB) (userID, providerID uuid.UUID) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	userID, providerID = uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	if err := db.Gorm.Exec("INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		userID, "bench@example.com", "Bench", "x", now, now).Error; err != nil {
		b.Fatal(err)
	}
	if err := db.Gorm.Exec(`INSERT INTO providers (id, user_id, provider_key, alias, alias_key, connection_status, version, created_at, updated_at)
		VALUES (?, ?, 'sandbox', 'b', 'b', 'active', 1, ?, ?)`, providerID, userID, now, now).Error; err != nil {
		b.Fatal(err)
	}
	return userID, providerID
}

// seedBenchTransactions stores n transactions of one new account of the
// provider, through the sync's own write path, in batches of 5,000.
func seedBenchTransactions(b *testing.B, db *persistence.DB, providerID uuid.UUID, n int) {
	seed := financeseed.Seeder{T: b, Writes: persistence.NewFinanceStore(db), Now: time.Now().UTC().Truncate(time.Microsecond)}
	account := seed.Account(providerID, financeseedAccount("Checking"))
	const batch = 5000
	for from := 0; from < n; from += batch {
		txs := make([]financeseed.Tx, 0, batch)
		for i := from; i < min(from+batch, n); i++ {
			txs = append(txs, financeseed.Tx{Amount: fmt.Sprintf("-%d.%02d", i%5000, i%100), Date: "2026-03-01",
				Description: fmt.Sprintf("CARD PURCHASE %d", i), Merchant: fmt.Sprintf("Merchant %d", i%977)})
		}
		seed.Transactions(account, txs...)
	}
}
