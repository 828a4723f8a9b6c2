// Command bench is the side-by-side benchmark behind `make bench`: it drives the
// real service (bin/dashtam) and a minimal baseline server (test/bench/baseline)
// with the same load on loopback, and prints one table.
//
// For each database (a fresh schema in the Postgres of TEST_DATABASE_URL, when
// it answers, then a fresh embedded SQLite file) it starts the real binary with
// raised rate limits, seeds it through the API (register, verify through the
// development mail log line, log in, create 1,000 providers), starts the
// baseline on the same database with the same JWT key, and runs each scenario:
// warm-up, then a measured window, with 32 keep-alive connections (cut into
// rounds alternating baseline and service where a scenario has both). The servers
// run on one core (taskset -c 0), this program, which is the load generator, on
// another (it re-runs itself under taskset -c 1).
//
// Configuration (environment):
//
//	BENCH_QUICK=1         smoke run: 1 s warm-up, 2 s measured per scenario
//	BENCH_WARMUP=3s       warm-up per scenario
//	BENCH_DURATION=10s    measured window per scenario
//	BENCH_ROUNDS=5        rounds the measured window of a scenario with a
//	                      baseline is cut into, alternating baseline and service
//	BENCH_CONNS=32        connections
//	BENCH_ONLY=regexp     run only the scenarios whose "db scenario" matches
//	BENCH_PROFILE=dir     run test/bench/cmd/profiled instead of bin/dashtam and
//	                      save a CPU profile of each real-service scenario in dir
//	BENCH_SERVER_CPU=0, BENCH_LOADGEN_CPU=1   the cores (taskset -c lists)
//	BENCH_NICE=-10        run the servers and the load generator at this nice
//	                      level (negative needs root), so that they win their
//	                      cores from other work; Postgres is not reniced (it made
//	                      no measurable difference on the machine of the record
//	                      in docs/performance.md)
//	BENCH_KEEP=1          keep the temporary directory (logs, SQLite file)
//	BENCH_SERVER_ENV="K=V K2=V2"  extra environment of the real service only
//	                      (experiments such as GOGC=200 or GOMEMLIMIT=48MiB)
//	BENCH_POCKETBASE=0    do not measure PocketBase (pocketbase.go; SQLite
//	                      only). By default the pinned release is built once
//	                      into .bin/pocketbase-<version>/ and measured on the
//	                      server core with the same 1,000 records, in the
//	                      rounds of the view and list scenarios, and the SQLite
//	                      targets compare with 2x its req/s in this run; if it
//	                      cannot be built, with the absolute figures
//	BENCH_SCALE=0         skip the scale phase (scale.go; Postgres only, after
//	                      the other scenarios: 1,000,000 providers seeded with
//	                      SQL, one user with 100,000; its first cursor page, the
//	                      cursor page after row 99,000 and offset pages at
//	                      1,000, 10,000 and 99,000); BENCH_QUICK=1 skips it
//	                      unless BENCH_SCALE=1
//	TEST_DATABASE_URL     Postgres (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
//
// It exits non-zero when any scenario had an error (or setup failed); targets
// that are missed are reported, not fatal.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dashtam/dashtam/test/bench/loadgen"
)

const (
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	// seedProviders is how many providers the bench user gets; the list
	// scenarios read the page after row pageAfter (rows 501-520: cursor page, and
	// offset page 26 of 20).
	seedProviders = 1000
	pageAfter     = 500
	pageSize      = 20
	// raisedLimit is every rate-limit tier of the real service: requests are
	// counted, as in production, but never refused.
	raisedLimit = "1000000000-M"
)

