package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/adapters/providers/sandbox"
	"github.com/dashtam/dashtam/test/dbtest"
)

// Journeys of the financial data: a grant's first sync, reading what it
// stored, syncing again, and the syncs of a cluster.

// decimalString is how money, quantities and prices leave the API.
var decimalString = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// connectSandboxE runs the sandbox's redirect flow for a provider as the
// sandbox user hint ("" is user_good): start on in, consent at the sandbox
// (served by in, on the shared PUBLIC_BASE_URL), arrive at the callback on
// in and relay what it hands over with the user's token. The grant begins the
// provider's first sync.
func connectSandboxE(in *Instance, token, providerID, hint string) error {
	authURL, err := startAuthorizationE(in, token, providerID)
	if err != nil {
		return err
	}
	if hint != "" {
		authURL += "&login_hint=" + hint
	}
	uri, err := requestURI(authURL)
	if err != nil {
		return err
	}
	callback, err := redirectTarget(in.BaseURL + uri)
	if err != nil {
		return fmt.Errorf("consent at the sandbox: %w", err)
	}
	_, err = arriveAndRelayE(in, in, callback, token)
	return err
}

func syncsPath(providerID string) string { return "/api/v1/providers/" + providerID + "/syncs" }

// syncsOf returns the provider's syncs, newest first (one page).
func syncsOf(t *testing.T, in *Instance, token, providerID string) []map[string]any {
	t.Helper()
	_, body := in.expect(t, http.StatusOK, http.MethodGet, syncsPath(providerID)+"?limit=100", nil, token)
	return objects(t, body["items"])
}

// awaitSync polls GET /syncs/{id} until the sync is in status want (failing
// the test when it ends otherwise or takes longer than timeout) and returns
// it.
func awaitSync(t *testing.T, in *Instance, token, syncID, want string, timeout time.Duration) map[string]any {
	t.Helper()
	var s map[string]any
	waitUntil(t, timeout, "sync "+syncID+" "+want, func() bool {
		_, s = in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/syncs/"+syncID, nil, token)
		if st := s["status"]; st != want && s["finished_at"] != nil {
			t.Fatalf("sync %s ended %v, want %s: %v", syncID, st, want, s)
		}
		return s["status"] == want
	})
	return s
}

// objects turns a decoded JSON array of objects into maps.
func objects(t *testing.T, v any) []map[string]any {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not an array", v)
	}
	out := make([]map[string]any, len(arr))
	for i, item := range arr {
		if out[i], ok = item.(map[string]any); !ok {
			t.Fatalf("item %d = %v is not an object", i, item)
		}
	}
	return out
}

// allPages follows a cursor list from path (which carries its query, with a
// limit) to its end and returns every item.
func allPages(t *testing.T, in *Instance, token, path string) []map[string]any {
	t.Helper()
	var items []map[string]any
	for next := path; next != ""; {
		_, body := in.expect(t, http.StatusOK, http.MethodGet, next, nil, token)
		items = append(items, objects(t, body["items"])...)
		next = ""
		if links, _ := body["_links"].(map[string]any); body["has_more"] == true {
			next, _ = links["next"].(string)
		}
	}
	return items
}

// changesTail reads the whole changes feed after cursor ("" is from the
// beginning) and returns its changes by kind, keyed by id, and the cursor to
// read after.
func changesTail(t *testing.T, in *Instance, token, cursor string) (added, modified, removed map[string]map[string]any, next string) {
	t.Helper()
	added, modified, removed = map[string]map[string]any{}, map[string]map[string]any{}, map[string]map[string]any{}
	for {
		path := "/api/v1/transactions/changes?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		_, body := in.expect(t, http.StatusOK, http.MethodGet, path, nil, token)
		for kind, into := range map[string]map[string]map[string]any{"added": added, "modified": modified, "removed": removed} {
			for _, c := range objects(t, body[kind]) {
				into[c["id"].(string)] = c
			}
		}
		cursor, _ = body["next_cursor"].(string)
		if body["has_more"] != true {
			return added, modified, removed, cursor
		}
	}
}

