// Package connectorkit is the contract every providers.Connector must pass. A
// connector package runs it from a test against a fake of its institution:
//
//	func TestContract(t *testing.T) {
//		fake := schwabfake.New(schwabfake.Config{})
//		t.Cleanup(fake.Close)
//		connectorkit.Run(t, connectorkit.Harness{
//			New:      func(t *testing.T, o connectorkit.Options) providers.Connector { ... },
//			Grant:    connectorkit.FollowAuthorization,
//			SetFault: fake.SetFault,
//			Secrets:  []string{fake.Config().ClientSecret},
//		})
//	}
//
// The kit checks the port's promises that do not depend on the institution:
// a sane Type, Begin's result for the flow, Complete and its refusal of a used
// or unknown grant, Refresh (or ErrNotSupported), Revoke, the classification of
// a slow, failing, malformed or oversized institution, and that no error text
// ever holds a token, a grant or a client secret.
package connectorkit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/fakes/fakeclock"
	"github.com/dashtam/dashtam/test/fakes/fakekit"
)

// Options are the limits and clock the kit asks the connector to use.
type Options struct {
	// Timeout is the per-call budget; the kit uses a short one.
	Timeout time.Duration
	// MaxResponseBytes is the response-size cap; the kit uses a small one.
	MaxResponseBytes int64
	// Now is the connector's clock, controlled by the kit.
	Now func() time.Time
}

// Harness connects the kit to one connector and the fake of its institution.
type Harness struct {
	// New builds the connector under test, pointed at the fake, with opts
	// applied to its configuration.
	New func(t *testing.T, opts Options) providers.Connector
	// Grant returns a fresh grant that c.Complete accepts: a code obtained by
	// following the authorization URL (use FollowAuthorization), or a minted
	// Plaid public token.
	Grant func(t *testing.T, c providers.Connector) string
	// SetFault makes the fake institution misbehave as f says; the zero Fault
	// makes it behave again.
	SetFault func(f fakekit.Fault)
	// Secrets are configuration secrets (the client secret) that must never
	// appear in an error's text.
	Secrets []string
}

// Defaults the kit runs with.
const (
	Timeout          = 200 * time.Millisecond
	MaxResponseBytes = 64 << 10
)

// epoch is the kit clock's start: far from the real time, so a connector that
// reads time.Now instead of its Now shows up in the expiry checks.
var epoch = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Run runs the whole contract as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Grant == nil || h.SetFault == nil {
		t.Fatal("connectorkit: Harness.New, Harness.Grant and Harness.SetFault are required")
	}
	k := &kit{h: h}

	t.Run("TypeIsSane", k.typeIsSane)
	t.Run("BeginFitsTheFlow", k.beginFitsTheFlow)
	t.Run("CompleteReturnsTokens", k.completeReturnsTokens)
	t.Run("UsedGrantIsRejected", k.usedGrantIsRejected)
	t.Run("UnknownOrEmptyGrantIsRejected", k.unknownGrantIsRejected)
	t.Run("Refresh", k.refresh)
	t.Run("RevokeSucceeds", k.revokeSucceeds)
	t.Run("Failures", k.failures)
	t.Run("ConnectorHTTPClientsNeverFollowRedirects", k.redirects)
}

type kit struct {
	h Harness
}

// env is one subtest's connector, clock and collected secrets.
type env struct {
	t       *testing.T
	c       providers.Connector
	clock   *fakeclock.Clock
	opts    Options
	secrets []string
}

func (k *kit) env(t *testing.T) *env {
	t.Helper()
	return k.envWithTimeout(t, Timeout)
}

// envWithTimeout is env with another per-call budget.
func (k *kit) envWithTimeout(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	clock := fakeclock.New(epoch)
	opts := Options{Timeout: timeout, MaxResponseBytes: MaxResponseBytes, Now: clock.Now}
	t.Cleanup(func() { k.h.SetFault(fakekit.Fault{}) })
	return &env{t: t, c: k.h.New(t, opts), clock: clock, opts: opts, secrets: slices.Clone(k.h.Secrets)}
}

// grant gets a fresh grant and remembers it as a secret.
func (k *kit) grant(e *env) string {
	e.t.Helper()
	g := k.h.Grant(e.t, e.c)
	if g == "" {
		e.t.Fatal("Harness.Grant returned an empty grant")
	}
	e.secrets = append(e.secrets, g)
	return g
}

