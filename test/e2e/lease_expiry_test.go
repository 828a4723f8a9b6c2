package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// TestBackgroundRefreshBatchOutlivesItsLease: a background pass claims up to 50
// due authorizations with one refresh lease and then refreshes them one after
// another. (This test was written against the bug below; the pass now renews
// each row's lease before its call, and the lease is sized from
// PROVIDER_TIMEOUT.) When the
// institution is slow, the pass outlives the lease: another instance's loop
// claims the rest of the batch again and calls the institution with the same
// refresh tokens. With rotating refresh tokens one of the two answers is thrown
// away ("authorization changed during refresh") and the other is invalid_grant,
// so the authorization turns reauthorization_required: the user has to consent
// again although nothing was wrong. Without rotation it is a double refresh.
//
// Setup: 8 Schwab authorizations (the fake rotates refresh tokens) whose tokens
// are all due; Schwab answers each token request after 9 s (PROVIDER_TIMEOUT is
// 20 s, so every call succeeds). Instance A claims all 8 at once; its lease ends
// 60 s later, while it is on the 7th. Instance B then claims the 7th and 8th.
// It takes about 100 s.
func TestBackgroundRefreshBatchOutlivesItsLease(t *testing.T) {
	t.Parallel()
	const (
		authorizations = 8
		institution    = 9 * time.Second
	)
	sch := startSchwab(t, schwabfake.Config{AccessTTL: 20 * time.Second, RotateRefreshTokens: true}) // due at half life
	sch.Tap.RefreshExpiresIn = int((30 * time.Minute).Seconds())                                     // see TestScaleOutBackgroundRefreshExactlyOnce
	env := merged(clusterEnv(postgresSchemaURL(t)), sch.Env(), map[string]string{"PROVIDER_TIMEOUT": "20s"})

	setup := startInstance(t, merged(env, map[string]string{"TOKEN_REFRESH_WINDOW": "1s", "TOKEN_REFRESH_INTERVAL": "1h"}))
	user := verifiedSession(t, setup, newAccount())
	var ids []string
	for i := 0; i < authorizations; i++ {
		id := createProvider(t, setup, user.Access, "schwab", fmt.Sprintf("Brokerage %d", i))
		if err := connectSchwabE(setup, setup, user.Access, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	stopCleanly(t, setup)

	sch.Fake.SetFault(fakekit.Slow(institution).OnPath(schwabfake.PathToken))
	loopEnv := merged(env, map[string]string{"TOKEN_REFRESH_WINDOW": "15m", "TOKEN_REFRESH_INTERVAL": "1s"})
	a := startInstance(t, loopEnv)
	// A's first pass has claimed the whole batch once its first call is out.
	waitUntil(t, 30*time.Second, "A's first refresh call", func() bool {
		return sch.Fake.Calls(schwabfake.PathToken) > authorizations
	})
	b := startInstance(t, loopEnv)

	// A needs authorizations x 9 s; wait for that and a little more, until no
	// refresh is in flight.
	waitUntil(t, authorizations*institution+60*time.Second, "every authorization to be refreshed or given up", func() bool {
		_, refreshes := sch.grants()
		if sch.Fake.Calls(schwabfake.PathToken) != authorizations+refreshes {
			return false // a call is still waiting at the slow institution
		}
		settled := 0
		for _, id := range ids {
			if got := authorizationOf(t, a, user.Access, id); got["refreshed_at"] != nil || got["status"] != "active" {
				settled++
			}
		}
		return settled == authorizations
	})
	sch.Fake.ClearFault()

	_, refreshes := sch.grants()
	if refreshes != authorizations {
		t.Errorf("Schwab saw %d refresh calls for %d authorizations, want exactly one each", refreshes, authorizations)
	}
	for _, id := range ids {
		if got := authorizationOf(t, b, user.Access, id); got["status"] != "active" {
			t.Errorf("provider %s: %v after the background refresh, want active", id, got)
		}
	}
	for name, in := range map[string]*Instance{"A": a, "B": b} {
		for _, r := range in.LogRecords() {
			if r.str("msg") == "background token refresh failed" {
				t.Errorf("instance %s: %s: provider %s: %s", name, r.str("msg"), r.str("provider_id"), r.str("error"))
			}
		}
	}
}
