package providers_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/identity"
	"github.com/dashtam/dashtam/domain/provider"
)

// unchangedAuthorization fails unless p's stored authorization is still before.
func (h *harness) unchangedAuthorization(what string, id uuid.UUID, before provider.AuthorizationSnapshot) {
	h.t.Helper()
	if got := h.authorization(id).Snapshot(); !reflect.DeepEqual(got, before) {
		h.t.Errorf("%s changed the authorization:\n got %+v\nwant %+v", what, got, before)
	}
}

// noAuthorization fails unless p has no authorization stored.
func (h *harness) noAuthorization(id uuid.UUID) {
	h.t.Helper()
	if a, err := h.auths.AuthorizationStore.AuthorizationByProvider(h.ctx, id); err == nil {
		h.t.Errorf("an authorization was stored: %+v", a.Snapshot())
	}
}

// --- Start ---

func TestStartBeginsAPendingAttempt(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	started, err := h.conns.Start(h.ctx, user, p.ID())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	begun := h.bank.begins()
	if len(begun) != 1 || begun[0].UserID != user || len(begun[0].State) != 43 {
		t.Fatalf("the institution was asked to begin %+v, want once for the user with a fresh state", begun)
	}
	state := begun[0].State
	want := providersapp.Started{Flow: providersapp.FlowRedirect, AuthorizationURL: "https://bank.test/authorize?state=" + state,
		ExpiresAt: start.Add(provider.StateTTL)}
	if started != want {
		t.Errorf("Start = %+v, want %+v (a redirect flow hands out no state)", started, want)
	}
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationPending || a.AttemptID() == uuid.Nil || !a.StateExpiresAt().Equal(want.ExpiresAt) {
		t.Errorf("authorization %v, attempt %s expiring %v; want pending with an attempt expiring %v", a.Status(), a.AttemptID(), a.StateExpiresAt(), want.ExpiresAt)
	}
	if found, err := h.auths.AuthorizationByState(h.ctx, provider.HashState(state)); err != nil || found.ProviderID() != p.ID() {
		t.Errorf("the state the institution got does not find the attempt: %v, %v", found, err)
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusPending || got.Version() != 2 {
		t.Errorf("provider %v at version %d, want pending at 2", got.Status(), got.Version())
	}
}

func TestStartBoundsTheAttemptByTheInstitutionsExpiry(t *testing.T) {
	for _, tc := range []struct {
		name        string
		institution time.Duration
		want        time.Duration
	}{
		{"sooner than ours", 2 * time.Minute, 2 * time.Minute},
		{"later than ours", 4 * time.Hour, provider.StateTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			user := h.verifiedUser()
			p := h.create(user, bankKey, "My Bank")
			h.bank.onBegin(call[providersapp.BeginResult]{out: providersapp.BeginResult{
				AuthorizationURL: "https://bank.test/a", ExpiresAt: start.Add(tc.institution)}})
			started, err := h.conns.Start(h.ctx, user, p.ID())
			if err != nil {
				t.Fatal(err)
			}
			if want := start.Add(tc.want); !started.ExpiresAt.Equal(want) || !h.authorization(p.ID()).StateExpiresAt().Equal(want) {
				t.Errorf("expires %v (stored %v), want %v", started.ExpiresAt, h.authorization(p.ID()).StateExpiresAt(), want)
			}
			h.clock.Advance(tc.want)
			_, err = h.conns.CompleteRedirect(h.ctx, user, p.ID(), h.bank.lastState(t), "c")
			mustBe(t, "completing at the bound", err, provider.ErrInvalidState)
		})
	}
}

func TestStartStoresNothingWhenTheInstitutionFails(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	h.bank.onBegin(call[providersapp.BeginResult]{err: errInstitutionDown})
	_, err := h.conns.Start(h.ctx, user, p.ID())
	mustBe(t, "Start", err, domain.ErrProviderUnavailable)
	h.noAuthorization(p.ID())
	if got := h.provider(p.ID()); got.Snapshot() != p.Snapshot() {
		t.Errorf("provider changed to %+v", got.Snapshot())
	}
}

func TestStartRefusesAUserWhoseEmailIsNotVerified(t *testing.T) {
	h := newHarness(t)
	user := h.unverifiedUser()
	// Stored directly: Create would refuse this user too.
	p, err := provider.New(uuid.New(), user, bankKey, "My Bank", h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.providers.CreateProvider(h.ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err = h.conns.Start(h.ctx, user, p.ID())
	mustBe(t, "Start", err, identity.ErrEmailNotVerified)
	if n := len(h.bank.begins()); n != 0 {
		t.Errorf("the institution was asked to begin %d times", n)
	}
	h.noAuthorization(p.ID())
}

func TestStartOfAnotherUsersProviderIsNotFound(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.create(alice, bankKey, "Alice's")
	for _, id := range []uuid.UUID{p.ID(), uuid.New()} {
		_, err := h.conns.Start(h.ctx, bob, id)
		mustBe(t, "Start", err, domain.ErrNotFound)
	}
	if n := len(h.bank.begins()); n != 0 {
		t.Errorf("the institution was asked to begin %d times", n)
	}
	h.noAuthorization(p.ID())
}

func TestStartOfALinkFlowHandsOutTheLinkTokenAndTheState(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, linkKey, "Checking")
	started, err := h.conns.Start(h.ctx, user, p.ID())
	if err != nil {
		t.Fatal(err)
	}
	begun := h.linked.begins()
	if len(begun) != 1 {
		t.Fatalf("%d begins, want 1", len(begun))
	}
	want := providersapp.Started{Flow: providersapp.FlowLinkToken, LinkToken: "link-sandbox-" + begun[0].State[:8],
		State: begun[0].State, ExpiresAt: start.Add(provider.StateTTL)}
	if started != want {
		t.Errorf("Start = %+v, want %+v", started, want)
	}
	a := h.complete(user, p, started.State, "public-token")
	if !a.IsAuthorized() {
		t.Errorf("the handed-out state did not complete: %v", a.Status())
	}
}

func TestStartAgainSupersedesThePendingAttempt(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	first := h.begin(user, p)
	second := h.begin(user, p)
	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), first, "c1")
	mustBe(t, "the superseded state", err, provider.ErrInvalidState)
	if n := len(h.bank.completes()); n != 0 {
		t.Errorf("a superseded state reached the institution (%d exchanges)", n)
	}
	if a := h.complete(user, p, second, "c2"); !a.IsAuthorized() {
		t.Errorf("the current state did not complete: %v", a.Status())
	}
}

