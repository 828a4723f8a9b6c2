// Package loadgen is the benchmark's HTTP/1.1 load generator: a fixed number of
// keep-alive connections, each driven by one goroutine in a closed loop (send a
// request, read the whole answer, send the next), like wrk. Every connection has
// a Worker of its own that makes its requests and judges its answers, so a
// scenario can chain state from one answer to the next request (a refresh token
// works once: each connection carries its own chain of them).
//
// It writes pre-built request bytes and reads answers with net/http's response
// parser, so one core drives tens of thousands of requests per second; the
// orchestrator reports its CPU use next to the server's so that a saturated
// generator shows.
package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Worker makes one connection's requests. Request returns the raw HTTP/1.1
// request to send next (BuildRequest makes one); Response gets the status and
// body of its answer and returns nil when that answer is a success. The body is
// only valid during the call. A Worker is used by one goroutine at a time.
type Worker interface {
	Request() []byte
	Response(status int, body []byte) error
}

// Options describe one run.
type Options struct {
	// Addr is the server's host:port.
	Addr string
	// Conns is the number of connections (and of Workers).
	Conns int
	// Warmup runs before measuring; its requests are not recorded, but their
	// errors are counted.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
	// Timeout bounds each request, from write to the last byte of the answer.
	Timeout time.Duration
	// NewWorker returns the Worker of connection i.
	NewWorker func(i int) Worker
	// OnMeasure, when set, is called once as the measured window starts (the
	// orchestrator resets the server's peak RSS there and starts a profile).
	OnMeasure func()
}

// Result is what one run measured.
type Result struct {
	// Requests is the number of requests started in the measured window that
	// succeeded; Elapsed is the window's length.
	Requests int64
	Elapsed  time.Duration
	// Errors counts failed requests of the whole run, warm-up included: answers
	// a Worker refused and transport failures (each also reconnects).
	Errors int64
	// ErrorSamples holds the first few error messages.
	ErrorSamples []string
	// latencies of the measured successful requests, sorted.
	latencies []time.Duration
}

// RPS is successful requests per second in the measured window.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the latency at quantile q (0 < q <= 1) of the measured
// successful requests, nearest-rank; 0 when none succeeded.
func (r Result) Percentile(q float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	rank := int(q*float64(n)+0.999999) - 1
	return r.latencies[min(max(rank, 0), n-1)]
}

// Merge combines the results of several runs against the same server (rounds
// of one scenario) as if they were one run whose measured window is the sum of
// theirs.
func Merge(rs ...Result) Result {
	var out Result
	n := 0
	for _, r := range rs {
		n += len(r.latencies)
	}
	out.latencies = make([]time.Duration, 0, n)
	for _, r := range rs {
		out.Requests += r.Requests
		out.Elapsed += r.Elapsed
		out.Errors += r.Errors
		for _, e := range r.ErrorSamples {
			if len(out.ErrorSamples) < maxErrorSamples {
				out.ErrorSamples = append(out.ErrorSamples, e)
			}
		}
		out.latencies = append(out.latencies, r.latencies...)
	}
	slices.Sort(out.latencies)
	return out
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

const maxErrorSamples = 5

// Run drives the server for Warmup+Duration and returns what it measured.
func Run(o Options) (Result, error) {
	if o.Conns < 1 || o.Duration <= 0 || o.NewWorker == nil || o.Addr == "" {
		return Result{}, errors.New("loadgen: Addr, Conns, Duration and NewWorker are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	var (
		phase   atomic.Int32
		wg      sync.WaitGroup
		mu      sync.Mutex
		res     Result
		samples [][]time.Duration
	)
	record := func(c *connStats) {
		mu.Lock()
		defer mu.Unlock()
		res.Requests += c.ok
		res.Errors += c.errors
		for _, e := range c.samples {
			if len(res.ErrorSamples) < maxErrorSamples {
				res.ErrorSamples = append(res.ErrorSamples, e)
			}
		}
		samples = append(samples, c.latencies)
	}
	workers := make([]Worker, o.Conns)
	for i := range workers {
		workers[i] = o.NewWorker(i)
	}
	for i := range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &connStats{latencies: make([]time.Duration, 0, 1<<14)}
			drive(o, workers[i], &phase, c)
			record(c)
		}()
	}
	time.Sleep(o.Warmup)
	if o.OnMeasure != nil {
		o.OnMeasure()
	}
	start := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(o.Duration)
	phase.Store(phaseStop)
	res.Elapsed = time.Since(start)
	wg.Wait()
	total := 0
	for _, s := range samples {
		total += len(s)
	}
	res.latencies = make([]time.Duration, 0, total)
	for _, s := range samples {
		res.latencies = append(res.latencies, s...)
	}
	slices.Sort(res.latencies)
	return res, nil
}

