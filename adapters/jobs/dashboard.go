package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"riverqueue.com/riverui"
)

// Dashboard is River's own web UI (riverqueue.com/riverui) over the engine's
// jobs: queued, running, retried and failed jobs can be seen, retried and
// cancelled without SQL. It checks nobody: mount it behind the admin role.
type Dashboard struct {
	handler *riverui.Handler
}

// Dashboard builds the web UI, serving under prefix ("/admin/jobs").
func (e *Engine) Dashboard(prefix string, log *slog.Logger) (*Dashboard, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(e.client, nil),
		// Job arguments carry ids and, for some mail jobs, an email address (never
		// a token or secret): shown when an operator opens a job, not in the list.
		JobListHideArgsByDefault: true,
		Logger:                   log.With("component", "jobs_dashboard"),
		Prefix:                   prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: dashboard: %w", err)
	}
	return &Dashboard{handler: h}, nil
}

// Start starts the UI's background services; they stop when ctx ends.
func (d *Dashboard) Start(ctx context.Context) error {
	if err := d.handler.Start(ctx); err != nil {
		return fmt.Errorf("jobs: dashboard: %w", err)
	}
	return nil
}

// ServeHTTP serves the UI and its API.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.handler.ServeHTTP(w, r) }
