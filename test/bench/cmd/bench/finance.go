package main

// The finance phase (both dialects, last on each database): an initial sync
// of the sandbox's large variant through the real service, against a bare
// batched upsert of the same rows, then a user with 1,000,000 transactions and
// GET /transactions against the baseline's keyset query.
//
//  0. The service is started afresh on the same database (runBackend), so that
//     the sync's peak RSS is not what the scenarios before left in its heap.
//  1. A user registers, verifies and connects a sandbox provider as user_large
//     (100,000 transactions) through the API. The driver follows the consent
//     redirect to the callback, which hands over code and state, resets the
//     service's VmHWM, relays them (POST …/authorization/callback with the
//     user's token: the grant begins the first sync),
//     samples VmRSS every 20 ms and polls the syncs table until the sync is no
//     longer queued or running. The ingest rate is the synced transactions over
//     the sync row's started_at..finished_at (the whole sync: accounts,
//     holdings and transactions).
//  2. The yardstick: the same rows, read back from the database in feed order,
//     upserted into a fresh database of the same kind (a new Postgres schema on
//     the same server, a new SQLite file next to the service's) migrated like
//     the service's, through the same driver (persistence.Open: the same pool
//     and pragmas), 500 rows per transaction, in multi-row INSERT … ON
//     CONFLICT DO UPDATE statements of 500 rows on Postgres and 25 on SQLite
//     (bareSQLiteRows), nothing else.
//  3. The synced rows are copied with SQL (new ids and institution ids, later
//     feed positions) until the user has 1,000,000 transactions; the driver
//     walks the list through the API (fields=id,date, limit=100) to the
//     cursor after row 990,000, checks the measured pages against the walk,
//     and measures the first page and the deep page on the service and the
//     baseline, under load and one request at a time.

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/test/bench/loadgen"
)

const (
	syncLoginHint = "user_large"
	syncWantRows  = 100_000
	bareBatch     = 500 // rows per transaction of the bare upsert
	// bareSQLiteRows is how many rows one INSERT of the bare upsert writes on
	// SQLite (bareBatch on Postgres): the pure-Go driver binds parameters in
	// time quadratic in their number, so 500 rows a statement (14,500
	// parameters) made the yardstick several times slower than it needs to be;
	// the service writes 25 a statement there too (persistence's
	// sqliteInsertBatchRows; docs/performance.md).
	bareSQLiteRows = 25
	txnWalkLimit   = 100
	txnDeepFromEnd = 10_000 // the deep page starts this many rows before the end
	syncRSSLimit   = 128 << 20
)

// txnRows is the size of the big transaction list: BENCH_TXN_ROWS (a multiple
// of the synced rows; default 1,000,000).
func txnRows() int {
	if v := os.Getenv("BENCH_TXN_ROWS"); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil && n >= syncWantRows {
			return n
		}
	}
	return 1_000_000
}

func txnDeepRow() int { return txnRows() - txnDeepFromEnd }

// financeOn reports whether the finance phase runs: BENCH_FINANCE=0 skips it,
// and BENCH_QUICK=1 skips it unless BENCH_FINANCE=1.
func financeOn() bool {
	switch os.Getenv("BENCH_FINANCE") {
	case "":
		quick := os.Getenv("BENCH_QUICK")
		return quick == "" || quick == "0"
	case "0":
		return false
	default:
		return true
	}
}

var (
	syncName     = "initial sync of the sandbox's large variant (" + thousands(syncWantRows) + " transactions)"
	txnFirstName = func() string { return "GET /transactions?limit=20 (first page of " + thousands(txnRows()) + ")" }
	txnDeepName  = func() string {
		return "GET /transactions?limit=20&cursor= (after row " + thousands(txnDeepRow()) + " of " + thousands(txnRows()) + ")"
	}
	txnFirstAloneName = func() string { return strings.TrimSuffix(txnFirstName(), ")") + ", 1 connection)" }
	txnDeepAloneName  = func() string { return strings.TrimSuffix(txnDeepName(), ")") + ", 1 connection)" }
	syncResults       []syncResult
	errSyncUnfinished = errors.New("the sync did not finish")
)

