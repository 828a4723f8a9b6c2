package identity_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/dashtam/dashtam/domain/event"
)

// The use cases' changes reach the event log through the store: a login is
// session.created, a password change is password.changed plus a
// session.revoked for each other session (and none for the caller's own), and
// a failed change writes nothing.
func TestChangingThePasswordWritesItsEventsAndTheOtherSessionsRevocations(t *testing.T) {
	h := newHarness(t)
	h.registerAlice()
	current := h.login("alice@example.com", alicePassword)
	other := h.login("alice@example.com", alicePassword)
	before := len(h.store.Events.All())
	if err := h.svc.ChangePassword(h.ctx, h.principal(current), wrongPassword, newPassword); err == nil {
		t.Fatal("a wrong current password was accepted")
	}
	if n := len(h.store.Events.All()); n != before {
		t.Fatalf("a refused change wrote %d events", n-before)
	}
	if err := h.svc.ChangePassword(h.ctx, h.principal(current), alicePassword, newPassword); err != nil {
		t.Fatal(err)
	}
	var types []event.Type
	var revoked []string
	for _, e := range h.store.Events.All() {
		types = append(types, e.Type)
		if e.Type == event.SessionRevoked {
			var d struct {
				SessionID string `json:"session_id"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			revoked = append(revoked, d.SessionID)
		}
	}
	want := []event.Type{event.SessionCreated, event.SessionCreated, event.SessionRevoked, event.PasswordChanged}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	if !slices.Equal(revoked, []string{other.Session.ID().String()}) {
		t.Errorf("revoked %v, want only the other session %s", revoked, other.Session.ID())
	}
}