// startSyncs sends n POST /providers/{id}/syncs at once, spread over the
// instances, and returns the sync ids they answered (each must be 202).
func startSyncs(t *testing.T, instances []*Instance, token, providerID string, n int) []string {
	t.Helper()
	ids, _ := startSyncsTimed(t, instances, token, providerID, n)
	return ids
}

// startSyncsTimed is startSyncs that also returns when each answer arrived.
func startSyncsTimed(t *testing.T, instances []*Instance, token, providerID string, n int) ([]string, []time.Time) {
	t.Helper()
	ids := make([]string, n)
	answered := make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			in := instances[i%len(instances)]
			status, header, body, err := in.request(http.MethodPost, syncsPath(providerID), nil, token)
			answered[i] = time.Now()
			switch {
			case err != nil:
				errs[i] = err
			case status != http.StatusAccepted || header.Get("Location") != "/api/v1/syncs/"+fmt.Sprint(body["id"]):
				errs[i] = fmt.Errorf("POST %d: status %d, Location %q, body %v", i, status, header.Get("Location"), body)
			default:
				ids[i], _ = body["id"].(string)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids, answered
}

// sameID fails the test unless every id is the same, and returns it.
// syncByID returns GET /syncs/{id}.
func syncByID(t *testing.T, in *Instance, token, syncID string) map[string]any {
	t.Helper()
	_, body := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/syncs/"+syncID, nil, token)
	return body
}

func sameID(t *testing.T, ids []string) string {
	t.Helper()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent POSTs answered different syncs: %v", ids)
		}
	}
	return ids[0]
}

