package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// productionSecrets are the variables APP_ENV=production refuses to start without.
var productionSecrets = []string{"DATABASE_URL", "JWT_SIGNING_KEYS", "TOKEN_ENCRYPTION_KEYS", "SMTP_URL", "PUBLIC_BASE_URL"}

// configFailureTimeout bounds how long a start-up that must fail on its
// configuration may take: it needs no network or database, so anything near
// this limit means it tried to do more than read the environment.
const configFailureTimeout = 15 * time.Second

// namesMissing reports whether some line of stderr names variable as required.
func namesMissing(stderr, variable string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, variable) && strings.Contains(line, "required") {
			return true
		}
	}
	return false
}

// TestProductionRefusesToStartWithoutSecrets checks that APP_ENV=production
// never falls back to a development default: without its secrets the binary
// exits non-zero at once, naming each missing variable, and writes no
// development keys.
func TestProductionRefusesToStartWithoutSecrets(t *testing.T) {
	t.Parallel()

	t.Run("nothing set", func(t *testing.T) {
		t.Parallel()
		res := runBinaryWithin(t, configFailureTimeout, map[string]string{"APP_ENV": "production"}, "serve")
		if res.Code == 0 {
			t.Fatalf("exit status 0, want non-zero\nstderr:\n%s", res.Stderr)
		}
		for _, name := range productionSecrets {
			if !namesMissing(res.Stderr, name) {
				t.Errorf("stderr does not name the missing %s:\n%s", name, res.Stderr)
			}
		}
		if res.Stdout != "" {
			t.Errorf("stdout = %q, want nothing", res.Stdout)
		}
		entries, err := os.ReadDir(res.Dir)
		if err != nil || len(entries) != 0 {
			t.Errorf("the working directory holds %d entries (%v), want none: production must not create ./data or development keys", len(entries), err)
		}
		t.Logf("exited with status %d after %v", res.Code, res.Elapsed.Round(time.Millisecond))
	})

	t.Run("only SMTP_URL missing", func(t *testing.T) {
		t.Parallel()
		keys := sharedKeys()
		env := map[string]string{
			"APP_ENV": "production",
			// Unreachable, and never dialled: the configuration is refused first.
			"DATABASE_URL":    "postgres://dashtam@127.0.0.1:1/dashtam?sslmode=disable",
			"PUBLIC_BASE_URL": "https://api.dashtam.test",
		}
		for k, v := range keys {
			env[k] = v
		}
		res := runBinaryWithin(t, configFailureTimeout, env, "serve")
		if res.Code == 0 {
			t.Fatalf("exit status 0, want non-zero\nstderr:\n%s", res.Stderr)
		}
		if !namesMissing(res.Stderr, "SMTP_URL") {
			t.Errorf("stderr does not name the missing SMTP_URL:\n%s", res.Stderr)
		}
		for _, name := range productionSecrets {
			if name != "SMTP_URL" && namesMissing(res.Stderr, name) {
				t.Errorf("stderr names %s as missing although it is set:\n%s", name, res.Stderr)
			}
		}
		for name, value := range keys {
			if strings.Contains(res.Stderr, strings.TrimPrefix(value, "e2e:")) {
				t.Errorf("stderr quotes the secret of %s", name)
			}
		}
	})
}

// migrationState is one line of `dashtam migrate status`.
type migrationState struct {
	file    string
	applied bool
}

// migrationStatus runs `migrate status` and returns each migration's state by
// version, failing the test when the command fails or prints something else.
func migrationStatus(t *testing.T, env map[string]string) map[string]migrationState {
	t.Helper()
	res := runBinary(t, env, "migrate", "status")
	if res.Code != 0 {
		t.Fatalf("migrate status: exit status %d\nstderr:\n%s", res.Code, res.Stderr)
	}
	out := map[string]migrationState{}
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[2] != "pending" && f[2] != "applied") {
			t.Fatalf("migrate status: unexpected line %q in:\n%s", line, res.Stdout)
		}
		out[f[0]] = migrationState{file: f[1], applied: f[2] == "applied"}
	}
	return out
}

// migrate runs `migrate direction` and fails the test unless it exits 0.
func migrate(t *testing.T, env map[string]string, direction string) {
	t.Helper()
	res := runBinary(t, env, "migrate", direction)
	if res.Code != 0 {
		t.Fatalf("migrate %s: exit status %d\nstderr:\n%s", direction, res.Code, res.Stderr)
	}
}