func main() {
	if bareChild() {
		return
	}
	pinSelf()
	code, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// pinSelf re-runs the program under taskset on the load generator's core, once.
func pinSelf() {
	if os.Getenv("DASHTAM_BENCH_PINNED") != "" {
		return
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil || runtime.NumCPU() < 2 {
		fmt.Fprintln(os.Stderr, "bench: warning: not pinning (needs taskset and 2 cores); servers and load generator share the CPUs")
		_ = os.Setenv("DASHTAM_BENCH_NOPIN", "1")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	args := append(append([]string{"taskset", "-c", envOr("BENCH_LOADGEN_CPU", "1")}, niceArgs()...), exe)
	args = append(args, os.Args[1:]...)
	env := append(os.Environ(), "DASHTAM_BENCH_PINNED=1")
	err = syscall.Exec(taskset, args, env)
	fmt.Fprintln(os.Stderr, "bench: warning: could not re-run under taskset:", err)
}

// niceArgs runs a command at BENCH_NICE's scheduling priority (a negative
// number needs root), so that the servers and the load generator win their
// cores from whatever else the machine is running.
func niceArgs() []string {
	if n := os.Getenv("BENCH_NICE"); n != "" {
		if _, err := strconv.Atoi(n); err == nil {
			return []string{"nice", "-n", n}
		}
	}
	return nil
}

type config struct {
	warmup, duration time.Duration
	rounds           int
	conns            int
	only             *regexp.Regexp
	profileDir       string
	keep             bool
	pgURL            string
	serverCPU        string
	root, binDir     string
	binary           string // the real service
	baseline         string
	tmp              string
	jwtKey, encKey   string // base64
	noPocketBase     bool   // it could not be built
}

func run() (int, error) {
	binary := flag.String("binary", "", "the dashtam binary to benchmark (default: build bin/dashtam)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := loadConfig()
	if err != nil {
		return 2, err
	}
	if err := build(cfg, *binary); err != nil {
		return 2, err
	}
	if err := buildPocketBase(cfg); err != nil {
		fmt.Printf("PocketBase is not measured (%v); the SQLite targets compare with the absolute figures\n", err)
		cfg.noPocketBase = true
	}
	cfg.tmp, err = os.MkdirTemp("", "dashtam-bench-")
	if err != nil {
		return 2, err
	}
	if cfg.keep {
		fmt.Println("keeping", cfg.tmp)
	} else {
		defer func() { _ = os.RemoveAll(cfg.tmp) }()
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return 2, err
		}
	}

	fmt.Printf("machine: %s, %d cores (servers on CPU %s, load generator on CPU %s), %s\n",
		cpuModel(), runtime.NumCPU()+otherCPUs(), cfg.serverCPU, envOr("BENCH_LOADGEN_CPU", "1"), memTotal())
	fmt.Printf("load average before the run: %s\n", loadAvg())
	if n := os.Getenv("BENCH_NICE"); n != "" {
		fmt.Printf("servers and load generator at nice %s\n", n)
	}
	fmt.Printf("load: %d connections, %s warm-up + %s measured per scenario\n\n", cfg.conns, cfg.warmup, cfg.duration)

	var (
		rows  []row
		notes []string
	)
	backends := []string{"postgres", "sqlite"}
	for _, b := range backends {
		if ctx.Err() != nil {
			break
		}
		r, n, err := runBackend(ctx, cfg, b)
		rows = append(rows, r...)
		notes = append(notes, n...)
		if err != nil {
			printTable(rows)
			return 2, fmt.Errorf("%s: %w", b, err)
		}
	}
	fmt.Println()
	printTable(rows)
	fmt.Println()
	fmt.Printf("load average after the run: %s\n", loadAvg())
	for _, n := range notes {
		fmt.Println(n)
	}
	fmt.Println()
	printTargets(rows)
	if cfg.profileDir != "" {
		fmt.Printf("\nCPU profiles in %s: go tool pprof -top -nodecount 40 <file>\n", cfg.profileDir)
	}
	for _, r := range rows {
		if r.errors > 0 {
			return 1, fmt.Errorf("%s %s (%s) had %d errors, e.g. %q", r.db, r.scenario, r.server, r.errors, r.samples)
		}
	}
	return 0, nil
}

func loadConfig() (*config, error) {
	cfg := &config{conns: 32, warmup: 3 * time.Second, duration: 10 * time.Second, rounds: 5}
	if os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0" {
		cfg.warmup, cfg.duration = time.Second, 2*time.Second
	}
	for name, d := range map[string]*time.Duration{"BENCH_WARMUP": &cfg.warmup, "BENCH_DURATION": &cfg.duration} {
		if v := os.Getenv(name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed < 0 {
				return nil, fmt.Errorf("%s: want a duration such as 10s", name)
			}
			*d = parsed
		}
	}
	if cfg.duration <= 0 {
		return nil, errors.New("BENCH_DURATION must be positive")
	}
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errors.New("BENCH_ROUNDS: want a positive number")
		}
		cfg.rounds = n
	}
	if v := os.Getenv("BENCH_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, errors.New("BENCH_CONNS: want a positive number")
		}
		cfg.conns = n
	}
	if v := os.Getenv("BENCH_ONLY"); v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, fmt.Errorf("BENCH_ONLY: %w", err)
		}
		cfg.only = re
	}
	cfg.profileDir = os.Getenv("BENCH_PROFILE")
	cfg.keep = os.Getenv("BENCH_KEEP") != "" && os.Getenv("BENCH_KEEP") != "0"
	cfg.pgURL = envOr("TEST_DATABASE_URL", defaultPostgres)
	cfg.serverCPU = envOr("BENCH_SERVER_CPU", "0")
	if os.Getenv("DASHTAM_BENCH_NOPIN") != "" {
		cfg.serverCPU = ""
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return nil, errors.New("run me inside the dashtam module (go env GOMOD)")
	}
	cfg.root = filepath.Dir(strings.TrimSpace(string(out)))
	cfg.binDir = filepath.Join(cfg.root, "bin")
	cfg.jwtKey, cfg.encKey = randomKey(), randomKey()
	return cfg, nil
}

// build compiles what the run needs into bin/.
func build(cfg *config, binary string) error {
	goBuild := func(out, pkg string, args ...string) error {
		cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", out, pkg)...)
		cmd.Dir = cfg.root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", pkg, err)
		}
		return nil
	}
	switch {
	case cfg.profileDir != "":
		cfg.binary = filepath.Join(cfg.binDir, "dashtam-bench-profiled")
		if err := goBuild(cfg.binary, "./test/bench/cmd/profiled"); err != nil {
			return err
		}
	case binary != "":
		abs, err := filepath.Abs(binary)
		if err != nil {
			return err
		}
		cfg.binary = abs
	default:
		cfg.binary = filepath.Join(cfg.binDir, "dashtam")
		if err := goBuild(cfg.binary, "./bootstrap/cmd/dashtam", "-ldflags", "-X github.com/dashtam/dashtam/bootstrap.Version=bench"); err != nil {
			return err
		}
	}
	cfg.baseline = filepath.Join(cfg.binDir, "dashtam-bench-baseline")
	return goBuild(cfg.baseline, "./test/bench/baseline")
}

// ---------------------------------------------------------------------------
// One database: servers, seed, scenarios.

// row is one line of the table.
type row struct {
	db, scenario, server string
	rps                  float64
	p50, p99             time.Duration
	errors               int64
	samples              []string
	peakRSS              int64 // bytes; -1 unknown
	rssReset             bool  // peakRSS covers this scenario only
	serverCPU, genCPU    float64
	// others is the CPU that processes other than the server, its Postgres
	// backends and the load generator used meanwhile (other work on the
	// machine), in cores.
	others float64
	// cpuPerReq is the server's CPU time per successful measured request and
	// pgPerReq its Postgres backends': unlike req/s, they hardly depend on what
	// else the machine runs.
	cpuPerReq, pgPerReq time.Duration
	hasPG               bool
	vs                  *row // the baseline row, if any
	login               bool
	finance             bool // a row of the finance phase (finance.go), after the 100,000-transaction sync
}