// Schwab needs a new consent every seven days; while the user gives it, the
// current grant keeps working.
func TestStartWhileAGrantIsActiveKeepsItActiveAndUsable(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	grant := h.authorization(p.ID()).Credentials()

	superseded := h.begin(user, p)
	current := h.begin(user, p)
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationActive || !a.IsAuthorized() || !reflect.DeepEqual(a.Credentials(), grant) {
		t.Fatalf("during a new attempt: %v, authorized %v, credentials %+v; want the grant untouched", a.Status(), a.IsAuthorized(), a.Credentials())
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusActive || got.Version() != p.Version() {
		t.Errorf("provider %v at version %d during a new attempt, want active at %d", got.Status(), got.Version(), p.Version())
	}
	h.clock.Advance(time.Minute)
	if _, err := h.conns.RefreshNow(h.ctx, user, p.ID()); err != nil {
		t.Fatalf("refreshing the current grant during a new attempt: %v", err)
	}

	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), superseded, "old")
	mustBe(t, "the superseded state", err, provider.ErrInvalidState)
	a = h.complete(user, p, current, "renewed")
	if a.Credentials().AccessToken != "access-renewed" || !a.AuthorizedAt().Equal(h.clock.Now()) {
		t.Errorf("after the new consent: %+v authorized %v, want the new grant", a.Credentials(), a.AuthorizedAt())
	}
}

// --- CompleteRedirect ---

func TestCompleteRedirectGrantsTheAttempt(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	state := h.begin(user, p)
	h.clock.Advance(time.Minute)
	a, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "C0.code@")
	if err != nil {
		t.Fatalf("CompleteRedirect: %v", err)
	}
	if got := h.bank.completes(); !reflect.DeepEqual(got, []string{"C0.code@"}) {
		t.Errorf("exchanged %q, want the code exactly once", got)
	}
	want := h.bank.grantFor("C0.code@")
	if a.Status() != provider.AuthorizationActive || !reflect.DeepEqual(a.Credentials(), want) || !a.AuthorizedAt().Equal(h.clock.Now()) {
		t.Errorf("returned %v with %+v authorized %v; want active with %+v authorized now", a.Status(), a.Credentials(), a.AuthorizedAt(), want)
	}
	if stored := h.authorization(p.ID()); !reflect.DeepEqual(stored.Snapshot(), a.Snapshot()) {
		t.Errorf("returned %+v, stored %+v", a.Snapshot(), stored.Snapshot())
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusActive {
		t.Errorf("provider %v, want active", got.Status())
	}
}

func TestCompleteRedirectWorksOnce(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	state := h.begin(user, p)
	h.complete(user, p, state, "code")
	before := h.authorization(p.ID()).Snapshot()
	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "code")
	mustBe(t, "a replay", err, provider.ErrStateUsed)
	mustBe(t, "a replay", err, provider.ErrInvalidState)
	mustBe(t, "a replay", err, domain.ErrInvalidRequest)
	if n := len(h.bank.completes()); n != 1 {
		t.Errorf("the replay reached the institution (%d exchanges)", n)
	}
	h.unchangedAuthorization("a replay", p.ID(), before)
}

func TestCompleteRedirectRefusesAnExpiredState(t *testing.T) {
	for _, tc := range []struct {
		after time.Duration
		ok    bool
	}{
		{provider.StateTTL - time.Microsecond, true},
		{provider.StateTTL, false},
		{time.Hour, false},
	} {
		t.Run(tc.after.String(), func(t *testing.T) {
			h := newHarness(t)
			user := h.verifiedUser()
			p := h.create(user, bankKey, "My Bank")
			state := h.begin(user, p)
			before := h.authorization(p.ID()).Snapshot()
			h.clock.Advance(tc.after)
			_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "code")
			if tc.ok {
				if err != nil {
					t.Fatalf("a microsecond before expiry: %v", err)
				}
				return
			}
			mustBe(t, "an expired state", err, provider.ErrStateExpired)
			if n := len(h.bank.completes()); n != 0 {
				t.Errorf("an expired state reached the institution")
			}
			h.unchangedAuthorization("an expired state", p.ID(), before)
		})
	}
}

func TestCompleteRedirectRefusesAnUnknownOrIncompleteRelay(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	state := h.begin(user, p)
	before := h.authorization(p.ID()).Snapshot()
	for name, relay := range map[string][2]string{
		"an unknown state": {provider.NewState().Value, "code"},
		"no state":         {"", "code"},
		"no code":          {state, ""},
	} {
		_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), relay[0], relay[1])
		mustBe(t, name, err, provider.ErrInvalidState)
		if errors.Is(err, provider.ErrStateUsed) || errors.Is(err, provider.ErrStateExpired) {
			t.Errorf("%s: %v, want neither used nor expired", name, err)
		}
	}
	if n := len(h.bank.completes()); n != 0 {
		t.Errorf("%d exchanges, want none", n)
	}
	h.unchangedAuthorization("refused relays", p.ID(), before)
	h.complete(user, p, state, "code") // the state survived
}

// Hardening item 1 (account-linking CSRF): an attacker sends the victim the
// authorization URL of the attacker's provider; the victim consents and the
// institution sends the victim's browser back with a code and the attacker's
// state. The victim's client, under the victim's bearer, cannot complete the
// attacker's attempt, and nothing is used up.
func TestCompleteRedirectByAnotherUserIsNotFoundAndKeepsTheState(t *testing.T) {
	h := newHarness(t)
	attacker, victim := h.verifiedUser(), h.verifiedUser()
	p := h.create(attacker, bankKey, "Bait")
	state := h.begin(attacker, p)
	mine := h.create(victim, bankKey, "My Bank")
	h.begin(victim, mine)
	before := h.authorization(p.ID()).Snapshot()
	_, err := h.conns.CompleteRedirect(h.ctx, victim, p.ID(), state, "victims-code")
	mustBe(t, "the attacker's provider under the victim's bearer", err, domain.ErrNotFound)
	_, err = h.conns.CompleteRedirect(h.ctx, victim, mine.ID(), state, "victims-code")
	mustBe(t, "the attacker's state on the victim's provider", err, provider.ErrInvalidState)
	if n := len(h.bank.completes()); n != 0 {
		t.Errorf("%d exchanges, want none", n)
	}
	h.unchangedAuthorization("the victim's relays", p.ID(), before)
	if got := h.authorization(mine.ID()); got.Status() != provider.AuthorizationPending || !got.Credentials().IsZero() {
		t.Errorf("the victim's provider is %v with %+v, want still pending with nothing", got.Status(), got.Credentials())
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusPending {
		t.Errorf("the attacker's provider is %v, want still pending (unconnected)", got.Status())
	}
}

func TestCompleteRedirectRefusesTheStateOfALinkFlow(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, linkKey, "Checking")
	state := h.begin(user, p)
	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "public-token")
	mustBe(t, "a link flow's state relayed as a redirect", err, provider.ErrInvalidState)
	if n := len(h.linked.completes()); n != 0 {
		t.Errorf("%d exchanges, want none", n)
	}
	h.complete(user, p, state, "public-token")
}