// complete exchanges a fresh grant and remembers the tokens as secrets.
func (k *kit) complete(e *env) providers.Tokens {
	e.t.Helper()
	tok, err := e.c.Complete(context.Background(), k.grant(e))
	if err != nil {
		e.t.Fatalf("Complete with a fresh grant: %v", err)
	}
	e.remember(tok)
	return tok
}

func (e *env) remember(tok providers.Tokens) {
	e.secrets = append(e.secrets, tok.AccessToken, tok.RefreshToken)
}

// wantKind fails unless err is of kind want and its text holds no secret.
func (e *env) wantKind(what string, err, want error) {
	e.t.Helper()
	if !errors.Is(err, want) {
		e.t.Fatalf("%s: got error %v, want one that is %q", what, err, want)
	}
	e.noSecrets(what, err)
}

func (e *env) noSecrets(what string, err error) {
	e.t.Helper()
	if err == nil {
		return
	}
	text := err.Error()
	for _, s := range e.secrets {
		if s != "" && (strings.Contains(text, s) || strings.Contains(text, url.QueryEscape(s))) {
			e.t.Errorf("%s: error text %q contains a token, grant or secret", what, text)
		}
	}
}

func wantNoTokens(t *testing.T, what string, tok providers.Tokens) {
	t.Helper()
	if tok.AccessToken != "" || tok.RefreshToken != "" {
		t.Errorf("%s: a failed call returned tokens; nothing may be stored", what)
	}
}

func (k *kit) typeIsSane(t *testing.T) {
	e := k.env(t)
	typ := e.c.Type()
	if !keyPattern.MatchString(typ.Key) {
		t.Errorf("Type().Key = %q, want lower-case letters, digits, '-' or '_'", typ.Key)
	}
	if strings.TrimSpace(typ.Name) == "" {
		t.Error("Type().Name is empty")
	}
	if typ.Flow != providers.FlowRedirect && typ.Flow != providers.FlowLinkToken {
		t.Errorf("Type().Flow = %q, want %q or %q", typ.Flow, providers.FlowRedirect, providers.FlowLinkToken)
	}
	for _, c := range typ.Capabilities {
		if !keyPattern.MatchString(c) {
			t.Errorf("capability %q is not a lower-case identifier", c)
		}
	}
	if len(typ.Capabilities) > 0 {
		typ.Capabilities[0] = "mutated-by-caller"
		if again := e.c.Type(); again.Capabilities[0] == "mutated-by-caller" {
			t.Error("Type() shares its Capabilities slice with callers")
		}
	}
	if again := e.c.Type(); again.Key != typ.Key || again.Flow != typ.Flow || again.CanRefresh != typ.CanRefresh {
		t.Error("Type() is not stable between calls")
	}
}

func (k *kit) beginFitsTheFlow(t *testing.T) {
	e := k.env(t)
	ctx := context.Background()
	state := "kit-" + uuid.NewString() + "+/=&"
	res, err := e.c.Begin(ctx, providers.BeginRequest{State: state, UserID: uuid.New()})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	switch e.c.Type().Flow {
	case providers.FlowRedirect:
		u, err := url.Parse(res.AuthorizationURL)
		if err != nil || !u.IsAbs() {
			t.Fatalf("AuthorizationURL %q is not an absolute URL", res.AuthorizationURL)
		}
		if got := u.Query().Get("state"); got != state {
			t.Errorf("AuthorizationURL carries state %q, want %q", got, state)
		}
		if res.LinkToken != "" {
			t.Error("a redirect flow returned a LinkToken")
		}
		_, err = e.c.Begin(ctx, providers.BeginRequest{UserID: uuid.New()})
		e.wantKind("Begin without a state", err, domain.ErrInvalidRequest)
	case providers.FlowLinkToken:
		if res.LinkToken == "" {
			t.Error("a link flow returned no LinkToken")
		}
		if res.AuthorizationURL != "" {
			t.Error("a link flow returned an AuthorizationURL")
		}
		if res.ExpiresAt.IsZero() {
			t.Error("a link token has no ExpiresAt")
		}
	}
}

func (k *kit) completeReturnsTokens(t *testing.T) {
	e := k.env(t)
	tok := k.complete(e)
	now := e.clock.Now()
	if tok.AccessToken == "" {
		t.Fatal("Complete returned no access token")
	}
	if e.c.Type().CanRefresh && tok.RefreshToken == "" {
		t.Error("a refreshable connector returned no refresh token")
	}
	if !tok.ExpiresAt.IsZero() && (!tok.ExpiresAt.After(now) || tok.ExpiresAt.After(now.Add(24*time.Hour))) {
		t.Errorf("ExpiresAt %v is not shortly after the connector's Now %v: is Now used?", tok.ExpiresAt, now)
	}
	if !tok.RefreshExpiresAt.IsZero() && !tok.RefreshExpiresAt.After(now) {
		t.Errorf("RefreshExpiresAt %v is not after the connector's Now %v", tok.RefreshExpiresAt, now)
	}
}