func runBackend(ctx context.Context, cfg *config, backend string) (rows []row, notes []string, err error) {
	dataDir := filepath.Join(cfg.tmp, backend)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, err
	}
	env := map[string]string{
		"APP_ENV":               "development",
		"DATA_DIR":              dataDir,
		"JWT_SIGNING_KEYS":      "bench:" + cfg.jwtKey,
		"TOKEN_ENCRYPTION_KEYS": "bench:" + cfg.encKey,
		"LOG_LEVEL":             "info",
		"ACCESS_TOKEN_TTL":      "2h",
		"RATE_LIMIT_AUTH":       raisedLimit,
		"RATE_LIMIT_READ":       raisedLimit,
		"RATE_LIMIT_WRITE":      raisedLimit,
		"RATE_LIMIT_REFRESH":    raisedLimit,
		"RATE_LIMIT_REFRESH_IP": raisedLimit,
		// The finance phase's initial sync reads 200 pages as fast as it can:
		// the institution call budgets are raised like the rate limits.
		"PROVIDER_CALL_BUDGET":      "1000000000",
		"PROVIDER_TYPE_CALL_BUDGET": "1000000000",
	}
	// Experiments: BENCH_SERVER_ENV="GOGC=200 GOMEMLIMIT=48MiB" reaches the real
	// service only.
	for _, kv := range strings.Fields(os.Getenv("BENCH_SERVER_ENV")) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if !cfg.wantsAny(backend) {
		return nil, nil, nil
	}
	var (
		dbURL         string
		svcPG, basePG *pgBackends
	)
	if backend == "postgres" {
		schemaURL, conn, drop, err := freshSchema(ctx, cfg.pgURL)
		if err != nil {
			note := fmt.Sprintf("postgres: skipped: %v (set TEST_DATABASE_URL to a reachable server, e.g. %s)", err, defaultPostgres)
			fmt.Println(note)
			return nil, []string{note}, nil
		}
		defer drop()
		dbURL = schemaURL
		var mu sync.Mutex
		svcPG = &pgBackends{conn: conn, mu: &mu, appName: "dashtam_bench_service"}
		basePG = &pgBackends{conn: conn, mu: &mu, appName: "dashtam_bench_baseline"}
		env["DATABASE_URL"] = withAppName(dbURL, svcPG.appName)
	}

	addr := freeAddr()
	env["HTTP_ADDR"] = addr
	env["PUBLIC_BASE_URL"] = "http://" + addr
	if cfg.profileDir != "" {
		env["PPROF_ADDR"] = freeAddr()
	}
	fmt.Printf("%s: starting %s on %s\n", backend, filepath.Base(cfg.binary), addr)
	svc, err := startProc(cfg, "dashtam-"+backend, []string{cfg.binary, "serve"}, env, filepath.Join(cfg.tmp, backend+"-dashtam.log"))
	if err != nil {
		return nil, nil, err
	}
	defer svc.stop()
	if err := waitReady(ctx, svc, "http://"+addr+"/readyz", "", 60*time.Second); err != nil {
		return nil, nil, err
	}
	a := &apiClient{base: "http://" + addr, client: &http.Client{Timeout: 60 * time.Second}}
	fmt.Printf("%s: seeding (register, verify, %d logins, %d providers)\n", backend, cfg.conns+1, seedProviders)
	s, err := seedService(ctx, a, svc, cfg.conns)
	if err != nil {
		return nil, nil, fmt.Errorf("seed: %w", err)
	}
	notes = append(notes, middlewareNotes(a, s, svc, backend)...)

	baseAddr := freeAddr()
	args := []string{cfg.baseline, "-addr", baseAddr, "-jwt-key", cfg.jwtKey, "-issuer", "http://" + addr, "-audience", "http://" + addr + "/api"}
	if dbURL != "" {
		args = append(args, "-database-url", withAppName(dbURL, basePG.appName))
	} else {
		args = append(args, "-sqlite", filepath.Join(dataDir, "dashtam.db"))
	}
	base, err := startProc(cfg, "baseline-"+backend, args, nil, filepath.Join(cfg.tmp, backend+"-baseline.log"))
	if err != nil {
		return nil, nil, err
	}
	defer base.stop()
	if err := waitReady(ctx, base, "http://"+baseAddr+"/api/v1/providers/"+s.ids[0], s.access, 30*time.Second); err != nil {
		return nil, nil, err
	}
	if err := checkSamePages(a, s, "http://"+baseAddr); err != nil {
		return nil, nil, err
	}
	pb, err := startPocketBase(ctx, cfg, backend)
	if err != nil {
		return nil, nil, err
	}
	defer pb.stop()
	notes = append(notes, pb.note()...)

	for _, sc := range scenarios(s, addr, baseAddr) {
		if ctx.Err() != nil {
			return rows, notes, ctx.Err()
		}
		if !cfg.wants(backend, sc.name) {
			continue
		}
		targets := []target{{server: "dashtam", p: svc, pg: svcPG, addr: addr, newWorker: sc.dashtam, profile: true}}
		if sc.baseline != nil {
			targets = append([]target{{server: "baseline", p: base, pg: basePG, addr: baseAddr, newWorker: sc.baseline}}, targets...)
		}
		own := len(targets)
		targets = append(targets, pb.targets(sc.name)...) // PocketBase's equivalents, in the same rounds
		measured, err := measure(ctx, cfg, backend, sc.name, targets)
		if err != nil {
			return rows, notes, err
		}
		measured, theirs := measured[:own], measured[own:]
		r := measured[len(measured)-1]
		if len(measured) == 2 {
			b := measured[0]
			r.vs = &b
			rows = append(rows, b)
		}
		r.login = sc.login
		rows = append(rows, r)
		rows = append(rows, againstBaseline(theirs, r.vs)...)
	}
	if backend == "postgres" {
		r, n, err := runScale(ctx, cfg, a, svc, svcPG, dbURL, addr)
		rows, notes = append(rows, r...), append(notes, n...)
		if err != nil {
			return rows, notes, fmt.Errorf("scale: %w", err)
		}
	}
	if cfg.wantsFinance(backend) {
		// The finance phase reports the sync's peak RSS: on a service started
		// afresh on the same database, not on one still holding what the
		// scenarios before left in its heap (the login scenario's argon2
		// memory: RSS stayed at 100-110 MiB after it).
		svc.stop()
		svc, err = startProc(cfg, "dashtam-"+backend, []string{cfg.binary, "serve"}, env, filepath.Join(cfg.tmp, backend+"-dashtam-finance.log"))
		if err != nil {
			return rows, notes, err
		}
		defer svc.stop()
		if err := waitReady(ctx, svc, "http://"+addr+"/readyz", "", 60*time.Second); err != nil {
			return rows, notes, err
		}
	}
	r, n, err := runFinance(ctx, cfg, a, svc, base, svcPG, basePG, backend, dbURL, dataDir, addr, baseAddr)
	rows, notes = append(rows, r...), append(notes, n...)
	if err != nil {
		return rows, notes, fmt.Errorf("finance: %w", err)
	}
	return rows, notes, nil
}

