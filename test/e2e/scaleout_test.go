package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dashtam/dashtam/test/fakes/fakekit"
	"github.com/dashtam/dashtam/test/fakes/schwabfake"
)

// TestScaleOutTwoInstances runs two instances, A and B, of one deployment: one
// Postgres schema, the same keyrings and the same PUBLIC_BASE_URL. Whatever one
// instance does, the other sees at once, because neither keeps state of its own.
func TestScaleOutTwoInstances(t *testing.T) {
	t.Parallel()
	env := clusterEnv(postgresSchemaURL(t))
	a := startInstance(t, env)
	b := startInstance(t, env)
	cluster(a, b)

	t.Run("a session made on A works on B and its logout on A is seen by B at once", func(t *testing.T) {
		acc := newAccount()
		register(t, a, acc)
		mail := a.waitForMail(t, acc.Email)
		verifyEmail(t, b, acc, verificationToken(t, a, mail.str("body"))) // the link works on B

		first := login(t, a, acc)
		me(t, b, acc, first.Access)
		second := refresh(t, b, first.Refresh) // rotated on B
		me(t, a, acc, second.Access)
		_, sessions := b.expect(t, http.StatusOK, http.MethodGet, "/api/v1/sessions", nil, second.Access)
		if items, _ := sessions["items"].([]any); len(items) != 1 {
			t.Errorf("B lists %d sessions, want the 1 made on A", len(items))
		}

		a.expect(t, http.StatusNoContent, http.MethodDelete, "/api/v1/sessions/current", nil, second.Access)
		expectUnauthorized(t, b, "access token on B right after logout on A", "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, second.Access)
		expectUnauthorized(t, b, "refresh token on B after logout on A", "INVALID_REFRESH_TOKEN", http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": second.Refresh}, "")
	})

	t.Run("a sandbox authorization started on A arrives at a callback on B and completes on A", func(t *testing.T) {
		acc := newAccount()
		user := verifiedSession(t, a, acc)
		id := createProvider(t, b, user.Access, "sandbox", "Sandbox")
		authURL, err := startAuthorizationE(a, user.Access, id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(authURL, clusterPublicBaseURL+"/sandbox/oauth/authorize?") {
			t.Fatalf("authorization_url %q is not on the shared PUBLIC_BASE_URL", authURL)
		}
		// The consent page is served by A; the code in its redirect is signed with a
		// key derived from the shared JWT key, so B's sandbox accepts it.
		uri, err := requestURI(authURL)
		if err != nil {
			t.Fatal(err)
		}
		callback, err := redirectTarget(a.BaseURL + uri)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(callback, clusterPublicBaseURL+"/api/v1/oauth/sandbox/callback?") {
			t.Fatalf("the sandbox redirected to %q, want the fixed callback on PUBLIC_BASE_URL", callback)
		}
		if _, err := arriveAndRelayE(b, a, callback, user.Access); err != nil {
			t.Fatal(err)
		}
		if got := authorizationOf(t, a, user.Access, id); got["status"] != "active" || got["token_expires_at"] == nil {
			t.Fatalf("A sees %v after the callback on B, want active with token_expires_at", got)
		}
		// B refreshes the tokens A's exchange stored (encrypted under the shared key);
		// A revokes them.
		_, refreshed := b.expect(t, http.StatusOK, http.MethodPatch, authorizationPath(id), nil, user.Access)
		if refreshed["refreshed_at"] == nil {
			t.Errorf("PATCH on B: %v, want refreshed_at", refreshed)
		}
		a.expect(t, http.StatusNoContent, http.MethodDelete, authorizationPath(id), nil, user.Access)
		if got := authorizationOf(t, b, user.Access, id); got["status"] != "revoked" {
			t.Errorf("B sees %v after DELETE on A, want revoked", got)
		}
		// A replayed callback is refused by either instance.
		uri, _ = requestURI(callback)
		for _, in := range []*Instance{a, b} {
			in.expect(t, http.StatusBadRequest, http.MethodGet, uri, nil, "")
		}
	})

	t.Run("one refresh token presented to A and B at the same moment", func(t *testing.T) {
		acc := newAccount()
		verifiedSession(t, a, acc)
		const rounds = 5
		overlapped := 0
		for round := 1; round <= rounds; round++ {
			p := login(t, a, acc)
			results, overlap := raceRefresh(t, [2]*Instance{a, b}, p.Refresh)
			if overlap {
				overlapped++
			}
			var winner *raceResult
			var loser *raceResult
			for i := range results {
				switch results[i].status {
				case http.StatusCreated:
					if winner != nil {
						t.Fatalf("round %d: both A and B answered 201 to one refresh token: it was rotated twice", round)
					}
					winner = &results[i]
				case http.StatusUnauthorized:
					loser = &results[i]
				}
			}
			if winner == nil || loser == nil {
				t.Fatalf("round %d: statuses %d (A) and %d (B), want one 201 and one 401", round, results[0].status, results[1].status)
			}
			if loser.body["code"] != "REFRESH_TOKEN_REUSED" {
				t.Errorf("round %d: the loser (%s) got code %v, want REFRESH_TOKEN_REUSED", round, loser.on, loser.body["code"])
			}
			next := grant(t, "refresh race winner", http.Header{"Cache-Control": {"no-store"}}, winner.body)
			if next.SessionID != p.SessionID {
				t.Errorf("round %d: the winner moved to session %s, want %s", round, next.SessionID, p.SessionID)
			}
			// Reuse detection revoked the session: the winner's pair is dead too, on
			// both instances.
			for _, in := range []*Instance{b, a} {
				expectUnauthorized(t, in, fmt.Sprintf("round %d: the winner's access token after the reuse", round), "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, next.Access)
			}
			expectUnauthorized(t, a, fmt.Sprintf("round %d: the winner's refresh token after the reuse", round), "INVALID_REFRESH_TOKEN", http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": next.Refresh}, "")
			expectUnauthorized(t, a, fmt.Sprintf("round %d: the login's access token after the reuse", round), "INVALID_TOKEN", http.MethodGet, "/api/v1/users/me", nil, p.Access)
		}
		t.Logf("%d of %d rounds had the two requests in flight at the same time", overlapped, rounds)
	})
}

// raceResult is one answer of a refresh race.
type raceResult struct {
	on         string
	status     int
	body       map[string]any
	start, end time.Time
}

// raceRefresh presents refreshToken to both instances at once: both requests are
// prepared and their connections warmed, then released together. overlap
// reports whether the two requests were in flight at the same time.
func raceRefresh(t *testing.T, ins [2]*Instance, refreshToken string) (results [2]raceResult, overlap bool) {
	t.Helper()
	for _, in := range ins {
		in.expect(t, http.StatusOK, http.MethodGet, "/healthz", nil, "") // a kept-alive connection
	}
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	errs := make([]error, 2)
	for i, in := range ins {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			start := time.Now()
			status, _, body, err := in.request(http.MethodPost, "/api/v1/tokens", map[string]string{"refresh_token": refreshToken}, "")
			results[i] = raceResult{on: []string{"A", "B"}[i], status: status, body: body, start: start, end: time.Now()}
			errs[i] = err
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	overlap = results[0].start.Before(results[1].end) && results[1].start.Before(results[0].end)
	return results, overlap
}

// TestScaleOutBackgroundRefreshExactlyOnce sets up 200 Schwab authorizations
// whose tokens all fall due at the same moment and lets two instances
// (TOKEN_REFRESH_INTERVAL=1s) refresh them: the elected one enqueues a refresh
// pass every second, either instance works it, and a pass that outlasts the
// interval overlaps the next. Each authorization is refreshed exactly once
// (FOR UPDATE SKIP LOCKED and the refresh lease).
//
// How the tokens fall due together: the fake issues 20-second access tokens. A
// setup instance, whose refresh window is 1 s, connects all 200 (nothing is due
// for it), then stops. A and B start with a 15-minute window, so every token is
// due as soon as half its life is over (a token is never refreshed earlier). The tap in front of the fake answers refresh grants with Schwab's
// real 30-minute expires_in: a refreshed token then lies beyond the 15-minute
// window and is not due again, so any second refresh the fake sees is a double
// refresh. The fake's token endpoint answers 100 ms late during the refreshes,
// so that one instance cannot finish the whole batch before the other has
// started.
func TestScaleOutBackgroundRefreshExactlyOnce(t *testing.T) {
	t.Parallel()
	const (
		authorizations = 200
		users          = 4
		workers        = 8
	)
	sch := startSchwab(t, schwabfake.Config{AccessTTL: 20 * time.Second}) // due at half life, ~10 s after consent
	sch.Tap.RefreshExpiresIn = int((30 * time.Minute).Seconds())
	// Each grant begins a first sync, and a sync refreshes a due token itself
	// (Connections.DataAccess) before it reads data. This test counts the
	// background loop's refreshes, so the fake's data endpoints answer 429
	// with an hour's Retry-After: every first sync reads its token while it is
	// fresh, is refused, and waits out the test snoozed.
	sch.Fake.RateLimit(time.Hour)
	env := merged(clusterEnv(postgresSchemaURL(t)), sch.Env())

	// Setup: connect 200 providers through one instance that refreshes nothing.
	setupStart := time.Now()
	setup := startInstance(t, merged(env, map[string]string{"TOKEN_REFRESH_WINDOW": "1s", "TOKEN_REFRESH_INTERVAL": "1h"}))
	type owned struct{ token, id string }
	var providers []owned
	var mu sync.Mutex
	tokens := make([]string, users)
	for u := range tokens {
		tokens[u] = verifiedSession(t, setup, newAccount()).Access
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failures []error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				token := tokens[n%users]
				id, err := createProviderE(setup, token, "schwab", fmt.Sprintf("Brokerage %03d", n))
				if err == nil {
					err = connectSchwabE(setup, setup, token, id)
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					providers = append(providers, owned{token, id})
				}
				mu.Unlock()
			}
		}()
	}
	for n := 0; n < authorizations; n++ {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d authorizations failed to connect; first error: %v", len(failures), authorizations, failures[0])
	}
	stopCleanly(t, setup)
	codes, refreshes := sch.grants()
	if codes != authorizations || refreshes != 0 {
		t.Fatalf("after setup the fake saw %d code exchanges and %d refreshes, want %d and 0", codes, refreshes, authorizations)
	}
	t.Logf("connected %d Schwab authorizations in %v", authorizations, time.Since(setupStart).Round(100*time.Millisecond))

	// Two instances whose background loops find every token due.
	sch.Fake.SetFault(fakekit.Slow(100 * time.Millisecond).OnPath(schwabfake.PathToken))
	refreshStart := time.Now()
	loopEnv := merged(env, map[string]string{"TOKEN_REFRESH_WINDOW": "15m", "TOKEN_REFRESH_INTERVAL": "1s"})
	a := startInstance(t, loopEnv)
	b := startInstance(t, loopEnv)
	waitUntil(t, 2*time.Minute, fmt.Sprintf("the fake to see %d refresh grants", authorizations), func() bool {
		_, n := sch.grants()
		return n >= authorizations
	})
	t.Logf("%d refreshes in %v", authorizations, time.Since(refreshStart).Round(100*time.Millisecond))
	// Let several more passes run: a double refresh would show now.
	settle := time.Now().Add(4 * time.Second)
	for time.Now().Before(settle) {
		time.Sleep(100 * time.Millisecond)
	}
	sch.Fake.ClearFault()

	seen := map[string]int{}
	for _, r := range sch.Fake.TokenRequests() {
		if r.Form.Get("grant_type") == "refresh_token" {
			seen[r.Form.Get("refresh_token")]++
		}
	}
	total := 0
	for rt, n := range seen {
		total += n
		if n != 1 {
			t.Errorf("one refresh token was presented %d times (%d chars)", n, len(rt))
		}
	}
	if total != authorizations || len(seen) != authorizations {
		t.Errorf("the fake saw %d refresh grants for %d distinct refresh tokens, want exactly %d for %d", total, len(seen), authorizations, authorizations)
	}

	// The passes' reports add up, whichever instance worked them.
	byInstance := map[string]int{}
	for name, in := range map[string]*Instance{"A": a, "B": b} {
		for _, r := range in.LogRecords() {
			switch r.str("msg") {
			case "background token refresh":
				n, _ := r["refreshed"].(float64)
				byInstance[name] += int(n)
				if f, _ := r["failed"].(float64); f != 0 {
					t.Errorf("instance %s: a pass reports %v failed refreshes: %v", name, f, r)
				}
			case "background token refresh failed", "background job failed":
				t.Errorf("instance %s: %v", name, r)
			}
		}
	}
	t.Logf("background refreshes by instance: %v", byInstance)
	if byInstance["A"]+byInstance["B"] != authorizations {
		t.Errorf("the instances report %d refreshes in all, want %d", byInstance["A"]+byInstance["B"], authorizations)
	}

	// Every authorization says it was refreshed, and is still active.
	for i, p := range providers {
		in := []*Instance{a, b}[i%2]
		got := authorizationOf(t, in, p.token, p.id)
		if got["status"] != "active" || got["refreshed_at"] == nil {
			t.Errorf("provider %s: %v, want active with refreshed_at set", p.id, got)
		}
	}
}
