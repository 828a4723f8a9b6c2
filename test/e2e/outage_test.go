package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/faultproxy"
)

// outageCall is one request of the outage test's traffic.
type outageCall struct {
	kind       string // "write" or "read"
	start, end time.Time
	status     int    // 0 when the request itself failed (see err)
	code       string // the problem code, if any
	retryAfter string
	id         string // the provider a 201 created
	err        error
}

func (c outageCall) took() time.Duration { return c.end.Sub(c.start) }

// outageTraffic drives writes (create a provider) and reads (list providers,
// GET /users/me) from several workers and records every call.
type outageTraffic struct {
	in    *Instance
	token string
	// client has its own timeout, well past REQUEST_TIMEOUT, so that a hang is
	// measured rather than cut short by the harness's 30 s.
	client *http.Client

	mu    sync.Mutex
	calls []outageCall
	seq   int
}

func (tr *outageTraffic) record(c outageCall) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls = append(tr.calls, c)
}

func (tr *outageTraffic) snapshot() []outageCall {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]outageCall(nil), tr.calls...)
}

func (tr *outageTraffic) nextAlias() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seq++
	return fmt.Sprintf("Outage %05d", tr.seq)
}

func (tr *outageTraffic) call(kind, method, path string, body string) outageCall {
	c := outageCall{kind: kind, start: time.Now()}
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, tr.in.BaseURL+path, reader)
	if err != nil {
		c.err, c.end = err, time.Now()
		return c
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tr.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		c.err, c.end = err, time.Now()
		return c
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	c.end = time.Now()
	c.status = resp.StatusCode
	c.retryAfter = resp.Header.Get("Retry-After")
	var decoded map[string]any
	if json.Unmarshal(raw, &decoded) == nil {
		c.code, _ = decoded["code"].(string)
		if c.status == http.StatusCreated {
			c.id, _ = decoded["id"].(string)
		}
	}
	if c.status >= 500 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		c.err = fmt.Errorf("a %d answer with Content-Type %q, want application/problem+json", c.status, resp.Header.Get("Content-Type"))
	}
	return c
}

// run sends requests from workers goroutines until ctx ends: a write, then two
// reads, over and over.
func (tr *outageTraffic) run(ctx context.Context, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				var c outageCall
				switch i % 3 {
				case 0:
					c = tr.call("write", http.MethodPost, "/api/v1/providers", fmt.Sprintf(`{"provider_key":"sandbox","alias":%q}`, tr.nextAlias()))
				case 1:
					c = tr.call("read", http.MethodGet, "/api/v1/providers?per_page=5", "")
				default:
					c = tr.call("read", http.MethodGet, "/api/v1/users/me", "")
				}
				tr.record(c)
				if c.err != nil || c.status >= 500 {
					// Do not spin: an outage answers at once.
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}()
	}
	return &wg
}

// readyzStatus answers GET /readyz's status (0 when the request failed) and how
// long it took.
func readyzStatus(in *Instance) (int, time.Duration) {
	start := time.Now()
	status, _, _, err := in.request(http.MethodGet, "/readyz", nil, "")
	if err != nil {
		return 0, time.Since(start)
	}
	return status, time.Since(start)
}

// databaseFault is a way to take Postgres away from the instance and give it
// back, through a proxy listening on Addr.
type databaseFault struct {
	name           string
	addr           string
	fail, heal     func()
	minOutageCalls int // requests to see answered during the outage
}

// TestPostgresOutageAnswers503AndRecovers runs the binary on Postgres through
// test/faultproxy and cuts the link (connections refused and reset) in the
// middle of steady traffic; see runDatabaseOutage.
func TestPostgresOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	runDatabaseOutage(t, func(target string) databaseFault {
		p := faultproxy.Start(t, target)
		return databaseFault{name: "cut", addr: p.Addr(), fail: p.Cut, heal: p.Restore, minOutageCalls: 60}
	})
}

