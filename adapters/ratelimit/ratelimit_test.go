package ratelimit_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/ratelimit"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/faultproxy"
	"github.com/dashtam/dashtam/test/redistest"
)

// backend builds limiters over one kind of store.
type backend func(t *testing.T, tiers map[string]string) *ratelimit.Limiters

// backends runs the same behaviour against the memory store and a real Redis
// (TEST_REDIS_URL; skipped without it, failing under CI=true).
func backends(t *testing.T, run func(t *testing.T, open backend)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		run(t, func(t *testing.T, tiers map[string]string) *ratelimit.Limiters {
			return open(t, ratelimit.Config{Tiers: tiers})
		})
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		u := redistest.URL(t)
		run(t, func(t *testing.T, tiers map[string]string) *ratelimit.Limiters {
			return open(t, ratelimit.Config{Tiers: tiers, RedisURL: u, Prefix: redistest.Prefix(t)})
		})
	})
}

func open(t *testing.T, cfg ratelimit.Config) *ratelimit.Limiters {
	t.Helper()
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// takeWindow takes n requests against key, retrying (up to three times, with a
// fresh key) if a one-second window happened to end in the middle, so that a
// slow machine cannot make the boundary tests flaky.
func takeWindow(t *testing.T, l *ratelimit.Limiters, tier, key string, n int) ([]ratelimit.Result, string) {
	t.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		k := key + "-" + string(rune('a'+attempt))
		out := make([]ratelimit.Result, n)
		sameWindow := true
		for i := range out {
			r, err := l.Take(t.Context(), tier, k)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = r
			if !r.Reset.Equal(out[0].Reset) {
				sameWindow = false
			}
		}
		if sameWindow {
			return out, k
		}
	}
	t.Fatal("the window kept ending in the middle of the test")
	return nil, ""
}

// A tier allows exactly its limit in a window, counting Remaining down to 0, then
// refuses; after the window ends it allows the full limit again.
func TestTakeIsExactAtTheBoundary(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open backend) {
		l := open(t, map[string]string{"auth": "3-S"})
		start := time.Now()
		got, key := takeWindow(t, l, "auth", "ip:192.0.2.1", 4)
		for i, r := range got[:3] {
			if !r.Allowed || r.Limit != 3 || r.Remaining != int64(2-i) {
				t.Errorf("request %d: %+v, want allowed, limit 3, remaining %d", i+1, r, 2-i)
			}
		}
		if r := got[3]; r.Allowed || r.Remaining != 0 || r.Limit != 3 {
			t.Errorf("request 4: %+v, want refused with remaining 0", r)
		}
		reset := got[0].Reset
		if reset.Before(start) || reset.After(start.Add(2*time.Second+time.Millisecond)) {
			t.Errorf("reset %v is not within two seconds of %v", reset, start)
		}
		if reset.Nanosecond() != 0 {
			t.Errorf("reset %v is not a whole second", reset)
		}

		// Once the window is over, the key starts afresh.
		time.Sleep(time.Until(reset) + 10*time.Millisecond)
		r, err := l.Take(t.Context(), "auth", key)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Allowed || r.Remaining != 2 || !r.Reset.After(reset) {
			t.Errorf("after the window: %+v, want allowed with remaining 2 in a new window", r)
		}
	})
}

// Tiers, keys and prefixes each have their own counters.
func TestCountersAreIndependent(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open backend) {
		l := open(t, map[string]string{"read": "2-M", "write": "2-M"})
		ctx := t.Context()
		for range 2 {
			if _, err := l.Take(ctx, "read", "user:1"); err != nil {
				t.Fatal(err)
			}
		}
		if r, _ := l.Take(ctx, "read", "user:1"); r.Allowed {
			t.Fatal("third read allowed")
		}
		if r, _ := l.Take(ctx, "write", "user:1"); !r.Allowed || r.Remaining != 1 {
			t.Errorf("write tier shares the read tier's counter: %+v", r)
		}
		if r, _ := l.Take(ctx, "read", "user:2"); !r.Allowed || r.Remaining != 1 {
			t.Errorf("another key shares the counter: %+v", r)
		}
		other := open(t, map[string]string{"read": "2-M"})
		if r, _ := other.Take(ctx, "read", "user:1"); !r.Allowed || r.Remaining != 1 {
			t.Errorf("another limiter set (memory) or prefix (redis) shares the counter: %+v", r)
		}
	})
}

