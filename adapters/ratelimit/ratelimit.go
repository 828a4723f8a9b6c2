// Package ratelimit counts requests per key in fixed windows, one independent
// limit ("tier") per kind of request. It wraps ulule/limiter v3: an in-process
// memory store by default, or Redis when a URL is configured, so that every
// instance of the service shares one counter per key.
//
// Store failures are reported as domain.ErrUnavailable; what to do about them
// (fail open or closed) is the caller's decision, per tier.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/dashtam/dashtam/domain"
)

// Result is the state of one key's window after a Take.
type Result struct {
	// Limit is how many requests the window allows.
	Limit int64
	// Remaining is how many more requests the window allows after this one.
	Remaining int64
	// Reset is when the window ends, rounded up to a whole second, so that a
	// client waiting until then is never early.
	Reset time.Time
	// Allowed is false when this request went over the limit.
	Allowed bool
}

// ErrUnknownTier is returned by Take for a tier that was not configured: a
// programming error, not a store failure.
var ErrUnknownTier = errors.New("ratelimit: unknown tier")

// DefaultPrefix starts every key the limiters store.
const DefaultPrefix = "dashtam:rl"

// Config says which tiers exist and where their counters live.
type Config struct {
	// Tiers maps each tier name (letters, digits, '_' or '-') to its rate in
	// ulule/limiter's syntax: "<limit>-<period>", the period being S, M, H or D
	// ("5-M" is five per minute). The limit must be at least 1.
	Tiers map[string]string
	// RedisURL (redis:// or rediss://) selects the shared Redis store. Empty: a
	// memory store per process.
	RedisURL string
	// Prefix starts every key, followed by ":<tier>:<key>"; DefaultPrefix when
	// empty. Give each deployment (and each test) its own.
	Prefix string
}

// Limiters holds one limiter per tier over one store. The HTTP adapter's
// rate-limit middleware declares the port it satisfies (httpapi.RateLimiter).
type Limiters struct {
	tiers  map[string]*limiter.Limiter
	client *redis.Client // nil for the memory store
}

