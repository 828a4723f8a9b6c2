package providers_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/provider"
)

// The harness's link-flow institution repairs grants in place, as Plaid does
// with Link's update mode; its redirect-flow bank does not, as Schwab does not.

// needsRepair authorizes a provider of the link institution and has the
// institution refuse its grant during a data call (Plaid's
// ITEM_LOGIN_REQUIRED); it returns the provider and the grant.
func (h *harness) needsRepair(user uuid.UUID, alias string) (*provider.Provider, provider.Credentials) {
	h.t.Helper()
	p := h.authorized(user, linkKey, alias)
	grant := h.authorization(p.ID()).Credentials()
	if err := h.conns.RequireReauthorization(h.ctx, p.ID()); err != nil {
		h.t.Fatalf("RequireReauthorization: %v", err)
	}
	return p, grant
}

// startLink starts p's attempt and returns what Start answered.
func (h *harness) startLink(user uuid.UUID, p *provider.Provider) providersapp.Started {
	h.t.Helper()
	started, err := h.conns.Start(h.ctx, user, p.ID())
	if err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	return started
}

func TestReauthorizationOfAGrantRepairedInPlaceKeepsItsTokensUnusable(t *testing.T) {
	h := newHarness(t)
	p, grant := h.needsRepair(h.verifiedUser(), "Checking")
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationReauthorizationRequired || a.IsAuthorized() || !reflect.DeepEqual(a.Credentials(), grant) {
		t.Errorf("after the refusal: %v, authorized %v, credentials %+v; want reauthorization_required, unusable, the grant kept",
			a.Status(), a.IsAuthorized(), a.Credentials())
	}
	if _, _, err := h.conns.DataAccess(h.ctx, p.ID()); err == nil {
		t.Error("DataAccess handed out the kept tokens")
	}
}

func TestStartOfAProviderToRepairBeginsWithItsCurrentTokens(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p, grant := h.needsRepair(user, "Checking")
	started := h.startLink(user, p)
	begun := h.linked.begins()
	last := begun[len(begun)-1]
	if !reflect.DeepEqual(last.Current, grant) || last.State != started.State || last.UserID != user {
		t.Errorf("the institution was asked to begin %+v, want a repair of %+v under the attempt's state", last, grant)
	}
	a := h.authorization(p.ID())
	if a.Status() != provider.AuthorizationPending || !a.AttemptBegun().Repair || !reflect.DeepEqual(a.Credentials(), grant) {
		t.Errorf("during the repair: %v, begun %+v, credentials %+v; want a pending repair keeping the grant",
			a.Status(), a.AttemptBegun(), a.Credentials())
	}
}

func TestCompletingARepairKeepsTheAccessTokenAndActivates(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p, grant := h.needsRepair(user, "Checking")
	started := h.startLink(user, p)
	exchanges := len(h.linked.completes())
	h.clock.Advance(time.Minute)

	a, err := h.conns.CompleteLink(h.ctx, user, p.ID(), started.State, "public-update-mode")
	if err != nil {
		t.Fatalf("CompleteLink: %v", err)
	}
	if n := len(h.linked.completes()); n != exchanges {
		t.Errorf("%d exchanges at the institution during the repair, want none", n-exchanges)
	}
	if !a.IsAuthorized() || !reflect.DeepEqual(a.Credentials(), grant) || !a.AuthorizedAt().Equal(h.clock.Now()) {
		t.Errorf("after the repair: %v with %+v consented %v; want active with the same grant, consented now", a.Status(), a.Credentials(), a.AuthorizedAt())
	}
	if a.AttemptID() != uuid.Nil || a.AttemptBegun() != (provider.AttemptBegun{}) {
		t.Errorf("the repair attempt is still in flight: %s %+v", a.AttemptID(), a.AttemptBegun())
	}
	if got := h.provider(p.ID()); got.Status() != provider.StatusActive {
		t.Errorf("provider %v, want active", got.Status())
	}
	if _, tokens, err := h.conns.DataAccess(h.ctx, p.ID()); err != nil || tokens.AccessToken != grant.AccessToken {
		t.Errorf("DataAccess after the repair: %q (%v), want the same access token", tokens.AccessToken, err)
	}
	_, err = h.conns.CompleteLink(h.ctx, user, p.ID(), started.State, "public-update-mode")
	mustBe(t, "a replay", err, provider.ErrInvalidState)
}

