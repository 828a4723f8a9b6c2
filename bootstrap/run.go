package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/adapters/logging"
	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
)

// Version is the build's version, set with -ldflags "-X .../bootstrap.Version=...".
var Version = "dev"

const usage = `Usage: dashtam [command]

Commands:
  serve            run the HTTP API (default)
  migrate up       apply every pending database migration
  migrate down     roll back the most recent migration
  migrate status   list migrations and whether each is applied
  tokens reencrypt re-encrypt every stored provider token under the primary
                   TOKEN_ENCRYPTION_KEYS key, so older keys can be removed
  users grant-admin EMAIL
                   give the registered user with EMAIL the admin role (the
                   only way to make the first admin)
  users revoke-admin EMAIL
                   take it back (refused for the last active admin)
  version          print the version

Configuration comes from environment variables; see README.md.
`

// Run is the whole program: it parses the command line, loads the configuration
// and runs the chosen command until ctx is cancelled (SIGINT/SIGTERM in main).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stderr)
	case "migrate":
		if len(args) != 1 {
			return fmt.Errorf("migrate needs one of up, down, status\n\n%s", usage)
		}
		return migrate(ctx, args[0], getenv, stdout, stderr)
	case "tokens":
		if len(args) != 1 || args[0] != "reencrypt" {
			return fmt.Errorf("tokens needs: reencrypt\n\n%s", usage)
		}
		return reencrypt(ctx, getenv, stdout, stderr)
	case "users":
		if len(args) != 2 || (args[0] != "grant-admin" && args[0] != "revoke-admin") {
			return fmt.Errorf("users needs: grant-admin EMAIL or revoke-admin EMAIL\n\n%s", usage)
		}
		return setRole(ctx, args[0], args[1], getenv, stdout, stderr)
	case "version":
		_, err := fmt.Fprintln(stdout, Version)
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprint(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
}

// Setup loads and completes the configuration and builds the logger: the part of
// start-up that serve, migrate and the end-to-end tests share.
func Setup(getenv func(string) string, logOut io.Writer) (Config, *slog.Logger, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return Config{}, nil, fmt.Errorf("configuration:\n%w", err)
	}
	log := logging.New(logOut, cfg.LogLevel).With("service", "dashtam")
	if !cfg.Production() {
		generated, err := ensureDevKeys(&cfg)
		if err != nil {
			return Config{}, nil, err
		}
		if generated {
			log.Warn("generated development keys; never use them in production", "file", cfg.DevKeysFile)
		} else if cfg.DevKeysFile != "" {
			log.Warn("using development keys; set JWT_SIGNING_KEYS and TOKEN_ENCRYPTION_KEYS for real deployments", "file", cfg.DevKeysFile)
		}
	}
	return cfg, log, nil
}

func serve(ctx context.Context, getenv func(string) string, logOut io.Writer) error {
	cfg, log, err := Setup(getenv, logOut)
	if err != nil {
		return err
	}
	app, err := Build(ctx, cfg, log, Overrides{})
	if err != nil {
		return err
	}
	defer func() {
		if err := app.Close(); err != nil {
			log.Warn("closing the database", "error", err.Error())
		}
	}()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	background, err := app.StartBackground(ctx)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := httpapi.NewHTTPServer(cfg.HTTPAddr, app.Handler, log)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		metricsSrv, err := serveMetrics(cfg.MetricsAddr, app.MetricsHandler, log, errc)
		if err != nil {
			_ = srv.Close()
			return errors.Join(err, background.Stop(ctx))
		}
		defer func() { _ = metricsSrv.Close() }()
	}
	log.Info("listening", "addr", ln.Addr().String(), "env", cfg.Env, "database", string(app.DB.Dialect), "version", Version)

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	log.Info("shutting down; letting in-flight requests and running jobs finish", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serveErr != nil {
		return errors.Join(serveErr, background.Stop(shutdownCtx))
	}
	if err := shutdown(shutdownCtx, srv, errc, background); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// serveMetrics serves GET /metrics, and nothing else, on addr (METRICS_ADDR),
// an internal listener of its own; its serving error goes to errc.
func serveMetrics(addr string, metrics http.Handler, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := httpapi.NewHTTPServer(addr, mux, log)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("METRICS_ADDR: %w", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return srv, nil
}

// shutdown stops the HTTP server and the background work together, both
// within ctx: requests and jobs in flight may finish until it ends. The
// background work stops before the database closes.
func shutdown(ctx context.Context, srv *http.Server, errc <-chan error, background *Background) error {
	jobsErr := make(chan error, 1)
	go func() { jobsErr <- background.Stop(ctx) }()
	var httpErr error
	if err := srv.Shutdown(ctx); err != nil {
		httpErr = fmt.Errorf("shutdown: %w", err)
	} else if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		httpErr = err
	}
	return errors.Join(httpErr, <-jobsErr)
}

func migrate(ctx context.Context, direction string, getenv func(string) string, stdout, logOut io.Writer) error {
	cfg, log, err := Setup(getenv, logOut)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	db, err := persistence.Open(ctx, persistence.Options{URL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath()})
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	switch direction {
	case "up":
		return db.MigrateUp(ctx, log)
	case "down":
		m, err := db.Migrator()
		if err != nil {
			return err
		}
		res, err := m.Down(ctx)
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		log.Info("migration rolled back", "version", res.Source.Version)
		return nil
	case "status":
		return db.PrintStatus(ctx, stdout)
	default:
		return fmt.Errorf("migrate needs one of up, down, status, not %q", direction)
	}
}

// reencrypt re-encrypts every stored provider token under the primary key. Run it
// after putting a new key first in TOKEN_ENCRYPTION_KEYS; once it reports success
// the old key can be removed from the list.
func reencrypt(ctx context.Context, getenv func(string) string, stdout, logOut io.Writer) error {
	cfg, log, err := Setup(getenv, logOut)
	if err != nil {
		return err
	}
	app, err := Build(ctx, cfg, log, Overrides{})
	if err != nil {
		return err
	}
	defer func() { _ = app.Close() }()
	n, err := app.Authorizations.ReencryptAll(ctx)
	if err != nil {
		return fmt.Errorf("re-encrypt tokens: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "re-encrypted %d authorization(s) under key %q\n", n, cfg.TokenEncryptionKeys[0].ID)
	return err
}

// setRole gives (grant-admin) or takes (revoke-admin) the admin role of the
// user registered with email. It is the only way to make the first admin:
// whoever can run the binary against the database is trusted, and no API
// route can grant the role to a caller who lacks it. An unknown email is an
// error (a non-zero exit).
func setRole(ctx context.Context, command, email string, getenv func(string) string, stdout, logOut io.Writer) error {
	cfg, log, err := Setup(getenv, logOut)
	if err != nil {
		return err
	}
	app, err := Build(ctx, cfg, log, Overrides{})
	if err != nil {
		return err
	}
	defer func() { _ = app.Close() }()
	role, verb := identity.RoleAdmin, "granted the admin role to"
	if command == "revoke-admin" {
		role, verb = identity.RoleUser, "took the admin role from"
	}
	u, err := app.Admin.SetRole(ctx, email, role)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return fmt.Errorf("users %s: no user is registered with that email", command)
	case err != nil:
		return fmt.Errorf("users %s: %w", command, err)
	}
	_, err = fmt.Fprintf(stdout, "%s %s (user %s)\n", verb, u.Email(), u.ID())
	return err
}
