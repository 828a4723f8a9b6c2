package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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

// TestGracefulShutdownLetsInFlightRequestFinish holds a registration in flight
// (the SMTP server does not answer MAIL until told to), sends SIGTERM, and checks
// that the instance stops accepting connections but still completes that
// request with 201 and delivers its email before it exits 0.
func TestGracefulShutdownLetsInFlightRequestFinish(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	in := startInstance(t, map[string]string{"SMTP_URL": mb.URL("", "")})
	a := newAccount()

	entered := mb.hold()
	type result struct {
		status int
		body   map[string]any
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, _, body, err := in.request(http.MethodPost, "/api/v1/users",
			map[string]string{"email": a.Email, "password": a.Password, "name": a.Name}, "")
		done <- result{status, body, err}
	}()
	select {
	case <-entered:
	case r := <-done:
		t.Fatalf("the registration finished (%d %v %v) before it reached the SMTP server", r.status, r.body, r.err)
	case <-time.After(logTimeout):
		t.Fatalf("the registration did not reach the SMTP server within %v", logTimeout)
	}

	in.Signal(t, syscall.SIGTERM)
	in.waitForLog(t, "announcing the shutdown", func(r logRecord) bool {
		return strings.HasPrefix(r.str("msg"), "shutting down")
	})
	waitUntil(t, logTimeout, "the listener to close", func() bool {
		conn, err := net.DialTimeout("tcp", in.Addr, time.Second)
		if err != nil {
			return true
		}
		_ = conn.Close()
		return false
	})
	select {
	case r := <-done:
		t.Fatalf("the held registration finished before the SMTP server answered: %d %v %v", r.status, r.body, r.err)
	default:
	}
	if in.Exited() {
		t.Fatal("the process exited with a request in flight")
	}

	mb.release()
	var r result
	select {
	case r = <-done:
	case <-time.After(requestTimeout):
		t.Fatalf("the in-flight registration did not finish within %v of the SMTP server answering", requestTimeout)
	}
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight registration: status %d, body %v, error %v; want 201", r.status, r.body, r.err)
	}
	if code := in.Wait(t, stopTimeout); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	mb.waitForMessage(t, a.Email)

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
