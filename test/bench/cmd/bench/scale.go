package main

// The scale phase (Postgres only): after the other Postgres scenarios, against
// the same running service and the same fresh schema, it registers a second user
// through the API, seeds 1,000,000 providers with SQL (100,000 for that user,
// 90 for each of 10,000 other users inserted directly), and measures the big
// user's first cursor page, the cursor page after row 99,000, and offset pages
// at offsets 1,000, 10,000 and 99,000: a keyset page deep in a list should cost
// what the first page costs, and an offset page grows with its offset.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dashtam/dashtam/test/bench/loadgen"
)

const (
	scaleBigProviders = 100_000 // the big user's providers
	scaleUsers        = 10_000  // other users, inserted with SQL
	scalePerUser      = 90      // providers of each other user
	scaleDeepRow      = 99_000  // the deep cursor page starts after this row
	// scaleWalkLimit is the page size of the walk to the deep cursor: the API's
	// largest limit (adapters/httpapi/openapi.yaml).
	scaleWalkLimit = 100
	// scalePasswordHash is the other users' password hash: a well-formed
	// argon2id string that no password matches (they never log in).
	scalePasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2gtc2NhbGUtc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

// scaleOffsets are the offset pages measured, as offsets into the big user's
// list (newest first).
var scaleOffsets = []int{1_000, 10_000, scaleDeepRow}

var (
	scaleFirstName = "GET /providers?limit=20 (first page of " + thousands(scaleBigProviders) + ")"
	scaleDeepName  = "GET /providers?limit=20&cursor= (after row " + thousands(scaleDeepRow) + " of " + thousands(scaleBigProviders) + ")"
	// The same two pages one request at a time: a page's latency without the
	// queueing of 32 connections, which is what the target compares.
	scaleFirstAloneName = "GET /providers?limit=20 (first page of " + thousands(scaleBigProviders) + ", 1 connection)"
	scaleDeepAloneName  = "GET /providers?limit=20&cursor= (after row " + thousands(scaleDeepRow) + " of " + thousands(scaleBigProviders) + ", 1 connection)"
)

func scaleOffsetName(offset int) string {
	return fmt.Sprintf("GET /providers?page=%d&per_page=%d (offset %s of %s)",
		offset/pageSize+1, pageSize, thousands(offset), thousands(scaleBigProviders))
}

// scaleOn reports whether the scale phase runs: BENCH_SCALE=0 skips it, and
// BENCH_QUICK=1 skips it unless BENCH_SCALE=1.
func scaleOn() bool {
	switch os.Getenv("BENCH_SCALE") {
	case "":
		quick := os.Getenv("BENCH_QUICK")
		return quick == "" || quick == "0"
	case "0":
		return false
	default:
		return true
	}
}

// wantsScale reports whether any scale scenario of backend is to run.
func (c *config) wantsScale(backend string) bool {
	if backend != "postgres" || !scaleOn() {
		return false
	}
	for _, sc := range scaleScenarios(&scaleSeed{}, "") {
		if c.wants(backend, sc.name) {
			return true
		}
	}
	return false
}

// scaleSeed is what the scale scenarios read.
type scaleSeed struct {
	access     string   // the big user's access token
	ids        []string // the big user's first rows, newest first
	deepCursor string   // the cursor after row scaleDeepRow (limit 20 reads rows 99,001-99,020)
}

func scaleScenarios(s *scaleSeed, addr string) []scenario {
	get := func(target string) func(int) loadgen.Worker {
		req := loadgen.BuildRequest(http.MethodGet, addr, target,
			[]loadgen.Header{{Name: "Authorization", Value: "Bearer " + s.access}}, nil)
		return func(int) loadgen.Worker {
			return &loadgen.Static{Requests: [][]byte{req}, Check: loadgen.Expect(http.StatusOK)}
		}
	}
	first := get(fmt.Sprintf("/api/v1/providers?limit=%d", pageSize))
	deep := get(fmt.Sprintf("/api/v1/providers?limit=%d&cursor=%s", pageSize, url.QueryEscape(s.deepCursor)))
	out := []scenario{
		{name: scaleFirstAloneName, dashtam: first},
		{name: scaleDeepAloneName, dashtam: deep},
		{name: scaleFirstName, dashtam: first},
		{name: scaleDeepName, dashtam: deep},
	}
	for _, off := range scaleOffsets {
		out = append(out, scenario{name: scaleOffsetName(off), dashtam: get(offsetPath(off))})
	}
	return out
}

func offsetPath(offset int) string {
	return fmt.Sprintf("/api/v1/providers?page=%d&per_page=%d", offset/pageSize+1, pageSize)
}

// runScale is the scale phase of the Postgres run: seed, walk to the deep
// cursor, check the pages, measure. dbURL selects the run's schema.
func runScale(ctx context.Context, cfg *config, a *apiClient, svc *proc, pg *pgBackends, dbURL, addr string) (rows []row, notes []string, err error) {
	if !cfg.wantsScale("postgres") {
		return nil, nil, nil
	}
	fmt.Printf("postgres: scale: registering a second user, seeding %s providers (%s for that user, %d for each of %s other users)\n",
		thousands(scaleBigProviders+scaleUsers*scalePerUser), thousands(scaleBigProviders), scalePerUser, thousands(scaleUsers))
	email, password := "bench-scale-"+randomHex(6)+"@example.com", "Bench-Passw0rd-"+randomHex(6)
	if err := signUp(ctx, a, svc, email, password, "Bench scale"); err != nil {
		return nil, nil, err
	}
	g, err := a.login(email, password)
	if err != nil {
		return nil, nil, err
	}
	s := &scaleSeed{access: g.AccessToken}

	took, err := seedScale(ctx, dbURL, email)
	if err != nil {
		return nil, nil, fmt.Errorf("seed: %w", err)
	}
	fmt.Println("postgres: scale:", took)
	notes = append(notes, "postgres: scale: "+took)

	start := time.Now()
	if err := walkScale(a, s); err != nil {
		return nil, notes, err
	}
	fmt.Printf("postgres: scale: walked %s rows with limit=%d in %.1f s; pages checked\n",
		thousands(len(s.ids)), scaleWalkLimit, time.Since(start).Seconds())

	for _, sc := range scaleScenarios(s, addr) {
		if ctx.Err() != nil {
			return rows, notes, ctx.Err()
		}
		if !cfg.wants("postgres", sc.name) {
			continue
		}
		at := cfg
		if strings.HasSuffix(sc.name, ", 1 connection)") {
			one := *cfg
			one.conns = 1
			at = &one
		}
		measured, err := measure(ctx, at, "postgres", sc.name,
			[]target{{server: "dashtam", p: svc, pg: pg, addr: addr, newWorker: sc.dashtam, profile: true}})
		if err != nil {
			return rows, notes, err
		}
		rows = append(rows, measured...)
	}
	return rows, notes, nil
}

// seedScale inserts the scale data set with server-side INSERT … SELECT FROM
// generate_series, on a connection of its own bound to the run's schema (the
// driver's administrative connection is not: it has the server's default
// search_path, and it must survive an interrupted seed to drop the schema).
// It returns a line saying what it did and how long that took.
func seedScale(ctx context.Context, dbURL, bigEmail string) (string, error) {
	conn, err := pgx.Connect(ctx, withAppName(dbURL, "dashtam_bench_seed"))
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	// An interrupted run closes the socket; let the backend notice and abort
	// its statement, so that the schema can be dropped at once.
	if _, err := conn.Exec(ctx, "SET client_connection_check_interval = '1s'"); err != nil {
		return "", err
	}
	var bigUser string
	if err := conn.QueryRow(ctx, "SELECT id::text FROM users WHERE email = $1", bigEmail).Scan(&bigUser); err != nil {
		return "", fmt.Errorf("the big user: %w", err)
	}

	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	// One sort of 1,000,000 rows in memory rather than on disk, and index
	// builds in memory too.
	for _, set := range []string{"SET LOCAL work_mem = '512MB'", "SET LOCAL maintenance_work_mem = '512MB'"} {
		if _, err := tx.Exec(ctx, set); err != nil {
			return "", err
		}
	}
	// A bulk load: the secondary indexes of providers (all but the primary key)
	// are dropped and built again from their own definitions after the INSERT,
	// in the same transaction, which is about three times as fast as
	// maintaining eleven indexes row by row with a default shared_buffers. The
	// rebuilt indexes are the same indexes, only more compact than ones grown
	// one row at a time.
	indexes, err := secondaryIndexes(ctx, tx, "providers")
	if err != nil {
		return "", err
	}
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, "DROP INDEX "+ix.name); err != nil {
			return "", err
		}
	}
	// The rows were created over about 250 days from 300 days ago: the big
	// user's 240 s apart on average (0 to 480 s, with millisecond jitter), and
	// one pair in ten at the very same instant (a tie, which id breaks); each
	// other user's 90 rows spread over the same period.
	if _, err := tx.Exec(ctx, `
INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, updated_at)
SELECT gen_random_uuid(), 'bench-scale-user-' || u || '@example.com', 'Scale user ' || u, $1, t, t, t
FROM generate_series(1, $2::int) AS u,
     LATERAL (SELECT now() - interval '301 days' + make_interval(secs => u * 60) AS t) AS c`,
		scalePasswordHash, scaleUsers); err != nil {
		return "", fmt.Errorf("users: %w", err)
	}
	// Ids are UUIDv7 from created_at, like the service's (uuid.NewV7): the
	// random bits of gen_random_uuid() with the millisecond timestamp in the
	// first 48 bits and version 7. Rows are inserted in created_at order, the
	// order the service would have written them, users interleaved.
	tag, err := tx.Exec(ctx, `
INSERT INTO providers (id, user_id, provider_key, alias, alias_key, connection_status, version, created_at, updated_at)
SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
              PLACING substring(int8send((extract(epoch FROM r.t) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
       r.user_id, 'sandbox', r.alias, lower(r.alias), 'not_connected', 1, r.t, r.t
FROM (
    SELECT $1::uuid AS user_id,
           (ARRAY['Schwab', 'Checking', 'Savings', 'Brokerage', 'IRA', 'Credit Card', 'Plaid Bank'])[1 + g % 7] || ' ' || g AS alias,
           now() - interval '300 days' + make_interval(secs => (g * 9 / 10) * 240 + ((g * 9 / 10) * 7919 % 240000) / 1000.0) AS t
    FROM generate_series(1, $2::int) AS g
    UNION ALL
    SELECT u.id,
           (ARRAY['Schwab', 'Checking', 'Savings', 'Brokerage', 'IRA', 'Credit Card', 'Plaid Bank'])[1 + n % 7] || ' ' || n,
           now() - interval '300 days' + make_interval(secs => n * 240000 + ((hashtext(u.id::text) & 65535) * 3 + n * 7919) % 240000)
    FROM users AS u CROSS JOIN generate_series(1, $3::int) AS n
    WHERE u.email LIKE 'bench-scale-user-%'
) AS r
ORDER BY r.t`, bigUser, scaleBigProviders, scalePerUser)
	if err != nil {
		return "", fmt.Errorf("providers: %w", err)
	}
	if want := int64(scaleBigProviders + scaleUsers*scalePerUser); tag.RowsAffected() != want {
		return "", fmt.Errorf("inserted %d providers, want %d", tag.RowsAffected(), want)
	}
	inserted := time.Since(start)
	for _, ix := range indexes {
		if _, err := tx.Exec(ctx, ix.def); err != nil {
			return "", fmt.Errorf("rebuild %s: %w", ix.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return "", err
	}
	indexed := time.Since(start)
	for _, table := range []string{"users", "providers"} {
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			return "", fmt.Errorf("vacuum %s: %w", table, err)
		}
	}
	total := time.Since(start)
	var providers, users int64
	var size string
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM providers), (SELECT count(*) FROM users),
		pg_size_pretty(pg_total_relation_size('providers'))`).Scan(&providers, &users, &size); err != nil {
		return "", err
	}
	return fmt.Sprintf("seeded %s providers with SQL (%s for the second API user, %d for each of %s users inserted with them) in %.1f s (INSERT %.1f s, %d indexes rebuilt %.1f s, VACUUM ANALYZE %.1f s); the schema now holds %s providers of %s users, providers table and its indexes %s",
		thousands(scaleBigProviders+scaleUsers*scalePerUser), thousands(scaleBigProviders), scalePerUser, thousands(scaleUsers), total.Seconds(),
		inserted.Seconds(), len(indexes), (indexed - inserted).Seconds(), (total - indexed).Seconds(),
		thousands(int(providers)), thousands(int(users)), size), nil
}

type index struct{ name, def string }

// secondaryIndexes are table's indexes that back no constraint (all but its
// primary key here), with the statements that create them.
func secondaryIndexes(ctx context.Context, tx pgx.Tx, table string) ([]index, error) {
	rows, err := tx.Query(ctx, `
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index AS i
WHERE i.indrelid = $1::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
ORDER BY 1`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.def); err != nil {
			return nil, err
		}
		out = append(out, ix)
	}
	return out, rows.Err()
}

// walkScale follows the big user's cursor pages (newest first, the default
// order) to the cursor after row scaleDeepRow (the cursor is signed by the
// server, so it has to come from the API), then checks that the pages the
// scenarios read answer the rows they should.
func walkScale(a *apiClient, s *scaleSeed) error {
	path := fmt.Sprintf("/api/v1/providers?limit=%d", scaleWalkLimit)
	for len(s.ids) < scaleDeepRow+pageSize {
		var page listPage
		if _, err := a.do(http.MethodGet, path, s.access, nil, &page, http.StatusOK); err != nil {
			return err
		}
		if len(page.Items) == 0 {
			return fmt.Errorf("empty page after %d rows", len(s.ids))
		}
		for _, p := range page.Items {
			s.ids = append(s.ids, p.ID)
		}
		if page.HasMore == nil || !*page.HasMore || page.NextCursor == nil {
			return fmt.Errorf("the list ended after %d rows", len(s.ids))
		}
		if len(s.ids) == scaleDeepRow {
			s.deepCursor = *page.NextCursor
		}
		path = fmt.Sprintf("/api/v1/providers?limit=%d&cursor=%s", scaleWalkLimit, url.QueryEscape(*page.NextCursor))
	}
	if s.deepCursor == "" {
		return errors.New("no cursor after row 99,000")
	}
	seen := make(map[string]bool, len(s.ids))
	for _, id := range s.ids {
		if seen[id] {
			return fmt.Errorf("the walk met %s twice", id)
		}
		seen[id] = true
	}
	check := func(path string, from int, wantTotal bool) error {
		var page listPage
		if _, err := a.do(http.MethodGet, path, s.access, nil, &page, http.StatusOK); err != nil {
			return err
		}
		got := make([]string, len(page.Items))
		for i, p := range page.Items {
			got[i] = p.ID
		}
		if strings.Join(got, ",") != strings.Join(s.ids[from:from+pageSize], ",") {
			return fmt.Errorf("%s does not answer rows %d-%d of the walk", path, from+1, from+pageSize)
		}
		if wantTotal && (page.Total == nil || *page.Total != scaleBigProviders) {
			return fmt.Errorf("%s: total %v, want %d", path, page.Total, scaleBigProviders)
		}
		return nil
	}
	if err := check(fmt.Sprintf("/api/v1/providers?limit=%d", pageSize), 0, false); err != nil {
		return err
	}
	if err := check(fmt.Sprintf("/api/v1/providers?limit=%d&cursor=%s", pageSize, url.QueryEscape(s.deepCursor)), scaleDeepRow, false); err != nil {
		return err
	}
	for _, off := range scaleOffsets {
		if err := check(offsetPath(off), off, true); err != nil {
			return err
		}
	}
	return nil
}

// printScaleTargets adds the scale targets to printTargets' list.
func printScaleTargets(rows []row) {
	find := func(name string) *row {
		for i := range rows {
			if rows[i].db == "postgres" && rows[i].scenario == name && rows[i].server == "dashtam" {
				return &rows[i]
			}
		}
		return nil
	}
	if first, deep := find(scaleFirstAloneName), find(scaleDeepAloneName); first != nil && deep != nil && first.p50 > 0 {
		ratio := float64(deep.p50) / float64(first.p50)
		v := "FAIL"
		if ratio <= 1.5 {
			v = "PASS"
		}
		fmt.Printf("  %s  Postgres cursor page after %s rows, one request at a time: p50 %s = %.2fx the first page's %s (target <= 1.5x); p99 %s = %.2fx%s\n",
			v, thousands(scaleDeepRow), ms(deep.p50), ratio, ms(first.p50), ms(deep.p99), float64(deep.p99)/float64(first.p99), disturbed(deep))
	}
	first := find(scaleFirstName)
	if first == nil || first.p50 <= 0 {
		return
	}
	if deep := find(scaleDeepName); deep != nil {
		fmt.Printf("  info  Postgres cursor page after %s rows, under load: req/s %.0f = %.2fx the first page's, CPU per request (server + Postgres) %s = %.2fx, p50 %s = %.2fx, p99 %s = %.2fx%s\n",
			thousands(scaleDeepRow), deep.rps, deep.rps/first.rps, deep.cpuText(), float64(deep.totalCPU())/float64(first.totalCPU()),
			ms(deep.p50), float64(deep.p50)/float64(first.p50), ms(deep.p99), float64(deep.p99)/float64(first.p99), disturbed(deep))
	}
	var parts []string
	for _, off := range scaleOffsets {
		if r := find(scaleOffsetName(off)); r != nil {
			parts = append(parts, fmt.Sprintf("offset %s: p50 %s (%.2fx), %.0f req/s, CPU/req %s (%.2fx)%s",
				thousands(off), ms(r.p50), float64(r.p50)/float64(first.p50), r.rps, r.cpuText(),
				float64(r.totalCPU())/float64(first.totalCPU()), disturbed(r)))
		}
	}
	if len(parts) > 0 {
		fmt.Printf("  info  Postgres offset pages of %d in a list of %s, against the first cursor page (p50 %s, CPU/req %s): %s\n",
			pageSize, thousands(scaleBigProviders), ms(first.p50), first.cpuText(), strings.Join(parts, "; "))
	}
}

// signUp registers a user through the API and verifies its email with the link
// in the development mail log line sent to that address.
func signUp(ctx context.Context, a *apiClient, svc *proc, email, password, name string) error {
	if _, err := a.do(http.MethodPost, "/api/v1/users", "", map[string]string{"email": email, "password": password, "name": name}, nil, http.StatusCreated); err != nil {
		return err
	}
	link := regexp.MustCompile(regexp.QuoteMeta(email) + `[^\n]*?/verify-email\?token=([^\s"\\]+)`)
	token, err := svc.waitForLog(ctx, link, 15*time.Second)
	if err != nil {
		return fmt.Errorf("verification email: %w", err)
	}
	token, err = url.QueryUnescape(token)
	if err != nil {
		return err
	}
	_, err = a.do(http.MethodPost, "/api/v1/email-verifications", "", map[string]string{"token": token}, nil, http.StatusOK)
	return err
}

// login opens a session.
func (a *apiClient) login(email, password string) (grant, error) {
	var g grant
	_, err := a.do(http.MethodPost, "/api/v1/sessions", "", map[string]string{"email": email, "password": password}, &g, http.StatusCreated)
	return g, err
}

// thousands formats n with commas: 99000 is "99,000".
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
