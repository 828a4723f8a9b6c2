package identity

import (
	"testing"

	"github.com/google/uuid"

	"github.com/dashtam/dashtam/domain/event"
)

func TestASessionRecordsItsCreationAndItsFirstRevocationOnly(t *testing.T) {
	s, _ := newTestSession(t)
	s.Revoke(t0.Add(1), RevokedLogout)
	s.Revoke(t0.Add(2), RevokedByUser)
	evs := s.DrainEvents()
	if len(evs) != 2 || evs[0].Type != event.SessionCreated || evs[1].Type != event.SessionRevoked {
		t.Fatalf("events %+v, want session.created then one session.revoked", evs)
	}
	if evs[1].Data["session_id"] != s.ID().String() || evs[1].Data["reason"] != string(RevokedLogout) ||
		!evs[1].OccurredAt.Equal(t0.Add(1)) {
		t.Errorf("revocation event %+v, want the session's id and its first reason at its time", evs[1])
	}
	if s.DrainEvents() != nil {
		t.Error("events drained twice")
	}
}

func TestChangingThePasswordRecordsPasswordChangedButARehashDoesNot(t *testing.T) {
	email, err := ParseEmail("alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUser(uuid.New(), email, "Alice", "hash", t0)
	if err != nil {
		t.Fatal(err)
	}
	u.SetPasswordHash("rehash", t0)
	if evs := u.DrainEvents(); len(evs) != 0 {
		t.Fatalf("a re-hash recorded %+v", evs)
	}
	u.ChangePassword("new", t0)
	evs := u.DrainEvents()
	if len(evs) != 1 || evs[0].Type != event.PasswordChanged || u.PasswordHash() != "new" {
		t.Fatalf("events %+v, hash %q; want one password.changed and the new hash", evs, u.PasswordHash())
	}
	for k, v := range evs[0].Data {
		if v == "new" || v == "hash" {
			t.Errorf("the event's %s carries a password hash", k)
		}
	}
}