// Hardening item 4: the state is used up before the exchange, so a failed
// exchange ends the attempt; the provider returns to what it was before it.
func TestCompleteRedirectEndsTheAttemptWhenTheExchangeFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"refused code", fmt.Errorf("invalid_grant: code expired: %w", domain.ErrInvalidRequest), provider.ErrGrantRejected},
		{"institution down", fmt.Errorf("token endpoint: 503: %w", domain.ErrProviderUnavailable), domain.ErrProviderUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			user := h.verifiedUser()
			p := h.create(user, bankKey, "My Bank")
			state := h.begin(user, p)
			h.bank.onComplete(call[provider.Credentials]{err: tc.err})
			_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "stale")
			mustBe(t, "a failed exchange", err, tc.err)
			mustBe(t, "a failed exchange", err, tc.want)
			a := h.authorization(p.ID())
			if a.Status() != provider.AuthorizationNotConnected || a.AttemptID() != uuid.Nil || !a.Credentials().IsZero() ||
				h.provider(p.ID()).Status() != provider.StatusNotConnected {
				t.Errorf("after a failed exchange: %v, attempt %s, %+v, provider %v; want not connected, no attempt, nothing held",
					a.Status(), a.AttemptID(), a.Credentials(), h.provider(p.ID()).Status())
			}
			_, err = h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "fresh")
			mustBe(t, "the state again", err, provider.ErrStateUsed)
			if got := h.bank.completes(); !reflect.DeepEqual(got, []string{"stale"}) {
				t.Errorf("exchanges %q, want only the first", got)
			}
		})
	}
}

func TestAFailedExchangeLeavesAnActiveGrantAndANewerAttempt(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	state := h.begin(user, p)
	var newer string
	h.bank.onComplete(call[provider.Credentials]{err: fmt.Errorf("refused: %w", domain.ErrInvalidRequest), during: func() {
		newer = h.begin(user, p)
	}})
	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "stale")
	mustBe(t, "a refused exchange", err, provider.ErrGrantRejected)
	if a := h.authorization(p.ID()); a.Status() != provider.AuthorizationActive || !a.IsAuthorized() || a.AttemptID() == uuid.Nil {
		t.Errorf("after the refused exchange: %v, attempt %s; want still active with the newer attempt in flight", a.Status(), a.AttemptID())
	}
	h.complete(user, p, newer, "fresh")
}

// --- DeclineCallback, Decline ---

// Hardening item 4: the institution sends the browser back with an error
// (access_denied): the attempt ends and the provider returns to the status it
// had before the attempt, whatever that was.
func TestDeclineCallbackRestoresTheStatusBeforeTheAttempt(t *testing.T) {
	for _, before := range []provider.Status{provider.StatusNotConnected, provider.StatusActive, provider.StatusRevoked} {
		t.Run(before.String(), func(t *testing.T) {
			h := newHarness(t)
			user := h.verifiedUser()
			p := h.create(user, bankKey, "My Bank")
			switch before {
			case provider.StatusActive:
				p = h.authorized(user, bankKey, "Connected")
			case provider.StatusRevoked:
				p = h.authorized(user, bankKey, "Revoked")
				if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
					t.Fatal(err)
				}
			}
			var creds provider.Credentials
			if before != provider.StatusNotConnected {
				creds = h.authorization(p.ID()).Credentials()
			}
			h.begin(user, p)
			state := h.begin(user, p) // started again: the status before stays the first one's
			id, err := h.conns.DeclineCallback(h.ctx, providersapp.Callback{ProviderKey: bankKey, State: state})
			if err != nil || id != p.ID() {
				t.Fatalf("DeclineCallback = %s, %v; want %s", id, err, p.ID())
			}
			if got := h.provider(p.ID()).Status(); got != before {
				t.Errorf("provider %v after the decline, want %v as before the attempt", got, before)
			}
			a := h.authorization(p.ID())
			if a.AttemptID() != uuid.Nil || !reflect.DeepEqual(a.Credentials(), creds) {
				t.Errorf("after the decline: attempt %s, %+v; want none, the credentials before", a.AttemptID(), a.Credentials())
			}
			_, err = h.conns.DeclineCallback(h.ctx, providersapp.Callback{ProviderKey: bankKey, State: state})
			mustBe(t, "declining again", err, provider.ErrStateUsed)
			_, err = h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "code")
			mustBe(t, "completing the declined attempt", err, provider.ErrStateUsed)
			if n := len(h.bank.completes()); n > 1 { // authorized() used one
				t.Errorf("%d exchanges, want none for the declined attempt", n)
			}
		})
	}
}

func TestDeclineCallbackRefusesAForeignStateAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p, other := h.create(user, bankKey, "My Bank"), h.create(user, bankKey, "Other")
	link := h.create(user, linkKey, "Checking")
	state, linkState := h.begin(user, p), h.begin(user, link)
	before := h.authorization(p.ID()).Snapshot()
	for name, cb := range map[string]providersapp.Callback{
		"an unknown state":         {ProviderKey: bankKey, State: provider.NewState().Value},
		"another type's route":     {ProviderKey: linkKey, State: state},
		"another provider's route": {ProviderID: other.ID(), State: state},
		"a link flow's state":      {State: linkState},
	} {
		_, err := h.conns.DeclineCallback(h.ctx, cb)
		mustBe(t, name, err, provider.ErrInvalidState)
	}
	h.unchangedAuthorization("refused declines", p.ID(), before)
	h.complete(user, p, state, "code")
}

func TestDeclineIsTheOwnersAndRestoresTheStatus(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.create(alice, linkKey, "Checking")
	state := h.begin(alice, p)
	before := h.authorization(p.ID()).Snapshot()
	_, err := h.conns.Decline(h.ctx, bob, p.ID(), state)
	mustBe(t, "Bob declining Alice's attempt", err, domain.ErrNotFound)
	_, err = h.conns.Decline(h.ctx, alice, p.ID(), provider.NewState().Value)
	mustBe(t, "a forged state", err, provider.ErrInvalidState)
	h.unchangedAuthorization("refused declines", p.ID(), before)
	a, err := h.conns.Decline(h.ctx, alice, p.ID(), state)
	if err != nil || a.Status() != provider.AuthorizationNotConnected || h.provider(p.ID()).Status() != provider.StatusNotConnected {
		t.Fatalf("Decline = %v, %v; want not connected", a, err)
	}
}

// --- ResolveCallback ---

func TestResolveCallbackFindsTheProviderAndChangesNothing(t *testing.T) {
	for _, route := range []string{"the type's fixed route", "the provider's own route"} {
		t.Run(route, func(t *testing.T) {
			h := newHarness(t)
			user := h.verifiedUser()
			p := h.create(user, bankKey, "My Bank")
			state := h.begin(user, p)
			before := h.authorization(p.ID()).Snapshot()
			cb := providersapp.Callback{ProviderKey: bankKey, State: state}
			if route == "the provider's own route" {
				cb = providersapp.Callback{ProviderID: p.ID(), State: state}
			}
			for range 2 {
				id, err := h.conns.ResolveCallback(h.ctx, cb)
				if err != nil || id != p.ID() {
					t.Fatalf("ResolveCallback = %s, %v; want %s", id, err, p.ID())
				}
			}
			if n := len(h.bank.completes()); n != 0 {
				t.Errorf("%d exchanges, want none", n)
			}
			h.unchangedAuthorization("resolving a callback", p.ID(), before)
			h.complete(user, p, state, "code")
		})
	}
}

