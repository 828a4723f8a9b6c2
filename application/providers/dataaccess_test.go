package providers_test

import (
	"errors"
	"testing"

	providersapp "github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/provider"
)

// DataAccess hands out the stored tokens while they are fresh, and refreshes
// them once when they are about to expire: not again on the next call.
func TestDataAccessRefreshesTokensAboutToExpireOnce(t *testing.T) {
	h := newHarness(t)
	p := h.authorized(h.verifiedUser(), bankKey, "Bank")
	data, tokens, err := h.conns.DataAccess(h.ctx, p.ID())
	if err != nil || data == nil || tokens.AccessToken != "access-consent-Bank" || len(h.bank.refreshes()) != 0 {
		t.Fatalf("fresh tokens: %q (%v), %d refreshes; want the granted ones, none", tokens.AccessToken, err, len(h.bank.refreshes()))
	}
	h.clock.Advance(tokenLifetime - refreshWindow/2)
	for range 2 {
		if _, tokens, err = h.conns.DataAccess(h.ctx, p.ID()); err != nil || tokens.AccessToken != "access-refreshed-1" {
			t.Fatalf("tokens about to expire: %q (%v), want refreshed once", tokens.AccessToken, err)
		}
	}
	if n := len(h.bank.refreshes()); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
}

// A provider that is not connected, or whose institution refuses the refresh
// for good, gives no data access; the refusal is recorded.
func TestDataAccessNeedsAConnectedProvider(t *testing.T) {
	h := newHarness(t)
	user := h.verifiedUser()
	never := h.create(user, bankKey, "Never")
	if _, _, err := h.conns.DataAccess(h.ctx, never.ID()); !errors.Is(err, provider.ErrNotAuthorized) {
		t.Errorf("a provider never authorized: %v, want ErrNotAuthorized", err)
	}
	p := h.authorized(user, bankKey, "Bank")
	h.bank.onRefresh(call[provider.Credentials]{err: domain.ErrReauthorizationRequired})
	h.clock.Advance(tokenLifetime)
	if _, _, err := h.conns.DataAccess(h.ctx, p.ID()); !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Fatalf("a refused refresh: %v, want ErrReauthorizationRequired", err)
	}
	if h.provider(p.ID()).Status() != provider.StatusReauthorizationRequired {
		t.Errorf("provider is %v, want reauthorization_required", h.provider(p.ID()).Status())
	}
	if _, _, err := h.conns.DataAccess(h.ctx, p.ID()); !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Errorf("afterwards: %v, want ErrReauthorizationRequired", err)
	}
}

// A refused access token is refreshed, unless someone refreshed it since.
func TestRefreshRefusedRefreshesOnlyTheRefusedToken(t *testing.T) {
	h := newHarness(t)
	p := h.authorized(h.verifiedUser(), bankKey, "Bank")
	_, refused, err := h.conns.DataAccess(h.ctx, p.ID())
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := h.conns.RefreshRefused(h.ctx, p.ID(), refused)
	if err != nil || fresh.AccessToken == refused.AccessToken {
		t.Fatalf("RefreshRefused: %q (%v), want new tokens", fresh.AccessToken, err)
	}
	again, err := h.conns.RefreshRefused(h.ctx, p.ID(), refused) // a second job refused the same old token
	if err != nil || again.AccessToken != fresh.AccessToken || len(h.bank.refreshes()) != 1 {
		t.Errorf("refused again: %q (%v), %d refreshes; want the fresh tokens, one refresh", again.AccessToken, err, len(h.bank.refreshes()))
	}
	linked := h.authorized(h.verifiedUser(), linkKey, "Linked")
	if _, err := h.conns.RefreshRefused(h.ctx, linked.ID(), providersapp.Tokens{}); !errors.Is(err, domain.ErrReauthorizationRequired) {
		t.Errorf("a connector that cannot refresh: %v, want ErrReauthorizationRequired", err)
	}
}