func (c *config) wants(backend, scenario string) bool {
	return c.only == nil || c.only.MatchString(backend+" "+scenario)
}

// wantsAny reports whether any scenario of backend is to run.
func (c *config) wantsAny(backend string) bool {
	for _, sc := range scenarios(&seed{ids: []string{"-"}}, "", "") {
		if c.wants(backend, sc.name) {
			return true
		}
	}
	return c.wantsScale(backend) || c.wantsFinance(backend)
}

// scenario is one request mix, against the real service and, when it has one,
// the baseline.
type scenario struct {
	name              string
	dashtam, baseline func(i int) loadgen.Worker
	login             bool
}

func scenarios(s *seed, addr, baseAddr string) []scenario {
	auth := loadgen.Header{Name: "Authorization", Value: "Bearer " + s.access}
	jsonType := loadgen.Header{Name: "Content-Type", Value: "application/json"}
	// static sends the same set of GETs, each worker starting at its own place.
	static := func(host string, targets []string, status int) func(int) loadgen.Worker {
		reqs := make([][]byte, len(targets))
		for i, t := range targets {
			reqs[i] = loadgen.BuildRequest(http.MethodGet, host, t, []loadgen.Header{auth}, nil)
		}
		return func(i int) loadgen.Worker {
			w := &loadgen.Static{Requests: reqs, Check: loadgen.Expect(status)}
			for range (i * 37) % len(reqs) {
				w.Request()
			}
			return w
		}
	}
	byID := make([]string, len(s.ids))
	for i, id := range s.ids {
		byID[i] = "/api/v1/providers/" + id
	}
	cursorPage := "/api/v1/providers?limit=20&cursor=" + url.QueryEscape(s.cursor)
	baseCursorPage := "/api/v1/providers?limit=20&cursor=" + url.QueryEscape(s.baselineCursor)
	offsetPage := fmt.Sprintf("/api/v1/providers?page=%d&per_page=%d", pageAfter/pageSize+1, pageSize)

	counter := func(prefix string, i int) func() string {
		n := 0
		return func() string { n++; return fmt.Sprintf("%s-%d-%d", prefix, i, n) }
	}
	return []scenario{
		{
			name:     "GET /providers/{id}",
			dashtam:  static(addr, byID, http.StatusOK),
			baseline: static(baseAddr, byID, http.StatusOK),
		},
		{
			name:     "GET /providers?limit=20 (cursor page)",
			dashtam:  static(addr, []string{cursorPage}, http.StatusOK),
			baseline: static(baseAddr, []string{baseCursorPage}, http.StatusOK),
		},
		{
			name:     "GET /providers?page=26&per_page=20 (offset page)",
			dashtam:  static(addr, []string{offsetPage}, http.StatusOK),
			baseline: static(baseAddr, []string{offsetPage}, http.StatusOK),
		},
		{
			name: "POST /providers",
			dashtam: func(i int) loadgen.Worker {
				alias := counter("post", i)
				return loadgen.Func{
					Req: func() []byte {
						body := []byte(`{"provider_key":"sandbox","alias":"` + alias() + `"}`)
						return loadgen.BuildRequest(http.MethodPost, addr, "/api/v1/providers", []loadgen.Header{auth, jsonType}, body)
					},
					Resp: loadgen.Expect(http.StatusCreated),
				}
			},
		},
		{
			name: "PATCH /providers/{id}",
			dashtam: func(i int) loadgen.Worker {
				alias := counter("patch", i)
				target := byID[i%len(byID)]
				return loadgen.Func{
					Req: func() []byte {
						body := []byte(`{"alias":"` + alias() + `"}`)
						return loadgen.BuildRequest(http.MethodPatch, addr, target, []loadgen.Header{auth, jsonType}, body)
					},
					Resp: loadgen.Expect(http.StatusOK),
				}
			},
		},
		{
			name: "POST /tokens (refresh rotation)",
			dashtam: func(i int) loadgen.Worker {
				current := s.refresh[i%len(s.refresh)]
				expect := loadgen.Expect(http.StatusCreated)
				return loadgen.Func{
					Req: func() []byte {
						body, _ := json.Marshal(map[string]string{"refresh_token": current})
						return loadgen.BuildRequest(http.MethodPost, addr, "/api/v1/tokens", []loadgen.Header{jsonType}, body)
					},
					Resp: func(status int, body []byte) error {
						if err := expect(status, body); err != nil {
							return err
						}
						var g struct {
							RefreshToken string `json:"refresh_token"`
						}
						if err := json.Unmarshal(body, &g); err != nil || g.RefreshToken == "" {
							return fmt.Errorf("no refresh_token in %.200s", body)
						}
						current = g.RefreshToken
						return nil
					},
				}
			},
		},
		{
			name:  "POST /sessions (login, argon2id)",
			login: true,
			dashtam: func(int) loadgen.Worker {
				body, _ := json.Marshal(map[string]string{"email": s.email, "password": s.password})
				req := loadgen.BuildRequest(http.MethodPost, addr, "/api/v1/sessions", []loadgen.Header{jsonType}, body)
				return &loadgen.Static{Requests: [][]byte{req}, Check: loadgen.Expect(http.StatusCreated)}
			},
		},
	}
}