// A repair the user leaves returns the provider to reauthorization_required,
// still holding the grant, so a later attempt can repair it.
func TestDecliningARepairKeepsTheGrantToRepair(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p, grant := h.needsRepair(user, "Checking")
	started := h.startLink(user, p)
	a, err := h.conns.Decline(h.ctx, user, p.ID(), started.State)
	if err != nil {
		t.Fatalf("Decline: %v", err)
	}
	if a.Status() != provider.AuthorizationReauthorizationRequired || !reflect.DeepEqual(a.Credentials(), grant) {
		t.Errorf("after declining: %v with %+v, want reauthorization_required with the grant", a.Status(), a.Credentials())
	}
	h.startLink(user, p)
	if begun := h.linked.begins(); !reflect.DeepEqual(begun[len(begun)-1].Current, grant) {
		t.Errorf("the next attempt began with %+v, want a repair of the grant", begun[len(begun)-1].Current)
	}
}

// Revoking a provider waiting for its repair ends the kept grant at the
// institution (Plaid's /item/remove, which stops its billing).
func TestRevokingAProviderToRepairRevokesTheKeptGrant(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p, grant := h.needsRepair(user, "Checking")
	if err := h.conns.Revoke(h.ctx, user, p.ID()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got := h.linked.revokes(); len(got) != 1 || !reflect.DeepEqual(got[0], grant) {
		t.Errorf("revoked %+v at the institution, want the kept grant", got)
	}
	if a := h.authorization(p.ID()); a.Status() != provider.AuthorizationRevoked || !a.Credentials().IsZero() {
		t.Errorf("after revoking: %v with %+v, want revoked with nothing", a.Status(), a.Credentials())
	}
}

// An attempt that is not a repair still exchanges its grant for new tokens: a
// first connection, a new consent of an active grant, and any
// re-authorization at an institution that does not repair in place, whose
// refused tokens are wiped.
func TestANewConsentStillExchangesItsGrant(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()

	first := h.create(user, linkKey, "First")
	a := h.complete(user, first, h.begin(user, first), "public-first")
	if got := h.linked.completes(); !reflect.DeepEqual(got, []string{"public-first"}) || a.Credentials().AccessToken != "access-public-first" {
		t.Errorf("first connection: exchanged %q, got %q; want the public token exchanged", got, a.Credentials().AccessToken)
	}

	active := h.authorized(user, linkKey, "Active")
	state := h.begin(user, active)
	if begun := h.linked.begins(); !begun[len(begun)-1].Current.IsZero() {
		t.Errorf("a new consent of an active grant began as a repair of %+v", begun[len(begun)-1].Current)
	}
	if a := h.complete(user, active, state, "public-again"); a.Credentials().AccessToken != "access-public-again" {
		t.Errorf("a new consent of an active grant got %q, want the exchanged token", a.Credentials().AccessToken)
	}

	bank := h.authorized(user, bankKey, "Bank")
	h.bank.onRefresh(call[provider.Credentials]{err: domain.ErrReauthorizationRequired})
	h.clock.Advance(time.Minute)
	if _, err := h.conns.RefreshNow(h.ctx, user, bank.ID()); err == nil {
		t.Fatal("the refused refresh succeeded")
	}
	if a := h.authorization(bank.ID()); a.Status() != provider.AuthorizationReauthorizationRequired || !a.Credentials().IsZero() {
		t.Fatalf("after the refusal: %v with %+v, want reauthorization_required with the tokens wiped", a.Status(), a.Credentials())
	}
	state = h.begin(user, bank)
	if begun := h.bank.begins(); !begun[len(begun)-1].Current.IsZero() {
		t.Errorf("the bank's new consent began as a repair of %+v", begun[len(begun)-1].Current)
	}
	if a := h.complete(user, bank, state, "consented-again"); !a.IsAuthorized() || a.Credentials().AccessToken != "access-consented-again" {
		t.Errorf("the bank's new consent: %v with %q, want active with the exchanged token", a.Status(), a.Credentials().AccessToken)
	}
}

// --- Budgeting institution calls (hardening item 6) ---

func TestANewPlaidLinkTokenPerClickDoesNotCallTheInstitutionAgain(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.create(user, linkKey, "Checking")
	linkExpires := start.Add(4 * time.Hour)
	h.linked.onBegin(call[providersapp.BeginResult]{out: providersapp.BeginResult{LinkToken: "link-1", ExpiresAt: linkExpires}})
	h.linked.onBegin(call[providersapp.BeginResult]{out: providersapp.BeginResult{LinkToken: "link-2", ExpiresAt: linkExpires.Add(3 * time.Hour)}})

	first := h.startLink(user, p)
	h.clock.Advance(time.Minute)
	second := h.startLink(user, p)
	if n := len(h.linked.begins()); n != 1 {
		t.Fatalf("two clicks asked the institution %d times, want once", n)
	}
	if first.LinkToken != "link-1" || second.LinkToken != "link-1" || second.State == first.State ||
		!second.ExpiresAt.Equal(h.clock.Now().Add(provider.StateTTL)) {
		t.Errorf("the clicks got %+v and %+v, want the same link token, each its own state", first, second)
	}
	_, err := h.conns.CompleteLink(h.ctx, user, p.ID(), first.State, "public-1")
	mustBe(t, "the first click's state", err, provider.ErrInvalidState)

	// The token is reused while it has more than the margin left, even once
	// the attempt's own state expired, and not after.
	h.clock.Set(start.Add(2 * time.Hour))
	if later := h.startLink(user, p); later.LinkToken != "link-1" || len(h.linked.begins()) != 1 {
		t.Errorf("a click two hours later got %q, want link-1 again", later.LinkToken)
	}
	h.clock.Set(linkExpires.Add(-providersapp.DefaultLinkReuseMargin))
	third := h.startLink(user, p)
	if n := len(h.linked.begins()); n != 2 || third.LinkToken != "link-2" {
		t.Errorf("a click with the margin left got %q after %d begins, want a new link token", third.LinkToken, n)
	}

	// A completed attempt's token is not reused.
	h.complete(user, p, third.State, "public-3")
	h.startLink(user, p)
	if n := len(h.linked.begins()); n != 3 {
		t.Errorf("a click after the attempt completed: %d begins, want a new link token", n)
	}
}

// A link token made for a new consent does not serve a repair.
func TestALinkTokenIsNotReusedAcrossARepair(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, linkKey, "Checking")
	h.linked.onBegin(call[providersapp.BeginResult]{out: providersapp.BeginResult{LinkToken: "link-new", ExpiresAt: start.Add(4 * time.Hour)}})
	h.startLink(user, p) // a new consent of the active grant
	if err := h.conns.RequireReauthorization(h.ctx, p.ID()); err != nil {
		t.Fatal(err)
	}
	started := h.startLink(user, p)
	begun := h.linked.begins()
	if len(begun) != 3 || begun[2].Current.IsZero() || started.LinkToken == "link-new" {
		t.Errorf("the repair got link token %q after %d begins, want a new one begun as a repair", started.LinkToken, len(begun))
	}
}

