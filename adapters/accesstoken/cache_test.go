package accesstoken

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/identity"
	"github.com/dashtam/dashtam/domain"
)

// A token served from the verified-token cache is still refused once it has
// expired (beyond the leeway) and before it was issued (beyond the leeway); and
// only the exact token verified before is served from the cache.
func TestVerifiedCacheKeepsTimeChecks(t *testing.T) {
	iss, err := New(Config{Keys: []Key{{ID: "k", Secret: make([]byte, 32)}}, Issuer: "iss", Audience: "aud", TTL: 30 * time.Minute, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	token, _, err := iss.Issue(uuid.New(), uuid.New(), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(token, now); err != nil {
		t.Fatal(err)
	}
	if _, ok := iss.verified.get(token); !ok {
		t.Fatal("a verified token was not cached")
	}
	if _, err := iss.Verify(token, now.Add(30*time.Minute+29*time.Second)); err != nil {
		t.Errorf("within the leeway after expiry: %v", err)
	}
	for name, at := range map[string]time.Time{
		"expired beyond the leeway": now.Add(30*time.Minute + 31*time.Second),
		"before it was issued":      now.Add(-31 * time.Second),
	} {
		if _, err := iss.Verify(token, at); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := iss.Verify(token[:len(token)-2]+"xx", now); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("an altered token was accepted: %v", err)
	}
}

func TestVerifiedCacheIsBounded(t *testing.T) {
	var c verifiedCache
	for i := range verifiedCacheSize + 100 {
		c.put(uuid.NewString()+string(rune(i)), identity.AccessClaims{})
	}
	if len(c.m) > verifiedCacheSize {
		t.Errorf("cache holds %d entries", len(c.m))
	}
}