// target is one server a scenario runs against.
type target struct {
	server    string // "dashtam", "baseline" or "pocketbase"
	p         *proc
	pg        *pgBackends // nil on SQLite
	addr      string
	newWorker func(int) loadgen.Worker
	profile   bool
	scenario  string // the row's scenario, when not the measured scenario's name
}

// measure runs one scenario against its targets. With two targets (the
// baseline and the real service) the measured window is cut into rounds that
// alternate between them, so that whatever else the machine runs meanwhile
// disturbs both alike and the ratio stays fair; each target is warmed up once,
// before its first round (and briefly before the others, to reconnect).
func measure(ctx context.Context, cfg *config, backend, name string, targets []target) ([]row, error) {
	rounds := 1
	if len(targets) > 1 && cfg.profileDir == "" {
		rounds = max(min(cfg.rounds, int(cfg.duration/(500*time.Millisecond))), 1)
	}
	window := cfg.duration / time.Duration(rounds)
	type acc struct {
		results            []loadgen.Result
		cpu, gen, busy, pg time.Duration
		wall               time.Duration // from the window's start until its last answer
		rssReset           bool
	}
	accs := make([]acc, len(targets))
	for i, t := range targets {
		accs[i].rssReset = resetPeakRSS(t.p.pid())
	}
	for round := range rounds {
		for i, t := range targets {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			warmup := cfg.warmup
			if round > 0 {
				warmup = min(cfg.warmup, 250*time.Millisecond)
			}
			var (
				cpuStart, genStart, busyStart time.Duration
				wallStart                     time.Time
				pgStart                       map[int]time.Duration
				profWG                        sync.WaitGroup
				profErr                       error
			)
			res, err := loadgen.Run(loadgen.Options{
				Addr:      t.addr,
				Conns:     cfg.conns,
				Warmup:    warmup,
				Duration:  window,
				Timeout:   30 * time.Second,
				NewWorker: t.newWorker,
				OnMeasure: func() {
					pgStart = t.pg.cpu(ctx)
					cpuStart, genStart, busyStart = procCPU(t.p.pid()), selfCPU(), coresBusy("")
					wallStart = time.Now()
					if t.profile && cfg.profileDir != "" && t.p.pprofAddr != "" {
						profWG.Add(1)
						go func() {
							defer profWG.Done()
							profErr = saveProfile(ctx, t.p.pprofAddr, window, filepath.Join(cfg.profileDir, slug(backend+" "+name)+".pprof"))
						}()
					}
				},
			})
			if err != nil {
				return nil, err
			}
			accs[i].cpu += procCPU(t.p.pid()) - cpuStart
			accs[i].gen += selfCPU() - genStart
			accs[i].busy += coresBusy("") - busyStart
			accs[i].wall += time.Since(wallStart)
			if t.pg != nil {
				accs[i].pg += since(pgStart, t.pg.cpu(ctx))
			}
			accs[i].results = append(accs[i].results, res)
			profWG.Wait()
			if profErr != nil {
				fmt.Fprintln(os.Stderr, "bench: profile:", profErr)
			}
			if !t.p.alive() {
				return nil, fmt.Errorf("%s exited during %q; see %s", t.p.name, name, t.p.logPath)
			}
		}
	}
	rows := make([]row, len(targets))
	for i, t := range targets {
		a := accs[i]
		res := loadgen.Merge(a.results...)
		// Shares of a core are taken over the window plus the time its last
		// requests took to finish, when their CPU was also counted.
		secs := a.wall.Seconds()
		r := row{db: backend, scenario: name, server: t.server, rssReset: a.rssReset}
		if t.scenario != "" {
			r.scenario = t.scenario
		}
		r.rps, r.p50, r.p99 = res.RPS(), res.Percentile(0.50), res.Percentile(0.99)
		r.errors, r.samples = res.Errors, res.ErrorSamples
		r.peakRSS = peakRSS(t.p.pid())
		r.serverCPU, r.genCPU = a.cpu.Seconds()/secs, a.gen.Seconds()/secs
		r.others = max(a.busy-a.cpu-a.gen-a.pg, 0).Seconds() / secs
		r.hasPG = t.pg != nil
		if res.Requests > 0 {
			r.cpuPerReq = a.cpu / time.Duration(res.Requests)
			r.pgPerReq = a.pg / time.Duration(res.Requests)
		}
		fmt.Printf("%-8s %-50s %-10s %9.0f req/s  p50 %s  p99 %s  errors %d  peak RSS %s  CPU/req %s  other load %.0f%%\n",
			backend, r.scenario, t.server, r.rps, ms(r.p50), ms(r.p99), r.errors, mib(r.peakRSS), r.cpuText(), 100*r.others)
		if r.errors > 0 {
			fmt.Printf("         errors, e.g.: %q\n", r.samples)
		}
		rows[i] = r
	}
	time.Sleep(500 * time.Millisecond)
	return rows, nil
}

