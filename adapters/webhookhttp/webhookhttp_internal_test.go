package webhookhttp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	webhooksapp "github.com/dashtam/dashtam/application/webhooks"
)

// Every internal range is refused, and public addresses pass.
func TestInternalAddressesAreRefused(t *testing.T) {
	t.Parallel()
	c := New(Config{})
	for _, s := range []string{"127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "fc00::1", "fd00:ec2::254",
		"169.254.169.254", "169.254.1.1", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "100.64.0.1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "198.18.0.1", "240.0.0.1", "64:ff9b::a00:1", "100.100.100.200"} {
		if err := c.checkIP(netip.MustParseAddr(s)); !errors.Is(err, errRefused) {
			t.Errorf("%s: %v, want refused", s, err)
		}
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"} {
		if err := c.checkIP(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	loop := New(Config{Policy: Policy{AllowLoopback: true}})
	if loop.checkIP(netip.MustParseAddr("127.0.0.1")) != nil || loop.checkIP(netip.MustParseAddr("10.0.0.1")) == nil {
		t.Error("AllowLoopback admits loopback only")
	}
}

// At delivery, the address dialed is checked, whatever the URL says; the
// reason names the address and nothing of the URL.
func TestSendRefusesTheDialedAddress(t *testing.T) {
	t.Parallel()
	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	defer srv.Close()
	c := New(Config{Timeout: time.Second})
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/path?token=abc"
	_, err := c.Send(context.Background(), webhooksapp.Request{URL: url, Body: []byte("{}")})
	if err == nil || !strings.Contains(err.Error(), "loopback address") || strings.Contains(err.Error(), "token=abc") || hit.Load() {
		t.Fatalf("err %v (server hit %v)", err, hit.Load())
	}
	https := New(Config{Policy: Policy{RequireHTTPS: true, AllowLoopback: true}})
	if _, err := https.Send(context.Background(), webhooksapp.Request{URL: srv.URL}); err == nil || hit.Load() {
		t.Fatalf("production sent to http: %v", err)
	}
}

// Only so much of an answer is read, and Retry-After is read in both forms.
func TestSendReadsABoundedAnswerAndRetryAfter(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Repeat("x", 10*MaxResponseBytes)))
	}))
	defer srv.Close()
	c := New(Config{Policy: Policy{AllowLoopback: true}, Timeout: time.Second})
	res, err := c.Send(context.Background(), webhooksapp.Request{URL: srv.URL})
	if err != nil || res.StatusCode != 503 || res.RetryAfter != 2*time.Minute {
		t.Fatalf("%+v, %v", res, err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := retryAfter(now.Add(time.Hour).Format(http.TimeFormat), now); got != time.Hour {
		t.Errorf("HTTP-date Retry-After: %v", got)
	}
	if got := retryAfter("soon", now); got != 0 {
		t.Errorf("unreadable Retry-After: %v", got)
	}
}

// Registration refuses http in production, and an IP literal inside.
func TestCheckURL(t *testing.T) {
	t.Parallel()
	prod := New(Config{Policy: Policy{RequireHTTPS: true}})
	for _, u := range []string{"http://example.com/x", "https://127.0.0.1/x", "https://[::1]/", "https://169.254.169.254/"} {
		if prod.CheckURL(context.Background(), u) == nil {
			t.Errorf("%s accepted in production", u)
		}
	}
	if err := prod.CheckURL(context.Background(), "https://93.184.216.34/hooks"); err != nil {
		t.Errorf("a public https URL refused: %v", err)
	}
}
