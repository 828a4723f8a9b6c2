// Package redistest points tests at the Redis server named by TEST_REDIS_URL.
// Without it the Redis tests are skipped, except under CI=true, where a missing
// Redis is a failure, never a skip.
package redistest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// Hint says how to enable the Redis-backed tests.
const Hint = "set TEST_REDIS_URL=redis://127.0.0.1:6379/0 to run the Redis tests (CI does)"

// URL returns TEST_REDIS_URL. When it is unset the test is skipped, or fails
// when CI=true.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but TEST_REDIS_URL is unset: Redis tests must run in CI")
		}
		t.Skip(Hint)
	}
	return u
}

// Prefix returns a key prefix no other test uses, so that tests sharing one
// Redis server (in parallel, or across runs) never see each other's keys.
func Prefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "dashtam-test:" + hex.EncodeToString(b)
}
