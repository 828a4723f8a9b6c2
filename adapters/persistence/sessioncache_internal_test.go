package persistence

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/identity"
)

func TestSessionCache(t *testing.T) {
	user := uuid.New()
	v := identity.SessionValidity{UserID: user, ExpiresAt: time.Now().Add(time.Hour)}

	t.Run("answers what was put, until dropped", func(t *testing.T) {
		c := newSessionCache(time.Hour, true)
		id := uuid.New()
		_, ok, gen := c.get(id)
		if ok {
			t.Fatal("hit in an empty cache")
		}
		c.put(id, v, gen)
		if got, ok, _ := c.get(id); !ok || got != v {
			t.Fatalf("get = %+v, %v; want %+v", got, ok, v)
		}
		c.drop(id)
		if _, ok, _ := c.get(id); ok {
			t.Fatal("hit after drop")
		}
	})
	t.Run("a read that raced with a drop is not stored", func(t *testing.T) {
		c := newSessionCache(time.Hour, true)
		id := uuid.New()
		_, _, gen := c.get(id) // a request starts reading the database
		c.drop(id)             // meanwhile the session is revoked
		c.put(id, v, gen)      // the request's answer predates the revocation
		if _, ok, _ := c.get(id); ok {
			t.Fatal("a read older than a drop was cached")
		}
	})
	t.Run("dropUser drops every session of that user and only those", func(t *testing.T) {
		c := newSessionCache(time.Hour, true)
		a, b, other := uuid.New(), uuid.New(), uuid.New()
		ov := identity.SessionValidity{UserID: uuid.New()}
		for id, val := range map[uuid.UUID]identity.SessionValidity{a: v, b: v, other: ov} {
			_, _, gen := c.get(id)
			c.put(id, val, gen)
		}
		c.dropUser(user)
		for id, want := range map[uuid.UUID]bool{a: false, b: false, other: true} {
			if _, ok, _ := c.get(id); ok != want {
				t.Errorf("session %v cached = %v, want %v", id, ok, want)
			}
		}
	})
	t.Run("entries expire after the ttl", func(t *testing.T) {
		c := newSessionCache(30*time.Millisecond, true)
		id := uuid.New()
		_, _, gen := c.get(id)
		c.put(id, v, gen)
		time.Sleep(40 * time.Millisecond)
		if _, ok, _ := c.get(id); ok {
			t.Fatal("hit after the ttl")
		}
	})
	t.Run("off: nothing is stored or answered, and turning on starts empty", func(t *testing.T) {
		c := newSessionCache(time.Hour, true)
		id := uuid.New()
		_, _, gen := c.get(id)
		c.put(id, v, gen)
		c.setOn(false)
		if _, ok, _ := c.get(id); ok {
			t.Fatal("hit while off")
		}
		_, _, gen = c.get(id)
		c.put(id, v, gen)
		c.setOn(true)
		if _, ok, _ := c.get(id); ok {
			t.Fatal("an entry survived turning the cache off and on")
		}
	})
	t.Run("a zero ttl is no cache", func(t *testing.T) {
		c := newSessionCache(0, true)
		c.setOn(true)
		id := uuid.New()
		_, _, gen := c.get(id)
		c.put(id, v, gen)
		if _, ok, _ := c.get(id); ok {
			t.Fatal("hit with ttl 0")
		}
	})
	t.Run("the cache holds at most maxCachedSessions", func(t *testing.T) {
		c := newSessionCache(time.Hour, true)
		for range maxCachedSessions + 10 {
			id := uuid.New()
			_, _, gen := c.get(id)
			c.put(id, v, gen)
		}
		if n := len(c.entries); n > maxCachedSessions {
			t.Fatalf("%d entries", n)
		}
	})
}