// A state arriving on the wrong route (another type's callback, another
// provider's callback, the redirect route of a link flow) resolves to nothing.
func TestResolveCallbackRefusesAStateOnAForeignRoute(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	other := h.create(user, bankKey, "Other Bank")
	link := h.create(user, linkKey, "Checking")
	state := h.begin(user, p)
	linkState := h.begin(user, link)
	for name, cb := range map[string]providersapp.Callback{
		"another type's route":     {ProviderKey: linkKey, State: state},
		"an unknown type's route":  {ProviderKey: "nope", State: state},
		"another provider's route": {ProviderID: other.ID(), State: state},
		"both routes disagreeing":  {ProviderKey: bankKey, ProviderID: other.ID(), State: state},
		"a link flow's state":      {State: linkState},
		"an unknown state":         {ProviderKey: bankKey, State: provider.NewState().Value},
		"no state":                 {ProviderKey: bankKey},
	} {
		_, err := h.conns.ResolveCallback(h.ctx, cb)
		mustBe(t, name, err, provider.ErrInvalidState)
	}
}

func TestResolveCallbackTellsAnExpiredFromAUsedState(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p, q := h.create(user, bankKey, "My Bank"), h.create(user, bankKey, "Other Bank")
	used, expired := h.begin(user, p), h.begin(user, q)
	h.complete(user, p, used, "code")
	h.clock.Advance(provider.StateTTL)
	_, err := h.conns.ResolveCallback(h.ctx, providersapp.Callback{ProviderKey: bankKey, State: used})
	mustBe(t, "a used state", err, provider.ErrStateUsed)
	_, err = h.conns.ResolveCallback(h.ctx, providersapp.Callback{ProviderKey: bankKey, State: expired})
	mustBe(t, "an expired state", err, provider.ErrStateExpired)
}

// --- CompleteLink ---

func TestCompleteLinkGrantsTheOwnersAttempt(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, linkKey, "Checking")
	state := h.begin(user, p)
	a, err := h.conns.CompleteLink(h.ctx, user, p.ID(), state, "public-sandbox-1")
	if err != nil {
		t.Fatalf("CompleteLink: %v", err)
	}
	if got := h.linked.completes(); !reflect.DeepEqual(got, []string{"public-sandbox-1"}) {
		t.Errorf("exchanged %q, want the public token once", got)
	}
	if want := h.linked.grantFor("public-sandbox-1"); !a.IsAuthorized() || !reflect.DeepEqual(a.Credentials(), want) {
		t.Errorf("returned %v with %+v, want active with %+v", a.Status(), a.Credentials(), want)
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusActive {
		t.Errorf("provider %v, want active", got.Status())
	}
	_, err = h.conns.CompleteLink(h.ctx, user, p.ID(), state, "public-sandbox-1")
	mustBe(t, "a replay", err, provider.ErrInvalidState)
}

func TestCompleteLinkByAnotherUserIsNotFoundAndKeepsTheState(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.create(alice, linkKey, "Checking")
	state := h.begin(alice, p)
	before := h.authorization(p.ID()).Snapshot()
	_, err := h.conns.CompleteLink(h.ctx, bob, p.ID(), state, "public")
	mustBe(t, "CompleteLink by another user", err, domain.ErrNotFound)
	if n := len(h.linked.completes()); n != 0 {
		t.Errorf("%d exchanges, want none", n)
	}
	h.unchangedAuthorization("another user's CompleteLink", p.ID(), before)
	h.complete(alice, p, state, "public")
}

func TestCompleteLinkRefusesTheStateOfARedirectFlow(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	state := h.begin(user, p)
	_, err := h.conns.CompleteLink(h.ctx, user, p.ID(), state, "code")
	mustBe(t, "a redirect flow's state on the link route", err, provider.ErrInvalidState)
	if n := len(h.bank.completes()); n != 0 {
		t.Errorf("%d exchanges, want none", n)
	}
	h.complete(user, p, state, "code")
}

func TestCompleteLinkRefusesAnotherProvidersState(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p, q := h.create(user, linkKey, "Checking"), h.create(user, linkKey, "Savings")
	pState := h.begin(user, p)
	h.begin(user, q)
	_, err := h.conns.CompleteLink(h.ctx, user, q.ID(), pState, "public")
	mustBe(t, "p's state on q", err, provider.ErrInvalidState)
	if a := h.authorization(q.ID()); a.Status() != provider.AuthorizationPending {
		t.Errorf("q is %v, want still pending", a.Status())
	}
	h.complete(user, p, pState, "public")
}

// --- RefreshNow ---

func TestRefreshNowStoresTheNewTokensAndKeepsWhatWasNotResent(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	granted := h.authorization(p.ID()).Credentials()
	h.clock.Advance(10 * time.Minute)
	a, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	if err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	if got := h.bank.refreshes(); len(got) != 1 || !reflect.DeepEqual(got[0], granted) {
		t.Errorf("refreshed from %+v, want once from the grant %+v", got, granted)
	}
	want := granted
	want.AccessToken, want.RefreshToken, want.ExpiresAt = "access-refreshed-1", "refresh-refreshed-1", h.clock.Now().Add(tokenLifetime)
	if !reflect.DeepEqual(a.Credentials(), want) {
		t.Errorf("credentials %+v, want %+v (cap, scopes and external id kept)", a.Credentials(), want)
	}
	if !a.RefreshedAt().Equal(h.clock.Now()) || !a.AuthorizedAt().Equal(start) {
		t.Errorf("refreshed %v, authorized %v; want now and still the consent time", a.RefreshedAt(), a.AuthorizedAt())
	}
	if stored := h.authorization(p.ID()); !reflect.DeepEqual(stored.Snapshot(), a.Snapshot()) || stored.Snapshot().LeaseOwner != uuid.Nil {
		t.Errorf("stored %+v, want what was returned, with the lease free", stored.Snapshot())
	}
	if h.sleeps != 0 {
		t.Errorf("RefreshNow waited %d times with no one else refreshing", h.sleeps)
	}
}

func TestRefreshNowIsNotSupportedByALinkFlow(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, linkKey, "Checking")
	_, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	mustBe(t, "RefreshNow", err, domain.ErrNotSupported)
	if n := len(h.linked.refreshes()); n != 0 {
		t.Errorf("%d refreshes, want none", n)
	}
}

func TestRefreshNowNeedsAnActiveGrant(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	never := h.create(user, bankKey, "Never")
	_, err := h.conns.RefreshNow(h.ctx, user, never.ID())
	mustBe(t, "a provider never started", err, domain.ErrNotFound)

	pending := h.create(user, bankKey, "Pending")
	h.begin(user, pending)
	_, err = h.conns.RefreshNow(h.ctx, user, pending.ID())
	mustBe(t, "a pending authorization", err, provider.ErrNotAuthorized)

	revoked := h.authorized(user, bankKey, "Revoked")
	if err := h.conns.Revoke(h.ctx, user, revoked.ID()); err != nil {
		t.Fatal(err)
	}
	_, err = h.conns.RefreshNow(h.ctx, user, revoked.ID())
	mustBe(t, "a revoked authorization", err, provider.ErrNotAuthorized)
	if n := len(h.bank.refreshes()); n != 0 {
		t.Errorf("%d refreshes, want none", n)
	}
}

