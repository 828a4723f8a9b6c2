package persistence

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/dashtam/dashtam/domain/identity"
)

// sessionCache keeps, for a short while, what SessionValidity read, so that an
// authenticated request costs one database round trip (its resource) instead
// of two. It never makes a revocation wait for its TTL, but on Postgres other
// instances learn of it a few milliseconds after it commits, which is why the
// service turns it on by default only on SQLite (SESSION_CACHE_TTL):
//
//   - the store drops a session's entry as soon as it has written that session
//     (UpdateSession, RotateRefreshToken) or its user's sessions
//     (RevokeUserSessions), so the instance that revokes sees it at once;
//   - on Postgres, a trigger (migration 00006) NOTIFYs every change of a
//     session's validity when it commits, and each instance's WatchSessions
//     drops that entry when the notification arrives; while that listener is
//     not connected the cache is off, and it is emptied whenever it connects;
//   - on SQLite, one process owns the database, so the store's own drops are
//     every change there is.
//
// An entry is kept at most ttl whatever happens, which bounds how stale an
// answer can be if a notification were lost without the listener noticing.
// A read that raced with a drop is not stored (the generation check in put).
type sessionCache struct {
	ttl time.Duration

	mu      sync.RWMutex
	entries map[uuid.UUID]cachedValidity
	// gen counts drops; a read stores its answer only if no drop happened
	// since it began.
	gen atomic.Uint64
	// on is false while cross-instance invalidation is not running (Postgres
	// before WatchSessions has connected, or after its connection broke).
	on atomic.Bool
}

type cachedValidity struct {
	v      identity.SessionValidity
	stored time.Time
}

// maxCachedSessions bounds the cache's memory: about 100 bytes an entry.
const maxCachedSessions = 50_000

func newSessionCache(ttl time.Duration, on bool) *sessionCache {
	c := &sessionCache{ttl: ttl, entries: make(map[uuid.UUID]cachedValidity)}
	c.on.Store(on && ttl > 0)
	return c
}

// get returns the cached validity of session id, if there is a fresh one, and
// the generation a caller that reads the database instead must hand to put.
func (c *sessionCache) get(id uuid.UUID) (identity.SessionValidity, bool, uint64) {
	gen := c.gen.Load()
	if !c.on.Load() {
		return identity.SessionValidity{}, false, gen
	}
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || time.Since(e.stored) >= c.ttl {
		return identity.SessionValidity{}, false, gen
	}
	return e.v, true, gen
}

// put stores v for session id, read from the database after get returned gen,
// unless something was dropped since.
func (c *sessionCache) put(id uuid.UUID, v identity.SessionValidity, gen uint64) {
	if !c.on.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.entries) >= maxCachedSessions {
		now := time.Now()
		for k, e := range c.entries {
			if now.Sub(e.stored) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedSessions {
			return
		}
	}
	c.entries[id] = cachedValidity{v: v, stored: time.Now()}
}

// drop forgets session id.
func (c *sessionCache) drop(id uuid.UUID) {
	c.mu.Lock()
	c.gen.Add(1)
	delete(c.entries, id)
	c.mu.Unlock()
}

// dropUser forgets every session of user.
func (c *sessionCache) dropUser(user uuid.UUID) {
	c.mu.Lock()
	c.gen.Add(1)
	for k, e := range c.entries {
		if e.v.UserID == user {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
}

// setOn empties the cache and turns it on or off.
func (c *sessionCache) setOn(on bool) {
	c.mu.Lock()
	c.gen.Add(1)
	clear(c.entries)
	c.on.Store(on && c.ttl > 0)
	c.mu.Unlock()
}

// sessionChannel is the channel migration 00006's trigger notifies, with the
// session's id as payload.
const sessionChannel = "dashtam_session_changed"

// WatchSessions keeps the session cache of a Postgres store in step with the
// other instances until ctx ends: it LISTENs on its own connection and drops
// each session whose validity another instance changed. While it is not
// connected the cache is off (every request reads the database), so a broken
// listener costs speed, never correctness; it reconnects with backoff. It
// returns at once on SQLite, or when the cache is disabled.
func (s *IdentityStore) WatchSessions(ctx context.Context, log *slog.Logger) {
	if s.db.Dialect != Postgres || s.cache.ttl <= 0 {
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx)
		s.cache.setOn(false)
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "session cache off: change listener disconnected", "error", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenerName is the listener connection's application_name in
// pg_stat_activity.
const listenerName = "dashtam-session-listener"

// listenPing is how long the listener waits for a notification before it
// checks that its connection still works.
const listenPing = 5 * time.Second

// listen connects, LISTENs, turns the cache on and drops notified sessions
// until the connection fails or ctx ends.
func (s *IdentityStore) listen(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(s.db.url)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = listenerName
	connectCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+sessionChannel); err != nil {
		return err
	}
	// Anything may have changed while nobody listened.
	s.cache.setOn(true)
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			if id, perr := uuid.Parse(n.Payload); perr == nil {
				s.cache.drop(id)
			} else {
				s.cache.setOn(true) // not a session id: forget everything
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}