func TestAnImmediateManualRefreshOfTokensRefreshedMomentsAgoDoesNotCallTheInstitutionAgain(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	p := h.authorized(user, bankKey, "My Bank")
	h.clock.Advance(time.Minute)
	refreshed, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	if err != nil {
		t.Fatalf("RefreshNow: %v", err)
	}
	h.clock.Advance(providersapp.DefaultRefreshCooldown - time.Microsecond)
	again, err := h.conns.RefreshNow(h.ctx, user, p.ID())
	if err != nil || !reflect.DeepEqual(again.Credentials(), refreshed.Credentials()) {
		t.Fatalf("a refresh moments later: %+v (%v), want the tokens just refreshed", again.Credentials(), err)
	}
	if n := len(h.bank.refreshes()); n != 1 {
		t.Errorf("the institution was asked to refresh %d times, want once", n)
	}
	h.clock.Advance(time.Microsecond)
	if _, err := h.conns.RefreshNow(h.ctx, user, p.ID()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.bank.refreshes()); n != 2 {
		t.Errorf("after the cooldown: %d refreshes, want 2", n)
	}
}

// The institution saying the consent ends soon (Plaid's PENDING_EXPIRATION)
// is provider.consent_expiring in the event log, with when it ends, written
// with the authorization; nothing else changes. A provider without an
// authorization is not found.
func TestAPendingExpirationIsAConsentExpiringEvent(t *testing.T) {
	h := newHarness(t)
	p := h.authorized(h.verifiedUser(), linkKey, "Checking")
	before := h.authorization(p.ID())
	ends := start.Add(7 * 24 * time.Hour)
	if err := h.conns.PendingExpiration(h.ctx, p.ID(), ends); err != nil {
		t.Fatal(err)
	}
	var got []event.Logged
	for _, e := range h.providers.Events.All() {
		if e.Type == event.ProviderConsentExpiring {
			got = append(got, e)
		}
	}
	if len(got) != 1 || got[0].UserID != p.UserID() ||
		!strings.Contains(string(got[0].Data), `"provider_id":"`+p.ID().String()+`"`) ||
		!strings.Contains(string(got[0].Data), `"expires_at":"`+ends.UTC().Format(time.RFC3339)+`"`) {
		t.Fatalf("consent_expiring events %+v, want one for the owner with the provider and when it ends", got)
	}
	if after := h.authorization(p.ID()); after.Status() != before.Status() || !reflect.DeepEqual(after.Credentials(), before.Credentials()) {
		t.Errorf("the authorization changed: %v -> %v", before.Status(), after.Status())
	}
	bare := h.create(h.verifiedUser(), linkKey, "Savings")
	if err := h.conns.PendingExpiration(h.ctx, bare.ID(), ends); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a provider without an authorization: %v, want not found", err)
	}
}
