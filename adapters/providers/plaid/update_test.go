package plaid_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/application/providers"
	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/test/fakes/plaidfake"
)

// Begin with the item's current tokens creates a link token for Link's update
// mode: with the item's access_token and no products. The user finishing Link
// with it repairs the item, and nothing is exchanged: the access token stays
// the same.
func TestBeginWithTheCurrentTokensCreatesAnUpdateModeLinkToken(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	if !c.Type().RepairsInPlace {
		t.Fatal("Plaid does not report that it repairs items in place")
	}
	current := complete(t, fake, c)
	user := uuid.New()
	swaps := fake.Calls(plaidfake.PathPublicTokenSwap)

	res, err := c.Begin(context.Background(), providers.BeginRequest{State: "s", UserID: user, Current: current})
	if err != nil {
		t.Fatalf("Begin in update mode: %v", err)
	}
	reqs := fake.LinkTokenRequests()
	last := reqs[len(reqs)-1]
	if last.AccessToken != current.AccessToken || len(last.Products) != 0 || last.User.ClientUserID != user.String() {
		t.Errorf("/link/token/create got access_token %t, products %q, user %q; want the item's access token, no products, the user",
			last.AccessToken == current.AccessToken, last.Products, last.User.ClientUserID)
	}
	if res.LinkToken == "" || !res.ExpiresAt.Equal(fake.Clock().Now().Add(plaidfake.DefaultLinkTokenTTL).Truncate(1e9)) {
		t.Errorf("Begin = %+v, want a link token living 4 hours", res)
	}
	if _, err := fake.FinishLink(res.LinkToken); err != nil {
		t.Fatalf("FinishLink: %v", err)
	}
	if fake.ItemRepairs(current.ExternalID) != 1 {
		t.Errorf("the item was repaired %d times, want once", fake.ItemRepairs(current.ExternalID))
	}
	if n := fake.Calls(plaidfake.PathPublicTokenSwap) - swaps; n != 0 {
		t.Errorf("%d public token exchanges in update mode, want none", n)
	}

	// Without current tokens, Begin is a new link: products, no access token.
	if _, err := c.Begin(context.Background(), providers.BeginRequest{State: "s", UserID: user}); err != nil {
		t.Fatal(err)
	}
	reqs = fake.LinkTokenRequests()
	if last := reqs[len(reqs)-1]; last.AccessToken != "" || len(last.Products) == 0 {
		t.Errorf("a new link sent access_token %t and products %q", last.AccessToken != "", last.Products)
	}
}

// An item Plaid no longer has cannot be repaired; the refused access token is
// kept out of the error.
func TestBeginInUpdateModeOfARemovedItemIsRefusedWithoutTheToken(t *testing.T) {
	fake := startFake(t)
	c := connect(t, fake, nil)
	current := complete(t, fake, c)
	if err := c.Revoke(context.Background(), current); err != nil {
		t.Fatal(err)
	}
	_, err := c.Begin(context.Background(), providers.BeginRequest{State: "s", UserID: uuid.New(), Current: current})
	if err == nil || errors.Is(err, domain.ErrProviderTimeout) {
		t.Fatalf("Begin for a removed item: %v, want a refusal", err)
	}
	if strings.Contains(err.Error(), current.AccessToken) {
		t.Error("the error carries the access token")
	}
}
