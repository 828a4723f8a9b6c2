package bootstrap

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/dbtest"
)

// The background work runs the periodic jobs through the job engine, on
// either database: each runs once as soon as the instance is elected, and
// stopping lets the engine finish before the app closes.
func TestBackgroundRunsPeriodicJobs(t *testing.T) {
	for name, databaseURL := range map[string]func(*testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { _, u := dbtest.PostgresWithURL(t); return u },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg, log, err := Setup(env(map[string]string{"DATA_DIR": t.TempDir(), "DATABASE_URL": databaseURL(t)}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			unlock := func() {}
			if cfg.DatabaseURL != "" {
				unlock = dbtest.LockPostgresMigrations()
			}
			app, err := Build(ctx, cfg, log, Overrides{})
			unlock()
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := app.Close(); err != nil {
					t.Error(err)
				}
			}()
			background, err := app.StartBackground(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, kind := range []string{tokenRefreshPass{}.Kind(), idempotencyCleanupPass{}.Kind()} {
				waitForCompleted(t, app, kind)
			}
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := background.Stop(stopCtx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func waitForCompleted(t *testing.T, app *App, kind string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int64
		if err := app.DB.Gorm.Table("river_job").Where("kind = ? AND state = ?", kind, "completed").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s job completed", kind)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
