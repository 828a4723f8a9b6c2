package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Soak test knobs.
const (
	soakWorkers = 8
	// soakMaxRequests bounds the run by count as well as by time.
	soakMaxRequests = 5_000_000
	// soakRSSGrowth is how much larger the mean RSS of the last third of the run
	// may be than that of the middle third.
	soakRSSGrowth = 1.5
	// soakGoroutineSlack is how many goroutines above the pre-load baseline the
	// server may still run once the load has stopped and settled.
	soakGoroutineSlack = 10
	// soakWarmup is how long after its start the server has every background
	// service running: River elects a leader within its elect interval (5 s
	// and jitter) and only then starts its maintenance services, goroutines
	// that live as long as the process. The goroutine baseline is taken after
	// it, once the count holds still.
	soakWarmup = 8 * time.Second
)

// soakOp is one kind of request of the soak mix.
type soakOp struct {
	name   string
	weight int
}

// soakMix is the traffic: mostly reads, a steady share of writes and token
// refreshes, and a few logins (each with a logout of the previous session).
var soakMix = []soakOp{
	{"GET /providers", 28},
	{"GET /users/me", 20},
	{"GET /providers/{id}", 10},
	{"POST /providers", 10}, // a DELETE instead once the worker holds many
	{"PATCH /providers/{id}", 12},
	{"POST /tokens", 14},
	{"POST /sessions", 3}, // followed by DELETE /sessions/current of the old session
}

// soakStats is what one worker measured.
type soakStats struct {
	latencies  map[string][]time.Duration
	errors     map[string]int // unexpected answers (any status but the one wanted)
	serverErrs map[string]int // 5xx answers
	examples   []string       // a few unexpected answers, for the failure message
}

func newSoakStats() *soakStats {
	return &soakStats{latencies: map[string][]time.Duration{}, errors: map[string]int{}, serverErrs: map[string]int{}}
}

// soakClient sends the soak's requests over a pool of kept-alive connections
// (one per worker), as a real client would.
type soakClient struct {
	base string
	http *http.Client
}

func (c *soakClient) do(method, path string, body any, token string) (int, map[string]any, error) {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, reader)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var decoded map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &decoded); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("body is not a JSON object: %w", err)
		}
	}
	return resp.StatusCode, decoded, nil
}

// soakWorker is one simulated client: its own account, session and providers.
type soakWorker struct {
	id        int
	c         *soakClient
	acc       account
	pair      tokenPair
	providers []string
	aliases   int
	rng       *rand.Rand
	stats     *soakStats
}

// call sends one request, records its latency under kind and checks its status.
func (w *soakWorker) call(kind string, want int, method, path string, body any, token string) (map[string]any, bool) {
	start := time.Now()
	status, decoded, err := w.c.do(method, path, body, token)
	w.stats.latencies[kind] = append(w.stats.latencies[kind], time.Since(start))
	if status >= 500 {
		w.stats.serverErrs[kind]++
	}
	if err != nil || status != want {
		w.stats.errors[kind]++
		if len(w.stats.examples) < 5 {
			w.stats.examples = append(w.stats.examples, fmt.Sprintf("%s: status %d (want %d), code %v, error %v", kind, status, want, decoded["code"], err))
		}
		return decoded, false
	}
	return decoded, true
}

func (w *soakWorker) newAlias() string {
	w.aliases++
	return fmt.Sprintf("Soak %d-%06d", w.id, w.aliases)
}

func (w *soakWorker) pick() string {
	total := 0
	for _, op := range soakMix {
		total += op.weight
	}
	n := w.rng.IntN(total)
	for _, op := range soakMix {
		if n < op.weight {
			return op.name
		}
		n -= op.weight
	}
	return soakMix[0].name
}

