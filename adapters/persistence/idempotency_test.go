package persistence_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dashtam/dashtam/adapters/idempotency"
	"github.com/dashtam/dashtam/adapters/persistence"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/dbtest"
)

func TestIdempotencyStoreSQLite(t *testing.T) {
	runIdempotencyStoreSuite(t, dbtest.SQLite)
}

func TestIdempotencyStorePostgres(t *testing.T) {
	dbtest.PostgresURL(t) // skip (or fail under CI) once, not in every subtest
	runIdempotencyStoreSuite(t, dbtest.Postgres)
}

var idemNow = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

func idemKey(k string) idempotency.Key {
	return idempotency.Key{Scope: "user:0193a5b0-0000-7000-8000-000000000001", Method: "POST", Route: "/api/v1/providers", Key: k}
}

func idemRecord(key idempotency.Key, owner string, fingerprint byte, at time.Time) idempotency.Record {
	return idempotency.Record{
		Key:         key,
		Fingerprint: bytes.Repeat([]byte{fingerprint}, 32),
		Owner:       owner,
		LockedAt:    at,
		ExpiresAt:   at.Add(24 * time.Hour),
	}
}

// stale is the staleBefore the middleware would pass at now.
func stale(now time.Time) time.Time { return now.Add(-5 * time.Minute) }