func (c *config) wantsFinance(backend string) bool {
	if !financeOn() {
		return false
	}
	if c.wants(backend, syncName) {
		return true
	}
	for _, sc := range financeScenarios(&txnSeed{}, "", "") {
		if c.wants(backend, sc.name) {
			return true
		}
	}
	return false
}

// syncResult is one dialect's initial sync against its yardstick.
type syncResult struct {
	db                      string
	rows                    int
	syncTook, wall          time.Duration
	bareRows                int
	bareTook                time.Duration
	rssBefore, peak, sample int64         // VmRSS at the reset, VmHWM after the sync, the highest VmRSS sampled
	cpu, pgCPU              time.Duration // the service's and its Postgres backends' during the sync
}

func (r syncResult) rate() float64     { return float64(r.rows) / r.syncTook.Seconds() }
func (r syncResult) bareRate() float64 { return float64(r.bareRows) / r.bareTook.Seconds() }

// txnSeed is what the transaction list scenarios read.
type txnSeed struct {
	access               string
	first, deep          []string // ids of the first page and of the page after the deep row
	deepCursor, baseDeep string   // the service's and the baseline's cursor after the deep row
}

func financeScenarios(s *txnSeed, addr, baseAddr string) []scenario {
	get := func(host, target string) func(int) loadgen.Worker {
		req := loadgen.BuildRequest(http.MethodGet, host, target,
			[]loadgen.Header{{Name: "Authorization", Value: "Bearer " + s.access}}, nil)
		return func(int) loadgen.Worker {
			return &loadgen.Static{Requests: [][]byte{req}, Check: loadgen.Expect(http.StatusOK)}
		}
	}
	first := fmt.Sprintf("/api/v1/transactions?limit=%d", pageSize)
	deep := fmt.Sprintf("/api/v1/transactions?limit=%d&cursor=%s", pageSize, url.QueryEscape(s.deepCursor))
	baseDeep := fmt.Sprintf("/api/v1/transactions?limit=%d&cursor=%s", pageSize, url.QueryEscape(s.baseDeep))
	return []scenario{
		{name: txnFirstAloneName(), dashtam: get(addr, first)},
		{name: txnDeepAloneName(), dashtam: get(addr, deep)},
		{name: txnFirstName(), dashtam: get(addr, first), baseline: get(baseAddr, first)},
		{name: txnDeepName(), dashtam: get(addr, deep), baseline: get(baseAddr, baseDeep)},
	}
}