// An unconfigured tier is a programming error, distinct from an unavailable store.
func TestUnknownTier(t *testing.T) {
	l := open(t, ratelimit.Config{Tiers: map[string]string{"auth": "5-M"}})
	_, err := l.Take(t.Context(), "reads", "k")
	if !errors.Is(err, ratelimit.ErrUnknownTier) || errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnknownTier", err)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]ratelimit.Config{
		"no tiers":         {},
		"bad rate":         {Tiers: map[string]string{"auth": "five per minute"}},
		"bad period":       {Tiers: map[string]string{"auth": "5-W"}},
		"zero limit":       {Tiers: map[string]string{"auth": "0-M"}},
		"bad tier name":    {Tiers: map[string]string{"a b": "5-M"}},
		"bad redis scheme": {Tiers: map[string]string{"auth": "5-M"}, RedisURL: "http://user:s3cret@127.0.0.1:6379"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := ratelimit.New(cfg)
			if err == nil {
				_ = l.Close()
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error reveals the Redis password: %v", err)
			}
		})
	}
	for _, ok := range []string{"5-M", "100-M", "3-S", " 30-H ", "1-D"} {
		if err := ratelimit.CheckRate(ok); err != nil {
			t.Errorf("CheckRate(%q) = %v", ok, err)
		}
	}
	if ratelimit.CheckRate("0-M") == nil || ratelimit.CheckRate("") == nil {
		t.Error("CheckRate accepts a rate New refuses")
	}
}

// The memory store cannot fail: Ping is nil and the limiters are not shared.
func TestMemoryStorePing(t *testing.T) {
	l := open(t, ratelimit.Config{Tiers: map[string]string{"auth": "5-M"}})
	if l.Shared() {
		t.Error("memory store reported as shared")
	}
	if err := l.Ping(t.Context()); err != nil {
		t.Errorf("Ping = %v", err)
	}
}

// A Redis that is down (nothing listens on the port) does not stop New; Ping and
// Take fail promptly with domain.ErrUnavailable.
func TestRedisDown(t *testing.T) {
	l := open(t, ratelimit.Config{Tiers: map[string]string{"auth": "5-M"}, RedisURL: "redis://" + closedPort(t) + "/0"})
	if !l.Shared() {
		t.Error("Redis store not reported as shared")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := l.Ping(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("Ping = %v, want ErrUnavailable", err)
	}
	for range 3 {
		if _, err := l.Take(ctx, "auth", "ip:192.0.2.1"); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("Take = %v, want ErrUnavailable", err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("four calls to a dead Redis took %v", d)
	}
}

// Counting resumes by itself once Redis is reachable again, including when it
// was unreachable at startup (the store's scripts load lazily).
func TestRedisOutageAndRecovery(t *testing.T) {
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	proxy.Cut()
	u.Host = proxy.Addr()
	l := open(t, ratelimit.Config{Tiers: map[string]string{"auth": "5-M"}, RedisURL: u.String(), Prefix: redistest.Prefix(t)})
	ctx := t.Context()
	if _, err := l.Take(ctx, "auth", "k"); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Take while cut = %v, want ErrUnavailable", err)
	}
	proxy.Restore()
	waitFor(t, func() bool { _, err := l.Take(ctx, "auth", "k"); return err == nil })
	if err := l.Ping(ctx); err != nil {
		t.Fatalf("Ping after restore = %v", err)
	}

	proxy.Cut()
	if _, err := l.Take(ctx, "auth", "k"); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Take after a second cut = %v, want ErrUnavailable", err)
	}
	if err := l.Ping(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Ping after a second cut = %v, want ErrUnavailable", err)
	}
	proxy.Restore()
	waitFor(t, func() bool { _, err := l.Take(ctx, "auth", "k"); return err == nil })
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