// TestPostgresStallAnswersWithinRequestTimeout is the same with a link that
// hangs instead (every byte held, nothing refused): the requests stuck on the
// database are ended by REQUEST_TIMEOUT and answer 503 then, never later.
func TestPostgresStallAnswersWithinRequestTimeout(t *testing.T) {
	t.Parallel()
	runDatabaseOutage(t, func(target string) databaseFault {
		p := faultproxy.Start(t, target)
		return databaseFault{name: "stall", addr: p.Addr(), fail: p.Stall, heal: p.Restore, minOutageCalls: 12}
	})
}

// runDatabaseOutage runs the binary on Postgres through the fault's proxy and
// breaks the link in the middle of steady traffic (writes and reads). While
// Postgres is unreachable every request answers promptly (within
// REQUEST_TIMEOUT) with a 503 problem and Retry-After, and /readyz turns 503
// within seconds. After the link is healed, /readyz is 200 again without a
// restart, new writes work, and every write acknowledged before or around the
// fault (201) is still there.
func runDatabaseOutage(t *testing.T, startFault func(target string) databaseFault) {
	const (
		requestTimeout = 3 * time.Second
		// slack covers scheduling on a loaded two-core machine; a request that
		// hangs on the database would take far longer.
		slack   = 2 * time.Second
		workers = 4
	)
	schemaURL := postgresSchemaURL(t)
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	fault := startFault(u.Host)
	u.Host = fault.addr
	in := startInstance(t, merged(sharedKeys(), generousRateLimits, map[string]string{
		"DATABASE_URL":    u.String(),
		"REQUEST_TIMEOUT": requestTimeout.String(),
	}))
	t.Cleanup(fault.heal) // runs before the instance is stopped, should the test end early
	user := verifiedSession(t, in, newAccount())
	tr := &outageTraffic{in: in, token: user.Access, client: &http.Client{
		Timeout:   requestTimeout + 30*time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: workers},
	}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	wg := tr.run(ctx, workers)
	defer wg.Wait()
	acked := func(after time.Time) int {
		n := 0
		for _, c := range tr.snapshot() {
			if c.status == http.StatusCreated && c.start.After(after) {
				n++
			}
		}
		return n
	}

	// Steady traffic first.
	waitUntil(t, 30*time.Second, "20 acknowledged writes before the fault", func() bool { return acked(time.Time{}) >= 20 })

	// Break the link.
	cutAt := time.Now()
	fault.fail()
	var readyzDown time.Duration
	waitUntil(t, 10*time.Second, "GET /readyz to answer 503 after the fault", func() bool {
		status, took := readyzStatus(in)
		if took > 2*time.Second+slack {
			t.Errorf("GET /readyz took %v during the outage", took)
		}
		readyzDown = time.Since(cutAt)
		return status == http.StatusServiceUnavailable
	})
	// Keep the outage up until enough requests have met it (at least a few
	// REQUEST_TIMEOUTs' worth of time, so a request stuck on the database would
	// show as one that took too long).
	outageCalls := func() int {
		n := 0
		for _, c := range tr.snapshot() {
			if c.start.After(cutAt) {
				n++
			}
		}
		return n
	}
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d requests during the outage", fault.minOutageCalls), func() bool {
		return outageCalls() >= fault.minOutageCalls && time.Since(cutAt) > 2*requestTimeout+slack
	})
	_, _, health := in.do(t, http.MethodGet, "/api/health", nil, "")
	if services, _ := health["services"].(map[string]any); services["database"] != "down" || health["status"] == "ok" {
		t.Errorf("GET /api/health during the outage: %v, want the database down", health)
	}

	// Restore: the same process recovers by itself.
	restoreAt := time.Now()
	fault.heal()
	var readyzUp time.Duration
	waitUntil(t, 30*time.Second, "GET /readyz to answer 200 after the restore", func() bool {
		status, _ := readyzStatus(in)
		readyzUp = time.Since(restoreAt)
		return status == http.StatusOK
	})
	waitUntil(t, 30*time.Second, "10 acknowledged writes after the restore", func() bool { return acked(restoreAt) >= 10 })
	stop()
	wg.Wait()

	// Every call answered in time; during the outage each answered 503.
	calls := tr.snapshot()
	statuses := map[string]map[int]int{"before": {}, "outage": {}, "after": {}}
	var slowest time.Duration
	var outageLatencies []time.Duration
	for _, c := range calls {
		phase := "before"
		switch {
		case c.start.After(restoreAt):
			phase = "after"
		case c.start.After(cutAt):
			phase = "outage"
		}
		statuses[phase][c.status]++
		slowest = max(slowest, c.took())
		if c.err != nil {
			t.Errorf("%s call at +%v (%s): %v", c.kind, c.start.Sub(cutAt).Round(time.Millisecond), phase, c.err)
			continue
		}
		if c.took() > requestTimeout+slack {
			t.Errorf("%s call at +%v (%s) took %v, longer than REQUEST_TIMEOUT=%v", c.kind, c.start.Sub(cutAt).Round(time.Millisecond), phase, c.took(), requestTimeout)
		}
		switch c.status {
		case http.StatusOK, http.StatusCreated:
			if phase == "outage" && c.end.Before(restoreAt) {
				t.Errorf("%s call at +%v succeeded (%d) while Postgres was unreachable", c.kind, c.start.Sub(cutAt).Round(time.Millisecond), c.status)
			}
		case http.StatusServiceUnavailable:
			if c.code != "SERVICE_UNAVAILABLE" || c.retryAfter == "" {
				t.Errorf("%s call answered 503 with code %q and Retry-After %q, want SERVICE_UNAVAILABLE and a Retry-After", c.kind, c.code, c.retryAfter)
			}
			if phase == "outage" && c.end.Before(restoreAt) {
				outageLatencies = append(outageLatencies, c.took())
			}
		default:
			t.Errorf("%s call at +%v (%s) answered %d %s, want 200/201, or 503 during the outage", c.kind, c.start.Sub(cutAt).Round(time.Millisecond), phase, c.status, c.code)
		}
	}
	if len(outageLatencies) == 0 {
		t.Fatal("no request answered 503 during the outage")
	}
	sort.Slice(outageLatencies, func(i, j int) bool { return outageLatencies[i] < outageLatencies[j] })
	t.Logf("statuses by phase: %v", statuses)
	t.Logf("%s: /readyz 503 after %v; 200 again %v after the restore; 503 answers during the outage: p50 %v, max %v; slowest call overall %v",
		fault.name, readyzDown.Round(time.Millisecond), readyzUp.Round(time.Millisecond),
		outageLatencies[len(outageLatencies)/2].Round(time.Millisecond), outageLatencies[len(outageLatencies)-1].Round(time.Millisecond),
		slowest.Round(time.Millisecond))

	// Every acknowledged write survived.
	var ids []string
	for _, c := range calls {
		if c.status == http.StatusCreated {
			ids = append(ids, c.id)
		}
	}
	for _, id := range ids {
		if id == "" {
			t.Error("a 201 without an id")
			continue
		}
		in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers/"+id, nil, user.Access)
	}
	header, _ := in.expect(t, http.StatusOK, http.MethodGet, "/api/v1/providers?per_page=1", nil, user.Access)
	var total int
	if _, err := fmt.Sscan(header.Get("X-Total-Count"), &total); err != nil || total < len(ids) {
		t.Errorf("X-Total-Count %q, want at least the %d acknowledged writes", header.Get("X-Total-Count"), len(ids))
	}
	t.Logf("%d acknowledged writes, all present afterwards (%d providers in all)", len(ids), total)
	if in.Exited() {
		t.Fatal("the instance exited during the outage")
	}
}