// runFinance is the finance phase of one database. dbURL is the run's
// Postgres schema, or "" for SQLite in dataDir.
func runFinance(ctx context.Context, cfg *config, a *apiClient, svc, base *proc, pg, basePG *pgBackends,
	backend, dbURL, dataDir, addr, baseAddr string,
) (rows []row, notes []string, err error) {
	if !cfg.wantsFinance(backend) {
		return nil, nil, nil
	}
	say := func(format string, args ...any) {
		line := fmt.Sprintf("%s: finance: ", backend) + fmt.Sprintf(format, args...)
		fmt.Println(line)
		notes = append(notes, line)
	}
	srcOpts := persistence.Options{URL: dbURL, SQLitePath: filepath.Join(dataDir, "dashtam.db"), MaxOpenConns: 2}
	if dbURL != "" {
		srcOpts.SQLitePath = ""
	}
	db, err := persistence.Open(ctx, srcOpts)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = db.Close() }()

	// 1. The initial sync through the service.
	email, password := "bench-sync-"+randomHex(6)+"@example.com", "Bench-Passw0rd-"+randomHex(6)
	if err := signUp(ctx, a, svc, email, password, "Bench sync"); err != nil {
		return nil, nil, err
	}
	g, err := a.login(email, password)
	if err != nil {
		return nil, nil, err
	}
	var p providerItem
	if _, err := a.do(http.MethodPost, "/api/v1/providers", g.AccessToken, map[string]string{"provider_key": "sandbox", "alias": "Large"}, &p, http.StatusCreated); err != nil {
		return nil, nil, err
	}
	var start struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if _, err := a.do(http.MethodPost, "/api/v1/providers/"+p.ID+"/authorization", g.AccessToken, nil, &start, http.StatusCreated); err != nil {
		return nil, nil, err
	}
	noFollow := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(start.AuthorizationURL + "&login_hint=" + syncLoginHint)
	if err != nil {
		return nil, nil, err
	}
	_ = resp.Body.Close()
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || callback == "" {
		return nil, nil, fmt.Errorf("sandbox consent: status %d, Location %q", resp.StatusCode, callback)
	}
	if !strings.HasPrefix(callback, "http") {
		callback = a.base + callback
	}
	// The callback hands over code and state; only the user who started the
	// flow completes it, with its token (README, "Connect the sandbox").
	req, err := http.NewRequest(http.MethodGet, callback, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	cb, err := noFollow.Do(req)
	if err != nil {
		return nil, nil, err
	}
	var handed struct {
		Code  string `json:"code"`
		State string `json:"state"`
	}
	err = json.NewDecoder(cb.Body).Decode(&handed)
	_ = cb.Body.Close()
	if err == nil && (cb.StatusCode != http.StatusOK || handed.Code == "") {
		err = fmt.Errorf("status %d, no code handed over", cb.StatusCode)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox callback: %w", err)
	}

	res := syncResult{db: backend}
	time.Sleep(time.Second) // let the login's argon2 memory settle before the peak is reset
	resetPeakRSS(svc.pid())
	res.rssBefore = currentRSS(svc.pid())
	var sampled atomic.Int64
	stopSampling := make(chan struct{})
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := currentRSS(svc.pid()); v > sampled.Load() {
				sampled.Store(v)
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	if cfg.profileDir != "" && svc.pprofAddr != "" {
		// The first 10 s of the sync.
		go func() {
			path := filepath.Join(cfg.profileDir, slug(backend+" "+syncName)+".pprof")
			if err := saveProfile(ctx, svc.pprofAddr, 10*time.Second, path); err != nil {
				fmt.Fprintln(os.Stderr, "bench: profile:", err)
			}
		}()
	}
	pgStart := pg.cpu(ctx)
	cpuStart, began := procCPU(svc.pid()), time.Now()
	// The grant begins the first sync in its transaction.
	if _, err := a.do(http.MethodPost, "/api/v1/providers/"+p.ID+"/authorization/callback", g.AccessToken,
		map[string]string{"code": handed.Code, "state": handed.State}, nil, http.StatusOK); err != nil {
		close(stopSampling)
		return nil, nil, err
	}
	var state struct {
		Status            string
		TransactionsAdded int
		StartedAt         *time.Time
		FinishedAt        *time.Time
	}
	for {
		if err := db.Gorm.WithContext(ctx).Raw(`SELECT status, transactions_added, started_at, finished_at FROM syncs WHERE provider_id = ? ORDER BY created_at DESC LIMIT 1`, p.ID).
			Scan(&state).Error; err != nil {
			close(stopSampling)
			return nil, nil, err
		}
		if state.Status != "" && state.Status != "queued" && state.Status != "running" {
			break
		}
		if ctx.Err() != nil || time.Since(began) > 10*time.Minute {
			close(stopSampling)
			return nil, nil, fmt.Errorf("%w: status %q after %v", errSyncUnfinished, state.Status, time.Since(began))
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.wall = time.Since(began)
	res.cpu = procCPU(svc.pid()) - cpuStart
	if pg != nil {
		res.pgCPU = since(pgStart, pg.cpu(ctx))
	}
	close(stopSampling)
	<-sampling
	res.peak, res.sample = peakRSS(svc.pid()), sampled.Load()
	if state.Status != "succeeded" || state.StartedAt == nil || state.FinishedAt == nil {
		return nil, nil, fmt.Errorf("the sync ended %q: see %s", state.Status, svc.logPath)
	}
	res.syncTook = state.FinishedAt.Sub(*state.StartedAt)
	var userID string
	var stored int64
	if err := db.Gorm.WithContext(ctx).Raw(`SELECT user_id FROM providers WHERE id = ?`, p.ID).Scan(&userID).Error; err != nil {
		return nil, nil, err
	}
	if err := db.Gorm.WithContext(ctx).Raw(`SELECT count(*) FROM transactions WHERE provider_id = ?`, p.ID).Scan(&stored).Error; err != nil {
		return nil, nil, err
	}
	if stored != syncWantRows || state.TransactionsAdded != syncWantRows {
		return nil, nil, fmt.Errorf("the sync stored %d transactions (reported %d added), want %d", stored, state.TransactionsAdded, syncWantRows)
	}
	res.rows = int(stored)
	say("initial sync of %s transactions in %.2f s (sync row's started_at..finished_at; %.2f s from the callback until the driver saw it done): %.0f rows/s; CPU: service %.2f s, its Postgres backends %.2f s; VmRSS %s before, peak %s (highest VmRSS sampled %s)",
		thousands(res.rows), res.syncTook.Seconds(), res.wall.Seconds(), res.rate(), res.cpu.Seconds(), res.pgCPU.Seconds(), mib(res.rssBefore), mib(res.peak), mib(res.sample))

	// 2. The yardstick.
	res.bareRows, res.bareTook, err = bareUpsert(ctx, cfg, db, srcOpts, backend, p.ID)
	if err != nil {
		return nil, notes, fmt.Errorf("bare upsert: %w", err)
	}
	say("bare batched upsert of the same %s rows (%d per transaction, %d per statement) into a fresh %s database: %.2f s, %.0f rows/s; the sync's rate is %.2fx",
		thousands(res.bareRows), bareBatch, bareStatementRows(backend == "postgres"), backend, res.bareTook.Seconds(), res.bareRate(), res.rate()/res.bareRate())
	syncResults = append(syncResults, res)

	// 3. A million transactions.
	var list []scenario
	if anyWanted(cfg, backend, financeScenarios(&txnSeed{}, "", "")) {
		took, err := seedTransactions(ctx, db, userID)
		if err != nil {
			return nil, notes, fmt.Errorf("seed transactions: %w", err)
		}
		say("%s", took)
		s := &txnSeed{access: g.AccessToken}
		walkStart := time.Now()
		if err := walkTransactions(a, s, "http://"+baseAddr); err != nil {
			return nil, notes, err
		}
		say("walked %s rows with limit=%d in %.1f s; the service's and the baseline's first and deep pages checked against the walk",
			thousands(txnDeepRow()+pageSize), txnWalkLimit, time.Since(walkStart).Seconds())
		list = financeScenarios(s, addr, baseAddr)
	}
	for _, sc := range list {
		if ctx.Err() != nil {
			return rows, notes, ctx.Err()
		}
		if !cfg.wants(backend, sc.name) {
			continue
		}
		at := cfg
		if strings.HasSuffix(sc.name, ", 1 connection)") {
			one := *cfg
			one.conns = 1
			at = &one
		}
		targets := []target{{server: "dashtam", p: svc, pg: pg, addr: addr, newWorker: sc.dashtam, profile: true}}
		if sc.baseline != nil {
			targets = append([]target{{server: "baseline", p: base, pg: basePG, addr: baseAddr, newWorker: sc.baseline}}, targets...)
		}
		measured, err := measure(ctx, at, backend, sc.name, targets)
		if err != nil {
			return rows, notes, err
		}
		for i := range measured {
			measured[i].finance = true
		}
		if len(measured) == 2 {
			measured[1].vs = &measured[0]
		}
		rows = append(rows, measured...)
	}
	return rows, notes, nil
}

func anyWanted(cfg *config, backend string, scs []scenario) bool {
	for _, sc := range scs {
		if cfg.wants(backend, sc.name) {
			return true
		}
	}
	return false
}

// currentRSS is VmRSS in bytes, or -1.
func currentRSS(pid int) int64 { return procStatusKB(pid, "VmRSS:") }

func procStatusKB(pid int, field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), "kB"), &kb); err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// bareUpsert is the yardstick: it creates a fresh database of the same kind,
// migrated like the service's, copies the provider's user, provider and
// accounts into it, then has bareChild, a copy of this program on the
// service's core, read the provider's transactions from src and upsert them
// into it, timed. Running it where the service runs keeps the comparison
// fair: the load generator's core is otherwise idle.
func bareUpsert(ctx context.Context, cfg *config, src *persistence.DB, srcOpts persistence.Options, backend, providerID string) (int, time.Duration, error) {
	opts := persistence.Options{SQLitePath: filepath.Join(cfg.tmp, backend+"-bare", "dashtam.db")}
	if src.Dialect == persistence.Postgres {
		schemaURL, _, drop, err := freshSchema(ctx, cfg.pgURL)
		if err != nil {
			return 0, 0, err
		}
		defer drop()
		opts = persistence.Options{URL: withAppName(schemaURL, "dashtam_bench_bare")}
	}
	dst, err := persistence.Open(ctx, opts)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = dst.Close() }()
	if err := dst.MigrateUp(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return 0, 0, err
	}
	pg := src.Dialect == persistence.Postgres
	for _, parent := range []struct{ table, where string }{
		{"users", "id = (SELECT user_id FROM providers WHERE id = ?)"},
		{"providers", "id = ?"},
		{"accounts", "provider_id = ?"},
	} {
		cols, vals, err := readRows(ctx, src.SQL, pg, "SELECT * FROM "+parent.table+" WHERE "+parent.where, providerID)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", parent.table, err)
		}
		if _, err := dst.SQL.ExecContext(ctx, insertSQL(parent.table, cols, len(vals), pg, ""), flatten(vals)...); err != nil {
			return 0, 0, fmt.Errorf("copy %s: %w", parent.table, err)
		}
	}
	job, err := json.Marshal(bareJob{Src: srcOpts, Dst: opts, ProviderID: providerID})
	if err != nil {
		return 0, 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	argv := []string{exe}
	if cfg.serverCPU != "" {
		argv = []string{"taskset", "-c", cfg.serverCPU, exe}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "DASHTAM_BENCH_PINNED=1", bareJobEnv+"="+string(job))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("the bare upsert: %w", err)
	}
	var res bareResult
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, 0, fmt.Errorf("the bare upsert answered %q: %w", out, err)
	}
	fmt.Printf("%s: finance: the bare upsert's CPU: writer %.2f s, its Postgres backend %.2f s\n", backend,
		time.Duration(res.CPU).Seconds(), time.Duration(res.PGCPU).Seconds())
	return res.Rows, time.Duration(res.Nanos), nil
}

