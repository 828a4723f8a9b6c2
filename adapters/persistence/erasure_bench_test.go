package persistence_test

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/test/dbtest"
)

// BenchmarkEraseUser measures deleting an account (EraseUser's one
// transaction) that holds ERASE_BENCH_ROWS transactions (default 100,000),
// on SQLite and, with TEST_DATABASE_URL, on Postgres; each iteration seeds
// a new user first, untimed (docs/performance.md, "Deleting an account").
//
//	go test ./adapters/persistence -run '^$' -bench BenchmarkEraseUser -benchtime 3x
func BenchmarkEraseUser(b *testing.B) {
	rows := 100_000
	if v, err := strconv.Atoi(os.Getenv("ERASE_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	for _, dialect := range []struct {
		name string
		open func(testing.TB) *persistence.DB
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		b.Run(fmt.Sprintf("%s/%d", dialect.name, rows), func(b *testing.B) {
			db := dialect.open(b)
			ids := persistence.NewIdentityStore(db, 0, discardJobs{})
			erase := persistence.NewErasureStore(ids, persistence.NewAuthorizationStore(db, newKeyring(b, newKey(b, "k1")),
				persistence.WithSetAside(&recordingJobs{})), slog.New(slog.DiscardHandler))
			for b.Loop() {
				b.StopTimer()
				db.Gorm.Exec("DELETE FROM users") // the previous iteration's, if any
				userID, providerID := benchExportUser(b, db)
				seedBenchTransactions(b, db, providerID, rows)
				var seeded int64
				if err := db.Gorm.Table("transactions").Where("user_id = ?", userID).Count(&seeded).Error; err != nil || seeded != int64(rows) {
					b.Fatalf("seeded %d transactions (%v), want %d", seeded, err, rows)
				}
				b.StartTimer()
				if _, err := erase.EraseUser(b.Context(), userID, time.Now(), func(*identity.User, int) error { return nil }); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				var left int64
				if err := db.Gorm.Table("transactions").Count(&left).Error; err != nil || left != 0 {
					b.Fatalf("%d transactions left after the erasure (%v)", left, err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(rows)/(b.Elapsed().Seconds()/float64(b.N)), "transactions/s")
		})
	}
}