// TestMigrateCommand drives `dashtam migrate status|up|down` on a fresh SQLite
// DATA_DIR and checks that status lists every migration (the SQL ones in
// migrations/sqlite, the Go ones numbered in migrations/) with the right state
// after each step, then that the migrated database serves with
// AUTO_MIGRATE=false.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(moduleRoot, "migrations", "sqlite", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SQLite migrations found under %s (%v)", moduleRoot, err)
	}
	goFiles, err := filepath.Glob(filepath.Join(moduleRoot, "migrations", "[0-9]*_*.go"))
	if err != nil || len(goFiles) == 0 {
		t.Fatalf("no Go migrations found under %s (%v)", moduleRoot, err)
	}
	files = append(files, goFiles...)
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	versions := make([]string, len(files))
	for i, f := range files {
		files[i] = filepath.Base(f)
		versions[i], _, _ = strings.Cut(files[i], "_")
	}
	latest := versions[len(versions)-1]
	env := map[string]string{"DATA_DIR": t.TempDir()}

	// want checks the status against "every migration applied except pending".
	want := func(step string, pending ...string) {
		t.Helper()
		got := migrationStatus(t, env)
		if len(got) != len(versions) {
			t.Errorf("after %s: status lists %d migrations, want %d (%v)", step, len(got), len(versions), files)
		}
		for i, v := range versions {
			st, ok := got[v]
			switch {
			case !ok:
				t.Errorf("after %s: status does not list migration %s", step, v)
			case st.file != files[i]:
				t.Errorf("after %s: migration %s is %q, want %q", step, v, st.file, files[i])
			case st.applied == slices.Contains(pending, v):
				t.Errorf("after %s: migration %s applied = %v", step, v, st.applied)
			}
		}
	}

	want("nothing", versions...)
	migrate(t, env, "up")
	want("up")
	migrate(t, env, "down")
	want("down", latest)
	migrate(t, env, "up")
	want("up again")

	// The schema the command built is the one the server needs.
	in := startInstance(t, map[string]string{"DATA_DIR": env["DATA_DIR"], "AUTO_MIGRATE": "false"})
	a := newAccount()
	register(t, in, a)
	stopCleanly(t, in)
}

// TestGracefulShutdownLetsInFlightWorkFinish holds a registration request in
// flight (its body half sent) and the job that mails its verification link
// running (the SMTP server does not answer MAIL until told to), sends
// SIGTERM, and checks that the instance stops accepting connections but still
// answers the request with 201 and delivers the email before it exits 0.
func TestGracefulShutdownLetsInFlightWorkFinish(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	in := startInstance(t, map[string]string{"SMTP_URL": mb.URL("", "")})
	entered := mb.hold()

	// A first registration's mail job reaches the SMTP server and is held.
	first := newAccount()
	register(t, in, first)
	select {
	case <-entered:
	case <-time.After(logTimeout):
		t.Fatalf("the verification mail's job did not reach the SMTP server within %v", logTimeout)
	}

	// A second registration is in flight: its body is half sent.
	second := newAccount()
	body, err := json.Marshal(map[string]string{"email": second.Email, "password": second.Password, "name": second.Name})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", in.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	head := fmt.Sprintf("POST /api/v1/users HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", in.Addr, len(body))
	if _, err := conn.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
		t.Fatal(err)
	}
	// Signal only once the server is handling it (a connection whose request
	// it has not even read yet would be closed as idle): the request in flight
	// and the /metrics request asking.
	waitUntil(t, logTimeout, "the registration to be in flight", func() bool {
		return metricValue(in.BaseURL, "http_requests_in_flight") >= 2
	})

	in.Signal(t, syscall.SIGTERM)
	in.waitForLog(t, "announcing the shutdown", func(r logRecord) bool {
		return strings.HasPrefix(r.str("msg"), "shutting down")
	})
	waitUntil(t, logTimeout, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", in.Addr, time.Second)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	})
	if in.Exited() {
		t.Fatal("the process exited with a request in flight and a job running")
	}

	// The request completes.
	if _, err := conn.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(requestTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the in-flight registration got no answer: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight registration: status %d, want 201", resp.StatusCode)
	}
	if in.Exited() {
		t.Fatal("the process exited with a job running")
	}

	// The job completes, then the process exits.
	mb.release()
	mb.waitForMessage(t, first.Email)
	if code := in.Wait(t, stopTimeout); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}

	// The log tells the same story in order.
	order := map[string]int{}
	for i, r := range in.LogRecords() {
		switch {
		case strings.HasPrefix(r.str("msg"), "shutting down"):
			order["shutting down"] = i
		case r.str("msg") == "request" && r.str("route") == "/api/v1/users" && r["status"] == float64(http.StatusCreated):
			order["registration"] = i
		case r.str("msg") == "stopped":
			order["stopped"] = i
		}
	}
	if len(order) != 3 || order["shutting down"] >= order["registration"] || order["registration"] >= order["stopped"] {
		t.Errorf("log lines (by index) %v: want shutting down < registration < stopped", order)
	}
}

// Hardening item 17: METRICS_ADDR serves GET /metrics on an internal listener
// of its own, and nothing else there.
func TestMetricsOnAnInternalListener(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	in := startInstance(t, map[string]string{"METRICS_ADDR": addr})
	client := &http.Client{Timeout: requestTimeout}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics on METRICS_ADDR: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "http_requests_total") && !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("GET /metrics on METRICS_ADDR: %d, want 200 with the metrics", resp.StatusCode)
	}
	resp, err = client.Get("http://" + addr + "/api/v1/users/me")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the API on METRICS_ADDR: %d, want 404 (metrics only)", resp.StatusCode)
	}
	stopCleanly(t, in)
}

// metricValue reads one unlabelled metric from base's /metrics (-1 when it
// cannot).
func metricValue(base, name string) float64 {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return -1
}