func (k *kit) usedGrantIsRejected(t *testing.T) {
	e := k.env(t)
	ctx := context.Background()
	g := k.grant(e)
	tok, err := e.c.Complete(ctx, g)
	if err != nil {
		t.Fatalf("first Complete: %v", err)
	}
	e.remember(tok)
	again, err := e.c.Complete(ctx, g)
	e.wantKind("Complete with a used grant", err, domain.ErrInvalidRequest)
	wantNoTokens(t, "Complete with a used grant", again)
}

func (k *kit) unknownGrantIsRejected(t *testing.T) {
	e := k.env(t)
	ctx := context.Background()
	forged := "kit-forged-grant-" + uuid.NewString()
	e.secrets = append(e.secrets, forged)
	tok, err := e.c.Complete(ctx, forged)
	e.wantKind("Complete with an unknown grant", err, domain.ErrInvalidRequest)
	wantNoTokens(t, "Complete with an unknown grant", tok)
	_, err = e.c.Complete(ctx, "")
	e.wantKind("Complete with an empty grant", err, domain.ErrInvalidRequest)
}

func (k *kit) refresh(t *testing.T) {
	if !k.kitType(t).CanRefresh {
		t.Run("IsNotSupported", func(t *testing.T) {
			e := k.env(t)
			tok := k.complete(e)
			got, err := e.c.Refresh(context.Background(), tok)
			e.wantKind("Refresh", err, domain.ErrNotSupported)
			wantNoTokens(t, "Refresh", got)
		})
		return
	}
	t.Run("GivesNewAccessToken", func(t *testing.T) {
		e := k.env(t)
		old := k.complete(e)
		e.clock.Advance(time.Minute)
		tok, err := e.c.Refresh(context.Background(), old)
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		e.remember(tok)
		if tok.AccessToken == "" || tok.AccessToken == old.AccessToken {
			t.Error("Refresh did not return a new access token")
		}
		if tok.RefreshToken == "" {
			t.Error("Refresh lost the refresh token")
		}
		if !tok.RefreshExpiresAt.Equal(old.RefreshExpiresAt) {
			t.Errorf("Refresh moved RefreshExpiresAt from %v to %v; it counts from consent", old.RefreshExpiresAt, tok.RefreshExpiresAt)
		}
		if !tok.ExpiresAt.IsZero() && !tok.ExpiresAt.After(e.clock.Now()) {
			t.Errorf("refreshed ExpiresAt %v is not after Now %v", tok.ExpiresAt, e.clock.Now())
		}
	})
	t.Run("PastRefreshExpiresAtNeedsReauthorization", func(t *testing.T) {
		e := k.env(t)
		tok := k.complete(e)
		tok.RefreshExpiresAt = e.clock.Now()
		got, err := e.c.Refresh(context.Background(), tok)
		e.wantKind("Refresh at RefreshExpiresAt", err, domain.ErrReauthorizationRequired)
		wantNoTokens(t, "Refresh at RefreshExpiresAt", got)
	})
	t.Run("RefusedRefreshTokenNeedsReauthorization", func(t *testing.T) {
		e := k.env(t)
		tok := k.complete(e)
		tok.RefreshToken = "kit-dead-refresh-token-" + uuid.NewString()
		e.remember(tok)
		got, err := e.c.Refresh(context.Background(), tok)
		e.wantKind("Refresh with a refused refresh token", err, domain.ErrReauthorizationRequired)
		wantNoTokens(t, "Refresh with a refused refresh token", got)
	})
}