const bareJobEnv = "DASHTAM_BENCH_BARE_UPSERT"

type bareJob struct {
	Src, Dst   persistence.Options
	ProviderID string
}

type bareResult struct {
	Rows       int
	Nanos      int64
	CPU, PGCPU int64 // the writer's and its Postgres backends' CPU during the writes, in ns
}

// bareChild is this program started by bareUpsert: when its job is in the
// environment, it reads the provider's transactions from the job's source in
// feed order, upserts them into its destination bareBatch rows per
// transaction, in INSERT … ON CONFLICT DO UPDATE statements of as many rows on
// Postgres and bareSQLiteRows on SQLite, with nothing else, prints the
// rows and the time the writes took, and reports true.
func bareChild() bool {
	raw := os.Getenv(bareJobEnv)
	if raw == "" {
		return false
	}
	res, err := runBareJob(context.Background(), raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: bare upsert:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return true
}

func runBareJob(ctx context.Context, raw string) (bareResult, error) {
	var job bareJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		return bareResult{}, err
	}
	src, err := persistence.Open(ctx, job.Src)
	if err != nil {
		return bareResult{}, err
	}
	defer func() { _ = src.Close() }()
	dst, err := persistence.Open(ctx, job.Dst)
	if err != nil {
		return bareResult{}, err
	}
	defer func() { _ = dst.Close() }()
	pg := src.Dialect == persistence.Postgres
	cols, vals, err := readRows(ctx, src.SQL, pg, "SELECT * FROM transactions WHERE provider_id = ? ORDER BY position", job.ProviderID)
	if err != nil {
		return bareResult{}, err
	}
	var set []string
	for _, c := range cols {
		if c != "id" && c != "account_id" && c != "institution_transaction_id" {
			set = append(set, c+" = excluded."+c)
		}
	}
	conflict := " ON CONFLICT (account_id, institution_transaction_id) DO UPDATE SET " + strings.Join(set, ", ")
	perStatement := bareStatementRows(pg)
	full := insertSQL("transactions", cols, perStatement, pg, conflict)
	backendsCPU := func() time.Duration {
		var total time.Duration
		if !pg {
			return 0
		}
		rs, err := src.SQL.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = 'dashtam_bench_bare'")
		if err != nil {
			return 0
		}
		defer func() { _ = rs.Close() }()
		for rs.Next() {
			var pid int
			if rs.Scan(&pid) == nil {
				total += procCPU(pid)
			}
		}
		return total
	}
	// One connection, opened before the clock starts.
	dst.SQL.SetMaxOpenConns(1)
	if err := dst.SQL.PingContext(ctx); err != nil {
		return bareResult{}, err
	}
	pgStart, cpuStart := backendsCPU(), procCPU(os.Getpid())
	begin := time.Now()
	for i := 0; i < len(vals); i += bareBatch {
		tx, err := dst.SQL.BeginTx(ctx, nil)
		if err != nil {
			return bareResult{}, err
		}
		batch := vals[i:min(i+bareBatch, len(vals))]
		for j := 0; j < len(batch); j += perStatement {
			chunk := batch[j:min(j+perStatement, len(batch))]
			stmt := full
			if len(chunk) != perStatement {
				stmt = insertSQL("transactions", cols, len(chunk), pg, conflict)
			}
			if _, err := tx.ExecContext(ctx, stmt, flatten(chunk)...); err != nil {
				_ = tx.Rollback()
				return bareResult{}, err
			}
		}
		if err := tx.Commit(); err != nil {
			return bareResult{}, err
		}
	}
	took := time.Since(begin)
	return bareResult{Rows: len(vals), Nanos: int64(took), CPU: int64(procCPU(os.Getpid()) - cpuStart), PGCPU: int64(backendsCPU() - pgStart)}, nil
}