// step sends one operation of the mix (two requests for a login).
func (w *soakWorker) step() int {
	op := w.pick()
	if len(w.providers) == 0 && (op == "GET /providers/{id}" || op == "PATCH /providers/{id}") {
		op = "POST /providers"
	}
	switch op {
	case "GET /providers":
		w.call(op, http.StatusOK, http.MethodGet, "/api/v1/providers?per_page=20", nil, w.pair.Access)
	case "GET /users/me":
		w.call(op, http.StatusOK, http.MethodGet, "/api/v1/users/me", nil, w.pair.Access)
	case "GET /providers/{id}":
		id := w.providers[w.rng.IntN(len(w.providers))]
		w.call(op, http.StatusOK, http.MethodGet, "/api/v1/providers/"+id, nil, w.pair.Access)
	case "POST /providers":
		if len(w.providers) >= 12 {
			i := w.rng.IntN(len(w.providers))
			if _, ok := w.call("DELETE /providers/{id}", http.StatusNoContent, http.MethodDelete, "/api/v1/providers/"+w.providers[i], nil, w.pair.Access); ok {
				w.providers = slices.Delete(w.providers, i, i+1)
			}
			return 1
		}
		if body, ok := w.call(op, http.StatusCreated, http.MethodPost, "/api/v1/providers", map[string]string{"provider_key": "sandbox", "alias": w.newAlias()}, w.pair.Access); ok {
			if id, _ := body["id"].(string); id != "" {
				w.providers = append(w.providers, id)
			}
		}
	case "PATCH /providers/{id}":
		id := w.providers[w.rng.IntN(len(w.providers))]
		w.call(op, http.StatusOK, http.MethodPatch, "/api/v1/providers/"+id, map[string]string{"alias": w.newAlias()}, w.pair.Access)
	case "POST /tokens":
		if body, ok := w.call(op, http.StatusCreated, http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": w.pair.Refresh}, ""); ok {
			w.adopt(body)
		}
	case "POST /sessions":
		old := w.pair
		if body, ok := w.call(op, http.StatusCreated, http.MethodPost, "/api/v1/sessions", map[string]string{"email": w.acc.Email, "password": w.acc.Password}, ""); ok {
			w.adopt(body)
			w.call("DELETE /sessions/current", http.StatusNoContent, http.MethodDelete, "/api/v1/sessions/current", nil, old.Access)
			return 2
		}
	}
	return 1
}

// adopt takes the token pair of a 201 grant.
func (w *soakWorker) adopt(body map[string]any) {
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	if access != "" && refresh != "" {
		w.pair.Access, w.pair.Refresh = access, refresh
	}
}

// soakSample is one reading of the server process.
type soakSample struct {
	at         time.Duration // since the load started
	rssKiB     int64
	goroutines int // -1 when /metrics does not serve go_goroutines
}

// processRSS reads VmRSS (KiB) from /proc/<pid>/status.
func processRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// metricsGoroutines reads the Prometheus gauge go_goroutines from GET /metrics;
// ok is false when the instance does not serve it. It uses a connection of its
// own that is closed afterwards, so it leaves no server goroutine behind.
// settledGoroutines reads go_goroutines until two readings a second apart
// agree (at most ten seconds), and returns the last.
func settledGoroutines(base string) (n int, ok bool) {
	n, ok = metricsGoroutines(base)
	for range 10 {
		if !ok {
			return n, ok
		}
		time.Sleep(time.Second)
		next, nextOK := metricsGoroutines(base)
		if nextOK && next == n {
			return n, true
		}
		n, ok = next, nextOK
	}
	return n, ok
}