func TestRefreshNowOfAnotherUsersProviderIsNotFound(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.authorized(alice, bankKey, "Alice's")
	_, err := h.conns.RefreshNow(h.ctx, bob, p.ID())
	mustBe(t, "RefreshNow by another user", err, domain.ErrNotFound)
	if n := len(h.bank.refreshes()); n != 0 {
		t.Errorf("%d refreshes, want none", n)
	}
}

// Lease contended: the background loop is refreshing right now, so RefreshNow
// waits for it and returns its result instead of refreshing twice.
func TestRefreshNowWaitsForARefreshInProgressAndReturnsItsResult(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	loop := uuid.New()
	h.leaseFor(p.ID(), loop, h.clock.Now().Add(leaseTTL))
	theirs := provider.Credentials{AccessToken: "access-by-the-loop", ExpiresAt: h.clock.Now().Add(time.Hour)}
	h.whileWaiting(func() {
		if h.sleeps == 3 {
			h.refreshAs(p.ID(), loop, theirs)
		}
	})
	a, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	if err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	if a.Credentials().AccessToken != "access-by-the-loop" {
		t.Errorf("returned %+v, want the loop's result", a.Credentials())
	}
	if n := len(h.bank.refreshes()); n != 0 {
		t.Errorf("RefreshNow refreshed %d times itself", n)
	}
	if h.sleeps != 3 || !h.clock.Now().Equal(start.Add(3*refreshPoll)) {
		t.Errorf("waited %d times until %v, want 3 polls, until the loop's refresh landed", h.sleeps, h.clock.Now())
	}
}