var tierName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// New builds the limiters of cfg. It checks the configuration but does not
// contact Redis: a Redis that is down at startup makes Take and Ping fail until
// it is back, it does not stop the service from starting.
func New(cfg Config) (*Limiters, error) {
	if len(cfg.Tiers) == 0 {
		return nil, errors.New("ratelimit: no tiers configured")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	l := &Limiters{tiers: make(map[string]*limiter.Limiter, len(cfg.Tiers))}
	if cfg.RedisURL != "" {
		client, err := newRedisClient(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		l.client = client
	}
	var errs []error
	for name, formatted := range cfg.Tiers {
		rate, err := parseRate(formatted)
		if err != nil {
			errs = append(errs, fmt.Errorf("ratelimit: tier %q: %w", name, err))
			continue
		}
		if !tierName.MatchString(name) {
			errs = append(errs, fmt.Errorf("ratelimit: tier name %q must be 1 to 32 letters, digits, '_' or '-'", name))
			continue
		}
		// The stores add ":" between their prefix and the key.
		opts := limiter.StoreOptions{Prefix: prefix + ":" + name, CleanUpInterval: limiter.DefaultCleanUpInterval}
		var store limiter.Store
		if l.client != nil {
			store = &lazyRedisStore{client: l.client, opts: opts}
		} else {
			store = memory.NewStoreWithOptions(opts)
		}
		l.tiers[name] = limiter.New(store, rate)
	}
	if err := errors.Join(errs...); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// CheckRate reports whether formatted is a rate New accepts, so that the
// configuration can name a bad variable before anything is built.
func CheckRate(formatted string) error {
	_, err := parseRate(formatted)
	return err
}

// parseRate parses a rate in ulule/limiter's syntax ("5-M") and rejects limits
// below 1, which would refuse every request: a load test raises a limit, it
// never switches one off.
func parseRate(formatted string) (limiter.Rate, error) {
	rate, err := limiter.NewRateFromFormatted(strings.TrimSpace(formatted))
	if err != nil {
		return limiter.Rate{}, fmt.Errorf("rate %q must look like 5-M (limit, then S, M, H or D)", formatted)
	}
	if rate.Limit < 1 {
		return limiter.Rate{}, fmt.Errorf("rate %q must allow at least one request", formatted)
	}
	return rate, nil
}

// newRedisClient parses url and sets short timeouts (unless the URL sets them),
// so that a Redis outage costs each request milliseconds, not seconds.
func newRedisClient(rawURL string) (*redis.Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		// The URL may carry a password: never echo it.
		return nil, errors.New("ratelimit: the Redis URL must look like redis://[user:password@]host:port/db")
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, errors.New("ratelimit: the Redis URL must look like redis://[user:password@]host:port/db")
	}
	q := u.Query()
	if !q.Has("dial_timeout") {
		opts.DialTimeout = time.Second
	}
	if !q.Has("read_timeout") {
		opts.ReadTimeout = 500 * time.Millisecond
	}
	if !q.Has("write_timeout") {
		opts.WriteTimeout = 500 * time.Millisecond
	}
	if !q.Has("pool_timeout") {
		opts.PoolTimeout = time.Second
	}
	if !q.Has("max_retries") {
		opts.MaxRetries = 1
	}
	opts.DialerRetries = 1
	opts.ContextTimeoutEnabled = true
	return redis.NewClient(opts), nil
}

// Take counts one request against key in tier and says whether it is within
// the limit. A store that cannot be reached is an error wrapping
// domain.ErrUnavailable; the request was then not counted. A tier that was not
// configured is ErrUnknownTier.
func (l *Limiters) Take(ctx context.Context, tier, key string) (Result, error) {
	lim, ok := l.tiers[tier]
	if !ok {
		return Result{}, fmt.Errorf("%w %q", ErrUnknownTier, tier)
	}
	lctx, err := lim.Get(ctx, key)
	if err != nil {
		return Result{}, fmt.Errorf("rate limit store: %w: %w", domain.ErrUnavailable, err)
	}
	return Result{
		Limit:     lctx.Limit,
		Remaining: lctx.Remaining,
		// The stores truncate the window's end to the second; round it up instead.
		Reset:   time.Unix(lctx.Reset+1, 0),
		Allowed: !lctx.Reached,
	}, nil
}

// Shared reports whether the counters live in Redis (shared by every instance)
// rather than in this process's memory.
func (l *Limiters) Shared() bool { return l.client != nil }

// Ping checks that the store answers: always nil for the memory store, an error
// wrapping domain.ErrUnavailable when Redis does not answer.
func (l *Limiters) Ping(ctx context.Context) error {
	if l.client == nil {
		return nil
	}
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("rate limit store: %w: %w", domain.ErrUnavailable, err)
	}
	return nil
}

// Close releases the Redis connections. The memory store needs no closing.
func (l *Limiters) Close() error {
	if l == nil || l.client == nil {
		return nil
	}
	return l.client.Close()
}

// lazyRedisStore builds ulule's Redis store on first use. The store loads its Lua
// scripts when it is built, which fails while Redis is down; building it lazily
// lets the service start during a Redis outage and recover once Redis is back.
type lazyRedisStore struct {
	client *redis.Client
	opts   limiter.StoreOptions

	mu      sync.Mutex
	store   limiter.Store
	lastErr error     // why the last attempt to build the store failed
	lastTry time.Time // when it failed
}

// retryAfter is how long a failed attempt to build the store is remembered, so
// that during an outage requests fail at once instead of queueing on the lock.
const retryAfter = time.Second

var _ limiter.Store = (*lazyRedisStore)(nil)

func (s *lazyRedisStore) get() (limiter.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil {
		return s.store, nil
	}
	if s.lastErr != nil && time.Since(s.lastTry) < retryAfter {
		return nil, s.lastErr
	}
	// ulule's constructor takes no context; the client's short timeouts bound it.
	store, err := redisstore.NewStoreWithOptions(s.client, s.opts)
	if err != nil {
		s.lastErr, s.lastTry = err, time.Now()
		return nil, err
	}
	s.store = store
	return store, nil
}

// Get counts one hit and returns the window's state.
func (s *lazyRedisStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Get(ctx, key, rate)
}

// Peek returns the window's state without counting.
func (s *lazyRedisStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Peek(ctx, key, rate)
}

// Reset clears the window.
func (s *lazyRedisStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Reset(ctx, key, rate)
}

// Increment counts count hits.
func (s *lazyRedisStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	st, err := s.get()
	if err != nil {
		return limiter.Context{}, err
	}
	return st.Increment(ctx, key, count, rate)
}

// RouteRedisLogs sends the Redis client's own log lines (one per failed dial
// during an outage) to log at debug level, instead of to standard error. The
// Redis client's logger is process-wide, so the composition root calls this once;
// the HTTP middleware's own, rate-limited warning reports outages.
func RouteRedisLogs(log *slog.Logger) {
	redis.SetLogger(redisLogger{log: log})
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
	}
}