func (k *kit) revokeSucceeds(t *testing.T) {
	e := k.env(t)
	tok := k.complete(e)
	if err := e.c.Revoke(context.Background(), tok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
}

func (k *kit) failures(t *testing.T) {
	// Only Slow is about the time budget; the other faults are about how an
	// answer is classified, so they get a budget a loaded machine (the race
	// detector, parallel packages) cannot run out of while a 2 MiB answer is
	// read up to the cap.
	const roomy = 5 * time.Second
	cases := []struct {
		name    string
		fault   fakekit.Fault
		want    error
		timeout time.Duration
	}{
		{"Slow", fakekit.Slow(10 * Timeout), domain.ErrProviderTimeout, Timeout},
		{"Status500", fakekit.Status500(), domain.ErrProviderUnavailable, roomy},
		{"Malformed", fakekit.Malformed(), domain.ErrProviderUnavailable, roomy},
		{"Huge", fakekit.Huge(), domain.ErrProviderUnavailable, roomy},
	}
	canRefresh := k.kitType(t).CanRefresh
	for _, tc := range cases {
		t.Run(tc.name+"/Complete", func(t *testing.T) {
			e := k.envWithTimeout(t, tc.timeout)
			g := k.grant(e)
			k.h.SetFault(tc.fault)
			start := time.Now()
			tok, err := e.c.Complete(context.Background(), g)
			elapsed := time.Since(start)
			k.h.SetFault(fakekit.Fault{})
			e.wantKind("Complete", err, tc.want)
			wantNoTokens(t, "Complete", tok)
			checkPrompt(t, elapsed, e.opts.Timeout)
		})
		if !canRefresh {
			continue
		}
		t.Run(tc.name+"/Refresh", func(t *testing.T) {
			e := k.envWithTimeout(t, tc.timeout)
			old := k.complete(e)
			k.h.SetFault(tc.fault)
			start := time.Now()
			tok, err := e.c.Refresh(context.Background(), old)
			elapsed := time.Since(start)
			k.h.SetFault(fakekit.Fault{})
			e.wantKind("Refresh", err, tc.want)
			wantNoTokens(t, "Refresh", tok)
			checkPrompt(t, elapsed, e.opts.Timeout)
		})
	}
}

// redirects checks hardening item 5: a connector never follows an
// institution's redirect (a 307 would re-send a refresh token or a client
// secret to the host it names); the answer is "provider unavailable", and the
// host it names hears nothing.
func (k *kit) redirects(t *testing.T) {
	var trapped atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		trapped.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(trap.Close)
	redirect := fakekit.Redirect(trap.URL + "/steal")
	t.Run("Complete", func(t *testing.T) {
		e := k.env(t)
		g := k.grant(e)
		k.h.SetFault(redirect)
		tok, err := e.c.Complete(context.Background(), g)
		k.h.SetFault(fakekit.Fault{})
		e.wantKind("Complete", err, domain.ErrProviderUnavailable)
		wantNoTokens(t, "Complete", tok)
	})
	if k.kitType(t).CanRefresh {
		t.Run("Refresh", func(t *testing.T) {
			e := k.env(t)
			old := k.complete(e)
			k.h.SetFault(redirect)
			tok, err := e.c.Refresh(context.Background(), old)
			k.h.SetFault(fakekit.Fault{})
			e.wantKind("Refresh", err, domain.ErrProviderUnavailable)
			wantNoTokens(t, "Refresh", tok)
		})
	}
	if n := trapped.Load(); n != 0 {
		t.Errorf("the host the redirect named got %d requests, want none", n)
	}
}

// checkPrompt fails when a failing call took clearly longer than its budget.
func checkPrompt(t *testing.T, elapsed, timeout time.Duration) {
	t.Helper()
	if limit := 2*timeout + 300*time.Millisecond; elapsed > limit {
		t.Errorf("the call took %v; with a %v timeout it should give up within %v", elapsed, timeout, limit)
	}
}

// kitType builds a throwaway connector to read its Type.
func (k *kit) kitType(t *testing.T) providers.ProviderType {
	t.Helper()
	return k.h.New(t, Options{Timeout: Timeout, MaxResponseBytes: MaxResponseBytes, Now: fakeclock.New(epoch).Now}).Type()
}

// FollowAuthorization is a Harness.Grant for redirect connectors. It calls
// Begin, requests the authorization URL without following the redirect, checks
// that the institution sends the browser back with the same state, and returns
// the code decoded exactly once from the Location's query, as the service's
// callback handler would see it.
func FollowAuthorization(t *testing.T, c providers.Connector) string {
	t.Helper()
	state := "kit-" + uuid.NewString()
	res, err := c.Begin(context.Background(), providers.BeginRequest{State: state, UserID: uuid.New()})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	browser := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := browser.Get(res.AuthorizationURL)
	if err != nil {
		t.Fatalf("following the authorization URL: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the authorization URL answered %d, want a redirect back", resp.StatusCode)
	}
	back, err := resp.Location()
	if err != nil {
		t.Fatalf("redirect without a usable Location: %v", err)
	}
	q := back.Query()
	if q.Get("state") != state {
		t.Fatalf("redirected back with state %q, want %q", q.Get("state"), state)
	}
	code := q.Get("code")
	if code == "" {
		t.Fatal("redirected back without a code")
	}
	return code
}