// TestSandboxSyncJourney walks the financial data on the embedded defaults
// (SQLite, River on SQLite): connecting the sandbox syncs it within seconds;
// accounts, holdings and transactions read back with decimal-string money;
// two POSTs at once start one sync; and after time passes at the sandbox
// (SANDBOX_TIME_OFFSET, on a restart of the same data directory) the next
// sync posts pending transactions under the same ids, which the changes feed
// reports as modified.
func TestSandboxSyncJourney(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A fixed PUBLIC_BASE_URL (the JWT issuer) and DATA_DIR (the generated
	// development keys) let the restarted instance accept the same tokens.
	env := merged(generousRateLimits, map[string]string{"DATA_DIR": dir, "PUBLIC_BASE_URL": clusterPublicBaseURL})
	in := startInstance(t, env)
	user := verifiedSession(t, in, newAccount())
	id := createProvider(t, in, user.Access, "sandbox", "Sandbox")

	connected := time.Now()
	if err := connectSandboxE(in, user.Access, id, ""); err != nil {
		t.Fatal(err)
	}
	var first map[string]any
	waitUntil(t, 20*time.Second, "the first sync listed as succeeded", func() bool {
		syncs := syncsOf(t, in, user.Access, id)
		if len(syncs) != 1 || syncs[0]["trigger"] != "authorization" {
			t.Fatalf("syncs after the grant = %v", syncs)
		}
		first = syncs[0]
		if st := first["status"]; st != "queued" && st != "running" && st != "succeeded" {
			t.Fatalf("the first sync ended %v: %v", st, first)
		}
		return first["status"] == "succeeded"
	})
	t.Logf("the first sync succeeded %v after the callback: %v", time.Since(connected).Round(time.Millisecond), first["results"])

	t.Run("accounts, holdings and transactions read back with decimal-string money", func(t *testing.T) {
		accounts := allPages(t, in, user.Access, "/api/v1/accounts?limit=100")
		if len(accounts) < 4 {
			t.Fatalf("%d accounts, want checking, savings, card and brokerage", len(accounts))
		}
		for _, a := range accounts {
			b, _ := a["balance"].(map[string]any)
			if cur, ok := b["current"].(string); !ok || !decimalString.MatchString(cur) || b["currency"] != "USD" {
				t.Errorf("account %v has balance %v, want a decimal string in USD", a["name"], a["balance"])
			}
		}
		holdings := allPages(t, in, user.Access, "/api/v1/holdings?limit=100")
		if len(holdings) == 0 {
			t.Fatal("no holdings")
		}
		for _, h := range holdings {
			sec, _ := h["security"].(map[string]any)
			q, _ := h["quantity"].(string)
			mv, _ := h["market_value"].(string)
			if sec["id"] == nil || !decimalString.MatchString(q) || !decimalString.MatchString(mv) {
				t.Errorf("holding %v", h)
			}
		}
		from := time.Now().UTC().AddDate(0, 0, -30).Format(time.DateOnly)
		txs := allPages(t, in, user.Access, "/api/v1/transactions?limit=100&date_from="+from)
		if len(txs) == 0 {
			t.Fatal("no transactions in the last 30 days")
		}
		for _, tx := range txs {
			amount, _ := tx["amount"].(string)
			date, _ := tx["date"].(string)
			if !decimalString.MatchString(amount) || date < from {
				t.Errorf("transaction %v: amount %q, date %q (date_from %s)", tx["id"], amount, date, from)
			}
		}
	})

	t.Run("two POSTs at once start one sync, or a second only once the first finished", func(t *testing.T) {
		ids, answered := startSyncsTimed(t, []*Instance{in}, user.Access, id, 2)
		for _, s := range ids {
			if s == first["id"] {
				t.Fatalf("a POST after the first sync finished answered the first sync %s", s)
			}
			awaitSync(t, in, user.Access, s, "succeeded", 20*time.Second)
		}
		want := 2 // the grant's and one manual
		if ids[0] != ids[1] {
			// The sandbox syncs in a fraction of a second, so on a loaded
			// machine one POST can come after the other's sync finished; a
			// sync joins only one still queued or running, so then a second
			// is right, answered only after the first finished. (The
			// answer's time is the measure, not the second sync's
			// created_at: a sync is stamped before its POST waits for the
			// provider's lock, which the finishing sync may hold.)
			at := func(s map[string]any, key string) time.Time {
				v, _ := s[key].(string)
				ts, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					t.Fatalf("sync %v: %s %q: %v", s["id"], key, v, err)
				}
				return ts
			}
			a, b := syncByID(t, in, user.Access, ids[0]), syncByID(t, in, user.Access, ids[1])
			bAnswered := answered[1]
			if at(a, "created_at").After(at(b, "created_at")) {
				a, b, bAnswered = b, a, answered[0]
			}
			if at(a, "finished_at").After(bAnswered) {
				t.Fatalf("the POST that began %v was answered at %v, before %v finished: two syncs in flight at once", b["id"], bAnswered, a)
			}
			want = 3
		}
		if n := len(syncsOf(t, in, user.Access, id)); n != want {
			t.Errorf("%d syncs after two concurrent POSTs, want %d", n, want)
		}
	})

	pending := allPages(t, in, user.Access, "/api/v1/transactions?limit=100&status=pending")
	if len(pending) == 0 {
		t.Fatal("the sandbox ledger has no pending transaction now")
	}
	_, _, _, cursor := changesTail(t, in, user.Access, "")
	if in.Stop(t) != 0 {
		t.Fatal("the instance did not stop cleanly")
	}

	// Four days later at the sandbox: every authorization pending now has
	// posted (or, one in ten, been dropped).
	later := startInstance(t, merged(env, map[string]string{"SANDBOX_TIME_OFFSET": "96h"}))
	t.Run("after the next sync a pending transaction is posted under the same id, and modified in the feed", func(t *testing.T) {
		_, body := later.expect(t, http.StatusAccepted, http.MethodPost, syncsPath(id), nil, user.Access)
		awaitSync(t, later, user.Access, body["id"].(string), "succeeded", 20*time.Second)
		_, modified, removed, _ := changesTail(t, later, user.Access, cursor)
		posted := 0
		for _, p := range pending {
			pid := p["id"].(string)
			status, _, tx := later.do(t, http.MethodGet, "/api/v1/transactions/"+pid, nil, user.Access)
			switch {
			case status == http.StatusOK && tx["status"] == "posted":
				posted++
				if m := modified[pid]; m == nil || m["status"] != "posted" {
					t.Errorf("posted %s is not in the feed's modified as posted: %v", pid, m)
				}
			case status == http.StatusNotFound && removed[pid] != nil:
				// Dropped by the institution: removed in the feed, never posted.
			default:
				t.Errorf("pending %s is now %d %v; want posted under its id, or removed", pid, status, tx)
			}
		}
		if posted == 0 {
			t.Errorf("none of %d pending transactions posted", len(pending))
		}
		if left := allPages(t, later, user.Access, "/api/v1/transactions?limit=100&status=pending"); len(left) > 0 {
			for _, l := range left {
				for _, p := range pending {
					if l["id"] == p["id"] {
						t.Errorf("%s is still pending four days later", l["id"])
					}
				}
			}
		}
	})
	t.Run("the provider says when it last synced and how fresh its data is", func(t *testing.T) {
		_, p := later.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers/"+id, nil, user.Access)
		links, _ := p["_links"].(map[string]any)
		if _, ok := timeField(t, p, "last_synced_at"); !ok || links["syncs"] != syncsPath(id) {
			t.Errorf("provider = %v", p)
		}
		if _, ok := timeField(t, p, "data_as_of"); !ok {
			t.Errorf("provider without data_as_of: %v", p)
		}
	})
}

