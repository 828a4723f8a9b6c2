package httpx_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/providers/httpx"
	"github.com/dashtam/dashtam/domain"
)

// serve answers n bytes, with or without a Content-Length.
func serve(t *testing.T, n int, declareLength bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if declareLength {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.WriteHeader(http.StatusOK)
		for i := 0; i < n; i += 100 {
			_, _ = w.Write([]byte(strings.Repeat("x", min(100, n-i))))
			if f, ok := w.(http.Flusher); ok && !declareLength {
				f.Flush()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// get fetches u with client and returns the body.
func get(client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return do(client, req)
}

func do(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return io.ReadAll(resp.Body)
}

func TestClientEnforcesTheSizeCap(t *testing.T) {
	const capBytes = 1000
	for _, declared := range []bool{true, false} {
		name := "streamed"
		if declared {
			name = "declared length"
		}
		t.Run(name, func(t *testing.T) {
			client := httpx.NewClient(nil, time.Second, capBytes)

			body, err := get(client, serve(t, capBytes, declared))
			if err != nil {
				t.Fatalf("an answer of exactly the cap: %v", err)
			}
			if len(body) != capBytes {
				t.Errorf("read %d bytes, want %d", len(body), capBytes)
			}

			_, err = get(client, serve(t, capBytes+1, declared))
			if !errors.Is(err, httpx.ErrResponseTooLarge) {
				t.Errorf("an answer one byte over the cap: %v, want ErrResponseTooLarge", err)
			}
		})
	}
}

func TestNewClientAppliesDefaultsAndLeavesTheBaseAlone(t *testing.T) {
	base := &http.Client{}
	c := httpx.NewClient(base, 0, 0)
	if c.Timeout != httpx.DefaultTimeout {
		t.Errorf("Timeout = %v, want %v", c.Timeout, httpx.DefaultTimeout)
	}
	lt, ok := c.Transport.(*httpx.LimitTransport)
	if !ok || lt.MaxBytes != httpx.DefaultMaxResponseBytes {
		t.Errorf("Transport = %#v, want a LimitTransport with the default cap", c.Transport)
	}
	if base.Timeout != 0 || base.Transport != nil {
		t.Error("NewClient modified the base client")
	}
}

func TestClassifyTransport(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	_, err := get(httpx.NewClient(nil, 50*time.Millisecond, 0), slow.URL)
	if got := httpx.ClassifyTransport("op", err); !errors.Is(got, domain.ErrProviderTimeout) || !httpx.IsTimeout(err) {
		t.Errorf("client timeout classified as %v", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, slow.URL, nil)
	_, err = do(httpx.NewClient(nil, time.Second, 0), req)
	got := httpx.ClassifyTransport("op", err)
	if !errors.Is(got, domain.ErrProviderUnavailable) || !errors.Is(got, context.Canceled) {
		t.Errorf("cancelled call classified as %v", got)
	}

	_, err = get(httpx.NewClient(nil, time.Second, 0), "http://127.0.0.1:1/")
	if got := httpx.ClassifyTransport("op", err); !errors.Is(got, domain.ErrProviderUnavailable) || strings.Contains(got.Error(), "127.0.0.1") {
		t.Errorf("refused connection classified as %q", got)
	}
}

func TestErrorTextIsRedactedButTheCauseIsKept(t *testing.T) {
	cause := errors.New("secret-token-123 leaked by a library")
	err := httpx.Fail(domain.ErrProviderUnavailable, "acme: exchange", "server said secret-token-123 and secret%2Ftwo", cause, "secret-token-123", "secret/two")
	if got, want := err.Error(), "provider unavailable: acme: exchange: server said [redacted] and [redacted]"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, domain.ErrProviderUnavailable) || !errors.Is(err, cause) {
		t.Error("the kind or the cause is not reachable with errors.Is")
	}
	long := httpx.Fail(domain.ErrProviderUnavailable, "op", strings.Repeat("é", 400), nil)
	if len(long.Error()) > 400 {
		t.Errorf("detail not truncated: %d bytes", len(long.Error()))
	}
}
