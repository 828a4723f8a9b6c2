package webhook_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain"
	"github.com/dashtam/dashtam/domain/event"
	"github.com/dashtam/dashtam/domain/webhook"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newEndpoint(t *testing.T) *webhook.Endpoint {
	t.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	e, err := webhook.NewEndpoint(uuid.New(), uuid.New(), "https://example.com/hooks", []string{"sync.completed"}, "d", s, 10, t0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewEndpointValidatesEveryField(t *testing.T) {
	s, _ := webhook.NewSecret()
	for name, c := range map[string]struct {
		url   string
		types []string
		field string
	}{
		"relative url":      {"/hooks", []string{"sync.completed"}, "url"},
		"ftp":               {"ftp://example.com/", []string{"sync.completed"}, "url"},
		"credentials":       {"https://u:p@example.com/", []string{"sync.completed"}, "url"},
		"no types":          {"https://example.com/", nil, "event_types"},
		"unknown type":      {"https://example.com/", []string{"nope"}, "event_types"},
		"type listed twice": {"https://example.com/", []string{"sync.failed", "sync.failed"}, "event_types"},
	} {
		_, err := webhook.NewEndpoint(uuid.New(), uuid.New(), c.url, c.types, "", s, 0, t0)
		var v *domain.ValidationError
		if !errors.As(err, &v) || v.Fields[0].Field != c.field {
			t.Errorf("%s: %v, want a validation error on %s", name, err, c.field)
		}
	}
}

func TestAnEndpointWantsItsTypesAfterItWasCreatedWhileEnabled(t *testing.T) {
	e := newEndpoint(t)
	ev := event.Logged{ID: 11, UserID: e.UserID(), Type: event.SyncCompleted}
	if !e.Wants(ev) {
		t.Fatal("its own type after its creation")
	}
	older, other, otherType := ev, ev, ev
	older.ID, other.UserID, otherType.Type = 10, uuid.New(), event.SyncFailed
	if e.Wants(older) || e.Wants(other) || e.Wants(otherType) {
		t.Fatal("an event before it, another user's, or of another type")
	}
	e.Disable(webhook.DisabledGone, t0)
	if e.Wants(ev) || e.DisabledReason() != webhook.DisabledGone {
		t.Fatal("a disabled endpoint wants nothing")
	}
	on := true
	if err := e.Apply(webhook.Patch{Enabled: &on}, t0); err != nil || !e.Enabled() || e.DisabledReason() != "" {
		t.Fatalf("re-enabled: %v", err)
	}
}

func TestRotationKeepsThePreviousSecretSigningForTheOverlap(t *testing.T) {
	e := newEndpoint(t)
	old := e.Secret()
	s, _ := webhook.NewSecret()
	v := e.Version()
	e.Rotate(s, t0)
	if got := e.SigningSecrets(t0.Add(webhook.RotationOverlap - time.Second)); len(got) != 2 || got[1].Reveal() != old.Reveal() {
		t.Fatalf("during the overlap: %d secrets", len(got))
	}
	if got := e.SigningSecrets(t0.Add(webhook.RotationOverlap)); len(got) != 1 || got[0].Reveal() != s.Reveal() {
		t.Fatalf("after the overlap: %d secrets", len(got))
	}
	if e.Version() != v+1 {
		t.Fatal("a rotation is a change")
	}
}

func TestASecretIsShownOnlyByReveal(t *testing.T) {
	s, _ := webhook.NewSecret()
	raw := strings.TrimPrefix(s.Reveal(), webhook.SecretPrefix)
	if !strings.HasPrefix(s.Reveal(), "whsec_") || len(s.Bytes()) != 32 {
		t.Fatalf("reveal %q", s.Reveal())
	}
	for _, shown := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(shown, raw) {
			t.Fatalf("shown: %s", shown)
		}
	}
	back, err := webhook.ParseSecret(s.Reveal())
	if err != nil || back.Reveal() != s.Reveal() {
		t.Fatalf("parse: %v", err)
	}
}

// An endpoint whose attempts keep failing is disabled only once they have
// failed for FailingDisableAfter with no success between; a success, or the
// owner enabling it again, starts afresh. Disabling records
// webhook_endpoint.disabled with the reason.
func TestAnEndpointFailingForDaysIsDisabledAndSaysSo(t *testing.T) {
	e := newEndpoint(t)
	if !e.AttemptFailed(t0) || !e.FailingSince().Equal(t0) || !e.Enabled() {
		t.Fatalf("the first failure: failing since %v, enabled %v; want failing since t0 and enabled", e.FailingSince(), e.Enabled())
	}
	if e.AttemptFailed(t0.Add(webhook.FailingDisableAfter-time.Minute)) || !e.Enabled() {
		t.Fatal("disabled before it had failed for FailingDisableAfter")
	}
	if !e.AttemptSucceeded(t0.Add(webhook.FailingDisableAfter-time.Second)) || !e.FailingSince().IsZero() {
		t.Fatal("a success did not end the failing period")
	}
	if e.AttemptSucceeded(t0.Add(webhook.FailingDisableAfter)) {
		t.Fatal("a success while not failing changed the endpoint")
	}
	if len(e.DrainEvents()) != 0 {
		t.Fatal("events recorded before anything was disabled")
	}
	start := t0.Add(100 * time.Hour)
	e.AttemptFailed(start)
	if !e.AttemptFailed(start.Add(webhook.FailingDisableAfter)) || e.Enabled() || e.DisabledReason() != webhook.DisabledFailing {
		t.Fatalf("after failing for FailingDisableAfter: enabled %v, reason %q; want disabled, %q", e.Enabled(), e.DisabledReason(), webhook.DisabledFailing)
	}
	evs := e.DrainEvents()
	if len(evs) != 1 || evs[0].Type != event.WebhookEndpointDisabled || evs[0].Data["reason"] != webhook.DisabledFailing ||
		evs[0].Data["endpoint_id"] != e.ID().String() {
		t.Fatalf("events %+v, want one webhook_endpoint.disabled with the endpoint and reason", evs)
	}
	if e.AttemptFailed(start.Add(2 * webhook.FailingDisableAfter)) {
		t.Fatal("a disabled endpoint changed on a failure")
	}
	on := true
	if err := e.Apply(webhook.Patch{Enabled: &on}, start.Add(2*webhook.FailingDisableAfter)); err != nil {
		t.Fatal(err)
	}
	if !e.Enabled() || !e.FailingSince().IsZero() {
		t.Fatalf("enabled again by its owner: enabled %v, failing since %v; want a fresh start", e.Enabled(), e.FailingSince())
	}
}