func metricsGoroutines(base string) (n int, ok bool) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, found := strings.CutPrefix(sc.Text(), "go_goroutines "); found {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return 0, false
			}
			return int(f), true
		}
	}
	return 0, false
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func meanRSS(samples []soakSample) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum int64
	for _, s := range samples {
		sum += s.rssKiB
	}
	return float64(sum) / float64(len(samples))
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// TestSoak runs the real binary under a steady mixed load for DASHTAM_SOAK (a
// duration such as 20s; `make soak` uses 3m) and checks that it stays healthy:
// no 5xx and no unexpected answer at all, no upward trend of its memory (RSS),
// and, where GET /metrics serves go_goroutines, goroutines back near their
// baseline once the load has stopped. It uses Postgres when TEST_DATABASE_URL is
// set and the embedded SQLite database otherwise. It is skipped unless
// DASHTAM_SOAK is set, and prints a summary table.
func TestSoak(t *testing.T) {
	raw := os.Getenv("DASHTAM_SOAK")
	if raw == "" {
		t.Skip("set DASHTAM_SOAK to a duration such as 20s to run the soak test (`make soak` runs it for 3m)")
	}
	duration, err := time.ParseDuration(raw)
	if err != nil || duration <= 0 {
		t.Fatalf("DASHTAM_SOAK=%q: want a positive duration such as 20s or 3m", raw)
	}
	if runtime.GOOS != "linux" {
		t.Skip("the soak test reads the server's memory from /proc")
	}
	env := merged(sharedKeys(), generousRateLimits)
	database := "SQLite"
	if os.Getenv("TEST_DATABASE_URL") != "" {
		env["DATABASE_URL"] = postgresSchemaURL(t)
		database = "Postgres"
	}
	started := time.Now()
	in := startInstance(t, env)
	pid := in.cmd.Process.Pid
	transport := &http.Transport{Proxy: nil, MaxIdleConns: 2 * soakWorkers, MaxIdleConnsPerHost: 2 * soakWorkers}
	client := &soakClient{base: in.BaseURL, http: &http.Client{Timeout: requestTimeout, Transport: transport}}

	// Each worker is a person with a verified account, a session and a few
	// providers.
	workers := make([]*soakWorker, soakWorkers)
	for i := range workers {
		acc := newAccount()
		w := &soakWorker{id: i, c: client, acc: acc, pair: verifiedSession(t, in, acc), rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))), stats: newSoakStats()}
		for j := 0; j < 3; j++ {
			w.providers = append(w.providers, createProvider(t, in, w.pair.Access, "sandbox", w.newAlias()))
		}
		workers[i] = w
	}

	transport.CloseIdleConnections()
	time.Sleep(time.Until(started.Add(soakWarmup)))
	baselineGoroutines, haveMetrics := settledGoroutines(in.BaseURL)
	if !haveMetrics {
		t.Log("GET /metrics does not serve go_goroutines: recording RSS only (goroutines are not measured)")
	}

	// Sample the server while the load runs.
	every := min(max(duration/40, 500*time.Millisecond), 5*time.Second)
	var (
		samplesMu sync.Mutex
		samples   []soakSample
	)
	loadStart := time.Now()
	sample := func() {
		rss, err := processRSS(pid)
		if err != nil {
			t.Errorf("reading the server's RSS: %v", err)
			return
		}
		g := -1
		if haveMetrics {
			if n, ok := metricsGoroutines(in.BaseURL); ok {
				g = n
			}
		}
		samplesMu.Lock()
		samples = append(samples, soakSample{at: time.Since(loadStart), rssKiB: rss, goroutines: g})
		samplesMu.Unlock()
	}
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		sample()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				sample()
			}
		}
	}()

	// The load.
	deadline := loadStart.Add(duration)
	var sent atomic.Int64
	var load sync.WaitGroup
	for _, w := range workers {
		load.Add(1)
		go func() {
			defer load.Done()
			for time.Now().Before(deadline) && sent.Load() < soakMaxRequests {
				sent.Add(int64(w.step()))
			}
		}()
	}
	load.Wait()
	elapsed := time.Since(loadStart)
	close(stopSampling)
	sampling.Wait()

	// After the load: the server's goroutines go back near the baseline.
	transport.CloseIdleConnections()
	afterGoroutines := -1
	if haveMetrics {
		settle := time.Now().Add(15 * time.Second)
		for {
			n, ok := metricsGoroutines(in.BaseURL)
			if ok {
				afterGoroutines = n
			}
			if (ok && n <= baselineGoroutines+soakGoroutineSlack) || time.Now().After(settle) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// Merge and report.
	all := newSoakStats()
	for _, w := range workers {
		for k, v := range w.stats.latencies {
			all.latencies[k] = append(all.latencies[k], v...)
		}
		for k, v := range w.stats.errors {
			all.errors[k] += v
		}
		for k, v := range w.stats.serverErrs {
			all.serverErrs[k] += v
		}
		all.examples = append(all.examples, w.stats.examples...)
	}
	kinds := make([]string, 0, len(all.latencies))
	for k := range all.latencies {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var table strings.Builder
	fmt.Fprintf(&table, "soak: %v, %d workers, %s, on %d CPUs\n", elapsed.Round(time.Second), soakWorkers, database, runtime.NumCPU())
	fmt.Fprintf(&table, "| %-24s | %9s | %6s | %4s | %9s | %9s |\n", "request", "count", "errors", "5xx", "p50", "p99")
	fmt.Fprintf(&table, "|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 26), strings.Repeat("-", 11), strings.Repeat("-", 8), strings.Repeat("-", 6), strings.Repeat("-", 11), strings.Repeat("-", 11))
	var everything []time.Duration
	totalErrors, total5xx := 0, 0
	for _, k := range kinds {
		lat := all.latencies[k]
		slices.Sort(lat)
		everything = append(everything, lat...)
		totalErrors += all.errors[k]
		total5xx += all.serverErrs[k]
		fmt.Fprintf(&table, "| %-24s | %9d | %6d | %4d | %9s | %9s |\n", k, len(lat), all.errors[k], all.serverErrs[k], fmtMs(percentile(lat, 0.50)), fmtMs(percentile(lat, 0.99)))
	}
	slices.Sort(everything)
	fmt.Fprintf(&table, "| %-24s | %9d | %6d | %4d | %9s | %9s |\n", "all", len(everything), totalErrors, total5xx, fmtMs(percentile(everything, 0.50)), fmtMs(percentile(everything, 0.99)))
	fmt.Fprintf(&table, "throughput: %.0f requests/s\n", float64(len(everything))/elapsed.Seconds())

	samplesMu.Lock()
	got := append([]soakSample(nil), samples...)
	samplesMu.Unlock()
	if len(got) == 0 {
		t.Fatal("no memory samples")
	}
	minRSS, maxRSS := got[0].rssKiB, got[0].rssKiB
	peakGoroutines := -1
	for _, s := range got {
		minRSS, maxRSS = min(minRSS, s.rssKiB), max(maxRSS, s.rssKiB)
		peakGoroutines = max(peakGoroutines, s.goroutines)
	}
	third := len(got) / 3
	middle, last := got[third:2*third], got[2*third:]
	fmt.Fprintf(&table, "RSS: min %.1f MiB, max %.1f MiB; mean of the middle third %.1f MiB, of the last third %.1f MiB (%d samples every %v)\n",
		float64(minRSS)/1024, float64(maxRSS)/1024, meanRSS(middle)/1024, meanRSS(last)/1024, len(got), every)
	series := make([]string, len(got))
	for i, s := range got {
		series[i] = fmt.Sprintf("%.0f", float64(s.rssKiB)/1024)
	}
	fmt.Fprintf(&table, "RSS samples (MiB): %s\n", strings.Join(series, " "))
	if haveMetrics {
		fmt.Fprintf(&table, "goroutines: baseline %d, peak %d, %d after the load stopped\n", baselineGoroutines, peakGoroutines, afterGoroutines)
	} else {
		fmt.Fprintf(&table, "goroutines: not measured (GET /metrics does not serve go_goroutines)\n")
	}
	t.Log("\n" + table.String())
	if path := os.Getenv("DASHTAM_SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table.String()), 0o644); err != nil {
			t.Errorf("DASHTAM_SOAK_REPORT: %v", err)
		}
	}

	// Verdicts.
	if len(everything) == 0 {
		t.Fatal("the soak sent no request")
	}
	if total5xx > 0 {
		t.Errorf("%d answers were 5xx, want none", total5xx)
	}
	if totalErrors > 0 {
		t.Errorf("%d answers were not the expected status; examples:\n%s", totalErrors, strings.Join(all.examples, "\n"))
	}
	if len(got) >= 6 && meanRSS(last) > soakRSSGrowth*meanRSS(middle) {
		t.Errorf("RSS grows: the last third of the run averages %.1f MiB, over %.1fx the middle third's %.1f MiB",
			meanRSS(last)/1024, soakRSSGrowth, meanRSS(middle)/1024)
	}
	if haveMetrics && (afterGoroutines < 0 || afterGoroutines > baselineGoroutines+soakGoroutineSlack) {
		t.Errorf("goroutines: %d after the load stopped and settled, want at most the baseline %d + %d", afterGoroutines, baselineGoroutines, soakGoroutineSlack)
	}
	if in.Exited() {
		t.Fatal("the server exited during the soak")
	}
}

// TestMetricsGoroutinesReadsPrometheusText pins the soak's reading of
// go_goroutines, which no instance serves yet, against a Prometheus text page.
func TestMetricsGoroutinesReadsPrometheusText(t *testing.T) {
	t.Parallel()
	page := "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_threads 9\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, page)
	}))
	defer srv.Close()
	if n, ok := metricsGoroutines(srv.URL); !ok || n != 42 {
		t.Errorf("metricsGoroutines = %d, %v; want 42, true", n, ok)
	}
	if _, ok := metricsGoroutines(srv.URL + "/nowhere"); ok {
		t.Error("metricsGoroutines found goroutines on a 404")
	}
}