// A refresh someone else was running failed without a result (retryable): the
// waiting RefreshNow takes the freed lease and refreshes itself.
func TestRefreshNowRefreshesItselfWhenTheOtherRefreshGaveUp(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	loop := uuid.New()
	h.leaseFor(p.ID(), loop, h.clock.Now().Add(leaseTTL))
	h.whileWaiting(func() {
		_, _, err := h.auths.UpdateAuthorization(h.ctx, p.ID(), func(_ *provider.Provider, a *provider.Authorization) (*provider.Authorization, error) {
			a.ReleaseRefresh(loop)
			return a, nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	a, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	if err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	if h.sleeps != 1 || len(h.bank.refreshes()) != 1 || a.Credentials().AccessToken != "access-refreshed-1" {
		t.Errorf("waited %d times, refreshed %d times, got %q; want one wait, then its own refresh",
			h.sleeps, len(h.bank.refreshes()), a.Credentials().AccessToken)
	}
}

// Lease expired: a crashed instance's lease runs out and is taken over.
func TestRefreshNowTakesOverAnExpiredLease(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	crashed := uuid.New()
	h.leaseFor(p.ID(), crashed, h.clock.Now().Add(leaseTTL))
	h.clock.Advance(leaseTTL)
	a, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	if err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	if h.sleeps != 0 || len(h.bank.refreshes()) != 1 || a.Credentials().AccessToken != "access-refreshed-1" {
		t.Errorf("waited %d times, refreshed %d times; want the expired lease taken at once", h.sleeps, len(h.bank.refreshes()))
	}
	if h.authorization(p.ID()).HoldsLease(crashed) {
		t.Error("the crashed instance still holds the lease")
	}
}

func TestRefreshNowTakesOverALeaseThatRunsOutWhileItWaits(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	crashed := uuid.New()
	until := h.clock.Now().Add(leaseTTL)
	h.leaseFor(p.ID(), crashed, until)
	a, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	if err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	if want := int(leaseTTL / refreshPoll); h.sleeps != want || !h.clock.Now().Equal(until) {
		t.Errorf("waited %d times until %v, want %d polls, until the lease ran out at %v", h.sleeps, h.clock.Now(), want, until)
	}
	if len(h.bank.refreshes()) != 1 || !a.RefreshedAt().Equal(until) {
		t.Errorf("refreshed %d times at %v, want once when the lease ran out", len(h.bank.refreshes()), a.RefreshedAt())
	}
}

func TestRefreshNowGivesUpWaitingWhenTheRequestEnds(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	h.leaseFor(p.ID(), uuid.New(), h.clock.Now().Add(leaseTTL))
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	h.whileWaiting(cancel)
	_, err := h.conns.RefreshNow(ctx, user, p.ID())
	mustBe(t, "RefreshNow with the request gone", err, domain.ErrUnavailable)
	if h.sleeps != 1 || len(h.bank.refreshes()) != 0 {
		t.Errorf("waited %d times, refreshed %d times; want one wait and no refresh", h.sleeps, len(h.bank.refreshes()))
	}
}

// Lease stolen: the refresh outlived its lease and another party took it over
// while the institution was being called. Its result must not overwrite
// whatever the new holder stores.
func TestRefreshNowDiscardsItsResultWhenItsLeaseWasTakenOver(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	granted := h.authorization(p.ID()).Credentials()
	thief := uuid.New()
	h.bank.onRefresh(call[provider.Credentials]{out: provider.Credentials{AccessToken: "late"}, during: func() {
		h.clock.Advance(leaseTTL)
		h.leaseFor(p.ID(), thief, h.clock.Now().Add(leaseTTL))
	}})
	_, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	mustBe(t, "RefreshNow", err, domain.ErrConflict)
	a := h.authorization(p.ID())
	if !reflect.DeepEqual(a.Credentials(), granted) || !a.RefreshedAt().IsZero() {
		t.Errorf("credentials %+v refreshed %v, want the grant untouched", a.Credentials(), a.RefreshedAt())
	}
	if !a.HoldsLease(thief) {
		t.Error("the new holder lost its lease")
	}
}

func TestRefreshNowDiscardsItsResultWhenTheGrantWasRevokedMeanwhile(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	h.bank.onRefresh(call[provider.Credentials]{out: provider.Credentials{AccessToken: "late"}, during: func() {
		if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
			t.Errorf("Revoke: %v", err)
		}
	}})
	_, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	mustBe(t, "RefreshNow", err, domain.ErrConflict)
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationRevoked || !a.Credentials().IsZero() {
		t.Errorf("%v with %+v, want revoked with nothing", a.Status(), a.Credentials())
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusRevoked {
		t.Errorf("provider %v, want revoked", got.Status())
	}
}

func TestRefreshNowRecordsThatTheInstitutionWantsANewConsent(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	h.bank.onRefresh(call[provider.Credentials]{err: fmt.Errorf("invalid_grant: %w", domain.ErrReauthorizationRequired)})
	h.clock.Advance(time.Minute)
	_, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	mustBe(t, "RefreshNow", err, domain.ErrReauthorizationRequired)
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationReauthorizationRequired || !a.Credentials().IsZero() || a.Snapshot().LeaseOwner != uuid.Nil {
		t.Errorf("%v with %+v, lease %s; want reauthorization_required, nothing held, lease free", a.Status(), a.Credentials(), a.Snapshot().LeaseOwner)
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusReauthorizationRequired || !got.UpdatedAt().Equal(h.clock.Now()) {
		t.Errorf("provider %v updated %v, want reauthorization_required now", got.Status(), got.UpdatedAt())
	}
	_, err = h.conns.RefreshNow(h.ctx, user, p.ID())
	mustBe(t, "RefreshNow again", err, provider.ErrNotAuthorized)
	if n := len(h.bank.refreshes()); n != 1 {
		t.Errorf("%d refreshes, want the first only", n)
	}
}

func TestRefreshNowReleasesTheLeaseWhenTheInstitutionFails(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	before := h.authorization(p.ID()).Snapshot()
	h.bank.onRefresh(call[provider.Credentials]{err: errInstitutionDown})
	_, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	mustBe(t, "RefreshNow", err, domain.ErrProviderUnavailable)
	h.unchangedAuthorization("a failed refresh", p.ID(), before)
	if got := h.provider(p.ID()); got.Status() != provider.StatusActive {
		t.Errorf("provider %v, want active", got.Status())
	}
	// The lease is free: a retry goes through at once.
	if _, err := h.conns.RefreshNow(h.ctx, user, p.ID()); err != nil || h.sleeps != 0 {
		t.Errorf("the retry: %v after %d waits", err, h.sleeps)
	}
}

// --- RefreshDue ---

// authorizedAfter connects a bank provider for user after advancing the clock by
// d; its token expires tokenLifetime later.
func (h *harness) authorizedAfter(d time.Duration, user uuid.UUID, alias string) *provider.Provider {
	h.t.Helper()
	h.clock.Advance(d)
	return h.authorized(user, bankKey, alias)
}

func (h *harness) refreshDue() (refreshed, failed int) {
	h.t.Helper()
	refreshed, failed, err := h.conns.RefreshDue(h.ctx)
	if err != nil {
		h.t.Fatalf("RefreshDue: %v", err)
	}
	return refreshed, failed
}

func TestRefreshDueRefreshesWhatExpiresWithinTheWindowOnly(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	due := h.authorizedAfter(0, user, "Due")
	later := h.authorizedAfter(20*time.Minute, user, "Later")
	link := h.authorized(user, linkKey, "Never expires")
	laterBefore, linkBefore := h.authorization(later.ID()).Snapshot(), h.authorization(link.ID()).Snapshot()
	h.clock.Advance(tokenLifetime - 20*time.Minute - refreshWindow + time.Minute) // due's token has 4 minutes left
	if r, f := h.refreshDue(); r != 1 || f != 0 {
		t.Fatalf("RefreshDue = %d refreshed, %d failed; want 1, 0", r, f)
	}
	if a := h.authorization(due.ID()); a.Credentials().AccessToken != "access-refreshed-1" || !a.RefreshedAt().Equal(h.clock.Now()) {
		t.Errorf("the due grant: %+v refreshed %v", a.Credentials(), a.RefreshedAt())
	}
	h.unchangedAuthorization("a pass over a grant not due", later.ID(), laterBefore)
	h.unchangedAuthorization("a pass over a grant that never expires", link.ID(), linkBefore)
	if r, f := h.refreshDue(); r != 0 || f != 0 {
		t.Errorf("a second pass at once = %d, %d; want nothing to do", r, f)
	}
}

// A token that lives less than the window is claimed by the store (it expires
// within the window) but is not due before half its life: the pass lets it go
// unrefreshed, free for a later pass.
func TestRefreshDueLetsGoOfAClaimedGrantThatIsNotDueYet(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "Short-lived")
	state := h.begin(user, p)
	h.bank.onComplete(call[provider.Credentials]{out: provider.Credentials{AccessToken: "short", RefreshToken: "r",
		ExpiresAt: h.clock.Now().Add(4 * time.Minute)}})
	h.complete(user, p, state, "code")
	h.clock.Advance(2*time.Minute - time.Microsecond)
	if r, f := h.refreshDue(); r != 0 || f != 0 || len(h.bank.refreshes()) != 0 {
		t.Fatalf("before half its life: %d refreshed, %d failed, %d calls; want nothing", r, f, len(h.bank.refreshes()))
	}
	if owner := h.authorization(p.ID()).Snapshot().LeaseOwner; owner != uuid.Nil {
		t.Errorf("the pass kept the lease (%s) of a grant it did not refresh", owner)
	}
	h.clock.Advance(time.Microsecond)
	if r, f := h.refreshDue(); r != 1 || f != 0 {
		t.Errorf("at half its life: %d refreshed, %d failed; want 1, 0", r, f)
	}
}

func TestRefreshDueCountsFailuresAndGoesOn(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	first := h.authorizedAfter(0, user, "First")
	second := h.authorizedAfter(time.Second, user, "Second")
	final := h.authorizedAfter(time.Second, user, "Final")
	firstBefore := h.authorization(first.ID()).Snapshot()
	h.clock.Advance(tokenLifetime)
	// The pass takes them soonest expiring first.
	h.bank.onRefresh(call[provider.Credentials]{err: errInstitutionDown})
	h.bank.onRefresh(call[provider.Credentials]{out: provider.Credentials{AccessToken: "fresh", ExpiresAt: h.clock.Now().Add(time.Hour)}})
	h.bank.onRefresh(call[provider.Credentials]{err: fmt.Errorf("invalid_grant: %w", domain.ErrReauthorizationRequired)})
	if r, f := h.refreshDue(); r != 1 || f != 2 {
		t.Fatalf("RefreshDue = %d refreshed, %d failed; want 1, 2", r, f)
	}
	h.unchangedAuthorization("a failed background refresh", first.ID(), firstBefore)
	if a := h.authorization(second.ID()); a.Credentials().AccessToken != "fresh" {
		t.Errorf("the second grant: %+v, want refreshed despite the first failing", a.Credentials())
	}
	if a := h.authorization(final.ID()); a.Status() != provider.AuthorizationReauthorizationRequired {
		t.Errorf("the refused grant is %v, want reauthorization_required", a.Status())
	}
	logs := h.logs.String()
	for _, p := range []*provider.Provider{first, final} {
		if !strings.Contains(logs, "background token refresh failed") || !strings.Contains(logs, p.ID().String()) {
			t.Errorf("the failure of %s was not logged:\n%s", p.Alias(), logs)
		}
	}
	if strings.Contains(logs, "refresh-consent") || strings.Contains(logs, "access-consent") {
		t.Errorf("a token reached the log:\n%s", logs)
	}
}

func TestRefreshDueSkipsAGrantSomeoneElseIsRefreshing(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorizedAfter(0, user, "Busy")
	h.clock.Advance(tokenLifetime)
	other := uuid.New()
	h.leaseFor(p.ID(), other, h.clock.Now().Add(leaseTTL))
	if r, f := h.refreshDue(); r != 0 || f != 0 || len(h.bank.refreshes()) != 0 {
		t.Errorf("RefreshDue = %d, %d with %d calls; want the busy grant left alone", r, f, len(h.bank.refreshes()))
	}
	if !h.authorization(p.ID()).HoldsLease(other) {
		t.Error("the pass took the lease of a refresh in progress")
	}
}

// The pass claims a batch, then renews each lease right before its refresh: a
// row another instance took over after the batch's lease ran out is skipped,
// neither refreshed twice nor counted as a failure.
func TestRefreshDueSkipsAGrantTakenOverDuringThePass(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	slow := h.authorizedAfter(0, user, "Slow")
	taken := h.authorizedAfter(time.Second, user, "Taken")
	takenBefore := h.authorization(taken.ID()).Credentials()
	h.clock.Advance(tokenLifetime)
	other := uuid.New()
	h.bank.onRefresh(call[provider.Credentials]{out: provider.Credentials{AccessToken: "slow-but-fine", ExpiresAt: h.clock.Now().Add(time.Hour)},
		during: func() {
			h.clock.Advance(leaseTTL) // the batch's lease on the second row runs out
			h.leaseFor(taken.ID(), other, h.clock.Now().Add(leaseTTL))
		}})
	if r, f := h.refreshDue(); r != 1 || f != 0 {
		t.Fatalf("RefreshDue = %d refreshed, %d failed; want 1, 0", r, f)
	}
	if n := len(h.bank.refreshes()); n != 1 {
		t.Errorf("%d refreshes, want the slow one only", n)
	}
	if a := h.authorization(slow.ID()); a.Credentials().AccessToken != "slow-but-fine" {
		t.Errorf("the slow grant: %+v", a.Credentials())
	}
	if a := h.authorization(taken.ID()); !a.HoldsLease(other) || !reflect.DeepEqual(a.Credentials(), takenBefore) {
		t.Errorf("the taken-over grant: lease held by the other %v, credentials %+v; want both untouched", a.HoldsLease(other), a.Credentials())
	}
}

// --- Revoke ---

func TestRevokeEndsTheGrantAtTheInstitutionAndLocally(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	granted := h.authorization(p.ID()).Credentials()
	h.clock.Advance(time.Minute)
	if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got := h.bank.revokes(); len(got) != 1 || !reflect.DeepEqual(got[0], granted) {
		t.Errorf("institution revokes %+v, want one with the grant", got)
	}
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationRevoked || a.IsAuthorized() || !a.Credentials().IsZero() {
		t.Errorf("%v, authorized %v, %+v; want revoked with nothing held", a.Status(), a.IsAuthorized(), a.Credentials())
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusRevoked || !got.UpdatedAt().Equal(h.clock.Now()) {
		t.Errorf("provider %v updated %v, want revoked now", got.Status(), got.UpdatedAt())
	}
}

// Hardening item 3: revoking always succeeds here. With the institution down,
// the grant is revoked and its tokens wiped at once, and a job revokes the
// credentials at the institution once it is back.
func TestLocalRevocationAlwaysSucceedsAndAJobRevokesAtTheInstitutionLater(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	granted := h.authorization(p.ID()).Credentials()
	h.bank.onRevoke(call[struct{}]{err: errInstitutionDown})
	if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
		t.Fatalf("Revoke with the institution down: %v, want it done here", err)
	}
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationRevoked || !a.Credentials().IsZero() || h.provider(p.ID()).Status() != provider.StatusRevoked {
		t.Fatalf("after Revoke: %v with %+v, provider %v; want revoked, tokens wiped", a.Status(), a.Credentials(), h.provider(p.ID()).Status())
	}
	job := h.revokeJob()

	h.bank.onRevoke(call[struct{}]{err: errInstitutionDown})
	mustBe(t, "the job while the institution is down", h.conns.RevokeSetAside(h.ctx, job), domain.ErrProviderUnavailable)
	if err := h.conns.RevokeSetAside(h.ctx, job); err != nil {
		t.Fatalf("the job once the institution is back: %v", err)
	}
	// The first revoke was the failed call from Revoke itself, the second the
	// job's failed try.
	if got := h.bank.revokes(); len(got) != 3 || !reflect.DeepEqual(got[2], granted) {
		t.Errorf("institution revokes %+v, want the grant's credentials revoked by the job", got)
	}
	if _, err := h.auths.SetAsideCredentials(h.ctx, job.SetAsideID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the set-aside credentials after the revocation: %v, want forgotten", err)
	}
	if err := h.conns.RevokeSetAside(h.ctx, job); err != nil {
		t.Errorf("the job run again: %v, want nothing to do", err)
	}
}

func TestRevokeOfAnAttemptInFlightCallsNoInstitutionAndEndsIt(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	state := h.begin(user, p)
	if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if n := len(h.bank.revokes()); n != 0 {
		t.Errorf("%d institution revokes with no grant", n)
	}
	if a := h.authorization(p.ID()); a.Status() != provider.AuthorizationRevoked {
		t.Errorf("%v, want revoked", a.Status())
	}
	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "code")
	mustBe(t, "the revoked attempt's state", err, provider.ErrInvalidState)
}

func TestRevokeOfANeverStartedOrAnotherUsersProviderIsNotFound(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	never := h.create(alice, bankKey, "Never")
	mustBe(t, "Revoke of a provider never started", h.conns.Revoke(h.ctx, alice, never.ID()), domain.ErrNotFound)
	p := h.authorized(alice, bankKey, "Alice's")
	mustBe(t, "Revoke by another user", h.conns.Revoke(h.ctx, bob, p.ID()), domain.ErrNotFound)
	if n := len(h.bank.revokes()); n != 0 {
		t.Errorf("%d institution revokes, want none", n)
	}
	if !h.authorization(p.ID()).IsAuthorized() {
		t.Error("another user's revoke ended the grant")
	}
}

// --- Get ---

func TestGetAuthorizationOfTheCallersProviderOnly(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.verifiedUser(), h.verifiedUser()
	p := h.authorized(alice, bankKey, "Alice's")
	a, err := h.conns.Get(h.ctx, alice, p.ID())
	if err != nil || !reflect.DeepEqual(a.Snapshot(), h.authorization(p.ID()).Snapshot()) {
		t.Fatalf("Get by the owner = %v, %v", a, err)
	}
	_, err = h.conns.Get(h.ctx, bob, p.ID())
	mustBe(t, "Get by another user", err, domain.ErrNotFound)
	never := h.create(alice, bankKey, "Never")
	_, err = h.conns.Get(h.ctx, alice, never.ID())
	mustBe(t, "Get of a provider never started", err, domain.ErrNotFound)
}

// --- Completion racing other changes ---

// A new consent is exchanged while a background refresh of the previous grant
// lands: the new grant still lands, and the old refresh cannot overwrite it.
func TestCompleteLandsAlthoughARefreshOfThePreviousGrantLandedMeanwhile(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	state := h.begin(user, p)
	h.bank.onComplete(call[provider.Credentials]{out: provider.Credentials{AccessToken: "new-consent", RefreshToken: "r2",
		ExpiresAt: h.clock.Now().Add(time.Hour)}, during: func() {
		h.clock.Advance(time.Minute)
		if _, err := h.conns.RefreshNow(h.ctx, user, p.ID()); err != nil {
			t.Errorf("RefreshNow during the exchange: %v", err)
		}
	}})
	a, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "code")
	if err != nil {
		t.Fatalf("CompleteRedirect: %v", err)
	}
	if a.Credentials().AccessToken != "new-consent" || !a.RefreshedAt().IsZero() || h.authorization(p.ID()).Credentials().AccessToken != "new-consent" {
		t.Errorf("stored %+v refreshed %v, want the new consent's grant", h.authorization(p.ID()).Credentials(), a.RefreshedAt())
	}
}

// A previous grant that the institution refuses for good while a new consent
// is exchanged does not stop the new grant from landing.
func TestCompleteLandsAlthoughThePreviousGrantWasRefusedMeanwhile(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	state := h.begin(user, p)
	h.bank.onRefresh(call[provider.Credentials]{err: fmt.Errorf("invalid_grant: %w", domain.ErrReauthorizationRequired)})
	h.bank.onComplete(call[provider.Credentials]{during: func() {
		if _, err := h.conns.RefreshNow(h.ctx, user, p.ID()); !errors.Is(err, domain.ErrReauthorizationRequired) {
			t.Errorf("RefreshNow during the exchange: %v, want ErrReauthorizationRequired", err)
		}
	}})
	a, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "again")
	if err != nil {
		t.Fatalf("CompleteRedirect: %v", err)
	}
	if !a.IsAuthorized() || a.Credentials().AccessToken != "access-again" || h.provider(p.ID()).Status() != provider.StatusActive {
		t.Errorf("%v with %+v, provider %v; want the new grant active", a.Status(), a.Credentials(), h.provider(p.ID()).Status())
	}
}

// A grant lands only on the attempt it belongs to (SECURITY.md): if the
// attempt was revoked, superseded or deleted while its code was being
// exchanged, the new tokens are discarded and revoked at the institution.

func TestCompleteDiscardsAGrantWhoseAttemptWasRevokedMeanwhile(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	state := h.begin(user, p)
	h.bank.onComplete(call[provider.Credentials]{during: func() {
		if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
			t.Errorf("Revoke during the exchange: %v", err)
		}
	}})
	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "code")
	mustBe(t, "completing a revoked attempt", err, provider.ErrInvalidState)
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationRevoked || !a.Credentials().IsZero() || h.provider(p.ID()).Status() != provider.StatusRevoked {
		t.Errorf("%v with %+v, provider %v; want the revoke to stand", a.Status(), a.Credentials(), h.provider(p.ID()).Status())
	}
	if got, want := h.bank.revokes(), h.bank.grantFor("code"); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("institution revokes %+v, want the discarded grant %+v revoked", got, want)
	}
}

