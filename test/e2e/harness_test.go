package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/testlog"
)

// Time limits of the harness. They are generous on purpose: the tests must pass
// on a loaded two-core machine, and every wait polls, so a fast machine does not
// pay for them.
const (
	readyTimeout   = 20 * time.Second // from start until GET /readyz answers 200
	stopTimeout    = 10 * time.Second // from SIGTERM until the process has exited
	commandTimeout = 60 * time.Second // a one-shot command such as migrate up
	requestTimeout = 30 * time.Second // one HTTP request of the JSON client
	logTimeout     = 10 * time.Second // until an expected log line shows up
	pollInterval   = 25 * time.Millisecond
)

// binaryPath is the dashtam binary TestMain builds; moduleRoot is the directory
// holding go.mod.
var binaryPath, moduleRoot string

// TestMain builds the binary once for every test of the package.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	moduleRoot = root
	dir, err := os.MkdirTemp("", "dashtam-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	binaryPath = filepath.Join(dir, "dashtam")
	build := exec.Command("go", "build", "-o", binaryPath, "./bootstrap/cmd/dashtam")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building the binary: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findModuleRoot asks the go command where go.mod is.
func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the dashtam module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// baseEnv is the environment every run of the binary starts from: only PATH and
// HOME of the test's own environment, so that a developer's DATABASE_URL or
// SMTP_URL can never leak into a test.
func baseEnv() map[string]string {
	return map[string]string{"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME")}
}

// environ turns layers of variables into an exec environment; later layers win.
func environ(layers ...map[string]string) []string {
	merged := map[string]string{}
	for _, layer := range layers {
		for k, v := range layer {
			merged[k] = v
		}
	}
	out := make([]string, 0, len(merged))
	for k, v := range merged {
		out = append(out, k+"="+v)
	}
	return out
}

// sharedKeys returns a fresh JWT_SIGNING_KEYS and TOKEN_ENCRYPTION_KEYS pair, for
// running without generated development keys, or for several instances that must
// accept each other's tokens.
func sharedKeys() map[string]string {
	key := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	return map[string]string{
		"JWT_SIGNING_KEYS":      "e2e:" + key(),
		"TOKEN_ENCRYPTION_KEYS": "e2e:" + key(),
	}
}

// Instance is one running `dashtam serve` process.
type Instance struct {
	// BaseURL is where the test reaches the instance, such as
	// http://127.0.0.1:41234.
	BaseURL string
	// PublicBaseURL is its PUBLIC_BASE_URL: BaseURL unless the test set another.
	// It is the JWT issuer and audience and the origin of emailed links, so the
	// instances of one cluster must share it.
	PublicBaseURL string
	// Addr is the HTTP_ADDR it listens on.
	Addr string
	// DataDir is its DATA_DIR.
	DataDir string

	// peers are the other instances of its cluster (cluster): a job this
	// instance enqueues, such as a mail, may run on any of them.
	peers []*Instance

	cmd    *exec.Cmd
	stdout testlog.Buffer
	stderr testlog.Buffer
	exited chan struct{} // closed once the process has exited and its output is read
	client *http.Client
	// stopping is set once the test has asked the process to end, so that the
	// clean-up can tell an expected exit from a crash.
	stopping atomic.Bool
}

// errPortTaken means another process took the port between choosing and binding
// it; startInstance then tries another one.
var errPortTaken = errors.New("address already in use")

