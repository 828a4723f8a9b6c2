package bootstrap

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Background runs the service's periodic jobs until ctx ends, and waits for them
// to stop when Wait is called.
type Background struct {
	wg sync.WaitGroup
}

// Every runs job now and then every interval (with ±10% jitter, so that several
// instances started together do not fire in lockstep) until ctx ends. A failing
// pass is logged and the next one runs on schedule.
func (b *Background) Every(ctx context.Context, log *slog.Logger, name string, interval time.Duration, job func(context.Context) error) {
	b.Run(ctx, func(ctx context.Context) {
		for {
			if err := job(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "background job failed", "job", name, "error", err.Error())
			}
			jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(interval))
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval + jitter):
			}
		}
	})
}

// Wait blocks until every job has returned.
func (b *Background) Wait() { b.wg.Wait() }

// Run runs job until ctx ends.
func (b *Background) Run(ctx context.Context, job func(context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		job(ctx)
	}()
}

// StartBackground starts the app's background work until ctx ends: listening
// for session changes made by other instances (Postgres), refreshing provider
// tokens before they expire, and deleting expired idempotency records. Wait on
// the result before closing the app.
func (app *App) StartBackground(ctx context.Context) *Background {
	var b Background
	b.Run(ctx, func(ctx context.Context) { app.Sessions.WatchSessions(ctx, app.Log) })
	b.Every(ctx, app.Log, "token-refresh", app.Config.TokenRefreshInterval, func(ctx context.Context) error {
		refreshed, failed, err := app.Connections.RefreshDue(ctx)
		if refreshed+failed > 0 {
			app.Log.InfoContext(ctx, "background token refresh", "refreshed", refreshed, "failed", failed)
		}
		return err
	})
	b.Every(ctx, app.Log, "idempotency-cleanup", time.Hour, func(ctx context.Context) error {
		n, err := app.Idempotency.DeleteExpired(ctx, time.Now())
		if n > 0 {
			app.Log.InfoContext(ctx, "expired idempotency records deleted", "deleted", n)
		}
		return err
	})
	return &b
}