func runIdempotencyStoreSuite(t *testing.T, open func(testing.TB) *persistence.DB) {
	newStore := func(t *testing.T) *persistence.IdempotencyStore {
		return persistence.NewIdempotencyStore(open(t))
	}

	t.Run("first claim wins, the second sees the running claim", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k1")
		if _, claimed, err := st.Claim(t.Context(), idemRecord(key, "a", 1, idemNow), stale(idemNow)); err != nil || !claimed {
			t.Fatalf("first claim: claimed=%v err=%v", claimed, err)
		}
		existing, claimed, err := st.Claim(t.Context(), idemRecord(key, "b", 2, idemNow.Add(time.Second)), stale(idemNow.Add(time.Second)))
		if err != nil || claimed {
			t.Fatalf("second claim: claimed=%v err=%v", claimed, err)
		}
		if existing.Owner != "a" || existing.Response != nil || existing.Key != key ||
			!bytes.Equal(existing.Fingerprint, bytes.Repeat([]byte{1}, 32)) ||
			!existing.LockedAt.Equal(idemNow) || !existing.ExpiresAt.Equal(idemNow.Add(24*time.Hour)) {
			t.Errorf("existing = %+v", existing)
		}
	})

	t.Run("a completed answer comes back byte for byte", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k2")
		mustClaim(t, st, idemRecord(key, "a", 1, idemNow))
		want := idempotency.Response{
			Status: 201,
			Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Location": {"/api/v1/providers/1"}, "Cache-Control": {"private", "no-cache"}},
			Body:   []byte("{\"id\":\"1\",\"alias\":\"caf\xc3\xa9\"}\n\x00\xff"),
		}
		if err := st.Complete(t.Context(), key, "a", want); err != nil {
			t.Fatal(err)
		}
		existing, claimed, err := st.Claim(t.Context(), idemRecord(key, "b", 1, idemNow.Add(time.Hour)), stale(idemNow.Add(time.Hour)))
		if err != nil || claimed || existing.Response == nil {
			t.Fatalf("claimed=%v err=%v existing=%+v", claimed, err, existing)
		}
		if got := *existing.Response; got.Status != want.Status || !reflect.DeepEqual(got.Header, want.Header) || !bytes.Equal(got.Body, want.Body) {
			t.Errorf("response = %+v, want %+v", got, want)
		}
	})

	t.Run("an empty answer is stored as empty", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k3")
		mustClaim(t, st, idemRecord(key, "a", 1, idemNow))
		if err := st.Complete(t.Context(), key, "a", idempotency.Response{Status: 204}); err != nil {
			t.Fatal(err)
		}
		existing, _, err := st.Claim(t.Context(), idemRecord(key, "b", 1, idemNow), stale(idemNow))
		if err != nil || existing.Response == nil || existing.Response.Status != 204 || len(existing.Response.Body) != 0 || len(existing.Response.Header) != 0 {
			t.Fatalf("err=%v existing=%+v", err, existing)
		}
	})

	t.Run("only the owner completes, and only once", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k4")
		mustClaim(t, st, idemRecord(key, "a", 1, idemNow))
		res := idempotency.Response{Status: 200, Body: []byte("{}")}
		if err := st.Complete(t.Context(), key, "b", res); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("stranger completes: %v, want ErrNotFound", err)
		}
		if err := st.Complete(t.Context(), key, "a", res); err != nil {
			t.Fatal(err)
		}
		if err := st.Complete(t.Context(), key, "a", idempotency.Response{Status: 500}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("second completion: %v, want ErrNotFound", err)
		}
		if err := st.Complete(t.Context(), idemKey("never-claimed"), "a", res); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("unclaimed key: %v, want ErrNotFound", err)
		}
	})

	t.Run("release frees the key; a stranger's release does not", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k5")
		mustClaim(t, st, idemRecord(key, "a", 1, idemNow))
		if err := st.Release(t.Context(), key, "b"); err != nil {
			t.Fatal(err)
		}
		if _, claimed, _ := st.Claim(t.Context(), idemRecord(key, "c", 1, idemNow), stale(idemNow)); claimed {
			t.Fatal("a stranger's release freed the key")
		}
		if err := st.Release(t.Context(), key, "a"); err != nil {
			t.Fatal(err)
		}
		mustClaim(t, st, idemRecord(key, "c", 2, idemNow))
		if err := st.Release(t.Context(), idemKey("never-claimed"), "a"); err != nil {
			t.Errorf("releasing an unknown key: %v", err)
		}
	})

	t.Run("a completed record is not released", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k6")
		mustClaim(t, st, idemRecord(key, "a", 1, idemNow))
		if err := st.Complete(t.Context(), key, "a", idempotency.Response{Status: 201}); err != nil {
			t.Fatal(err)
		}
		if err := st.Release(t.Context(), key, "a"); err != nil {
			t.Fatal(err)
		}
		if existing, claimed, _ := st.Claim(t.Context(), idemRecord(key, "b", 1, idemNow), stale(idemNow)); claimed || existing.Response == nil {
			t.Fatal("release deleted a completed record")
		}
	})

	t.Run("every part of the key scopes it", func(t *testing.T) {
		st := newStore(t)
		base := idemKey("k7")
		mustClaim(t, st, idemRecord(base, "a", 1, idemNow))
		for _, k := range []idempotency.Key{
			{Scope: "user:0193a5b0-0000-7000-8000-000000000002", Method: base.Method, Route: base.Route, Key: base.Key},
			{Scope: "ip:192.0.2.1", Method: base.Method, Route: base.Route, Key: base.Key},
			{Scope: base.Scope, Method: "PATCH", Route: base.Route, Key: base.Key},
			{Scope: base.Scope, Method: base.Method, Route: "/api/v1/users", Key: base.Key},
			{Scope: base.Scope, Method: base.Method, Route: base.Route, Key: "K7"},
		} {
			if _, claimed, err := st.Claim(t.Context(), idemRecord(k, "b", 1, idemNow), stale(idemNow)); err != nil || !claimed {
				t.Errorf("%+v collides with %+v (claimed=%v err=%v)", k, base, claimed, err)
			}
		}
	})

	t.Run("an expired record is replaced", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k8")
		mustClaim(t, st, idemRecord(key, "a", 1, idemNow))
		if err := st.Complete(t.Context(), key, "a", idempotency.Response{Status: 201}); err != nil {
			t.Fatal(err)
		}
		justBefore := idemNow.Add(24*time.Hour - time.Microsecond)
		if _, claimed, _ := st.Claim(t.Context(), idemRecord(key, "b", 2, justBefore), stale(justBefore)); claimed {
			t.Fatal("replaced before expiry")
		}
		at := idemNow.Add(24 * time.Hour)
		if _, claimed, err := st.Claim(t.Context(), idemRecord(key, "b", 2, at), stale(at)); err != nil || !claimed {
			t.Fatalf("at expiry: claimed=%v err=%v", claimed, err)
		}
	})

	t.Run("an abandoned claim is taken over and its owner cannot complete", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k9")
		mustClaim(t, st, idemRecord(key, "a", 1, idemNow))
		early := idemNow.Add(5*time.Minute - time.Microsecond)
		if _, claimed, _ := st.Claim(t.Context(), idemRecord(key, "b", 1, early), stale(early)); claimed {
			t.Fatal("taken over before the lock timeout")
		}
		later := idemNow.Add(5 * time.Minute)
		mustClaim(t, st, idemRecord(key, "b", 1, later))
		if err := st.Complete(t.Context(), key, "a", idempotency.Response{Status: 201}); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("the abandoned owner completed: %v", err)
		}
		if err := st.Complete(t.Context(), key, "b", idempotency.Response{Status: 201}); err != nil {
			t.Errorf("the new owner cannot complete: %v", err)
		}
	})

	t.Run("concurrent claims: exactly one wins", func(t *testing.T) {
		st := newStore(t)
		key := idemKey("k10")
		const n = 16
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners int
			errs    []error
		)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, claimed, err := st.Claim(t.Context(), idemRecord(key, fmt.Sprint("owner-", i), 1, idemNow), stale(idemNow))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if claimed {
					winners++
				}
			}()
		}
		close(start)
		wg.Wait()
		if winners != 1 || len(errs) != 0 {
			t.Fatalf("%d winners, errors %v", winners, errs)
		}
	})

	t.Run("DeleteExpired removes only expired records", func(t *testing.T) {
		st := newStore(t)
		for i, at := range []time.Time{idemNow.Add(-48 * time.Hour), idemNow.Add(-24 * time.Hour), idemNow.Add(-time.Hour)} {
			mustClaim(t, st, idemRecord(idemKey(fmt.Sprint("exp-", i)), "a", 1, at))
		}
		n, err := st.DeleteExpired(t.Context(), idemNow)
		if err != nil || n != 2 {
			t.Fatalf("deleted %d (err %v), want 2", n, err)
		}
		// (A staleBefore before its lock time, so that it does not count as abandoned.)
		if _, claimed, _ := st.Claim(t.Context(), idemRecord(idemKey("exp-2"), "b", 1, idemNow), idemNow.Add(-2*time.Hour)); claimed {
			t.Error("the live record was deleted")
		}
		if n, err := st.DeleteExpired(t.Context(), idemNow); err != nil || n != 0 {
			t.Errorf("second run deleted %d (err %v)", n, err)
		}
	})

	t.Run("an unusable database is ErrUnavailable", func(t *testing.T) {
		db := open(t)
		st := persistence.NewIdempotencyStore(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		key := idemKey("k11")
		calls := map[string]func() error{
			"Claim": func() error {
				_, _, err := st.Claim(t.Context(), idemRecord(key, "a", 1, idemNow), stale(idemNow))
				return err
			},
			"Complete":      func() error { return st.Complete(t.Context(), key, "a", idempotency.Response{Status: 201}) },
			"Release":       func() error { return st.Release(t.Context(), key, "a") },
			"DeleteExpired": func() error { _, err := st.DeleteExpired(t.Context(), idemNow); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, domain.ErrUnavailable) {
				t.Errorf("%s: %v, want ErrUnavailable", name, err)
			}
		}
	})
}

func mustClaim(t *testing.T, st *persistence.IdempotencyStore, rec idempotency.Record) {
	t.Helper()
	if _, claimed, err := st.Claim(t.Context(), rec, stale(rec.LockedAt)); err != nil || !claimed {
		t.Fatalf("claim %+v: claimed=%v err=%v", rec.Key, claimed, err)
	}
}