func TestCompleteDiscardsAGrantWhoseAttemptWasSupersededMeanwhile(t *testing.T) {
	for _, activeBefore := range []bool{false, true} {
		t.Run(fmt.Sprintf("active before: %v", activeBefore), func(t *testing.T) {
			h := newHarness(t)
			user := h.verifiedUser()
			var p *provider.Provider
			var before provider.Credentials
			if activeBefore {
				p = h.authorized(user, bankKey, "My Bank")
				before = h.authorization(p.ID()).Credentials()
			} else {
				p = h.create(user, bankKey, "My Bank")
			}
			first := h.begin(user, p)
			var second string
			h.bank.onComplete(call[provider.Credentials]{during: func() { second = h.begin(user, p) }})
			_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), first, "first")
			mustBe(t, "completing a superseded attempt", err, provider.ErrInvalidState)
			a := h.authorization(p.ID())
			if !reflect.DeepEqual(a.Credentials(), before) || a.IsAuthorized() != activeBefore {
				t.Errorf("%v with %+v, want the credentials from before the superseded attempt (%+v)", a.Status(), a.Credentials(), before)
			}
			if got, want := h.bank.revokes(), h.bank.grantFor("first"); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Errorf("institution revokes %+v, want the discarded grant %+v revoked", got, want)
			}
			if a := h.complete(user, p, second, "second"); a.Credentials().AccessToken != "access-second" {
				t.Errorf("the superseding attempt: %+v", a.Credentials())
			}
		})
	}
}