// syncJobs counts the sync jobs River holds for a provider (completed ones
// are kept for a day), by sync id.
func syncJobs(t *testing.T, db *persistence.DB, providerID string) map[string]int {
	t.Helper()
	rows, err := db.SQL.QueryContext(t.Context(),
		`SELECT args->>'sync_id' FROM river_job WHERE kind = 'sync_provider' AND args->>'provider_id' = $1`, providerID)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFiftyConcurrentSyncRequestsOneSyncOneJob: two instances on one
// Postgres, 50 POST /providers/{id}/syncs at once spread over both, and no
// sync in flight before: one sync is begun, the other 49 requests join it,
// and River holds one job for it.
func TestFiftyConcurrentSyncRequestsOneSyncOneJob(t *testing.T) {
	t.Parallel()
	db, url := dbtest.PostgresWithURL(t)
	// user_slow keeps the new sync running (its institution answers after
	// PROVIDER_TIMEOUT) while the 50 requests arrive; SHUTDOWN_TIMEOUT lets
	// the instances stop without waiting for it. It is longer than the 5 s
	// net/http gives a connection whose first request has not arrived, so a
	// connection dialed for the 50 requests and never used cannot outlast it.
	env := merged(clusterEnv(url), map[string]string{"PROVIDER_TIMEOUT": "20s", "SHUTDOWN_TIMEOUT": "6s"})
	a := startInstance(t, env)
	b := startInstance(t, env)
	cluster(a, b)
	user := verifiedSession(t, a, newAccount())
	id := createProvider(t, a, user.Access, "sandbox", "Slow sandbox")
	if err := connectSandboxE(a, user.Access, id, "user_slow"); err != nil {
		t.Fatal(err)
	}
	// The grant's sync: wait until it runs, then cancel it, so that nothing
	// is in flight when the requests arrive.
	first := syncsOf(t, a, user.Access, id)[0]["id"].(string)
	awaitSync(t, b, user.Access, first, "running", 20*time.Second)
	b.expect(t, http.StatusAccepted, http.MethodDelete, "/api/v1/syncs/"+first, nil, user.Access)

	s := sameID(t, startSyncs(t, []*Instance{a, b}, user.Access, id, 50))
	if s == first {
		t.Fatalf("the requests joined the canceled sync %s", s)
	}
	syncs := syncsOf(t, b, user.Access, id)
	if len(syncs) != 2 || syncs[0]["id"] != s || syncs[0]["trigger"] != "manual" {
		t.Errorf("syncs after 50 concurrent POSTs = %v, want the canceled first and one manual", syncs)
	}
	if jobs := syncJobs(t, db, id); len(jobs) != 2 || jobs[s] != 1 || jobs[first] != 1 {
		t.Errorf("sync jobs by sync = %v, want one for %s and one for the first, %s", jobs, s, first)
	}
}

// riverClientID waits for the instance's River client to log its id.
func riverClientID(t *testing.T, in *Instance) string {
	t.Helper()
	return in.waitForLog(t, "River client started", func(r logRecord) bool {
		return r.str("msg") == "River client started" && r.str("client_id") != ""
	}).str("client_id")
}

// syncJobRun returns the state of the sync's job and the River clients that
// attempted it, oldest first.
func syncJobRun(t *testing.T, db *persistence.DB, syncID string) (state string, attemptedBy []string) {
	t.Helper()
	var by string
	err := db.SQL.QueryRowContext(t.Context(),
		`SELECT state, array_to_string(attempted_by, ',') FROM river_job WHERE kind = 'sync_provider' AND args->>'sync_id' = $1`,
		syncID).Scan(&state, &by)
	if err != nil {
		t.Fatal(err)
	}
	if by != "" {
		attemptedBy = strings.Split(by, ",")
	}
	return state, attemptedBy
}

// TestKilledInstanceSyncIsFinishedByTheOther: two instances on one Postgres,
// a grant of the sandbox's large variant (100,000 transactions), and the
// instance running its first sync is SIGKILLed midway. The other rescues the
// job (JOB_RESCUE_AFTER, short here) and finishes the sync from the last
// commit: the API then lists exactly the sandbox's 100,000 transactions,
// each id once.
func TestKilledInstanceSyncIsFinishedByTheOther(t *testing.T) {
	t.Parallel()
	db, url := dbtest.PostgresWithURL(t)
	env := merged(clusterEnv(url), map[string]string{"JOB_TIMEOUT": "60s", "JOB_RESCUE_AFTER": "61s"})
	a := startInstance(t, env)
	b := startInstance(t, env)
	cluster(a, b)
	byClient := map[string]*Instance{riverClientID(t, a): a, riverClientID(t, b): b}
	user := verifiedSession(t, a, newAccount())
	id := createProvider(t, a, user.Access, "sandbox", "Large sandbox")
	if err := connectSandboxE(a, user.Access, id, "user_large"); err != nil {
		t.Fatal(err)
	}
	syncID := syncsOf(t, a, user.Access, id)[0]["id"].(string)

	// Midway: some transactions are stored, far from all.
	waitUntil(t, 60*time.Second, "the large sync midway", func() bool {
		_, s := b.expect(t, http.StatusOK, http.MethodGet, "/api/v1/syncs/"+syncID, nil, user.Access)
		if s["finished_at"] != nil {
			t.Fatalf("the large sync finished before it could be interrupted: %v", s)
		}
		added := s["results"].(map[string]any)["transactions"].(map[string]any)["added"].(float64)
		return s["status"] == "running" && added >= 5_000
	})
	_, attempted := syncJobRun(t, db, syncID)
	if len(attempted) != 1 || byClient[attempted[0]] == nil {
		t.Fatalf("the sync's job was attempted by %v; want one of the instances %v", attempted, byClient)
	}
	victim := byClient[attempted[0]]
	survivor := a
	if victim == a {
		survivor = b
	}
	victim.Signal(t, syscall.SIGKILL)
	victim.Wait(t, stopTimeout)
	killed := time.Now()

	s := awaitSync(t, survivor, user.Access, syncID, "succeeded", 4*time.Minute)
	// The job completes just after the sync it ran is saved.
	var state string
	waitUntil(t, 10*time.Second, "the sync's job completed", func() bool {
		state, attempted = syncJobRun(t, db, syncID)
		return state == "completed"
	})
	t.Logf("the sync succeeded %v after the kill; job %s, attempted by %v; results %v",
		time.Since(killed).Round(time.Second), state, attempted, s["results"])
	if state != "completed" || len(attempted) < 2 || byClient[attempted[len(attempted)-1]] != survivor {
		t.Errorf("job %s attempted by %v; want it completed by the surviving instance", state, attempted)
	}

	txs := allPages(t, survivor, user.Access, "/api/v1/transactions?limit=100&provider_id="+id)
	seen := make(map[string]bool, len(txs))
	for _, tx := range txs {
		tid := tx["id"].(string)
		if seen[tid] {
			t.Errorf("transaction %s listed twice", tid)
		}
		seen[tid] = true
	}
	if len(txs) != sandbox.LargeTransactions {
		t.Errorf("the API lists %d transactions, want the sandbox's %d", len(txs), sandbox.LargeTransactions)
	}
}
