package provider

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/event"
)

func drainedTypes(a *Authorization) []event.Type {
	var out []event.Type
	for _, e := range a.DrainEvents() {
		if e.Data["provider_id"] != a.ProviderID().String() {
			panic("an authorization event without its provider")
		}
		out = append(out, e.Type)
	}
	return out
}

func TestAnAuthorizationRecordsEachTransitionAClientSees(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	if got := drainedTypes(a); !reflect.DeepEqual(got, []event.Type{event.ProviderConnected}) {
		t.Fatalf("a grant recorded %v", got)
	}
	owner := uuid.New()
	if err := a.ClaimRefresh(owner, now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a.Refreshed(owner, Credentials{AccessToken: "b", ExpiresAt: now.Add(2 * time.Hour)}, now)
	a.RequireReauthorization(now)
	a.RequireReauthorization(now) // already required: nothing new
	a.Revoke(now)
	a.Revoke(now) // already revoked: nothing new
	want := []event.Type{event.AuthorizationRefreshed, event.ProviderReauthorizationRequired, event.ProviderDisconnected}
	if got := drainedTypes(a); !reflect.DeepEqual(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestAuthorizationEventsCarryNoCredential(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := authorized(t, now, time.Hour)
	for _, e := range a.DrainEvents() {
		for k, v := range e.Data {
			if v == "a" || v == "r" {
				t.Errorf("%s's %s carries a token", e.Type, k)
			}
		}
	}
}