// ---------------------------------------------------------------------------
// Seeding through the API.

type seed struct {
	email, password string
	access          string
	refresh         []string // one session per connection, for the refresh chains
	ids             []string // the bench user's providers, oldest first
	cursor          string   // the real service's cursor after row pageAfter (newest first)
	baselineCursor  string
	pageIDs         []string // rows pageAfter+1 .. pageAfter+pageSize
}

type apiClient struct {
	base   string
	client *http.Client
}

// do sends a JSON request and decodes a JSON answer with status want into out.
func (a *apiClient) do(method, path, token string, body, out any, want int) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return resp.Header, fmt.Errorf("%s %s: status %d, want %d: %.300s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

type grant struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

type providerItem struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

type listPage struct {
	Items      []providerItem `json:"items"`
	NextCursor *string        `json:"next_cursor"`
	HasMore    *bool          `json:"has_more"`
	Total      *int64         `json:"total"`
}

func seedService(ctx context.Context, a *apiClient, svc *proc, conns int) (*seed, error) {
	s := &seed{email: "bench-" + randomHex(6) + "@example.com", password: "Bench-Passw0rd-" + randomHex(6)}
	if err := signUp(ctx, a, svc, s.email, s.password, "Bench"); err != nil {
		return nil, err
	}
	login := func() (grant, error) { return a.login(s.email, s.password) }
	g, err := login()
	if err != nil {
		return nil, err
	}
	s.access = g.AccessToken
	for range conns {
		g, err := login()
		if err != nil {
			return nil, err
		}
		s.refresh = append(s.refresh, g.RefreshToken)
	}

	// Providers, created by a few concurrent clients; created_at order is the
	// order the list scenarios read.
	if err := concurrently(8, seedProviders, func(i int) error {
		_, err := a.do(http.MethodPost, "/api/v1/providers", s.access,
			map[string]string{"provider_key": "sandbox", "alias": fmt.Sprintf("seed-%04d", i)}, nil, http.StatusCreated)
		return err
	}); err != nil {
		return nil, err
	}

	// Walk the cursor pages (newest first) to the position after row pageAfter.
	var all []providerItem
	path := "/api/v1/providers?limit=20"
	for {
		var page listPage
		if _, err := a.do(http.MethodGet, path, s.access, nil, &page, http.StatusOK); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if len(all) == pageAfter {
			if page.NextCursor == nil {
				return nil, errors.New("no next_cursor after row 500")
			}
			s.cursor = *page.NextCursor
		}
		if page.HasMore == nil || !*page.HasMore || page.NextCursor == nil {
			break
		}
		path = "/api/v1/providers?limit=20&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	if len(all) != seedProviders {
		return nil, fmt.Errorf("listed %d providers, created %d", len(all), seedProviders)
	}
	for i := len(all) - 1; i >= 0; i-- {
		s.ids = append(s.ids, all[i].ID)
	}
	last := all[pageAfter-1]
	s.baselineCursor = base64.RawURLEncoding.EncodeToString([]byte(last.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + last.ID))
	for _, p := range all[pageAfter : pageAfter+pageSize] {
		s.pageIDs = append(s.pageIDs, p.ID)
	}
	return s, nil
}

// concurrently calls do(i) for every i in [0, n) from workers goroutines, and
// returns the first error (after which no new call starts).
func concurrently(workers, n int, do func(i int) error) error {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
		next  int
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= n || first != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := do(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// checkSamePages makes sure both servers answer the list scenarios with the
// same 20 providers, so they do the same work.
func checkSamePages(a *apiClient, s *seed, baseURL string) error {
	b := &apiClient{base: baseURL, client: a.client}
	offset := fmt.Sprintf("/api/v1/providers?page=%d&per_page=%d", pageAfter/pageSize+1, pageSize)
	for _, c := range []struct {
		client *apiClient
		path   string
	}{
		{a, "/api/v1/providers?limit=20&cursor=" + url.QueryEscape(s.cursor)},
		{b, "/api/v1/providers?limit=20&cursor=" + url.QueryEscape(s.baselineCursor)},
		{a, offset},
		{b, offset},
	} {
		var page listPage
		if _, err := c.client.do(http.MethodGet, c.path, s.access, nil, &page, http.StatusOK); err != nil {
			return err
		}
		got := make([]string, len(page.Items))
		for i, p := range page.Items {
			got[i] = p.ID
		}
		if strings.Join(got, ",") != strings.Join(s.pageIDs, ",") {
			return fmt.Errorf("%s%s does not answer rows %d-%d", c.client.base, c.path, pageAfter+1, pageAfter+pageSize)
		}
	}
	return nil
}

// middlewareNotes says which production middleware the measured build runs.
func middlewareNotes(a *apiClient, s *seed, svc *proc, backend string) []string {
	var on, off []string
	h, err := a.do(http.MethodGet, "/api/v1/providers/"+s.ids[0], s.access, nil, nil, http.StatusOK)
	if err != nil {
		return []string{backend + ": could not check the middleware: " + err.Error()}
	}
	check := func(ok bool, what string) {
		if ok {
			on = append(on, what)
		} else {
			off = append(off, what)
		}
	}
	check(h.Get("X-Request-ID") != "", "request ids")
	if l := h.Get("X-RateLimit-Limit"); l != "" {
		on = append(on, "rate limits (X-RateLimit-Limit: "+l+")")
	} else {
		off = append(off, "rate limits (no X-RateLimit-* headers)")
	}
	resp, err := a.client.Get(a.base + "/metrics")
	metrics := err == nil && resp.StatusCode == http.StatusOK
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	check(metrics, "metrics (/metrics)")
	logged, _ := os.ReadFile(svc.logPath)
	check(bytes.Contains(logged, []byte(`"msg":"request"`)), "access log (JSON lines to a file)")
	n := fmt.Sprintf("%s: production middleware in the measured build: on: %s", backend, strings.Join(on, ", "))
	if len(off) > 0 {
		n += "; NOT ACTIVE: " + strings.Join(off, ", ")
	}
	return []string{n}
}

// ---------------------------------------------------------------------------
// Processes.

type proc struct {
	name, logPath string
	pprofAddr     string
	cmd           *exec.Cmd
	done          chan struct{}
}

func startProc(cfg *config, name string, argv []string, env map[string]string, logPath string) (*proc, error) {
	argv = append(niceArgs(), argv...)
	if cfg.serverCPU != "" {
		argv = append([]string{"taskset", "-c", cfg.serverCPU}, argv...)
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// Only PATH and HOME from outside: a developer's DATABASE_URL must not leak in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, pprofAddr: env["PPROF_ADDR"], cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the server's process id: taskset execs the program in place.
func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitForLog polls the process's log for re and returns its first group.
func (p *proc) waitForLog(ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		raw, _ := os.ReadFile(p.logPath)
		if m := re.FindSubmatch(raw); m != nil {
			return string(m[1]), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("not in %s after %s", p.logPath, timeout)
}

func waitReady(ctx context.Context, p *proc, u, token string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !p.alive() {
			return fmt.Errorf("%s exited at start-up; its log:\n%s", p.name, tail(p.logPath))
		}
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s after %s; its log:\n%s", p.name, u, timeout, tail(p.logPath))
}

func tail(path string) string {
	raw, _ := os.ReadFile(path)
	if len(raw) > 4000 {
		raw = raw[len(raw)-4000:]
	}
	return string(raw)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// freshSchema creates an empty schema and returns the URL that selects it, the
// administrative connection (kept open to read pg_stat_activity) and a function
// that drops the schema and closes the connection.
func freshSchema(ctx context.Context, base string) (string, *pgx.Conn, func(), error) {
	connectCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(connectCtx, base)
	if err != nil {
		return "", nil, nil, fmt.Errorf("cannot connect to %s: %w", redact(base), err)
	}
	schema := "bench_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = conn.Close(ctx)
		return "", nil, nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = conn.Exec(dropCtx, "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(dropCtx)
	}
	return u.String(), conn, drop, nil
}

// withAppName sets the connections' application_name, by which pgBackends
// finds the Postgres processes serving one server.
func withAppName(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// pgBackends tracks the CPU time of the Postgres backends serving one server
// (the connections with its application_name). Nil tracks nothing.
type pgBackends struct {
	conn    *pgx.Conn
	mu      *sync.Mutex
	appName string
}

// cpu returns each backend's CPU time so far.
func (b *pgBackends) cpu(ctx context.Context) map[int]time.Duration {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	rows, err := b.conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", b.appName)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			out[pid] = procCPU(pid)
		}
	}
	return out
}

// since is the CPU the backends used between two readings; a backend that
// started in between counts whole.
func since(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += max(t-before[pid], 0)
	}
	return d
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "TEST_DATABASE_URL"
	}
	return u.Redacted()
}

// ---------------------------------------------------------------------------
// /proc readings.

// resetPeakRSS resets the process's VmHWM to its current RSS (Linux
// clear_refs 5), so the next reading is the peak of this scenario alone.
func resetPeakRSS(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// peakRSS is VmHWM in bytes, or -1.
func peakRSS(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// procCPU is the user+system CPU time the process has used.
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// coresBusy is the time the listed CPUs ("0", "0,2", "0-1"; empty: all) have
// spent busy (not idle or waiting for I/O), steal included, from /proc/stat.
func coresBusy(list string) time.Duration {
	want := map[string]bool{}
	for _, part := range strings.Split(list, ",") {
		lo, hi, found := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if found {
			b, _ = strconv.Atoi(hi)
		}
		for c := a; c <= b; c++ {
			want["cpu"+strconv.Itoa(c)] = true
		}
	}
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" || (len(want) > 0 && !want[f[0]]) {
			continue
		}
		for i, v := range f[1:9] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuModel() string {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// otherCPUs is the number of online CPUs this (pinned) process does not see.
func otherCPUs() int {
	raw, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(raw)), ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if found {
			b, _ = strconv.Atoi(hi)
		}
		n += b - a + 1
	}
	return max(n-runtime.NumCPU(), 0)
}

func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func memTotal() string {
	raw, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return "unknown RAM"
}

func saveProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	secs := max(int(d.Seconds()), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// ---------------------------------------------------------------------------
// Output.

func printTable(rows []row) {
	if len(rows) == 0 {
		return
	}
	fmt.Println("| db | scenario | server | req/s | p50 | p99 | errors | peak RSS | req/s vs baseline | p99 vs baseline | CPU/req: server + Postgres | CPU/req vs baseline | server CPU | other load | load-gen CPU |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		ratio, p99ratio, cpuRatio := "", "", ""
		if r.vs != nil && r.vs.rps > 0 && r.vs.p99 > 0 {
			ratio = fmt.Sprintf("%.2fx", r.rps/r.vs.rps)
			p99ratio = fmt.Sprintf("%.2fx", float64(r.p99)/float64(r.vs.p99))
		}
		if r.vs != nil && r.vs.totalCPU() > 0 {
			cpuRatio = fmt.Sprintf("%.2fx", float64(r.totalCPU())/float64(r.vs.totalCPU()))
		}
		rss := mib(r.peakRSS)
		if !r.rssReset {
			rss += "*"
		}
		fmt.Printf("| %s | %s | %s | %.0f | %s | %s | %d | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %.0f%% |\n",
			r.db, r.scenario, r.server, r.rps, ms(r.p50), ms(r.p99), r.errors, rss, ratio, p99ratio,
			r.cpuText(), cpuRatio, 100*r.serverCPU, 100*r.others, 100*r.genCPU)
	}
}

// totalCPU is the CPU a request costs: the server's and its Postgres backends'.
func (r *row) totalCPU() time.Duration { return r.cpuPerReq + r.pgPerReq }

func (r *row) cpuText() string {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	if !r.hasPG {
		return fmt.Sprintf("%.0f µs", us(r.cpuPerReq))
	}
	return fmt.Sprintf("%.0f + %.0f µs", us(r.cpuPerReq), us(r.pgPerReq))
}

// printTargets checks the targets against this run.
func printTargets(rows []row) {
	find := func(db, prefix, server string) *row {
		for i := range rows {
			if rows[i].db == db && strings.HasPrefix(rows[i].scenario, prefix) && rows[i].server == server {
				return &rows[i]
			}
		}
		return nil
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	cpuRatio := func(r *row) string {
		if r.vs == nil || r.vs.totalCPU() <= 0 {
			return ""
		}
		return fmt.Sprintf("; CPU per request (server + Postgres) %.2fx the baseline's", float64(r.totalCPU())/float64(r.vs.totalCPU()))
	}
	fmt.Println("Targets (this run):")
	if r := find("postgres", "GET /providers/{id}", "dashtam"); r != nil && r.vs != nil {
		ratio, p99 := r.rps/r.vs.rps, float64(r.p99)/float64(r.vs.p99)
		fmt.Printf("  %s  Postgres GET /providers/{id}: %.2fx the baseline's req/s (target >= 0.6x)%s%s\n", verdict(ratio >= 0.6), ratio, cpuRatio(r), disturbed(r))
		fmt.Printf("  %s  Postgres GET /providers/{id}: p99 %.2fx the baseline's (target <= 2x)%s\n", verdict(p99 <= 2), p99, disturbed(r))
	}
	if r := find("postgres", "GET /providers?limit=20", "dashtam"); r != nil && r.vs != nil {
		ratio := r.rps / r.vs.rps
		fmt.Printf("  %s  Postgres cursor page of 20: %.2fx the baseline list's req/s (target >= 0.8x)%s%s\n", verdict(ratio >= 0.8), ratio, cpuRatio(r), disturbed(r))
	}
	sqliteTarget := func(prefix, what string, lo, hi float64) {
		r := find("sqlite", prefix, "dashtam")
		if r == nil {
			return
		}
		v := "FAIL"
		switch {
		case r.rps >= 2*hi:
			v = "PASS"
		case r.rps >= 2*lo:
			v = "PART"
		}
		// With PocketBase measured in this run (BENCH_POCKETBASE), the target is
		// 2x its req/s, and the absolute figures from another machine are
		// information.
		if pb := find("sqlite", prefix, "pocketbase"); pb != nil {
			fmt.Println(pocketBaseTarget(r, pb, what))
			v = "info"
		}
		fmt.Printf("  %s  SQLite %s: %.0f req/s (target >= 2x of %.0f-%.0f, i.e. %.0f-%.0f)%s%s\n", v, what, r.rps, lo, hi, 2*lo, 2*hi, perCore(r), disturbed(r))
	}
	sqliteTarget("GET /providers/{id}", "GET /providers/{id}", 3100, 4100)
	sqliteTarget("GET /providers?limit=20", "cursor page of 20", 1300, 1600)
	var worst *row
	for i := range rows {
		r := &rows[i]
		if r.server == "dashtam" && !r.login && !r.finance && (worst == nil || r.peakRSS > worst.peakRSS) {
			worst = r
		}
	}
	if worst != nil {
		fmt.Printf("  %s  server peak RSS: at most %s (%s %s) (target <= 64 MiB; login and the finance phase reported separately)\n",
			verdict(worst.peakRSS <= 64<<20), mib(worst.peakRSS), worst.db, worst.scenario)
	}
	for i := range rows {
		if r := &rows[i]; r.login {
			fmt.Printf("  info  %s login: %.0f req/s, p50 %s, p99 %s, peak RSS %s, CPU per login %s: argon2id m=19 MiB, t=2, p=1, as many hashes at once as the server has cores (password.DefaultParams)\n",
				r.db, r.rps, ms(r.p50), ms(r.p99), mib(r.peakRSS), r.cpuText())
		}
	}
	printScaleTargets(rows)
	printFinanceTargets(rows)
	errs := int64(0)
	for _, r := range rows {
		errs += r.errors
	}
	fmt.Printf("  %s  zero errors in every scenario (%d in all)\n", verdict(errs == 0), errs)
}

// disturbed warns when other work on the machine took a noticeable share of
// the CPUs while r (or its baseline) was measured: its req/s then says more
// about that work than about the server, and CPU per request is the better
// guide.
func disturbed(r *row) string {
	worst := r.others
	if r.vs != nil {
		worst = max(worst, r.vs.others)
	}
	if worst < 0.10 {
		return ""
	}
	return fmt.Sprintf(" [DISTURBED: other processes used %.0f%% of a core meanwhile]", 100*worst)
}

// perCore is what a scenario's CPU cost per request allows on one whole core:
// the server's capacity on this core had nothing else run there.
func perCore(r *row) string {
	if r.cpuPerReq <= 0 {
		return ""
	}
	return fmt.Sprintf("; at %.0f µs of CPU per request, one whole core would serve about %.0f req/s",
		float64(r.cpuPerReq)/float64(time.Microsecond), float64(time.Second)/float64(r.cpuPerReq))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string {
	if b < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