func TestCompleteRevokesTheGrantOfAProviderDeletedMeanwhile(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, bankKey, "My Bank")
	state := h.begin(user, p)
	h.bank.onComplete(call[provider.Credentials]{during: func() {
		if err := h.svc.Delete(h.ctx, user, p.ID(), nil); err != nil {
			t.Errorf("Delete during the exchange: %v", err)
		}
	}})
	_, err := h.conns.CompleteRedirect(h.ctx, user, p.ID(), state, "code")
	mustBe(t, "completing a deleted provider's attempt", err, domain.ErrNotFound)
	h.gone(p.ID())
	if got, want := h.bank.revokes(), h.bank.grantFor("code"); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("institution revokes %+v, want the discarded grant %+v revoked", got, want)
	}
}

// Passes of the background refresh may overlap on one instance (the job engine
// starts the next on schedule while a slow one still runs). When the first
// pass's batch lease on a row ran out and a second pass took the row over, the
// first must not refresh it too while the second's call is in flight: each
// pass is a lease owner of its own.
func TestOverlappingRefreshPassesRefreshEachGrantOnce(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	for i, alias := range []string{"First", "Second", "Third"} {
		h.authorizedAfter(time.Duration(i)*time.Second, user, alias)
	}
	h.clock.Advance(tokenLifetime)
	step := leaseTTL * 6 / 10 // each call of the first pass: its renewed lease holds, the batch's runs out
	inThird, release := make(chan struct{}), make(chan struct{})
	var second struct{ refreshed, failed int }
	secondDone := make(chan struct{})
	h.bank.onRefresh(call[provider.Credentials]{out: provider.Credentials{AccessToken: "first", ExpiresAt: h.clock.Now().Add(time.Hour)},
		during: func() { h.clock.Advance(step) }})
	h.bank.onRefresh(call[provider.Credentials]{out: provider.Credentials{AccessToken: "second", ExpiresAt: h.clock.Now().Add(time.Hour)},
		during: func() {
			h.clock.Advance(step) // the third row's batch lease has run out
			go func() {
				defer close(secondDone)
				second.refreshed, second.failed, _ = h.conns.RefreshDue(h.ctx)
			}()
			<-inThird // the second pass is calling the institution for the third row
		}})
	h.bank.onRefresh(call[provider.Credentials]{out: provider.Credentials{AccessToken: "third", ExpiresAt: h.clock.Now().Add(time.Hour)},
		during: func() {
			close(inThird)
			<-release // until the first pass has reached the third row
		}})
	first, failed := h.refreshDue()
	close(release)
	<-secondDone
	if first != 2 || second.refreshed != 1 || failed+second.failed != 0 {
		t.Errorf("passes refreshed %d and %d (failed %d, %d); want 2 and 1, no failure",
			first, second.refreshed, failed, second.failed)
	}
	if n := len(h.bank.refreshes()); n != 3 {
		t.Errorf("the institution saw %d refreshes for 3 grants, want one each", n)
	}
}