type connStats struct {
	ok, errors int64
	samples    []string
	latencies  []time.Duration
}

func (c *connStats) fail(err error) {
	c.errors++
	if len(c.samples) < maxErrorSamples {
		c.samples = append(c.samples, err.Error())
	}
}

// drive runs one connection until the phase is phaseStop.
func drive(o Options, w Worker, phase *atomic.Int32, c *connStats) {
	var (
		conn net.Conn
		br   *bufio.Reader
		body bytes.Buffer
	)
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		p := phase.Load()
		if p == phaseStop {
			return
		}
		if conn == nil {
			var err error
			conn, err = net.DialTimeout("tcp", o.Addr, o.Timeout)
			if err != nil {
				c.fail(fmt.Errorf("dial: %w", err))
				conn = nil
				time.Sleep(50 * time.Millisecond)
				continue
			}
			br = bufio.NewReaderSize(conn, 32<<10)
		}
		req := w.Request()
		start := time.Now()
		_ = conn.SetDeadline(start.Add(o.Timeout))
		status, keep, err := roundTrip(conn, br, req, &body)
		elapsed := time.Since(start)
		if err == nil {
			err = w.Response(status, body.Bytes())
		}
		if err != nil {
			c.fail(err)
		} else if p == phaseMeasure {
			c.ok++
			c.latencies = append(c.latencies, elapsed)
		}
		if !keep {
			_ = conn.Close()
			conn = nil
		}
	}
}

// roundTrip writes req and reads one whole answer into body. keep is false when
// the connection cannot be reused.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte, body *bytes.Buffer) (status int, keep bool, err error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, fmt.Errorf("read: %w", err)
	}
	body.Reset()
	_, err = body.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, false, fmt.Errorf("read body: %w", err)
	}
	return resp.StatusCode, !resp.Close, nil
}

// Header is one request header.
type Header struct{ Name, Value string }

// BuildRequest returns the bytes of an HTTP/1.1 request. A non-nil body is sent
// with Content-Length (and the caller's Content-Type header).
func BuildRequest(method, host, target string, headers []Header, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(body))
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: dashtam-bench\r\n")
	for _, h := range headers {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	if body != nil {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// Expect returns a Response function that accepts only the given status.
func Expect(status int) func(int, []byte) error {
	return func(got int, body []byte) error {
		if got != status {
			return fmt.Errorf("status %d, want %d: %.200s", got, status, body)
		}
		return nil
	}
}

// Static is a Worker that sends one of a fixed set of requests in turn and
// accepts the answers check accepts.
type Static struct {
	Requests [][]byte
	Check    func(status int, body []byte) error
	next     int
}

// Request returns the next request of the set.
func (s *Static) Request() []byte {
	r := s.Requests[s.next]
	s.next = (s.next + 1) % len(s.Requests)
	return r
}

// Response checks the answer.
func (s *Static) Response(status int, body []byte) error { return s.Check(status, body) }

// Func adapts two functions to a Worker.
type Func struct {
	Req  func() []byte
	Resp func(status int, body []byte) error
}

// Request calls Req.
func (f Func) Request() []byte { return f.Req() }

// Response calls Resp.
func (f Func) Response(status int, body []byte) error { return f.Resp(status, body) }
