// Command profiled is `dashtam serve` with net/http/pprof on a second listener
// (PPROF_ADDR, default 127.0.0.1:6060), for profiling the benchmark scenarios:
// `make bench BENCH_PROFILE=dir` runs it instead of bin/dashtam and saves a CPU
// profile of every scenario's measured window. It builds the service exactly as
// serve does (bootstrap.Setup and bootstrap.Build, the same http.Server), minus
// the background token-refresh loop, which no scenario exercises. The
// production binary has no pprof endpoint; this one exists only under test/.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dashtam/dashtam/adapters/httpapi"
	"github.com/dashtam/dashtam/bootstrap"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "profiled:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, log, err := bootstrap.Setup(os.Getenv, os.Stderr)
	if err != nil {
		return err
	}
	app, err := bootstrap.Build(ctx, cfg, log, bootstrap.Overrides{})
	if err != nil {
		return err
	}
	defer func() { _ = app.Close() }()
	background, err := app.StartBackground(ctx)
	if err != nil {
		return err
	}
	defer func() { // before the database closes
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = background.Stop(stopCtx)
	}()

	pprofAddr := os.Getenv("PPROF_ADDR")
	if pprofAddr == "" {
		pprofAddr = "127.0.0.1:6060"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	pprofSrv := &http.Server{Addr: pprofAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = pprofSrv.ListenAndServe() }()
	defer func() { _ = pprofSrv.Close() }()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	srv := httpapi.NewHTTPServer(cfg.HTTPAddr, app.Handler, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "pprof", pprofAddr, "database", string(app.DB.Dialect))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