// startInstance starts `dashtam serve` and waits (up to readyTimeout) until it
// has logged that it listens and GET /readyz answers 200. The environment is PATH and HOME, HTTP_ADDR (a free loopback port), DATA_DIR (a
// fresh t.TempDir), PUBLIC_BASE_URL (http://HTTP_ADDR), a generous
// RATE_LIMIT_AUTH so that a journey's logins are not throttled, and then env,
// which overrides any of them. When the test ends the process gets SIGTERM and
// must exit with status 0 within stopTimeout, which checks graceful shutdown in
// every test.
func startInstance(t testing.TB, env map[string]string) *Instance {
	t.Helper()
	dataDir := env["DATA_DIR"]
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		addr := env["HTTP_ADDR"]
		if addr == "" {
			addr = freeAddr(t)
		}
		defaults := map[string]string{
			"HTTP_ADDR":       addr,
			"DATA_DIR":        dataDir,
			"PUBLIC_BASE_URL": "http://" + addr,
			"RATE_LIMIT_AUTH": "1000-M",
		}
		in, err := launch(t, addr, dataDir, environ(baseEnv(), defaults, env))
		if err == nil {
			in.PublicBaseURL = strings.TrimRight(defaults["PUBLIC_BASE_URL"], "/")
			if v := env["PUBLIC_BASE_URL"]; v != "" {
				in.PublicBaseURL = strings.TrimRight(v, "/")
			}
			t.Cleanup(func() { in.cleanup(t) })
			return in
		}
		if errors.Is(err, errPortTaken) && env["HTTP_ADDR"] == "" && attempt < attempts {
			t.Logf("port of %s was taken; trying another", addr)
			continue
		}
		t.Fatalf("starting dashtam: %v", err)
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// launch starts the process and waits until it has logged that it listens on
// addr and GET /readyz answers 200. On failure the process is gone when it
// returns.
func launch(t testing.TB, addr, dataDir string, env []string) (*Instance, error) {
	t.Helper()
	in := &Instance{
		BaseURL: "http://" + addr,
		Addr:    addr,
		DataDir: dataDir,
		exited:  make(chan struct{}),
		client:  &http.Client{Timeout: requestTimeout, Transport: &http.Transport{Proxy: nil}},
	}
	in.cmd = exec.Command(binaryPath, "serve")
	in.cmd.Env = env
	in.cmd.Dir = dataDir // so that a relative path can only land in the temporary directory
	in.cmd.Stdout = &in.stdout
	in.cmd.Stderr = &in.stderr
	in.cmd.WaitDelay = 5 * time.Second
	if err := in.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = in.cmd.Wait()
		close(in.exited)
	}()

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-in.exited:
			if strings.Contains(in.Logs(), "address already in use") {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("the process exited with status %d before it was ready\nlogs:\n%s",
				in.cmd.ProcessState.ExitCode(), in.Logs())
		default:
		}
		// Another process may hold the port (a parallel test's instance that was
		// handed the same free port): only a 200 after this process said it
		// listens on the address counts.
		if in.listening() && in.ready() {
			return in, nil
		}
		if time.Now().After(deadline) {
			in.kill()
			return nil, fmt.Errorf("not ready within %v (a log line with addr %s and GET /readyz 200)\nlogs:\n%s", readyTimeout, addr, in.Logs())
		}
		time.Sleep(pollInterval)
	}
}

// listening reports whether the process has logged that it listens on Addr
// (a record with the attribute addr equal to it).
func (in *Instance) listening() bool {
	for _, r := range in.LogRecords() {
		if r.str("addr") == in.Addr {
			return true
		}
	}
	return false
}

// ready reports whether GET /readyz answers 200 right now.
func (in *Instance) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.BaseURL+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Logs returns everything the process has written so far: stderr (the JSON log)
// followed by stdout.
func (in *Instance) Logs() string { return in.stderr.String() + in.stdout.String() }

// Signal sends sig to the process (a process that has already exited is not an
// error).
func (in *Instance) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	in.stopping.Store(true)
	// Close the test's idle connections first: a connection the transport
	// dialed but never used is, to the server, one whose request has not
	// arrived yet, and graceful shutdown waits up to 5 s for it.
	in.client.CloseIdleConnections()
	if err := in.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit status.
// When it does not exit in time the test fails, the process is asked for a
// goroutine dump (SIGQUIT, shown with the logs) and then killed, and Wait
// returns -1.
func (in *Instance) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-in.exited:
		return in.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
	}
	_ = in.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-in.exited:
	case <-time.After(5 * time.Second):
		in.kill()
	}
	t.Errorf("dashtam did not exit within %v\nlogs:\n%s", timeout, in.Logs())
	return -1
}

// Stop sends SIGTERM and returns the exit status, failing the test when the
// process does not exit within stopTimeout.
func (in *Instance) Stop(t testing.TB) int {
	t.Helper()
	in.Signal(t, syscall.SIGTERM)
	return in.Wait(t, stopTimeout)
}

// Exited reports whether the process has ended.
func (in *Instance) Exited() bool {
	select {
	case <-in.exited:
		return true
	default:
		return false
	}
}

func (in *Instance) kill() {
	_ = in.cmd.Process.Kill()
	<-in.exited
}

// cleanup stops the process unless the test did, and fails the test when the
// process crashed during it or did not shut down cleanly. The logs are shown
// whenever the test has failed.
func (in *Instance) cleanup(t testing.TB) {
	t.Helper()
	defer in.client.CloseIdleConnections()
	switch {
	case in.Exited() && !in.stopping.Load():
		t.Errorf("dashtam exited during the test with status %d", in.cmd.ProcessState.ExitCode())
	case !in.Exited():
		if code := in.Stop(t); code != 0 {
			t.Errorf("dashtam exited with status %d after SIGTERM, want 0 (graceful shutdown)", code)
		}
	}
	if t.Failed() {
		t.Logf("logs of the dashtam instance at %s:\n%s", in.BaseURL, in.Logs())
	}
}