// bareStatementRows is how many rows one INSERT of the bare upsert writes.
func bareStatementRows(pg bool) int {
	if pg {
		return bareBatch
	}
	return bareSQLiteRows
}

// readRows runs query (with ? placeholders) and returns its columns and rows as
// the driver hands them out.
func readRows(ctx context.Context, db *sql.DB, pg bool, query string, args ...any) ([]string, [][]any, error) {
	if pg {
		query = strings.ReplaceAll(query, "?", "$1")
	}
	rs, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = rs.Close() }()
	cols, err := rs.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]any
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		out = append(out, vals)
	}
	return cols, out, rs.Err()
}

func flatten(rows [][]any) []any {
	var out []any
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// insertSQL is a multi-row INSERT of n rows of cols.
func insertSQL(table string, cols []string, n int, pg bool, suffix string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	k := 0
	for r := range n {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			k++
			if pg {
				fmt.Fprintf(&b, "$%d", k)
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	return b.String()
}

// seedTransactions copies the user's synced transactions with SQL, with new
// ids, institution ids and feed positions, until the user has txnRows() of
// them; the table's secondary indexes are dropped before and rebuilt after,
// then the table is analysed.
func seedTransactions(ctx context.Context, db *persistence.DB, userID string) (string, error) {
	pg := db.Dialect == persistence.Postgres
	var have, maxPos int64
	if err := db.SQL.QueryRowContext(ctx, ph(pg, `SELECT count(*), max(position) FROM transactions WHERE user_id = ?`), userID).Scan(&have, &maxPos); err != nil {
		return "", err
	}
	want := int64(txnRows())
	if have == 0 || want%have != 0 {
		return "", fmt.Errorf("%d transactions to copy up to %d", have, want)
	}
	copies := want/have - 1
	begin := time.Now()
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	type index struct{ name, def string }
	var indexes []index
	listIx := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transactions' AND sql IS NOT NULL AND name NOT LIKE '%institution%'`
	if pg {
		listIx = `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i
WHERE i.indrelid = 'transactions'::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
  AND i.indexrelid::regclass::text NOT LIKE '%institution%'`
	}
	rs, err := conn.QueryContext(ctx, listIx)
	if err != nil {
		return "", err
	}
	for rs.Next() {
		var ix index
		if err := rs.Scan(&ix.name, &ix.def); err != nil {
			_ = rs.Close()
			return "", err
		}
		indexes = append(indexes, ix)
	}
	_ = rs.Close()
	for _, ix := range indexes {
		if _, err := conn.ExecContext(ctx, "DROP INDEX "+ix.name); err != nil {
			return "", err
		}
	}
	cols := []string{"id", "account_id", "provider_id", "user_id", "institution_transaction_id", "status", "amount", "amount_key",
		"currency", "date", "authorized_date", "posted_date", "description", "merchant_name", "description_key", "merchant_key",
		"category_primary", "category_detailed", "kind", "security_id", "quantity", "price", "fees", "removed_at", "version",
		"created_at", "updated_at", "created_position", "position"}
	sel := make([]string, len(cols))
	for i, c := range cols {
		switch c {
		case "id":
			sel[i] = "gen_random_uuid()"
			if !pg {
				sel[i] = `lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
					substr('89ab', 1 + abs(random()) % 4, 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))`
			}
		case "institution_transaction_id":
			sel[i] = "t.institution_transaction_id || '~' || k.n"
		case "created_position", "position":
			sel[i] = fmt.Sprintf("t.%s + k.n * %d", c, maxPos)
		default:
			sel[i] = "t." + c
		}
	}
	series := "generate_series(1, ?) AS k(n)"
	prefix := ""
	if !pg {
		prefix = "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?) "
		series = "k"
	}
	// One statement per copy: SQLite holds its write lock for one copy at a
	// time, and the service's background work waits less.
	for c := int64(1); c <= copies; c++ {
		q := prefix + "INSERT INTO transactions (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") +
			" FROM transactions AS t CROSS JOIN " + series + " WHERE t.user_id = ? AND t.position <= ? AND k.n = ?"
		if _, err := conn.ExecContext(ctx, ph(pg, q), copies, userID, maxPos, c); err != nil {
			return "", fmt.Errorf("copy %d: %w", c, err)
		}
	}
	if _, err := conn.ExecContext(ctx, ph(pg, `UPDATE finance_feed_positions SET last_position = ? WHERE user_id = ?`), maxPos*(copies+1), userID); err != nil {
		return "", err
	}
	inserted := time.Since(begin)
	for _, ix := range indexes {
		if _, err := conn.ExecContext(ctx, ix.def); err != nil {
			return "", fmt.Errorf("rebuild %s: %w", ix.name, err)
		}
	}
	indexed := time.Since(begin)
	analyze := "ANALYZE transactions"
	if pg {
		analyze = "VACUUM ANALYZE transactions"
	}
	if _, err := conn.ExecContext(ctx, analyze); err != nil {
		return "", err
	}
	var n int64
	if err := conn.QueryRowContext(ctx, ph(pg, `SELECT count(*) FROM transactions WHERE user_id = ? AND removed_at IS NULL`), userID).Scan(&n); err != nil {
		return "", err
	}
	if n != want {
		return "", fmt.Errorf("the user has %d live transactions, want %d", n, want)
	}
	return fmt.Sprintf("copied the %s synced transactions %d times with SQL: the user has %s; %.1f s (INSERT %.1f s, %d indexes rebuilt %.1f s, ANALYZE %.1f s)",
		thousands(int(have)), copies, thousands(int(n)), time.Since(begin).Seconds(), inserted.Seconds(), len(indexes),
		(indexed - inserted).Seconds(), (time.Since(begin) - indexed).Seconds()), nil
}

// ph turns ? placeholders into $n for Postgres.
func ph(pg bool, q string) string {
	if !pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

type txnItem struct {
	ID   string `json:"id"`
	Date string `json:"date"`
}

type txnPage struct {
	Items      []txnItem `json:"items"`
	NextCursor *string   `json:"next_cursor"`
	HasMore    bool      `json:"has_more"`
}

// walkTransactions follows the user's cursor pages to the cursor after the deep
// row, then checks that the service and the baseline answer the first page and
// the deep page with the rows the walk saw.
func walkTransactions(a *apiClient, s *txnSeed, baseURL string) error {
	deep := txnDeepRow()
	var walked []txnItem
	path := fmt.Sprintf("/api/v1/transactions?limit=%d&fields=id,date", txnWalkLimit)
	for len(walked) < deep+pageSize {
		var page txnPage
		if _, err := a.do(http.MethodGet, path, s.access, nil, &page, http.StatusOK); err != nil {
			return err
		}
		if len(page.Items) == 0 || page.NextCursor == nil {
			return fmt.Errorf("the list ended after %d rows", len(walked)+len(page.Items))
		}
		walked = append(walked, page.Items...)
		if len(walked) == deep {
			s.deepCursor = *page.NextCursor
		}
		path = fmt.Sprintf("/api/v1/transactions?limit=%d&fields=id,date&cursor=%s", txnWalkLimit, url.QueryEscape(*page.NextCursor))
	}
	if s.deepCursor == "" {
		return errors.New("no cursor after the deep row")
	}
	for i := 1; i < len(walked); i++ {
		if walked[i].Date > walked[i-1].Date || (walked[i].Date == walked[i-1].Date && walked[i].ID >= walked[i-1].ID) {
			return fmt.Errorf("the walk is not in -date,-id order at row %d", i+1)
		}
	}
	last := walked[deep-1]
	s.baseDeep = base64.RawURLEncoding.EncodeToString([]byte(last.Date + "|" + last.ID))
	ids := func(items []txnItem) []string {
		out := make([]string, len(items))
		for i, t := range items {
			out[i] = t.ID
		}
		return out
	}
	s.first, s.deep = ids(walked[:pageSize]), ids(walked[deep:deep+pageSize])
	check := func(c *apiClient, path string, want []string) error {
		var page txnPage
		if _, err := c.do(http.MethodGet, path, s.access, nil, &page, http.StatusOK); err != nil {
			return err
		}
		if got := strings.Join(ids(page.Items), ","); got != strings.Join(want, ",") {
			return fmt.Errorf("%s%s does not answer the walk's rows", c.base, path)
		}
		return nil
	}
	b := &apiClient{base: baseURL, client: a.client}
	first := fmt.Sprintf("/api/v1/transactions?limit=%d", pageSize)
	for _, c := range []struct {
		client *apiClient
		path   string
		want   []string
	}{
		{a, first, s.first},
		{b, first, s.first},
		{a, first + "&cursor=" + url.QueryEscape(s.deepCursor), s.deep},
		{b, first + "&cursor=" + url.QueryEscape(s.baseDeep), s.deep},
	} {
		if err := check(c.client, c.path, c.want); err != nil {
			return err
		}
	}
	return nil
}

// printFinanceTargets adds the finance targets to printTargets' list.
func printFinanceTargets(rows []row) {
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	for _, r := range syncResults {
		ratio := r.rate() / r.bareRate()
		fmt.Printf("  %s  %s initial sync of %s transactions (user_large): %.0f rows/s = %.2fx a bare batched upsert of the same rows (%.0f rows/s; target >= 0.5x)\n",
			verdict(ratio >= 0.5), dbTitle(r.db), thousands(r.rows), r.rate(), ratio, r.bareRate())
		fmt.Printf("  %s  %s initial sync: peak RSS %s (VmHWM; %s before the sync; target <= 128 MiB)\n",
			verdict(r.peak > 0 && r.peak <= syncRSSLimit), dbTitle(r.db), mib(r.peak), mib(r.rssBefore))
	}
	find := func(db, name, server string) *row {
		for i := range rows {
			if rows[i].db == db && rows[i].scenario == name && rows[i].server == server {
				return &rows[i]
			}
		}
		return nil
	}
	for _, db := range []string{"postgres", "sqlite"} {
		if first, deep := find(db, txnFirstAloneName(), "dashtam"), find(db, txnDeepAloneName(), "dashtam"); first != nil && deep != nil && first.p50 > 0 {
			ratio := float64(deep.p50) / float64(first.p50)
			fmt.Printf("  %s  %s GET /transactions: cursor page after row %s of %s, one request at a time: p50 %s = %.2fx the first page's %s (target <= 1.5x); p99 %s = %.2fx%s\n",
				verdict(ratio <= 1.5), dbTitle(db), thousands(txnDeepRow()), thousands(txnRows()), ms(deep.p50), ratio, ms(first.p50),
				ms(deep.p99), float64(deep.p99)/float64(first.p99), disturbed(deep))
		}
		for _, name := range []string{txnFirstName(), txnDeepName()} {
			if r, b := find(db, name, "dashtam"), find(db, name, "baseline"); r != nil && b != nil && b.rps > 0 {
				ratio := r.rps / b.rps
				fmt.Printf("  %s  %s %s: %.2fx the baseline's req/s (target >= 0.7x); CPU per request %s against %s (%.2fx)%s\n",
					verdict(ratio >= 0.7), dbTitle(db), name, ratio, r.cpuText(), b.cpuText(), float64(r.totalCPU())/float64(b.totalCPU()), disturbed(r))
			}
		}
	}
}

func dbTitle(db string) string {
	if db == "sqlite" {
		return "SQLite"
	}
	return "Postgres"
}