// do sends one request and decodes a JSON answer, failing the test when the
// request cannot be made or the body is not JSON; see request.
func (in *Instance) do(t testing.TB, method, path string, body any, token string) (int, http.Header, map[string]any) {
	t.Helper()
	status, header, decoded, err := in.request(method, path, body, token)
	if err != nil {
		t.Fatal(err)
	}
	return status, header, decoded
}

// request sends one request and decodes a JSON answer; unlike do it may be called
// from any goroutine. body is sent as JSON unless it is nil, a []byte or a string
// (sent as they are, with Content-Type application/json). token, when set, goes
// in "Authorization: Bearer". The decoded body is nil when the response has none;
// a body that is not a JSON object is an error.
func (in *Instance) request(method, path string, body any, token string) (int, http.Header, map[string]any, error) {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		reader = bytes.NewReader(b)
	case string:
		reader = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("%s %s: encode request body: %w", method, path, err)
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, in.BaseURL+path, reader)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return resp.StatusCode, resp.Header, nil, nil
	}
	var decoded map[string]any
	if err := json.Unmarshal(raw, &decoded); err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: status %d, body is not a JSON object: %w\n%s", method, path, resp.StatusCode, err, raw)
	}
	return resp.StatusCode, resp.Header, decoded, nil
}

// expect is do that fails the test unless the status is want.
func (in *Instance) expect(t testing.TB, want int, method, path string, body any, token string) (http.Header, map[string]any) {
	t.Helper()
	status, header, decoded := in.do(t, method, path, body, token)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body: %v", method, path, status, want, decoded)
	}
	return header, decoded
}

// logRecord is one JSON line of the service's log.
type logRecord map[string]any

// str returns the string attribute key, or "".
func (r logRecord) str(key string) string {
	s, _ := r[key].(string)
	return s
}

// LogRecords parses the JSON lines of the log written so far; other lines (such as
// the final "dashtam: ..." error) are skipped.
func (in *Instance) LogRecords() []logRecord {
	var out []logRecord
	for _, line := range strings.Split(in.stderr.String(), "\n") {
		var r logRecord
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// waitUntil polls cond until it holds, failing the test (saying what it waited
// for) when it does not within timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval)
	}
}

// waitForLog polls the log until a record satisfies match and returns it, failing
// the test (saying what it waited for) when none does within logTimeout.
// cluster makes instances, which share one database, peers of one another.
func cluster(instances ...*Instance) {
	for _, in := range instances {
		for _, other := range instances {
			if other != in {
				in.peers = append(in.peers, other)
			}
		}
	}
}

// waitForMail waits for the development mailer's log line of a mail to
// address, on in or any of its peers (the job that sends it runs on whichever
// instance claims it), and returns it.
func (in *Instance) waitForMail(t testing.TB, address string) logRecord {
	t.Helper()
	var found logRecord
	waitUntil(t, logTimeout, "a log line with the email to "+address, func() bool {
		for _, i := range append([]*Instance{in}, in.peers...) {
			for _, r := range i.LogRecords() {
				if r.str("msg") == devMailMessage && r.str("to") == address {
					found = r
					return true
				}
			}
		}
		return false
	})
	return found
}

func (in *Instance) waitForLog(t testing.TB, what string, match func(logRecord) bool) logRecord {
	t.Helper()
	var found logRecord
	waitUntil(t, logTimeout, "a log line "+what, func() bool {
		for _, r := range in.LogRecords() {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// runResult is how a one-shot command ended.
type runResult struct {
	Code           int
	Stdout, Stderr string
	// Dir is the fresh temporary working directory the command ran in.
	Dir     string
	Elapsed time.Duration
}

// runBinary runs the binary once with args, the environment PATH, HOME and env,
// and a fresh temporary working directory, and returns its exit status and
// output. It fails the test when the command does not finish within
// commandTimeout.
func runBinary(t testing.TB, env map[string]string, args ...string) runResult {
	t.Helper()
	return runBinaryWithin(t, commandTimeout, env, args...)
}

// runBinaryWithin is runBinary with its own time limit.
func runBinaryWithin(t testing.TB, timeout time.Duration, env map[string]string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr testlog.Buffer
	cmd := exec.CommandContext(ctx, binaryPath, args...)
	cmd.Env = environ(baseEnv(), env)
	cmd.Dir = t.TempDir()
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("dashtam %s did not finish within %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), timeout, stdout.String(), stderr.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("dashtam %s: %v", strings.Join(args, " "), err)
	}
	return runResult{
		Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String(),
		Dir: cmd.Dir, Elapsed: elapsed,
	}
}
